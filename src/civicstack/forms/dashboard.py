"""The citizen's dashboard: applications with their timelines, drafts, documents, withdrawal."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from civicstack.core.errors import Conflict, NotFound
from civicstack.documents import selectors as documents
from civicstack.forms import engine, selectors, services
from civicstack.forms.models import OPEN_STATUSES
from civicstack.forms.questions import FieldError
from civicstack.forms.views import answers_sections, current_language


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """My applications and my drafts."""
    return render(
        request,
        "forms/dashboard.html",
        {
            "applications": list(selectors.applications_for_user(user=request.user)[:100]),
            "made_for_you": list(selectors.applications_made_for(user=request.user)[:100]),
            "drafts": list(selectors.drafts_for_user(user=request.user)[:50]),
        },
    )


def _application(request: HttpRequest, application_id: Any) -> Any:
    application = selectors.application_for_user(application_id=application_id, user=request.user)
    if application is None:
        raise NotFound()
    return application


@login_required
def application_detail(request: HttpRequest, application_id: Any) -> HttpResponse:
    """One application: status, timeline, messages from the agency, answers and documents."""
    application = _application(request, application_id)
    definition = selectors.definition_of(version=application.form_version)
    language = current_language()
    ids = [doc for _path, doc in engine.files_in_answers(definition, application.answers)]
    files = list(documents.documents_for_owner(user=request.user).filter(pk__in=ids))
    return render(
        request,
        "forms/application.html",
        {
            "application": application,
            "title": definition.title.get(language),
            "timeline": list(selectors.application_timeline(application=application)),
            "sections": answers_sections(
                application,
                definition,
                language,
                change=False,
                file_names={str(doc.pk): doc.filename for doc in files},
            ),
            "documents": files,
            "can_withdraw": application.status in OPEN_STATUSES,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def withdraw(request: HttpRequest, application_id: Any) -> HttpResponse:
    """Confirm, then withdraw an open application."""
    application = _application(request, application_id)
    errors: list[Any] = []
    if request.method == "POST":
        choice = request.POST.get("confirm", "")
        if choice == "yes":
            try:
                services.application_withdraw(application=application, actor=request.user)
            except Conflict as error:
                errors.append(FieldError(field="confirm-yes", message=str(error.message)))
            else:
                return HttpResponseRedirect(
                    reverse("forms:application", kwargs={"application_id": application.pk})
                )
        elif choice == "no":
            return HttpResponseRedirect(
                reverse("forms:application", kwargs={"application_id": application.pk})
            )
        else:
            errors.append(
                FieldError(field="confirm-yes", message=_("Select yes if you want to withdraw it"))
            )
    return render(request, "forms/withdraw.html", {"application": application, "errors": errors})


@login_required
def my_documents(request: HttpRequest) -> HttpResponse:
    """Every file the person has uploaded, and where it went."""
    return render(
        request,
        "forms/documents.html",
        {"documents": list(documents.documents_for_owner(user=request.user)[:200])},
    )
