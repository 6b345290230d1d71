"""Who may do what with a case, and the log of every time someone opened one.

Object-level permission: a member of staff may see a case only when they hold a case role
in the case's agency. Not found and not allowed look the same to the caller.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from civicstack.accounts.constants import Role
from civicstack.accounts.selectors import staff_roles_by_agency
from civicstack.cases.models import Case, CaseAccess
from civicstack.core.errors import NotFound, PermissionDenied

# Roles that work cases. Service owners and analysts manage services and read figures,
# but do not see applicants' personal data.
CASE_ROLES = frozenset({Role.CASEWORKER, Role.SUPERVISOR, Role.AGENCY_ADMIN})
SUPERVISOR_ROLES = frozenset({Role.SUPERVISOR, Role.AGENCY_ADMIN})
SETTINGS_ROLES = frozenset({Role.SERVICE_OWNER, Role.AGENCY_ADMIN})


def case_roles(*, user: Any, agency_id: Any) -> set[str]:
    """Return the case roles ``user`` holds in the agency."""
    return staff_roles_by_agency(user=user).get(agency_id, set()) & CASE_ROLES


def case_agencies(*, user: Any) -> list[Any]:
    """Return the ids of the agencies whose cases ``user`` may work."""
    return [
        agency_id
        for agency_id, roles in staff_roles_by_agency(user=user).items()
        if roles & CASE_ROLES
    ]


def supervised_agencies(*, user: Any) -> list[Any]:
    """Return the ids of the agencies ``user`` supervises."""
    return [
        agency_id
        for agency_id, roles in staff_roles_by_agency(user=user).items()
        if roles & SUPERVISOR_ROLES
    ]


def require_case_role(*, user: Any, case: Case, roles: frozenset[str] = CASE_ROLES) -> set[str]:
    """Return the user's roles on the case's agency, or raise: not found for outsiders.

    Staff of the agency who lack the particular role get "not allowed"; anybody else
    gets "not found", so case ids cannot be probed across agencies.
    """
    held = staff_roles_by_agency(user=user).get(case.agency_id, set())
    if not held & CASE_ROLES:
        raise NotFound()
    if not held & roles:
        raise PermissionDenied()
    return held


def case_access_record(*, case: Case, user: Any, purpose: str, channel: str) -> None:
    """Record that ``user`` opened ``case`` and why (the citizen's data usage view reads it).

    Its own append-only table rather than the audit log: opening a case is frequent and
    changes nothing, and the audit log's single head would serialise every page view.
    """
    CaseAccess.objects.create(
        case=case,
        user=user if getattr(user, "is_authenticated", False) else None,
        agency_id=case.agency_id,
        purpose=purpose[:40],
        channel=channel[:10],
        at=timezone.now(),
    )
