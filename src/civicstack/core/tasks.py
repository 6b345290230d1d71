"""Background tasks of the kernel."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.tasks import task, task_backends
from django_tasks_db.backend import DatabaseBackend

from civicstack.core.audit import audit_checkpoint_create
from civicstack.core.events import outbox_sweep


@task()
def audit_checkpoint() -> int:
    """Sign a checkpoint of the audit log; return its size (0 if nothing new)."""
    checkpoint = audit_checkpoint_create()
    return checkpoint.size if checkpoint else 0


@task()
def events_outbox_sweep() -> int:
    """Deliver durable events whose delivery after commit was cut short; return how many."""
    return outbox_sweep()


def enqueue_after_commit(task_: Any, **kwargs: Any) -> None:
    """Enqueue ``task_`` so it runs only if the current transaction commits.

    With the database task backend the task row is written inside the transaction: it
    commits (or rolls back) with the change, with no second write after commit. Other
    backends (RQ) enqueue once the transaction has committed.
    """
    backend = task_backends[task_.backend]
    if isinstance(backend, DatabaseBackend) and transaction.get_connection().in_atomic_block:
        task_.enqueue(**kwargs)
        return
    transaction.on_commit(lambda: task_.enqueue(**kwargs), robust=True)
