"""Background tasks of the notifications app."""

from __future__ import annotations

from django.tasks import task

from civicstack.notify import delivery, reminders
from civicstack.notify.limits import counters_expire


@task()
def notifications_send(*, notification_ids: list[str]) -> int:
    """Send the given notifications (those still waiting); return how many left us."""
    return delivery.notifications_send(notification_ids)


@task()
def notifications_drain() -> int:
    """Send every message that is due, in batches; return how many left us."""
    return delivery.notifications_drain()


@task()
def notifications_sweep() -> int:
    """Requeue messages stuck in sending or due for a retry; return how many."""
    queued = delivery.notifications_sweep()
    counters_expire()
    return queued


@task()
def reminders_due() -> int:
    """Turn reminders whose time has come into notifications; return how many were sent."""
    return reminders.reminders_send_due()


@task()
def reminders_plan() -> int:
    """Plan reminders from case and application data, cancel stale ones; return changes."""
    return reminders.reminders_plan()
