"""Back-office pages for staff: agency-scoped navigation and service page editing."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from civicstack.accounts import selectors as accounts
from civicstack.backoffice.access import staff_required
from civicstack.catalogue import selectors as catalogue
from civicstack.catalogue import services as catalogue_services
from civicstack.catalogue.constants import (
    GUIDE_MAX_STEPS,
    SERVICE_LIST_FIELDS,
    SERVICE_TEXT_FIELDS,
    Channel,
)
from civicstack.core.errors import Conflict, ValidationFailed
from civicstack.identity import services as identity_services
from civicstack.identity.constants import Level

TEXT_FIELD_LABELS = {
    "title": gettext_lazy("Title"),
    "summary": gettext_lazy("Summary"),
    "description": gettext_lazy("Description"),
    "eligibility": gettext_lazy("Who can apply"),
    "cost": gettext_lazy("Cost (as shown to the public)"),
    "how_to_apply": gettext_lazy("How to apply"),
    "what_you_need": gettext_lazy("What you need (one item on each line)"),
    "keywords": gettext_lazy("Search keywords (one on each line)"),
}
ASSURANCE_LEVELS = [
    (
        Level.LOW.value,
        gettext_lazy("Low: a password is enough"),
        gettext_lazy("For services that hold little personal information."),
    ),
    (
        Level.SUBSTANTIAL.value,
        gettext_lazy("Substantial: a password and a second step"),
        gettext_lazy(
            "An authenticator app code or a passkey. For services about money, benefits, "
            "tax or personal records."
        ),
    ),
    (
        Level.HIGH.value,
        gettext_lazy("High: a passkey and a checked identity"),
        gettext_lazy(
            "The person's identity has been checked against a document, and they use a "
            "passkey. For services with legal effect."
        ),
    ),
]
LONG_FIELDS = {"description", "eligibility", "how_to_apply", "what_you_need", "keywords"}


@require_safe
@staff_required
def home(request: HttpRequest) -> HttpResponse:
    """Show the agencies the member of staff works for and what they can do there."""
    return render(
        request,
        "backoffice/home.html",
        {
            "agencies": accounts.agencies_for_staff(user=request.user),
            "is_platform_admin": accounts.user_is_platform_admin(user=request.user),
            "may_check_identity": bool(
                identity_services.identity_checker_roles(actor=request.user)
            ),
        },
    )


@require_safe
@staff_required
def service_index(request: HttpRequest) -> HttpResponse:
    """List the services of the staff member's agencies, 50 to a page."""
    paginator = Paginator(catalogue.services_for_staff(user=request.user), 50)
    page = paginator.get_page(request.GET.get("page"))
    return render(request, "backoffice/service_index.html", {"page": page})


def _service_or_404(request: HttpRequest, slug: str) -> Any:
    service = catalogue.service_for_staff(user=request.user, slug=slug)
    if service is None:
        raise Http404
    return service


@require_safe
@staff_required
def service_overview(request: HttpRequest, slug: str) -> HttpResponse:
    """Show a service's status, its open draft and its history."""
    service = _service_or_404(request, slug)
    return render(
        request,
        "backoffice/service_overview.html",
        {
            "service": service,
            "draft": catalogue.service_draft(service=service),
            "revisions": catalogue.service_revisions(service=service)[:50],
        },
    )


def _form_fields(values: dict[str, Any], errors: dict[str, list[Any]]) -> list[dict[str, Any]]:
    fields = []
    for name in (*SERVICE_TEXT_FIELDS, *SERVICE_LIST_FIELDS):
        for language, language_name in (
            ("en", gettext_lazy("English")),
            ("cy", gettext_lazy("Welsh")),
        ):
            key = f"{name}_{language}"
            value = values.get(key, "")
            if isinstance(value, list):
                value = "\n".join(value)
            fields.append(
                {
                    "name": key,
                    "label": f"{TEXT_FIELD_LABELS[name]} ({language_name})",
                    "value": value,
                    "long": name in LONG_FIELDS,
                    "errors": errors.get(key, []),
                    "lang": language,
                }
            )
    return fields


def _content_from_post(request: HttpRequest, *, assurance_level: str) -> dict[str, Any]:
    content: dict[str, Any] = {}
    for name in SERVICE_TEXT_FIELDS:
        for language in ("en", "cy"):
            content[f"{name}_{language}"] = request.POST.get(f"{name}_{language}", "")
    for name in SERVICE_LIST_FIELDS:
        for language in ("en", "cy"):
            content[f"{name}_{language}"] = request.POST.get(f"{name}_{language}", "")
    content["fee_pence"] = request.POST.get("fee_pence", "")
    content["target_working_days"] = request.POST.get("target_working_days", "")
    content["channels"] = request.POST.getlist("channels")
    # A form without the field (an older page still open) keeps the level as it is.
    content["assurance_level"] = request.POST.get("assurance_level", assurance_level)
    content["topics"] = request.POST.getlist("topics")
    return content


@require_http_methods(["GET", "POST"])
@staff_required
def service_edit(request: HttpRequest, slug: str) -> HttpResponse:
    """Edit the service's draft in English and Welsh; saving never changes the live page."""
    service = _service_or_404(request, slug)
    draft = catalogue.service_draft(service=service)
    errors: dict[str, list[Any]] = {}
    if request.method == "POST":
        values = _content_from_post(request, assurance_level=service.assurance_level)
        try:
            catalogue_services.service_draft_save(
                service=service,
                actor=request.user,
                content=values,
                based_on=request.POST.get("based_on", "")[:100],
            )
        except ValidationFailed as error:
            errors = error.field_errors
        except Conflict:
            messages.error(
                request,
                _(
                    "Someone else changed this draft. Your edits were not saved; review the "
                    "draft and make them again."
                ),
            )
            return HttpResponseRedirect(reverse("backoffice:service", args=[service.slug]))
        else:
            messages.success(request, _("Draft saved. It is not live until you publish it."))
            return HttpResponseRedirect(reverse("backoffice:service", args=[service.slug]))
    else:
        values = dict(draft.content) if draft else catalogue_services.service_content(service)
    error_list = [
        {"field": name, "message": message}
        for name, messages_ in errors.items()
        for message in messages_
    ]
    return render(
        request,
        "backoffice/service_edit.html",
        {
            "service": service,
            "draft": draft,
            "fields": _form_fields(values, errors),
            "values": values,
            "errors": errors,
            "error_list": error_list,
            "channels": Channel.choices,
            "assurance_levels": ASSURANCE_LEVELS,
            "topics": catalogue.topic_list(),
            "selected_channels": values.get("channels", []),
            "selected_topics": values.get("topics", []),
            "edit_token": request.POST.get("based_on", "")[:100]
            if request.method == "POST"
            else catalogue_services.edit_token(live_version=service.version, draft=draft),
        },
        status=400 if errors else 200,
    )


@require_safe
@staff_required
def service_preview(request: HttpRequest, slug: str) -> HttpResponse:
    """Show the draft exactly as the public page will look once published."""
    service = _service_or_404(request, slug)
    draft = catalogue.service_draft(service=service)
    if draft is None:
        raise Http404
    preview, topics = catalogue.service_preview(revision=draft)
    return render(
        request,
        "catalogue/service_detail.html",
        {"service": preview, "topics": topics, "guides": [], "preview": draft},
    )


@require_POST
@staff_required
def service_publish(request: HttpRequest, slug: str) -> HttpResponse:
    """Publish the draft."""
    service = _service_or_404(request, slug)
    try:
        catalogue_services.service_publish(
            service=service, actor=request.user, reason=request.POST.get("reason", "")[:500]
        )
    except (Conflict, ValidationFailed):
        messages.error(request, _("The draft could not be published: check it has no errors."))
    else:
        messages.success(request, _("Published. The public page now shows this version."))
    return HttpResponseRedirect(reverse("backoffice:service", args=[service.slug]))


@require_POST
@staff_required
def service_discard(request: HttpRequest, slug: str) -> HttpResponse:
    """Throw the draft away."""
    service = _service_or_404(request, slug)
    try:
        catalogue_services.service_draft_discard(service=service, actor=request.user)
    except Conflict:
        messages.error(request, _("There is no draft to discard."))
    else:
        messages.success(request, _("Draft discarded."))
    return HttpResponseRedirect(reverse("backoffice:service", args=[service.slug]))


@require_safe
@staff_required
def service_revision(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    """Show one revision from the history."""
    service = _service_or_404(request, slug)
    revision = catalogue.service_revision_get(service=service, number=number)
    if revision is None:
        raise Http404
    return render(
        request,
        "backoffice/service_revision.html",
        {"service": service, "revision": revision, "fields": _form_fields(revision.content, {})},
    )


# --- Step-by-step guides -------------------------------------------------------------------


@require_safe
@staff_required
def guide_index(request: HttpRequest) -> HttpResponse:
    """List every step-by-step guide."""
    return render(request, "backoffice/guide_index.html", {"guides": catalogue.guides_for_staff()})


def _guide_or_404(slug: str) -> Any:
    guide = catalogue.guide_get_any(slug=slug)
    if guide is None:
        raise Http404
    return guide


@require_safe
@staff_required
def guide_overview(request: HttpRequest, slug: str) -> HttpResponse:
    """Show a guide's status, its open draft and its history."""
    guide = _guide_or_404(slug)
    return render(
        request,
        "backoffice/guide_overview.html",
        {
            "guide": guide,
            "draft": catalogue.guide_draft(guide=guide),
            "revisions": catalogue.guide_revisions(guide=guide)[:50],
        },
    )


def _guide_from_post(request: HttpRequest) -> dict[str, Any]:
    content: dict[str, Any] = {
        key: request.POST.get(key, "")
        for key in ("title_en", "title_cy", "summary_en", "summary_cy")
    }
    count_raw = request.POST.get("step_count", "0")
    count = (
        min(int(count_raw), GUIDE_MAX_STEPS) if count_raw.isascii() and count_raw.isdigit() else 0
    )
    steps = []
    for index in range(count):
        prefix = f"step-{index}-"
        if request.POST.get(prefix + "remove"):
            continue
        steps.append(
            {
                "title_en": request.POST.get(prefix + "title_en", ""),
                "title_cy": request.POST.get(prefix + "title_cy", ""),
                "body_en": request.POST.get(prefix + "body_en", ""),
                "body_cy": request.POST.get(prefix + "body_cy", ""),
                "logic": request.POST.get(prefix + "logic", ""),
                "services": request.POST.get(prefix + "services", ""),
            }
        )
    content["steps"] = steps
    return content


def _editor_steps(content: dict[str, Any], errors: dict[str, list[Any]]) -> list[dict[str, Any]]:
    steps = []
    for index, step in enumerate(content.get("steps", [])):
        services = step.get("services", [])
        prefix = f"step-{index}-"
        steps.append(
            {
                **step,
                "services": services if isinstance(services, str) else "\n".join(services),
                "errors": {
                    key.removeprefix(prefix): value
                    for key, value in errors.items()
                    if key.startswith(prefix)
                },
            }
        )
    return steps


@require_http_methods(["GET", "POST"])
@staff_required
def guide_edit(request: HttpRequest, slug: str) -> HttpResponse:
    """Edit a guide's draft: texts in both languages, steps, and/or choices, linked services.

    "Add a step" re-shows the form with a blank step and saves nothing, so no JavaScript is
    needed and nothing typed is lost.
    """
    guide = _guide_or_404(slug)
    draft = catalogue.guide_draft(guide=guide)
    errors: dict[str, list[Any]] = {}
    if request.method == "POST":
        content = _guide_from_post(request)
        if request.POST.get("action") == "add-step":
            if len(content["steps"]) < GUIDE_MAX_STEPS:
                content["steps"].append(
                    {
                        "title_en": "",
                        "title_cy": "",
                        "body_en": "",
                        "body_cy": "",
                        "logic": "",
                        "services": "",
                    }
                )
        else:
            try:
                catalogue_services.guide_draft_save(
                    guide=guide,
                    actor=request.user,
                    content=content,
                    based_on=request.POST.get("based_on", "")[:100],
                )
            except ValidationFailed as error:
                errors = error.field_errors
            except Conflict:
                messages.error(
                    request,
                    _(
                        "Someone else changed this draft. Your edits were not saved; review "
                        "the draft and make them again."
                    ),
                )
                return HttpResponseRedirect(reverse("backoffice:guide", args=[guide.slug]))
            else:
                messages.success(request, _("Draft saved. It is not live until you publish it."))
                return HttpResponseRedirect(reverse("backoffice:guide", args=[guide.slug]))
    else:
        content = dict(draft.content) if draft else catalogue_services.guide_content(guide)
    error_list = [
        {"field": name, "message": message}
        for name, field_messages in errors.items()
        for message in field_messages
    ]
    return render(
        request,
        "backoffice/guide_edit.html",
        {
            "guide": guide,
            "draft": draft,
            "content": content,
            "steps": _editor_steps(content, errors),
            "edit_token": request.POST.get("based_on", "")[:100]
            if request.method == "POST"
            else catalogue_services.edit_token(live_version=guide.version, draft=draft),
            "errors": errors,
            "error_list": error_list,
        },
        status=400 if errors else 200,
    )


@require_safe
@staff_required
def guide_preview(request: HttpRequest, slug: str) -> HttpResponse:
    """Show the guide's draft as the public page will look."""
    guide = _guide_or_404(slug)
    draft = catalogue.guide_draft(guide=guide)
    if draft is None:
        raise Http404
    preview = {
        "title_en": draft.content["title_en"],
        "title_cy": draft.content["title_cy"],
        "summary_en": draft.content["summary_en"],
        "summary_cy": draft.content["summary_cy"],
    }
    return render(
        request,
        "catalogue/guide_detail.html",
        {
            "guide": preview,
            "groups": catalogue.guide_preview_groups(revision=draft),
            "preview": draft,
        },
    )


@require_POST
@staff_required
def guide_publish(request: HttpRequest, slug: str) -> HttpResponse:
    """Publish the guide's draft."""
    guide = _guide_or_404(slug)
    try:
        catalogue_services.guide_publish(
            guide=guide, actor=request.user, reason=request.POST.get("reason", "")[:500]
        )
    except (Conflict, ValidationFailed):
        messages.error(request, _("The draft could not be published: check it has no errors."))
    else:
        messages.success(request, _("Published. The public guide now shows this version."))
    return HttpResponseRedirect(reverse("backoffice:guide", args=[guide.slug]))


@require_POST
@staff_required
def guide_discard(request: HttpRequest, slug: str) -> HttpResponse:
    """Throw the guide's draft away."""
    guide = _guide_or_404(slug)
    try:
        catalogue_services.guide_draft_discard(guide=guide, actor=request.user)
    except Conflict:
        messages.error(request, _("There is no draft to discard."))
    else:
        messages.success(request, _("Draft discarded."))
    return HttpResponseRedirect(reverse("backoffice:guide", args=[guide.slug]))


@require_safe
@staff_required
def guide_revision(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    """Show one version of a guide from its history, with its steps."""
    guide = _guide_or_404(slug)
    revision = catalogue.guide_revision_get(guide=guide, number=number)
    if revision is None:
        raise Http404
    return render(
        request,
        "backoffice/guide_revision.html",
        {
            "guide": guide,
            "revision": revision,
            "content": revision.content,
            "steps": _editor_steps(revision.content, {}),
        },
    )
