"""Identity checks at a counter: staff find the person, record the document they saw, confirm.

Three steps on one address, each a POST carrying what the earlier ones collected: find the
person by email, enter the document's details, then confirm. Nothing is recorded until the
confirmation, and the service checks everything again then.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from civicstack.accounts import selectors as accounts
from civicstack.backoffice.access import staff_required
from civicstack.core.errors import NotFound, PermissionDenied, ValidationFailed
from civicstack.identity import selectors as identity
from civicstack.identity import services as identity_services
from civicstack.identity.constants import DOCUMENT_TYPES

COUNTER = "counter"
TEXT_FIELDS = (
    "document_type",
    "issuing_country",
    "document_number",
    "national_identifier",
    "seen_document",
    "agency",
)
MAX_FIELD_LENGTH = 200


def _values(request: HttpRequest) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        value = request.POST.get(name, "")
        values[name] = value.strip()[:MAX_FIELD_LENGTH] if isinstance(value, str) else ""
    parts = [
        str(request.POST.get(f"document_expires_on-{part}", "")).strip()[:4]
        for part in ("day", "month", "year")
    ]
    values["expires_day"], values["expires_month"], values["expires_year"] = parts
    if not any(parts):
        values["document_expires_on"] = ""
    elif all(part.isascii() and part.isdecimal() for part in parts) and len(parts[2]) == 4:
        values["document_expires_on"] = (
            f"{int(parts[2]):04d}-{int(parts[1]):02d}-{int(parts[0]):02d}"
        )
    else:
        values["document_expires_on"] = "invalid"
    return values


def _error_list(errors: dict[str, list[str]]) -> list[dict[str, str]]:
    ids = {"document_expires_on": "document_expires_on-day", "seen_document": "seen_document"}
    return [
        {"field": ids.get(name, name), "message": message}
        for name, messages_ in errors.items()
        for message in messages_
    ]


def _as_text(error: ValidationFailed) -> dict[str, list[str]]:
    return {name: [str(m) for m in messages_] for name, messages_ in error.field_errors.items()}


@never_cache
@staff_required
@require_http_methods(["GET", "HEAD", "POST"])
def identity_counter(request: HttpRequest) -> HttpResponse:
    """Check a person's identity document in person, and record it after a confirmation."""
    roles = identity_services.identity_checker_roles(actor=request.user)
    if not roles:
        raise PermissionDenied(
            _("Only caseworkers, supervisors and agency admins can check identity documents.")
        )
    agencies = [
        agency
        for agency in accounts.agencies_for_staff(user=request.user).order_by("name_en")
        if agency.pk in roles
    ]
    step = request.POST.get("step", "") if request.method == "POST" else ""
    email = str(request.POST.get("email", "")).strip()[:254]
    errors: dict[str, list[str]] = {}
    context: dict[str, Any] = {
        "email": email,
        "agencies": agencies,
        "document_types": list(DOCUMENT_TYPES.items()),
    }
    if step not in {"find", "details", "confirm"}:
        return render(request, "backoffice/identity/find.html", context)
    person = identity.verification_person_find(email=email)
    if person is None:
        context["errors"] = {"email": [_("There is no account with that email address")]}
        context["error_list"] = _error_list(context["errors"])
        return render(request, "backoffice/identity/find.html", context)
    if person.pk == request.user.pk:
        context["errors"] = {
            "email": [_("You cannot check your own identity. Ask a colleague to do it.")]
        }
        context["error_list"] = _error_list(context["errors"])
        return render(request, "backoffice/identity/find.html", context)
    context["person"] = person
    context["current"] = identity.identity_verification_current(person)
    if step == "find":
        return render(request, "backoffice/identity/details.html", context)
    values = _values(request)
    values["seen_document"] = "yes" if values["seen_document"] == "yes" else ""
    if len(agencies) == 1:
        values["agency"] = str(agencies[0].pk)
    context["values"] = values
    data = {**values}
    try:
        evidence = identity_services.identity_verification_check(method=COUNTER, data=data)
        if step == "confirm" and request.POST.get("confirm") == "yes":
            identity_services.identity_verification_record(
                user=person,
                method=COUNTER,
                data=data,
                actor=request.user,
                agency_id=values["agency"] or None,
            )
            messages.success(
                request,
                _("You have recorded that you checked the identity of %(email)s.")
                % {"email": person.email},
            )
            return HttpResponseRedirect(reverse("backoffice:identity-counter"))
        if len(agencies) > 1 and values["agency"] not in {str(a.pk) for a in agencies}:
            raise ValidationFailed(field_errors={"agency": [_("Select the agency you work for")]})
    except ValidationFailed as error:
        errors = _as_text(error) or {"document_type": [str(error.message)]}
        context["errors"] = errors
        context["error_list"] = _error_list(errors)
        return render(request, "backoffice/identity/details.html", context)
    except NotFound as error:
        context["errors"] = {"email": [str(error.message)]}
        context["error_list"] = _error_list(context["errors"])
        return render(request, "backoffice/identity/find.html", context)
    context["evidence"] = evidence
    context["document_type_label"] = DOCUMENT_TYPES.get(evidence.document_type, "")
    context["agency_name"] = next(
        (a.name_en for a in agencies if str(a.pk) == values["agency"]), ""
    )
    return render(request, "backoffice/identity/confirm.html", context)
