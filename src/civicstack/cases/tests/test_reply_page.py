"""Applicants answer an agency's request for information on a page that needs no JavaScript."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from django.test import Client

from civicstack.accounts.constants import Role
from civicstack.accounts.tests.factories import UserFactory
from civicstack.backoffice.tests.test_cases_pages import (
    body,
    case_url,
    citizen_client,
    opened,
    staff_client,
)
from civicstack.cases.models import Case, CaseEntry, InformationRequest
from civicstack.cases.services import case_open_for_application
from civicstack.catalogue.tests.factories import ServiceFactory
from civicstack.documents.models import Document
from civicstack.documents.testing import jpeg_bytes, pdf_bytes, upload_of
from civicstack.forms.engine import PageRef
from civicstack.forms.models import ApplicationEntry
from civicstack.forms.services import (
    application_submit,
    draft_answers_save,
    draft_start,
    form_import,
)
from civicstack.forms.tests.conftest import PERMIT_FORM

pytestmark = pytest.mark.django_db


@pytest.fixture
def service() -> Any:
    service = ServiceFactory(slug="apply-test-permit")
    form_import(service=service, source=PERMIT_FORM, actor=None)
    return service


@pytest.fixture
def citizen() -> Any:
    return UserFactory(full_name="Rhian Evans")


@pytest.fixture
def asked(service: Any, citizen: Any) -> InformationRequest:
    """A case whose caseworker asked the applicant for more information, through the pages."""
    case = opened(service, citizen)
    _worker, client = staff_client(service.agency, Role.CASEWORKER)
    client.post(case_url(case, "claim"), {"version": case.version})
    case.refresh_from_db()
    response = client.post(
        case_url(case, "request-information"),
        {"version": case.version, "question": "Which street do you live on?", "due_days": "7"},
    )
    assert response.status_code == 302
    return InformationRequest.objects.select_related("case").get(case=case)


def reply_url(item: InformationRequest, language: str = "en") -> str:
    return f"/{language}/applications/{item.case.application_id}/requests/{item.pk}/"


def listed_ids(response: Any) -> list[str]:
    return re.findall(r'name="document" value="([^"]+)"', body(response))


def test_the_request_shows_on_the_dashboard_and_a_text_reply_moves_the_case_on(
    asked: InformationRequest, citizen: Any
) -> None:
    """The applicant follows the dashboard link, replies, sees a confirmation, and the case
    is back with the caseworker; the reply then shows read-only and cannot be sent twice."""
    client = citizen_client(citizen)
    detail = client.get(f"/en/applications/{asked.case.application_id}/")
    assert reply_url(asked) in body(detail)
    page = client.get(reply_url(asked))
    assert page.status_code == 200
    assert "Which street do you live on?" in body(page)
    assert "Send reply" in body(page)

    sent = client.post(reply_url(asked), {"action": "send", "answer": "Heol y Frenhines."})
    assert sent.status_code == 302
    confirmation = client.get(sent["Location"])
    assert "Reply sent" in body(confirmation)
    asked.refresh_from_db()
    case = Case.objects.get(pk=asked.case_id)
    assert asked.answer == "Heol y Frenhines." and asked.answered_at is not None
    assert case.waiting_on == "caseworker"
    assert ApplicationEntry.objects.filter(
        application_id=case.application_id, kind="reply", text="Heol y Frenhines."
    ).exists()

    again = client.get(reply_url(asked))
    assert "You replied on" in body(again) and "Send reply" not in body(again)
    entries = CaseEntry.objects.filter(case=case).count()
    twice = client.post(reply_url(asked), {"action": "send", "answer": "Again."})
    assert twice.status_code == 409
    assert "already replied" in body(twice)
    asked.refresh_from_db()
    assert asked.answer == "Heol y Frenhines."
    assert CaseEntry.objects.filter(case=case).count() == entries


def test_files_are_added_and_removed_without_javascript(
    asked: InformationRequest, citizen: Any, clamd: str, document_store: Path
) -> None:
    """ "Add file" uploads into the request's holder and keeps what was typed; "Remove" takes
    a file off; "Send reply" attaches the listed files to the application."""
    client = citizen_client(citizen)
    url = reply_url(asked)
    added = client.post(
        url,
        {"action": "upload", "answer": "My lease.", "file": upload_of("lease.pdf", pdf_bytes())},
    )
    assert added.status_code == 302
    client.post(
        url, {"action": "upload", "answer": "My lease.", "file": upload_of("p.jpg", jpeg_bytes())}
    )
    page = client.get(url)
    assert "lease.pdf" in body(page) and "p.jpg" in body(page)
    assert "My lease." in body(page)
    ids = listed_ids(page)
    assert len(ids) == 2
    assert asked.holder in client.session["documents.holders"]

    removed = client.post(url, {"action": f"remove:{ids[1]}", "answer": "My lease."})
    assert removed.status_code == 302
    assert Document.objects.get(pk=ids[1]).status == "deleted"
    page = client.get(url)
    assert listed_ids(page) == ids[:1]

    sent = client.post(url, {"action": "send", "answer": "My lease.", "document": listed_ids(page)})
    assert sent.status_code == 302
    document = Document.objects.get(pk=ids[0])
    assert document.status == "attached"
    assert document.attached_to == asked.case.application_reference
    asked.refresh_from_db()
    assert asked.document_ids == ids[:1]
    assert "lease.pdf" in body(client.get(url))


def test_refused_files_and_bad_replies_get_a_message_and_change_nothing(
    asked: InformationRequest, citizen: Any, clamd: str, document_store: Path
) -> None:
    """A file of the wrong kind, no file, an empty or oversized reply are refused clearly."""
    client = citizen_client(citizen)
    url = reply_url(asked)
    wrong = client.post(
        url, {"action": "upload", "file": upload_of("notes.txt", b"just some text\n")}
    )
    assert 400 <= wrong.status_code < 500
    assert "govuk-error-summary" in body(wrong)
    none = client.post(url, {"action": "upload", "answer": "typed"})
    assert none.status_code == 400 and "Choose a file to add" in body(none)
    assert "typed" in body(none)
    assert not Document.objects.filter(holder=asked.holder).exclude(status="deleted").exists()
    for data, message in (
        ({"action": "send", "answer": ""}, "Enter your reply or add a file."),
        ({"action": "send", "answer": "x" * 10_240}, "5,000 characters"),
        ({"action": "send", "answer": "nul\x00byte"}, "5,000 characters"),
        ({"action": "send", "answer": "ok", "document": ["not-a-document"]}, "no longer available"),
        ({"action": "send", "answer": "ok", "document": [str(uuid4())]}, "no longer available"),
    ):
        response = client.post(url, data)
        assert response.status_code == 400, data
        assert message in body(response), data
        asked.refresh_from_db()
        assert asked.answered_at is None
    assert client.post(url, {"action": "remove:not-a-uuid"}).status_code == 404
    assert client.post(url, {"action": f"remove:{uuid4()}"}).status_code == 404


def test_only_the_signed_in_applicant_reaches_the_page(
    asked: InformationRequest, citizen: Any
) -> None:
    """Anonymous people are sent to sign in; anyone else gets "not found"."""
    url = reply_url(asked)
    anonymous = Client().get(url)
    assert anonymous.status_code == 302
    assert "/account/sign-in" in anonymous["Location"]
    stranger = citizen_client(UserFactory())
    assert stranger.get(url).status_code == 404
    assert stranger.post(url, {"action": "send", "answer": "Mine now"}).status_code == 404
    mismatched = f"/en/applications/{uuid4()}/requests/{asked.pk}/"
    assert citizen_client(citizen).get(mismatched).status_code == 404
    assert citizen_client(citizen).get("/en/applications/nope/requests/nope/").status_code == 404
    asked.refresh_from_db()
    assert asked.answered_at is None


def test_a_request_the_agency_stopped_waiting_for_is_read_only(
    asked: InformationRequest, citizen: Any
) -> None:
    """Once the case has moved on (a timer, a withdrawal), the page says so and takes nothing."""
    Case.objects.filter(pk=asked.case_id).update(waiting_on="caseworker")
    client = citizen_client(citizen)
    page = client.get(reply_url(asked))
    assert "no longer waiting" in body(page)
    response = client.post(reply_url(asked), {"action": "send", "answer": "Late reply"})
    assert response.status_code == 409
    asked.refresh_from_db()
    assert asked.answered_at is None


def test_the_link_is_in_the_applicant_s_language(service: Any) -> None:
    """A Welsh applicant's dashboard links to the Welsh reply page, whoever asked."""
    welsh = UserFactory()
    draft = draft_start(service=service, user=welsh, language="cy", actor=welsh)
    draft = draft_answers_save(
        draft=draft,
        step=PageRef("name"),
        values={"full_name": "Siân", "has_vehicle": "no", "email": "sian@example.org"},
        actor=welsh,
    )
    application = application_submit(draft=draft, holder_keys=set(), actor=welsh)
    case = case_open_for_application(application_id=application.pk)
    assert case is not None
    _worker, staff = staff_client(service.agency, Role.SUPERVISOR)
    case = Case.objects.get(pk=case.pk)
    response = staff.post(
        case_url(case, "request-information"),
        {"version": case.version, "question": "Pa stryd?", "due_days": "5"},
    )
    assert response.status_code == 302
    item = InformationRequest.objects.get(case=case)
    entry = ApplicationEntry.objects.get(application=application, link_url__contains="/requests/")
    assert entry.link_url == reply_url(item, "cy")
    assert citizen_client(welsh).get(reply_url(item, "cy")).status_code == 200
