"""The Notify-compatible API v2 through Django's test client: every endpoint and its errors."""

from __future__ import annotations

import base64
import io
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pypdf import PdfWriter

from civicstack.accounts.constants import Role
from civicstack.accounts.tests.factories import AgencyFactory, staff_create
from civicstack.notify import api_v2, caches, services
from civicstack.notify.models import (
    ApiKey,
    KeyType,
    Kind,
    LetterPdf,
    Notification,
    Preference,
    Sender,
    Status,
    Template,
)

pytestmark = pytest.mark.django_db


@dataclass
class Setup:
    """A sender with templates of each kind and one key of each type."""

    sender: Sender
    email: Template
    sms: Template
    letter: Template
    keys: dict[str, str]
    api_keys: dict[str, ApiKey]


def sender_setup(name: str = "Licensing") -> Setup:
    """Create a sender, its email, text and letter templates, and a key of each type."""
    sender = Sender.objects.create(name=name, agency=AgencyFactory.create())
    email = services.template_create(
        actor=None,
        sender=sender,
        kind=Kind.EMAIL,
        name="Licence granted",
        subject_en="Your licence, ((name))",
        body_en="Dear ((name)),\n\nYour licence ((number)) is ready.",
    )
    sms = services.template_create(
        actor=None,
        sender=sender,
        kind=Kind.SMS,
        name="Licence text",
        subject_en="",
        body_en="Hi ((name)), your licence is ready.",
    )
    letter = services.template_create(
        actor=None,
        sender=sender,
        kind=Kind.LETTER,
        name="Licence letter",
        subject_en="Your licence",
        body_en="Dear ((name)), your licence is enclosed.",
    )
    keys: dict[str, str] = {}
    api_keys: dict[str, ApiKey] = {}
    for key_type in KeyType.values:
        key, text = services.api_key_create(
            actor=None, sender=sender, name=f"{key_type} key", key_type=key_type
        )
        keys[key_type] = text
        api_keys[key_type] = key
    return Setup(sender, email, sms, letter, keys, api_keys)


def token_for(key_text: str, *, iat: float | None = None, **header: Any) -> str:
    """Make a token the way Notify's clients do from a key text."""
    service_id, secret = key_text[-73:-37], key_text[-36:]
    claims = {"iss": service_id, "iat": int(time.time()) if iat is None else iat}
    return jwt.encode(claims, secret, algorithm=header.pop("algorithm", "HS256"), headers=header)


def pdf_bytes(pages: int = 1) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


class Api:
    """Calls the API as a client holding one key."""

    def __init__(self, key_text: str) -> None:
        self.key_text = key_text
        self.client = Client()

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"HTTP_AUTHORIZATION": f"Bearer {token or token_for(self.key_text)}"}

    def post(self, path: str, body: Any, **extra: Any) -> Any:
        data = body if isinstance(body, str | bytes) else json.dumps(body)
        extra = {**self.headers(), **extra}
        return self.client.post(path, data=data, content_type="application/json", **extra)

    def get(self, path: str, params: Any = None, **extra: Any) -> Any:
        return self.client.get(path, params or {}, **{**self.headers(), **extra})


def errors(response: Any) -> list[tuple[str, str]]:
    body = response.json()
    assert body["status_code"] == response.status_code
    return [(e["error"], e["message"]) for e in body["errors"]]


@pytest.fixture
def setup() -> Setup:
    return sender_setup()


@pytest.fixture
def api(setup: Setup) -> Api:
    return Api(setup.keys[KeyType.NORMAL])


def email_body(setup: Setup, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "email_address": "rhian@example.org",
        "template_id": str(setup.email.pk),
        "personalisation": {"name": "Rhian", "number": "L-1"},
    }
    body.update(overrides)
    return body


# --- Sending -------------------------------------------------------------------------------


def test_email_is_accepted_with_notifys_response(setup: Setup, api: Api) -> None:
    """A valid email request makes one notification and answers 201 with Notify's fields."""
    response = api.post("/v2/notifications/email", email_body(setup, reference="ref-1"))
    assert response.status_code == 201, response.content
    body = response.json()
    notification = Notification.objects.get(pk=body["id"])
    assert notification.sender == setup.sender
    assert notification.kind == Kind.EMAIL
    assert notification.recipient == "rhian@example.org"
    assert notification.api_key_id == setup.api_keys[KeyType.NORMAL].pk
    assert notification.key_type == KeyType.NORMAL
    assert body["reference"] == "ref-1"
    assert body["content"]["subject"] == "Your licence, Rhian"
    assert body["content"]["body"] == "Dear Rhian,\n\nYour licence L-1 is ready."
    assert body["content"]["from_email"] == "no-reply@civicstack.example"
    assert body["uri"] == f"http://testserver/v2/notifications/{notification.pk}"
    assert body["template"] == {
        "id": str(setup.email.pk),
        "version": 1,
        "uri": f"http://testserver/v2/template/{setup.email.pk}/version/1",
    }
    assert body["scheduled_for"] is None
    assert response["Cache-Control"] == "no-store"


def test_email_with_live_key_is_sent_after_commit(
    setup: Setup, api: Api, django_capture_on_commit_callbacks: Any
) -> None:
    """A live key's email reaches the mail outbox once the request commits."""
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/v2/notifications/email", email_body(setup))
    assert response.status_code == 201
    assert [m.to for m in mail.outbox] == [["rhian@example.org"]]
    assert Notification.objects.get(pk=response.json()["id"]).status == Status.DELIVERED


def test_test_key_sends_nothing(setup: Setup, django_capture_on_commit_callbacks: Any) -> None:
    """A test key's message is recorded as delivered and never sent."""
    api = Api(setup.keys[KeyType.TEST])
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/v2/notifications/email", email_body(setup))
    assert response.status_code == 201
    assert mail.outbox == []
    notification = Notification.objects.get(pk=response.json()["id"])
    assert notification.key_type == KeyType.TEST
    assert notification.status == Status.DELIVERED
    assert notification.attempts == 0


def test_sms_is_accepted_and_number_normalised(setup: Setup, api: Api) -> None:
    """A text message to a UK mobile is stored in E.164 form."""
    response = api.post(
        "/v2/notifications/sms",
        {
            "phone_number": "07700 900123",
            "template_id": str(setup.sms.pk),
            "personalisation": {"name": "Rhian"},
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["content"]["body"] == "Hi Rhian, your licence is ready."
    assert body["content"]["from_number"]
    assert Notification.objects.get(pk=body["id"]).recipient == "+447700900123"


def test_sms_too_long_is_refused(setup: Setup, api: Api) -> None:
    """A text longer than six fragments is refused with Notify's message."""
    response = api.post(
        "/v2/notifications/sms",
        {
            "phone_number": "07700900123",
            "template_id": str(setup.sms.pk),
            "personalisation": {"name": "x" * 1000},
        },
    )
    assert response.status_code == 400
    assert errors(response) == [
        (
            "BadRequestError",
            "Text messages cannot be longer than 918 characters. "
            "Your message is 1027 characters long.",
        )
    ]
    assert not Notification.objects.exists()


def test_precompiled_letter_is_stored(setup: Setup, api: Api) -> None:
    """A precompiled PDF is kept with its letter, which reports the default postage."""
    content = pdf_bytes(2)
    response = api.post(
        "/v2/notifications/letter",
        {"reference": "letter-1", "content": base64.b64encode(content).decode()},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body == {"id": body["id"], "reference": "letter-1", "postage": "second"}
    notification = Notification.objects.get(pk=body["id"])
    assert notification.kind == Kind.LETTER
    assert notification.address == api_v2.PRECOMPILED_ADDRESS
    assert bytes(LetterPdf.objects.get(notification=notification).content) == content

    shown = api.get(f"/v2/notifications/{notification.pk}").json()
    assert shown["type"] == "letter"
    assert shown["status"] == "accepted"
    assert shown["line_1"] is None
    assert shown["postage"] == "second"
    pdf = api.get(f"/v2/notifications/{notification.pk}/pdf")
    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf.content == content


@pytest.mark.parametrize(
    ("content", "postage", "message"),
    [
        ("not base64!", None, "Cannot decode letter content (invalid base64 encoding)"),
        (base64.b64encode(b"hello").decode(), None, "Letter content is not a valid PDF"),
        (
            base64.b64encode(b"%PDF-1.7 broken").decode(),
            None,
            "Letter content is not a valid PDF",
        ),
        (
            base64.b64encode(pdf_bytes(11)).decode(),
            None,
            "Letters must be 10 pages or less (this letter is 11 pages)",
        ),
        (
            base64.b64encode(b"%PDF-" + b"0" * (5 * 1024 * 1024)).decode(),
            None,
            "Letter content is too large: the limit is 5 MB",
        ),
    ],
)
def test_bad_precompiled_letters_are_refused(
    setup: Setup, api: Api, content: str, postage: str | None, message: str
) -> None:
    """Content that is not a printable PDF of at most 10 pages and 5 MB is refused."""
    body = {"reference": "r", "content": content}
    response = api.post("/v2/notifications/letter", body)
    assert response.status_code == 400
    assert errors(response) == [("BadRequestError", message)]
    assert not Notification.objects.exists()


def test_precompiled_letter_validation(setup: Setup, api: Api) -> None:
    """Missing fields and an unknown postage are all reported at once."""
    response = api.post("/v2/notifications/letter", {"content": 5, "postage": "pigeon"})
    assert response.status_code == 400
    assert errors(response) == [
        ("ValidationError", "reference is a required property"),
        ("ValidationError", "content 5 is not of type string"),
        (
            "ValidationError",
            "postage invalid. It must be first, second, economy, europe or rest-of-world.",
        ),
    ]


def test_template_letter_takes_its_address_from_the_personalisation(setup: Setup, api: Api) -> None:
    """A letter template is filled and its address lines are reported back."""
    personalisation = {
        "name": "Rhian",
        "address_line_1": "Rhian Evans",
        "address_line_2": "1 High Street",
        "postcode": "CF10 1AA",
    }
    response = api.post(
        "/v2/notifications/letter",
        {"template_id": str(setup.letter.pk), "personalisation": personalisation},
    )
    assert response.status_code == 201, response.content
    shown = api.get(f"/v2/notifications/{response.json()['id']}").json()
    assert (shown["line_1"], shown["line_2"], shown["line_3"]) == (
        "Rhian Evans",
        "1 High Street",
        "CF10 1AA",
    )
    assert shown["postcode"] == "CF10 1AA"
    assert shown["body"] == "Dear Rhian, your licence is enclosed."

    short = api.post(
        "/v2/notifications/letter",
        {"template_id": str(setup.letter.pk), "personalisation": {"name": "R"}},
    )
    assert errors(short) == [("BadRequestError", "Address must be at least 3 lines")]


def test_team_key_cannot_send_letters(setup: Setup) -> None:
    """Letters are refused for team keys, as Notify refuses them."""
    api = Api(setup.keys[KeyType.TEAM])
    response = api.post(
        "/v2/notifications/letter",
        {"reference": "r", "content": base64.b64encode(pdf_bytes()).decode()},
    )
    assert response.status_code == 403
    assert errors(response) == [("BadRequestError", "Cannot send letters with a team api key")]


def test_team_key_sends_only_to_staff_of_the_agency(setup: Setup) -> None:
    """A team key reaches the agency's staff, and no one else."""
    staff = staff_create(role=Role.CASEWORKER, agency=setup.sender.agency, email="cai@agency.test")
    Preference.objects.create(user=staff, phone="+447700900555")
    outsider = staff_create(role=Role.CASEWORKER, email="olwen@other.test")
    api = Api(setup.keys[KeyType.TEAM])

    ok = api.post("/v2/notifications/email", email_body(setup, email_address="CAI@agency.test"))
    assert ok.status_code == 201, ok.content
    refused = api.post("/v2/notifications/email", email_body(setup, email_address=outsider.email))
    assert refused.status_code == 400
    assert errors(refused) == [
        ("BadRequestError", "Can\u2019t send to this recipient using a team-only API key")
    ]
    sms = {"template_id": str(setup.sms.pk), "personalisation": {"name": "Cai"}}
    assert (
        api.post("/v2/notifications/sms", {**sms, "phone_number": "07700900555"}).status_code == 201
    )
    assert (
        api.post("/v2/notifications/sms", {**sms, "phone_number": "07700900556"}).status_code == 400
    )
    assert Notification.objects.filter(key_type=KeyType.TEAM).count() == 2


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"email_address": "not-an-email"},
            [("ValidationError", "email_address Not a valid email address")],
        ),
        ({"template_id": "abc"}, [("ValidationError", "template_id is not a valid UUID")]),
        ({"template_id": 12}, [("ValidationError", "template_id is not a valid UUID")]),
        (
            {"template_id": str(uuid.uuid4())},
            [("BadRequestError", "Template not found")],
        ),
        (
            {"personalisation": {"name": "R"}},
            [("BadRequestError", "Missing personalisation: number")],
        ),
        (
            {"personalisation": {"name": {"nested": 1}, "number": 1}},
            [
                (
                    "BadRequestError",
                    "Personalisation name must be text, a number, yes or no, or a list of text",
                )
            ],
        ),
        (
            {"personalisation": "text"},
            [("ValidationError", "personalisation text is not of type object")],
        ),
        (
            {"reference": "r" * 1001},
            [("ValidationError", "reference is too long (at most 1000 characters)")],
        ),
        ({"reference": 5}, [("ValidationError", "reference 5 is not of type string, null")]),
        (
            {"colour": "blue"},
            [("ValidationError", "Additional properties are not allowed (colour was unexpected)")],
        ),
        (
            {"scheduled_for": "2030-01-01 10:00"},
            [("BadRequestError", "Cannot schedule notifications (this feature is invite-only)")],
        ),
        (
            {"one_click_unsubscribe_url": "http://example.org/u"},
            [("ValidationError", "one_click_unsubscribe_url is not a valid https url")],
        ),
    ],
)
def test_bad_email_requests_get_notify_errors(
    setup: Setup, api: Api, overrides: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    """Each kind of bad input gets a 400 with Notify's error body, and nothing is written."""
    response = api.post("/v2/notifications/email", email_body(setup, **overrides))
    assert response.status_code == 400, response.content
    assert errors(response) == expected
    assert not Notification.objects.exists()


def test_missing_fields_are_all_reported(setup: Setup, api: Api) -> None:
    """Required properties are named, as Notify's schema validation names them."""
    response = api.post("/v2/notifications/sms", {})
    assert errors(response) == [
        ("ValidationError", "phone_number is a required property"),
        ("ValidationError", "template_id is a required property"),
    ]


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("01632 960001", "phone_number Not a UK mobile number"),
        ("0770090012", "phone_number Not enough digits"),
        ("07700 9001 234", "phone_number Too many digits"),
        ("0770090012a", "phone_number Must not contain letters or symbols"),
    ],
)
def test_bad_phone_numbers_are_refused(setup: Setup, api: Api, number: str, message: str) -> None:
    """Numbers that are not mobiles get Notify's messages."""
    response = api.post(
        "/v2/notifications/sms",
        {
            "phone_number": number,
            "template_id": str(setup.sms.pk),
            "personalisation": {"name": "R"},
        },
    )
    assert response.status_code == 400
    assert errors(response) == [("ValidationError", message)]


def test_template_of_another_kind_or_archived_or_sender_is_refused(setup: Setup, api: Api) -> None:
    """Only the caller's live templates of the right kind can be used."""
    wrong_kind = api.post(
        "/v2/notifications/email", email_body(setup, template_id=str(setup.sms.pk))
    )
    assert errors(wrong_kind) == [
        ("BadRequestError", "sms template is not suitable for email notification")
    ]
    other = sender_setup("Other")
    foreign = api.post(
        "/v2/notifications/email", email_body(setup, template_id=str(other.email.pk))
    )
    assert errors(foreign) == [("BadRequestError", "Template not found")]
    services.template_archive(actor=None, template=setup.email)
    archived = api.post("/v2/notifications/email", email_body(setup))
    assert errors(archived) == [("BadRequestError", "Template has been deleted")]


def test_bodies_that_are_not_json_objects_are_refused(setup: Setup, api: Api) -> None:
    """Invalid JSON, another content type, a list and an oversized body all get 4xx."""
    invalid = api.post("/v2/notifications/email", "{not json")
    assert errors(invalid) == [("BadRequestError", "Invalid JSON supplied in POST data")]
    listed = api.post("/v2/notifications/email", [1, 2])
    assert listed.status_code == 400
    form = api.client.post(
        "/v2/notifications/email",
        {"email_address": "a@b.org"},
        HTTP_AUTHORIZATION=api.headers()["HTTP_AUTHORIZATION"],
    )
    assert errors(form) == [
        ("BadRequestError", "Content-Type header is not set to application/json")
    ]
    huge = api.post(
        "/v2/notifications/email", email_body(setup, personalisation={"name": "x" * 1_100_000})
    )
    assert huge.status_code == 413
    assert huge.json()["errors"][0]["error"] == "BadRequestError"
    deep = api.post("/v2/notifications/email", "[" * 100_000 + "]" * 100_000)
    assert deep.status_code == 400


def test_rate_limit_answers_429(setup: Setup, api: Api) -> None:
    """Requests over the sender's per-minute limit get Notify's RateLimitError."""
    setup.sender.rate_limit_per_minute = 2
    setup.sender.save()
    assert api.post("/v2/notifications/email", email_body(setup)).status_code == 201
    assert api.post("/v2/notifications/email", email_body(setup)).status_code == 201
    response = api.post("/v2/notifications/email", email_body(setup))
    assert response.status_code == 429
    assert errors(response) == [
        ("RateLimitError", "Exceeded rate limit for key type LIVE of 2 requests per 60 seconds")
    ]
    assert Notification.objects.count() == 2


def test_daily_limit_answers_429(setup: Setup, api: Api) -> None:
    """The sender's daily cap gives Notify's TooManyRequestsError; test keys do not count."""
    setup.sender.daily_limit = 1
    setup.sender.save()
    assert api.post("/v2/notifications/email", email_body(setup)).status_code == 201
    response = api.post("/v2/notifications/email", email_body(setup))
    assert response.status_code == 429
    assert errors(response) == [("TooManyRequestsError", "Exceeded send limits (1) for today")]
    test_api = Api(setup.keys[KeyType.TEST])
    assert test_api.post("/v2/notifications/email", email_body(setup)).status_code == 201


def test_last_used_is_written_at_most_once_a_minute(setup: Setup, api: Api) -> None:
    """A key's last use is recorded, without a write on every request."""
    key = setup.api_keys[KeyType.NORMAL]
    api.post("/v2/notifications/email", email_body(setup))
    key.refresh_from_db()
    first = key.last_used_at
    assert first is not None
    api.post("/v2/notifications/email", email_body(setup))
    key.refresh_from_db()
    assert key.last_used_at == first


# --- Authentication ------------------------------------------------------------------------


def auth_message(response: Any) -> tuple[int, str]:
    body = response.json()
    assert body["errors"][0]["error"] == "AuthError"
    return response.status_code, body["errors"][0]["message"]


def test_missing_or_wrong_scheme_is_401(api: Api) -> None:
    """No header, or a header that is not a bearer token, answers 401."""
    assert auth_message(api.client.get("/v2/notifications")) == (
        401,
        "Unauthorized: authentication token must be provided",
    )
    assert auth_message(api.client.get("/v2/notifications", HTTP_AUTHORIZATION="Basic abc")) == (
        401,
        "Unauthorized: authentication bearer scheme must be used",
    )


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda s: "not.a.token", "Invalid token: signature, api token is not valid"),
        (
            lambda s: token_for(s.keys["normal"], iat=int(time.time()) - 31),
            "Error: Your system clock must be accurate to within 30 seconds",
        ),
        (
            lambda s: token_for(s.keys["normal"], iat=int(time.time()) + 31),
            "Error: Your system clock must be accurate to within 30 seconds",
        ),
        (
            lambda s: token_for(s.keys["normal"][:-36] + str(uuid.uuid4())),
            "Invalid token: API key not found",
        ),
        (
            lambda s: token_for(s.keys["normal"], algorithm="HS512"),
            "Invalid token: algorithm used is not HS256",
        ),
        (
            lambda s: jwt.encode(
                {"iss": str(s.sender.pk), "iat": int(time.time())}, "", algorithm="none"
            ),
            "Invalid token: algorithm used is not HS256",
        ),
        (
            lambda s: token_for("key-" + str(uuid.uuid4()) + "-" + s.keys["normal"][-36:]),
            "Invalid token: service not found",
        ),
        (
            lambda s: jwt.encode({"iss": "someone", "iat": int(time.time())}, "x" * 32),
            "Invalid token: service id is not the right data type",
        ),
        (
            lambda s: jwt.encode({"iat": int(time.time())}, "x" * 32),
            "Invalid token: iss field not provided",
        ),
        (
            lambda s: jwt.encode({"iss": str(s.sender.pk)}, s.keys["normal"][-36:]),
            "Invalid token: iat field not provided",
        ),
        (
            lambda s: jwt.encode(
                {"iss": str(s.sender.pk), "iat": "yesterday"}, s.keys["normal"][-36:]
            ),
            "Invalid token: make sure your API token matches the example at "
            "https://docs.notifications.service.gov.uk/rest-api.html#authorisation-header",
        ),
    ],
)
def test_bad_tokens_are_403(setup: Setup, api: Api, make: Any, message: str) -> None:
    """Every kind of bad token is refused with Notify's message, and nothing is sent."""
    response = api.post("/v2/notifications/email", email_body(setup), **api.headers(make(setup)))
    assert auth_message(response) == (403, message)
    assert not Notification.objects.exists()


def test_revoked_key_is_refused(setup: Setup, api: Api) -> None:
    """A revoked key's tokens are refused at once, saying so."""
    services.api_key_revoke(actor=None, key=setup.api_keys[KeyType.NORMAL])
    response = api.get("/v2/notifications")
    assert auth_message(response) == (403, "Invalid token: API key revoked")


def test_sender_without_keys_or_inactive_is_refused(setup: Setup, api: Api) -> None:
    """A sender with no keys, or one switched off, cannot call the API."""
    Sender.objects.filter(pk=setup.sender.pk).update(active=False)
    assert auth_message(api.get("/v2/notifications")) == (403, "Invalid token: service is archived")
    ApiKey.objects.filter(sender=setup.sender).delete()
    caches.forget()  # a change made outside the services reaches the API within a second
    assert auth_message(api.get("/v2/notifications")) == (
        403,
        "Invalid token: service has no API keys",
    )


# --- Reading -------------------------------------------------------------------------------


def test_notification_by_id(setup: Setup, api: Api) -> None:
    """A notification reads back with Notify's fields; others' are not found."""
    sent = api.post("/v2/notifications/email", email_body(setup, reference="abc")).json()
    body = api.get(f"/v2/notifications/{sent['id']}").json()
    assert body["id"] == sent["id"]
    assert body["type"] == "email"
    assert body["email_address"] == "rhian@example.org"
    assert body["phone_number"] is None
    assert body["status"] == "created"
    assert body["reference"] == "abc"
    assert body["subject"] == "Your licence, Rhian"
    assert body["template"]["version"] == 1
    assert body["created_at"].endswith("Z") and len(body["created_at"]) == 27
    assert body["completed_at"] is None
    assert body["cost_details"] == {}
    for name in ["line_1", "line_7", "postcode", "created_by_name", "sent_at", "scheduled_for"]:
        assert body[name] is None

    other = Api(sender_setup("Other").keys[KeyType.NORMAL])
    missing = other.get(f"/v2/notifications/{sent['id']}")
    assert missing.status_code == 404
    assert errors(missing) == [("NoResultFound", "No result found")]
    bad = api.get("/v2/notifications/not-a-uuid")
    assert errors(bad) == [("ValidationError", "notification_id is not a valid UUID")]


def test_notification_list_pages_and_filters(
    setup: Setup, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The list pages newest first with Notify's links, and filters by type, status, reference."""
    monkeypatch.setattr(api_v2, "PAGE_SIZE", 2)
    ids = [
        api.post("/v2/notifications/email", email_body(setup, reference=f"r{n}")).json()["id"]
        for n in range(3)
    ]
    sms = api.post(
        "/v2/notifications/sms",
        {
            "phone_number": "07700900123",
            "template_id": str(setup.sms.pk),
            "personalisation": {"name": "R"},
        },
    ).json()["id"]
    Notification.objects.filter(pk=ids[0]).update(
        status=Status.PERMANENT_FAILURE, completed_at=timezone.now()
    )
    Api(setup.keys[KeyType.TEST]).post("/v2/notifications/email", email_body(setup))

    first = api.get("/v2/notifications", {"template_type": "email"}).json()
    assert [n["id"] for n in first["notifications"]] == [ids[2], ids[1]]
    assert first["links"]["current"] == "http://testserver/v2/notifications?template_type=email"
    assert first["links"]["next"] == (
        f"http://testserver/v2/notifications?template_type=email&older_than={ids[1]}"
    )
    second = api.get("/v2/notifications", {"template_type": "email", "older_than": ids[1]}).json()
    assert [n["id"] for n in second["notifications"]] == [ids[0]]
    third = api.get("/v2/notifications", {"template_type": "email", "older_than": ids[0]}).json()
    assert third["notifications"] == []
    assert "next" not in third["links"]

    failed = api.get("/v2/notifications", {"status": ["failed", "delivered"]}).json()
    assert [n["id"] for n in failed["notifications"]] == [ids[0]]
    assert failed["notifications"][0]["completed_at"] is not None
    assert failed["links"]["current"].endswith("?status=failed&status=delivered")
    by_reference = api.get("/v2/notifications", {"reference": "r1"}).json()
    assert [n["id"] for n in by_reference["notifications"]] == [ids[1]]
    texts = api.get("/v2/notifications", {"template_type": "sms"}).json()
    assert [n["id"] for n in texts["notifications"]] == [sms]
    assert texts["notifications"][0]["cost_details"]["billable_sms_fragments"] == 1
    # A test key sees only the messages sent with test keys.
    tests = Api(setup.keys[KeyType.TEST]).get("/v2/notifications").json()
    assert len(tests["notifications"]) == 1


def test_notification_list_validation(api: Api) -> None:
    """Unknown filters and values get Notify's validation messages."""
    response = api.get(
        "/v2/notifications",
        {"status": "elephant", "template_type": "fax", "older_than": "x", "colour": "red"},
    )
    assert response.status_code == 400
    messages = [message for _, message in errors(response)]
    assert "Additional properties are not allowed (colour was unexpected)" in messages
    assert "template_type fax is not one of [sms, email, letter]" in messages
    assert "older_than is not a valid UUID" in messages
    assert any(m.startswith("status elephant is not one of [cancelled, created") for m in messages)


def test_templates(setup: Setup, api: Api) -> None:
    """Templates read back by id, by version and as a list, with Notify's fields."""
    services.template_update(
        actor=None,
        template=setup.email,
        name="Licence granted",
        subject_en="Your licence is ready, ((name))",
        body_en="Hello ((name))",
    )
    current = api.get(f"/v2/template/{setup.email.pk}").json()
    assert current["version"] == 2
    assert current["type"] == "email"
    assert current["name"] == "Licence granted"
    assert current["body"] == "Hello ((name))"
    assert current["subject"] == "Your licence is ready, ((name))"
    assert current["personalisation"] == {"name": {"required": True}}
    assert current["created_at"].endswith("Z")
    first = api.get(f"/v2/template/{setup.email.pk}/version/1").json()
    assert first["version"] == 1
    assert first["personalisation"] == {"name": {"required": True}, "number": {"required": True}}
    assert api.get(f"/v2/template/{setup.email.pk}/version/9").status_code == 404
    assert api.get(f"/v2/template/{setup.email.pk}/version/x").status_code == 404
    assert api.get(f"/v2/template/{uuid.uuid4()}").status_code == 404
    assert api.get(f"/v2/template/{sender_setup('Other').email.pk}").status_code == 404

    everything = api.get("/v2/templates").json()["templates"]
    assert {t["id"] for t in everything} == {
        str(setup.email.pk),
        str(setup.sms.pk),
        str(setup.letter.pk),
    }
    texts = api.get("/v2/templates", {"type": "sms"}).json()["templates"]
    assert [t["id"] for t in texts] == [str(setup.sms.pk)]
    assert texts[0]["subject"] is None
    bad = api.get("/v2/templates", {"type": "fax"})
    assert errors(bad) == [("ValidationError", "type fax is not one of [sms, email, letter]")]


def test_template_preview(setup: Setup, api: Api) -> None:
    """A preview fills the template and reports missing personalisation."""
    response = api.post(
        f"/v2/template/{setup.email.pk}/preview",
        {"personalisation": {"name": "Rhian", "number": "L-9"}},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["subject"] == "Your licence, Rhian"
    assert body["body"] == "Dear Rhian,\n\nYour licence L-9 is ready."
    assert "<p>Dear Rhian,</p>" in body["html"]
    assert body["version"] == 1
    missing = api.post(f"/v2/template/{setup.email.pk}/preview", {"personalisation": {}})
    assert errors(missing) == [("BadRequestError", "Missing personalisation: name, number")]


def test_unknown_paths_and_methods_answer_in_notifys_body(api: Api) -> None:
    """Paths the API does not have and wrong methods answer JSON, not pages."""
    response = api.get("/v2/elephants")
    assert response.status_code == 404
    assert response.json()["errors"][0]["error"] == "NotFound"
    wrong = api.get("/v2/notifications/email")
    assert wrong.status_code == 405
    assert wrong.json()["status_code"] == 405


def test_pdf_of_an_email_is_refused(setup: Setup, api: Api) -> None:
    """Only letters have a PDF."""
    sent = api.post("/v2/notifications/email", email_body(setup)).json()
    response = api.get(f"/v2/notifications/{sent['id']}/pdf")
    assert errors(response) == [("BadRequestError", "Notification is not a letter")]


# --- Fuzzing -------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=15), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.dictionaries(
        st.sampled_from(
            [
                "email_address",
                "phone_number",
                "template_id",
                "personalisation",
                "reference",
                "content",
                "postage",
                "scheduled_for",
                "email_reply_to_id",
                "x",
            ]
        ),
        json_values,
    ),
    path=st.sampled_from(
        ["/v2/notifications/email", "/v2/notifications/sms", "/v2/notifications/letter"]
    ),
)
def test_random_bodies_never_cause_a_server_error(
    setup: Setup, api: Api, body: Any, path: str
) -> None:
    """Whatever the body, the answer is a 201 or a 4xx in Notify's format."""
    if body.get("template_id") is True:
        body["template_id"] = str(setup.email.pk)
    response = api.post(path, body)
    assert response.status_code in (201, 400, 403, 413, 429), response.content
    if response.status_code != 201:
        assert response.json()["errors"]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    raw=st.binary(max_size=200),
    query=st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=3),
)
def test_random_bytes_and_queries_never_cause_a_server_error(
    setup: Setup, api: Api, raw: bytes, query: dict[str, str]
) -> None:
    """Raw bytes as a body and random query strings get a 4xx, never a 500."""
    assert api.post("/v2/notifications/email", raw).status_code == 400
    assert api.post(f"/v2/template/{setup.email.pk}/preview", raw).status_code in (200, 400)
    assert api.get("/v2/notifications", query).status_code in (200, 400)
    assert api.get("/v2/templates", query).status_code in (200, 400)


def test_sending_an_email_takes_few_queries(
    setup: Setup, api: Api, django_assert_max_num_queries: Any
) -> None:
    """Sending is lean: keys with the sender, template, version, counters and the insert."""
    api.post("/v2/notifications/email", email_body(setup))  # last_used_at is now recent
    # Six statements: keys, template, rate counter, version, daily counter, insert; the
    # other four are the savepoints of the transaction and of delivery's own block.
    with django_assert_max_num_queries(10):
        response = api.post("/v2/notifications/email", email_body(setup))
    assert response.status_code == 201
