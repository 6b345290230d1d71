"""Text messages: the outbox, the HTTP gateway (the real stand-in on loopback) and receipts."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from django.test import Client
from django.utils import timezone
from pytest_django.fixtures import Settings

from civicstack.catalogue.tests.factories import ServiceFactory
from civicstack.notify import delivery, services
from civicstack.notify.channels import channels
from civicstack.notify.models import Kind, Notification, Sender, Status, Template
from civicstack.notify.standin_sms import SmsGateway

TOKEN = "gateway-token-for-tests"
RECEIPTS = "/notify/receipts/sms"


@pytest.fixture
def sender(db: Any) -> Sender:
    sender = services.sender_for_service(service=ServiceFactory())
    return services.sender_update(
        actor=None,
        sender=sender,
        rate_limit_per_minute=3000,
        daily_limit=1000,
        email_reply_to="",
        sms_sender="Council",
    )


@pytest.fixture
def template(sender: Sender) -> Template:
    return services.template_create(
        actor=None,
        sender=sender,
        kind=Kind.SMS,
        name="Appointment",
        subject_en="",
        body_en="Hello ((name)), your appointment is on ((day)).",
    )


@pytest.fixture
def outbox(settings: Settings, tmp_path: Path) -> Path:
    settings.NOTIFY_OUTBOX_DIR = tmp_path / "outbox"
    settings.NOTIFY_SMS_BACKEND = "outbox"
    return tmp_path / "outbox"


@pytest.fixture
def gateway(settings: Settings, outbox: Path) -> Iterator[SmsGateway]:
    """The stand-in gateway on loopback, posting receipts only when a test asks."""
    with SmsGateway(
        token=TOKEN,
        receipts="manual",
        refused_numbers={"+447700900404"},
        store=outbox / "gateway.jsonl",
    ) as running:
        settings.NOTIFY_SMS_BACKEND = "http"
        settings.NOTIFY_SMS_URL = running.url
        settings.NOTIFY_SMS_TOKEN = TOKEN
        yield running


def text_create(sender: Sender, template: Template, number: str = "07700 900123") -> Notification:
    return delivery.notification_create(
        sender=sender,
        kind=Kind.SMS,
        recipient=number,
        template=template,
        personalisation={"name": "Rhian", "day": "Monday"},
        reference="appointment-17",
    )


def send(notification: Notification) -> Notification:
    delivery.notifications_send([str(notification.pk)])
    notification.refresh_from_db()
    return notification


def resend(notification: Notification) -> Notification:
    """Put a message back to ``created``, as the sweeper does after a worker died mid-send."""
    Notification.objects.filter(pk=notification.pk).update(
        status=Status.CREATED, claimed_until=None, next_attempt_at=timezone.now()
    )
    return send(notification)


def receipt_post(
    client: Client,
    body: Any,
    *,
    token: str | None = TOKEN,
    content_type: str = "application/json",
) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(RECEIPTS, data=data, content_type=content_type, headers=headers)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- Outbox ---------------------------------------------------------------------------------


def test_outbox_backend_writes_each_text_as_a_readable_file(
    outbox: Path, sender: Sender, template: Template
) -> None:
    """The embedded default writes the text, its number and sender to sms/<id>.txt."""
    notification = send(text_create(sender, template))

    written = (outbox / "sms" / f"{notification.pk}.txt").read_text(encoding="utf-8")
    assert "To: +447700900123" in written
    assert "From: Council" in written
    assert written.rstrip().endswith("Hello Rhian, your appointment is on Monday.")
    assert notification.status == Status.DELIVERED
    assert notification.provider == "sms-outbox"
    assert [p.name for p in (outbox / "sms").iterdir()] == [f"{notification.pk}.txt"]


def test_channel_provider_names_the_backend_receipts_use(settings: Settings) -> None:
    """Receipts find messages by provider, so the http backend reports 'sms-http'."""
    settings.NOTIFY_SMS_BACKEND = "http"
    assert channels.get("sms").provider == "sms-http"
    settings.NOTIFY_SMS_BACKEND = "outbox"
    assert channels.get("sms").provider == "sms-outbox"


# --- HTTP gateway ---------------------------------------------------------------------------


def test_gateway_receives_the_text_and_the_message_waits_for_its_receipt(
    gateway: SmsGateway, sender: Sender, template: Template
) -> None:
    """The gateway gets the number, sender, body and our id; the row keeps its reference."""
    notification = send(text_create(sender, template))

    [text] = gateway.messages
    assert text.id == str(notification.pk)
    assert text.to == "+447700900123"
    assert text.sender == "Council"
    assert text.body == "Hello Rhian, your appointment is on Monday."
    assert text.reference == "appointment-17"
    assert notification.status == Status.SENDING
    assert notification.provider == "sms-http"
    assert notification.provider_reference == text.provider_id
    assert notification.claimed_until is None
    stored = (gateway.store or Path()).read_text(encoding="utf-8").splitlines()
    assert json.loads(stored[0])["id"] == str(notification.pk)


def test_receipts_from_the_gateway_mark_delivered_and_permanent_failure(
    gateway: SmsGateway, sender: Sender, template: Template, client: Client
) -> None:
    """A receipt moves a sending message to its final status, with the gateway's reason."""
    delivered = send(text_create(sender, template))
    # Numbers ending 900002 fail permanently at the stand-in, as at Notify.
    failed = send(text_create(sender, template, number="07700 900002"))

    for notification in (delivered, failed):
        payload = gateway.receipt_for(notification.provider_reference or "")
        response = receipt_post(client, payload)
        assert response.status_code == 200, response.content
        assert response.json()["notification"] == str(notification.pk)
        notification.refresh_from_db()

    assert delivered.status == Status.DELIVERED
    assert delivered.completed_at is not None
    assert failed.status == Status.PERMANENT_FAILURE
    assert failed.failure_reason == "The number does not exist"


def test_a_repeated_receipt_changes_nothing(
    gateway: SmsGateway, sender: Sender, template: Template, client: Client
) -> None:
    """A late 'temporary-failure' after 'delivered' leaves the message delivered."""
    notification = send(text_create(sender, template))
    reference = notification.provider_reference
    assert receipt_post(client, {"id": reference, "status": "delivered"}).status_code == 200
    late = {"id": reference, "status": "temporary-failure", "reason": "late"}
    assert receipt_post(client, late).status_code == 200
    notification.refresh_from_db()
    assert notification.status == Status.DELIVERED
    assert notification.failure_reason == ""


def test_the_same_message_reaches_the_gateway_once(
    gateway: SmsGateway, sender: Sender, template: Template
) -> None:
    """A duplicated task sends nothing; a resend after a crash is recognised by its id."""
    notification = text_create(sender, template)
    send(notification)
    first_reference = Notification.objects.get(pk=notification.pk).provider_reference
    send(notification)  # the same task delivered twice: nothing left to claim
    assert gateway.posts == 1

    again = resend(notification)

    assert gateway.posts == 2
    assert len(gateway.messages) == 1
    assert again.provider_reference == first_reference
    assert again.status == Status.SENDING
    assert again.attempts == 2


def test_gateway_down_means_retry_later(
    settings: Settings, outbox: Path, sender: Sender, template: Template
) -> None:
    """With nothing listening, the message goes back to the queue with a later attempt."""
    settings.NOTIFY_SMS_BACKEND = "http"
    settings.NOTIFY_SMS_URL = f"http://127.0.0.1:{closed_port()}/messages"
    settings.NOTIFY_SMS_TOKEN = TOKEN
    first, second = text_create(sender, template), text_create(sender, template)
    before = timezone.now()

    delivery.notifications_send([str(first.pk), str(second.pk)])

    for notification in (first, second):
        notification.refresh_from_db()
        assert notification.status == Status.CREATED
        assert notification.attempts == 1
        assert notification.next_attempt_at > before
        assert "gateway unavailable" in notification.failure_reason


def test_gateway_outage_answer_means_retry_later(
    gateway: SmsGateway, sender: Sender, template: Template
) -> None:
    """A 503 from the gateway is temporary: the message is tried again later."""
    gateway.outage = 503
    notification = send(text_create(sender, template))
    assert notification.status == Status.CREATED
    assert notification.next_attempt_at > timezone.now()
    assert notification.failure_reason == "Text message gateway answered 503"

    gateway.outage = None
    assert resend(notification).status == Status.SENDING
    assert len(gateway.messages) == 1


def test_number_refused_by_the_gateway_fails_permanently_with_its_reason(
    gateway: SmsGateway, sender: Sender, template: Template
) -> None:
    """A 400 from the gateway is final: the number cannot receive texts."""
    notification = send(text_create(sender, template, number="07700 900404"))
    assert notification.status == Status.PERMANENT_FAILURE
    assert notification.failure_reason == (
        "Text message gateway refused the message: Not a valid mobile number"
    )
    assert gateway.messages == []


def test_wrong_gateway_token_is_a_technical_failure(
    gateway: SmsGateway, settings: Settings, sender: Sender, template: Template
) -> None:
    """Refused credentials are our misconfiguration, not the recipient's problem."""
    settings.NOTIFY_SMS_TOKEN = "not-the-token"
    notification = send(text_create(sender, template))
    assert notification.status == Status.TECHNICAL_FAILURE
    assert "credentials" in notification.failure_reason
    assert gateway.messages == []


def test_stand_in_refuses_bad_tokens_and_malformed_numbers(gateway: SmsGateway) -> None:
    """The stand-in checks what a real gateway checks."""
    message = {"id": "m-1", "to": "+4477", "from": "", "body": "Hi", "reference": ""}
    wrong = requests.post(
        gateway.url, json=message, headers={"Authorization": "Bearer x"}, timeout=5
    )
    assert wrong.status_code == 401
    auth = {"Authorization": f"Bearer {TOKEN}"}
    malformed = requests.post(gateway.url, json=message, headers=auth, timeout=5)
    assert malformed.status_code == 400
    assert malformed.json()["error"] == "invalid-number"
    not_json = requests.post(gateway.url, data=b"{", headers=auth, timeout=5)
    assert not_json.status_code == 400
    assert gateway.messages == []


# --- Receipts: bad input ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "options", "status", "code"),
    [
        ({"id": "x", "status": "delivered"}, {"token": None}, 401, "not_authenticated"),
        ({"id": "x", "status": "delivered"}, {"token": "wrong"}, 401, "not_authenticated"),
        ("{not json", {}, 400, "validation_failed"),
        ("[1, 2]", {}, 400, "validation_failed"),
        ('{"id": NaN}', {}, 400, "validation_failed"),
        (
            "id=x",
            {"content_type": "application/x-www-form-urlencoded"},
            415,
            "unsupported_media_type",
        ),
        ({"id": "x", "status": "sent"}, {}, 400, "validation_failed"),
        ({"status": "delivered"}, {}, 400, "validation_failed"),
        ({"id": ["x"], "status": "delivered"}, {}, 400, "validation_failed"),
        ({"id": "x" * 201, "status": "delivered"}, {}, 400, "validation_failed"),
        ({"id": "x", "status": "permanent-failure", "reason": 7}, {}, 400, "validation_failed"),
        ({"id": "no-such-message", "status": "delivered"}, {}, 404, "not_found"),
    ],
)
def test_bad_receipts_get_a_clear_json_error(
    db: Any,
    settings: Settings,
    client: Client,
    body: Any,
    options: dict[str, Any],
    status: int,
    code: str,
) -> None:
    """Every malformed or unauthorised receipt is a 4xx JSON error, never a 500."""
    settings.NOTIFY_SMS_TOKEN = TOKEN
    response = receipt_post(client, body, **options)
    assert response.status_code == status
    assert response.json()["code"] == code


def test_receipts_are_refused_when_no_token_is_configured(
    settings: Settings, client: Client, db: Any
) -> None:
    """Without a configured token no receipt can be trusted, even one with an empty token."""
    settings.NOTIFY_SMS_TOKEN = ""
    response = receipt_post(client, {"id": "x", "status": "delivered"}, token="")
    assert response.status_code == 401


def test_receipts_take_post_only(settings: Settings, client: Client, db: Any) -> None:
    settings.NOTIFY_SMS_TOKEN = TOKEN
    response = client.get(RECEIPTS, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 405
    assert response["Allow"] == "POST"


# --- The whole round trip, with receipts posted by the gateway itself ------------------------


@pytest.mark.django_db(transaction=True)
def test_gateway_posts_receipts_back_to_civicstack(
    live_server: Any, settings: Settings, tmp_path: Path, sender: Sender, template: Template
) -> None:
    """Civicstack sends through the stand-in, which posts each receipt to the live site."""
    settings.NOTIFY_OUTBOX_DIR = tmp_path / "outbox"
    with SmsGateway(token=TOKEN, callback_url=f"{live_server.url}{RECEIPTS}") as running:
        settings.NOTIFY_SMS_BACKEND = "http"
        settings.NOTIFY_SMS_URL = running.url
        settings.NOTIFY_SMS_TOKEN = TOKEN
        # Outside a transaction the send task runs as soon as the row is written.
        delivered = text_create(sender, template)
        failed = text_create(sender, template, number="07700 900002")
        delivery.notifications_send([str(delivered.pk), str(failed.pk)])
        assert running.receipts_wait(2, timeout=20)

    delivered.refresh_from_db()
    failed.refresh_from_db()
    assert delivered.status == Status.DELIVERED
    assert failed.status == Status.PERMANENT_FAILURE
    assert failed.failure_reason == "The number does not exist"
    assert len(running.messages) == 2
