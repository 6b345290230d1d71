"""The citizen's identity verification pages: status, the document check stand-in, removal."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_safe

from civicstack.core.errors import PermissionDenied, ValidationFailed
from civicstack.identity import selectors, services
from civicstack.identity.constants import DOCUMENT_TYPES
from civicstack.identity.forms import error_list, errors_by_field, posted_values
from civicstack.identity.step_up_views import safe_next
from civicstack.identity.verification import (
    MRZ_DOCUMENT_CODES,
    DocumentCheckStandIn,
    method_allowed,
    verification_methods,
)

STANDIN_TEXT_FIELDS = (
    "document_type",
    "issuing_country",
    "document_number",
    "mrz_line_1",
    "mrz_line_2",
)
STANDIN_DATE_FIELDS = ("document_expires_on", "date_of_birth")
# The id of the input each field's error links to.
INPUT_IDS = {
    "document_type": "document_type",
    "document_expires_on": "document_expires_on-day",
    "date_of_birth": "date_of_birth-day",
}


@never_cache
@login_required
@require_safe
def verification(request: HttpRequest) -> HttpResponse:
    """Show the person's identity checks, and the ways to get one."""
    next_url = safe_next(request, request.GET.get("next"))
    standin = verification_methods.get(DocumentCheckStandIn.key)
    return render(
        request,
        "identity/verification.html",
        {
            "rows": selectors.identity_verifications_for(user=request.user),
            "verified": selectors.identity_verified(request.user),
            "counter": verification_methods.get("counter"),
            "standin": standin if method_allowed(standin) else None,
            "next_url": next_url,
        },
    )


@never_cache
@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def document_check(request: HttpRequest) -> HttpResponse:
    """Development only: check a passport-style document's MRZ against its typed details."""
    if not method_allowed(verification_methods.get(DocumentCheckStandIn.key)):
        raise Http404()
    next_url = safe_next(request, request.POST.get("next") or request.GET.get("next"))
    values: dict[str, object] = {}
    field_errors: dict[str, list[str]] = {}
    if request.method == "POST":
        values = posted_values(request.POST, STANDIN_TEXT_FIELDS, STANDIN_DATE_FIELDS)
        try:
            services.identity_verification_record(
                user=request.user, method=DocumentCheckStandIn.key, data=values, actor=request.user
            )
        except ValidationFailed as error:
            field_errors = errors_by_field(error.field_errors)
            if not field_errors:
                field_errors = {"document_type": [str(error.message)]}
        except PermissionDenied as error:
            field_errors = {"document_type": [str(error.message)]}
        else:
            messages.success(request, _("Your identity has been checked."))
            return HttpResponseRedirect(next_url or reverse("identity:verification"))
    return render(
        request,
        "identity/document_check.html",
        {
            "values": values,
            "errors": field_errors,
            "error_list": error_list(field_errors, ids=INPUT_IDS),
            "document_types": [(key, DOCUMENT_TYPES[key]) for key in MRZ_DOCUMENT_CODES],
            "next_url": next_url,
        },
    )


@never_cache
@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def verification_remove(request: HttpRequest, verification_id: str) -> HttpResponse:
    """Ask, then remove one of the person's identity checks."""
    record = selectors.identity_verification_get(user=request.user, verification_id=verification_id)
    if record is None:
        raise Http404()
    if request.method == "POST":
        services.identity_verification_revoke(
            verification=record,
            actor=request.user,
            reason=_("Removed by the person at their request"),
        )
        messages.success(request, _("Your identity check has been removed."))
        return HttpResponseRedirect(reverse("identity:verification"))
    return render(request, "identity/verification_remove.html", {"record": record})
