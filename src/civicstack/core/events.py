"""Typed domain events, dispatched to subscribers after the transaction commits.

Events are frozen dataclasses named in the past tense (``ServicePublished``). A service
calls :func:`publish` inside its transaction; subscribers run only once the change is
durable, so a rolled-back change never notifies anyone.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import transaction

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


def dispatch(event: Event) -> None:
    """Call every subscriber of the event's type (and its base types) now."""
    for event_type in type(event).__mro__:
        for handler in list(_subscribers.get(event_type, ())):  # type: ignore[call-overload]
            try:
                handler(event)
            except Exception:
                # One failing subscriber must not stop the others; the failure is logged
                # with the event type only (events can carry personal data).
                logger.exception("event subscriber failed for %s", type(event).__name__)


def publish(event: Event) -> None:
    """Dispatch ``event`` once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: dispatch(event), robust=True)
