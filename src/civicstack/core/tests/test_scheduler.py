"""The periodic job scheduler: one lease holder, each due run enqueued once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from civicstack.core.models import PeriodicJobRun, SchedulerLease
from civicstack.core.scheduler import (
    PeriodicJob,
    lease_acquire,
    lease_release,
    periodic_jobs,
    run_due_jobs,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def counted_job() -> list[int]:
    calls: list[int] = []
    job = PeriodicJob(every=timedelta(minutes=5), enqueue=lambda: calls.append(1))
    periodic_jobs.register("test.counted")(job)
    yield calls
    periodic_jobs.unregister("test.counted")


def test_only_one_scheduler_holds_the_lease() -> None:
    """A second scheduler cannot take an unexpired lease; it can once released or expired."""
    assert lease_acquire(holder="a")
    assert not lease_acquire(holder="b")
    assert lease_acquire(holder="a")
    lease_release(holder="a")
    assert lease_acquire(holder="b")
    SchedulerLease.objects.filter(pk=1).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert lease_acquire(holder="a")


def test_due_jobs_are_enqueued_once_across_schedulers(counted_job: list[int]) -> None:
    """Two schedulers ticking together enqueue a due job once, then not until it is due."""
    assert "test.counted" in run_due_jobs(holder="a")
    assert run_due_jobs(holder="b") == []
    assert "test.counted" not in run_due_jobs(holder="a")
    assert counted_job == [1]
    PeriodicJobRun.objects.filter(name="test.counted").update(
        last_enqueued_at=timezone.now() - timedelta(minutes=6)
    )
    assert "test.counted" in run_due_jobs(holder="a")
    assert counted_job == [1, 1]


def test_audit_checkpoint_job_is_registered() -> None:
    """Signing audit checkpoints is one of the periodic jobs."""
    assert "core.audit_checkpoint" in periodic_jobs
