"""Back-office form editor: write a definition, see errors where they are, preview, publish."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from civicstack.backoffice.access import staff_required
from civicstack.catalogue import selectors as catalogue
from civicstack.core.errors import Conflict, PermissionDenied, ValidationFailed
from civicstack.forms import selectors as forms
from civicstack.forms import services as forms_services

MAX_SOURCE_CHARS = 500_000


def _service(request: HttpRequest, slug: str) -> Any:
    service = catalogue.service_for_staff(user=request.user, slug=slug)
    if service is None:
        raise Http404
    return service


@require_safe
@staff_required
def form_index(request: HttpRequest) -> HttpResponse:
    """List the services of the staff member's agencies and the state of their forms."""
    return render(
        request,
        "backoffice/form_index.html",
        {"services": forms.forms_for_staff(user=request.user)},
    )


@require_safe
@staff_required
def form_overview(request: HttpRequest, slug: str) -> HttpResponse:
    """Show a service's form versions, and the draft waiting to be published."""
    service = _service(request, slug)
    return render(
        request,
        "backoffice/form_overview.html",
        {
            "service": service,
            "versions": list(forms.form_versions(service=service)[:50]),
            "draft": forms.form_draft_version(service=service),
            "may_edit": forms.staff_may_edit_form(user=request.user, service=service),
        },
    )


def _annotated(source: str, errors: list[Any]) -> list[dict[str, Any]]:
    """Return the source's lines, each with the errors reported on it."""
    by_line: dict[int, list[str]] = {}
    for error in errors:
        if error.line:
            by_line.setdefault(int(error.line), []).append(error.message)
    return [
        {"number": number, "text": text, "errors": by_line.get(number, [])}
        for number, text in enumerate(source.splitlines(), start=1)
    ]


def _editor_context(service: Any, source: str, language: str) -> dict[str, Any]:
    definition, errors = forms.definition_check(source=source)
    return {
        "service": service,
        "source": source,
        "errors": errors,
        "annotated": _annotated(source, errors) if errors else [],
        "preview": forms.form_preview(definition=definition, language=language)
        if definition
        else [],
        "preview_language": language,
    }


def _source_from(request: HttpRequest) -> str:
    source = request.POST.get("source", "")
    if len(source) > MAX_SOURCE_CHARS:
        raise ValidationFailed(_("The definition is too long (500,000 characters at most)."))
    return source.replace("\r\n", "\n")


@require_http_methods(["GET", "POST"])
@staff_required
def form_edit(request: HttpRequest, slug: str) -> HttpResponse:
    """Edit the draft definition (YAML or JSON); errors are shown beside their lines."""
    service = _service(request, slug)
    if not forms.staff_may_edit_form(user=request.user, service=service):
        raise PermissionDenied()
    language = "cy" if request.GET.get("preview") == "cy" else "en"
    if request.method == "POST":
        source = _source_from(request)
        context = _editor_context(service, source, language)
        if request.POST.get("action") == "save" and not context["errors"]:
            forms_services.form_version_save(service=service, source=source, actor=request.user)
            messages.success(request, _("Draft saved. It is not live until you publish it."))
            return HttpResponseRedirect(reverse("backoffice:form", kwargs={"slug": slug}))
        return render(request, "backoffice/form_edit.html", context)
    draft = forms.form_draft_version(service=service)
    published = forms.form_published_version(service=service)
    source = draft.source if draft else (published.source if published else _STARTER)
    return render(request, "backoffice/form_edit.html", _editor_context(service, source, language))


@require_POST
@staff_required
def form_preview(request: HttpRequest, slug: str) -> HttpResponse:
    """Render the preview and errors of the text being edited (the live preview's fragment)."""
    service = _service(request, slug)
    if not forms.staff_may_edit_form(user=request.user, service=service):
        raise PermissionDenied()
    language = "cy" if request.POST.get("preview_language") == "cy" else "en"
    context = _editor_context(service, _source_from(request), language)
    return render(request, "backoffice/_form_preview.html", context)


@require_POST
@staff_required
def form_publish(request: HttpRequest, slug: str) -> HttpResponse:
    """Publish the draft: new applications use it, drafts in progress keep their version."""
    service = _service(request, slug)
    draft = forms.form_draft_version(service=service)
    if draft is None:
        raise Http404
    try:
        version = forms_services.form_version_publish(version=draft, actor=request.user)
    except (Conflict, ValidationFailed) as error:
        messages.error(request, str(error.message))
    else:
        messages.success(request, _("Version %(number)s is live.") % {"number": version.number})
    return HttpResponseRedirect(reverse("backoffice:form", kwargs={"slug": slug}))


_STARTER = """schema: 1
title: {en: "Apply", cy: "Gwneud cais"}
allow_anonymous: false
pages:
  - id: full_name
    title: {en: "What is your full name?", cy: "Beth yw eich enw llawn?"}
    questions:
      - id: full_name
        type: text
        label: {en: "What is your full name?", cy: "Beth yw eich enw llawn?"}
        prefill: full_name
declaration:
  en: "I confirm that the information I have given is correct."
  cy: "Rwy'n cadarnhau bod yr wybodaeth a roddais yn gywir."
confirmation:
  en: "We will email you when we have made a decision."
  cy: "Byddwn yn anfon e-bost atoch pan fyddwn wedi gwneud penderfyniad."
"""
