"""Reactions to other apps' events: an application arrives or is withdrawn."""

from __future__ import annotations

from civicstack.cases import tasks
from civicstack.core.events import subscribe
from civicstack.forms.events import ApplicationSubmitted, ApplicationWithdrawn


@subscribe(ApplicationSubmitted)
def open_case(event: ApplicationSubmitted) -> None:
    """Queue the opening of the application's case.

    The event is durable: if queueing fails, the outbox sweeper delivers it again, and
    opening a case twice finds the first one.
    """
    tasks.case_open.enqueue(application_id=event.application_id)


@subscribe(ApplicationWithdrawn)
def close_withdrawn_case(event: ApplicationWithdrawn) -> None:
    """Queue the closing of a withdrawn application's case."""
    tasks.case_withdraw.enqueue(application_id=event.application_id)
