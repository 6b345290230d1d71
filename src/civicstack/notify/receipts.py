"""Delivery receipts from the text message gateway.

The gateway posts ``{"id": <its reference>, "status": "delivered" | "permanent-failure" |
"temporary-failure", "reason": "..."}`` to ``/notify/receipts/sms`` with the same bearer
token the channel sends it. Every refusal is a JSON error body with a 4xx status, in the
form every Civicstack API uses; a repeated or late receipt is answered 200 and changes
nothing.
"""

from __future__ import annotations

import hmac
import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from civicstack.core.api import api_endpoint, json_body
from civicstack.core.errors import CivicstackError, NotAuthenticated, NotFound, ValidationFailed
from civicstack.core.middleware import error_json
from civicstack.notify import delivery
from civicstack.notify.models import Status
from civicstack.notify.sms import HTTP_PROVIDER

logger = logging.getLogger(__name__)

RECEIPT_STATUSES = (Status.DELIVERED, Status.PERMANENT_FAILURE, Status.TEMPORARY_FAILURE)
_REFERENCE_MAX = 200
_REASON_MAX = 500


class ReceiptNotAuthenticated(NotAuthenticated):
    """The receipt did not carry the gateway's bearer token."""

    default_message = _("Send the gateway token as 'Authorization: Bearer <token>'.")


def _token_valid(request: HttpRequest) -> bool:
    expected = str(getattr(settings, "NOTIFY_SMS_TOKEN", "") or "")
    if not expected:
        # With no token configured no receipt can be trusted, so none is accepted.
        logger.warning("a text message receipt arrived but NOTIFY_SMS_TOKEN is not set")
        return False
    scheme, _space, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode("utf-8"), expected.encode("utf-8"))


def _receipt_fields(data: dict[str, object]) -> tuple[str, str, str]:
    errors: dict[str, list[str | Promise]] = {}
    reference = data.get("id")
    status = data.get("status")
    reason = data.get("reason") or ""
    if not isinstance(reference, str) or not reference.strip() or len(reference) > _REFERENCE_MAX:
        errors["id"] = [_("Give the gateway's message id, up to 200 characters.")]
    if status not in RECEIPT_STATUSES:
        errors["status"] = [_("Status must be delivered, permanent-failure or temporary-failure.")]
    if not isinstance(reason, str):
        errors["reason"] = [_("Reason must be text.")]
    if (
        errors
        or not isinstance(reference, str)
        or not isinstance(status, str)
        or not isinstance(reason, str)
    ):
        raise ValidationFailed(_("The receipt is not valid."), field_errors=errors)
    if status == Status.DELIVERED:
        reason = ""
    return reference.strip(), status, " ".join(reason.split())[:_REASON_MAX]


@api_endpoint("POST")
def sms_receipt(request: HttpRequest) -> HttpResponse:
    """Apply a delivery receipt from the text message gateway."""
    try:
        if not _token_valid(request):
            raise ReceiptNotAuthenticated()
        reference, status, reason = _receipt_fields(json_body(request))
        notification = delivery.receipt_record(
            provider=HTTP_PROVIDER, provider_reference=reference, status=status, reason=reason
        )
        if notification is None:
            raise NotFound(_("No text message has this id."))
    except CivicstackError as error:
        response = error_json(status=error.status, code=error.code, error=error)
        if isinstance(error, NotAuthenticated):
            response["WWW-Authenticate"] = 'Bearer realm="notify-receipts"'
        return response
    return JsonResponse(
        {"id": reference, "notification": str(notification.pk), "status": notification.status}
    )
