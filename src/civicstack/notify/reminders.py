"""Reminders planned from case and application data, at local times that survive DST.

Apps register a :class:`ReminderKind` in :data:`reminder_kinds` (through
``notify.services``). Each kind says which reminders should exist (``plan``), whether one
still matters (``relevant``) and what to send (``send``). A reminder is a local date and
a local wall-clock time in ``settings.TIME_ZONE``; its instant is worked out with the zone
rules for that date, so 09:00 stays 09:00 on both sides of a clock change. One row per
(kind, subject, local date) means planning twice never plans two reminders, and the
conditional update from ``scheduled`` to ``sent`` means running the job twice, or on
two machines, never sends two.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from civicstack.core.registry import Registry
from civicstack.notify.models import Reminder, ReminderStatus

logger = logging.getLogger(__name__)

REMINDER_TIME = time(9, 0)
HORIZON = timedelta(days=40)
LATE_LIMIT = timedelta(days=2)


@dataclass(frozen=True)
class Planned:
    """A reminder that should exist: about ``subject``, on ``local_date`` at ``local_time``."""

    subject: str
    local_date: date
    local_time: time = REMINDER_TIME


@dataclass(frozen=True)
class ReminderKind:
    """How to plan, check and send one kind of reminder.

    ``plan(now, until)`` returns the reminders due between now and ``until``;
    ``relevant(subject)`` says whether a reminder still matters; ``send(subject, key)``
    creates its notifications in the current transaction, using ``key`` as their
    idempotency key.
    """

    plan: Callable[[datetime, datetime], Iterable[Planned]]
    relevant: Callable[[str], bool]
    send: Callable[[str, str], None]


reminder_kinds: Registry[ReminderKind] = Registry("reminder kinds")


def local_instant(day: date, clock: time, zone_name: str | None = None) -> datetime:
    """Return the instant of wall-clock ``clock`` on ``day`` in the platform's time zone.

    In the autumn the hour that happens twice is taken the first time; in the spring a
    time the clocks skip moves forward by the hour they skip.
    """
    zone = ZoneInfo(zone_name or settings.TIME_ZONE)
    naive = datetime.combine(day, clock)
    first = naive.replace(tzinfo=zone, fold=0)
    utc = first.astimezone(ZoneInfo("UTC"))
    if utc.astimezone(zone).replace(tzinfo=None) != naive:
        # Skipped time: fold=0 uses the offset before the change; move on by the gap.
        later = naive.replace(tzinfo=zone, fold=1).astimezone(ZoneInfo("UTC"))
        return max(utc, later)
    return utc


def reminders_plan(*, now: datetime | None = None) -> int:
    """Plan the reminders of every kind up to the horizon; cancel stale ones; return changes."""
    now = now or timezone.now()
    until = now + HORIZON
    changes = 0
    for kind_id, kind in reminder_kinds.items():
        try:
            planned = list(kind.plan(now, until))
        except Exception:
            logger.exception("planning reminders of kind %s failed", kind_id)
            continue
        wanted = {(p.subject, p.local_date) for p in planned}
        rows = [
            Reminder(
                kind=kind_id,
                subject=p.subject,
                local_date=p.local_date,
                due_at=local_instant(p.local_date, p.local_time),
            )
            for p in planned
        ]
        rows = [row for row in rows if row.due_at > now - LATE_LIMIT]
        before = Reminder.objects.filter(kind=kind_id).count()
        Reminder.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
        changes += Reminder.objects.filter(kind=kind_id).count() - before
        # A reminder cancelled because it was no longer needed is needed again (a deadline
        # moved back, a case reopened): schedule it again if it is still to come.
        for row in Reminder.objects.filter(
            kind=kind_id, status=ReminderStatus.CANCELLED, due_at__gt=now, due_at__lte=until
        ).only("pk", "subject", "local_date"):
            if (row.subject, row.local_date) in wanted:
                changes += Reminder.objects.filter(
                    pk=row.pk, status=ReminderStatus.CANCELLED
                ).update(status=ReminderStatus.SCHEDULED, cancelled_reason="")
        # Only reminders still to come are judged here; one already due is checked when
        # it is sent, so a late run still sends yesterday's reminder.
        stale = [
            row.pk
            for row in Reminder.objects.filter(
                kind=kind_id, status=ReminderStatus.SCHEDULED, due_at__gt=now, due_at__lte=until
            ).only("pk", "subject", "local_date")
            if (row.subject, row.local_date) not in wanted
        ]
        if stale:
            changes += Reminder.objects.filter(
                pk__in=stale, status=ReminderStatus.SCHEDULED
            ).update(status=ReminderStatus.CANCELLED, cancelled_reason="No longer needed")
    return changes


def reminders_send_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Send every scheduled reminder whose time has come; return how many were sent."""
    now = now or timezone.now()
    sent = 0
    due = list(
        Reminder.objects.filter(status=ReminderStatus.SCHEDULED, due_at__lte=now)
        .order_by("due_at")
        .values_list("pk", "kind", "subject", "due_at")[:limit]
    )
    for pk, kind_id, subject, due_at in due:
        try:
            sent += _send_one(pk, kind_id, subject, due_at, now)
        except Exception as error:
            # One reminder that cannot be sent must not hold up the others behind it.
            logger.exception("reminder %s of kind %s could not be sent", pk, kind_id)
            _cancel(pk, f"Could not be sent: {type(error).__name__}")
    return sent


def _send_one(pk: Any, kind_id: str, subject: str, due_at: datetime, now: datetime) -> int:
    """Send one due reminder in its own transaction; return 1 if it was sent."""
    with transaction.atomic():
        if kind_id not in reminder_kinds:
            _cancel(pk, "This kind of reminder no longer exists")
            return 0
        kind = reminder_kinds.get(kind_id)
        if now - due_at > LATE_LIMIT:
            _cancel(pk, "Too late to be useful")
            return 0
        if not kind.relevant(subject):
            _cancel(pk, "No longer relevant")
            return 0
        won = Reminder.objects.filter(pk=pk, status=ReminderStatus.SCHEDULED).update(
            status=ReminderStatus.SENT
        )
        if not won:
            return 0
        kind.send(subject, f"reminder:{pk}")
        return 1


def _cancel(pk: Any, reason: str) -> None:
    Reminder.objects.filter(pk=pk, status=ReminderStatus.SCHEDULED).update(
        status=ReminderStatus.CANCELLED, cancelled_reason=reason
    )


def reminders_cancel(*, kind: str, subject: str, reason: str) -> int:
    """Cancel the scheduled reminders of ``kind`` about ``subject``; return how many."""
    return Reminder.objects.filter(
        kind=kind, subject=subject, status=ReminderStatus.SCHEDULED
    ).update(status=ReminderStatus.CANCELLED, cancelled_reason=reason[:200])
