"""Background tasks of accounts."""

from __future__ import annotations

from django.tasks import task

from civicstack.accounts.services import sign_in_attempts_prune


@task()
def sign_in_attempts_prune_task() -> int:
    """Delete old counted sign-in failures; return how many were deleted."""
    return sign_in_attempts_prune()
