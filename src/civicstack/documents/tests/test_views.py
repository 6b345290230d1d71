"""The download page's permissions and headers, and the upload size caps on requests."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, RequestFactory, override_settings
from django.urls import reverse

from civicstack.accounts.tests.factories import AgencyFactory, UserFactory, staff_create
from civicstack.core.models import AuditEvent
from civicstack.documents import services
from civicstack.documents.constants import HOLDERS_SESSION_KEY, KINDS, UploadPolicy
from civicstack.documents.models import Document
from civicstack.documents.testing import pdf_bytes, upload_of
from civicstack.documents.uploads import UploadRefused, UploadSizeLimitHandler
from civicstack.documents.views import content_disposition

DRAFT = "draft:33333333-3333-3333-3333-333333333333"
POLICY = UploadPolicy(kinds=KINDS, max_bytes=1024 * 1024)


@pytest.fixture
def attached(document_store: Path, clamd: str) -> dict[str, Any]:
    """A document uploaded by a person and attached to an application for an agency."""
    person = UserFactory()
    agency = AgencyFactory()
    content = pdf_bytes()
    document = services.document_upload(
        upload=upload_of("Rent ‘statement’ «2026».pdf", content),
        policy=POLICY,
        owner=person,
        holder=DRAFT,
        actor=person,
    )
    services.documents_attach(
        document_ids=[document.pk],
        holder_keys=[DRAFT],
        owner=person,
        agency_id=agency.pk,
        attached_to="APP-2026-000042",
        actor=person,
    )
    return {"person": person, "agency": agency, "document": document, "content": content}


def _url(document: Document) -> str:
    return reverse("documents:download", args=[document.pk])


def _client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_the_owner_downloads_with_safe_headers(attached: dict[str, Any]) -> None:
    """V5.3.1, V14.3.2, V3.4.4: content, canonical type, attachment, no caching, no sniffing."""
    response = _client_for(attached["person"]).get(_url(attached["document"]))
    assert response.status_code == 200
    assert response.content == attached["content"]
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith('attachment; filename="Rent ')
    assert "filename*=UTF-8''Rent%20%E2%80%98statement" in response["Content-Disposition"]
    assert response["Cache-Control"] == "no-store, private"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    assert not AuditEvent.objects.filter(action="documents.viewed_by_staff").exists()


@pytest.mark.django_db
def test_a_session_holding_the_holder_key_downloads(attached: dict[str, Any]) -> None:
    """An anonymous person's session with the draft's holder key may download its files."""
    client = Client()
    session = client.session
    session[HOLDERS_SESSION_KEY] = [DRAFT]
    session.save()
    response = client.get(_url(attached["document"]))
    assert response.status_code == 200
    assert response.content == attached["content"]


@pytest.mark.django_db
def test_staff_of_the_agency_download_and_are_audited(attached: dict[str, Any]) -> None:
    """V8.2.2, V16.3.2: the agency's staff may see the file; each access is audited."""
    caseworker = staff_create(agency=attached["agency"])
    client = _client_for(caseworker)
    for _ in range(2):
        assert client.get(_url(attached["document"])).status_code == 200
    events = AuditEvent.objects.filter(
        action="documents.viewed_by_staff", object_id=str(attached["document"].pk)
    )
    assert events.count() == 2
    assert {event.actor_id for event in events} == {caseworker.pk}


@pytest.mark.django_db
def test_everyone_else_gets_not_found(attached: dict[str, Any]) -> None:
    """V8.2.2, V8.3.1: other agencies' staff, strangers, anonymous people and wrong keys: 404."""
    url = _url(attached["document"])
    outsiders = [
        _client_for(staff_create(agency=AgencyFactory())),
        _client_for(UserFactory()),
        Client(),
    ]
    wrong_key = Client()
    session = wrong_key.session
    session[HOLDERS_SESSION_KEY] = ["draft:44444444-4444-4444-4444-444444444444"]
    session.save()
    outsiders.append(wrong_key)
    for client in outsiders:
        response = client.get(url)
        assert response.status_code == 404
        assert attached["content"] not in response.content
    missing = reverse("documents:download", args=["00000000-0000-0000-0000-000000000000"])
    assert _client_for(attached["person"]).get(missing).status_code == 404


@pytest.mark.django_db
def test_a_removed_document_is_not_found(document_store: Path, clamd: str) -> None:
    """After removal, even the holder gets 404."""
    document = services.document_upload(
        upload=upload_of("a.pdf", pdf_bytes()),
        policy=POLICY,
        owner=None,
        holder=DRAFT,
        actor=None,
    )
    services.document_remove(document=document, holder_keys=[DRAFT], actor=None)
    client = Client()
    session = client.session
    session[HOLDERS_SESSION_KEY] = [DRAFT]
    session.save()
    assert client.get(_url(document)).status_code == 404


def test_content_disposition_names_are_safe() -> None:
    """Quotes, backslashes and non-ASCII cannot break out of the header."""
    header = content_disposition('a"b\\c;d\u00e9.pdf')
    assert header.startswith('attachment; filename="a_b_c_de.pdf"; ')
    assert header.endswith("filename*=UTF-8''" + quote('a"b\\c;d\u00e9.pdf', safe=""))
    header.encode("latin-1")


class _Unreadable:
    """A request body that fails the test if anything reads it."""

    read_called = False

    def read(self, *args: Any) -> bytes:
        type(self).read_called = True
        raise AssertionError("the body was read")

    def readline(self, *args: Any) -> bytes:
        return self.read()


@override_settings(UPLOAD_MAX_REQUEST_BYTES=1000)
def test_an_over_cap_content_length_is_refused_before_the_body_is_read() -> None:
    """V5.2.1: the handler refuses on Content-Length alone; not one byte is read."""
    request = RequestFactory().post("/en/anything", {"file": SimpleUploadedFile("a.pdf", b"x")})
    request.META["CONTENT_LENGTH"] = str(50 * 1024 * 1024)
    request._stream = _Unreadable()  # type: ignore[attr-defined]
    with pytest.raises(UploadRefused) as raised:
        _ = request.POST
    assert raised.value.status == 413
    assert request.upload_too_large is True  # type: ignore[attr-defined]
    assert not _Unreadable.read_called
    assert isinstance(request.upload_handlers[0], UploadSizeLimitHandler)


@pytest.mark.django_db
@override_settings(UPLOAD_MAX_REQUEST_BYTES=1000)
def test_an_over_cap_request_gets_a_clear_413_page() -> None:
    """V5.2.1: the person sees a page saying the file is too large, not a CSRF error."""
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        reverse("documents:download", args=["00000000-0000-0000-0000-000000000000"]),
        {"file": SimpleUploadedFile("a.pdf", b"x" * 10)},
        CONTENT_LENGTH=str(10 * 1024 * 1024),
    )
    assert response.status_code == 413
    assert b"too large" in response.content


@pytest.mark.django_db
@override_settings(UPLOAD_MAX_REQUEST_BYTES=100_000, UPLOAD_MAX_FILE_BYTES=2000)
def test_a_file_over_the_per_file_cap_is_stopped_while_streaming() -> None:
    """V5.2.1: a file growing past the per-file cap is stopped as it streams in."""
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        reverse("documents:download", args=["00000000-0000-0000-0000-000000000000"]),
        {"file": SimpleUploadedFile("a.pdf", b"x" * 5000)},
    )
    assert response.status_code == 413
    assert b"2.0\xc2\xa0KB" in response.content or b"2.0 KB" in response.content


@pytest.mark.django_db
@override_settings(UPLOAD_MAX_REQUEST_BYTES=100_000, UPLOAD_MAX_FILE_BYTES=2000)
def test_uploads_under_the_caps_reach_the_view() -> None:
    """Small uploads pass the caps (and then meet the view's own rules: here, GET only)."""
    client = Client()
    response = client.post(
        reverse("documents:download", args=["00000000-0000-0000-0000-000000000000"]),
        {"file": SimpleUploadedFile("a.pdf", b"x" * 1000)},
    )
    assert response.status_code == 405
