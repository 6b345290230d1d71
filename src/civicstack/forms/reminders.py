"""Reminders the forms app plans: a saved application about to be deleted."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from civicstack.core.audit import audit_event_record
from civicstack.core.mail import absolute_url, long_date
from civicstack.forms.models import Draft
from civicstack.notify.services import Planned, ReminderKind, notification_send, reminder_kinds

DRAFT_EXPIRY_KIND = "forms.draft_expiring"
# The reminder goes this many days before the draft is deleted, at 09:00 local time.
DAYS_BEFORE = 3


def _subject(draft_id: Any) -> str:
    return f"draft:{draft_id}"


def _draft(subject: str) -> Draft | None:
    kind, _, pk = subject.partition(":")
    if kind != "draft":
        return None
    try:
        return Draft.objects.select_related("service", "user").filter(pk=pk).first()
    except (ValueError, TypeError, ValidationError):
        return None


def _reachable() -> Q:
    # Only people with an account: a draft saved without one is resumed through a secret
    # link, which must not be copied into a message that the service's staff and API keys
    # can read. Those people were told the deletion date when the link was sent.
    return Q(user__isnull=False)


def plan(now: datetime, until: datetime) -> list[Planned]:
    """Return a reminder for each draft someone can be reached about that expires soon."""
    drafts = Draft.objects.filter(_reachable()).filter(
        expires_at__gt=now, expires_at__lte=until + timedelta(days=DAYS_BEFORE)
    )
    planned = []
    for pk, expires_at in drafts.values_list("pk", "expires_at").iterator():
        expiry_day = timezone.localdate(expires_at)
        planned.append(Planned(_subject(pk), expiry_day - timedelta(days=DAYS_BEFORE)))
    return planned


def relevant(subject: str) -> bool:
    """Return True while the draft still exists and is still due to be deleted soon."""
    draft = _draft(subject)
    if draft is None:
        return False
    return draft.expires_at <= timezone.now() + timedelta(days=DAYS_BEFORE + 1)


def send(subject: str, key: str) -> None:
    """Tell the person their saved application will be deleted, with a way back to it."""
    draft = _draft(subject)
    if draft is None:
        return
    service = draft.service
    if draft.user is None:
        return
    link: tuple[str, dict[str, Any]] = ("forms:draft", {"draft_id": draft.pk})
    expiry_day = timezone.localdate(draft.expires_at)
    with transaction.atomic():
        notification_send(
            message=DRAFT_EXPIRY_KIND,
            service=service,
            user=draft.user,
            email=draft.email,
            language=draft.language if draft.language in ("en", "cy") else "en",
            idempotency_key=key,
            personalisation={
                "service title": service.title_en,
                "expires on": long_date(expiry_day, "en"),
                "link": absolute_url(link[0], kwargs=link[1], language="en"),
            },
            personalisation_cy={
                "service title": service.title_cy or service.title_en,
                "expires on": long_date(expiry_day, "cy"),
                "link": absolute_url(link[0], kwargs=link[1], language="cy"),
            },
        )
        audit_event_record(action="forms.draft_expiry_reminded", actor=None, obj=draft)


def register() -> None:
    """Register the forms app's reminder kinds with the notifications app."""
    reminder_kinds.register(DRAFT_EXPIRY_KIND)(
        ReminderKind(plan=plan, relevant=relevant, send=send)
    )
