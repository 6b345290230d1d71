"""Background jobs of the cases app.

Services are imported inside each job: the app registry loads this module (through the
event handlers) before the process engine and letter modules are needed.
"""

from __future__ import annotations

from uuid import UUID

from django.tasks import task


@task()
def case_open(*, application_id: str) -> str:
    """Open the case of a submitted application (idempotent); return its reference."""
    case = _services().case_open_for_application(application_id=UUID(application_id))
    return case.reference if case is not None else ""


@task()
def case_withdraw(*, application_id: str) -> str:
    """Close the case of a withdrawn application; return its reference."""
    case = _services().case_withdraw_for_application(application_id=UUID(application_id))
    return case.reference if case is not None else ""


@task()
def open_missing() -> int:
    """Open the cases of recent applications that have none (a safety net)."""
    return _services().cases_open_missing()


@task()
def timers_fire() -> int:
    """Move on the cases whose process timers are due; return how many."""
    return _services().case_timers_fire()


@task()
def sla_check() -> list[int]:
    """Warn before service level breaches and escalate breaches."""
    warned, escalated = _services().cases_sla_check()
    return [warned, escalated]


def _services():  # type: ignore[no-untyped-def]
    from civicstack.cases import services

    return services
