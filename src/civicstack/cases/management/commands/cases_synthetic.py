"""``civicstack cases_synthetic --count N``: synthetic cases for benchmarks, never production.

Adds ``N`` cases (``CASE-SYN-0000001`` onwards, continuing after any made before) to the
agencies that have caseworkers or supervisors (by default; ``--agency-slug`` names
others), spread over each agency's published services. Each case has a random application
id that belongs to no application, an applicant who is not a user, answers, its timeline
(``--entries-per-case``), its open work item and the workflow state a real run of the
service's published process leaves (the default process is published first for a service
without one, as opening a real case does). About 5% are closed (decided, with a decision,
or withdrawn); the open ones are new (unassigned), in progress, waiting for the applicant
or awaiting approval, as each process allows, and are assigned to the agency's
caseworkers and supervisors. Received dates fall mostly in the last few weeks, so some
cases are overdue (breached and escalated to high priority, as the service level check
does) and some are nearly due.

The rows are written in batches of 5,000 cases without the model layer, on writer threads
(a connection each) while the next batch is generated: PostgreSQL ``COPY`` by default
there (``--method copy``; as a superuser the foreign key triggers are skipped for these
transactions), one multi-row ``INSERT`` per batch elsewhere (``insert``);
``--method bulk-create`` goes through ``bulk_create`` for comparison (measured in
docs/performance.md). Synthetic cases cannot be claimed or decided, since their
applications do not exist: decide cases opened from real applications.
"""

from __future__ import annotations

import contextlib
import json
import queue
import random
import threading
import time
import uuid
from argparse import ArgumentParser
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, models, transaction
from django.utils import timezone

from civicstack.accounts.constants import Role
from civicstack.accounts.selectors import agency_list, staff_with_roles
from civicstack.cases import services, sla, workflow
from civicstack.cases.constants import LANE_APPLICANT, LANE_CASEWORKER, TASK_APPROVE
from civicstack.cases.models import (
    Case,
    CaseEntry,
    CaseStatus,
    Decision,
    DecisionStatus,
    EntryKind,
    Priority,
    ProcessVersion,
    WorkItem,
    WorkItemStatus,
)
from civicstack.catalogue.selectors import service_list
from civicstack.core.audit import audit_event_record
from civicstack.core.errors import CivicstackError

REFERENCE_PREFIX = "CASE-SYN-"
APPLICATION_PREFIX = "APP-SYN-"
METHODS = ("auto", "copy", "insert", "bulk-create")
BATCH_CASES = 5_000
PROGRESS_EVERY = 100_000
CLOSED_SHARE = 0.05
# Of the open cases; statuses a process cannot reach fall back to "in progress".
OPEN_MIX = (
    (CaseStatus.NEW, 0.40),
    (CaseStatus.IN_PROGRESS, 0.40),
    (CaseStatus.WAITING_APPLICANT, 0.12),
    (CaseStatus.AWAITING_APPROVAL, 0.08),
)
PRIORITY_MIX = ((Priority.HIGH, 0.10), (Priority.NORMAL, 0.80), (Priority.LOW, 0.10))
MEAN_AGE_DAYS = 12.0
MAX_AGE_DAYS = 365.0

_FIRST_NAMES = ("Alys", "Cai", "Ffion", "Owain", "Rhys", "Amelia", "Noah", "Isla", "George")
_LAST_NAMES = ("Jones", "Williams", "Davies", "Evans", "Hughes", "Morgan", "Smith", "Patel")
_STREETS = ("High Street", "Church Road", "Station Road", "Heol y Bont", "Mill Lane")
_TOWNS = ("Aberhafren", "Kingsbridge", "Northmoor", "Llanfair", "Westford")
_NOTES = (
    "Checked the applicant's details against the register.",
    "Called the applicant to confirm their address.",
    "Evidence looks complete; ready to decide.",
    "Waiting on a reply from the other team before deciding.",
    "Second look requested by the supervisor.",
)


class SyntheticRefused(CommandError):
    """Synthetic cases are never made in production."""


@dataclass(frozen=True)
class _Flow:
    """One place a synthetic case can be in its process, with the state a real run left."""

    status: str
    waiting_on: str
    current_task: str
    state: str  # the dumped workflow state, as JSON text
    task: workflow.UserTaskRef | None
    next_timer_at: datetime | None


@dataclass
class _ServicePlan:
    """What every synthetic case of one service shares."""

    service_id: Any
    agency_id: Any
    agency_slug: str
    slug: str
    process_id: Any
    process_label: str
    target_working_days: int
    nation: str
    outcomes: list[dict[str, str]]
    flows: dict[str, _Flow]
    steps: list[dict[str, Any]]  # the automated steps at the start, for the timeline
    staff: list[tuple[Any, str, str]]  # (user id, name, name as JSON) of the assignees
    process_json: str = ""
    step_openings: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.process_json = _dumps(self.process_label)
        # Each automated step's data as JSON without its closing brace, for the inputs.
        self.step_openings = [
            (str(step["name"]), _dumps({k: v for k, v in step.items() if k != "name"})[:-1])
            for step in self.steps
        ]


@dataclass
class SyntheticReport:
    """What ``cases_synthetic_generate`` wrote and how long it took."""

    cases: int = 0
    closed: int = 0
    entries: int = 0
    work_items: int = 0
    decisions: int = 0
    first_reference: str = ""
    last_reference: str = ""
    method: str = ""
    seconds: float = 0.0
    by_agency: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# --- Processes ---------------------------------------------------------------------------------


def _automations(automation_id: str, data: dict[str, Any]) -> dict[str, Any]:
    # What the automations find for an application with no files and no passing rules: the
    # case goes to a person, as most do.
    if automation_id == "checks.documents_present":
        return {"documents_present": True, "documents_count": 0, "documents_missing": 0}
    if automation_id == "rules.evaluate":
        return {"auto_approved": False, "rule_findings": []}
    return {}


def _flow(
    instance: workflow.ProcessInstance, status: str, *, open_case: bool = True
) -> _Flow | None:
    ready = instance.ready_user_tasks()
    if open_case and not ready:
        return None
    task = ready[0] if ready and open_case else None
    return _Flow(
        status=status,
        waiting_on=(task.lane or LANE_CASEWORKER) if task else "",
        current_task=task.element_id if task else "",
        state=json.dumps(instance.dump(), separators=(",", ":")),
        task=task,
        next_timer_at=instance.next_timer_at() if task else None,
    )


def _process_flows(
    process: ProcessVersion, slug: str, now: datetime, notes: list[str]
) -> tuple[dict[str, _Flow], list[dict[str, Any]]]:
    """Run the process as the engine does and keep the state at each place a case waits."""

    def started() -> tuple[workflow.ProcessInstance, list[workflow.StepRecord]]:
        instance = workflow.ProcessInstance.start(xml=process.xml, data={"service": slug})
        return instance, instance.advance(automations=_automations, now=now)

    def then(
        instance: workflow.ProcessInstance, data: dict[str, Any]
    ) -> workflow.ProcessInstance | None:
        ready = instance.ready_user_tasks()
        if not ready:
            return None
        instance.complete(task_id=ready[0].task_id, data=data)
        instance.advance(automations=_automations, now=now)
        return instance

    instance, steps = started()
    first = _flow(instance, CaseStatus.NEW)
    if first is None:
        raise CommandError(f"the process of {slug} does not stop at a user task")
    flows: dict[str, _Flow] = {
        CaseStatus.NEW: first,
        CaseStatus.IN_PROGRESS: replace(first, status=CaseStatus.IN_PROGRESS),
        CaseStatus.WITHDRAWN: replace(first, status=CaseStatus.WITHDRAWN, task=None),
    }
    try:
        # What case_information_request gives the process: the timers read the periods.
        asked = then(
            started()[0],
            {
                "action": "request_information",
                "information_period": "P10D",
                "reminder_period": "P8D",
            },
        )
        waiting = _flow(asked, CaseStatus.WAITING_APPLICANT) if asked else None
        if waiting is not None and waiting.waiting_on == LANE_APPLICANT:
            flows[CaseStatus.WAITING_APPLICANT] = waiting
        decided = then(started()[0], {"action": "decide", "outcome": "approved"})
        if decided is not None and not decided.is_completed:
            approval = _flow(decided, CaseStatus.AWAITING_APPROVAL)
            if approval is not None and approval.current_task == TASK_APPROVE:
                flows[CaseStatus.AWAITING_APPROVAL] = approval
            decided = then(decided, {"approval": "approved"})
        if decided is not None and decided.is_completed:
            closed = _flow(decided, CaseStatus.DECIDED, open_case=False)
            if closed is not None:
                flows[CaseStatus.DECIDED] = closed
    except (CivicstackError, ValueError) as error:
        # A service's own process may need data these runs do not give it; its cases then
        # stay at the places reached so far.
        notes.append(f"{slug}: {error}")
    recorded = [
        {
            "element": step.element_id,
            "automation": step.automation_id or "",
            "kind": step.kind,
            "name": step.name or step.element_id,
            "result": step.result or {},
        }
        for step in steps
        if step.automation_id or step.kind == "timer"
    ]
    return flows, recorded


def _plans(agency_slugs: Sequence[str], now: datetime, notes: list[str]) -> list[_ServicePlan]:
    """Return one plan per published service of the chosen agencies (defaults: staffed ones)."""
    roles = [Role.CASEWORKER, Role.SUPERVISOR]
    agencies = list(agency_list().order_by("slug"))
    if agency_slugs:
        known = {agency.slug: agency for agency in agencies}
        missing = sorted(set(agency_slugs) - set(known))
        if missing:
            raise CommandError(f"no agency with the slug {', '.join(missing)}")
        agencies = [known[slug] for slug in agency_slugs]
    else:
        agencies = [a for a in agencies if staff_with_roles(agency_id=a.pk, roles=roles).exists()]
        if not agencies:
            raise CommandError("no agency has caseworkers: run civicstack demo load first")
    plans = []
    for agency in agencies:
        staff = [
            (person.pk, name, _dumps(name))
            for person in staff_with_roles(agency_id=agency.pk, roles=roles)
            for name in [person.full_name or person.email]
        ]
        chosen = list(service_list().filter(agency=agency).order_by("slug"))
        if not chosen:
            raise CommandError(f"{agency.slug} has no published service")
        for service in chosen:
            with transaction.atomic():
                # The same helpers that open real cases: settings with the default
                # outcomes, and the default process published if there is none.
                case_settings = services._settings_for(service.pk)
                process = services._published_process(service.pk, case_settings.four_eyes)
            flows, steps = _process_flows(process, service.slug, now, notes)
            plans.append(
                _ServicePlan(
                    service_id=service.pk,
                    agency_id=agency.pk,
                    agency_slug=agency.slug,
                    slug=service.slug,
                    process_id=process.pk,
                    process_label=f"{process.name} v{process.number}",
                    target_working_days=case_settings.target_working_days,
                    nation=case_settings.nation,
                    outcomes=list(case_settings.outcomes),
                    flows=flows,
                    steps=steps,
                    staff=staff,
                )
            )
    return plans


# --- Rows ------------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _due_on(received: date, target: int, nation: str) -> date:
    return sla.working_days_add(received, target, nation=nation)


def _pick[T](rng: random.Random, mix: Sequence[tuple[T, float]]) -> T:
    roll = rng.random()
    for value, share in mix:
        roll -= share
        if roll < 0:
            return value
    return mix[-1][0]


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@dataclass
class _Rows:
    """The rows of one batch, by model, as dicts keyed by attribute name."""

    cases: list[dict[str, Any]] = field(default_factory=list)
    entries: list[dict[str, Any]] = field(default_factory=list)
    work_items: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)


_UUID_CLEAR = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)
_UUID_V4 = (0x4000 << 64) | (0x8000 << 48)


class _Generator:
    """Makes the rows of synthetic case number ``n``, deterministically for a seed."""

    def __init__(
        self, *, plans: list[_ServicePlan], entries_per_case: int, seed: int, now: datetime
    ) -> None:
        self.plans = plans
        self.entries_per_case = entries_per_case
        self.rng = random.Random(seed)
        self.now = now
        self.zone = timezone.get_current_timezone()
        self.today = now.astimezone(self.zone).date()
        self.warning_days = int(getattr(settings, "CASES_SLA_WARNING_DAYS", 2))

    def new_id(self) -> str:
        # A version 4 UUID as 32 hex digits, which every backend reads (and SQLite stores):
        # building UUID objects was a sixth of the generating time.
        bits = self.rng.getrandbits(128) & _UUID_CLEAR | _UUID_V4
        return f"{bits:032x}"

    def case(self, number: int, rows: _Rows) -> str:
        """Add the rows of one case to ``rows``; return its status."""
        rng = self.rng
        plan = rng.choice(self.plans)
        closed = rng.random() < CLOSED_SHARE
        status: str = (
            (CaseStatus.DECIDED if rng.random() < 0.9 else CaseStatus.WITHDRAWN)
            if closed
            else _pick(rng, OPEN_MIX)
        )
        flow = plan.flows.get(status)
        if flow is None:
            flow = plan.flows[CaseStatus.IN_PROGRESS if not closed else CaseStatus.WITHDRAWN]
            status = flow.status
        age = min(rng.expovariate(1 / MEAN_AGE_DAYS), MAX_AGE_DAYS)
        if closed:
            age += rng.uniform(5, 40)
        received_at = self.now - timedelta(days=age)
        received_day = received_at.astimezone(self.zone).date()
        due_on = _due_on(received_day, plan.target_working_days, plan.nation)
        assignee = None
        if status != CaseStatus.NEW and plan.staff:
            assignee = rng.choice(plan.staff)
        priority = _pick(rng, PRIORITY_MIX)
        breached_at = warned_at = None
        if not closed and due_on < self.today:
            breached_at = datetime.combine(due_on + timedelta(days=1), datetime.min.time(), UTC)
            priority = Priority.HIGH
        if not closed and due_on <= self.today + timedelta(days=self.warning_days):
            warned_at = datetime.combine(
                due_on - timedelta(days=self.warning_days), datetime.min.time(), UTC
            )
        closed_at = None
        if closed:
            closed_at = min(received_at + timedelta(days=rng.uniform(1, 30)), self.now)
        first = rng.choice(_FIRST_NAMES)
        last = rng.choice(_LAST_NAMES)
        name = f"{first} {last}"
        email = f"{first.lower()}.{last.lower()}{number}@example.org"
        answers = {
            "full_name": name,
            "email": email,
            "date_of_birth": date(1940 + rng.randrange(65), 1 + rng.randrange(12), 1).isoformat(),
            "address": {
                "line1": f"{rng.randrange(1, 200)} {rng.choice(_STREETS)}",
                "town": rng.choice(_TOWNS),
                "postcode": f"AB{rng.randrange(1, 99)} {rng.randrange(1, 9)}CD",
            },
            "household_size": rng.randrange(1, 7),
            "reason": "Synthetic application for benchmarks.",
        }
        case_id = self.new_id()
        application_reference = f"{APPLICATION_PREFIX}{number:07d}"
        language = "cy" if rng.random() < 0.1 else "en"
        outcome = ""
        if status == CaseStatus.DECIDED:
            outcome = str(rng.choice(plan.outcomes)["value"]) if plan.outcomes else "approved"
        entries = self._entries(
            case_id=case_id,
            plan=plan,
            status=status,
            assignee=assignee,
            received_at=received_at,
            closed_at=closed_at,
            due_on=due_on,
            application_reference=application_reference,
            outcome=outcome,
        )
        rows.entries.extend(entries)
        updated_at = max(entry["created_at"] for entry in entries)
        rows.cases.append(
            {
                "id": case_id,
                "created_at": received_at,
                "updated_at": updated_at,
                "reference": f"{REFERENCE_PREFIX}{number:07d}",
                "service_id": plan.service_id,
                "agency_id": plan.agency_id,
                "application_id": self.new_id(),
                "application_reference": application_reference,
                "applicant_id": None,
                "applicant_name": name,
                "applicant_email": email,
                "representative": "",
                "language": language,
                "answers": _dumps(answers),
                "status": status,
                "priority": int(priority),
                "assignee_id": assignee[0] if assignee else None,
                "waiting_on": "" if closed else flow.waiting_on,
                "current_task": "" if closed else flow.current_task,
                "process_version_id": plan.process_id,
                "workflow_state": flow.state,
                "next_timer_at": None if closed else flow.next_timer_at,
                "received_at": received_at,
                "due_on": due_on,
                "warned_at": warned_at,
                "breached_at": breached_at,
                "closed_at": closed_at,
                "outcome": outcome,
                "version": 1 + len(entries),
            }
        )
        if flow.task is not None and not closed:
            rows.work_items.append(
                {
                    "id": self.new_id(),
                    "created_at": updated_at,
                    "updated_at": updated_at,
                    "case_id": case_id,
                    "task_id": flow.task.task_id,
                    "element_id": flow.task.element_id,
                    "name": flow.task.name or flow.task.element_id,
                    "lane": flow.task.lane or LANE_CASEWORKER,
                    "status": WorkItemStatus.OPEN,
                    "completed_by_id": None,
                    "completed_at": None,
                }
            )
        if status == CaseStatus.DECIDED and closed_at is not None:
            chosen = next((o for o in plan.outcomes if o.get("value") == outcome), {})
            rows.decisions.append(
                {
                    "id": self.new_id(),
                    "created_at": closed_at,
                    "updated_at": closed_at,
                    "case_id": case_id,
                    "outcome": outcome,
                    "outcome_kind": chosen.get("kind", "approve"),
                    "reasons": "The application meets the conditions of the scheme.",
                    "status": DecisionStatus.FINAL,
                    "decided_by_id": assignee[0] if assignee else None,
                    "automated": False,
                    "rule_findings": "[]",
                    "reviewed_by_id": None,
                    "review_note": "",
                    "decided_at": closed_at,
                    "letter_id": None,
                }
            )
        return status

    def _entries(
        self,
        *,
        case_id: str,
        plan: _ServicePlan,
        status: str,
        assignee: tuple[Any, str, str] | None,
        received_at: datetime,
        closed_at: datetime | None,
        due_on: date,
        application_reference: str,
        outcome: str,
    ) -> list[dict[str, Any]]:
        """Return the case's timeline: what a real case of this status would have had."""
        rng = self.rng
        actor = assignee[0] if assignee else None
        lines: list[tuple[str, Any, str, str, str]] = [
            (
                EntryKind.CREATED,
                None,
                CaseStatus.NEW,
                "",
                # JSON put together from pieces dumped once per service: dumping every
                # entry's data was a quarter of the generating time. The references are
                # plain ASCII made here.
                f'{{"application":"{application_reference}","process":{plan.process_json},'
                f'"due_on":"{due_on.isoformat()}"}}',
            )
        ]
        for name, opening in plan.step_openings:
            lines.append(
                (
                    EntryKind.AUTOMATION,
                    None,
                    "",
                    name,
                    f'{opening},"inputs":{{"application":"{application_reference}"}}}}',
                )
            )
        if assignee is not None:
            lines.append(
                (
                    EntryKind.ASSIGNED,
                    actor,
                    "",
                    "",
                    f'{{"assignee":"{actor}","name":{assignee[2]}}}',
                )
            )
            lines.append((EntryKind.STATUS, actor, CaseStatus.IN_PROGRESS, "", "{}"))
        tail: list[tuple[str, Any, str, str, str]] = []
        if status == CaseStatus.WAITING_APPLICANT:
            tail.append(
                (
                    EntryKind.INFORMATION_REQUESTED,
                    actor,
                    "",
                    "Please send a recent proof of address.",
                    _dumps({"due_on": (due_on - timedelta(days=5)).isoformat()}),
                )
            )
            tail.append((EntryKind.STATUS, None, CaseStatus.WAITING_APPLICANT, "", "{}"))
        elif status == CaseStatus.AWAITING_APPROVAL:
            tail.append(
                (
                    EntryKind.DECISION_PROPOSED,
                    actor,
                    "",
                    "The application meets the conditions of the scheme.",
                    _dumps({"outcome": "approved"}),
                )
            )
            tail.append((EntryKind.STATUS, actor, CaseStatus.AWAITING_APPROVAL, "", "{}"))
        elif status == CaseStatus.DECIDED:
            tail.append(
                (
                    EntryKind.DECIDED,
                    actor,
                    CaseStatus.DECIDED,
                    "The application meets the conditions of the scheme.",
                    _dumps({"outcome": outcome, "automated": False}),
                )
            )
        elif status == CaseStatus.WITHDRAWN:
            tail.append((EntryKind.WITHDRAWN, None, CaseStatus.WITHDRAWN, "", "{}"))
        wanted = self.entries_per_case
        while len(lines) + len(tail) < wanted:
            lines.append((EntryKind.NOTE, actor, "", rng.choice(_NOTES), "{}"))
        chosen = (lines + tail)[:wanted] if wanted >= 1 else lines[:1]
        # The opening and the automated steps come within seconds of arrival; what people
        # did is spread over the time since.
        automatic = 1 + len(plan.steps)
        end = closed_at or self.now
        span = max((end - received_at).total_seconds() - automatic, 1.0)
        step_seconds = span / (max(len(chosen) - automatic, 0) + 1)
        entries = []
        for index, (kind, who, entry_status, text, data) in enumerate(chosen):
            later = max(index - automatic + 1, 0)
            at = received_at + timedelta(seconds=min(index, automatic) + later * step_seconds)
            entries.append(
                {
                    "id": self.new_id(),
                    "created_at": at,
                    "updated_at": at,
                    "case_id": case_id,
                    "kind": kind,
                    "actor_id": who,
                    "status": entry_status,
                    "text": text,
                    "data": data,
                }
            )
        return entries


# --- Writing ---------------------------------------------------------------------------------


def _columns(model: type[models.Model]) -> list[tuple[str, str, Any]]:
    """Return (attribute, column, default) for each concrete field of ``model``.

    Fields the generator does not fill (added to the model later) get their default.
    """
    found = []
    for model_field in model._meta.concrete_fields:
        default = model_field.get_default() if model_field.has_default() else None
        if isinstance(model_field, models.JSONField) and not isinstance(default, str | None):
            default = _dumps(default)
        found.append((model_field.attname, str(model_field.column), default))
    return found


class _Writer:
    """Writes batches of rows, by ``COPY``, multi-row ``INSERT`` or ``bulk_create``."""

    def __init__(self, method: str) -> None:
        self.method = method
        self.columns: dict[type[models.Model], list[tuple[str, str, Any]]] = {
            m: _columns(m) for m in (Case, CaseEntry, WorkItem, Decision)
        }
        self.native_uuid = connection.features.has_native_uuid_field
        self.adapt_date = connection.ops.adapt_datefield_value
        self.adapt_datetime: Callable[[datetime], Any] = connection.ops.adapt_datetimefield_value
        if connection.vendor == "sqlite" and settings.USE_TZ:
            zone = connection.timezone

            def naive_text(value: datetime) -> str:
                # What the SQLite backend's adapter does (naive text in the connection's
                # zone), without its per-call lookups: a third of the writing time otherwise.
                return str(value.astimezone(zone).replace(tzinfo=None))

            self.adapt_datetime = naive_text

    def write(self, model: type[models.Model], rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        columns = self.columns[model]
        tuples = [tuple(row.get(name, default) for name, _c, default in columns) for row in rows]
        table = connection.ops.quote_name(model._meta.db_table)
        names = ", ".join(connection.ops.quote_name(column) for _n, column, _d in columns)
        if self.method == "copy":
            with connection.cursor() as cursor:
                raw: Any = cursor.cursor
                with raw.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                    for values in tuples:
                        copy.write_row(values)
        elif self.method == "insert":
            self._insert(table, names, len(columns), tuples)
        else:
            self._bulk_create(model, columns, tuples)

    def _adapt(self, value: Any) -> Any:
        kind = type(value)
        if kind is uuid.UUID:
            return value if self.native_uuid else value.hex
        if kind is datetime:
            return self.adapt_datetime(value)
        if kind is date:
            return self.adapt_date(value)
        return value

    def _insert(self, table: str, names: str, width: int, tuples: list[tuple[Any, ...]]) -> None:
        # As many rows per statement as the backend takes parameters.
        limit = connection.features.max_query_params or 65_535
        per_statement = max(1, min(1000, limit // width))
        row_sql = "(" + ", ".join(["%s"] * width) + ")"
        with connection.cursor() as cursor:
            for start in range(0, len(tuples), per_statement):
                chunk = tuples[start : start + per_statement]
                params = [self._adapt(value) for values in chunk for value in values]
                # Table and column names come from the models, never from input.
                values_sql = ", ".join([row_sql] * len(chunk))
                sql = f"INSERT INTO {table} ({names}) VALUES {values_sql}"  # noqa: S608
                cursor.execute(sql, params)

    def _bulk_create(
        self,
        model: type[models.Model],
        columns: list[tuple[str, str, Any]],
        tuples: list[tuple[Any, ...]],
    ) -> None:
        json_fields = {
            f.attname for f in model._meta.concrete_fields if isinstance(f, models.JSONField)
        }
        parsed: dict[str, Any] = {}
        objects = []
        for values in tuples:
            kwargs = {}
            for (name, _column, _default), value in zip(columns, values, strict=True):
                if name in json_fields and isinstance(value, str):
                    if value not in parsed:
                        parsed[value] = json.loads(value)
                    value = parsed[value]
                kwargs[name] = value
            objects.append(model(**kwargs))
            if len(parsed) > 64:
                parsed.clear()
        # auto_now and auto_now_add would overwrite the generated times.
        with _timestamps_kept(model):
            model._default_manager.bulk_create(objects, batch_size=1000)


@contextlib.contextmanager
def _timestamps_kept(model: type[models.Model]) -> Iterator[None]:
    """Let ``bulk_create`` keep the generated created_at/updated_at (auto_now sets them)."""
    saved = [
        (f, f.auto_now, f.auto_now_add)
        for f in model._meta.concrete_fields
        if isinstance(f, models.DateTimeField) and (f.auto_now or f.auto_now_add)
    ]
    for f, _auto_now, _auto_now_add in saved:
        f.auto_now = f.auto_now_add = False
    try:
        yield
    finally:
        for f, auto_now, auto_now_add in saved:
            f.auto_now, f.auto_now_add = auto_now, auto_now_add


class _BackgroundWriter:
    """Writes batches on threads of their own (a connection each), one transaction each.

    The database parses, compresses and indexes batches while the next ones are
    generated, so a load takes about the longer of the two instead of their sum; on
    PostgreSQL two writers keep a server process busy on each core.
    """

    def __init__(self, writer: _Writer, *, threads: int, skip_foreign_key_checks: bool) -> None:
        self.writer = writer
        self.skip_foreign_key_checks = skip_foreign_key_checks
        self.batches: queue.Queue[_Rows | None] = queue.Queue(maxsize=threads + 1)
        self.error: BaseException | None = None
        self.threads = [
            threading.Thread(target=self._run, name=f"cases-synthetic-writer-{number}")
            for number in range(threads)
        ]
        for thread in self.threads:
            thread.start()

    def _run(self) -> None:
        try:
            while (rows := self.batches.get()) is not None:
                if self.error is None:
                    try:
                        _write_batch(
                            self.writer, rows, skip_foreign_key_checks=self.skip_foreign_key_checks
                        )
                    except BaseException as error:  # handed to the generating thread
                        self.error = error
        finally:
            connection.close()

    def put(self, rows: _Rows) -> None:
        if self.error is not None:
            raise self.error
        self.batches.put(rows)

    def close(self) -> None:
        for _thread in self.threads:
            self.batches.put(None)
        for thread in self.threads:
            thread.join()
        if self.error is not None:
            raise self.error


def _foreign_key_checks_skippable() -> bool:
    """Return whether this PostgreSQL session may skip foreign key triggers (superuser)."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SHOW is_superuser")
        row = cursor.fetchone()
    return bool(row and row[0] == "on")


def _write_batch(writer: _Writer, rows: _Rows, *, skip_foreign_key_checks: bool) -> None:
    with transaction.atomic():
        if skip_foreign_key_checks:
            # Every reference is to a row just read (services, processes, staff) or just
            # written in this transaction, so the per-row checks only cost time: about a
            # fifth of a load. Replica mode skips them, for this transaction only.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL session_replication_role = replica")
        writer.write(Case, rows.cases)
        writer.write(CaseEntry, rows.entries)
        writer.write(WorkItem, rows.work_items)
        writer.write(Decision, rows.decisions)


def _next_number() -> int:
    last = (
        Case.objects.filter(reference__startswith=REFERENCE_PREFIX)
        .order_by("-reference")
        .values_list("reference", flat=True)
        .first()
    )
    return int(last.removeprefix(REFERENCE_PREFIX)) + 1 if last else 1


def _analyze() -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for model in (Case, CaseEntry, WorkItem, Decision):
                cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
        else:
            cursor.execute("ANALYZE")


def cases_synthetic_generate(
    *,
    count: int,
    agency_slugs: Sequence[str] = (),
    entries_per_case: int = 4,
    seed: int = 20261128,
    method: str = "auto",
    analyze: bool = True,
    progress: Callable[[str], None] | None = None,
) -> SyntheticReport:
    """Add ``count`` synthetic cases for benchmarks and demos; refuse in production.

    ``analyze`` refreshes the planner's statistics afterwards (leave it on for a big load).
    """
    if settings.PRODUCTION:
        raise SyntheticRefused("Synthetic cases are never made in production.")
    if count < 0 or not 1 <= entries_per_case <= 1000:
        raise CommandError("--count must be 0 or more and --entries-per-case 1 to 1000")
    if method == "auto":
        method = "copy" if connection.vendor == "postgresql" else "insert"
    if method == "copy" and connection.vendor != "postgresql":
        raise CommandError("--method copy needs PostgreSQL")
    started = time.monotonic()
    now = timezone.now()
    services.cases_demo_load()
    notes: list[str] = []
    plans = _plans(agency_slugs, now, notes)
    first = _next_number()
    generator = _Generator(
        plans=plans, entries_per_case=entries_per_case, seed=seed + first, now=now
    )
    writer = _Writer(method)
    agency_slugs_by_id = {p.agency_id: p.agency_slug for p in plans}
    report = SyntheticReport(method=method, notes=notes)
    by_agency: dict[Any, int] = {}
    reported = 0
    # Inside a caller's transaction (tests) or on an in-memory database another connection
    # would not see the services and people: write on this thread then.
    in_memory = getattr(connection, "is_in_memory_db", lambda: False)()
    alone = connection.in_atomic_block or in_memory
    skip = method == "copy" and _foreign_key_checks_skippable()
    background = None
    if not alone:
        # SQLite has one writer at a time whatever the threads; bulk_create's way of
        # keeping the generated times changes the model's fields, for one thread only.
        threads = 2 if connection.vendor == "postgresql" and method != "bulk-create" else 1
        background = _BackgroundWriter(writer, threads=threads, skip_foreign_key_checks=skip)
    try:
        for start in range(first, first + count, BATCH_CASES):
            stop = min(start + BATCH_CASES, first + count)
            rows = _Rows()
            for number in range(start, stop):
                status = generator.case(number, rows)
                report.closed += status in (CaseStatus.DECIDED, CaseStatus.WITHDRAWN)
            if background is not None:
                background.put(rows)
            else:
                _write_batch(writer, rows, skip_foreign_key_checks=skip)
            for row in rows.cases:
                by_agency[row["agency_id"]] = by_agency.get(row["agency_id"], 0) + 1
            report.cases += len(rows.cases)
            report.entries += len(rows.entries)
            report.work_items += len(rows.work_items)
            report.decisions += len(rows.decisions)
            if progress is not None and report.cases - reported >= PROGRESS_EVERY:
                reported = report.cases
                elapsed = time.monotonic() - started
                progress(f"{report.cases:,} cases generated in {elapsed:.0f} s")
    finally:
        if background is not None:
            background.close()
    if count:
        report.first_reference = f"{REFERENCE_PREFIX}{first:07d}"
        report.last_reference = f"{REFERENCE_PREFIX}{first + count - 1:07d}"
        with transaction.atomic():
            audit_event_record(
                action="cases.synthetic_generated",
                actor=None,
                reason="benchmark data",
                data={
                    "count": count,
                    "first": report.first_reference,
                    "entries_per_case": entries_per_case,
                    "seed": seed,
                },
            )
        if analyze:
            _analyze()
    report.by_agency = {agency_slugs_by_id[agency_id]: n for agency_id, n in by_agency.items()}
    report.seconds = time.monotonic() - started
    return report


class Command(BaseCommand):
    help = "Add N synthetic cases to the agencies with caseworkers (benchmarks; never production)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--count", type=int, required=True, help="how many cases to add")
        parser.add_argument(
            "--agency-slug",
            action="append",
            default=[],
            help="an agency to add cases to (repeat for several; default: every agency "
            "with caseworkers or supervisors)",
        )
        parser.add_argument(
            "--entries-per-case", type=int, default=4, help="timeline entries per case"
        )
        parser.add_argument("--seed", type=int, default=20261128)
        parser.add_argument(
            "--method",
            choices=METHODS,
            default="auto",
            help="copy (PostgreSQL), insert (multi-row INSERT) or bulk-create; auto picks "
            "copy on PostgreSQL and insert elsewhere",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise SyntheticRefused("Synthetic cases are never made in production.")
        report = cases_synthetic_generate(
            count=options["count"],
            agency_slugs=options["agency_slug"],
            entries_per_case=options["entries_per_case"],
            seed=options["seed"],
            method=options["method"],
            progress=lambda line: self.stdout.write(f"  {line}"),
        )
        rate = report.cases / report.seconds if report.seconds else 0.0
        self.stdout.write(
            f"synthetic cases created: {report.cases:,} ({report.first_reference} to "
            f"{report.last_reference}; {report.closed:,} closed), {report.entries:,} timeline "
            f"entries, {report.work_items:,} work items, {report.decisions:,} decisions; "
            f"method {report.method}; {report.seconds:.1f} s ({rate:,.0f} cases/s); by agency: "
            + ", ".join(f"{slug} {n:,}" for slug, n in sorted(report.by_agency.items()))
        )
        for note in report.notes:
            self.stdout.write(f"  some statuses were left out: {note}")
