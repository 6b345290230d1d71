"""The delivery pipeline: write, queue after commit, claim, send, record, retry, sweep.

1. :func:`notification_create` renders the message and writes the row (status ``created``)
   in the caller's transaction, and queues a send task that only runs if it commits.
2. :func:`notifications_send` (the task) *claims* each row with one conditional UPDATE
   (``created`` -> ``sending`` with a claim deadline). Only one worker can win a claim, so a
   task delivered twice by the queue sends once.
3. The channel sends; each outcome is recorded: final, waiting for a receipt, or back to
   ``created`` with the next attempt after an exponential backoff.
4. :func:`notifications_sweep` (every 15 seconds) requeues rows whose claim ran out (a
   worker died mid-send) and rows due for a retry or whose task was lost.

A crash between the mail server accepting a message and the row being marked can still
send it twice; each message keeps one Message-ID on every attempt, so receiving systems
can drop the copy.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from civicstack.notify import templating
from civicstack.notify.channels import Outcome, channels
from civicstack.notify.limits import counter_lower, counter_raise
from civicstack.notify.models import (
    DrainState,
    KeyType,
    Kind,
    LetterPdf,
    Notification,
    Preference,
    Sender,
    Status,
    Template,
    TemplateVersion,
)
from civicstack.notify.recipients import RecipientError, email_normalise, phone_normalise

logger = logging.getLogger(__name__)

# A send task waits in the queue at most this long before the sweeper adds another: long
# enough that a backlog is not queued twice over, short enough to find a lost task.
QUEUE_GRACE = timedelta(minutes=5)
DRAIN_KEY = "notify:drain"
# How long the "a drain is on its way" flag holds without being renewed.
DRAIN_FLAG_MS = 3000
# A drain task hands over to a fresh one after this long, so other tasks get a turn.
DRAIN_SECONDS = 30.0
DRAIN_BATCH = 50
# An idle drain waits this long for more before it ends, looking every DRAIN_POLL_SECONDS.
DRAIN_LINGER = 1.0
DRAIN_POLL_SECONDS = 0.05
GIVE_UP_AFTER = timedelta(hours=72)
BACKOFF_FIRST_SECONDS = 15
BACKOFF_MAX_SECONDS = 600


def claim_seconds() -> int:
    """Return how long a worker may hold a message before the sweeper takes it back."""
    return int(getattr(settings, "NOTIFY_CLAIM_SECONDS", 120))


def max_attempts() -> int:
    """Return how many sends are tried before a message is given up (technical failure)."""
    return int(getattr(settings, "NOTIFY_MAX_ATTEMPTS", 25))


class DailyLimitExceeded(Exception):
    """The sender has sent its daily allowance of messages."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"Exceeded send limits ({limit}) for today")
        self.limit = limit


class RecipientInvalid(ValueError):
    """The recipient cannot be sent to: ``field`` and ``message`` say which and why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field} {message}")
        self.field = field
        self.message = message


def backoff(attempts: int) -> timedelta:
    """Return the wait before attempt ``attempts + 1``: 15 s doubling to 10 minutes, +-20%."""
    seconds = min(BACKOFF_FIRST_SECONDS * 2 ** max(attempts - 1, 0), BACKOFF_MAX_SECONDS)
    return timedelta(seconds=seconds * random.uniform(0.8, 1.2))


def template_version_current(template: Template) -> TemplateVersion:
    """Return the version of ``template`` that new messages use.

    Versions never change once saved, so each process keeps the ones it has read.
    """
    return _template_version(template.pk, template.version)


@lru_cache(maxsize=2048)
def _template_version(template_id: Any, version: int) -> TemplateVersion:
    return TemplateVersion.objects.get(template_id=template_id, version=version)


def quiet_hours_end(preference: Preference | None, now: datetime) -> datetime | None:
    """Return when the person's quiet hours end, if ``now`` falls inside them."""
    if preference is None or preference.quiet_start is None or preference.quiet_end is None:
        return None
    zone = ZoneInfo(settings.TIME_ZONE)
    local = now.astimezone(zone)
    start, end = preference.quiet_start, preference.quiet_end
    clock = local.time()
    if start == end:
        return None
    inside = (start <= clock < end) if start < end else (clock >= start or clock < end)
    if not inside:
        return None
    end_date = local.date()
    if start > end and clock >= start:
        end_date += timedelta(days=1)
    from civicstack.notify.reminders import local_instant

    return local_instant(end_date, end)


def notification_create(
    *,
    sender: Sender,
    kind: str,
    recipient: str = "",
    user: Any = None,
    template: Template | None = None,
    personalisation: dict[str, Any] | None = None,
    language: str = "en",
    key_type: str = KeyType.NORMAL,
    api_key: Any = None,
    reference: str = "",
    idempotency_key: str | None = None,
    address: list[str] | None = None,
    postage: str = "",
    pdf: bytes | None = None,
    document_id: Any = None,
    preference: Preference | None = None,
    count_daily: bool = True,
    now: datetime | None = None,
) -> Notification:
    """Render and write one notification in the caller's transaction; send it after commit.

    Raises :class:`templating.PersonalisationError`, :class:`RecipientInvalid` or
    :class:`DailyLimitExceeded`; nothing is written then. With an ``idempotency_key`` the
    same key returns the notification already made.
    """
    now = now or timezone.now()
    if idempotency_key:
        existing = Notification.objects.filter(
            sender=sender, idempotency_key=idempotency_key
        ).first()
        if existing is not None:
            return existing
    values = dict(personalisation or {})
    subject = body = html = ""
    version_number = None
    if template is not None:
        version = template_version_current(template)
        version_number = version.version
        subject_text, body_text = version.wording(language)
        rendered = templating.render(
            subject=subject_text, body=body_text, personalisation=values, kind=kind
        )
        subject, body, html = rendered.subject, rendered.text, rendered.html
        if kind == Kind.SMS:
            length = templating.sms_length(body).characters
            if length > templating.SMS_MAX_CHARACTERS:
                raise templating.PersonalisationError(
                    f"Text messages cannot be longer than {templating.SMS_MAX_CHARACTERS} "
                    f"characters. Your message is {length} characters long."
                )
    recipient = _recipient(kind=kind, recipient=recipient, user=user, address=address)
    next_attempt_at = now
    if kind in (Kind.SMS, Kind.PUSH):
        next_attempt_at = quiet_hours_end(preference, now) or now
    # The platform's own messages (confirmations, decisions) never count against the
    # sender's daily cap: they must not be dropped because an integration sent a lot.
    counted = key_type != KeyType.TEST and count_daily
    if counted and counter_raise(f"daily:{sender.pk}", window_seconds=86400, now=now) > (
        sender.daily_limit
    ):
        counter_lower(f"daily:{sender.pk}", window_seconds=86400, now=now)
        raise DailyLimitExceeded(sender.daily_limit)
    fields: dict[str, Any] = {
        "sender": sender,
        "template": template,
        "template_version": version_number,
        "kind": kind,
        "key_type": key_type,
        "api_key": api_key,
        "recipient": recipient,
        "user": user,
        "language": language,
        "personalisation": values,
        "subject": subject,
        "body": body,
        "html": html,
        "address": address or [],
        "postage": postage,
        "reference": reference,
        "idempotency_key": idempotency_key or None,
        "next_attempt_at": next_attempt_at,
        "document_id": document_id,
    }
    if key_type == KeyType.TEST:
        # Test keys send nothing: the message is recorded as Notify records it.
        final = Status.RECEIVED if kind == Kind.LETTER else Status.DELIVERED
        fields.update(status=final, sent_at=now, completed_at=now)
    if not idempotency_key and pdf is None:
        # Nothing here can clash: no savepoint needed (the API's hot path).
        notification = Notification.objects.create(**fields)
        if notification.status == Status.CREATED and next_attempt_at <= now:
            drain_request(now=now)
        return notification
    try:
        with transaction.atomic():
            notification = Notification.objects.create(**fields)
            if pdf is not None:
                LetterPdf.objects.create(notification=notification, content=pdf)
    except IntegrityError:
        if counted:
            counter_lower(f"daily:{sender.pk}", window_seconds=86400, now=now)
        if idempotency_key:
            return Notification.objects.get(sender=sender, idempotency_key=idempotency_key)
        raise
    if notification.status == Status.CREATED and next_attempt_at <= now:
        drain_request(now=now)
    return notification


def _recipient(*, kind: str, recipient: str, user: Any, address: list[str] | None) -> str:
    try:
        if kind == Kind.EMAIL:
            return email_normalise(recipient)
        if kind == Kind.SMS:
            return phone_normalise(recipient)
    except RecipientError as error:
        field = "email_address" if kind == Kind.EMAIL else "phone_number"
        raise RecipientInvalid(field, str(error)) from None
    if kind == Kind.PUSH and user is None:
        raise RecipientInvalid("user", "Web push messages go to a person with an account")
    if kind == Kind.LETTER and user is None and not address:
        raise RecipientInvalid("address", "A letter needs a person or a postal address")
    return recipient


def drain_request(*, now: datetime | None = None, force: bool = False) -> None:
    """Have a drain task send what is due, after commit, unless one is queued or running.

    Many messages written in a burst ask for one task between them, not one each: the
    flag says a drain is on its way (Redis ``SET NX`` at scale, one conditional UPDATE on
    the database by default); the running drain keeps it raised and lowers it when done.
    """
    from civicstack.core.tasks import enqueue_after_commit
    from civicstack.notify.tasks import notifications_drain

    if force or _drain_flag_take(now or timezone.now()):
        enqueue_after_commit(notifications_drain)


def _drain_flag_take(now: datetime) -> bool:
    if getattr(settings, "REDIS_URL", None):
        from civicstack.notify.limits import redis_client

        taken = redis_client().set(DRAIN_KEY, "1", nx=True, px=DRAIN_FLAG_MS)
        return bool(taken)
    until = now + timedelta(milliseconds=DRAIN_FLAG_MS)
    table = DrainState._meta.db_table
    ops = connection.ops
    # One statement: make the row if it is missing, take the flag if it has run out.
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (id, busy_until) VALUES (1, %s) "  # noqa: S608
            f"ON CONFLICT (id) DO UPDATE SET busy_until = excluded.busy_until "
            f"WHERE {table}.busy_until < %s RETURNING id",
            [ops.adapt_datetimefield_value(until), ops.adapt_datetimefield_value(now)],
        )
        return cursor.fetchone() is not None


def _drain_flag_renew() -> None:
    if getattr(settings, "REDIS_URL", None):
        from civicstack.notify.limits import redis_client

        redis_client().set(DRAIN_KEY, "1", px=DRAIN_FLAG_MS)
        return
    until = timezone.now() + timedelta(milliseconds=DRAIN_FLAG_MS)
    DrainState.objects.filter(pk=1).update(busy_until=until)


def _drain_flag_lower() -> None:
    if getattr(settings, "REDIS_URL", None):
        from civicstack.notify.limits import redis_client

        redis_client().delete(DRAIN_KEY)
        return
    DrainState.objects.filter(pk=1).update(busy_until=timezone.now() - timedelta(seconds=1))


# --- Sending ------------------------------------------------------------------------------


def _claim(ids: list[str], now: datetime) -> list[Notification]:
    until = now + timedelta(seconds=claim_seconds())
    won = []
    with transaction.atomic():
        for pk in ids:
            claimed = (
                Notification.objects.filter(pk=pk, status=Status.CREATED, next_attempt_at__lte=now)
                .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
                .update(
                    status=Status.SENDING,
                    claimed_until=until,
                    queued_until=None,
                    attempts=F("attempts") + 1,
                )
            )
            if claimed:
                won.append(pk)
    if not won:
        return []
    return list(Notification.objects.filter(pk__in=won).order_by("created_at"))


def _claim_due(now: datetime, limit: int) -> list[Notification]:
    """Claim up to ``limit`` due messages in one statement; return them, oldest first."""
    ops = connection.ops
    table = Notification._meta.db_table
    lock = " FOR UPDATE SKIP LOCKED" if connection.vendor == "postgresql" else ""
    until = now + timedelta(seconds=claim_seconds())
    sql = (
        f"UPDATE {table} SET status = %s, claimed_until = %s, queued_until = NULL, "  # noqa: S608
        f"attempts = attempts + 1 WHERE status = %s AND id IN ("
        f"SELECT id FROM {table} WHERE status = %s AND next_attempt_at <= %s "
        f"AND (claimed_until IS NULL OR claimed_until < %s) "
        f"ORDER BY next_attempt_at LIMIT %s{lock}) RETURNING id"
    )
    stamp = ops.adapt_datetimefield_value(now)
    params = [
        Status.SENDING,
        ops.adapt_datetimefield_value(until),
        Status.CREATED,
        Status.CREATED,
        stamp,
        stamp,
        limit,
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        ids = [row[0] for row in cursor.fetchall()]
    if not ids:
        return []
    return list(
        Notification.objects.filter(pk__in=ids).select_related("sender").order_by("created_at")
    )


def notifications_drain(*, seconds: float = DRAIN_SECONDS, linger: float | None = None) -> int:
    """Send every due message, in batches, for up to ``seconds``; return how many left us.

    When nothing is due the drain waits up to ``linger`` seconds for more (looking every
    50 ms) before it ends: under a steady stream one task sends many small batches
    instead of one task starting for every few messages. Before ending it lowers the
    flag and looks once more, so a message written just then is not left waiting.
    """
    import time as clock

    if linger is None:
        linger = float(getattr(settings, "NOTIFY_DRAIN_LINGER_SECONDS", DRAIN_LINGER))
    started = clock.monotonic()
    done = 0
    while clock.monotonic() - started < seconds:
        batch = _claim_due(timezone.now(), DRAIN_BATCH)
        idle_since = clock.monotonic()
        while not batch and clock.monotonic() - idle_since < linger:
            clock.sleep(DRAIN_POLL_SECONDS)
            batch = _claim_due(timezone.now(), DRAIN_BATCH)
        if not batch:
            _drain_flag_lower()
            batch = _claim_due(timezone.now(), DRAIN_BATCH)
            if not batch:
                return done
        _drain_flag_renew()
        done += _send_claimed(batch)
    # Out of time with work left: a fresh task carries on after this one.
    drain_request(force=True)
    return done


CLAIM_GROUP = 10


def notifications_send(notification_ids: list[str], *, now: datetime | None = None) -> int:
    """Send the given notifications this worker can claim; return how many left us.

    Ids another worker holds, or that are already sent, are skipped: that is what makes
    a duplicated task harmless. Rows are claimed a few at a time, just before they are
    sent, so a slow server never outlasts a claim.
    """
    ids = list(notification_ids)
    done = 0
    for start in range(0, len(ids), CLAIM_GROUP):
        claimed = _claim(ids[start : start + CLAIM_GROUP], now or timezone.now())
        done += _send_claimed(claimed)
    return done


def _send_claimed(claimed: list[Notification]) -> int:
    """Send claimed messages one by one; record what happened to each.

    Each message is sent on its own, so an error on one never marks another that was
    already sent for a retry. After a temporary failure the rest wait too: the channel is
    struggling. Messages that reached their final hop are recorded together.
    """
    done = 0
    backing_off: Outcome | None = None
    delivered: list[Notification] = []
    for notification in claimed:
        channel = channels.get(notification.kind)
        if backing_off is not None:
            outcome_record(notification, backing_off, provider=channel.provider)
            continue
        try:
            outcomes = channel.send([notification])
        except Exception:
            logger.exception(
                "channel %s failed on notification %s", notification.kind, notification.pk
            )
            outcomes = [Outcome("retry", "Internal error while sending")]
        outcome = outcomes[0] if outcomes else Outcome("retry", "No outcome from channel")
        plain = (
            outcome.result == "delivered"
            and not outcome.provider_reference
            and not outcome.document_id
            and notification.kind == Kind.EMAIL
        )
        if plain:
            delivered.append(notification)
            continue
        done += outcome_record(notification, outcome, provider=channel.provider)
        if outcome.result == "retry":
            backing_off = outcome
    done += _delivered_record(delivered)
    if delivered:
        _retries_bring_forward()
    return done


_last_recovery_check = 0.0
RECOVERY_CHECK_SECONDS = 5.0
UNAVAILABLE = "Mail server unavailable"


def _retries_bring_forward() -> int:
    """After an email went through, send the ones waiting out an outage now.

    Messages that failed because the mail server was down wait out a backoff of up to ten
    minutes; once a message gets through the server is back, and waiting longer helps no
    one. Checked at most every few seconds per process.
    """
    global _last_recovery_check
    import time as clock

    if clock.monotonic() - _last_recovery_check < RECOVERY_CHECK_SECONDS:
        return 0
    _last_recovery_check = clock.monotonic()
    now = timezone.now()
    return Notification.objects.filter(
        status=Status.CREATED,
        kind=Kind.EMAIL,
        next_attempt_at__gt=now,
        failure_reason__startswith=UNAVAILABLE,
    ).update(next_attempt_at=now)


def _delivered_record(notifications: list[Notification]) -> int:
    """Mark emails the mail server accepted as delivered, in one statement per claim."""
    if not notifications:
        return 0
    now = timezone.now()
    by_claim: dict[Any, list[Any]] = {}
    for notification in notifications:
        by_claim.setdefault(notification.claimed_until, []).append(notification.pk)
    for claimed_until, ids in by_claim.items():
        Notification.objects.filter(
            pk__in=ids, status=Status.SENDING, claimed_until=claimed_until
        ).update(
            status=Status.DELIVERED,
            sent_at=now,
            completed_at=now,
            claimed_until=None,
            provider="email",
            failure_reason="",
        )
    return len(notifications)


def outcome_record(notification: Notification, outcome: Outcome, *, provider: str) -> bool:
    """Store what the channel did; return True if the message left us."""
    now = timezone.now()
    # Only while this worker's claim holds: if the sweeper took the row back, the row is
    # someone else's now and this outcome must not overwrite theirs.
    rows = Notification.objects.filter(
        pk=notification.pk, status=Status.SENDING, claimed_until=notification.claimed_until
    )
    if outcome.result in ("delivered", "sending"):
        final = Status.DELIVERED
        if notification.kind == Kind.LETTER:
            final = Status.RECEIVED
        update: dict[str, Any] = {"sent_at": now, "claimed_until": None, "provider": provider}
        if outcome.provider_reference:
            update["provider_reference"] = outcome.provider_reference
        if outcome.document_id:
            update["document_id"] = outcome.document_id
        if outcome.result == "delivered":
            update.update(status=final, completed_at=now, failure_reason="")
        else:
            update.update(status=Status.SENDING, failure_reason="")
        try:
            with transaction.atomic():
                rows.update(**update)
        except IntegrityError:
            # The provider gave a reference another message holds: its receipts could
            # never be told apart. Sent, but a person has to look.
            update.pop("provider_reference", None)
            rows.update(
                **update,
                **{
                    "status": Status.TECHNICAL_FAILURE,
                    "completed_at": now,
                    "failure_reason": "The provider returned a reference already in use",
                },
            )
            _failed(notification, Status.TECHNICAL_FAILURE)
        return True
    if outcome.result == "retry":
        attempts = notification.attempts
        too_old = now - notification.created_at > GIVE_UP_AFTER
        if attempts >= max_attempts() or too_old:
            rows.update(
                status=Status.TECHNICAL_FAILURE,
                claimed_until=None,
                completed_at=now,
                failure_reason=f"Gave up after {attempts} attempts: {outcome.reason}"[:500],
            )
            _failed(notification, Status.TECHNICAL_FAILURE)
            return False
        rows.update(
            status=Status.CREATED,
            claimed_until=None,
            next_attempt_at=now + backoff(attempts),
            failure_reason=outcome.reason[:500],
        )
        return False
    status = Status.PERMANENT_FAILURE if outcome.result == "permanent" else Status.TECHNICAL_FAILURE
    if notification.kind == Kind.LETTER and outcome.result == "permanent":
        status = Status.VALIDATION_FAILED
    rows.update(
        status=status, claimed_until=None, completed_at=now, failure_reason=outcome.reason[:500]
    )
    _failed(notification, status)
    return False


def _failed(notification: Notification, status: str) -> None:
    from civicstack.core.events import publish
    from civicstack.notify.events import NotificationFailed

    publish(
        NotificationFailed(
            notification_id=str(notification.pk),
            sender_id=str(notification.sender_id),
            kind=notification.kind,
            status=status,
        )
    )


def receipt_record(
    *, provider: str, provider_reference: str, status: str, reason: str = ""
) -> Notification | None:
    """Apply a delivery receipt from a gateway; return the notification, None if unknown.

    Only a message still waiting for its receipt changes; a late or repeated receipt for a
    message that already has a final status changes nothing.
    """
    if status not in (Status.DELIVERED, Status.PERMANENT_FAILURE, Status.TEMPORARY_FAILURE):
        raise ValueError(f"unknown receipt status {status!r}")
    notification = Notification.objects.filter(
        provider=provider, provider_reference=provider_reference
    ).first()
    if notification is None:
        return None
    updated = Notification.objects.filter(
        pk=notification.pk, status__in=(Status.SENDING, Status.PENDING)
    ).update(status=status, completed_at=timezone.now(), failure_reason=reason[:500])
    if updated and status != Status.DELIVERED:
        _failed(notification, status)
    notification.refresh_from_db()
    return notification


def notifications_sweep(*, now: datetime | None = None, limit: int = 5000) -> int:
    """Requeue stuck and due messages; return how many were queued."""
    now = now or timezone.now()
    expired = Notification.objects.filter(
        status=Status.SENDING, claimed_until__isnull=False, claimed_until__lt=now
    )
    # A message whose worker keeps dying on it (out of memory, killed at a timeout) is
    # given up like any other that failed too often.
    worn_out = expired.filter(
        Q(attempts__gte=max_attempts()) | Q(created_at__lt=now - GIVE_UP_AFTER)
    )
    for notification in worn_out:
        if worn_out.filter(pk=notification.pk).update(
            status=Status.TECHNICAL_FAILURE,
            claimed_until=None,
            completed_at=now,
            failure_reason=f"Gave up after {notification.attempts} attempts: the worker stopped",
        ):
            _failed(notification, Status.TECHNICAL_FAILURE)
    taken_back = expired.update(status=Status.CREATED, claimed_until=None, next_attempt_at=now)
    if taken_back:
        logger.warning("took back %s notifications whose worker stopped while sending", taken_back)
    # Sent to a gateway that never sent its receipt: after 72 hours Notify calls that a
    # temporary failure, and so do we.
    unanswered = Notification.objects.filter(
        status=Status.SENDING, claimed_until__isnull=True, sent_at__lt=now - GIVE_UP_AFTER
    )
    for notification in unanswered[:limit]:
        if unanswered.filter(pk=notification.pk).update(
            status=Status.TEMPORARY_FAILURE,
            completed_at=now,
            failure_reason="No delivery receipt within 72 hours",
        ):
            _failed(notification, Status.TEMPORARY_FAILURE)
    # During a mail outage, try one waiting email every sweep: if it goes, the drain brings
    # the rest forward (``_retries_bring_forward``), so recovery does not wait out the
    # backoff of the first retry.
    probe = (
        Notification.objects.filter(
            status=Status.CREATED,
            kind=Kind.EMAIL,
            next_attempt_at__gt=now,
            failure_reason__startswith=UNAVAILABLE,
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)
        .first()
    )
    if probe is not None:
        Notification.objects.filter(pk=probe, status=Status.CREATED).update(next_attempt_at=now)
    due = Notification.objects.filter(status=Status.CREATED, next_attempt_at__lte=now).count()
    if due:
        # Retries that came due, and anything whose drain was lost: one drain sends them.
        drain_request(now=now, force=True)
    return due


def notification_cancel(notification: Notification, *, reason: str) -> bool:
    """Cancel a message nobody has started sending; return True if it was cancelled."""
    return bool(
        Notification.objects.filter(pk=notification.pk, status=Status.CREATED)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=timezone.now()))
        .update(status=Status.CANCELLED, completed_at=timezone.now(), failure_reason=reason[:500])
    )
