"""GOV.UK Notify's own Python client, unchanged, against a running Civicstack."""

from __future__ import annotations

import io
from typing import Any

import pytest
from notifications_python_client.errors import HTTPError
from notifications_python_client.notifications import NotificationsAPIClient
from pytest_django.fixtures import Settings

from civicstack.notify.models import KeyType, LetterPdf, Notification, Status
from civicstack.notify.tests.test_api_v2 import Setup, pdf_bytes, sender_setup

# The server runs in another thread: its rows must be committed to be seen.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def setup(settings: Settings, tmp_path: Any) -> Setup:
    settings.NOTIFY_OUTBOX_DIR = tmp_path / "outbox"
    settings.NOTIFY_SMS_BACKEND = "outbox"
    return sender_setup()


@pytest.fixture
def client(live_server: Any, setup: Setup) -> NotificationsAPIClient:
    return NotificationsAPIClient(setup.keys[KeyType.NORMAL], base_url=live_server.url)


def test_every_client_call_works(
    client: NotificationsAPIClient, setup: Setup, live_server: Any
) -> None:
    """Each call of Notify's client gets the answer it expects from Civicstack."""
    email = client.send_email_notification(
        email_address="rhian@example.org",
        template_id=str(setup.email.pk),
        personalisation={"name": "Rhian", "number": "L-1"},
        reference="client-email",
    )
    assert email["content"]["subject"] == "Your licence, Rhian"
    assert email["uri"] == f"{live_server.url}/v2/notifications/{email['id']}"

    sms = client.send_sms_notification(
        phone_number="+44 7700 900123",
        template_id=str(setup.sms.pk),
        personalisation={"name": "Rhian"},
        reference="client-sms",
    )
    assert sms["content"]["body"] == "Hi Rhian, your licence is ready."

    pdf = pdf_bytes(3)
    letter = client.send_precompiled_letter_notification(
        reference="client-letter", pdf_file=io.BytesIO(pdf), postage="first"
    )
    assert letter["postage"] == "first"
    assert bytes(LetterPdf.objects.get(notification_id=letter["id"]).content) == pdf
    assert client.get_pdf_for_letter(letter["id"]).read() == pdf

    read = client.get_notification_by_id(email["id"])
    assert read["email_address"] == "rhian@example.org"
    assert read["reference"] == "client-email"
    assert read["type"] == "email"
    # The send ran once the request committed: the email is delivered to the outbox.
    assert read["status"] == Status.DELIVERED
    assert read["sent_at"] is not None

    everything = client.get_all_notifications()
    assert [n["id"] for n in everything["notifications"]] == [letter["id"], sms["id"], email["id"]]
    assert everything["links"]["current"] == f"{live_server.url}/v2/notifications"
    texts = client.get_all_notifications(template_type="sms", status="delivered")
    assert [n["id"] for n in texts["notifications"]] == [sms["id"]]
    assert [
        n["id"] for n in client.get_all_notifications(reference="client-letter")["notifications"]
    ] == [letter["id"]]
    listed = list(client.get_all_notifications_iterator())
    assert [n["id"] for n in listed] == [letter["id"], sms["id"], email["id"]]

    template = client.get_template(str(setup.email.pk))
    assert template["name"] == "Licence granted"
    assert template["version"] == 1
    version = client.get_template_version(str(setup.email.pk), 1)
    assert version["body"] == "Dear ((name)),\n\nYour licence ((number)) is ready."
    templates = client.get_all_templates()["templates"]
    assert len(templates) == 3
    letters = client.get_all_templates(template_type="letter")["templates"]
    assert [t["id"] for t in letters] == [str(setup.letter.pk)]
    preview = client.post_template_preview(str(setup.sms.pk), personalisation={"name": "Sam"})
    assert preview["body"] == "Hi Sam, your licence is ready."
    assert preview["subject"] is None

    assert Notification.objects.filter(sender=setup.sender).count() == 3


def test_iterator_follows_next_links(
    client: NotificationsAPIClient, setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The client's iterator walks every page through the ``next`` links."""
    from civicstack.notify import api_v2

    monkeypatch.setattr(api_v2, "PAGE_SIZE", 2)
    sent = [
        client.send_email_notification(
            email_address=f"p{n}@example.org",
            template_id=str(setup.email.pk),
            personalisation={"name": "P", "number": n},
        )["id"]
        for n in range(5)
    ]
    assert [n["id"] for n in client.get_all_notifications_iterator()] == sent[::-1]


def test_client_errors_carry_notifys_body(
    client: NotificationsAPIClient, setup: Setup, live_server: Any
) -> None:
    """A refused request raises the client's HTTPError with Notify's error list."""
    with pytest.raises(HTTPError) as caught:
        client.send_email_notification(
            email_address="not-an-email", template_id=str(setup.email.pk)
        )
    assert caught.value.status_code == 400
    assert caught.value.message == [
        {"error": "ValidationError", "message": "email_address Not a valid email address"}
    ]

    with pytest.raises(HTTPError) as missing:
        client.send_email_notification(
            email_address="rhian@example.org",
            template_id=str(setup.email.pk),
            personalisation={"name": "Rhian"},
        )
    assert missing.value.message == [
        {"error": "BadRequestError", "message": "Missing personalisation: number"}
    ]

    stranger = NotificationsAPIClient(
        "key-" + str(setup.sender.pk) + "-00000000-0000-4000-8000-000000000000",
        base_url=live_server.url,
    )
    with pytest.raises(HTTPError) as refused:
        stranger.get_all_templates()
    assert refused.value.status_code == 403
    assert refused.value.message == [
        {"error": "AuthError", "message": "Invalid token: API key not found"}
    ]
