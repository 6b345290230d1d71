"""Typed domain events, dispatched to subscribers after the transaction commits.

Events are frozen dataclasses named in the past tense (``ServicePublished``). A service
calls :func:`publish` inside its transaction; subscribers run only once the change is
durable, so a rolled-back change never notifies anyone.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from datetime import timedelta
from typing import Any, TypeVar

from django.db import transaction
from django.db.models import F
from django.utils import timezone

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    """Base class of every domain event."""


EventT = TypeVar("EventT", bound=Event)
Handler = Callable[[Any], None]

_subscribers: dict[type[Event], list[Handler]] = defaultdict(list)


def subscribe[EventT: Event](
    event_type: type[EventT],
) -> Callable[[Callable[[EventT], None]], Callable[[EventT], None]]:
    """Register the decorated function to receive events of ``event_type`` after commit."""

    def decorator(handler: Callable[[EventT], None]) -> Callable[[EventT], None]:
        if handler not in _subscribers[event_type]:
            _subscribers[event_type].append(handler)
        return handler

    return decorator


def unsubscribe(event_type: type[Event], handler: Handler) -> None:
    """Remove a handler (used by tests)."""
    if handler in _subscribers[event_type]:
        _subscribers[event_type].remove(handler)


def dispatch(event: Event) -> bool:
    """Call every subscriber of the event's type (and its base types) now.

    Return False if any subscriber failed (the others still ran).
    """
    succeeded = True
    for event_type in type(event).__mro__:
        for handler in list(_subscribers.get(event_type, ())):  # type: ignore[call-overload]
            try:
                handler(event)
            except Exception:
                # One failing subscriber must not stop the others; the failure is logged
                # with the event type only (events can carry personal data).
                logger.exception("event subscriber failed for %s", type(event).__name__)
                succeeded = False
    return succeeded


def publish(event: Event) -> None:
    """Dispatch ``event`` once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: dispatch(event), robust=True)


# --- Durable events (transactional outbox) ------------------------------------------------

_durable_types: dict[str, type[Event]] = {}
CLAIM_SECONDS = 300
# After this many tries an event is left for a person to look at (logged), not retried.
MAX_DELIVERY_ATTEMPTS = 10
_JSON_SCALARS = (str, int, float, bool, type(None))


def durable[DurableT: type[Event]](event_type: DurableT) -> DurableT:
    """Mark an event class as durable: its fields must be JSON scalars (str, int, bool)."""
    _durable_types[event_type.__name__] = event_type
    return event_type


def publish_durable(event: Event) -> None:
    """Write ``event`` to the outbox in the current transaction; deliver it after commit.

    The event commits or rolls back with the change that caused it. Subscribers of durable
    events may see an event more than once (after a crash) and must be idempotent.
    """
    from civicstack.core.models import OutboxEvent

    name = type(event).__name__
    if _durable_types.get(name) is not type(event):
        raise TypeError(f"{name} is not registered with @durable")
    payload = asdict(event)
    for key, value in payload.items():
        if not isinstance(value, _JSON_SCALARS):
            raise TypeError(f"{name}.{key} must be a JSON scalar to be stored in the outbox")
    if not _has_subscribers(type(event)):
        # Nobody listens for this event in any process (all processes load the same apps):
        # keep the record, already delivered, and skip the work after commit.
        OutboxEvent.objects.create(event_type=name, payload=payload, delivered_at=timezone.now())
        return
    row = OutboxEvent.objects.create(event_type=name, payload=payload)
    transaction.on_commit(lambda: outbox_deliver(event_id=row.pk, event=event), robust=True)


def _has_subscribers(event_type: type[Event]) -> bool:
    return any(_subscribers.get(kind) for kind in event_type.__mro__)  # type: ignore[call-overload]


def outbox_deliver(*, event_id: int, event: Event | None = None) -> bool:
    """Dispatch one outbox event if no one else is delivering it; return True if dispatched.

    ``event`` is the event itself when the publishing process delivers it after commit;
    the sweeper passes only the id and the event is rebuilt from its stored payload.
    """
    from civicstack.core.models import OutboxEvent

    now = timezone.now()
    claimed = (
        OutboxEvent.objects.filter(pk=event_id, delivered_at__isnull=True)
        .filter(_unclaimed(now))
        .update(claimed_until=now + timedelta(seconds=CLAIM_SECONDS), attempts=F("attempts") + 1)
    )
    if claimed != 1:
        return False
    if event is None:
        row = OutboxEvent.objects.get(pk=event_id)
        event_type = _durable_types.get(row.event_type)
        if event_type is None:
            logger.error("outbox event %s has an unknown type %s", row.pk, row.event_type)
            return False
        known = {field.name for field in fields(event_type)}
        event = event_type(**{key: value for key, value in row.payload.items() if key in known})
    if not dispatch(event):
        # Left claimed: the sweeper tries again once the claim runs out.
        return False
    OutboxEvent.objects.filter(pk=event_id).update(delivered_at=timezone.now())
    return True


def _unclaimed(now: Any) -> Any:
    """Return the filter for outbox rows nobody is delivering at ``now``."""
    from django.db.models import Q

    return Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)


def outbox_sweep(*, older_than_seconds: int = 30, limit: int = 500) -> int:
    """Deliver undelivered events older than ``older_than_seconds``; return how many."""
    from civicstack.core.models import OutboxEvent

    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    stuck = OutboxEvent.objects.filter(
        delivered_at__isnull=True, attempts__gte=MAX_DELIVERY_ATTEMPTS
    ).count()
    if stuck:
        logger.error("%s outbox events failed %s deliveries", stuck, MAX_DELIVERY_ATTEMPTS)
    pending = list(
        OutboxEvent.objects.filter(
            delivered_at__isnull=True,
            created_at__lt=cutoff,
            attempts__lt=MAX_DELIVERY_ATTEMPTS,
        )
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(1 for event_id in pending if outbox_deliver(event_id=event_id))
