"""Caseworkers work cases in the back office: the queue, the case on one screen, its actions,
four-eyes approval, supervision and each service's case settings."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import uuid4

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from civicstack.accounts.constants import Role
from civicstack.accounts.tests.factories import AgencyFactory, UserFactory, staff_create
from civicstack.cases.models import (
    AutomationRule,
    Case,
    CaseEntry,
    CaseSettings,
    Decision,
    EntryKind,
    InformationRequest,
    ProcessVersion,
)
from civicstack.cases.services import case_open_for_application
from civicstack.catalogue.tests.factories import ServiceFactory
from civicstack.documents.models import Document
from civicstack.documents.testing import pdf_bytes, upload_of
from civicstack.forms.engine import PageRef
from civicstack.forms.models import Application
from civicstack.forms.services import (
    application_submit,
    draft_answers_save,
    draft_start,
    form_import,
)
from civicstack.forms.tests.conftest import PERMIT_FORM

if TYPE_CHECKING:
    from civicstack.cases.testing import LetterPKI

pytestmark = pytest.mark.django_db

PROCESSES = Path(__file__).resolve().parents[2] / "cases" / "processes"


# --- Set-up through the real paths ----------------------------------------------------------------


@pytest.fixture
def service() -> Any:
    """A published service with the branching permit form."""
    service = ServiceFactory(slug="apply-test-permit")
    form_import(service=service, source=PERMIT_FORM, actor=None)
    return service


@pytest.fixture
def citizen() -> Any:
    return UserFactory(full_name="Rhian Evans")


def staff_client(agency: Any, role: str, **kwargs: Any) -> tuple[Any, Client]:
    """Return a member of staff with ``role`` in ``agency``, and a client signed in with MFA."""
    user = staff_create(role=role, agency=agency, **kwargs)
    client = Client()
    client.force_login(user)
    session = client.session
    session["civicstack_mfa_verified"] = True
    session.save()
    return user, client


def citizen_client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def submitted(service: Any, citizen: Any, *, name: str = "Rhian Evans") -> Application:
    """Send an application through the form services, as the form runner does."""
    draft = draft_start(service=service, user=citizen, language="en", actor=citizen)
    draft = draft_answers_save(
        draft=draft,
        step=PageRef("name"),
        values={"full_name": name, "has_vehicle": "no", "email": "rhian@example.org"},
        actor=citizen,
    )
    return application_submit(draft=draft, holder_keys=set(), actor=citizen)


def opened(service: Any, citizen: Any, **kwargs: Any) -> Case:
    """Submit an application and open its case (idempotent if the event already did)."""
    application = submitted(service, citizen, **kwargs)
    case = case_open_for_application(application_id=application.pk)
    assert case is not None
    return Case.objects.get(pk=case.pk)


def case_url(case: Case, action: str = "") -> str:
    return f"/en/back-office/cases/{case.pk}" + (f"/{action}" if action else "")


def body(response: Any) -> str:
    return str(response.content.decode())


def snapshot(case: Case) -> tuple[int, int, str, Any, int]:
    """What a refused action must leave as it was."""
    case.refresh_from_db()
    return (
        case.version,
        CaseEntry.objects.filter(case=case).count(),
        case.status,
        case.assignee_id,
        Decision.objects.filter(case=case).count(),
    )


# --- The queue ------------------------------------------------------------------------------------


def test_queue_filters_and_keyset_pages(service: Any, citizen: Any) -> None:
    """The queue filters by service, status, assignee and lateness, and pages by keyset."""
    cases = [opened(service, citizen, name=f"Applicant {n}") for n in range(60)]
    other_service = ServiceFactory(agency=service.agency, slug="apply-other-permit")
    form_import(service=other_service, source=PERMIT_FORM, actor=None)
    other = opened(other_service, citizen)
    _user, client = staff_client(service.agency, Role.CASEWORKER)

    first = client.get("/en/back-office/cases")
    assert first.status_code == 200
    first_refs = re.findall(r"CASE-\d{4}-\d{6}", body(first))
    assert len(set(first_refs)) == 50
    next_link = re.search(r'href="(/en/back-office/cases\?[^"]*cursor=[^"]+)"', body(first))
    assert next_link is not None
    second = client.get(next_link.group(1).replace("&amp;", "&"))
    assert second.status_code == 200
    second_refs = set(re.findall(r"CASE-\d{4}-\d{6}", body(second)))
    assert len(second_refs) == 11
    assert not second_refs & set(first_refs)
    assert {c.reference for c in [*cases, other]} == set(first_refs) | second_refs
    assert "First page" in body(second)
    assert "Next page" not in body(second)

    only = client.get("/en/back-office/cases", {"service": "apply-other-permit"})
    assert set(re.findall(r"CASE-\d{4}-\d{6}", body(only))) == {other.reference}

    response = client.post(case_url(cases[3], "claim"), {"version": cases[3].version})
    assert response.status_code == 302
    mine = client.get("/en/back-office/cases", {"assigned": "me"})
    assert set(re.findall(r"CASE-\d{4}-\d{6}", body(mine))) == {cases[3].reference}
    in_progress = client.get("/en/back-office/cases", {"status": "in_progress"})
    assert set(re.findall(r"CASE-\d{4}-\d{6}", body(in_progress))) == {cases[3].reference}
    unassigned = client.get("/en/back-office/cases", {"assigned": "unassigned", "sort": "received"})
    assert cases[3].reference not in body(unassigned)

    Case.objects.filter(pk__in=[cases[0].pk, cases[1].pk]).update(
        due_on=timezone.localdate() - timezone.timedelta(days=3)
    )
    late = client.get("/en/back-office/cases", {"overdue": "1", "sort": "priority"})
    assert set(re.findall(r"CASE-\d{4}-\d{6}", body(late))) == {
        cases[0].reference,
        cases[1].reference,
    }
    assert "Overdue" in body(late)


def test_bad_queue_input_is_a_clear_400(service: Any, citizen: Any) -> None:
    """A made-up cursor or filter gets a message and a way back, never a server error."""
    opened(service, citizen)
    _user, client = staff_client(service.agency, Role.CASEWORKER)
    for query in (
        {"cursor": "not-a-cursor"},
        {"cursor": "W10"},  # valid base64, wrong shape
        {"cursor": "x" * 10_000},
        {"cursor": "abc\x00def"},
        {"status": "decided-yesterday"},
        {"assigned": "somebody"},
        {"sort": "chaos"},
        {"overdue": "maybe"},
        {"waiting_on": "godot"},
        {"service": "../../etc"},
    ):
        response = client.get("/en/back-office/cases", query)
        assert response.status_code == 400, query
        assert "govuk-error-summary" in body(response)
    # A cursor handed out for one order is refused for another.
    for n in range(55):
        opened(service, citizen, name=f"More {n}")
    first = client.get("/en/back-office/cases", {"sort": "due"})
    cursor = re.search(r"cursor=([^\"&]+)", body(first))
    assert cursor is not None
    response = client.get("/en/back-office/cases", {"sort": "received", "cursor": cursor.group(1)})
    assert response.status_code == 400
    assert "This page link is not valid" in body(response)


def test_supervisors_assign_in_bulk_and_caseworkers_cannot(service: Any, citizen: Any) -> None:
    """Ticked cases go to the chosen caseworker; a caseworker's bulk assignment is refused."""
    cases = [opened(service, citizen) for _ in range(3)]
    worker, worker_client = staff_client(service.agency, Role.CASEWORKER)
    _boss, boss_client = staff_client(service.agency, Role.SUPERVISOR)
    page = boss_client.get("/en/back-office/cases")
    assert "Assign selected to" in body(page)
    response = boss_client.post(
        "/en/back-office/cases/assign",
        {"cases": [str(c.pk) for c in cases[:2]], "assignee": str(worker.pk), "query": "sort=due"},
    )
    assert response.status_code == 302
    assert response["Location"].endswith("/en/back-office/cases?sort=due")
    assert set(Case.objects.filter(assignee=worker).values_list("pk", flat=True)) == {
        c.pk for c in cases[:2]
    }
    for data in (
        {"cases": ["not-a-uuid"], "assignee": str(worker.pk)},
        {"cases": [str(cases[2].pk)], "assignee": "nobody"},
        {"cases": [str(cases[2].pk)], "assignee": str(uuid4())},
        {"cases": [], "assignee": str(worker.pk)},
    ):
        response = boss_client.post("/en/back-office/cases/assign", data)
        assert response.status_code == 400, data
        assert "govuk-error-summary" in body(response)
    response = worker_client.post(
        "/en/back-office/cases/assign", {"cases": [str(cases[2].pk)], "assignee": str(worker.pk)}
    )
    assert response.status_code == 400
    assert Case.objects.get(pk=cases[2].pk).assignee_id is None


# --- The case view and its actions ----------------------------------------------------------------


def test_claim_request_information_reply_and_decide(
    service: Any, citizen: Any, clamd: str, document_store: Path, letter_signing: LetterPKI
) -> None:
    """A caseworker asks for more; the citizen replies with a file; the case comes back; the
    caseworker decides with reasons and the applicant gets a signed letter."""
    case = opened(service, citizen)
    worker, client = staff_client(service.agency, Role.CASEWORKER)
    page = client.get(case_url(case))
    assert page.status_code == 200
    text = body(page)
    assert "Rhian Evans" in text and case.application_reference in text
    assert "Take this case" in text
    assert "data-process-diagram" in text

    assert client.post(case_url(case, "claim"), {"version": case.version}).status_code == 302
    case.refresh_from_db()
    assert case.assignee_id == worker.pk
    assert "You have taken this case." in body(client.get(case_url(case)))

    response = client.post(
        case_url(case, "request-information"),
        {"version": case.version, "question": "Send a photo of your permit.", "due_days": "10"},
    )
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.waiting_on == "applicant"
    request = InformationRequest.objects.get(case=case)

    applicant = citizen_client(citizen)
    dashboard = applicant.get("/en/applications/")
    assert "More information needed" in body(dashboard)
    detail = applicant.get(f"/en/applications/{case.application_id}/")
    reply_url = f"/en/applications/{case.application_id}/requests/{request.pk}/"
    assert reply_url in body(detail)
    reply_page = applicant.get(reply_url)
    assert "Send a photo of your permit." in body(reply_page)
    uploaded = applicant.post(
        reply_url,
        {"action": "upload", "answer": "Here it is.", "file": upload_of("permit.pdf", pdf_bytes())},
    )
    assert uploaded.status_code == 302
    listed = applicant.get(reply_url)
    assert "permit.pdf" in body(listed)
    assert "Here it is." in body(listed)
    document_ids = re.findall(r'name="document" value="([^"]+)"', body(listed))
    assert len(document_ids) == 1
    sent = applicant.post(
        reply_url, {"action": "send", "answer": "Here it is.", "document": document_ids}
    )
    assert sent.status_code == 302
    assert applicant.get(sent["Location"]).status_code == 200

    case.refresh_from_db()
    request.refresh_from_db()
    assert case.waiting_on == "caseworker"
    assert case.status == "in_progress"
    assert request.answer == "Here it is." and request.document_ids == document_ids
    view = body(client.get(case_url(case)))
    assert "Here it is." in view and "permit.pdf" in view

    before = snapshot(case)
    for data, message in (
        ({"outcome": "approved", "reasons": ""}, "Give the reasons"),
        ({"outcome": "granted-by-magic", "reasons": "Long enough reasons."}, "Choose the decision"),
        ({"outcome": "approved", "reasons": "x" * 10_240}, "10,000 characters"),
        ({"outcome": "approved", "reasons": "Fine reasons\x00 here."}, "10,000 characters"),
    ):
        response = client.post(case_url(case, "decide"), {"version": case.version, **data})
        assert response.status_code == 400
        assert message in body(response)
        assert "govuk-error-summary" in body(response)
        assert snapshot(case) == before

    response = client.post(
        case_url(case, "decide"),
        {"version": case.version, "outcome": "approved", "reasons": "You meet every condition."},
    )
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.status == "decided" and case.outcome == "approved"
    decision = Decision.objects.get(case=case)
    assert decision.status == "final" and decision.letter_id is not None
    view = body(client.get(case_url(case)))
    assert f"/en/documents/{decision.letter_id}/download" in view
    assert "This case is closed." in view


def test_four_eyes_decision_needs_another_supervisor(
    service: Any, citizen: Any, letter_signing: LetterPKI
) -> None:
    """Under four-eyes a decision is proposed; its author cannot approve it; another can."""
    CaseSettings.objects.create(
        service=service,
        four_eyes=True,
        outcomes=[
            {"value": "approved", "kind": "approve", "label_en": "Approved", "label_cy": "Iawn"},
            {"value": "refused", "kind": "refuse", "label_en": "Refused", "label_cy": "Na"},
        ],
    )
    case = opened(service, citizen)
    _author, author_client = staff_client(service.agency, Role.SUPERVISOR)
    _other, other_client = staff_client(service.agency, Role.SUPERVISOR)
    author_client.post(case_url(case, "claim"), {"version": case.version})
    case.refresh_from_db()
    page = body(author_client.get(case_url(case)))
    assert "four-eyes approval" in page

    response = author_client.post(
        case_url(case, "decide"),
        {"version": case.version, "outcome": "refused", "reasons": "You do not live in the area."},
    )
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.status == "awaiting_approval" and case.waiting_on == "supervisor"
    decision = Decision.objects.get(case=case)
    assert decision.status == "proposed"
    assert "another supervisor must approve" in body(author_client.get(case_url(case)))

    before = snapshot(case)
    refused = author_client.post(
        case_url(case, "review"), {"version": case.version, "review": "approve"}
    )
    assert refused.status_code == 403
    assert "Someone other than the decision" in body(refused)
    assert snapshot(case) == before

    no_note = other_client.post(
        case_url(case, "review"), {"version": case.version, "review": "return"}
    )
    assert no_note.status_code == 400
    assert "Say why you are returning" in body(no_note)
    assert snapshot(case) == before
    no_choice = other_client.post(case_url(case, "review"), {"version": case.version})
    assert no_choice.status_code == 400
    assert snapshot(case) == before

    approved = other_client.post(
        case_url(case, "review"), {"version": case.version, "review": "approve"}
    )
    assert approved.status_code == 302
    case.refresh_from_db()
    decision.refresh_from_db()
    assert case.status == "decided" and case.outcome == "refused"
    assert decision.status == "final" and decision.reviewed_by_id != decision.decided_by_id
    assert decision.letter_id is not None


def test_a_stale_form_shows_the_conflict_and_changes_nothing(service: Any, citizen: Any) -> None:
    """A form posted from a page someone else has since changed is refused with a message."""
    case = opened(service, citizen)
    _first, first = staff_client(service.agency, Role.CASEWORKER)
    _second, second = staff_client(service.agency, Role.SUPERVISOR)
    stale_version = case.version
    assert first.post(case_url(case, "claim"), {"version": stale_version}).status_code == 302
    before = snapshot(case)
    response = second.post(case_url(case, "release"), {"version": stale_version})
    assert response.status_code == 409
    assert "Someone else changed this case" in body(response)
    assert snapshot(case) == before
    response = second.post(case_url(case, "priority"), {"version": stale_version, "priority": "1"})
    assert response.status_code == 409
    assert snapshot(case) == before
    response = second.post(case_url(case, "claim"), {"version": "not-a-number"})
    assert response.status_code == 400
    assert "out of date" in body(response)
    assert snapshot(case) == before


def test_notes_links_priority_and_assignment(service: Any, citizen: Any) -> None:
    """Notes and links land on the timeline; supervisors reassign and reprioritise."""
    case = opened(service, citizen)
    other = opened(service, citizen)
    worker, worker_client = staff_client(service.agency, Role.CASEWORKER)
    _boss, boss_client = staff_client(service.agency, Role.SUPERVISOR)
    assert worker_client.post(case_url(case, "notes"), {"text": "Phoned them."}).status_code == 302
    response = worker_client.post(
        case_url(case, "links"), {"other": other.reference.lower(), "reason": "Same household"}
    )
    assert response.status_code == 302
    view = body(worker_client.get(case_url(case)))
    assert "Phoned them." in view and other.reference in view and "Same household" in view

    case.refresh_from_db()
    refused = worker_client.post(
        case_url(case, "priority"), {"version": case.version, "priority": "1"}
    )
    assert refused.status_code == 403
    assert (
        boss_client.post(
            case_url(case, "priority"), {"version": case.version, "priority": "1"}
        ).status_code
        == 302
    )
    case.refresh_from_db()
    assert case.priority == 1
    assert (
        boss_client.post(
            case_url(case, "assign"), {"version": case.version, "assignee": str(worker.pk)}
        ).status_code
        == 302
    )
    case.refresh_from_db()
    assert case.assignee_id == worker.pk
    assert (
        worker_client.post(case_url(case, "release"), {"version": case.version}).status_code == 302
    )
    case.refresh_from_db()
    assert case.assignee_id is None


def test_bad_action_input_gets_a_message_and_changes_nothing(service: Any, citizen: Any) -> None:
    """Oversized, empty, NUL-laden or malformed input is refused with a 4xx and a message."""
    case = opened(service, citizen)
    _boss, client = staff_client(service.agency, Role.SUPERVISOR)
    client.post(case_url(case, "claim"), {"version": case.version})
    case.refresh_from_db()
    before = snapshot(case)
    version = case.version
    attempts: list[tuple[str, dict[str, Any]]] = [
        ("notes", {"text": ""}),
        ("notes", {"text": "n" * 10_240}),
        ("notes", {"text": "bad\x00note"}),
        ("links", {"other": "CASE-\x00", "reason": "why"}),
        ("links", {"other": "CASE-1999-000001", "reason": "r" * 10_240}),
        ("request-information", {"version": version, "question": "", "due_days": "10"}),
        ("request-information", {"version": version, "question": "q" * 10_240, "due_days": "10"}),
        ("request-information", {"version": version, "question": "Why?", "due_days": "ten"}),
        ("request-information", {"version": version, "question": "Why?", "due_days": "0"}),
        ("request-information", {"version": version, "question": "Why?", "due_days": "9" * 20}),
        ("decide", {"version": version, "outcome": "", "reasons": "Long enough reasons."}),
        ("decide", {"version": version, "outcome": "x" * 10_240, "reasons": "Long reasons."}),
        ("decide", {"outcome": "approved", "reasons": "No version sent with this."}),
        ("assign", {"version": version, "assignee": "not-a-person"}),
        ("assign", {"version": version, "assignee": str(uuid4())}),
        ("priority", {"version": version, "priority": "urgent"}),
        ("priority", {"version": version, "priority": "7"}),
        ("review", {"version": version, "review": "approve"}),
    ]
    for action, data in attempts:
        response = client.post(case_url(case, action), data)
        assert 400 <= response.status_code < 500, (action, data, response.status_code)
        assert "govuk-error-summary" in body(response), (action, data)
        assert snapshot(case) == before, (action, data)
    assert client.get("/en/back-office/cases/not-a-uuid").status_code == 404
    assert client.post("/en/back-office/cases/not-a-uuid/claim").status_code == 404
    assert client.get(f"/en/back-office/cases/{uuid4()}").status_code == 404
    assert client.get(case_url(case, "claim")).status_code == 405


def test_other_agencies_and_citizens_cannot_reach_a_case(service: Any, citizen: Any) -> None:
    """Staff of another agency get 404 for the case and every action; citizens get 403."""
    case = opened(service, citizen)
    before = snapshot(case)
    _stranger, stranger = staff_client(AgencyFactory(), Role.SUPERVISOR)
    assert stranger.get(case_url(case)).status_code == 404
    assert stranger.get(case_url(case, "process.bpmn")).status_code == 404
    for action in (
        "claim",
        "release",
        "assign",
        "priority",
        "notes",
        "links",
        "request-information",
        "decide",
        "review",
    ):
        response = stranger.post(
            case_url(case, action),
            {"version": case.version, "text": "hi", "priority": "1", "outcome": "approved"},
        )
        assert response.status_code == 404, action
    assert reference_hidden(stranger.get("/en/back-office/cases"), case)
    applicant = citizen_client(citizen)
    assert applicant.get(case_url(case)).status_code == 403
    assert applicant.post(case_url(case, "claim"), {"version": case.version}).status_code == 403
    anonymous = Client().get(case_url(case))
    assert anonymous.status_code == 302 and "/account/sign-in" in anonymous["Location"]
    _owner, owner = staff_client(service.agency, Role.SERVICE_OWNER)
    assert owner.get(case_url(case)).status_code == 404
    assert snapshot(case) == before


def reference_hidden(response: Any, case: Case) -> bool:
    return response.status_code == 200 and case.reference not in body(response)


def test_the_case_view_reads_in_a_fixed_number_of_queries(service: Any, citizen: Any) -> None:
    """Twenty documents and fifty timeline entries cost no more queries than one of each."""
    case = opened(service, citizen)
    _worker, client = staff_client(service.agency, Role.SUPERVISOR)
    client.post(case_url(case, "claim"), {"version": case.version})
    document(case, "first.pdf")
    assert client.get(case_url(case)).status_code == 200  # warm the form definition cache
    with CaptureQueriesContext(connection) as small:
        assert client.get(case_url(case)).status_code == 200
    for n in range(19):
        document(case, f"file-{n}.pdf")
    for n in range(50):
        CaseEntry.objects.create(case=case, kind=EntryKind.NOTE, text=f"Note {n}")
    with CaptureQueriesContext(connection) as large:
        response = client.get(case_url(case))
    assert response.status_code == 200
    assert "file-18.pdf" in body(response) and "Note 49" in body(response)
    assert len(large.captured_queries) == len(small.captured_queries)


def document(case: Case, name: str) -> Document:
    """Record a stored file attached to the case's application (content is not read)."""
    return Document.objects.create(
        owner=case.applicant,
        holder=f"test:{uuid4()}",
        original_filename=name,
        content_type="application/pdf",
        kind="pdf",
        size=1234,
        sha256="0" * 64,
        storage_name=f"test/{uuid4()}",
        wrapped_key=b"k",
        key_id="test",
        nonce=b"n" * 12,
        status="attached",
        agency_id=case.agency_id,
        attached_to=case.application_reference,
        scanned_at=timezone.now(),
        scanner_version="test",
    )


def test_the_process_xml_is_served_to_the_case_s_staff_only(service: Any, citizen: Any) -> None:
    """The diagram's XML comes as application/xml with nosniff, to the agency's staff."""
    case = opened(service, citizen)
    _worker, client = staff_client(service.agency, Role.CASEWORKER)
    response = client.get(case_url(case, "process.bpmn"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/xml")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"<bpmn:userTask" in response.content or b"userTask" in response.content
    page = body(client.get(case_url(case)))
    assert f'data-xml-url="/en/back-office/cases/{case.pk}/process.bpmn"' in page
    assert 'data-active="assess"' in page
    assert "Assess and decide" in page


# --- Supervision ----------------------------------------------------------------------------------


def test_supervisors_see_workload_ageing_breaches_and_throughput(
    service: Any, citizen: Any
) -> None:
    """The supervision page shows the agency's figures as tables; caseworkers cannot see it."""
    cases = [opened(service, citizen) for _ in range(3)]
    _worker, worker_client = staff_client(service.agency, Role.CASEWORKER, full_name="Wyn Jones")
    _boss, boss_client = staff_client(service.agency, Role.SUPERVISOR)
    worker_client.post(case_url(cases[0], "claim"), {"version": cases[0].version})
    Case.objects.filter(pk=cases[1].pk).update(
        due_on=timezone.localdate() - timezone.timedelta(days=2)
    )
    page = boss_client.get("/en/back-office/cases/supervision")
    assert page.status_code == 200
    text = body(page)
    assert "Wyn Jones" in text and "Workload" in text
    assert cases[1].reference in text
    assert "Up to 5 days" in text and "Cases closed each week" in text
    assert worker_client.get("/en/back-office/cases/supervision").status_code == 403
    _stranger, stranger = staff_client(AgencyFactory(), Role.SUPERVISOR)
    assert cases[1].reference not in body(stranger.get("/en/back-office/cases/supervision"))


# --- A service's case settings --------------------------------------------------------------------


def test_owners_change_settings_rules_and_processes(service: Any) -> None:
    """Service owners set targets, write rules as rows and publish a checked process."""
    _owner, client = staff_client(service.agency, Role.SERVICE_OWNER)
    url = f"/en/back-office/services/{service.slug}/cases"
    page = client.get(url)
    assert page.status_code == 200
    assert "Automation rules" in body(page)

    response = client.post(
        url, {"target_working_days": "15", "nation": "wales", "four_eyes": "yes"}
    )
    assert response.status_code == 302
    settings = CaseSettings.objects.get(service=service)
    assert (settings.target_working_days, settings.nation, settings.four_eyes) == (
        15,
        "wales",
        True,
    )
    # Four-eyes needs an approval step: the two-step process is published for new cases.
    published = ProcessVersion.objects.get(service=service, status="published")
    assert published.process_id == "two_step_approval"
    for bad in (
        {"target_working_days": "many", "nation": "wales"},
        {"target_working_days": "0", "nation": "wales"},
        {"target_working_days": "15", "nation": "atlantis"},
    ):
        response = client.post(url, bad)
        assert response.status_code == 400
        assert "govuk-error-summary" in body(response)
    settings.refresh_from_db()
    assert (settings.target_working_days, settings.nation) == (15, "wales")

    new_rule = client.get(f"{url}/rules/new")
    assert 'value="answers.has_vehicle"' in body(new_rule)
    more = client.post(
        f"{url}/rules/new",
        {
            "name": "No vehicle",
            "action": "approve",
            "enabled": "yes",
            "row_count": "1",
            "condition-0-field": "answers.has_vehicle",
            "condition-0-operator": "eq",
            "condition-0-value": "no",
            "step": "add-row",
        },
    )
    assert more.status_code == 200
    assert 'name="condition-1-field"' in body(more)
    assert not AutomationRule.objects.exists()
    saved = client.post(
        f"{url}/rules/new",
        {
            "name": "No vehicle",
            "action": "approve",
            "enabled": "yes",
            "row_count": "2",
            "condition-0-field": "answers.has_vehicle",
            "condition-0-operator": "eq",
            "condition-0-value": "no",
            "condition-1-field": "documents.count",
            "condition-1-operator": "lte",
            "condition-1-value": "2",
            "step": "save",
        },
    )
    assert saved.status_code == 302
    rule = AutomationRule.objects.get()
    assert rule.conditions == [
        {"field": "answers.has_vehicle", "operator": "eq", "value": "no"},
        {"field": "documents.count", "operator": "lte", "value": 2},
    ]
    invalid = client.post(
        f"{url}/rules/{rule.pk}",
        {
            "name": "No vehicle",
            "action": "approve",
            "row_count": "1",
            "condition-0-field": "documents.count",
            "condition-0-operator": "gt",
            "condition-0-value": "lots",
            "step": "save",
        },
    )
    assert invalid.status_code == 400
    assert "Condition 1: give a number." in body(invalid)
    rule.refresh_from_db()
    assert rule.conditions[1]["value"] == 2
    assert client.post(f"{url}/rules/{rule.pk}/delete").status_code == 302
    assert not AutomationRule.objects.exists()

    broken = client.post(f"{url}/processes", {"process_xml": "<bpmn:definitions>oops"})
    assert broken.status_code == 400
    assert "The process cannot be used" in body(broken)
    assert ProcessVersion.objects.filter(service=service).count() == 1
    xml = (PROCESSES / "information-loop.bpmn").read_bytes()
    uploaded = client.post(
        f"{url}/processes", {"process_file": upload_of("loop.bpmn", xml, "application/xml")}
    )
    assert uploaded.status_code == 302
    draft = ProcessVersion.objects.get(service=service, status="draft")
    assert draft.status == "draft"
    assert client.post(f"{url}/processes/{draft.number}/publish").status_code == 302
    draft.refresh_from_db()
    assert draft.status == "published"
    page = body(client.get(url))
    assert f'data-xml-url="{url}/processes/{draft.number}/process.bpmn"' in page
    served = client.get(f"{url}/processes/{draft.number}/process.bpmn")
    assert served["Content-Type"].startswith("application/xml")
    assert served["X-Content-Type-Options"] == "nosniff"


def test_only_owners_and_admins_of_the_agency_change_case_settings(service: Any) -> None:
    """Caseworkers are refused; another agency's owners see nothing."""
    url = f"/en/back-office/services/{service.slug}/cases"
    _worker, worker = staff_client(service.agency, Role.CASEWORKER)
    assert worker.get(url).status_code == 403
    assert worker.post(url, {"target_working_days": "3", "nation": "wales"}).status_code == 403
    _stranger, stranger = staff_client(AgencyFactory(), Role.SERVICE_OWNER)
    assert stranger.get(url).status_code == 404
    assert not CaseSettings.objects.filter(service=service, target_working_days=3).exists()


@pytest.mark.usefixtures("clamd", "document_store")
def test_image_documents_have_an_inline_preview_for_staff_only(service: Any, citizen: Any) -> None:
    """Staff of the agency open an image inline from the case; PDFs and outsiders get 404."""
    import io

    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image

    from civicstack.documents.constants import UploadPolicy
    from civicstack.documents.services import document_issue, document_upload, documents_attach

    case = opened(service, citizen)
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), "teal").save(buffer, format="PNG")
    upload = SimpleUploadedFile("photo.png", buffer.getvalue(), content_type="image/png")
    image = document_upload(
        upload=upload,
        policy=UploadPolicy(kinds=frozenset({"png"}), max_bytes=1_000_000, max_files=5),
        owner=citizen,
        holder="test:preview",
        actor=citizen,
    )
    documents_attach(
        document_ids=[image.pk],
        holder_keys=["test:preview"],
        owner=citizen,
        agency_id=case.agency_id,
        attached_to=case.application_reference,
        actor=citizen,
    )
    letter = document_issue(
        content=b"%PDF-1.7 test",
        filename="letter.pdf",
        owner=citizen,
        agency_id=case.agency_id,
        attached_to=case.application_reference,
        actor=None,
    )
    _worker, client = staff_client(service.agency, Role.CASEWORKER)
    page = body(client.get(case_url(case)))
    assert f"/en/documents/{image.pk}/preview" in page
    assert f"/en/documents/{letter.pk}/preview" not in page
    response = client.get(f"/en/documents/{image.pk}/preview")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"] == "inline"
    assert "sandbox" in response["Content-Security-Policy"]
    assert client.get(f"/en/documents/{letter.pk}/preview").status_code == 404
    _outsider, other = staff_client(AgencyFactory(), Role.CASEWORKER)
    assert other.get(f"/en/documents/{image.pk}/preview").status_code == 404
