"""Cases from application to signed decision, through the services that pages and API use."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from civicstack.cases import selectors, services
from civicstack.cases.models import (
    AutomationRule,
    Case,
    CaseAccess,
    CaseEntry,
    CaseSettings,
    CaseStatus,
    Decision,
    DecisionStatus,
    EntryKind,
    ProcessStatus,
    ProcessVersion,
    RuleAction,
    WorkItem,
)
from civicstack.core.errors import Conflict, NotFound, PermissionDenied
from civicstack.documents.models import Document
from civicstack.forms.models import Application, ApplicationEntry

pytestmark = pytest.mark.django_db


def _link(request: Any) -> str:
    return f"/en/reply/{request.pk}"


def test_submitted_application_opens_one_case_through_the_durable_event(
    apply, django_capture_on_commit_callbacks
):
    """ApplicationSubmitted opens the case after commit; a repeated delivery adds none."""
    with django_capture_on_commit_callbacks(execute=True):
        application = apply()
    case = Case.objects.get(application_id=application.pk)
    assert case.reference.startswith(f"CASE-{timezone.now().year}-")
    assert case.status == CaseStatus.NEW
    assert case.waiting_on == "caseworker"
    assert case.current_task == "assess"
    assert case.answers["household_size"] == 2
    again = services.case_open_for_application(application_id=application.pk)
    assert again is not None and again.pk == case.pk
    assert Case.objects.filter(application_id=application.pk).count() == 1


def test_case_records_its_automated_checks_and_due_date(open_case, licence_service):
    """The checks the process ran are on the timeline; the due date counts working days."""
    case = open_case()
    automated = list(case.entries.filter(kind=EntryKind.AUTOMATION))
    assert {e.data["automation"] for e in automated} >= {
        "checks.documents_present",
        "rules.evaluate",
    }
    settings = CaseSettings.objects.get(service=licence_service)
    assert settings.target_working_days == 20
    assert case.due_on > timezone.localdate(case.received_at)
    assert WorkItem.objects.get(case=case, status="open").element_id == "assess"


def test_claim_assign_and_release(open_case, staff):
    """Caseworkers claim; only supervisors give cases to others; a taken case stays taken."""
    case = open_case()
    services.case_claim(case=case, actor=staff["caseworker"])
    case.refresh_from_db()
    assert case.assignee == staff["caseworker"]
    assert case.status == CaseStatus.IN_PROGRESS
    application = Application.objects.get(pk=case.application_id)
    assert application.status == "in_progress"
    with pytest.raises(Conflict):
        services.case_claim(case=case, actor=staff["caseworker2"])
    with pytest.raises(PermissionDenied):
        services.case_assign(
            case=case, assignee_id=staff["caseworker2"].pk, actor=staff["caseworker"]
        )
    services.case_assign(case=case, assignee_id=staff["caseworker2"].pk, actor=staff["supervisor"])
    case.refresh_from_db()
    assert case.assignee == staff["caseworker2"]
    with pytest.raises(services.FieldErrors):
        services.case_assign(case=case, assignee_id=staff["outsider"].pk, actor=staff["supervisor"])


def test_staff_of_another_agency_cannot_see_or_touch_the_case(open_case, staff, applicant):
    """Outsiders get not found; the service owner (no case role) and citizens too."""
    case = open_case()
    for person in (staff["outsider"], staff["owner"], applicant):
        with pytest.raises(NotFound):
            selectors.case_for_staff(case_id=case.pk, user=person, purpose="view")
        with pytest.raises(NotFound):
            services.case_claim(case=case, actor=person)
    assert not CaseAccess.objects.filter(case=case).exists()


def test_every_case_view_is_recorded_with_who_and_why(open_case, staff):
    """Opening the case writes an access record with the person, agency and purpose."""
    case = open_case()
    selectors.case_for_staff(case_id=case.pk, user=staff["caseworker"], purpose="view")
    access = CaseAccess.objects.get(case=case)
    assert access.user == staff["caseworker"]
    assert access.agency_id == case.agency_id
    assert access.purpose == "view"


def test_stale_version_is_refused(open_case, staff):
    """A form posted from a page older than the case's last change is refused."""
    case = open_case()
    version = case.version
    services.case_claim(case=case, actor=staff["caseworker"], expected_version=version)
    with pytest.raises(Conflict):
        services.case_release(case=case, actor=staff["caseworker"], expected_version=version)
    case.refresh_from_db()
    assert case.assignee == staff["caseworker"]


def test_request_information_loop(open_case, staff, applicant):
    """The applicant sees the request, replies, and the case is back with the caseworker."""
    case = open_case()
    services.case_claim(case=case, actor=staff["caseworker"])
    request = services.case_information_request(
        case=case,
        question="Send a recent council tax bill.",
        due_days=10,
        actor=staff["caseworker"],
        link_for=_link,
    )
    case.refresh_from_db()
    assert case.status == CaseStatus.WAITING_APPLICANT
    assert case.waiting_on == "applicant"
    assert case.next_timer_at is not None
    application = Application.objects.get(pk=case.application_id)
    assert application.status == "information_requested"
    entry = ApplicationEntry.objects.filter(application=application, kind="message").get()
    assert entry.text == "Send a recent council tax bill."
    assert entry.link_url == _link(request)
    with pytest.raises(NotFound):
        services.information_request_answer(
            request=request,
            answer="Not mine",
            document_ids=[],
            holder_keys=[],
            actor=staff["caseworker"],
        )
    with pytest.raises(services.FieldErrors):
        services.information_request_answer(
            request=request, answer="  ", document_ids=[], holder_keys=[], actor=applicant
        )
    services.information_request_answer(
        request=request,
        answer="Here it is",
        document_ids=[],
        holder_keys=[],
        actor=applicant,
    )
    case.refresh_from_db()
    assert case.waiting_on == "caseworker"
    assert case.current_task == "assess"
    assert case.status == CaseStatus.IN_PROGRESS
    application.refresh_from_db()
    assert application.status == "in_progress"
    with pytest.raises(Conflict):
        services.information_request_answer(
            request=request, answer="again", document_ids=[], holder_keys=[], actor=applicant
        )


def test_no_reply_by_the_deadline_returns_the_case(open_case, staff):
    """The process timer brings an unanswered request back to the caseworker."""
    case = open_case()
    services.case_claim(case=case, actor=staff["caseworker"])
    services.case_information_request(
        case=case, question="Proof please", due_days=10, actor=staff["caseworker"], link_for=_link
    )
    case.refresh_from_db()
    reminder = case.next_timer_at
    assert reminder is not None
    assert services.case_timers_fire(now=reminder - timedelta(minutes=1)) == 0
    # The reminder fires first and the case still waits for the applicant ...
    assert services.case_timers_fire(now=reminder + timedelta(minutes=1)) == 1
    case.refresh_from_db()
    assert case.waiting_on == "applicant"
    assert case.entries.filter(data__automation="notify.information_reminder").exists()
    overdue = case.next_timer_at
    assert overdue is not None and overdue > reminder
    # ... then the deadline passes and the case is back with the caseworker.
    assert services.case_timers_fire(now=overdue + timedelta(minutes=1)) == 1
    case.refresh_from_db()
    assert case.waiting_on == "caseworker"
    assert case.current_task == "assess"
    assert case.next_timer_at is None


def test_decision_needs_reasons_and_a_known_outcome(open_case, staff):
    """No reasons or an outcome the service does not have: refused, nothing changes."""
    case = open_case()
    services.case_claim(case=case, actor=staff["caseworker"])
    case.refresh_from_db()
    for outcome, reasons in (("approved", ""), ("approved", "short"), ("granted", "A" * 50)):
        with pytest.raises(services.FieldErrors):
            services.case_decide(
                case=case, outcome=outcome, reasons=reasons, actor=staff["caseworker"]
            )
    assert not Decision.objects.filter(case=case).exists()
    with pytest.raises(PermissionDenied):
        services.case_decide(
            case=case,
            outcome="approved",
            reasons="The applicant meets the conditions.",
            actor=staff["caseworker2"],
        )


def test_decision_closes_the_case_and_issues_a_signed_letter(open_case, staff, letter_signing):
    """A decision is final at once without four-eyes; the applicant gets the letter."""
    from civicstack.cases.signing import pdf_signature_check
    from civicstack.documents.selectors import document_content

    case = open_case()
    services.case_claim(case=case, actor=staff["caseworker"])
    decision = services.case_decide(
        case=case,
        outcome="refused",
        reasons="The household is larger than the licence allows.",
        actor=staff["caseworker"],
    )
    case.refresh_from_db()
    assert decision.status == DecisionStatus.FINAL
    assert case.status == CaseStatus.DECIDED and case.closed_at is not None
    application = Application.objects.get(pk=case.application_id)
    assert application.status == "refused"
    letter = Document.objects.get(pk=decision.letter_id)
    assert letter.owner_id == case.applicant_id
    assert letter.attached_to == case.application_reference
    pdf = document_content(document=letter)
    report = pdf_signature_check(pdf=pdf, trust_roots=[letter_signing.root])
    assert report.intact and report.valid and report.covers_whole_file
    entry = ApplicationEntry.objects.get(application=application, kind="decision")
    assert "larger than the licence allows" in entry.text
    assert str(letter.pk) in entry.link_url
    with pytest.raises(Conflict):
        services.case_release(case=case, actor=staff["caseworker"])


def test_four_eyes_needs_another_supervisor(open_case, staff, licence_service, letter_signing):
    """Under four-eyes a decision waits; its author cannot approve it; a return goes back."""
    services.case_settings_update(
        service=licence_service,
        target_working_days=10,
        nation="wales",
        four_eyes=True,
        automation_enabled=False,
        actor=staff["owner"],
    )
    ProcessVersion.objects.filter(service=licence_service).delete()
    case = open_case()
    assert case.process_version.process_id
    services.case_claim(case=case, actor=staff["supervisor"])
    services.case_decide(
        case=case,
        outcome="approved",
        reasons="Meets every condition of the scheme.",
        actor=staff["supervisor"],
    )
    case.refresh_from_db()
    assert case.status == CaseStatus.AWAITING_APPROVAL
    assert case.waiting_on == "supervisor"
    with pytest.raises(PermissionDenied):
        services.case_decision_review(case=case, approve=True, note="", actor=staff["supervisor"])
    with pytest.raises(PermissionDenied):
        services.case_decision_review(case=case, approve=True, note="", actor=staff["caseworker"])
    services.case_decision_review(
        case=case, approve=False, note="Check the address first.", actor=staff["supervisor2"]
    )
    case.refresh_from_db()
    assert case.current_task == "assess"
    assert Decision.objects.get(case=case).status == DecisionStatus.RETURNED
    services.case_decide(
        case=case,
        outcome="approved",
        reasons="Address checked; meets every condition.",
        actor=staff["supervisor"],
    )
    services.case_decision_review(case=case, approve=True, note="", actor=staff["supervisor2"])
    case.refresh_from_db()
    assert case.status == CaseStatus.DECIDED
    final = Decision.objects.get(case=case, status=DecisionStatus.FINAL)
    assert final.reviewed_by == staff["supervisor2"]
    assert final.letter_id is not None


def _rules(service: Any, owner: Any, *, limit: int) -> None:
    services.case_settings_update(
        service=service,
        target_working_days=5,
        nation="england",
        four_eyes=False,
        automation_enabled=True,
        actor=owner,
    )
    services.automation_rule_save(
        service=service,
        name="Small household",
        action=RuleAction.APPROVE,
        conditions=[{"field": "answers.household_size", "operator": "lte", "value": limit}],
        enabled=True,
        actor=owner,
    )


def test_rules_approve_a_straightforward_case_with_a_letter(
    open_case, staff, licence_service, letter_signing
):
    """Every approving rule passes: approved automatically, with the rule on the timeline."""
    _rules(licence_service, staff["owner"], limit=4)
    case = open_case(household_size=3)
    assert case.status == CaseStatus.DECIDED
    decision = Decision.objects.get(case=case)
    assert decision.automated and decision.outcome_kind == "approve"
    assert decision.letter_id is not None
    finding = decision.rule_findings[0]
    assert finding["rule"] == "Small household" and finding["passed"]
    assert finding["conditions"][0]["actual"] == 3
    step = case.entries.get(kind=EntryKind.AUTOMATION, data__automation="rules.evaluate")
    assert step.data["result"]["auto_approved"] is True


def test_rules_never_refuse(open_case, staff, licence_service):
    """A case a rule would fail goes to a person with the findings; nothing is refused."""
    _rules(licence_service, staff["owner"], limit=4)
    case = open_case(household_size=9)
    assert case.status == CaseStatus.NEW
    assert case.waiting_on == "caseworker"
    assert not Decision.objects.filter(case=case).exists()
    step = case.entries.get(kind=EntryKind.AUTOMATION, data__automation="rules.evaluate")
    assert step.data["result"]["auto_approved"] is False
    assert step.data["result"]["rule_findings"][0]["passed"] is False


def test_rule_changes_need_a_service_owner(licence_service, staff):
    """Caseworkers cannot change rules; bad conditions are refused with reasons."""
    with pytest.raises(PermissionDenied):
        services.automation_rule_save(
            service=licence_service,
            name="x",
            action="approve",
            conditions=[{"field": "answers.a", "operator": "eq", "value": 1}],
            enabled=True,
            actor=staff["caseworker"],
        )
    with pytest.raises(services.FieldErrors) as error:
        services.automation_rule_save(
            service=licence_service,
            name="x",
            action="refuse",
            conditions="__import__('os')",
            enabled=True,
            actor=staff["owner"],
        )
    assert set(error.value.errors) == {"action", "conditions"}
    assert not AutomationRule.objects.exists()


def test_running_cases_stay_on_their_process_version(open_case, staff, licence_service):
    """Publishing a new process version leaves open cases on the one they started with."""
    first = open_case()
    old = first.process_version
    xml = (services.PROCESS_DIR / "simple-decision.bpmn").read_text()
    draft = services.process_version_save(service=licence_service, xml=xml, actor=staff["owner"])
    services.process_version_publish(version=draft, actor=staff["owner"])
    assert ProcessVersion.objects.get(pk=old.pk).status == ProcessStatus.SUPERSEDED
    second = open_case()
    first.refresh_from_db()
    assert first.process_version_id == old.pk
    assert second.process_version_id == draft.pk
    services.case_claim(case=first, actor=staff["caseworker"])
    services.case_information_request(
        case=first, question="More please", due_days=5, actor=staff["caseworker"], link_for=_link
    )
    first.refresh_from_db()
    assert first.waiting_on == "applicant"


def test_sla_warning_then_breach_escalates(open_case, staff):
    """Near the due date the case is warned once; after it, breached once and made urgent."""
    case = open_case()
    warned, escalated = services.cases_sla_check(today=case.due_on - timedelta(days=1))
    assert (warned, escalated) == (1, 0)
    assert services.cases_sla_check(today=case.due_on - timedelta(days=1)) == (0, 0)
    warned, escalated = services.cases_sla_check(today=case.due_on + timedelta(days=1))
    assert (warned, escalated) == (0, 1)
    case.refresh_from_db()
    assert case.breached_at is not None and case.priority == 1
    figures = selectors.supervisor_figures(user=staff["supervisor"])
    assert case.pk in {c.pk for c in figures.breaches} or case.due_on >= timezone.localdate()


def test_sla_warnings_go_to_the_supervisors_then_to_the_caseworker_on_the_case(open_case, staff):
    """The warning is a notification to staff: supervisors when nobody has the case."""
    from civicstack.notify.models import Notification

    case = open_case()
    services.cases_sla_check(today=case.due_on - timedelta(days=1))
    warnings = Notification.objects.filter(
        idempotency_key__startswith=f"case:{case.pk}:sla:warning"
    )
    assert staff["supervisor"].email in {n.recipient for n in warnings}
    assert staff["caseworker"].email not in {n.recipient for n in warnings}
    warning = warnings[0]
    assert warning.template.key == "cases.sla_warning.email"
    assert case.reference in warning.subject and "past its due date" not in warning.body
    case.refresh_from_db()
    services.case_claim(case=case, actor=staff["caseworker"], expected_version=case.version)
    services.cases_sla_check(today=case.due_on + timedelta(days=1))
    breach = Notification.objects.get(idempotency_key__startswith=f"case:{case.pk}:sla:breach")
    assert breach.recipient == staff["caseworker"].email
    assert "past its due date" in breach.body


def test_withdrawn_application_closes_its_case(open_case, applicant):
    """When the applicant withdraws, the case closes and leaves the queues."""
    from civicstack.forms.services import application_withdraw

    case = open_case()
    application = Application.objects.get(pk=case.application_id)
    application_withdraw(application=application, actor=applicant)
    services.case_withdraw_for_application(application_id=application.pk)
    case.refresh_from_db()
    assert case.status == CaseStatus.WITHDRAWN and case.closed_at is not None
    assert not WorkItem.objects.filter(case=case, status="open").exists()


def test_queue_pages_by_keyset_without_repeats(open_case, staff):
    """Walking the queue page by page shows every open case once, in due order."""
    cases = [open_case() for _ in range(7)]
    seen: list[Any] = []
    cursor = ""
    while True:
        page = selectors.case_queue(
            user=staff["caseworker"],
            filters=selectors.QueueFilters(sort="received"),
            cursor=cursor,
            page_size=3,
        )
        seen.extend(c.pk for c in page.cases)
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert seen == [c.pk for c in cases]
    assert (
        selectors.case_queue(user=staff["outsider"], filters=selectors.QueueFilters()).cases == []
    )
    with pytest.raises(selectors.CursorInvalid):
        selectors.case_queue(
            user=staff["caseworker"], filters=selectors.QueueFilters(), cursor="!!not-a-cursor"
        )


def test_case_view_query_count_does_not_grow(open_case, staff):
    """The case view costs the same number of queries with 1 or 40 timeline entries."""
    case = open_case()
    with CaptureQueriesContext(connection) as small:
        selectors.case_for_staff(case_id=case.pk, user=staff["caseworker"], purpose="view")
    for number in range(40):
        CaseEntry.objects.create(case=case, kind=EntryKind.NOTE, text=f"note {number}")
    with CaptureQueriesContext(connection) as large:
        selectors.case_for_staff(case_id=case.pk, user=staff["caseworker"], purpose="view")
    assert len(small.captured_queries) == len(large.captured_queries) <= 12


def test_a_caseworker_cannot_take_a_colleague_s_case_by_assigning_it(open_case, staff):
    """Assigning to yourself is claiming: refused while someone else holds the case."""
    case = open_case()
    services.case_claim(case=case, actor=staff["caseworker"])
    with pytest.raises(Conflict):
        services.case_assign(
            case=case, assignee_id=staff["caseworker2"].pk, actor=staff["caseworker2"]
        )
    case.refresh_from_db()
    assert case.assignee == staff["caseworker"]


def test_an_expired_or_superseded_request_cannot_be_answered(open_case, staff, applicant):
    """After the deadline the old request is closed; only the newest request takes a reply."""
    case = open_case()
    services.case_claim(case=case, actor=staff["caseworker"])
    first = services.case_information_request(
        case=case, question="First", due_days=1, actor=staff["caseworker"], link_for=_link
    )
    case.refresh_from_db()
    while case.waiting_on == "applicant":
        assert case.next_timer_at is not None
        services.case_timers_fire(now=case.next_timer_at + timedelta(minutes=1))
        case.refresh_from_db()
    first.refresh_from_db()
    assert first.expired_at is not None
    second = services.case_information_request(
        case=case, question="Second", due_days=5, actor=staff["caseworker"], link_for=_link
    )
    with pytest.raises(Conflict):
        services.information_request_answer(
            request=first, answer="late", document_ids=[], holder_keys=[], actor=applicant
        )
    services.information_request_answer(
        request=second, answer="on time", document_ids=[], holder_keys=[], actor=applicant
    )
    case.refresh_from_db()
    assert case.waiting_on == "caseworker"


def test_an_application_withdrawn_before_its_case_opens_gets_no_case(apply, applicant):
    """The withdrawal raced ahead of the case: nothing is opened for the agency."""
    from civicstack.forms.services import application_withdraw

    application = apply()
    application_withdraw(application=application, actor=applicant)
    assert services.case_open_for_application(application_id=application.pk) is None
    assert not Case.objects.filter(application_id=application.pk).exists()


def test_a_decision_on_a_withdrawn_application_is_refused(open_case, staff, applicant):
    """If the applicant withdraws while the case is worked, no decision or letter follows."""
    from civicstack.forms.services import application_withdraw

    case = open_case()
    services.case_claim(case=case, actor=staff["caseworker"])
    application_withdraw(
        application=Application.objects.get(pk=case.application_id), actor=applicant
    )
    with pytest.raises(Conflict):
        services.case_decide(
            case=case,
            outcome="approved",
            reasons="Meets the conditions of the scheme.",
            actor=staff["caseworker"],
        )
    assert not Decision.objects.filter(case=case).exists()
    assert not Document.objects.filter(attached_to=case.application_reference).exists()


def test_a_timer_that_fails_does_not_hold_up_the_others(open_case, staff, monkeypatch):
    """A case whose process breaks is parked for an hour; the next case still moves."""
    broken, working = open_case(), open_case()
    for case in (broken, working):
        services.case_claim(case=case, actor=staff["caseworker"])
        services.case_information_request(
            case=case, question="Proof", due_days=5, actor=staff["caseworker"], link_for=_link
        )
    Case.objects.filter(pk=broken.pk).update(workflow_state={"format": 999})
    later = timezone.now() + timedelta(days=30)
    moved = services.case_timers_fire(now=later)
    assert moved >= 1
    broken.refresh_from_db()
    working.refresh_from_db()
    assert broken.next_timer_at is not None and broken.next_timer_at > later
    assert working.waiting_on == "caseworker"


def test_an_application_whose_case_did_not_open_is_picked_up(apply):
    """The safety-net job opens the case of an application the event never delivered."""
    application = apply()
    assert not Case.objects.filter(application_id=application.pk).exists()
    assert services.cases_open_missing(now=timezone.now() + timedelta(minutes=1)) == 0
    assert services.cases_open_missing(now=timezone.now() + timedelta(minutes=5)) == 1
    assert Case.objects.filter(application_id=application.pk).count() == 1
    assert services.cases_open_missing(now=timezone.now() + timedelta(minutes=5)) == 0
