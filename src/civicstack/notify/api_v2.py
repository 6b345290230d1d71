"""The GOV.UK Notify API v2, so Notify's own client libraries work unchanged.

Paths, request bodies, responses and error bodies follow Notify's API v2: send an email, a
text message or a letter (a precompiled PDF, or a letter template with its address in the
personalisation), read a notification or a page of them, read templates and preview one.
Each request is authenticated by :mod:`civicstack.notify.api_auth`; the work is done by
:func:`civicstack.notify.delivery.notification_create`, as for every other message.

Only what this API adds is here: reading the request, Notify's validation messages and
Notify's response fields.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from email.utils import parseaddr
from functools import wraps
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from civicstack.accounts.constants import Role
from civicstack.accounts.selectors import staff_with_roles
from civicstack.notify import caches, delivery, templating
from civicstack.notify.api_auth import KEY_TYPE_LABELS, ApiError, Caller, authenticate, key_used
from civicstack.notify.limits import counters_raise
from civicstack.notify.models import (
    FAILED_STATUSES,
    KeyType,
    Kind,
    LetterPdf,
    Notification,
    Preference,
    Status,
    Template,
    TemplateVersion,
)
from civicstack.notify.recipients import RecipientError, email_normalise, phone_normalise

DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
PAGE_SIZE = 250
MAX_MESSAGE_REQUEST_BYTES = 1_000_000
MAX_LETTER_REQUEST_BYTES = 7_500_000
MAX_PDF_BYTES = 5 * 1024 * 1024
MAX_PDF_PAGES = 10
MAX_REFERENCE_LENGTH = 1000
RATE_WINDOW_SECONDS = 60
API_KINDS = (Kind.EMAIL, Kind.SMS, Kind.LETTER)
POSTAGES = ("first", "second", "economy", "europe", "rest-of-world")
# Precompiled letters carry their address inside the PDF; the row needs one all the same.
PRECOMPILED_ADDRESS = ["(address printed in the precompiled PDF)"]
LIST_STATUSES = (
    "cancelled",
    "created",
    "sending",
    "sent",
    "delivered",
    "pending",
    "failed",
    "technical-failure",
    "temporary-failure",
    "permanent-failure",
    "pending-virus-check",
    "validation-failed",
    "virus-scan-failed",
    "returned-letter",
    "accepted",
    "received",
)

MESSAGE_TEMPLATE_NOT_FOUND = "Template not found"
MESSAGE_TEAM_RECIPIENT = "Can\u2019t send to this recipient using a team-only API key"
MESSAGE_INVALID_JSON = "Invalid JSON supplied in POST data"
MESSAGE_NOT_FOUND = "No result found"

View = Callable[..., HttpResponse]


# --- Plumbing ------------------------------------------------------------------------------


def bad_request(*messages: str) -> ApiError:
    return ApiError(400, "BadRequestError", *messages)


def not_found_error() -> ApiError:
    return ApiError(404, "NoResultFound", MESSAGE_NOT_FOUND)


def api_view(*methods: str) -> Callable[[Callable[..., HttpResponse]], View]:
    """Make an API view: no CSRF (no cookies are used), the caller authenticated first,
    and every :class:`ApiError` answered in Notify's body."""
    allowed = set(methods) | ({"HEAD"} if "GET" in methods else set())

    def decorate(view: Callable[..., HttpResponse]) -> View:
        @csrf_exempt
        @wraps(view)
        def wrapped(request: HttpRequest, **kwargs: Any) -> HttpResponse:
            try:
                if request.method not in allowed:
                    raise ApiError(
                        405, "MethodNotAllowed", "The method is not allowed for the requested URL."
                    )
                caller = authenticate(request)
                response = view(request, caller, **kwargs)
            except ApiError as error:
                response = error.response()
            response["Cache-Control"] = "no-store"
            return response

        return wrapped

    return decorate


@csrf_exempt
def unknown_path(request: HttpRequest, **kwargs: Any) -> HttpResponse:
    """Answer paths this API does not have in Notify's body rather than as a page."""
    return ApiError(404, "NotFound", "Not found").response()


def _json_body(request: HttpRequest, *, limit: int) -> dict[str, Any]:
    content_type = (request.content_type or "").lower()
    if content_type != "application/json":
        raise bad_request("Content-Type header is not set to application/json")
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    too_large = ApiError(
        413, "BadRequestError", f"Request body is too large: the limit is {limit} bytes"
    )
    if declared > limit:
        raise too_large
    raw = request.read(limit + 1)
    if len(raw) > limit:
        raise too_large
    try:
        # NaN and Infinity are not JSON, and NUL cannot be stored as text: both refused.
        data = json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise bad_request(MESSAGE_INVALID_JSON) from None
    if "\\u0000" in raw.decode("utf-8", "replace").lower():
        raise bad_request(MESSAGE_INVALID_JSON)
    if not isinstance(data, dict):
        raise ApiError(400, "ValidationError", f"{_shown(data)} is not of type object")
    return data


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _shown(value: Any) -> str:
    """Return a short text form of a value for an error message (never the whole input)."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = text.replace("'", "")
    return text if len(text) <= 50 else text[:47] + "..."


class _Fields:
    """Check a request body as Notify's JSON schemas do, collecting every error."""

    def __init__(self, data: dict[str, Any], *, allowed: Iterable[str], required: Iterable[str]):
        self.data = data
        self.errors: list[str] = []
        for name in required:
            if name not in data:
                self.errors.append(f"{name} is a required property")
        unexpected = [str(name)[:50] for name in data if name not in set(allowed)]
        if unexpected:
            verb = "was" if len(unexpected) == 1 else "were"
            self.errors.append(
                f"Additional properties are not allowed ({', '.join(unexpected[:5])} {verb} "
                "unexpected)"
            )

    def uuid(self, name: str) -> uuid.UUID | None:
        value = self.data.get(name)
        if value is None:
            return None
        try:
            if not isinstance(value, str):
                raise ValueError
            return uuid.UUID(value)
        except ValueError:
            self.errors.append(f"{name} is not a valid UUID")
            return None

    def text(self, name: str, *, max_length: int) -> str:
        value = self.data.get(name)
        if value is None:
            return ""
        if not isinstance(value, str):
            self.errors.append(f"{name} {_shown(value)} is not of type string, null")
            return ""
        if len(value) > max_length:
            self.errors.append(f"{name} is too long (at most {max_length} characters)")
            return ""
        return value

    def mapping(self, name: str) -> dict[str, Any]:
        value = self.data.get(name)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.errors.append(f"{name} {_shown(value)} is not of type object")
            return {}
        return value

    def recipient(self, name: str, normalise: Callable[[object], str]) -> str:
        if name not in self.data:
            return ""
        try:
            return normalise(self.data[name])
        except RecipientError as error:
            self.errors.append(f"{name} {error}")
            return ""

    def https_url(self, name: str) -> str:
        value = self.data.get(name)
        if value is None:
            return ""
        if not isinstance(value, str) or len(value) > 2000:
            self.errors.append(f"{name} is not a valid https url")
            return ""
        parts = urlsplit(value)
        if parts.scheme != "https" or not parts.netloc:
            self.errors.append(f"{name} is not a valid https url")
            return ""
        return value

    def check(self) -> None:
        if self.errors:
            raise ApiError(400, "ValidationError", *self.errors)


def _time(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime(DATETIME_FORMAT) if value is not None else None


def _absolute(request: HttpRequest, path: str) -> str:
    return request.build_absolute_uri(path)


# --- Sending -------------------------------------------------------------------------------


def _template_for_send(caller: Caller, template_id: uuid.UUID | None, kind: str) -> Template:
    template = (
        caches.cached(
            "template",
            (caller.sender.pk, template_id),
            lambda: Template.objects.filter(pk=template_id, sender=caller.sender).first(),
        )
        if template_id is not None
        else None
    )
    if template is None or template.kind not in API_KINDS:
        raise bad_request(MESSAGE_TEMPLATE_NOT_FOUND)
    if template.archived:
        raise bad_request("Template has been deleted")
    if template.kind != kind:
        raise bad_request(f"{template.kind} template is not suitable for {kind} notification")
    return template


def _team_check(caller: Caller, kind: str, recipient: str) -> None:
    """Team keys send only to the staff of the sender's agency."""
    if caller.key_type != KeyType.TEAM:
        return
    staff = staff_with_roles(agency_id=caller.sender.agency_id, roles=Role.values)
    if kind == Kind.EMAIL:
        allowed = {email.lower() for email in staff.values_list("email", flat=True)}
        ok = recipient.lower() in allowed
    else:
        ok = Preference.objects.filter(user__in=staff, phone=recipient).exists()
    if not ok:
        raise bad_request(MESSAGE_TEAM_RECIPIENT)


def _limits_check(caller: Caller) -> None:
    """Count the request against the rate limit and the daily cap, in one statement.

    Runs in the request's transaction: a request refused here, or later for bad input,
    rolls its counts back with everything else.
    """
    sender = caller.sender
    rate_key, daily_key = f"rate:{sender.pk}", f"daily:{sender.pk}"
    windows = {rate_key: RATE_WINDOW_SECONDS}
    if caller.key_type != KeyType.TEST:
        windows[daily_key] = 86400
    counts = counters_raise(windows)
    if counts[rate_key] > sender.rate_limit_per_minute:
        label = KEY_TYPE_LABELS.get(caller.key_type, caller.key_type.upper())
        raise ApiError(
            429,
            "RateLimitError",
            f"Exceeded rate limit for key type {label} of {sender.rate_limit_per_minute} "
            f"requests per {RATE_WINDOW_SECONDS} seconds",
        )
    if counts.get(daily_key, 0) > sender.daily_limit:
        raise ApiError(
            429, "TooManyRequestsError", f"Exceeded send limits ({sender.daily_limit}) for today"
        )


def _create(caller: Caller, **fields: Any) -> Notification:
    """Count the request against the limits and write the notification, in one commit."""
    try:
        with transaction.atomic():
            _limits_check(caller)
            key_used(caller.key)
            return delivery.notification_create(
                sender=caller.sender,
                key_type=caller.key_type,
                api_key=caller.key,
                count_daily=False,
                **fields,
            )
    except (templating.PersonalisationError, templating.TemplateError) as error:
        raise bad_request(str(error)) from None
    except delivery.RecipientInvalid as error:
        raise ApiError(400, "ValidationError", f"{error.field} {error.message}") from None


def _template_link(request: HttpRequest, notification: Notification) -> dict[str, Any]:
    if notification.template_id is None:
        return {"id": None, "version": None, "uri": None}
    return {
        "id": str(notification.template_id),
        "version": notification.template_version,
        "uri": _absolute(
            request,
            f"/v2/template/{notification.template_id}/version/{notification.template_version}",
        ),
    }


def _from_email() -> str:
    return parseaddr(settings.DEFAULT_FROM_EMAIL)[1]


def _message_send(request: HttpRequest, caller: Caller, kind: str) -> HttpResponse:
    data = _json_body(request, limit=MAX_MESSAGE_REQUEST_BYTES)
    if kind == Kind.EMAIL:
        field, reply_field, normalise = "email_address", "email_reply_to_id", email_normalise
        extra: tuple[str, ...] = ("one_click_unsubscribe_url", "sanitise_content_for")
    else:
        field, reply_field, normalise = "phone_number", "sms_sender_id", phone_normalise
        extra = ()
    fields = _Fields(
        data,
        allowed=(
            field,
            "template_id",
            "personalisation",
            "reference",
            "scheduled_for",
            reply_field,
            *extra,
        ),
        required=(field, "template_id"),
    )
    template_id = fields.uuid("template_id")
    recipient = fields.recipient(field, normalise)
    personalisation = fields.mapping("personalisation")
    reference = fields.text("reference", max_length=MAX_REFERENCE_LENGTH)
    reply_id = fields.uuid(reply_field)
    unsubscribe = fields.https_url("one_click_unsubscribe_url") if kind == Kind.EMAIL else ""
    if kind == Kind.EMAIL:
        fields.text("sanitise_content_for", max_length=100)
    fields.check()
    if data.get("scheduled_for") is not None:
        raise bad_request("Cannot schedule notifications (this feature is invite-only)")
    if reply_id is not None:
        raise bad_request(
            f"{reply_field} {reply_id} does not exist in database for service id {caller.sender.pk}"
        )
    template = _template_for_send(caller, template_id, kind)
    _team_check(caller, kind, recipient)
    notification = _create(
        caller,
        kind=kind,
        recipient=recipient,
        template=template,
        personalisation=personalisation,
        reference=reference,
    )
    content: dict[str, Any] = {"body": notification.body}
    if kind == Kind.EMAIL:
        content.update(
            subject=notification.subject,
            from_email=_from_email(),
            one_click_unsubscribe_url=unsubscribe or None,
        )
    else:
        content["from_number"] = caller.sender.sms_sender or str(
            getattr(settings, "NOTIFY_SMS_SENDER", "") or "Civicstack"
        )
    return JsonResponse(
        {
            "id": str(notification.pk),
            "reference": notification.reference or None,
            "content": content,
            "uri": _absolute(request, f"/v2/notifications/{notification.pk}"),
            "template": _template_link(request, notification),
            "scheduled_for": None,
        },
        status=201,
    )


@api_view("POST")
def email_send(request: HttpRequest, caller: Caller) -> HttpResponse:
    """POST /v2/notifications/email: send an email from a template."""
    return _message_send(request, caller, Kind.EMAIL)


@api_view("POST")
def sms_send(request: HttpRequest, caller: Caller) -> HttpResponse:
    """POST /v2/notifications/sms: send a text message from a template."""
    return _message_send(request, caller, Kind.SMS)


def _pdf_pages(content: bytes) -> int:
    """Return the page count of a PDF; raise a 400 if it is not one we can print."""
    from pypdf import PdfReader

    if not content.startswith(b"%PDF-"):
        raise bad_request("Letter content is not a valid PDF")
    try:
        reader = PdfReader(io.BytesIO(content), strict=False)
        if reader.is_encrypted:
            raise bad_request("Letter content is password protected")
        pages = len(reader.pages)
    except ApiError:
        raise
    except Exception:  # pypdf raises many kinds of error on broken files
        raise bad_request("Letter content is not a valid PDF") from None
    if pages < 1:
        raise bad_request("Letter content is not a valid PDF")
    return pages


def _precompiled_send(request: HttpRequest, caller: Caller, data: dict[str, Any]) -> HttpResponse:
    fields = _Fields(
        data, allowed=("reference", "content", "postage"), required=("reference", "content")
    )
    reference = fields.text("reference", max_length=MAX_REFERENCE_LENGTH)
    encoded = data.get("content")
    if "content" in data and not isinstance(encoded, str):
        fields.errors.append(f"content {_shown(encoded)} is not of type string")
    postage = data.get("postage", "second")
    if postage not in POSTAGES:
        fields.errors.append(
            "postage invalid. It must be first, second, economy, europe or rest-of-world."
        )
    fields.check()
    try:
        content = base64.b64decode(str(encoded), validate=True)
    except (binascii.Error, ValueError):
        raise bad_request("Cannot decode letter content (invalid base64 encoding)") from None
    if len(content) > MAX_PDF_BYTES:
        raise bad_request("Letter content is too large: the limit is 5 MB")
    pages = _pdf_pages(content)
    if pages > MAX_PDF_PAGES:
        raise bad_request(
            f"Letters must be {MAX_PDF_PAGES} pages or less (this letter is {pages} pages)"
        )
    notification = _create(
        caller,
        kind=Kind.LETTER,
        address=list(PRECOMPILED_ADDRESS),
        postage=str(postage),
        reference=reference,
        pdf=content,
    )
    return JsonResponse(
        {
            "id": str(notification.pk),
            "reference": notification.reference,
            "postage": notification.postage,
        },
        status=201,
    )


def _address(personalisation: dict[str, Any]) -> list[str]:
    values = {templating.key(str(name)): value for name, value in personalisation.items()}
    lines = []
    for name in [f"addressline{n}" for n in range(1, 8)] + ["postcode"]:
        value = values.get(name)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
            lines.append(" ".join(str(value).split())[:255])
    if len(lines) < 3:
        raise bad_request("Address must be at least 3 lines")
    if len(lines) > 7:
        raise bad_request("Address must be no more than 7 lines")
    return lines


def _template_letter_send(
    request: HttpRequest, caller: Caller, data: dict[str, Any]
) -> HttpResponse:
    fields = _Fields(
        data,
        allowed=("template_id", "personalisation", "reference", "scheduled_for"),
        required=("template_id", "personalisation"),
    )
    template_id = fields.uuid("template_id")
    personalisation = fields.mapping("personalisation")
    reference = fields.text("reference", max_length=MAX_REFERENCE_LENGTH)
    fields.check()
    if data.get("scheduled_for") is not None:
        raise bad_request("Cannot schedule notifications (this feature is invite-only)")
    template = _template_for_send(caller, template_id, Kind.LETTER)
    address = _address(personalisation)
    notification = _create(
        caller,
        kind=Kind.LETTER,
        template=template,
        personalisation=personalisation,
        address=address,
        postage="second",
        reference=reference,
    )
    return JsonResponse(
        {
            "id": str(notification.pk),
            "reference": notification.reference or None,
            "content": {"body": notification.body, "subject": notification.subject},
            "uri": _absolute(request, f"/v2/notifications/{notification.pk}"),
            "template": _template_link(request, notification),
            "scheduled_for": None,
        },
        status=201,
    )


@api_view("POST")
def letter_send(request: HttpRequest, caller: Caller) -> HttpResponse:
    """POST /v2/notifications/letter: a precompiled PDF, or a letter template."""
    data = _json_body(request, limit=MAX_LETTER_REQUEST_BYTES)
    if caller.key_type == KeyType.TEAM:
        raise ApiError(403, "BadRequestError", "Cannot send letters with a team api key")
    if "content" in data:
        return _precompiled_send(request, caller, data)
    return _template_letter_send(request, caller, data)


# --- Reading notifications -----------------------------------------------------------------


def _reported_status(notification: Notification) -> str:
    status = notification.status
    if notification.kind == Kind.LETTER:
        if status in (Status.CREATED, Status.SENDING):
            return str(Status.ACCEPTED)
        if status == Status.DELIVERED:
            return str(Status.RECEIVED)
    return str(status)


def _cost_details(notification: Notification) -> dict[str, Any]:
    if notification.kind == Kind.SMS:
        return {
            "billable_sms_fragments": templating.sms_length(notification.body).fragments,
            "international_rate_multiplier": 1.0,
            "sms_rate": 0.0,
        }
    if notification.kind == Kind.LETTER:
        return {"billable_sheets_of_paper": None, "postage": notification.postage or None}
    return {}


def notification_json(request: HttpRequest, notification: Notification) -> dict[str, Any]:
    """Return a notification with Notify's field names."""
    kind = notification.kind
    address = list(notification.address or [])
    if kind != Kind.LETTER or address == PRECOMPILED_ADDRESS:
        address = []
    lines: dict[str, str | None] = {
        f"line_{n}": (address[n - 1] if n <= len(address) else None) for n in range(1, 8)
    }
    postcode = None
    if kind == Kind.LETTER and isinstance(notification.personalisation, dict):
        values = {templating.key(str(k)): v for k, v in notification.personalisation.items()}
        if isinstance(values.get("postcode"), str):
            postcode = values["postcode"]
    final = notification.status in (
        Status.DELIVERED,
        Status.RECEIVED,
        *FAILED_STATUSES,
        Status.CANCELLED,
    )
    return {
        "id": str(notification.pk),
        "reference": notification.reference or None,
        "email_address": notification.recipient if kind == Kind.EMAIL else None,
        "phone_number": notification.recipient if kind == Kind.SMS else None,
        **lines,
        "postcode": postcode,
        "type": kind,
        "status": _reported_status(notification),
        "template": _template_link(request, notification),
        "body": notification.body,
        "subject": notification.subject if kind in (Kind.EMAIL, Kind.LETTER) else None,
        "created_at": _time(notification.created_at),
        "created_by_name": None,
        "sent_at": _time(notification.sent_at),
        "completed_at": _time(notification.completed_at) if final else None,
        "scheduled_for": None,
        "postage": (notification.postage or None) if kind == Kind.LETTER else None,
        "one_click_unsubscribe_url": None,
        "is_cost_data_ready": True,
        "cost_in_pounds": 0.0,
        "cost_details": _cost_details(notification),
    }


def _uuid_or_400(value: str, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ApiError(400, "ValidationError", f"{name} is not a valid UUID") from None


@api_view("GET")
def notification_detail(request: HttpRequest, caller: Caller, notification_id: str) -> HttpResponse:
    """GET /v2/notifications/<id>: one of the caller's notifications."""
    pk = _uuid_or_400(notification_id, "notification_id")
    notification = Notification.objects.filter(pk=pk, sender=caller.sender).first()
    if notification is None:
        raise not_found_error()
    return JsonResponse(notification_json(request, notification))


@api_view("GET")
def notification_pdf(request: HttpRequest, caller: Caller, notification_id: str) -> HttpResponse:
    """GET /v2/notifications/<id>/pdf: the PDF of a precompiled letter."""
    pk = _uuid_or_400(notification_id, "notification_id")
    kind = (
        Notification.objects.filter(pk=pk, sender=caller.sender)
        .values_list("kind", flat=True)
        .first()
    )
    if kind is None:
        raise not_found_error()
    if kind != Kind.LETTER:
        raise bad_request("Notification is not a letter")
    content = LetterPdf.objects.filter(notification_id=pk).values_list("content", flat=True).first()
    if content is None:
        raise ApiError(400, "PDFNotReadyError", "PDF not available yet, try again later")
    response = HttpResponse(bytes(content), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{pk}.pdf"'
    return response


def _status_filter(statuses: list[str]) -> Q:
    raw: set[str] = set()
    query = Q()
    for status in statuses:
        if status == "failed":
            raw.update(FAILED_STATUSES)
        elif status == "accepted":
            query |= Q(
                kind=Kind.LETTER, status__in=(Status.CREATED, Status.SENDING, Status.ACCEPTED)
            )
        elif status == "received":
            query |= Q(kind=Kind.LETTER, status__in=(Status.RECEIVED, Status.DELIVERED))
        else:
            raw.add(status)
    if raw:
        query |= Q(status__in=sorted(raw))
    return query


@api_view("GET")
def notifications_list(request: HttpRequest, caller: Caller) -> HttpResponse:
    """GET /v2/notifications: the caller's notifications, newest first, 250 a page.

    As in Notify, a key sees the notifications sent with keys of its own type.
    """
    params = request.GET
    allowed = ("template_type", "status", "reference", "older_than", "include_jobs")
    errors = [
        f"Additional properties are not allowed ({str(name)[:50]} was unexpected)"
        for name in params
        if name not in allowed
    ]
    types = params.getlist("template_type")
    statuses = params.getlist("status")
    errors += [
        f"template_type {_shown(value)} is not one of [sms, email, letter]"
        for value in types
        if value not in API_KINDS
    ]
    errors += [
        f"status {_shown(value)} is not one of [{', '.join(LIST_STATUSES)}]"
        for value in statuses
        if value not in LIST_STATUSES
    ]
    reference = params.get("reference")
    if reference is not None and len(reference) > MAX_REFERENCE_LENGTH:
        errors.append(f"reference is too long (at most {MAX_REFERENCE_LENGTH} characters)")
    older_than = params.get("older_than")
    older_than_id = None
    if older_than is not None:
        try:
            older_than_id = uuid.UUID(older_than)
        except ValueError:
            errors.append("older_than is not a valid UUID")
    include_jobs = params.get("include_jobs")
    if include_jobs is not None and include_jobs not in ("true", "True"):
        errors.append(f"include_jobs {_shown(include_jobs)} is not one of [true, True]")
    if errors:
        raise ApiError(400, "ValidationError", *errors)

    notifications = Notification.objects.filter(sender=caller.sender, key_type=caller.key_type)
    if types:
        notifications = notifications.filter(kind__in=types)
    if statuses:
        notifications = notifications.filter(_status_filter(statuses))
    if reference is not None:
        notifications = notifications.filter(reference=reference)
    if older_than_id is not None:
        pivot = (
            Notification.objects.filter(pk=older_than_id, sender=caller.sender)
            .values_list("created_at", flat=True)
            .first()
        )
        if pivot is None:
            notifications = notifications.none()
        else:
            notifications = notifications.filter(
                Q(created_at__lt=pivot) | Q(created_at=pivot, id__lt=older_than_id)
            )
    page = list(notifications.order_by("-created_at", "-id")[:PAGE_SIZE])

    query: list[tuple[str, str]] = [("template_type", t) for t in types]
    query += [("status", s) for s in statuses]
    if reference is not None:
        query.append(("reference", reference))
    if include_jobs is not None:
        query.append(("include_jobs", include_jobs))
    base = _absolute(request, "/v2/notifications")
    current = query + ([("older_than", str(older_than_id))] if older_than_id else [])
    links = {"current": f"{base}?{urlencode(current)}" if current else base}
    if page:
        links["next"] = f"{base}?{urlencode([*query, ('older_than', str(page[-1].pk))])}"
    return JsonResponse(
        {"notifications": [notification_json(request, n) for n in page], "links": links}
    )


# --- Templates -----------------------------------------------------------------------------


def template_json(version: TemplateVersion) -> dict[str, Any]:
    """Return a template at one of its versions with Notify's field names."""
    template = version.template
    subject, body = version.subject_en, version.body_en
    try:
        names = templating.template_check(subject=subject, body=body)
    except templating.TemplateError:
        names = []
    creator = version.created_by or template.created_by
    return {
        "id": str(template.pk),
        "name": template.name,
        "type": template.kind,
        "created_at": _time(template.created_at),
        "updated_at": _time(version.created_at),
        "created_by": getattr(creator, "email", None),
        "version": version.version,
        "body": body,
        "subject": subject if template.kind in (Kind.EMAIL, Kind.LETTER) else None,
        "personalisation": {name: {"required": True} for name in names},
        "postage": "second" if template.kind == Kind.LETTER else None,
        "letter_contact_block": None,
    }


def _versions(caller: Caller) -> Any:
    return TemplateVersion.objects.filter(
        template__sender=caller.sender, template__kind__in=API_KINDS
    ).select_related("template", "template__created_by", "created_by")


@api_view("GET")
def template_detail(request: HttpRequest, caller: Caller, template_id: str) -> HttpResponse:
    """GET /v2/template/<id>: the current version of one of the caller's templates."""
    pk = _uuid_or_400(template_id, "template_id")
    version = _versions(caller).filter(template_id=pk, version=F("template__version")).first()
    if version is None:
        raise not_found_error()
    return JsonResponse(template_json(version))


@api_view("GET")
def template_version_detail(
    request: HttpRequest, caller: Caller, template_id: str, version: str
) -> HttpResponse:
    """GET /v2/template/<id>/version/<n>: one saved version of a template."""
    pk = _uuid_or_400(template_id, "template_id")
    if not version.isdigit() or len(version) > 9:
        raise not_found_error()
    found = _versions(caller).filter(template_id=pk, version=int(version)).first()
    if found is None:
        raise not_found_error()
    return JsonResponse(template_json(found))


@api_view("GET")
def templates_list(request: HttpRequest, caller: Caller) -> HttpResponse:
    """GET /v2/templates: the caller's templates in use, of one type if ``type`` is given."""
    unexpected = [name for name in request.GET if name != "type"]
    if unexpected:
        raise ApiError(
            400,
            "ValidationError",
            f"Additional properties are not allowed ({str(unexpected[0])[:50]} was unexpected)",
        )
    kind = request.GET.get("type")
    versions = _versions(caller).filter(template__archived=False, version=F("template__version"))
    if kind is not None:
        if kind not in API_KINDS:
            raise ApiError(
                400, "ValidationError", f"type {_shown(kind)} is not one of [sms, email, letter]"
            )
        versions = versions.filter(template__kind=kind)
    ordered = versions.order_by("template__name", "template__created_at")
    return JsonResponse({"templates": [template_json(version) for version in ordered]})


@api_view("POST")
def template_preview(request: HttpRequest, caller: Caller, template_id: str) -> HttpResponse:
    """POST /v2/template/<id>/preview: the template filled with the given personalisation."""
    pk = _uuid_or_400(template_id, "template_id")
    data = _json_body(request, limit=MAX_MESSAGE_REQUEST_BYTES)
    fields = _Fields(data, allowed=("personalisation",), required=())
    personalisation = fields.mapping("personalisation")
    fields.check()
    version = _versions(caller).filter(template_id=pk, version=F("template__version")).first()
    if version is None:
        raise not_found_error()
    kind = version.template.kind
    try:
        rendered = templating.render(
            subject=version.subject_en,
            body=version.body_en,
            personalisation=personalisation,
            kind=kind,
        )
    except (templating.PersonalisationError, templating.TemplateError) as error:
        raise bad_request(str(error)) from None
    return JsonResponse(
        {
            "id": str(pk),
            "type": kind,
            "version": version.version,
            "body": rendered.text,
            "subject": rendered.subject if kind in (Kind.EMAIL, Kind.LETTER) else None,
            "html": rendered.html if kind == Kind.EMAIL else None,
            "postage": "second" if kind == Kind.LETTER else None,
        }
    )
