"""The citizen's notification settings page, the push subscription endpoint and the
service worker."""

from __future__ import annotations

import base64
import json
import secrets
from datetime import time
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from civicstack.accounts.tests.factories import AgencyFactory, UserFactory
from civicstack.notify import push
from civicstack.notify.models import (
    Kind,
    Notification,
    Preference,
    PushSubscription,
    Sender,
    Status,
)

pytestmark = pytest.mark.django_db

PAGE = "/en/account/notifications/"
SUBSCRIBE = "/en/account/notifications/push"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _browser_subscription(endpoint: str = "") -> dict[str, Any]:
    """What PushManager.subscribe() gives a page, with real keys."""
    key = ec.generate_private_key(ec.SECP256R1())
    return {
        "endpoint": endpoint or f"https://push.example.com/wpush/v2/{secrets.token_urlsafe(32)}",
        "expirationTime": None,
        "keys": {
            "p256dh": _b64(push.public_key_raw(key.public_key())),
            "auth": _b64(secrets.token_bytes(16)),
        },
    }


@pytest.fixture
def person() -> Any:
    return UserFactory(email="rhian@example.org", full_name="Rhian Evans")


@pytest.fixture
def client_in(person: Any) -> Client:
    client = Client()
    client.force_login(person)
    return client


@pytest.fixture
def vapid_key(settings: Any, tmp_path: Path) -> Path:
    path = tmp_path / "vapid.pem"
    settings.NOTIFY_VAPID_PRIVATE_KEY_FILE = path
    call_command("notify_vapid_keys", stdout=StringIO())
    return path


@pytest.fixture
def no_vapid_key(settings: Any, tmp_path: Path) -> None:
    settings.NOTIFY_VAPID_PRIVATE_KEY_FILE = tmp_path / "absent.pem"


def _form(**changes: str) -> dict[str, str]:
    data = {"phone": "", "language": "", "quiet_start": "", "quiet_end": ""}
    data.update(changes)
    return data


# --- The settings page ---------------------------------------------------------------------


def test_the_page_needs_sign_in() -> None:
    client = Client()
    for response in (client.get(PAGE), client.post(PAGE, _form(sms="on"))):
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("accounts:sign-in"))
    response = client.post(
        SUBSCRIBE, json.dumps(_browser_subscription()), content_type="application/json"
    )
    assert response.status_code == 302
    assert not Preference.objects.exists()
    assert not PushSubscription.objects.exists()


def test_the_page_explains_email_and_offers_push(client_in: Client, vapid_key: Path) -> None:
    response = client_in.get(PAGE)
    assert response.status_code == 200
    page = response.content.decode()
    assert "rhian@example.org" in page
    assert "always go by email" in page
    assert f'data-key="{push.vapid_public_key()}"' in page
    assert "Turn on notifications in this browser" in page
    assert "civicstack/notify-push.js" in page
    assert "We have not sent you any messages yet." in page


def test_without_a_vapid_key_the_page_says_push_is_not_available(
    client_in: Client, no_vapid_key: None
) -> None:
    page = client_in.get(PAGE).content.decode()
    assert "Browser notifications are not available" in page
    assert "data-notify-push " not in page
    assert "notify-push.js" not in page


def test_saving_the_settings(client_in: Client, person: Any) -> None:
    response = client_in.post(
        PAGE,
        _form(
            sms="on",
            push="on",
            phone="07700 900 982",
            language="cy",
            quiet_start="21:00",
            quiet_end="7.30",
        ),
    )
    assert response.status_code == 302
    assert response["Location"] == PAGE
    preference = Preference.objects.get(user=person)
    assert (preference.sms, preference.push, preference.phone, preference.language) == (
        True,
        True,
        "+447700900982",
        "cy",
    )
    assert (preference.quiet_start, preference.quiet_end) == (time(21, 0), time(7, 30))
    page = client_in.get(PAGE).content.decode()
    assert "Your notification settings have been saved." in page
    assert 'value="21:00"' in page and 'value="07:30"' in page
    assert 'id="id_language-cy" name="language" type="radio" value="cy" checked' in page
    # Turning things off again clears them.
    client_in.post(PAGE, _form())
    preference.refresh_from_db()
    assert (preference.sms, preference.push, preference.quiet_start) == (False, False, None)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"sms": "on", "phone": "not a phone"}, "id_phone", "Enter a mobile number"),
        ({"sms": "on", "phone": ""}, "id_phone", "Enter a mobile number to get text messages"),
        ({"phone": "9" * 41}, "id_phone", "Enter a mobile number"),
        ({"quiet_start": "25:00", "quiet_end": "07:00"}, "id_quiet_start", "like 21:00"),
        ({"quiet_start": "9pm", "quiet_end": "07:00"}, "id_quiet_start", "like 21:00"),
        ({"quiet_start": "21:00", "quiet_end": "7:60"}, "id_quiet_end", "like 07:30"),
        ({"quiet_start": "21:00", "quiet_end": "x" * 50}, "id_quiet_end", "24-hour clock"),
        ({"quiet_start": "21:00"}, "id_quiet_start", "both the start and the end"),
        ({"quiet_start": "21:00", "quiet_end": "21:00"}, "id_quiet_start", "different times"),
        ({"language": "fr"}, "id_language", "Choose English or Welsh"),
    ],
)
def test_bad_settings_show_errors_and_save_nothing(
    client_in: Client, person: Any, changes: dict[str, str], field: str, message: str
) -> None:
    data = _form(**changes)
    response = client_in.post(PAGE, data)
    assert response.status_code == 200
    page = response.content.decode()
    assert "There is a problem" in page
    assert f'href="#{field}"' in page
    assert message in page
    assert f'id="{field}-error"' in page
    assert "<title>Error:" in page
    assert not Preference.objects.filter(user=person).exists()
    # What the person typed is kept.
    for name in ("phone", "quiet_start", "quiet_end"):
        if data[name] and len(data[name]) <= 40:
            assert f'value="{data[name]}"' in page


def test_recent_messages_are_listed_in_plain_words(client_in: Client, person: Any) -> None:
    sender = Sender.objects.create(name="Test service", agency=AgencyFactory())
    now = timezone.now()
    for kind, status, subject in (
        (Kind.EMAIL, Status.DELIVERED, "Your application was received"),
        (Kind.SMS, Status.PERMANENT_FAILURE, ""),
        (Kind.PUSH, Status.CREATED, "Decision made"),
    ):
        Notification.objects.create(
            sender=sender,
            kind=kind,
            user=person,
            subject=subject,
            body="Your text body",
            status=status,
            next_attempt_at=now,
        )
    Notification.objects.create(
        sender=sender, kind=Kind.EMAIL, user=UserFactory(), subject="Not yours", next_attempt_at=now
    )
    page = client_in.get(PAGE).content.decode()
    assert "Your application was received" in page and "Delivered" in page
    assert "Your text body" in page and "Could not be delivered" in page
    assert "Decision made" in page and "Waiting to be sent" in page
    assert "Browser notification" in page and "Text message" in page
    assert "Not yours" not in page


# --- Subscribing a browser ----------------------------------------------------------------


def test_subscribing_stores_the_browser(client_in: Client, person: Any) -> None:
    subscription = _browser_subscription()
    response = client_in.post(
        SUBSCRIBE,
        json.dumps(subscription),
        content_type="application/json",
        HTTP_USER_AGENT=FIREFOX,
    )
    assert response.status_code == 201
    row = PushSubscription.objects.get(user=person)
    assert response.json() == {"id": str(row.pk)}
    assert row.endpoint == subscription["endpoint"]
    assert (row.p256dh, row.auth) == (subscription["keys"]["p256dh"], subscription["keys"]["auth"])
    assert row.label == "Firefox (Linux)"
    assert Preference.objects.get(user=person).push is True
    page = client_in.get(PAGE).content.decode()
    assert "Firefox (Linux)" in page
    assert "Notifications are turned on in this browser." in page
    # The endpoint (a capability) is not written into the page.
    assert subscription["endpoint"] not in page


def test_subscribing_also_works_as_a_form(client_in: Client, person: Any) -> None:
    subscription = _browser_subscription()
    response = client_in.post(
        SUBSCRIBE,
        {"endpoint": subscription["endpoint"], **subscription["keys"]},
    )
    assert response.status_code == 302
    assert PushSubscription.objects.filter(user=person).count() == 1


def test_subscribing_needs_the_csrf_token(person: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(person)
    response = client.post(
        SUBSCRIBE, json.dumps(_browser_subscription()), content_type="application/json"
    )
    assert response.status_code == 403
    assert not PushSubscription.objects.exists()


def _bad_bodies() -> list[tuple[str, str]]:
    good = _browser_subscription()
    bad_key = {**good, "keys": {**good["keys"], "p256dh": _b64(b"\x04" + b"\x01" * 64)}}
    short_auth = {**good, "keys": {**good["keys"], "auth": _b64(b"short")}}
    http = {**good, "endpoint": "http://push.example.com/x"}
    return [
        ("application/json", "{not json"),
        ("application/json", "[]"),
        ("application/json", '"text"'),
        ("application/json", "null"),
        ("application/json", json.dumps({"endpoint": good["endpoint"]})),
        ("application/json", json.dumps({**good, "keys": "none"})),
        ("application/json", json.dumps({**good, "endpoint": 42})),
        ("application/json", json.dumps({**good, "keys": {"p256dh": ["x"], "auth": {}}})),
        ("application/json", json.dumps(bad_key)),
        ("application/json", json.dumps(short_auth)),
        ("application/json", json.dumps(http)),
        ("application/json", json.dumps({**good, "padding": "x" * 10_000})),
        ("application/json", b"\xff\xfe\x00".decode("latin-1")),
        ("application/x-www-form-urlencoded", "endpoint=https%3A%2F%2Fpush.example.com%2Fx"),
        ("text/plain", "hello"),
    ]


# Named by position: the bodies hold freshly made keys, and pytest-xdist needs every worker
# to collect the same test ids.
@pytest.mark.parametrize(
    ("content_type", "body"),
    [pytest.param(*body, id=f"body{index}") for index, body in enumerate(_bad_bodies())],
)
def test_bad_subscriptions_are_refused_with_400(
    client_in: Client, content_type: str, body: str
) -> None:
    response = client_in.post(SUBSCRIBE, body, content_type=content_type)
    assert response.status_code == 400
    problem = response.json()
    assert problem["code"] == "validation_failed"
    assert problem["errors"]
    assert not PushSubscription.objects.exists()


def test_subscribing_is_post_only(client_in: Client) -> None:
    assert client_in.get(SUBSCRIBE).status_code == 405


# --- Removing a browser ----------------------------------------------------------------


def _stored(user: Any) -> PushSubscription:
    subscription = _browser_subscription()
    return PushSubscription.objects.create(
        user=user,
        endpoint=subscription["endpoint"],
        p256dh=subscription["keys"]["p256dh"],
        auth=subscription["keys"]["auth"],
        label="Chrome (Android)",
    )


def test_a_person_can_remove_their_own_browser(client_in: Client, person: Any) -> None:
    mine = _stored(person)
    page = client_in.get(PAGE).content.decode()
    remove_url = reverse("notify:push-remove", args=[mine.pk])
    assert remove_url in page
    response = client_in.post(remove_url)
    assert response.status_code == 302
    assert not PushSubscription.objects.filter(pk=mine.pk).exists()


def test_nobody_can_remove_someone_elses_browser(client_in: Client) -> None:
    theirs = _stored(UserFactory())
    response = client_in.post(reverse("notify:push-remove", args=[theirs.pk]))
    assert response.status_code == 404
    assert PushSubscription.objects.filter(pk=theirs.pk).exists()
    assert client_in.get(reverse("notify:push-remove", args=[theirs.pk])).status_code == 405
    assert client_in.post(PAGE.rstrip("/") + "/push/not-a-uuid/remove").status_code == 404


# --- The service worker -------------------------------------------------------------------


def test_the_service_worker_is_served_for_a_language_neutral_scope() -> None:
    for language in ("en", "cy"):
        response = Client().get(f"/{language}/account/notifications/push-worker.js")
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/javascript")
        assert response["Service-Worker-Allowed"] == "/account/notifications/push-worker/"
        body = response.content.decode()
        assert 'addEventListener("push"' in body
        assert "url.origin === self.location.origin" in body


def test_the_welsh_page_renders_and_saves_back_to_itself(client_in: Client) -> None:
    assert client_in.get("/cy/account/notifications/").status_code == 200
    response = client_in.post("/cy/account/notifications/", _form(language="cy"))
    assert response.status_code == 302
    assert response["Location"] == "/cy/account/notifications/"
