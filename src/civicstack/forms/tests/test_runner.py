"""The form runner over HTTP: branching, repeating groups with uploads, save and return,
change links, idempotent submission, the dashboard and withdrawal."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from civicstack.core.models import OutboxEvent
from civicstack.documents.models import Document
from civicstack.forms.models import Application, Draft
from civicstack.forms.services import drafts_expire, form_import
from civicstack.forms.tests.conftest import PERMIT_FORM, png_bytes

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clamd")]


def _draft_url(response: Any) -> str:
    assert response.status_code == 302, response.content[:500]
    return str(response["Location"])


def _start(client: Client, slug: str = "apply-test-permit") -> Draft:
    response = client.post(reverse("forms:begin", kwargs={"slug": slug}))
    assert response.status_code == 302
    return Draft.objects.latest("created_at")


def _page(draft: Draft, step: str, *, back: bool = False) -> str:
    url = reverse("forms:page", kwargs={"draft_id": draft.pk, "step": step})
    return f"{url}?return=check" if back else url


def _complete_with_vehicle(client: Client, draft: Draft) -> None:
    assert client.post(_page(draft, "name"), {"full_name": "Rhian Evans"}).status_code == 302
    response = client.post(_page(draft, "vehicle_question"), {"has_vehicle": "yes"})
    assert response["Location"].endswith("/vehicles/")
    response = client.post(_page(draft, "vehicles"), {"add-another": "yes"})
    assert response["Location"].endswith("/vehicles.0.vehicle_details/")
    client.post(_page(draft, "vehicles.0.vehicle_details"), {"registration": "KB12 ABC"})
    upload = SimpleUploadedFile("logbook.png", png_bytes(), content_type="image/png")
    response = client.post(
        _page(draft, "vehicles.0.vehicle_proof"),
        {"action": "upload:proof", "proof-upload": upload},
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    response = client.post(_page(draft, "vehicles.0.vehicle_proof"), {"action": "continue"})
    assert response["Location"].endswith("/vehicles/")
    client.post(_page(draft, "vehicles"), {"add-another": "no"})
    response = client.post(_page(draft, "contact"), {"email": "rhian@example.org"})
    assert response["Location"].endswith("/check-answers/")


def test_an_anonymous_person_applies_with_a_repeating_group_and_an_upload(
    permit_service: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """Branch, add a vehicle with a file, check answers, send: one application, file attached."""
    client = Client()
    assert (
        client.get(reverse("forms:start", kwargs={"slug": "apply-test-permit"})).status_code == 200
    )
    draft = _start(client)
    _complete_with_vehicle(client, draft)
    check = client.get(reverse("forms:check-answers", kwargs={"draft_id": draft.pk}))
    body = check.content.decode()
    assert "KB12 ABC" in body and "logbook.png" in body
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("forms:declaration", kwargs={"draft_id": draft.pk}))
    confirmation = client.get(response["Location"])
    application = Application.objects.get()
    assert re.fullmatch(r"APP-\d{4}-\d{6}", application.reference)
    assert application.reference in confirmation.content.decode()
    assert application.answers["vehicles"][0]["registration"] == "KB12 ABC"
    document = Document.objects.get()
    assert document.attached_to == application.reference
    assert document.agency_id == permit_service.agency_id
    assert not Draft.objects.filter(pk=draft.pk).exists()
    assert OutboxEvent.objects.filter(event_type="ApplicationSubmitted").count() == 1
    assert any(application.reference in message.subject for message in mail.outbox)


def test_a_repeated_submission_makes_no_second_application(permit_service: Any) -> None:
    """A double click or a retried POST of the declaration finds the first application."""
    client = Client()
    draft = _start(client)
    _complete_with_vehicle(client, draft)
    url = reverse("forms:declaration", kwargs={"draft_id": draft.pk})
    first = client.post(url)
    second = client.post(url)
    assert Application.objects.count() == 1
    # The draft became the application: the retry lands on the same confirmation page.
    assert second.status_code == 302
    assert second["Location"] == first["Location"]


def test_answering_no_skips_the_group_and_drops_its_answers(permit_service: Any) -> None:
    """Changing a branch answer prunes the answers of pages that no longer apply."""
    client = Client()
    draft = _start(client)
    _complete_with_vehicle(client, draft)
    response = client.post(_page(draft, "vehicle_question", back=True), {"has_vehicle": "no"})
    assert response["Location"].endswith("/check-answers/")
    draft.refresh_from_db()
    assert "vehicles" not in draft.answers
    assert client.get(_page(draft, "vehicles.0.vehicle_details")).status_code == 404


def test_change_links_return_to_check_your_answers(permit_service: Any) -> None:
    """A change made from check your answers goes back there."""
    client = Client()
    draft = _start(client)
    _complete_with_vehicle(client, draft)
    check = client.get(reverse("forms:check-answers", kwargs={"draft_id": draft.pk}))
    change = _page(draft, "name", back=True)
    assert change in check.content.decode()
    response = client.post(change, {"full_name": "Rhian Jones"})
    assert response["Location"] == reverse("forms:check-answers", kwargs={"draft_id": draft.pk})


@pytest.mark.parametrize(
    ("step", "data", "field"),
    [
        ("name", {"full_name": ""}, "full_name"),
        ("name", {"full_name": "x" * 5000}, "full_name"),
        ("vehicle_question", {"has_vehicle": "perhaps"}, "has_vehicle"),
        ("vehicle_question", {}, "has_vehicle"),
        ("contact", {"email": "not an email"}, "email"),
        ("contact", {"email": "\x00@\x00"}, "email"),
    ],
)
def test_bad_answers_get_field_level_messages(
    permit_service: Any, step: str, data: dict[str, str], field: str
) -> None:
    """Every bad answer gets an error summary linked to the field, and changes nothing."""
    client = Client()
    draft = _start(client)
    client.post(_page(draft, "name"), {"full_name": "Rhian Evans"})
    client.post(_page(draft, "vehicle_question"), {"has_vehicle": "no"})
    before = Draft.objects.get(pk=draft.pk).answers
    response = client.post(_page(draft, step), data)
    assert response.status_code == 200
    body = response.content.decode()
    assert "govuk-error-summary" in body
    assert f'href="#{field}' in body
    assert Draft.objects.get(pk=draft.pk).answers == before


def test_a_refused_upload_is_explained_and_stores_nothing(permit_service: Any) -> None:
    """A file of the wrong kind gets a message on the page; no document is kept."""
    client = Client()
    draft = _start(client)
    client.post(_page(draft, "name"), {"full_name": "Rhian Evans"})
    client.post(_page(draft, "vehicle_question"), {"has_vehicle": "yes"})
    client.post(_page(draft, "vehicles"), {"add-another": "yes"})
    client.post(_page(draft, "vehicles.0.vehicle_details"), {"registration": "KB12 ABC"})
    fake = SimpleUploadedFile("proof.pdf", b"<svg onload='alert(1)'></svg>", "application/pdf")
    response = client.post(
        _page(draft, "vehicles.0.vehicle_proof"), {"action": "upload:proof", "proof-upload": fake}
    )
    assert response.status_code == 200
    assert "govuk-error-summary" in response.content.decode()
    assert Document.objects.count() == 0
    # Continuing without the required file is refused too.
    response = client.post(_page(draft, "vehicles.0.vehicle_proof"), {"action": "continue"})
    assert response.status_code == 200
    assert 'href="#proof' in response.content.decode()


def test_save_and_return_by_emailed_link(
    permit_service: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """Someone without an account gets a link that reopens their draft in another browser."""
    client = Client()
    draft = _start(client)
    client.post(_page(draft, "name"), {"full_name": "Rhian Evans", "action": "save"})
    mail.outbox = []
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("forms:save", kwargs={"draft_id": draft.pk}), {"email": "rhian@example.org"}
        )
    assert response.status_code == 200
    link = re.search(r"https?://\S+/apply/resume/\S+/", mail.outbox[0].body)
    assert link is not None
    other = Client()
    assert other.get(reverse("forms:draft", kwargs={"draft_id": draft.pk})).status_code == 404
    path = link.group(0).split("://", 1)[1].split("/", 1)[1]
    for bad in ("rhian\x00@example.org", "not an address", "a@b@c"):
        response = client.post(reverse("forms:save", kwargs={"draft_id": draft.pk}), {"email": bad})
        assert "govuk-error-summary" in response.content.decode()
    response = other.get("/" + path)
    assert response.status_code == 302
    page = other.get(_page(draft, "name"))
    assert "Rhian Evans" in page.content.decode()
    assert other.get("/en/apply/resume/forged-token/").status_code == 404
    # A link shows nothing of the address it was sent to.
    assert "rhian" not in path.lower()
    # Links are limited: nobody can make the platform mail an address over and over.
    for _attempt in range(5):
        response = client.post(
            reverse("forms:save", kwargs={"draft_id": draft.pk}), {"email": "rhian@example.org"}
        )
    assert response.status_code == 200
    assert "govuk-error-summary" in response.content.decode()


def test_signed_in_drafts_and_applications_appear_on_the_dashboard(
    permit_service: Any, citizen: Any
) -> None:
    """Prefilled from the profile, saved automatically, listed, sent, tracked, withdrawn."""
    client = Client()
    client.force_login(citizen)
    draft = _start(client)
    assert draft.user == citizen
    assert draft.answers.get("full_name") == "Rhian Evans"
    dashboard = client.get(reverse("forms:dashboard")).content.decode()
    assert reverse("forms:draft", kwargs={"draft_id": draft.pk}) in dashboard
    _complete_with_vehicle(client, draft)
    client.post(reverse("forms:declaration", kwargs={"draft_id": draft.pk}))
    application = Application.objects.get()
    assert application.applicant == citizen
    detail = client.get(reverse("forms:application", kwargs={"application_id": application.pk}))
    assert "logbook.png" in detail.content.decode()
    document = Document.objects.get()
    download = client.get(reverse("documents:download", kwargs={"document_id": document.pk}))
    assert download.status_code == 200
    assert download["Cache-Control"].startswith("no-store")
    stranger = Client()
    stranger.force_login(type(citizen).objects.create_user(email="other@example.org"))
    assert (
        stranger.get(
            reverse("forms:application", kwargs={"application_id": application.pk})
        ).status_code
        == 404
    )
    url = reverse("forms:withdraw", kwargs={"application_id": application.pk})
    assert client.post(url, {"confirm": "yes"}).status_code == 302
    application.refresh_from_db()
    assert application.status == "withdrawn"
    assert client.post(url, {"confirm": "yes"}).status_code == 200  # already withdrawn: a message


def test_a_new_version_does_not_break_a_draft_in_progress(permit_service: Any) -> None:
    """Drafts stay on the version they began with; the application records it."""
    client = Client()
    draft = _start(client)
    first_version = draft.form_version
    form_import(
        service=permit_service,
        source=PERMIT_FORM.replace("What is your full name?", "Your full name"),
        actor=None,
    )
    _complete_with_vehicle(client, draft)
    client.post(reverse("forms:declaration", kwargs={"draft_id": draft.pk}))
    assert Application.objects.get().form_version == first_version


def test_expired_drafts_are_deleted_with_their_files(permit_service: Any) -> None:
    """The retention job removes drafts past their date, and what was uploaded to them."""
    client = Client()
    draft = _start(client)
    client.post(_page(draft, "name"), {"full_name": "Rhian Evans"})
    client.post(_page(draft, "vehicle_question"), {"has_vehicle": "yes"})
    client.post(_page(draft, "vehicles"), {"add-another": "yes"})
    upload = SimpleUploadedFile("logbook.png", png_bytes(), content_type="image/png")
    client.post(
        _page(draft, "vehicles.0.vehicle_proof"), {"action": "upload:proof", "proof-upload": upload}
    )
    assert Document.objects.filter(status="uploaded").count() == 1
    Draft.objects.filter(pk=draft.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert drafts_expire() == 1
    assert not Draft.objects.exists()
    assert not Document.objects.exclude(status="deleted").exists()


def test_pages_that_need_an_account_send_people_to_sign_in(permit_service: Any) -> None:
    """A form that does not allow anonymous applications asks people to sign in first."""
    form_import(
        service=permit_service,
        source=PERMIT_FORM.replace("allow_anonymous: true", "allow_anonymous: false"),
        actor=None,
    )
    response = Client().post(reverse("forms:begin", kwargs={"slug": "apply-test-permit"}))
    assert response.status_code == 302
    assert reverse("accounts:sign-in") in response["Location"]
    assert not Draft.objects.exists()


def test_a_complete_draft_whose_file_is_gone_is_told_why(permit_service: Any) -> None:
    """If a file can no longer be attached, the declaration page says so; nothing is made."""
    client = Client()
    draft = _start(client)
    _complete_with_vehicle(client, draft)
    Document.objects.update(status="deleted")
    response = client.post(reverse("forms:declaration", kwargs={"draft_id": draft.pk}))
    assert response.status_code == 400
    assert "govuk-error-summary" in response.content.decode()
    assert not Application.objects.exists()
    assert Draft.objects.filter(pk=draft.pk).exists()


def test_odd_digits_in_steps_and_choices_are_not_found_not_errors(permit_service: Any) -> None:
    """Unicode digits such as "²" in a step or a lookup choice get a 404 or a message."""
    client = Client()
    draft = _start(client)
    _complete_with_vehicle(client, draft)
    url = reverse("forms:remove-item", kwargs={"draft_id": draft.pk, "step": "vehicles.²"})
    assert client.get(url).status_code == 404
    assert client.post(_page(draft, "contact"), {"email": "a@example.org", "email-choice": "²"})
