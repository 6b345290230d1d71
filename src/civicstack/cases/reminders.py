"""Reminders the cases app plans: requested information due in a few days."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from civicstack.cases.models import Decision, DecisionStatus, InformationRequest
from civicstack.notify.services import Planned, ReminderKind, reminder_kinds

INFORMATION_DUE_KIND = "cases.information_due"
# The applicant is reminded this many days before the reply is due, at 09:00 local time.
DAYS_BEFORE = 5


def _open_requests() -> QuerySet[InformationRequest]:
    return InformationRequest.objects.filter(
        answered_at__isnull=True, expired_at__isnull=True, case__closed_at__isnull=True
    )


def plan(now: datetime, until: datetime) -> list[Planned]:
    """Return a reminder for each open request whose reply is due in DAYS_BEFORE days."""
    today = timezone.localdate(now)
    last = timezone.localdate(until)
    requests = _open_requests().filter(
        due_on__gte=today + timedelta(days=DAYS_BEFORE),
        due_on__lte=last + timedelta(days=DAYS_BEFORE),
    )
    return [
        Planned(f"information_request:{pk}", due_on - timedelta(days=DAYS_BEFORE))
        for pk, due_on in requests.values_list("pk", "due_on").iterator()
    ]


def _request(subject: str) -> InformationRequest | None:
    kind, _, pk = subject.partition(":")
    if kind != "information_request":
        return None
    try:
        return _open_requests().select_related("case", "case__service").filter(pk=pk).first()
    except (ValueError, TypeError, ValidationError):
        return None


def relevant(subject: str) -> bool:
    """Return True while the request is still open and its case still open."""
    return _request(subject) is not None


def send(subject: str, key: str) -> None:
    """Remind the applicant; the process's own reminder shares the once-only key."""
    from civicstack.cases.services import information_reminder_notify

    request = _request(subject)
    if request is None:
        return
    with transaction.atomic():
        information_reminder_notify(request=request)


def register() -> None:
    """Register the cases app's reminder kinds with the notifications app."""
    reminder_kinds.register(INFORMATION_DUE_KIND)(
        ReminderKind(plan=plan, relevant=relevant, send=send)
    )
    register_permits()


PERMIT_EXPIRY_KIND = "cases.permit_expiring"
# The holder is reminded this many days before a permit or licence runs out.
PERMIT_DAYS_BEFORE = 30


def _permits() -> QuerySet[Decision]:
    return Decision.objects.filter(
        status=DecisionStatus.FINAL, outcome_kind="approve", valid_until__isnull=False
    )


def permit_plan(now: datetime, until: datetime) -> list[Planned]:
    """Return a reminder for each permit running out PERMIT_DAYS_BEFORE days from then."""
    today = timezone.localdate(now)
    last = timezone.localdate(until)
    permits = _permits().filter(
        valid_until__gte=today + timedelta(days=PERMIT_DAYS_BEFORE),
        valid_until__lte=last + timedelta(days=PERMIT_DAYS_BEFORE),
    )
    return [
        Planned(f"decision:{pk}", valid_until - timedelta(days=PERMIT_DAYS_BEFORE))
        for pk, valid_until in permits.values_list("pk", "valid_until").iterator()
        if valid_until is not None
    ]


def _permit(subject: str) -> Decision | None:
    kind, _, pk = subject.partition(":")
    if kind != "decision":
        return None
    try:
        return _permits().select_related("case", "case__service").filter(pk=pk).first()
    except (ValueError, TypeError, ValidationError):
        return None


def permit_relevant(subject: str) -> bool:
    """Return True while the permit is still valid (a later decision does not end it)."""
    permit = _permit(subject)
    return (
        permit is not None
        and permit.valid_until is not None
        and (permit.valid_until >= timezone.localdate())
    )


def permit_send(subject: str, key: str) -> None:
    """Remind the holder that their permit or licence runs out soon."""
    from civicstack.cases.services import permit_expiry_notify

    permit = _permit(subject)
    if permit is None:
        return
    with transaction.atomic():
        permit_expiry_notify(decision=permit)


def register_permits() -> None:
    """Register the permit expiry reminder with the notifications app."""
    reminder_kinds.register(PERMIT_EXPIRY_KIND)(
        ReminderKind(plan=permit_plan, relevant=permit_relevant, send=permit_send)
    )
