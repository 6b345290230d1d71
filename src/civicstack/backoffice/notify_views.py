"""Back-office pages for notifications: templates, the message log, API keys and limits.

A *sender* (what GOV.UK Notify calls a service) belongs to an agency; its service owners
and agency admins manage it here, platform admins manage every sender and the platform's
own templates. Anyone else is told nothing exists (404), so senders of other agencies
cannot be discovered by their ids.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_safe

from civicstack.accounts import selectors as accounts
from civicstack.accounts.constants import Role
from civicstack.backoffice.access import staff_required
from civicstack.core.errors import ValidationFailed
from civicstack.notify import selectors as notify
from civicstack.notify import services as notify_services
from civicstack.notify.constants import FAILED_STATUSES, KeyType, Kind, Status

MANAGER_ROLES = frozenset({Role.SERVICE_OWNER, Role.AGENCY_ADMIN})
LOG_PAGE_SIZE = 50
RECENT_COUNT = 10
MAX_SAMPLE_CHARS = 2_000
MAX_TEXT_CHARS = 20_000
FAILURE_WINDOW = timedelta(days=7)

KEY_TYPE_HINTS = {
    KeyType.NORMAL: gettext_lazy("Sends real messages to anyone. Use it in your live system only."),
    KeyType.TEAM: gettext_lazy(
        "Sends real messages, but only to members of your team and people on your guest list. "
        "Use it while you build and test your integration."
    ),
    KeyType.TEST: gettext_lazy(
        "Sends nothing: messages are recorded as delivered straight away and do not count "
        "towards your daily limit. Use it for automated tests."
    ),
}

# --- Who may manage which sender ------------------------------------------------------------


def _managed_agency_ids(user: Any) -> list[Any]:
    """Return the ids of the agencies whose senders ``user`` may manage."""
    if accounts.user_is_platform_admin(user=user):
        return list(accounts.agency_list().values_list("pk", flat=True))
    return [
        agency_id
        for agency_id, roles in accounts.staff_roles_by_agency(user=user).items()
        if roles & MANAGER_ROLES
    ]


def _sender_or_404(request: HttpRequest, sender_id: uuid.UUID) -> Any:
    sender = (
        notify.senders_of_agencies(agency_ids=_managed_agency_ids(request.user))
        .filter(pk=sender_id)
        .select_related("agency")
        .first()
    )
    if sender is None:
        raise Http404
    return sender


def _scope(request: HttpRequest, sender_id: uuid.UUID | None) -> Any:
    """Return the sender named in the URL, or None for the platform's own templates."""
    if sender_id is None:
        if not accounts.user_is_platform_admin(user=request.user):
            raise Http404
        return None
    return _sender_or_404(request, sender_id)


def _scope_url(name: str, sender: Any, *args: Any) -> str:
    if sender is None:
        return reverse(f"backoffice:notify-platform-{name}", args=args)
    return reverse(f"backoffice:notify-{name}", args=[sender.pk, *args])


def _template_or_404(
    request: HttpRequest, sender_id: uuid.UUID | None, template_id: uuid.UUID
) -> tuple[Any, Any]:
    sender = _scope(request, sender_id)
    template = (
        notify.templates_of_sender(sender=sender, include_archived=True)
        .filter(pk=template_id)
        .first()
    )
    if template is None:
        raise Http404
    return sender, template


def _error_list(errors: dict[str, list[Any]]) -> list[dict[str, Any]]:
    return [
        {"field": name, "message": message}
        for name, field_messages in errors.items()
        for message in field_messages
    ]


def _scope_context(sender: Any) -> dict[str, Any]:
    return {
        "sender": sender,
        "scope_name": sender.name if sender is not None else _("Platform messages"),
        "scope_url": _scope_url("overview", sender),
    }


# --- Lists and overview -----------------------------------------------------------------------


@require_safe
@staff_required
def notify_index(request: HttpRequest) -> HttpResponse:
    """List the senders the member of staff manages (and the platform's, for its admins)."""
    senders = notify.senders_of_agencies(
        agency_ids=_managed_agency_ids(request.user)
    ).select_related("agency", "service")
    return render(
        request,
        "backoffice/notify/index.html",
        {
            "senders": list(senders.order_by("name")[:500]),
            "is_platform_admin": accounts.user_is_platform_admin(user=request.user),
        },
    )


def _template_rows(sender: Any) -> list[dict[str, Any]]:
    rows = []
    for template in notify.templates_of_sender(sender=sender)[:500]:
        rows.append(
            {
                "template": template,
                "url": _scope_url("template", sender, template.pk),
            }
        )
    return rows


@require_safe
@staff_required
def sender_overview(request: HttpRequest, sender_id: uuid.UUID) -> HttpResponse:
    """Show a sender's templates, recent messages, failures this week, keys and limits."""
    sender = _sender_or_404(request, sender_id)
    since = timezone.now() - FAILURE_WINDOW
    failures = (
        notify.notifications_of_sender(sender=sender, failed_only=True)
        .filter(created_at__gte=since)
        .order_by()
        .values("status")
        .annotate(total=Count("id"))
    )
    failure_counts = [
        {"status": Status(row["status"]).label, "total": row["total"]}
        for row in sorted(failures, key=lambda row: str(row["status"]))
    ]
    sent_today = (
        notify.notifications_of_sender(sender=sender)
        .filter(created_at__gte=timezone.now() - timedelta(days=1))
        .exclude(key_type=KeyType.TEST)
        .count()
    )
    return render(
        request,
        "backoffice/notify/overview.html",
        {
            **_scope_context(sender),
            "templates": _template_rows(sender),
            "recent": list(
                notify.notifications_of_sender(sender=sender).select_related("template")[
                    :RECENT_COUNT
                ]
            ),
            "failure_counts": failure_counts,
            "failure_total": sum(row["total"] for row in failure_counts),
            "keys": list(notify.api_keys_of_sender(sender=sender).filter(revoked_at__isnull=True)),
            "sent_today": sent_today,
        },
    )


@require_safe
@staff_required
def platform_overview(request: HttpRequest) -> HttpResponse:
    """List the platform's own templates (platform admins only)."""
    sender = _scope(request, None)
    return render(
        request,
        "backoffice/notify/platform.html",
        {**_scope_context(sender), "templates": _template_rows(sender)},
    )


# --- Templates -------------------------------------------------------------------------------


def _text(request: HttpRequest, name: str, limit: int = MAX_TEXT_CHARS) -> str:
    # Browsers send CRLF; templates are stored with plain newlines.
    return request.POST.get(name, "")[:limit].replace("\r\n", "\n")


def _wording_from_post(request: HttpRequest) -> dict[str, str]:
    return {
        "name": _text(request, "name", 200),
        "subject_en": _text(request, "subject_en", 400),
        "body_en": _text(request, "body_en"),
        "subject_cy": _text(request, "subject_cy", 400),
        "body_cy": _text(request, "body_cy"),
    }


def _samples(data: Any, names: list[str]) -> dict[str, str]:
    """Return the sample values typed for ``names`` (blank ones left out)."""
    values = {}
    for name in names:
        value = str(data.get(f"sample:{name}", ""))[:MAX_SAMPLE_CHARS].strip()
        if value:
            values[name] = value
    return values


def _previews(
    kind: str, wording: dict[str, str], data: Any, languages: tuple[str, ...] = ("en", "cy")
) -> dict[str, Any]:
    """Return the sample-value inputs and the rendered preview in each language given."""
    names: list[str] = []
    for language in languages:
        for name in notify.template_placeholders(
            subject=wording.get(f"subject_{language}", ""),
            body=wording.get(f"body_{language}", ""),
        ):
            if name not in names:
                names.append(name)
    samples = _samples(data, names)
    results = []
    for language, language_name in (("en", _("English")), ("cy", _("Welsh"))):
        body = wording.get(f"body_{language}", "")
        if language not in languages or not body.strip():
            continue
        preview = notify.template_preview(
            kind=kind,
            subject=wording.get(f"subject_{language}", ""),
            body=body,
            personalisation=samples,
        )
        results.append({"language": language, "language_name": language_name, **preview})
    return {
        "sample_fields": [
            {"name": name, "id": f"sample-{index}", "value": samples.get(name, "")}
            for index, name in enumerate(names, start=1)
        ],
        "previews": results,
        "kind": kind,
        "is_sms": kind == Kind.SMS,
        "is_formatted": kind in (Kind.EMAIL, Kind.LETTER),
    }


def _platform_keys(kind: str = "") -> list[dict[str, str]]:
    keyed = notify.templates_of_sender(sender=None).exclude(key="")
    if kind:
        keyed = keyed.filter(kind=kind)
    return [{"key": t.key, "name": t.name, "kind": t.kind} for t in keyed]


def _editor(
    request: HttpRequest,
    *,
    sender: Any,
    template: Any,
    wording: dict[str, str],
    kind: str,
    key: str = "",
    expected_version: int | None = None,
    errors: dict[str, list[Any]] | None = None,
    preview: dict[str, Any] | None = None,
) -> HttpResponse:
    errors = errors or {}
    return render(
        request,
        "backoffice/notify/template_edit.html",
        {
            **_scope_context(sender),
            "template": template,
            "wording": wording,
            "kind": kind,
            "kinds": Kind.choices,
            "key": key,
            "platform_keys": _platform_keys() if sender is not None and template is None else [],
            "expected_version": expected_version,
            "errors": errors,
            "error_list": _error_list(errors),
            "preview": preview,
            "cancel_url": _scope_url("template", sender, template.pk)
            if template is not None
            else _scope_url("overview", sender),
        },
        status=400 if errors else 200,
    )


def _key_errors(sender: Any, kind: str, key: str) -> dict[str, list[Any]]:
    """Check the platform message a new template replaces, so a clash is a message, not a 500."""
    if not key:
        return {}
    if key not in {row["key"] for row in _platform_keys(kind)}:
        return {"key": [_("Choose a platform message of the same type as this template")]}
    if notify.templates_of_sender(sender=sender, include_archived=True).filter(key=key).exists():
        return {
            "key": [
                _("This service already has a template for that message. Edit that one instead.")
            ]
        }
    return {}


@require_http_methods(["GET", "POST"])
@staff_required
def template_new(request: HttpRequest, sender_id: uuid.UUID | None = None) -> HttpResponse:
    """Create a template; "Preview" shows it with sample values and saves nothing."""
    sender = _scope(request, sender_id)
    if request.method != "POST":
        empty = {"name": "", "subject_en": "", "body_en": "", "subject_cy": "", "body_cy": ""}
        return _editor(request, sender=sender, template=None, wording=empty, kind="")
    wording = _wording_from_post(request)
    kind = request.POST.get("kind", "")[:20]
    key = request.POST.get("key", "")[:100] if sender is not None else ""
    if request.POST.get("action") == "preview":
        errors: dict[str, list[Any]] = {}
        if kind not in Kind.values:
            errors["kind"] = [_("Choose the type of message to preview it")]
            preview = None
        else:
            preview = _previews(kind, wording, request.POST)
        return _editor(
            request,
            sender=sender,
            template=None,
            wording=wording,
            kind=kind,
            key=key,
            errors=errors,
            preview=preview,
        )
    errors = _key_errors(sender, kind, key)
    if not errors:
        try:
            template = notify_services.template_create(
                actor=request.user, sender=sender, kind=kind, key=key, **wording
            )
        except ValidationFailed as error:
            errors = error.field_errors
        except IntegrityError:
            errors = {"key": [_("This service already has a template for that message.")]}
        else:
            messages.success(request, _("Template saved as version 1."))
            return HttpResponseRedirect(_scope_url("template", sender, template.pk))
    return _editor(
        request, sender=sender, template=None, wording=wording, kind=kind, key=key, errors=errors
    )


def _version_wording(version: Any) -> dict[str, str]:
    return {
        "subject_en": version.subject_en,
        "body_en": version.body_en,
        "subject_cy": version.subject_cy,
        "body_cy": version.body_cy,
    }


def _template_page(
    request: HttpRequest, sender: Any, template: Any, version: Any, *, current: bool
) -> HttpResponse:
    wording = _version_wording(version)
    language = request.GET.get("language", "en")
    if language not in ("en", "cy") or not wording["body_cy"].strip():
        language = "en"
    return render(
        request,
        "backoffice/notify/template.html",
        {
            **_scope_context(sender),
            "template": template,
            "version": version,
            "current": current,
            "wording": wording,
            "versions": list(template.versions.select_related("created_by")[:200])
            if current
            else [],
            "language": language,
            "has_welsh": bool(wording["body_cy"].strip()),
            "preview": _previews(template.kind, wording, request.GET, (language,)),
            "page_url": request.path,
        },
    )


@require_safe
@staff_required
def template_detail(
    request: HttpRequest, template_id: uuid.UUID, sender_id: uuid.UUID | None = None
) -> HttpResponse:
    """Show a template's current wording, its history and a preview with sample values."""
    sender, template = _template_or_404(request, sender_id, template_id)
    version = template.versions.filter(version=template.version).first()
    if version is None:
        raise Http404
    return _template_page(request, sender, template, version, current=True)


@require_safe
@staff_required
def template_version(
    request: HttpRequest,
    template_id: uuid.UUID,
    number: int,
    sender_id: uuid.UUID | None = None,
) -> HttpResponse:
    """Show one saved version of a template, as messages sent with it were worded."""
    sender, template = _template_or_404(request, sender_id, template_id)
    version = template.versions.filter(version=number).first()
    if version is None:
        raise Http404
    return _template_page(
        request, sender, template, version, current=version.version == template.version
    )


@require_http_methods(["GET", "POST"])
@staff_required
def template_edit(
    request: HttpRequest, template_id: uuid.UUID, sender_id: uuid.UUID | None = None
) -> HttpResponse:
    """Save a new version of a template; refuse it if someone saved one in the meantime."""
    sender, template = _template_or_404(request, sender_id, template_id)
    detail_url = _scope_url("template", sender, template.pk)
    if template.archived:
        messages.error(request, _("This template is archived and cannot be changed."))
        return HttpResponseRedirect(detail_url)
    if request.method != "POST":
        version = template.versions.filter(version=template.version).first()
        if version is None:
            raise Http404
        current = {"name": template.name, **_version_wording(version)}
        return _editor(
            request,
            sender=sender,
            template=template,
            wording=current,
            kind=template.kind,
            expected_version=template.version,
            preview=_previews(template.kind, current, {}),
        )
    wording = _wording_from_post(request)
    raw_version = request.POST.get("expected_version", "")
    expected = int(raw_version) if raw_version.isascii() and raw_version.isdigit() else None
    if expected is None:
        # A form that lost its version cannot prove it saw the latest wording.
        expected = -1
    if request.POST.get("action") == "preview":
        return _editor(
            request,
            sender=sender,
            template=template,
            wording=wording,
            kind=template.kind,
            expected_version=expected,
            preview=_previews(template.kind, wording, request.POST),
        )
    try:
        saved = notify_services.template_update(
            actor=request.user, template=template, expected_version=expected, **wording
        )
    except ValidationFailed as error:
        return _editor(
            request,
            sender=sender,
            template=template,
            wording=wording,
            kind=template.kind,
            expected_version=expected,
            errors=error.field_errors,
        )
    if saved.version != template.version:
        messages.success(
            request,
            _("Template saved as version %(version)s.") % {"version": saved.version},
        )
    else:
        messages.success(request, _("Template saved. The wording did not change."))
    return HttpResponseRedirect(detail_url)


@require_http_methods(["GET", "POST"])
@staff_required
def template_archive(
    request: HttpRequest, template_id: uuid.UUID, sender_id: uuid.UUID | None = None
) -> HttpResponse:
    """Ask for confirmation, then stop the template being used for new messages."""
    sender, template = _template_or_404(request, sender_id, template_id)
    if request.method == "POST" and not template.archived:
        notify_services.template_archive(actor=request.user, template=template)
        messages.success(
            request,
            _("%(name)s is archived. Messages already sent keep their record.")
            % {"name": template.name},
        )
        return HttpResponseRedirect(_scope_url("overview", sender))
    if template.archived:
        return HttpResponseRedirect(_scope_url("template", sender, template.pk))
    return render(
        request,
        "backoffice/notify/template_archive.html",
        {**_scope_context(sender), "template": template},
    )


# --- Notification log --------------------------------------------------------------------------


def _masked(recipient: str) -> str:
    """Return enough of an address or number to recognise it, not enough to read it out."""
    if not recipient:
        return ""
    if "@" in recipient:
        local, _at, domain = recipient.rpartition("@")
        return f"{local[:1]}***@{domain}"
    return f"{'*' * max(len(recipient) - 3, 3)}{recipient[-3:]}"


@require_safe
@staff_required
def notification_log(request: HttpRequest, sender_id: uuid.UUID) -> HttpResponse:
    """List a sender's messages newest first, 50 to a page, filtered by status and type."""
    sender = _sender_or_404(request, sender_id)
    status = request.GET.get("status", "all")
    if status not in ("all", "failed"):
        status = "all"
    kind = request.GET.get("kind", "")
    if kind not in Kind.values:
        kind = ""
    rows = notify.notifications_of_sender(sender=sender, failed_only=status == "failed")
    if kind:
        rows = rows.filter(kind=kind)
    after = request.GET.get("after", "")
    try:
        after_id = uuid.UUID(after) if after else None
    except ValueError:
        after_id = None
    if after_id is not None:
        mark = rows.filter(pk=after_id).values_list("created_at", flat=True).first()
        if mark is not None:
            rows = rows.filter(Q(created_at__lt=mark) | Q(created_at=mark, id__lt=after_id))
    page = list(rows.select_related("template")[: LOG_PAGE_SIZE + 1])
    has_next = len(page) > LOG_PAGE_SIZE
    page = page[:LOG_PAGE_SIZE]
    return render(
        request,
        "backoffice/notify/log.html",
        {
            **_scope_context(sender),
            "rows": [{"notification": n, "recipient": _masked(n.recipient)} for n in page],
            "status": status,
            "kind": kind,
            "kinds": Kind.choices,
            "next_after": str(page[-1].pk) if has_next and page else "",
            "is_later_page": after_id is not None,
            "failed_statuses": [str(s) for s in FAILED_STATUSES],
        },
    )


@require_safe
@staff_required
def notification_detail(
    request: HttpRequest, sender_id: uuid.UUID, notification_id: uuid.UUID
) -> HttpResponse:
    """Show one message: who it went to, what it said, and why it failed if it did."""
    sender = _sender_or_404(request, sender_id)
    notification = (
        notify.notifications_of_sender(sender=sender)
        .filter(pk=notification_id)
        .select_related("template", "api_key")
        .first()
    )
    if notification is None:
        raise Http404
    template_url = ""
    if notification.template is not None and notification.template_version:
        if notification.template.sender_id == sender.pk:
            template_url = reverse(
                "backoffice:notify-template-version",
                args=[sender.pk, notification.template_id, notification.template_version],
            )
        elif accounts.user_is_platform_admin(user=request.user):
            template_url = reverse(
                "backoffice:notify-platform-template-version",
                args=[notification.template_id, notification.template_version],
            )
    return render(
        request,
        "backoffice/notify/notification.html",
        {
            **_scope_context(sender),
            "notification": notification,
            "failed": notification.status in FAILED_STATUSES,
            "template_url": template_url,
        },
    )


# --- API keys ----------------------------------------------------------------------------------


def _key_types() -> list[dict[str, Any]]:
    return [
        {"value": value, "label": label, "hint": KEY_TYPE_HINTS[KeyType(value)]}
        for value, label in KeyType.choices
    ]


@require_safe
@staff_required
def api_keys(request: HttpRequest, sender_id: uuid.UUID) -> HttpResponse:
    """List a sender's API keys, live and revoked."""
    sender = _sender_or_404(request, sender_id)
    return render(
        request,
        "backoffice/notify/api_keys.html",
        {**_scope_context(sender), "keys": list(notify.api_keys_of_sender(sender=sender)[:200])},
    )


@never_cache
@require_http_methods(["GET", "POST"])
@staff_required
def api_key_new(request: HttpRequest, sender_id: uuid.UUID) -> HttpResponse:
    """Create an API key and show it once, on this response only; it is never shown again."""
    sender = _sender_or_404(request, sender_id)
    errors: dict[str, list[Any]] = {}
    values = {"name": "", "key_type": ""}
    if request.method == "POST":
        values = {
            "name": request.POST.get("name", "")[:100],
            "key_type": request.POST.get("key_type", "")[:20],
        }
        try:
            key, key_text = notify_services.api_key_create(
                actor=request.user, sender=sender, **values
            )
        except ValidationFailed as error:
            errors = error.field_errors
        else:
            # Rendered, not redirected: the key text must not sit in a URL, the session or
            # a cache, so this response is the one place it ever appears.
            return render(
                request,
                "backoffice/notify/api_key_created.html",
                {**_scope_context(sender), "key": key, "key_text": key_text},
            )
    return render(
        request,
        "backoffice/notify/api_key_new.html",
        {
            **_scope_context(sender),
            "values": values,
            "key_types": _key_types(),
            "errors": errors,
            "error_list": _error_list(errors),
        },
        status=400 if errors else 200,
    )


@require_http_methods(["GET", "POST"])
@staff_required
def api_key_revoke(request: HttpRequest, sender_id: uuid.UUID, key_id: uuid.UUID) -> HttpResponse:
    """Ask for confirmation, then revoke an API key at once."""
    sender = _sender_or_404(request, sender_id)
    key = notify.api_keys_of_sender(sender=sender).filter(pk=key_id).first()
    if key is None:
        raise Http404
    list_url = reverse("backoffice:notify-api-keys", args=[sender.pk])
    if key.revoked_at is not None:
        messages.info(request, _("That key is already revoked."))
        return HttpResponseRedirect(list_url)
    if request.method == "POST":
        notify_services.api_key_revoke(actor=request.user, key=key)
        messages.success(
            request,
            _("The key %(name)s is revoked. Systems using it can no longer send messages.")
            % {"name": key.name},
        )
        return HttpResponseRedirect(list_url)
    return render(
        request, "backoffice/notify/api_key_revoke.html", {**_scope_context(sender), "key": key}
    )


# --- Settings ----------------------------------------------------------------------------------


def _whole_number(raw: str, message: str, errors: dict[str, list[Any]], field: str) -> int:
    cleaned = raw.strip().replace(",", "")
    if cleaned.isascii() and cleaned.isdigit() and len(cleaned) <= 12:
        return int(cleaned)
    errors[field] = [message]
    return 0


@require_http_methods(["GET", "POST"])
@staff_required
def sender_settings(request: HttpRequest, sender_id: uuid.UUID) -> HttpResponse:
    """Change a sender's rate limit, daily limit, reply-to address and text message sender."""
    sender = _sender_or_404(request, sender_id)
    errors: dict[str, list[Any]] = {}
    if request.method == "POST":
        values = {
            "rate_limit_per_minute": request.POST.get("rate_limit_per_minute", "")[:20],
            "daily_limit": request.POST.get("daily_limit", "")[:20],
            "email_reply_to": request.POST.get("email_reply_to", "")[:254].strip(),
            "sms_sender": request.POST.get("sms_sender", "")[:20].strip(),
        }
        rate = _whole_number(
            values["rate_limit_per_minute"],
            _("Enter the rate limit as a whole number, like 3000"),
            errors,
            "rate_limit_per_minute",
        )
        daily = _whole_number(
            values["daily_limit"],
            _("Enter the daily limit as a whole number, like 250000"),
            errors,
            "daily_limit",
        )
        if values["email_reply_to"]:
            try:
                validate_email(values["email_reply_to"])
            except ValidationError:
                errors["email_reply_to"] = [
                    _("Enter an email address in the correct format, like name@example.org")
                ]
        if not errors:
            try:
                notify_services.sender_update(
                    actor=request.user,
                    sender=sender,
                    rate_limit_per_minute=rate,
                    daily_limit=daily,
                    email_reply_to=values["email_reply_to"],
                    sms_sender=values["sms_sender"],
                )
            except ValidationFailed as error:
                errors = error.field_errors
            else:
                messages.success(request, _("Settings saved."))
                return HttpResponseRedirect(reverse("backoffice:notify-overview", args=[sender.pk]))
    else:
        values = {
            "rate_limit_per_minute": str(sender.rate_limit_per_minute),
            "daily_limit": str(sender.daily_limit),
            "email_reply_to": sender.email_reply_to,
            "sms_sender": sender.sms_sender,
        }
    return render(
        request,
        "backoffice/notify/settings.html",
        {
            **_scope_context(sender),
            "values": values,
            "errors": errors,
            "error_list": _error_list(errors),
        },
        status=400 if errors else 200,
    )
