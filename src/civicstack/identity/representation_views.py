"""Pages for acting for someone else: give and revoke mandates, choose whom you act for.

Everything works without JavaScript: each action is a form posted by a button.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from civicstack.core.errors import Conflict, PermissionDenied, ValidationFailed
from civicstack.identity import selectors, services

_GET_POST = require_http_methods(["GET", "POST"])


def _language() -> str:
    return "cy" if (translation.get_language() or "en").startswith("cy") else "en"


def _errors(error: ValidationFailed) -> list[dict[str, str]]:
    return [
        {"field": name, "message": str(message)}
        for name, field_messages in error.field_errors.items()
        for message in field_messages
    ] or [{"field": "main-content", "message": str(error.message)}]


def date_from(data: Mapping[str, Any], prefix: str) -> tuple[date | None, dict[str, str]]:
    """Return the date of the day/month/year inputs ``prefix``-day etc., and the raw values.

    The date is None when a part is missing or the parts are not a real date.
    """
    raw = {
        part: str(data.get(f"{prefix}-{part}", ""))[:10].strip()
        for part in ("day", "month", "year")
    }
    try:
        day, month, year = int(raw["day"]), int(raw["month"]), int(raw["year"])
        if year < 1000:
            return None, raw
        return date(year, month, day), raw
    except (ValueError, OverflowError):
        return None, raw


def _scope_from(data: Any) -> tuple[bool, list[str]]:
    all_services = data.get("scope", "all") != "chosen"
    chosen = [str(value)[:64] for value in data.getlist("services")[:300]]
    return all_services, chosen


def _service_choices(chosen: list[str]) -> list[dict[str, Any]]:
    language = _language()
    return [
        {
            "id": str(service.pk),
            "title": (service.title_cy if language == "cy" else "") or service.title_en,
            "checked": str(service.pk) in chosen,
        }
        for service in selectors.services_for_mandates()[:500]
    ]


def _with_titles(items: list[Any]) -> list[dict[str, Any]]:
    language = _language()
    return [
        {
            "item": item,
            "services": (
                None
                if item.all_services
                else selectors.service_titles(service_ids=item.service_ids, language=language)
            ),
        }
        for item in items
    ]


# --- People who can act for you --------------------------------------------------------------


@never_cache
@login_required
@require_safe
def mandates_given(request: HttpRequest) -> HttpResponse:
    """List the people the signed-in person lets act for them, with their mandates' state."""
    mandates = list(selectors.mandates_given_by(user=request.user)[:200])
    return render(
        request,
        "identity/representation/given.html",
        {"rows": _with_titles(mandates)},
    )


def _permission_form(
    request: HttpRequest,
    *,
    email_field: str,
    bad_date: str,
    give: Callable[[str, bool, list[str], date | None], None],
) -> tuple[list[dict[str, str]], dict[str, Any], bool]:
    """Read a form that lets someone act for another (who, for what, until when) and give it.

    Return the errors, the values to show again, and whether the permission was given.
    """
    errors: list[dict[str, str]] = []
    values: dict[str, Any] = {"scope": "all", "email": "", "date": {}, "chosen": []}
    if request.method != "POST":
        return errors, values, False
    all_services, chosen = _scope_from(request.POST)
    expires_on, raw_date = date_from(request.POST, "expires_on")
    email = str(request.POST.get(email_field, ""))[:300]
    values = {
        "scope": "all" if all_services else "chosen",
        "email": email,
        "date": raw_date,
        "chosen": chosen,
    }
    if expires_on is None and any(raw_date.values()):
        return [{"field": "expires_on-day", "message": bad_date}], values, False
    try:
        give(email, all_services, chosen, expires_on)
    except ValidationFailed as error:
        errors = [
            {**e, "field": "expires_on-day" if e["field"] == "expires_on" else e["field"]}
            for e in _errors(error)
        ]
    except PermissionDenied as error:
        errors = [{"field": email_field, "message": str(error.message)}]
    return errors, values, not errors


@never_cache
@login_required
@_GET_POST
def mandate_give(request: HttpRequest) -> HttpResponse:
    """Give another person permission to act for you: who, for what, until when."""

    def give(email: str, all_services: bool, chosen: list[str], expires_on: date | None) -> None:
        services.mandate_give(
            actor=request.user,
            representative_email=email,
            all_services=all_services,
            service_ids=chosen,
            expires_on=expires_on,
        )

    errors, values, given = _permission_form(
        request,
        email_field="representative_email",
        bad_date=_("The date the permission ends must be a real date"),
        give=give,
    )
    if given:
        messages.success(
            request,
            _("You gave %(email)s permission to act for you.") % {"email": values["email"].strip()},
        )
        return HttpResponseRedirect(reverse("identity:mandates-given"))
    return render(
        request,
        "identity/representation/give.html",
        {
            "errors": errors,
            "error_fields": {e["field"]: e["message"] for e in errors},
            "date_error": next(
                (e["message"] for e in errors if e["field"] == "expires_on-day"), ""
            ),
            "values": values,
            "services": _service_choices(values["chosen"]),
        },
        status=400 if errors else 200,
    )


@never_cache
@login_required
@_GET_POST
def mandate_revoke(request: HttpRequest, mandate_id: Any) -> HttpResponse:
    """Confirm, then end a mandate the person gave."""
    mandate = selectors.mandate_of_giver(user=request.user, mandate_id=mandate_id)
    if mandate is None:
        raise Http404
    if request.method == "POST":
        try:
            services.mandate_revoke(actor=request.user, mandate=mandate)
        except Conflict as error:
            messages.warning(request, str(error.message))
        else:
            messages.success(request, _("The permission has been withdrawn."))
        return HttpResponseRedirect(reverse("identity:mandates-given"))
    return render(request, "identity/representation/revoke.html", {"mandate": mandate})


# --- People and businesses you can act for ---------------------------------------------------


@never_cache
@login_required
@require_safe
def acting_choose(request: HttpRequest) -> HttpResponse:
    """Choose whom to act for: yourself, or a person or business that lets you act for them."""
    current = selectors.acting_for(request)
    offered = list(selectors.mandates_offered_to(user=request.user)[:200])
    representations = list(selectors.business_representations_of_person(user=request.user)[:200])
    return render(
        request,
        "identity/representation/acting.html",
        {
            "current": current,
            "choices": selectors.acting_choices(user=request.user),
            "offered": _with_titles(offered),
            "representations": _with_titles(representations),
        },
    )


@never_cache
@login_required
@require_POST
def acting_start(request: HttpRequest) -> HttpResponse:
    """Start acting for the chosen party, then go to the home page."""
    try:
        acting = services.acting_start(
            session=request.session,
            actor=request.user,
            kind=str(request.POST.get("kind", ""))[:20],
            mandate_id=str(request.POST.get("mandate", ""))[:64],
        )
    except PermissionDenied as error:
        messages.warning(request, str(error.message))
        return HttpResponseRedirect(reverse("identity:acting-choose"))
    messages.success(request, _("You are now acting for %(name)s.") % {"name": acting.name})
    return HttpResponseRedirect(reverse("portal:home"))


@never_cache
@login_required
@require_POST
def acting_stop(request: HttpRequest) -> HttpResponse:
    """Stop acting for anyone else; act for yourself again."""
    if services.acting_stop(session=request.session, actor=request.user):
        messages.success(request, _("You are acting for yourself again."))
    return HttpResponseRedirect(reverse("identity:acting-choose"))


@never_cache
@login_required
@_GET_POST
def mandate_renounce(request: HttpRequest, mandate_id: Any) -> HttpResponse:
    """Confirm, then decline or give up a mandate someone gave you."""
    mandate = selectors.mandate_offered_to(user=request.user, mandate_id=mandate_id)
    if mandate is None:
        raise Http404
    if request.method == "POST":
        try:
            services.mandate_renounce(actor=request.user, mandate=mandate)
        except Conflict as error:
            messages.warning(request, str(error.message))
        else:
            messages.success(request, _("You no longer have permission to act for them."))
        return HttpResponseRedirect(reverse("identity:acting-choose"))
    return render(request, "identity/representation/renounce.html", {"mandate": mandate})


@never_cache
@login_required
@_GET_POST
def business_delegate(request: HttpRequest, representation_id: Any) -> HttpResponse:
    """Let a colleague act for a business you represent (if your role allows it)."""
    representation = selectors.business_representation_of_person(
        user=request.user, representation_id=representation_id
    )
    if representation is None or not representation.can_delegate:
        raise Http404

    def give(email: str, all_services: bool, chosen: list[str], expires_on: date | None) -> None:
        services.business_representation_delegate(
            actor=request.user,
            representation=representation,
            colleague_email=email,
            all_services=all_services,
            service_ids=chosen,
            expires_on=expires_on,
        )

    errors, values, given = _permission_form(
        request,
        email_field="colleague_email",
        bad_date=_("The date the access ends must be a real date"),
        give=give,
    )
    if given:
        messages.success(
            request,
            _("%(email)s can now act for %(business)s.")
            % {"email": values["email"].strip(), "business": representation.business.name},
        )
        return HttpResponseRedirect(reverse("identity:acting-choose"))
    return render(
        request,
        "identity/representation/delegate.html",
        {
            "representation": representation,
            "errors": errors,
            "error_fields": {e["field"]: e["message"] for e in errors},
            "date_error": next(
                (e["message"] for e in errors if e["field"] == "expires_on-day"), ""
            ),
            "values": values,
            "services": _service_choices(values["chosen"]),
        },
        status=400 if errors else 200,
    )
