"""Back-office pages for representation: businesses, and who may act for them.

Only platform admins record businesses and their representatives; other staff are refused.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from civicstack.accounts import selectors as accounts
from civicstack.backoffice.access import staff_required
from civicstack.core.errors import Conflict, PermissionDenied, ValidationFailed
from civicstack.identity import selectors as identity
from civicstack.identity import services as identity_services
from civicstack.identity.constants import MANDATE_MAX_YEARS, RepresentationRole

_GET_POST = require_http_methods(["GET", "POST"])


def _date_from(data: Any, prefix: str) -> tuple[date | None, dict[str, str]]:
    """Return the date of the day, month and year inputs, or None, and what was typed."""
    raw = {
        part: str(data.get(f"{prefix}-{part}", ""))[:10].strip()
        for part in ("day", "month", "year")
    }
    try:
        value = date(int(raw["year"]), int(raw["month"]), int(raw["day"]))
    except (ValueError, OverflowError):
        return None, raw
    return (value if value.year >= 1000 else None), raw


def _require_platform_admin(request: HttpRequest) -> None:
    if not accounts.user_is_platform_admin(user=request.user):
        raise PermissionDenied(
            _("Only platform admins can manage businesses and their representatives.")
        )


def _business_or_404(business_id: uuid.UUID) -> Any:
    business = identity.business_get(business_id=business_id)
    if business is None:
        raise Http404
    return business


def _error_list(error: ValidationFailed) -> list[dict[str, str]]:
    return [
        {"field": name, "message": str(message)}
        for name, field_messages in error.field_errors.items()
        for message in field_messages
    ] or [{"field": "main-content", "message": str(error.message)}]


@never_cache
@require_safe
@staff_required
def business_index(request: HttpRequest) -> HttpResponse:
    """List the businesses on record."""
    _require_platform_admin(request)
    return render(
        request,
        "backoffice/representation/index.html",
        {"businesses": list(identity.business_list()[:500])},
    )


@never_cache
@_GET_POST
@staff_required
def business_new(request: HttpRequest) -> HttpResponse:
    """Record a business: its name, company number and the register it was checked in."""
    _require_platform_admin(request)
    agencies = list(accounts.agency_list())
    errors: list[dict[str, str]] = []
    values = {"name": "", "registration_number": "", "agency": ""}
    if request.method == "POST":
        values = {
            "name": str(request.POST.get("name", ""))[:300],
            "registration_number": str(request.POST.get("registration_number", ""))[:40],
            "agency": str(request.POST.get("agency", ""))[:64],
        }
        agency = next((a for a in agencies if str(a.pk) == values["agency"]), None)
        if values["agency"] and agency is None:
            errors.append({"field": "agency", "message": _("Select a register from the list")})
        else:
            try:
                business = identity_services.business_register(
                    actor=request.user,
                    name=values["name"],
                    registration_number=values["registration_number"],
                    register_agency=agency,
                )
            except ValidationFailed as error:
                errors = _error_list(error)
            else:
                messages.success(request, _("Business recorded."))
                return HttpResponseRedirect(reverse("backoffice:business", args=[business.pk]))
    return render(
        request,
        "backoffice/representation/business_new.html",
        {
            "error_list": errors,
            "field_errors": {e["field"]: e["message"] for e in errors},
            "values": values,
            "agencies": agencies,
        },
        status=400 if errors else 200,
    )


@never_cache
@require_safe
@staff_required
def business_detail(request: HttpRequest, business_id: uuid.UUID) -> HttpResponse:
    """Show a business and everyone who represents it (or did)."""
    _require_platform_admin(request)
    business = _business_or_404(business_id)
    return render(
        request,
        "backoffice/representation/business.html",
        {
            "business": business,
            "representations": list(identity.representations_of_business(business=business)[:500]),
        },
    )


@never_cache
@_GET_POST
@staff_required
def representative_new(request: HttpRequest, business_id: uuid.UUID) -> HttpResponse:
    """Record that a person represents the business: role, services, end date, delegation."""
    _require_platform_admin(request)
    business = _business_or_404(business_id)
    errors: list[dict[str, str]] = []
    values: dict[str, Any] = {
        "email": "",
        "role": "",
        "scope": "all",
        "chosen": [],
        "can_delegate": False,
        "date": {},
    }
    if request.method == "POST":
        expires_on, raw_date = _date_from(request.POST, "expires_on")
        values = {
            "email": str(request.POST.get("person_email", ""))[:300],
            "role": str(request.POST.get("role", ""))[:20],
            "scope": "chosen" if request.POST.get("scope") == "chosen" else "all",
            "chosen": [str(v)[:64] for v in request.POST.getlist("services")[:300]],
            "can_delegate": request.POST.get("can_delegate") == "yes",
            "date": raw_date,
        }
        if expires_on is None and any(raw_date.values()):
            errors.append(
                {"field": "expires_on-day", "message": _("The end date must be a real date")}
            )
        else:
            try:
                identity_services.business_representation_add(
                    actor=request.user,
                    business=business,
                    person_email=values["email"],
                    role=values["role"],
                    all_services=values["scope"] == "all",
                    service_ids=values["chosen"],
                    can_delegate=values["can_delegate"],
                    expires_on=expires_on,
                )
            except ValidationFailed as error:
                errors = [
                    {**e, "field": "expires_on-day" if e["field"] == "expires_on" else e["field"]}
                    for e in _error_list(error)
                ]
            else:
                messages.success(request, _("Representative recorded."))
                return HttpResponseRedirect(reverse("backoffice:business", args=[business.pk]))
    services = [
        {"id": str(s.pk), "title": s.title_en, "checked": str(s.pk) in values["chosen"]}
        for s in identity.services_for_mandates()[:500]
    ]
    field_errors = {e["field"]: e["message"] for e in errors}
    return render(
        request,
        "backoffice/representation/representative_new.html",
        {
            "business": business,
            "error_list": errors,
            "errors": errors,
            "field_errors": field_errors,
            "error_fields": field_errors,
            "date_error": field_errors.get("expires_on-day", ""),
            "values": values,
            "roles": RepresentationRole.choices,
            "services": services,
            "max_years": MANDATE_MAX_YEARS,
        },
        status=400 if errors else 200,
    )


@never_cache
@require_POST
@staff_required
def representative_revoke(
    request: HttpRequest, business_id: uuid.UUID, representation_id: uuid.UUID
) -> HttpResponse:
    """End a representation at once."""
    _require_platform_admin(request)
    business = _business_or_404(business_id)
    representation = identity.representation_of_business(
        business=business, representation_id=representation_id
    )
    if representation is None:
        raise Http404
    try:
        identity_services.business_representation_revoke(
            actor=request.user, representation=representation
        )
    except Conflict as error:
        messages.warning(request, str(error.message))
    else:
        messages.success(request, _("Representative removed."))
    return HttpResponseRedirect(reverse("backoffice:business", args=[business.pk]))
