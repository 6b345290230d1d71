"""Writes on cases: opening them from applications, working them, and deciding them.

Each service checks permission, does its work in one transaction with the case row locked,
records what happened on the case timeline and in the audit log, and moves the case's BPMN
process along. The process state is stored on the case, so any worker can pick it up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _gettext
from django.utils.translation import gettext_lazy as _

from civicstack.accounts.selectors import staff_with_roles
from civicstack.cases import letters, rules, signing, sla, workflow
from civicstack.cases.access import (
    CASE_ROLES,
    SETTINGS_ROLES,
    SUPERVISOR_ROLES,
    require_case_role,
)
from civicstack.cases.automations import AutomationContext, automations
from civicstack.cases.constants import (
    APPLICATION_STATUS_FOR_OUTCOME,
    CASE_REFERENCE_PREFIX,
    DEFAULT_OUTCOMES,
    LANE_APPLICANT,
    LANE_CASEWORKER,
    LANE_SUPERVISOR,
    MAX_NOTE_LENGTH,
    MAX_REASONS_LENGTH,
    MIN_REASONS_LENGTH,
    TASK_APPROVE,
    TASK_ASSESS,
    TASK_AWAIT_INFORMATION,
)
from civicstack.cases.events import CaseDecided
from civicstack.cases.models import (
    AutomationRule,
    Case,
    CaseEntry,
    CaseLink,
    CaseSettings,
    CaseStatus,
    Decision,
    DecisionStatus,
    EntryKind,
    InformationRequest,
    Nation,
    ProcessStatus,
    ProcessVersion,
    RuleAction,
    WorkItem,
    WorkItemStatus,
)
from civicstack.core.audit import audit_event_record
from civicstack.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from civicstack.core.events import publish
from civicstack.core.mail import absolute_url, long_date
from civicstack.core.references import reference_next
from civicstack.documents.selectors import documents_for_holder
from civicstack.documents.services import document_issue, documents_attach
from civicstack.forms.selectors import application_for_case, applications_submitted_between
from civicstack.forms.services import application_progress
from civicstack.notify.services import notification_send, staff_notification_send

logger = logging.getLogger(__name__)
# The default processes shipped for services that have not published their own.
PROCESS_DIR = Path(__file__).resolve().parent / "processes"


class FieldErrors(ValidationFailed):
    """Input that cannot be used, with a message for each field."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(next(iter(errors.values())))
        self.errors = errors


# --- Settings and processes ----------------------------------------------------------------


def _settings_for(service_id: Any) -> CaseSettings:
    found = CaseSettings.objects.filter(service_id=service_id).first()
    if found is not None:
        return found
    created, _created = CaseSettings.objects.get_or_create(
        service_id=service_id,
        defaults={"outcomes": list(DEFAULT_OUTCOMES), "nation": settings.CASES_DEFAULT_NATION},
    )
    return created


def _require_service_role(*, user: Any, agency_id: Any, roles: frozenset[str]) -> None:
    from civicstack.accounts.selectors import staff_roles_by_agency

    if not staff_roles_by_agency(user=user).get(agency_id, set()) & roles:
        raise PermissionDenied()


def case_settings_update(
    *,
    service: Any,
    target_working_days: int,
    nation: str,
    four_eyes: bool,
    automation_enabled: bool,
    outcomes: Sequence[dict[str, str]] | None = None,
    actor: Any,
) -> CaseSettings:
    """Change how a service's cases are worked (service owners and agency admins)."""
    _require_service_role(user=actor, agency_id=service.agency_id, roles=SETTINGS_ROLES)
    errors: dict[str, str] = {}
    if not 1 <= target_working_days <= 365:
        errors["target_working_days"] = str(_("Enter a target between 1 and 365 working days."))
    if nation not in Nation.values:
        errors["nation"] = str(_("Choose the nation whose bank holidays apply."))
    clean_outcomes = None
    if outcomes is not None:
        clean_outcomes, outcome_error = _outcomes_check(outcomes)
        if outcome_error:
            errors["outcomes"] = outcome_error
    if errors:
        raise FieldErrors(errors)
    with transaction.atomic():
        case_settings = _settings_for(service.pk)
        case_settings.target_working_days = target_working_days
        case_settings.nation = nation
        case_settings.four_eyes = four_eyes
        case_settings.automation_enabled = automation_enabled
        if clean_outcomes is not None:
            case_settings.outcomes = clean_outcomes
        case_settings.save()
        if four_eyes:
            _approval_process_ensure(service.pk)
        audit_event_record(
            action="cases.settings_updated",
            actor=actor,
            obj=case_settings,
            data={
                "service": str(service.pk),
                "target_working_days": target_working_days,
                "nation": nation,
                "four_eyes": four_eyes,
                "automation_enabled": automation_enabled,
            },
        )
    return case_settings


def _outcomes_check(outcomes: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], str]:
    clean: list[dict[str, Any]] = []
    seen: set[str] = set()
    for outcome in outcomes:
        value = str(outcome.get("value", "")).strip()
        kind = str(outcome.get("kind", ""))
        label_en = str(outcome.get("label_en", "")).strip()
        label_cy = str(outcome.get("label_cy", "")).strip() or label_en
        if (
            not value
            or not value.replace("_", "").isalnum()
            or len(value) > 40
            or value in seen
            or kind not in ("approve", "refuse", "other")
            or not label_en
            or len(label_en) > 100
            or len(label_cy) > 100
        ):
            return [], str(
                _("Each outcome needs a unique name (letters, digits, _), a kind and a label.")
            )
        seen.add(value)
        entry: dict[str, Any] = {
            "value": value,
            "kind": kind,
            "label_en": label_en,
            "label_cy": label_cy,
        }
        valid_days = outcome.get("valid_days")
        if valid_days not in (None, ""):
            try:
                days = int(valid_days)
            except (TypeError, ValueError):
                days = 0
            if kind != "approve" or not 1 <= days <= 3650:
                return [], str(
                    _("A permit's validity is for approving outcomes, from 1 to 3,650 days.")
                )
            entry["valid_days"] = days
        clean.append(entry)
    if not any(o["kind"] == "approve" for o in clean) or not any(
        o["kind"] == "refuse" for o in clean
    ):
        return [], str(_("Keep at least one approving and one refusing outcome."))
    return clean, ""


def process_version_save(*, service: Any, xml: str, actor: Any) -> ProcessVersion:
    """Check a BPMN process and keep it as the service's draft process version."""
    _require_service_role(user=actor, agency_id=service.agency_id, roles=SETTINGS_ROLES)
    info = workflow.process_check(xml=xml, known_automations=set(automations))
    missing = [
        task for task in (TASK_ASSESS,) if task not in {t.element_id for t in info.user_tasks}
    ]
    if missing:
        raise workflow.ProcessInvalid(
            [_gettext("The process needs a user task with the id “assess”.")]
        )
    with transaction.atomic():
        versions = ProcessVersion.objects.select_for_update().filter(service=service)
        draft = versions.filter(status=ProcessStatus.DRAFT).first()
        if draft is None:
            last = versions.order_by("-number").values_list("number", flat=True).first() or 0
            draft = ProcessVersion(service=service, number=last + 1, status=ProcessStatus.DRAFT)
        draft.name = info.name or info.process_id
        draft.process_id = info.process_id
        draft.xml = xml if isinstance(xml, str) else xml.decode()
        draft.created_by = actor
        draft.save()
        audit_event_record(
            action="cases.process_saved",
            actor=actor,
            obj=draft,
            data={"service": str(service.pk), "number": draft.number},
        )
    return draft


def process_version_publish(*, version: ProcessVersion, actor: Any) -> ProcessVersion:
    """Publish a draft process; new cases use it, running cases stay on their version."""
    service = version.service
    _require_service_role(user=actor, agency_id=service.agency_id, roles=SETTINGS_ROLES)
    with transaction.atomic():
        locked = ProcessVersion.objects.select_for_update().get(pk=version.pk)
        if locked.status != ProcessStatus.DRAFT:
            raise Conflict(_("Only a draft process can be published."))
        ProcessVersion.objects.filter(service=service, status=ProcessStatus.PUBLISHED).update(
            status=ProcessStatus.SUPERSEDED
        )
        locked.status = ProcessStatus.PUBLISHED
        locked.published_at = timezone.now()
        locked.save(update_fields=["status", "published_at", "updated_at"])
        audit_event_record(
            action="cases.process_published",
            actor=actor,
            obj=locked,
            data={"service": str(service.pk), "number": locked.number},
        )
    return locked


def _approval_process_ensure(service_id: Any) -> None:
    """Under four-eyes, publish the default two-step process if the current one has no
    approval step; cases already open stay on their own version."""
    published = ProcessVersion.objects.filter(
        service_id=service_id, status=ProcessStatus.PUBLISHED
    ).first()
    if published is not None:
        info = workflow.process_check(xml=published.xml)
        if any(task.element_id == TASK_APPROVE for task in info.user_tasks):
            return
        published.status = ProcessStatus.SUPERSEDED
        published.save(update_fields=["status", "updated_at"])
    _default_process(service_id, True)


def _default_process(service_id: Any, four_eyes: bool) -> ProcessVersion:
    name = "two-step-approval" if four_eyes else "information-loop"
    xml = (PROCESS_DIR / f"{name}.bpmn").read_text(encoding="utf-8")
    info = workflow.process_check(xml=xml)
    last = (
        ProcessVersion.objects.filter(service_id=service_id)
        .order_by("-number")
        .values_list("number", flat=True)
        .first()
        or 0
    )
    return ProcessVersion.objects.create(
        service_id=service_id,
        number=last + 1,
        status=ProcessStatus.PUBLISHED,
        name=info.name or info.process_id,
        process_id=info.process_id,
        xml=xml,
        published_at=timezone.now(),
    )


def _published_process(service_id: Any, four_eyes: bool) -> ProcessVersion:
    published = ProcessVersion.objects.filter(service_id=service_id, status=ProcessStatus.PUBLISHED)
    found = published.first()
    if found is not None:
        return found
    # The first case of a service installs its default process; the settings row is the
    # lock that keeps two workers from installing it twice.
    CaseSettings.objects.select_for_update().filter(service_id=service_id).first()
    found = published.first()
    return found if found is not None else _default_process(service_id, four_eyes)


# --- Opening cases -------------------------------------------------------------------------


def case_open_for_application(*, application_id: UUID) -> Case | None:
    """Open the case of a submitted application and start its process (idempotent).

    Called for each ``ApplicationSubmitted`` event, which may arrive more than once: the
    application id is unique on cases, so a repeat finds the case already there.
    """
    existing = Case.objects.filter(application_id=application_id).first()
    if existing is not None:
        return existing
    application = application_for_case(application_id=application_id)
    if application is None:
        logger.warning("case not opened: application %s not found", application_id)
        return None
    if application.status == "withdrawn":
        # Withdrawn before its case opened: there is nothing for the agency to do.
        return None
    try:
        return _case_open(application)
    except IntegrityError:
        # Another worker opened it between the lookup above and this insert.
        found = Case.objects.filter(application_id=application_id).first()
        if found is None:
            raise
        return found


def _case_open(application: Any) -> Case:
    service = application.service
    with transaction.atomic():
        case_settings = _settings_for(service.pk)
        process = _published_process(service.pk, case_settings.four_eyes)
        received = application.submitted_at
        received_day = timezone.localdate(received)
        case = Case(
            reference=reference_next(prefix=CASE_REFERENCE_PREFIX, year=received.year),
            service=service,
            agency_id=service.agency_id,
            application_id=application.pk,
            application_reference=application.reference,
            applicant_id=application.applicant_id,
            applicant_name=application.contact_name,
            applicant_email=application.contact_email,
            representative=(
                application.submitted_by_agency.name_en
                if application.submitted_by_agency_id and application.submitted_by_agency
                else ""
            ),
            represented_kind=application.represented_kind,
            represented_id=application.represented_id,
            represented_name=application.represented_name,
            represented_mandate_id=application.represented_mandate_id,
            language=application.language,
            answers=application.answers,
            process_version=process,
            received_at=received,
            due_on=sla.working_days_add(
                received_day, case_settings.target_working_days, nation=case_settings.nation
            ),
        )
        case.save()
        CaseEntry.objects.create(
            case=case,
            kind=EntryKind.CREATED,
            status=CaseStatus.NEW,
            data={
                "application": application.reference,
                "process": f"{process.name} v{process.number}",
                "due_on": case.due_on.isoformat(),
            },
        )
        instance = workflow.ProcessInstance.start(
            xml=process.xml, data={"service": service.slug, "answers": application.answers}
        )
        _advance(case, instance, actor=None)
        audit_event_record(
            action="cases.opened",
            actor=None,
            obj=case,
            data={"application": application.reference, "service": service.slug},
        )
        if instance.is_completed:
            _finish_automatically(case, instance)
        case.save()
    return case


def cases_open_missing(*, now: datetime | None = None, days: int = 7) -> int:
    """Open the cases of recent applications that have none; return how many were opened.

    The safety net behind the ``ApplicationSubmitted`` event: if opening a case failed
    (a worker died, a process could not start), the next run tries again. Applications
    from the last two minutes are left to the normal path.
    """
    now = now or timezone.now()
    recent = applications_submitted_between(
        start=now - timedelta(days=days), end=now - timedelta(minutes=2)
    )
    have = set(
        Case.objects.filter(application_id__in=recent).values_list("application_id", flat=True)
    )
    opened = 0
    for application_id in recent:
        if application_id in have:
            continue
        try:
            if case_open_for_application(application_id=application_id) is not None:
                opened += 1
        except Exception:
            logger.exception("case for application %s could not be opened", application_id)
    if opened:
        audit_event_record(action="cases.missing_opened", actor=None, data={"opened": opened})
    return opened


def case_withdraw_for_application(*, application_id: UUID) -> Case | None:
    """Close the case of an application its applicant withdrew."""
    with transaction.atomic():
        case = Case.objects.select_for_update().filter(application_id=application_id).first()
        if case is None or not case.is_open:
            return case
        _close(case, CaseStatus.WITHDRAWN, at=timezone.now())
        case.version += 1
        case.save()
        WorkItem.objects.filter(case=case, status=WorkItemStatus.OPEN).update(
            status=WorkItemStatus.CANCELLED
        )
        CaseEntry.objects.create(case=case, kind=EntryKind.WITHDRAWN, status=case.status)
        audit_event_record(action="cases.withdrawn", actor=None, obj=case)
    return case


# --- The engine ------------------------------------------------------------------------------


def _instance(case: Case) -> workflow.ProcessInstance:
    return workflow.ProcessInstance.load(xml=case.process_version.xml, state=case.workflow_state)


def _advance(
    case: Case,
    instance: workflow.ProcessInstance,
    *,
    actor: Any,
    now: datetime | None = None,
) -> None:
    """Run the process as far as it goes, record automated steps, and sync work items."""

    def run(automation_id: str, data: dict[str, Any]) -> dict[str, Any]:
        return automations.get(automation_id)(AutomationContext(case=case, data=dict(data)))

    steps = instance.advance(automations=run, now=now or timezone.now())
    for step in steps:
        if not step.automation_id and step.kind != "timer":
            continue
        CaseEntry.objects.create(
            case=case,
            kind=EntryKind.AUTOMATION,
            actor=None,
            text=step.name or step.element_id,
            data={
                "element": step.element_id,
                "automation": step.automation_id or "",
                "kind": step.kind,
                "inputs": _recorded_inputs(step.automation_id, case),
                "result": step.result or {},
            },
        )
    _sync(case, instance, actor=actor)


def _recorded_inputs(automation_id: str | None, case: Case) -> dict[str, Any]:
    if automation_id == "rules.evaluate":
        return {"answers": sorted(case.answers)[:50]}
    if automation_id == "checks.documents_present":
        return {"application": case.application_reference}
    return {}


def _sync(case: Case, instance: workflow.ProcessInstance, *, actor: Any) -> None:
    ready = instance.ready_user_tasks()
    ready_ids = {task.task_id for task in ready}
    open_items = {item.task_id: item for item in WorkItem.objects.filter(case=case, status="open")}
    for task_id, item in open_items.items():
        if task_id not in ready_ids:
            item.status = WorkItemStatus.CANCELLED
            item.save(update_fields=["status", "updated_at"])
    for task in ready:
        if task.task_id not in open_items:
            WorkItem.objects.create(
                case=case,
                task_id=task.task_id,
                element_id=task.element_id,
                name=task.name or task.element_id,
                lane=task.lane or LANE_CASEWORKER,
            )
    first = ready[0] if ready else None
    case.waiting_on = (first.lane or LANE_CASEWORKER) if first else ""
    case.current_task = first.element_id if first else ""
    case.next_timer_at = instance.next_timer_at()
    case.workflow_state = instance.dump()
    if first is not None and case.closed_at is None:
        status = {
            LANE_APPLICANT: CaseStatus.WAITING_APPLICANT,
            LANE_SUPERVISOR: CaseStatus.AWAITING_APPROVAL,
        }.get(case.waiting_on, CaseStatus.IN_PROGRESS if case.assignee_id else CaseStatus.NEW)
        _status_set(case, status, actor=actor)
    case.version += 1


def _status_set(case: Case, status: str, *, actor: Any, text: str = "") -> None:
    if case.status == status:
        return
    case.status = status
    CaseEntry.objects.create(
        case=case, kind=EntryKind.STATUS, status=status, actor=_person(actor), text=text
    )


def _close(case: Case, status: str, *, at: datetime) -> None:
    """Take a case out of every queue: nobody is waited on and no timer runs."""
    case.status = status
    case.closed_at = at
    case.waiting_on = ""
    case.current_task = ""
    case.next_timer_at = None


def _person(actor: Any) -> Any:
    return actor if getattr(actor, "is_authenticated", False) else None


def _complete(
    case: Case,
    instance: workflow.ProcessInstance,
    element_id: str,
    data: dict[str, Any],
    actor: Any,
) -> None:
    task = next((t for t in instance.ready_user_tasks() if t.element_id == element_id), None)
    if task is None:
        raise Conflict(_("This step is not open on the case any more. Reload the case."))
    instance.complete(task_id=task.task_id, data=data)
    WorkItem.objects.filter(case=case, task_id=task.task_id).update(
        status=WorkItemStatus.DONE,
        completed_by=_person(actor),
        completed_at=timezone.now(),
        updated_at=timezone.now(),
    )
    CaseEntry.objects.create(
        case=case,
        kind=EntryKind.TASK,
        actor=_person(actor),
        text=task.name or element_id,
        data={"element": element_id, **{k: v for k, v in data.items() if k != "reasons"}},
    )


def _locked(case: Case | UUID | str, expected_version: int | None = None) -> Case:
    pk = case.pk if isinstance(case, Case) else case
    # of=("self",): PostgreSQL would otherwise lock the joined process version too, and
    # with it every other case of the service.
    locked = (
        Case.objects.select_for_update(of=("self",)).select_related("process_version").filter(pk=pk)
    )
    found = locked.first()
    if found is None:
        raise NotFound()
    if expected_version is not None and found.version != expected_version:
        raise Conflict(
            _("Someone else changed this case while you had it open. Check it and try again.")
        )
    return found


def _require_open(case: Case) -> None:
    if not case.is_open:
        raise Conflict(_("This case is closed."))


# --- Assignment --------------------------------------------------------------------------------


def case_claim(*, case: Case, actor: Any, expected_version: int | None = None) -> Case:
    """Take an unassigned case (or one assigned to you) as your own."""
    with transaction.atomic():
        locked = _locked(case, expected_version)
        require_case_role(user=actor, case=locked)
        _require_open(locked)
        if locked.assignee_id not in (None, actor.pk):
            raise Conflict(_("Someone else has already taken this case."))
        _assign(locked, actor, actor=actor)
        audit_event_record(action="cases.claimed", actor=actor, obj=locked)
    return locked


def _assign(case: Case, assignee: Any, *, actor: Any) -> None:
    case.assignee = assignee
    CaseEntry.objects.create(
        case=case,
        kind=EntryKind.ASSIGNED,
        actor=_person(actor),
        data={"assignee": str(assignee.pk), "name": assignee.full_name or assignee.email},
    )
    if case.status == CaseStatus.NEW:
        _status_set(case, CaseStatus.IN_PROGRESS, actor=actor)
        application_progress(application_id=case.application_id, status="in_progress", actor=actor)
    case.version += 1
    case.save()


def _uuid(value: Any, field: str, message: Any) -> UUID:
    try:
        return value if isinstance(value, UUID) else UUID(str(value))
    except ValueError:
        raise FieldErrors({field: str(message)}) from None


def _assignable(case: Case, assignee_id: Any) -> Any:
    assignee_id = _uuid(assignee_id, "assignee", _("Choose a caseworker of this agency."))
    assignee = (
        staff_with_roles(agency_id=case.agency_id, roles=CASE_ROLES - {"agency_admin"})
        .filter(pk=assignee_id)
        .first()
    )
    if assignee is None:
        raise FieldErrors({"assignee": str(_("Choose a caseworker of this agency."))})
    return assignee


def case_assign(
    *, case: Case, assignee_id: Any, actor: Any, expected_version: int | None = None
) -> Case:
    """Give a case to a caseworker of its agency (supervisors; anyone for themselves)."""
    with transaction.atomic():
        locked = _locked(case, expected_version)
        roles = require_case_role(user=actor, case=locked)
        _require_open(locked)
        if not roles & SUPERVISOR_ROLES:
            if str(assignee_id) != str(actor.pk):
                raise PermissionDenied(_("Only a supervisor can give a case to someone else."))
            if locked.assignee_id not in (None, actor.pk):
                raise Conflict(_("Someone else has already taken this case."))
        assignee = _assignable(locked, assignee_id)
        _assign(locked, assignee, actor=actor)
        audit_event_record(
            action="cases.assigned", actor=actor, obj=locked, data={"assignee": str(assignee.pk)}
        )
    return locked


def cases_assign_bulk(*, case_ids: Collection[Any], assignee_id: Any, actor: Any) -> int:
    """Give several open cases of one agency to a caseworker (supervisors only)."""
    if not case_ids or len(case_ids) > 200:
        raise FieldErrors({"cases": str(_("Choose between 1 and 200 cases."))})
    case_ids = {_uuid(pk, "cases", _("Choose cases from the queue.")) for pk in case_ids}
    with transaction.atomic():
        cases = list(Case.objects.select_for_update().filter(pk__in=list(case_ids)).order_by("pk"))
        if len(cases) != len(case_ids):
            raise NotFound()
        for case in cases:
            require_case_role(user=actor, case=case, roles=SUPERVISOR_ROLES)
            _require_open(case)
        for case in cases:
            _assign(case, _assignable(case, assignee_id), actor=actor)
        audit_event_record(
            action="cases.assigned_in_bulk",
            actor=actor,
            data={"cases": [str(c.pk) for c in cases], "assignee": str(assignee_id)},
        )
    return len(cases)


def case_release(*, case: Case, actor: Any, expected_version: int | None = None) -> Case:
    """Put a case back in the queue (its assignee, or a supervisor)."""
    with transaction.atomic():
        locked = _locked(case, expected_version)
        roles = require_case_role(user=actor, case=locked)
        _require_open(locked)
        if locked.assignee_id != actor.pk and not roles & SUPERVISOR_ROLES:
            raise PermissionDenied()
        locked.assignee = None
        if locked.status == CaseStatus.IN_PROGRESS:
            _status_set(locked, CaseStatus.NEW, actor=actor)
        locked.version += 1
        locked.save()
        CaseEntry.objects.create(case=locked, kind=EntryKind.ASSIGNED, actor=actor, data={})
        audit_event_record(action="cases.released", actor=actor, obj=locked)
    return locked


def case_priority_set(
    *, case: Case, priority: int, actor: Any, expected_version: int | None = None
) -> Case:
    """Change a case's priority (supervisors)."""
    if priority not in (1, 2, 3):
        raise FieldErrors({"priority": str(_("Choose a priority."))})
    with transaction.atomic():
        locked = _locked(case, expected_version)
        require_case_role(user=actor, case=locked, roles=SUPERVISOR_ROLES)
        _require_open(locked)
        locked.priority = priority
        locked.version += 1
        locked.save()
        audit_event_record(
            action="cases.priority_set", actor=actor, obj=locked, data={"priority": priority}
        )
    return locked


# --- Notes and links -------------------------------------------------------------------------


def case_note_add(
    *, case: Case, text: str, actor: Any, expected_version: int | None = None
) -> CaseEntry:
    """Add an internal note to a case (never shown to the applicant)."""
    text = (text or "").strip()
    if not text:
        raise FieldErrors({"text": str(_("Enter a note."))})
    if len(text) > MAX_NOTE_LENGTH or "\x00" in text:
        raise FieldErrors({"text": str(_("A note must be 5,000 characters or fewer."))})
    with transaction.atomic():
        locked = _locked(case, expected_version)
        require_case_role(user=actor, case=locked)
        entry = CaseEntry.objects.create(case=locked, kind=EntryKind.NOTE, actor=actor, text=text)
        audit_event_record(action="cases.note_added", actor=actor, obj=locked)
    return entry


def case_link(*, case: Case, other_reference: str, reason: str, actor: Any) -> CaseLink:
    """Link two cases of the same agency, both ways."""
    reason = (reason or "").strip()
    other_reference = (other_reference or "").strip().upper()
    errors = {}
    if not reason or len(reason) > 200 or "\x00" in reason:
        errors["reason"] = str(_("Say in 200 characters or fewer why the cases belong together."))
    other = (
        Case.objects.filter(reference=other_reference, agency_id=case.agency_id).first()
        if other_reference.isprintable() and len(other_reference) <= 20
        else None
    )
    if other is None or other.pk == case.pk:
        errors["other"] = str(_("Enter the reference of another case of this agency."))
    if errors:
        raise FieldErrors(errors)
    assert other is not None
    with transaction.atomic():
        locked = _locked(case)
        require_case_role(user=actor, case=locked)
        link, _created = CaseLink.objects.get_or_create(
            case=locked, other=other, defaults={"reason": reason, "created_by": actor}
        )
        CaseLink.objects.get_or_create(
            case=other, other=locked, defaults={"reason": reason, "created_by": actor}
        )
        CaseEntry.objects.create(
            case=locked,
            kind=EntryKind.LINKED,
            actor=actor,
            text=reason,
            data={"other": other.reference},
        )
        audit_event_record(
            action="cases.linked", actor=actor, obj=locked, data={"other": other.reference}
        )
    return link


# --- Asking the applicant ------------------------------------------------------------------------


def _require_worker(case: Case, actor: Any) -> set[str]:
    roles = require_case_role(user=actor, case=case)
    if case.assignee_id != getattr(actor, "pk", None) and not roles & SUPERVISOR_ROLES:
        raise PermissionDenied(_("Take the case before you work on it."))
    return roles


def case_information_request(
    *,
    case: Case,
    question: str,
    due_days: int,
    actor: Any,
    link_for: Callable[[InformationRequest], str] | None = None,
    expected_version: int | None = None,
) -> InformationRequest:
    """Ask the applicant for more information; the case waits until they answer.

    The dashboard links to the page where the applicant answers, in their language;
    ``link_for(request)`` may give another address (tests).
    """
    question = (question or "").strip()
    errors = {}
    if not question:
        errors["question"] = str(_("Enter what you need from the applicant."))
    elif len(question) > MAX_NOTE_LENGTH or "\x00" in question:
        errors["question"] = str(_("The request must be 5,000 characters or fewer."))
    if not 1 <= due_days <= 60:
        errors["due_days"] = str(_("Give the applicant between 1 and 60 days."))
    if errors:
        raise FieldErrors(errors)
    with transaction.atomic():
        locked = _locked(case, expected_version)
        _require_worker(locked, actor)
        _require_open(locked)
        instance = _instance(locked)
        # The process's timers read these: the reply is due in ``due_days`` days, with a
        # reminder two days before (none when the deadline is that close).
        reminder_days = due_days - 2 if due_days >= 3 else due_days + 1
        _complete(
            locked,
            instance,
            TASK_ASSESS,
            {
                "action": "request_information",
                "information_period": f"P{due_days}D",
                "reminder_period": f"P{reminder_days}D",
            },
            actor,
        )
        request = InformationRequest.objects.create(
            case=locked,
            question=question,
            requested_by=actor,
            due_on=timezone.localdate() + timedelta(days=due_days),
        )
        CaseEntry.objects.create(
            case=locked,
            kind=EntryKind.INFORMATION_REQUESTED,
            actor=actor,
            text=question,
            data={"request": str(request.pk), "due_on": request.due_on.isoformat()},
        )
        _advance(locked, instance, actor=actor)
        if locked.waiting_on != LANE_APPLICANT:
            raise workflow.ProcessInvalid(
                [_gettext("The process does not wait for the applicant after a request.")]
            )
        locked.save()
        with translation.override(locked.language):
            link_text = _gettext("Reply to this request")
        application_progress(
            application_id=locked.application_id,
            status="information_requested",
            kind="message",
            text=question,
            link_url=link_for(request) if link_for is not None else _reply_path(request),
            link_text=link_text,
            actor=actor,
        )
        applicant_notify(
            case=locked,
            name="information_requested",
            key=f"information_requested:{request.pk}",
            context={"question": question, "due on": long_date(request.due_on, "en")},
            context_cy={"due on": long_date(request.due_on, "cy")},
            link=_reply_link(request),
        )
        audit_event_record(
            action="cases.information_requested",
            actor=actor,
            obj=locked,
            data={"request": str(request.pk), "due_days": due_days},
        )
    return request


def information_request_answer(
    *,
    request: InformationRequest,
    answer: str,
    document_ids: Sequence[str],
    holder_keys: Collection[str],
    actor: Any,
) -> InformationRequest:
    """Take the applicant's reply (text and files) and move the case on."""
    answer = (answer or "").strip()
    if not answer and not document_ids:
        raise FieldErrors({"answer": str(_("Enter your reply or add a file."))})
    if len(answer) > MAX_NOTE_LENGTH or "\x00" in answer:
        raise FieldErrors({"answer": str(_("Your reply must be 5,000 characters or fewer."))})
    with transaction.atomic():
        # The case first, then the request: the order every other writer uses.
        case = _locked(request.case_id)
        locked_request = InformationRequest.objects.select_for_update().get(pk=request.pk)
        if case.applicant_id is None or case.applicant_id != getattr(actor, "pk", None):
            raise NotFound()
        if locked_request.answered_at is not None:
            raise Conflict(_("You have already replied to this request."))
        latest = InformationRequest.objects.filter(case=case).order_by("-created_at").first()
        if (
            locked_request.expired_at is not None
            or latest is None
            or latest.pk != locked_request.pk
            or not case.is_open
            or case.waiting_on != LANE_APPLICANT
        ):
            raise Conflict(_("The agency is no longer waiting for this reply."))
        attached = documents_attach(
            document_ids=list(document_ids),
            holder_keys=holder_keys,
            owner=actor,
            agency_id=case.agency_id,
            attached_to=case.application_reference,
            actor=actor,
        )
        locked_request.answer = answer
        locked_request.answered_at = timezone.now()
        locked_request.document_ids = [str(d.pk) for d in attached]
        locked_request.save()
        instance = _instance(case)
        _complete(case, instance, TASK_AWAIT_INFORMATION, {"information_received": True}, actor)
        CaseEntry.objects.create(
            case=case,
            kind=EntryKind.INFORMATION_RECEIVED,
            actor=actor,
            text=answer,
            data={"request": str(locked_request.pk), "documents": locked_request.document_ids},
        )
        _advance(case, instance, actor=actor)
        case.save()
        application_progress(
            application_id=case.application_id,
            status="in_progress",
            kind="reply",
            text=answer,
            actor=actor,
        )
        audit_event_record(
            action="cases.information_received",
            actor=actor,
            obj=case,
            data={"request": str(locked_request.pk), "documents": len(attached)},
        )
    return locked_request


def information_request_documents(*, request: InformationRequest, owner: Any) -> list[Any]:
    """Return the files the applicant has added to a reply they have not sent yet."""
    return list(documents_for_holder(holder_keys=[request.holder], owner=owner))


def applicant_notify(
    *,
    case: Case,
    name: str,
    key: str,
    context: dict[str, Any],
    link: tuple[str, dict[str, Any]],
    context_cy: dict[str, Any] | None = None,
) -> bool:
    """Tell the applicant about their case on the channels they use, after commit.

    ``name`` is the message (``decided``); ``key`` makes it once-only for this case, so a
    retried step never sends it twice. Returns False when there is no way to reach the
    applicant (an application made through the API without an email or an account).
    """
    address = case.applicant_email or getattr(case.applicant, "email", "")
    if not address and case.applicant_id is None:
        return False
    service = case.service
    language = case.language if case.language in ("en", "cy") else "en"
    sent = notification_send(
        message=f"cases.{name}",
        service=service,
        user=case.applicant,
        email=address,
        language=language,
        idempotency_key=f"case:{case.pk}:{key}",
        personalisation={
            "reference": case.application_reference,
            "service title": service.title_en,
            "link": absolute_url(link[0], kwargs=link[1], language="en"),
            **context,
        },
        personalisation_cy={
            "service title": service.title_cy or service.title_en,
            "link": absolute_url(link[0], kwargs=link[1], language="cy"),
            **(context_cy or {}),
        },
    )
    audit_event_record(
        action="cases.applicant_notified",
        actor=None,
        obj=case,
        data={"message": name, "notifications": len(sent)},
    )
    return bool(sent)


def information_reminder_notify(*, request: InformationRequest) -> bool:
    """Remind the applicant to answer a request for information; at most once per request.

    The process's reminder timer and the planned reminder before the deadline both come
    here, and share one key, so whichever is first is the only one sent.
    """
    return applicant_notify(
        case=request.case,
        name="information_reminder",
        key=f"information_reminder:{request.pk}",
        context={"due on": long_date(request.due_on, "en")},
        context_cy={"due on": long_date(request.due_on, "cy")},
        link=_reply_link(request),
    )


def permit_expiry_notify(*, decision: Decision) -> bool:
    """Tell the holder their permit or licence runs out soon (once per decision)."""
    case = decision.case
    if decision.valid_until is None:
        return False
    return applicant_notify(
        case=case,
        name="permit_expiring",
        key=f"permit_expiring:{decision.pk}",
        context={"expires on": long_date(decision.valid_until, "en")},
        context_cy={"expires on": long_date(decision.valid_until, "cy")},
        link=("forms:application", {"application_id": case.application_id}),
    )


def _reply_link(request: InformationRequest) -> tuple[str, dict[str, Any]]:
    return (
        "cases:reply",
        {"application_id": request.case.application_id, "request_id": request.pk},
    )


def _reply_path(request: InformationRequest) -> str:
    """Return the reply page's path in the applicant's language."""
    name, kwargs = _reply_link(request)
    with translation.override(request.case.language):
        return reverse(name, kwargs=kwargs)


# --- Decisions -----------------------------------------------------------------------------------


def _outcome(case_settings: CaseSettings, value: str) -> dict[str, str] | None:
    return next((o for o in case_settings.outcomes if o.get("value") == value), None)


def case_decide(
    *,
    case: Case,
    outcome: str,
    reasons: str,
    actor: Any,
    expected_version: int | None = None,
) -> Decision:
    """Decide a case with reasons; under four-eyes the decision waits for approval."""
    reasons = (reasons or "").strip()
    case_settings = _settings_for(case.service_id)
    chosen = _outcome(case_settings, outcome)
    errors = {}
    if chosen is None:
        errors["outcome"] = str(_("Choose the decision."))
    if len(reasons) < MIN_REASONS_LENGTH:
        errors["reasons"] = str(_("Give the reasons for the decision, in a sentence or more."))
    elif len(reasons) > MAX_REASONS_LENGTH or "\x00" in reasons:
        errors["reasons"] = str(_("The reasons must be 10,000 characters or fewer."))
    if errors:
        raise FieldErrors(errors)
    assert chosen is not None
    with transaction.atomic():
        locked = _locked(case, expected_version)
        _require_worker(locked, actor)
        _require_open(locked)
        instance = _instance(locked)
        _complete(locked, instance, TASK_ASSESS, {"action": "decide", "outcome": outcome}, actor)
        decision = Decision.objects.create(
            case=locked,
            outcome=outcome,
            outcome_kind=chosen["kind"],
            reasons=reasons,
            status=DecisionStatus.PROPOSED,
            decided_by=actor,
            rule_findings=instance.data.get("rule_findings", []),
        )
        _advance(locked, instance, actor=actor)
        if locked.current_task == TASK_APPROVE:
            CaseEntry.objects.create(
                case=locked,
                kind=EntryKind.DECISION_PROPOSED,
                actor=actor,
                text=reasons,
                data={"outcome": outcome, "decision": str(decision.pk)},
            )
        elif instance.is_completed:
            _finalise(locked, decision, actor=actor)
        else:
            raise workflow.ProcessInvalid(
                [_gettext("The process neither ends nor asks for approval after a decision.")]
            )
        locked.save()
        audit_event_record(
            action="cases.decided" if decision.status == DecisionStatus.FINAL else "cases.proposed",
            actor=actor,
            obj=locked,
            data={"outcome": outcome, "decision": str(decision.pk)},
        )
    return decision


def case_decision_review(
    *,
    case: Case,
    approve: bool,
    note: str,
    actor: Any,
    expected_version: int | None = None,
) -> Decision:
    """Approve or return a proposed decision: a supervisor other than its author."""
    note = (note or "").strip()
    if not approve and not note:
        raise FieldErrors({"note": str(_("Say why you are returning the decision."))})
    if len(note) > MAX_NOTE_LENGTH or "\x00" in note:
        raise FieldErrors({"note": str(_("The note must be 5,000 characters or fewer."))})
    with transaction.atomic():
        locked = _locked(case, expected_version)
        require_case_role(user=actor, case=locked, roles=SUPERVISOR_ROLES)
        _require_open(locked)
        decision = (
            Decision.objects.select_for_update()
            .filter(case=locked, status=DecisionStatus.PROPOSED)
            .order_by("-created_at")
            .first()
        )
        if decision is None:
            raise Conflict(_("There is no decision waiting for approval."))
        if decision.decided_by_id == actor.pk:
            raise PermissionDenied(_("Someone other than the decision's author must approve it."))
        instance = _instance(locked)
        _complete(
            locked,
            instance,
            TASK_APPROVE,
            {"approval": "approved" if approve else "returned"},
            actor,
        )
        decision.reviewed_by = actor
        decision.review_note = note
        _advance(locked, instance, actor=actor)
        if approve:
            if not instance.is_completed:
                raise workflow.ProcessInvalid(
                    [_gettext("The process does not end after an approved decision.")]
                )
            _finalise(locked, decision, actor=actor)
        else:
            decision.status = DecisionStatus.RETURNED
            decision.save()
            CaseEntry.objects.create(
                case=locked,
                kind=EntryKind.DECISION_RETURNED,
                actor=actor,
                text=note,
                data={"decision": str(decision.pk)},
            )
        locked.save()
        audit_event_record(
            action="cases.decision_approved" if approve else "cases.decision_returned",
            actor=actor,
            obj=locked,
            data={"decision": str(decision.pk)},
        )
    return decision


def _finish_automatically(case: Case, instance: workflow.ProcessInstance) -> None:
    if not instance.data.get("auto_approved"):
        raise workflow.ProcessInvalid(
            [_gettext("The process ended without a decision and without approving.")]
        )
    case_settings = _settings_for(case.service_id)
    chosen = next(o for o in case_settings.outcomes if o["kind"] == "approve")
    findings = instance.data.get("rule_findings", [])
    with translation.override(case.language):
        passed = "; ".join(str(f.get("rule")) for f in findings if f.get("passed"))
        reasons = _gettext("Your application meets every condition for approval: %(rules)s.") % {
            "rules": passed
        }
    decision = Decision.objects.create(
        case=case,
        outcome=chosen["value"],
        outcome_kind="approve",
        reasons=reasons,
        status=DecisionStatus.PROPOSED,
        automated=True,
        rule_findings=findings,
    )
    _finalise(case, decision, actor=None)


def _finalise(case: Case, decision: Decision, *, actor: Any) -> None:
    """Make a decision final: close the case, sign the letter, tell the applicant."""
    if decision.outcome_kind == "refuse" and decision.automated:
        # A safeguard, not a path: rules cannot produce refusals.
        raise PermissionDenied(_("Refusals are never made automatically."))
    application = application_for_case(application_id=case.application_id)
    if application is None or application.status == "withdrawn":
        raise Conflict(_("The applicant has withdrawn this application."))
    now = timezone.now()
    decision.status = DecisionStatus.FINAL
    decision.decided_at = now
    case_settings = _settings_for(case.service_id)
    chosen = _outcome(case_settings, decision.outcome) or {
        "label_en": decision.outcome,
        "label_cy": decision.outcome,
    }
    valid_days = chosen.get("valid_days")
    if decision.outcome_kind == "approve" and isinstance(valid_days, int) and valid_days > 0:
        decision.valid_until = timezone.localdate(now) + timedelta(days=valid_days)
    pdf = _letter(case, decision, chosen)
    letter = document_issue(
        content=pdf,
        filename=f"{case.application_reference}-decision.pdf",
        owner=case.applicant,
        agency_id=case.agency_id,
        attached_to=case.application_reference,
        actor=actor,
    )
    decision.letter_id = letter.pk
    decision.save()
    case.outcome = decision.outcome
    _close(case, CaseStatus.DECIDED, at=now)
    CaseEntry.objects.create(
        case=case,
        kind=EntryKind.DECIDED,
        actor=_person(actor),
        status=CaseStatus.DECIDED,
        text=decision.reasons,
        data={
            "outcome": decision.outcome,
            "decision": str(decision.pk),
            "automated": decision.automated,
        },
    )
    CaseEntry.objects.create(
        case=case, kind=EntryKind.LETTER, actor=_person(actor), data={"document": str(letter.pk)}
    )
    label = chosen.get(f"label_{case.language}") or chosen["label_en"]
    with translation.override(case.language):
        link_text = _gettext("Download your decision letter (PDF)")
        link_url = reverse("documents:download", kwargs={"document_id": letter.pk})
    application_progress(
        application_id=case.application_id,
        status=APPLICATION_STATUS_FOR_OUTCOME.get(decision.outcome_kind, "approved"),
        kind="decision",
        text=f"{label}\n\n{decision.reasons}",
        link_url=link_url,
        link_text=link_text,
        actor=actor,
    )
    applicant_notify(
        case=case,
        name="decided",
        key=f"decided:{decision.pk}",
        context={},
        link=("forms:application", {"application_id": case.application_id}),
    )
    publish(
        CaseDecided(
            case_id=str(case.pk),
            reference=case.reference,
            application_id=str(case.application_id),
            service_id=str(case.service_id),
            agency_id=str(case.agency_id),
            outcome=decision.outcome,
            outcome_kind=decision.outcome_kind,
            automated=decision.automated,
        )
    )


def _letter(case: Case, decision: Decision, chosen: dict[str, str]) -> bytes:
    service = case.service
    agency = service.agency
    language = case.language if case.language in ("en", "cy") else "en"
    content = letters.LetterContent(
        reference=case.reference,
        application_reference=case.application_reference,
        service_name=_named(service, "title", language),
        agency_name=_named(agency, "name", language),
        agency_contact=agency.phone or "",
        applicant_name=case.applicant_name or case.applicant_email,
        language=language,
        outcome=decision.outcome,
        outcome_kind=decision.outcome_kind,
        outcome_label=chosen.get(f"label_{language}") or chosen["label_en"],
        reasons=decision.reasons,
        decided_at=decision.decided_at or timezone.now(),
        decided_by_role=_role_label(decision, language),
        approved_by_role=_approver_label(decision, language),
        valid_until=decision.valid_until,
    )
    with translation.override(language):
        reason = _gettext("Decision on application %(reference)s") % {
            "reference": case.application_reference
        }
    return signing.pdf_sign(pdf=letters.letter_render(content=content), reason=reason)


def _named(obj: Any, field: str, language: str) -> str:
    return str(getattr(obj, f"{field}_{language}", "") or getattr(obj, f"{field}_en", ""))


def _role_label(decision: Decision, language: str) -> str:
    with translation.override(language):
        if decision.automated:
            return _gettext("Automated decision under the service's published rules")
        return _gettext("Caseworker")


def _approver_label(decision: Decision, language: str) -> str | None:
    if decision.reviewed_by_id is None:
        return None
    with translation.override(language):
        return _gettext("Supervisor")


# --- Automation rules -------------------------------------------------------------------------


def automation_rule_save(
    *,
    service: Any,
    name: str,
    action: str,
    conditions: object,
    enabled: bool,
    actor: Any,
    rule: AutomationRule | None = None,
) -> AutomationRule:
    """Create or change an automation rule of a service (service owners, agency admins)."""
    _require_service_role(user=actor, agency_id=service.agency_id, roles=SETTINGS_ROLES)
    name = (name or "").strip()
    errors: dict[str, str] = {}
    if not name or len(name) > 200 or "\x00" in name:
        errors["name"] = str(_("Give the rule a name of 200 characters or fewer."))
    if action not in RuleAction.values:
        errors["action"] = str(_("Choose what the rule does."))
    try:
        clean = rules.conditions_check(conditions)
    except rules.RuleInvalid as error:
        errors["conditions"] = " ".join(error.errors)
        clean = []
    if errors:
        raise FieldErrors(errors)
    if rule is not None and rule.service_id != service.pk:
        raise NotFound()
    with transaction.atomic():
        if rule is None:
            position = AutomationRule.objects.filter(service=service).count()
            rule = AutomationRule(service=service, position=position)
        rule.name = name
        rule.action = action
        rule.conditions = clean
        rule.enabled = enabled
        rule.updated_by = actor
        rule.save()
        audit_event_record(
            action="cases.rule_saved",
            actor=actor,
            obj=rule,
            data={"service": str(service.pk), "action": action, "conditions": clean},
        )
    return rule


def automation_rule_delete(*, rule: AutomationRule, actor: Any) -> None:
    """Delete an automation rule; cases already worked keep its findings on their timeline."""
    _require_service_role(user=actor, agency_id=rule.service.agency_id, roles=SETTINGS_ROLES)
    with transaction.atomic():
        audit_event_record(
            action="cases.rule_deleted",
            actor=actor,
            obj=rule,
            data={"service": str(rule.service_id), "name": rule.name},
        )
        rule.delete()


# --- Timers and service levels ------------------------------------------------------------------


def case_timers_fire(*, now: datetime | None = None, limit: int = 200) -> int:
    """Move on every case whose process timer is due; return how many moved."""
    now = now or timezone.now()
    due = list(
        Case.objects.filter(next_timer_at__lte=now, closed_at__isnull=True)
        .order_by("next_timer_at")
        .values_list("pk", flat=True)[:limit]
    )
    moved = 0
    for pk in due:
        try:
            moved += _timer_fire(pk, now)
        except Exception:
            # One broken case must not hold up every other case's timers: park it for
            # an hour (it keeps its place in no queue) and carry on.
            logger.exception("case %s: timer failed; retrying in an hour", pk)
            Case.objects.filter(pk=pk).update(next_timer_at=now + timedelta(hours=1))
    return moved


def _timer_fire(pk: Any, now: datetime) -> int:
    with transaction.atomic():
        case = _locked(pk)
        if case.next_timer_at is None or case.next_timer_at > now or not case.is_open:
            return 0
        instance = _instance(case)
        waited_on = case.waiting_on
        _advance(case, instance, actor=None, now=now)
        if waited_on == LANE_APPLICANT and case.waiting_on != LANE_APPLICANT:
            InformationRequest.objects.filter(
                case=case, answered_at__isnull=True, expired_at__isnull=True
            ).update(expired_at=now, updated_at=now)
            application_progress(
                application_id=case.application_id, status="in_progress", actor=None
            )
        case.save()
        audit_event_record(
            action="cases.timer_fired",
            actor=None,
            obj=case,
            data={"task": case.current_task},
        )
    return 1


def cases_sla_check(*, today: date | None = None, limit: int = 1000) -> tuple[int, int]:
    """Warn before breaches and escalate breaches; return (warned, escalated)."""
    today = today or timezone.localdate()
    warn_by = today + timedelta(days=settings.CASES_SLA_WARNING_DAYS)
    warned = escalated = 0
    open_cases = Case.objects.filter(closed_at__isnull=True)
    for pk in open_cases.filter(warned_at__isnull=True, due_on__lte=warn_by).values_list(
        "pk", flat=True
    )[:limit]:
        with transaction.atomic():
            case = _locked(pk)
            if case.warned_at is not None:
                continue
            case.warned_at = timezone.now()
            case.save(update_fields=["warned_at", "updated_at"])
            CaseEntry.objects.create(
                case=case,
                kind=EntryKind.SLA,
                data={"event": "warning", "due_on": case.due_on.isoformat()},
            )
            _staff_sla_notify(case, event="warning")
            audit_event_record(action="cases.sla_warned", actor=None, obj=case)
            warned += 1
    for pk in open_cases.filter(breached_at__isnull=True, due_on__lt=today).values_list(
        "pk", flat=True
    )[:limit]:
        with transaction.atomic():
            case = _locked(pk)
            if case.breached_at is not None:
                continue
            case.breached_at = timezone.now()
            if case.priority > 1:
                case.priority = 1
            case.save(update_fields=["breached_at", "priority", "updated_at"])
            CaseEntry.objects.create(
                case=case,
                kind=EntryKind.SLA,
                data={"event": "breach", "due_on": case.due_on.isoformat(), "escalated": True},
            )
            _staff_sla_notify(case, event="breach")
            audit_event_record(action="cases.sla_breached", actor=None, obj=case)
            escalated += 1
    return warned, escalated


def _staff_sla_notify(case: Case, *, event: str) -> None:
    """Email the caseworker on the case (or, with none, the supervisors) about its due date."""
    if case.assignee_id is not None:
        people: list[Any] = [case.assignee]
    else:
        people = list(staff_with_roles(agency_id=case.agency_id, roles=SUPERVISOR_ROLES))
    if not people:
        return
    staff_notification_send(
        message="cases.sla_warning",
        service=case.service,
        users=people,
        idempotency_key=f"case:{case.pk}:sla:{event}",
        personalisation={
            "case reference": case.reference,
            "service title": case.service.title_en,
            "due on": long_date(case.due_on, "en"),
            "breached": event == "breach",
            "link": absolute_url("backoffice:case", kwargs={"case_id": case.pk}),
        },
    )


# --- Demo ----------------------------------------------------------------------------------

# How the demo services with online forms are worked (idempotent; never in production).
_PERMIT_FOR_A_YEAR = [
    {
        "value": "approved",
        "kind": "approve",
        "label_en": "Approved",
        "label_cy": "Cymeradwywyd",
        "valid_days": 365,
    },
    {"value": "refused", "kind": "refuse", "label_en": "Refused", "label_cy": "Gwrthodwyd"},
]

_DEMO_SETTINGS: dict[str, dict[str, Any]] = {
    "apply-residents-parking-permit": {
        "target_working_days": 10,
        "nation": "england",
        "outcomes": _PERMIT_FOR_A_YEAR,
    },
    "apply-blue-badge": {"target_working_days": 15, "nation": "wales", "four_eyes": True},
    "register-company": {
        "target_working_days": 5,
        "nation": "england",
        "automation_enabled": True,
        "rules": [
            (
                "Shares issued",
                RuleAction.APPROVE,
                [{"field": "answers.total_shares", "operator": "gte", "value": 1}],
            ),
            (
                "Documents present",
                RuleAction.APPROVE,
                [{"field": "documents.present", "operator": "eq", "value": True}],
            ),
        ],
    },
}


def cases_demo_load() -> int:
    """Give the demo services case settings, processes and rules; return how many."""
    from civicstack.catalogue.selectors import service_get

    loaded = 0
    for slug, wanted in _DEMO_SETTINGS.items():
        service = service_get(slug=slug)
        if service is None:
            continue
        with transaction.atomic():
            case_settings = _settings_for(service.pk)
            case_settings.target_working_days = wanted["target_working_days"]
            case_settings.nation = wanted["nation"]
            case_settings.four_eyes = wanted.get("four_eyes", False)
            case_settings.automation_enabled = wanted.get("automation_enabled", False)
            if "outcomes" in wanted:
                case_settings.outcomes, _error = _outcomes_check(wanted["outcomes"])
            case_settings.save()
            if not ProcessVersion.objects.filter(service=service).exists():
                _default_process(service.pk, case_settings.four_eyes)
            for name, action, conditions in wanted.get("rules", []):
                AutomationRule.objects.update_or_create(
                    service=service,
                    name=name,
                    defaults={"action": action, "conditions": conditions, "enabled": True},
                )
            audit_event_record(
                action="cases.demo_loaded", actor=None, obj=case_settings, data={"service": slug}
            )
        loaded += 1
    return loaded
