"""The applications API: keys, idempotency, the runner's validation, OpenAPI."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from civicstack.accounts.services import api_key_create, api_key_revoke
from civicstack.catalogue.tests.factories import AgencyFactory
from civicstack.documents.models import Document
from civicstack.forms.models import Application
from civicstack.forms.services import idempotency_keys_forget
from civicstack.forms.tests.conftest import png_bytes

pytestmark = pytest.mark.django_db

URL = "/api/v1/services/apply-test-permit/applications"
BODY = {
    "applicant": {"name": "Rhian Evans", "email": "rhian@example.org"},
    "language": "cy",
    "answers": {"full_name": "Rhian Evans", "has_vehicle": "no", "email": "rhian@example.org"},
}


def _post(client: Client, secret: str, body: Any, key: str = "key-1", **headers: str) -> Any:
    return client.post(
        URL,
        data=json.dumps(body) if not isinstance(body, str) else body,
        content_type="application/json",
        headers={"Authorization": f"Bearer {secret}", "Idempotency-Key": key, **headers},
    )


def test_an_agency_key_submits_an_application(permit_service: Any, api_secret: str) -> None:
    """A complete, valid body makes one application (ASVS V13.1)."""
    response = _post(Client(), api_secret, BODY)
    assert response.status_code == 201, response.content
    data = response.json()
    application = Application.objects.get()
    assert data["reference"] == application.reference
    assert application.channel == "api"
    assert application.language == "cy"
    assert application.contact_email == "rhian@example.org"
    assert response["Location"].endswith(str(application.pk))


def test_the_same_key_and_body_return_the_first_application(
    permit_service: Any, api_secret: str
) -> None:
    """A replay within the window returns the original, marked as a replay."""
    client = Client()
    first = _post(client, api_secret, BODY)
    second = _post(client, api_secret, BODY)
    assert second.status_code == 200
    assert second["Idempotent-Replayed"] == "true"
    assert second.json()["id"] == first.json()["id"]
    assert Application.objects.count() == 1


def test_the_same_key_with_another_body_is_a_conflict(permit_service: Any, api_secret: str) -> None:
    """Reusing a key for a different request is refused with 409 and changes nothing."""
    client = Client()
    _post(client, api_secret, BODY)
    other = {**BODY, "answers": {**BODY["answers"], "full_name": "Someone Else"}}
    response = _post(client, api_secret, other)
    assert response.status_code == 409
    assert response.json()["code"] == "conflict"
    assert Application.objects.count() == 1


def test_a_key_older_than_the_window_makes_a_new_application(
    permit_service: Any, api_secret: str
) -> None:
    """After 24 hours a key may be used again; pruning forgets old keys."""
    client = Client()
    _post(client, api_secret, BODY)
    Application.objects.update(submitted_at=timezone.now() - timedelta(hours=25))
    assert _post(client, api_secret, BODY).status_code == 201
    assert Application.objects.count() == 2
    Application.objects.update(submitted_at=timezone.now() - timedelta(hours=25))
    assert idempotency_keys_forget() == 1
    assert not Application.objects.filter(idempotency_key__isnull=False).exists()


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Authorization": ""}, 401),
        ({"Authorization": "Bearer cs_nope_nope"}, 401),
        ({"Authorization": "Basic abc"}, 401),
        ({"Idempotency-Key": ""}, 400),
        ({"Idempotency-Key": "x" * 256}, 400),
    ],
)
def test_missing_or_bad_headers_are_refused(
    permit_service: Any, api_secret: str, headers: dict[str, str], status: int
) -> None:
    """Without a valid key and Idempotency-Key nothing is made."""
    response = _post(Client(), api_secret, BODY, **headers)
    assert response.status_code == status
    assert response.json()["status"] == status
    assert not Application.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[1, 2]",
        '{"answers": NaN}',
        "{" * 5000,
        {"answers": [], "applicant": {"name": "A", "email": "a@example.org"}},
        {"answers": {}, "applicant": {"name": "A", "email": "a@example.org"}},
        {**BODY, "answers": {**BODY["answers"], "has_vehicle": "maybe"}},
        {**BODY, "answers": {**BODY["answers"], "email": 42}},
        {**BODY, "answers": {**BODY["answers"], "has_vehicle": "yes"}},
        {**BODY, "applicant": {"name": "", "email": "nope"}},
        {**BODY, "language": "fr"},
        {**BODY, "language": []},
        {**BODY, "applicant": {"name": "Rhian\u0000", "email": "r@example.org"}},
        {**BODY, "applicant": {"name": "Rhian", "email": "r\u0000@example.org"}},
        {**BODY, "answers": {**BODY["answers"], "full_name": "Rhian\u0000Evans"}},
        {**BODY, "language": {"en": 1}},
        {**BODY, "extra": 1},
    ],
)
def test_bad_bodies_get_clear_errors(permit_service: Any, api_secret: str, body: Any) -> None:
    """Every malformed or invalid body gets a 4xx JSON error and changes nothing."""
    response = _post(Client(), api_secret, body)
    assert 400 <= response.status_code < 500, response.content
    assert "message" in response.json()
    assert not Application.objects.exists()


def test_invalid_answers_are_reported_by_field(permit_service: Any, api_secret: str) -> None:
    """The API uses the runner's rules and names the field that failed."""
    body = {**BODY, "answers": {**BODY["answers"], "email": "not-an-email"}}
    response = _post(Client(), api_secret, body)
    assert response.status_code == 400
    assert "answers.email" in response.json()["errors"]


def test_keys_are_limited_to_their_agency_and_can_be_revoked(
    permit_service: Any, api_secret: str
) -> None:
    """Another agency's key is refused; a revoked key stops at once (ASVS V8.2)."""
    _key, other = api_key_create(
        agency=AgencyFactory(), name="Other", scopes=["applications:submit"], actor=None
    )
    assert _post(Client(), other, BODY).status_code == 403
    from civicstack.accounts.models import ApiKey

    api_key_revoke(key=ApiKey.objects.get(agency=permit_service.agency), actor=None)
    assert _post(Client(), api_secret, BODY).status_code == 401
    assert not Application.objects.exists()


@pytest.mark.usefixtures("clamd")
def test_files_are_uploaded_then_referenced_in_the_answers(
    permit_service: Any, api_secret: str
) -> None:
    """Upload, then submit with the document id; the file is attached to the application."""
    client = Client()
    upload = client.post(
        "/api/v1/services/apply-test-permit/questions/proof/documents",
        {"file": SimpleUploadedFile("proof.png", png_bytes(), "image/png")},
        headers={"Authorization": f"Bearer {api_secret}"},
    )
    assert upload.status_code == 201, upload.content
    document_id = upload.json()["id"]
    body = {
        **BODY,
        "answers": {
            **BODY["answers"],
            "has_vehicle": "yes",
            "vehicles": [{"registration": "KB12 ABC", "proof": [document_id]}],
        },
    }
    response = _post(client, api_secret, body)
    assert response.status_code == 201, response.content
    document = Document.objects.get(pk=document_id)
    assert document.attached_to == response.json()["reference"]


def test_a_file_id_not_uploaded_by_the_caller_is_refused_atomically(
    permit_service: Any, api_secret: str
) -> None:
    """Answers naming someone else's or an unknown file make no application at all."""
    body = {
        **BODY,
        "answers": {
            **BODY["answers"],
            "has_vehicle": "yes",
            "vehicles": [
                {"registration": "KB12 ABC", "proof": ["6f1c7e0e-3f5e-4a4e-9d2b-2a8f5f0c1b11"]}
            ],
        },
    }
    response = _post(Client(), api_secret, body)
    assert response.status_code == 400
    assert not Application.objects.exists()


def test_the_openapi_document_describes_the_api(client: Client) -> None:
    """Every applications endpoint is in the OpenAPI document."""
    document = client.get("/api/v1/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    for path in (
        "/api/v1/services/{slug}/applications",
        "/api/v1/services/{slug}/form",
        "/api/v1/applications/{application_id}",
        "/api/v1/services/{slug}/questions/{question_id}/documents",
    ):
        assert path in document["paths"]


def test_the_form_definition_is_published(permit_service: Any) -> None:
    """Agency systems read the definition they must answer."""
    response = Client().get("/api/v1/services/apply-test-permit/form")
    assert response.status_code == 200
    assert response.json()["version"] == 1
    assert Client().get("/api/v1/services/no-such-service/form").status_code == 404


@pytest.mark.usefixtures("clamd")
def test_api_uploads_never_named_are_deleted_after_a_day(
    permit_service: Any, api_secret: str
) -> None:
    """Files uploaded through the API and never used do not stay for ever."""
    from civicstack.forms.tasks import api_uploads_expire

    response = Client().post(
        "/api/v1/services/apply-test-permit/questions/proof/documents",
        {"file": SimpleUploadedFile("proof.png", png_bytes(), "image/png")},
        headers={"Authorization": f"Bearer {api_secret}"},
    )
    assert response.status_code == 201
    assert api_uploads_expire.call() == 0
    Document.objects.update(created_at=timezone.now() - timedelta(hours=25))
    assert api_uploads_expire.call() == 1
    assert Document.objects.get().status == "deleted"


def test_keys_read_only_what_their_agency_submitted(
    permit_service: Any, api_secret: str, citizen: Any
) -> None:
    """An API key reads applications it sent, not citizens' online ones (ASVS V8.2)."""
    client = Client()
    sent = _post(client, api_secret, BODY).json()
    headers = {"Authorization": f"Bearer {api_secret}"}
    assert client.get(f"/api/v1/applications/{sent['id']}", headers=headers).status_code == 200
    online = Client()
    online.force_login(citizen)
    online.post("/en/apply/apply-test-permit/begin/")
    from civicstack.forms.engine import PageRef
    from civicstack.forms.models import Draft
    from civicstack.forms.services import application_submit, draft_answers_save

    draft = Draft.objects.get()
    draft = draft_answers_save(
        draft=draft,
        step=PageRef("name"),
        values={"full_name": "Rhian", "has_vehicle": "no", "email": "r@example.org"},
        actor=citizen,
    )
    application = application_submit(draft=draft, holder_keys=set(), actor=citizen)
    response = client.get(f"/api/v1/applications/{application.pk}", headers=headers)
    assert response.status_code == 404


def test_the_same_key_and_body_for_another_service_is_not_a_replay(
    permit_service: Any, api_secret: str
) -> None:
    """The key's request includes the service: another service's submission is refused."""
    from civicstack.catalogue.tests.factories import ServiceFactory
    from civicstack.forms.services import form_import
    from civicstack.forms.tests.conftest import PERMIT_FORM

    other = ServiceFactory(slug="apply-other-permit", agency=permit_service.agency)
    form_import(service=other, source=PERMIT_FORM, actor=None)
    client = Client()
    assert _post(client, api_secret, BODY).status_code == 201
    response = client.post(
        "/api/v1/services/apply-other-permit/applications",
        data=json.dumps(BODY),
        content_type="application/json",
        headers={"Authorization": f"Bearer {api_secret}", "Idempotency-Key": "key-1"},
    )
    assert response.status_code == 409
    assert Application.objects.count() == 1


def test_a_retry_after_a_new_form_version_still_gets_its_application(
    permit_service: Any, api_secret: str
) -> None:
    """A retried request that succeeded on the old version is answered, not refused."""
    from civicstack.forms.services import form_import
    from civicstack.forms.tests.conftest import PERMIT_FORM

    client = Client()
    first = _post(client, api_secret, BODY).json()
    form_import(
        service=permit_service,
        source=PERMIT_FORM.replace("id: email\n", "id: contact_email\n"),
        actor=None,
    )
    from civicstack.forms import selectors

    selectors.form_lookups_forget(slug="apply-test-permit")  # as publishing does on commit
    again = _post(client, api_secret, BODY)
    assert again.status_code == 200
    assert again.json()["id"] == first["id"]
    fresh = _post(client, api_secret, BODY, key="key-2")
    assert fresh.status_code == 400
