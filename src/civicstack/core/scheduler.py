"""One scheduler for periodic jobs, safe to run on several machines at once.

Periodic jobs register with :data:`periodic_jobs`; the scheduler loop enqueues each one on
the task queue when it is due, but only while it holds the scheduler lease, so two
schedulers never enqueue the same run.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from civicstack.core.models import PeriodicJobRun, SchedulerLease
from civicstack.core.registry import Registry

logger = logging.getLogger(__name__)

LEASE_SECONDS = 30


@dataclass(frozen=True)
class PeriodicJob:
    """A job enqueued every ``every`` (enqueue is what the scheduler calls)."""

    every: timedelta
    enqueue: Callable[[], object]


periodic_jobs: Registry[PeriodicJob] = Registry("periodic jobs")


def scheduler_identity() -> str:
    """Return a name for this scheduler process (host and pid)."""
    return f"{socket.gethostname()}:{os.getpid()}"[:100]


def lease_acquire(*, holder: str, seconds: int = LEASE_SECONDS) -> bool:
    """Take or renew the scheduler lease; return True if ``holder`` now holds it."""
    now = timezone.now()
    SchedulerLease.objects.get_or_create(pk=1)
    updated = SchedulerLease.objects.filter(
        Q(holder=holder) | Q(expires_at__isnull=True) | Q(expires_at__lt=now), pk=1
    ).update(holder=holder, expires_at=now + timedelta(seconds=seconds))
    return updated == 1


def lease_release(*, holder: str) -> None:
    """Give the lease up so another scheduler can take over at once."""
    SchedulerLease.objects.filter(pk=1, holder=holder).update(holder="", expires_at=None)


def run_due_jobs(*, holder: str) -> list[str]:
    """Enqueue every job that is due, if this scheduler holds the lease; return their names."""
    if not lease_acquire(holder=holder):
        return []
    enqueued = []
    now = timezone.now()
    for name, job in periodic_jobs.items():
        with transaction.atomic():
            run, created = PeriodicJobRun.objects.select_for_update().get_or_create(
                name=name, defaults={"last_enqueued_at": now}
            )
            if not created and run.last_enqueued_at + job.every > now:
                continue
            run.last_enqueued_at = now
            run.save(update_fields=["last_enqueued_at"])
            transaction.on_commit(job.enqueue)
        enqueued.append(name)
    return enqueued


def scheduler_loop(*, tick_seconds: float = 5.0, stop: Callable[[], bool] | None = None) -> None:
    """Run until ``stop`` returns True (or forever), enqueueing due jobs every tick."""
    holder = scheduler_identity()
    logger.info("scheduler started as %s", holder)
    try:
        while not (stop and stop()):
            try:
                for name in run_due_jobs(holder=holder):
                    logger.info("enqueued periodic job %s", name)
            except Exception:
                logger.exception("scheduler tick failed; retrying")
            time.sleep(tick_seconds)
    finally:
        lease_release(holder=holder)
