"""Background tasks of the kernel."""

from __future__ import annotations

from django.tasks import task

from civicstack.core.audit import audit_checkpoint_create


@task()
def audit_checkpoint() -> int:
    """Sign a checkpoint of the audit log; return its size (0 if nothing new)."""
    checkpoint = audit_checkpoint_create()
    return checkpoint.size if checkpoint else 0
