"""Reads on cases: work queues with keyset pagination, the case view, supervisor figures."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any
from uuid import UUID

from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncWeek
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from civicstack.accounts.constants import Role
from civicstack.accounts.selectors import staff_roles_by_agency, staff_with_roles
from civicstack.cases.access import (
    CASE_ROLES,
    SETTINGS_ROLES,
    SUPERVISOR_ROLES,
    case_access_record,
    case_agencies,
    require_case_role,
    supervised_agencies,
)
from civicstack.cases.constants import QUEUE_PAGE_SIZE, TASK_APPROVE
from civicstack.cases.models import (
    OPEN_CASE_STATUSES,
    AutomationRule,
    Case,
    CaseEntry,
    CaseLink,
    CaseSettings,
    CaseStatus,
    Decision,
    InformationRequest,
    Nation,
    Priority,
    ProcessVersion,
    RuleAction,
    WorkItem,
)
from civicstack.cases.rules import OPERATORS
from civicstack.cases.sla import working_days_between
from civicstack.cases.workflow import process_check
from civicstack.core.errors import NotFound, ValidationFailed
from civicstack.documents.selectors import documents_attached_to

SORTS: dict[str, tuple[str, ...]] = {
    "due": ("due_on", "id"),
    "received": ("received_at", "id"),
    "priority": ("priority", "due_on", "id"),
}


class CursorInvalid(ValidationFailed):
    """A page cursor that this queue did not hand out."""


@dataclass(frozen=True)
class QueueFilters:
    """What a queue shows; every field is optional."""

    service: str = ""  # service slug
    status: str = ""
    waiting_on: str = ""
    assigned: str = ""  # "me", "unassigned", "any" or a user id
    breached: bool = False
    sort: str = "due"


@dataclass
class QueuePage:
    cases: list[Case]
    next_cursor: str = ""
    filters: QueueFilters = field(default_factory=QueueFilters)


def _cursor_encode(case: Case, sort: str) -> str:
    values: list[Any] = []
    for name in SORTS[sort]:
        value = getattr(case, name)
        if isinstance(value, date | datetime):
            values.append(value.isoformat())
        elif isinstance(value, int):
            values.append(value)
        else:
            values.append(str(value))
    raw = json.dumps([sort, values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cursor_decode(cursor: str, sort: str) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        kind, values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if kind != sort or not isinstance(values, list) or len(values) != len(SORTS[sort]):
            raise ValueError("cursor for another sort")
        parsed: list[Any] = []
        for name, value in zip(SORTS[sort], values, strict=True):
            if name == "priority":
                if type(value) is not int:
                    raise ValueError("priority must be an integer")
                parsed.append(value)
                continue
            if not isinstance(value, str) or len(value) > 64:
                raise ValueError("cursor values are short strings")
            if name == "due_on":
                parsed.append(date.fromisoformat(value))
            elif name == "received_at":
                moment = datetime.fromisoformat(value)
                if moment.tzinfo is None:
                    raise ValueError("cursor times carry their zone")
                # In UTC now, so a far-off offset fails here rather than in the database.
                parsed.append(moment.astimezone(UTC))
            else:
                parsed.append(UUID(value))
        return parsed
    except (
        ValueError,
        TypeError,
        OverflowError,
        binascii.Error,
        UnicodeDecodeError,
        RecursionError,
    ):
        raise CursorInvalid(_("This page link is not valid. Go back to the first page.")) from None


def _after(names: tuple[str, ...], values: list[Any]) -> Q:
    # Row-value comparison written out: (a > x) or (a = x and b > y) or ... The leading
    # a >= x repeats what the rest implies, so the database starts its index scan there
    # instead of filtering every row before the cursor.
    condition = Q()
    for index, name in enumerate(names):
        step = Q(**{f"{name}__gt": values[index]})
        for earlier, value in zip(names[:index], values[:index], strict=True):
            step &= Q(**{earlier: value})
        condition |= step
    return Q(**{f"{names[0]}__gte": values[0]}) & condition


def case_queue(
    *,
    user: Any,
    filters: QueueFilters,
    cursor: str = "",
    page_size: int = QUEUE_PAGE_SIZE,
    within_agency: Any = None,
) -> QueuePage:
    """Return one page of open cases the user may work, in the chosen order.

    Keyset pagination: the page after a cursor starts strictly after the last case shown,
    so the cost of a page does not grow with how deep it is.
    """
    agencies = case_agencies(user=user)
    if within_agency is not None:
        # A personal API key reaches only the agency it was made for.
        agencies = [agency for agency in agencies if agency == within_agency]
    sort = filters.sort if filters.sort in SORTS else "due"
    cases = Case.objects.filter(agency_id__in=agencies, closed_at__isnull=True)
    if filters.service:
        cases = cases.filter(service__slug=filters.service)
    if filters.status in OPEN_CASE_STATUSES:
        cases = cases.filter(status=filters.status)
    if filters.waiting_on:
        cases = cases.filter(waiting_on=filters.waiting_on)
    if filters.assigned == "me":
        cases = cases.filter(assignee_id=user.pk)
    elif filters.assigned == "unassigned":
        cases = cases.filter(assignee__isnull=True)
    elif filters.assigned not in ("", "any"):
        try:
            cases = cases.filter(assignee_id=UUID(filters.assigned))
        except ValueError:
            cases = cases.none()
    if filters.breached:
        cases = cases.filter(due_on__lt=timezone.localdate())
    if cursor:
        cases = cases.filter(_after(SORTS[sort], _cursor_decode(cursor, sort)))
    rows = list(cases.select_related("service", "assignee").order_by(*SORTS[sort])[: page_size + 1])
    next_cursor = _cursor_encode(rows[page_size - 1], sort) if len(rows) > page_size else ""
    return QueuePage(cases=rows[:page_size], next_cursor=next_cursor, filters=filters)


@dataclass
class CaseView:
    """Everything the case screen shows, read in a fixed number of queries."""

    case: Case
    roles: set[str]
    entries: list[CaseEntry]
    documents: list[Any]
    links: list[CaseLink]
    work_items: list[WorkItem]
    requests: list[InformationRequest]
    decisions: list[Decision]
    settings: CaseSettings | None
    outcomes: list[Mapping[str, str]]


def case_for_staff(
    *, case_id: Any, user: Any, purpose: str, channel: str = "web", within_agency: Any = None
) -> CaseView:
    """Return the whole case for a member of its agency, and record the access.

    Ten queries whatever the case holds: the case with its service, agency, assignee and
    process; roles; timeline; documents; links; work items; requests; decisions; settings;
    and the access record.
    """
    try:
        pk = case_id if isinstance(case_id, UUID) else UUID(str(case_id))
    except ValueError:
        raise NotFound() from None
    case = (
        Case.objects.select_related(
            "service__agency", "agency", "assignee", "applicant", "process_version"
        )
        .filter(pk=pk)
        .first()
    )
    if case is None or (within_agency is not None and case.agency_id != within_agency):
        raise NotFound()
    roles = require_case_role(user=user, case=case)
    case_access_record(case=case, user=user, purpose=purpose, channel=channel)
    settings = CaseSettings.objects.filter(service_id=case.service_id).first()
    return CaseView(
        case=case,
        roles=roles,
        entries=list(CaseEntry.objects.filter(case=case).select_related("actor")),
        documents=list(documents_attached_to(attached_to=case.application_reference)),
        links=list(CaseLink.objects.filter(case=case).select_related("other")),
        work_items=list(WorkItem.objects.filter(case=case).select_related("completed_by")),
        requests=list(InformationRequest.objects.filter(case=case)),
        decisions=list(
            Decision.objects.filter(case=case).select_related("decided_by", "reviewed_by")
        ),
        settings=settings,
        outcomes=list(settings.outcomes) if settings else [],
    )


def case_get_for_staff(*, case_id: Any, user: Any, within_agency: Any = None) -> Case:
    """Return a case for a member of its agency (no access record: for actions)."""
    try:
        pk = case_id if isinstance(case_id, UUID) else UUID(str(case_id))
    except ValueError:
        raise NotFound() from None
    case = Case.objects.select_related("service__agency", "process_version").filter(pk=pk).first()
    if case is None or (within_agency is not None and case.agency_id != within_agency):
        raise NotFound()
    require_case_role(user=user, case=case)
    return case


def information_request_for_applicant(
    *, request_id: Any, application_id: Any, user: Any
) -> InformationRequest:
    """Return a request for information to the signed-in applicant it was sent to."""
    try:
        pk = UUID(str(request_id))
        application_pk = UUID(str(application_id))
    except ValueError:
        raise NotFound() from None
    request = (
        InformationRequest.objects.select_related("case__service")
        .filter(pk=pk, case__application_id=application_pk)
        .first()
    )
    if (
        request is None
        or not getattr(user, "is_authenticated", False)
        or request.case.applicant_id != user.pk
    ):
        raise NotFound()
    return request


@lru_cache(maxsize=256)
def _approval_step(version_id: Any, updated_at: str, xml: str) -> bool:
    info = process_check(xml=xml)
    return any(task.element_id == TASK_APPROVE for task in info.user_tasks)


def process_needs_approval(*, version: ProcessVersion) -> bool:
    """Return whether decisions on this process version wait for a supervisor's approval."""
    return _approval_step(version.pk, version.updated_at.isoformat(), version.xml)


def process_diagram_for_staff(*, case_id: Any, user: Any) -> ProcessVersion:
    """Return the process version of a case, for its diagram."""
    return case_get_for_staff(case_id=case_id, user=user).process_version


@dataclass
class SupervisorFigures:
    workload: list[Any]
    ageing: list[tuple[Any, int]]
    breaches: list[Case]
    throughput: list[tuple[date, int]]
    open_total: int


def supervisor_figures(*, user: Any, weeks: int = 8) -> SupervisorFigures:
    """Return the supervisor's view of their agencies: workload, ageing, breaches, weeks."""
    agencies = supervised_agencies(user=user)
    open_cases = Case.objects.filter(agency_id__in=agencies, closed_at__isnull=True)
    today = timezone.localdate()
    workload = list(
        open_cases.values("assignee_id", "assignee__full_name", "assignee__email")
        .annotate(
            total=Count("id"),
            overdue=Count("id", filter=Q(due_on__lt=today)),
            waiting=Count("id", filter=Q(waiting_on="applicant")),
        )
        .order_by("-total")
    )
    now = timezone.now()
    buckets = [
        (_("Up to 5 days"), now - timedelta(days=5), now + timedelta(days=1)),
        (_("6 to 10 days"), now - timedelta(days=10), now - timedelta(days=5)),
        (_("11 to 20 days"), now - timedelta(days=20), now - timedelta(days=10)),
        (_("21 to 40 days"), now - timedelta(days=40), now - timedelta(days=20)),
    ]
    aggregates = {
        f"bucket{number}": Count("id", filter=Q(received_at__gt=start, received_at__lte=end))
        for number, (_label, start, end) in enumerate(buckets)
    }
    aggregates["older"] = Count("id", filter=Q(received_at__lte=now - timedelta(days=40)))
    aggregates["total"] = Count("id")
    counted = open_cases.aggregate(**aggregates)
    ageing = [
        (label, counted[f"bucket{number}"] or 0) for number, (label, _s, _e) in enumerate(buckets)
    ]
    ageing.append((_("More than 40 days"), counted["older"] or 0))
    breaches = list(
        open_cases.filter(due_on__lt=today)
        .select_related("service", "assignee")
        .order_by("due_on", "id")[:50]
    )
    since = now - timedelta(weeks=weeks)
    throughput = [
        (row["week"].date() if isinstance(row["week"], datetime) else row["week"], row["total"])
        for row in Case.objects.filter(agency_id__in=agencies, closed_at__gte=since)
        .annotate(week=TruncWeek("closed_at"))
        .values("week")
        .annotate(total=Count("id"))
        .order_by("week")
    ]
    return SupervisorFigures(
        workload=workload,
        ageing=ageing,
        breaches=breaches,
        throughput=throughput,
        open_total=counted["total"] or 0,
    )


def automation_rules_for(*, service: Any) -> QuerySet[AutomationRule]:
    """Return a service's automation rules in the order they run."""
    return AutomationRule.objects.filter(service=service).order_by("position", "created_at")


def case_settings_for(*, service: Any) -> CaseSettings | None:
    """Return a service's case settings, if it has any yet."""
    return CaseSettings.objects.filter(service=service).first()


def process_versions_for(*, service: Any) -> QuerySet[ProcessVersion]:
    """Return a service's process versions, newest first."""
    return ProcessVersion.objects.filter(service=service).order_by("-number")


def case_for_application(*, application_id: Any) -> Case | None:
    """Return the case of an application, if one has been opened."""
    return Case.objects.filter(application_id=application_id).first()


# --- For the back-office pages (added with the case pages) ----------------------------------


@dataclass(frozen=True)
class CaseChoices:
    """The choices the case pages offer, labelled for people (lazy, in the page's language)."""

    statuses: list[tuple[str, Any]]
    priorities: list[tuple[int, Any]]
    nations: list[tuple[str, Any]]
    rule_actions: list[tuple[str, Any]]
    operators: list[tuple[str, Any]]
    operators_without_value: frozenset[str]


def case_choices() -> CaseChoices:
    """Return the statuses, priorities, nations, rule actions and rule operators to offer."""
    return CaseChoices(
        statuses=[(value, label) for value, label in CaseStatus.choices],
        priorities=[(int(value), label) for value, label in Priority.choices],
        nations=[(value, label) for value, label in Nation.choices],
        rule_actions=[(value, label) for value, label in RuleAction.choices],
        operators=list(OPERATORS.items()),
        operators_without_value=frozenset({"present", "absent"}),
    )


def case_roles_by_agency(*, user: Any) -> dict[Any, set[str]]:
    """Return the case roles ``user`` holds, by agency id (for showing the right actions)."""
    return {
        agency_id: roles & CASE_ROLES
        for agency_id, roles in staff_roles_by_agency(user=user).items()
        if roles & CASE_ROLES
    }


def roles_may_supervise(roles: set[str]) -> bool:
    """Return whether these roles may supervise cases (assign, approve, set priority)."""
    return bool(roles & SUPERVISOR_ROLES)


def roles_may_configure(roles: set[str]) -> bool:
    """Return whether these roles may change a service's case settings, rules and process."""
    return bool(roles & SETTINGS_ROLES)


def caseworkers_for(*, agency_ids: list[Any]) -> list[Any]:
    """Return the staff cases of these agencies can be given to (caseworkers, supervisors)."""
    people: dict[Any, Any] = {}
    for agency_id in agency_ids:
        for person in staff_with_roles(
            agency_id=agency_id, roles=[Role.CASEWORKER, Role.SUPERVISOR]
        ):
            people.setdefault(person.pk, person)
    return sorted(people.values(), key=lambda p: ((p.full_name or "").lower(), p.email))


def working_days_left(*, due_on: date, nation: str, today: date | None = None) -> int:
    """Return the working days from today until ``due_on`` (negative when overdue)."""
    return working_days_between(today or timezone.localdate(), due_on, nation=nation)
