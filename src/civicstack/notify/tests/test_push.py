"""Web push: the VAPID key command, subscription checks and sending through a stand-in
push service that verifies VAPID (RFC 8292) and decrypts the message (RFC 8291)."""

from __future__ import annotations

import base64
import secrets
import stat
import time
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.management import CommandError, call_command
from django.utils import timezone

from civicstack.accounts.tests.factories import AgencyFactory, UserFactory
from civicstack.notify import delivery, push, services
from civicstack.notify.models import (
    Kind,
    Notification,
    Preference,
    PushSubscription,
    Sender,
    Status,
)
from civicstack.notify.standin_push import PushStandin

pytestmark = pytest.mark.django_db


@pytest.fixture
def vapid_key(settings: Any, tmp_path: Path) -> Path:
    """A VAPID key written by the command, as an operator would."""
    path = tmp_path / "keys" / "vapid-p256.pem"
    settings.NOTIFY_VAPID_PRIVATE_KEY_FILE = path
    call_command("notify_vapid_keys", stdout=StringIO())
    return path


@pytest.fixture
def standin() -> Iterator[PushStandin]:
    with PushStandin() as service:
        yield service


@pytest.fixture
def sender() -> Sender:
    return Sender.objects.create(name="Test service", agency=AgencyFactory())


@pytest.fixture
def template(sender: Sender) -> Any:
    return services.template_create(
        actor=None,
        sender=sender,
        kind=Kind.PUSH,
        name="Case update",
        subject_en="Your application ((reference))",
        body_en="Hello ((name)), there is news about your application.",
    )


@pytest.fixture
def person() -> Any:
    return UserFactory(full_name="Rhian Evans")


def _subscribe(person: Any, subscription: dict[str, Any]) -> PushSubscription:
    return services.push_subscription_save(
        user=person,
        endpoint=subscription["endpoint"],
        p256dh=subscription["keys"]["p256dh"],
        auth=subscription["keys"]["auth"],
    )


def _push(sender: Sender, template: Any, person: Any, **personalisation: Any) -> Notification:
    values = {"reference": "APP-2026-000123", "name": "Rhian", **personalisation}
    notification = delivery.notification_create(
        sender=sender, kind=Kind.PUSH, user=person, template=template, personalisation=values
    )
    delivery.notifications_send([str(notification.pk)])
    notification.refresh_from_db()
    return notification


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _p256dh() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return _b64(push.public_key_raw(key.public_key()))


# --- The key command ----------------------------------------------------------------------


def test_vapid_key_command_writes_a_private_p256_key_readable_only_by_its_owner(
    settings: Any, tmp_path: Path
) -> None:
    """The key file is PEM, mode 0600, and the printed public key is what browsers use."""
    path = tmp_path / "keys" / "vapid.pem"
    settings.NOTIFY_VAPID_PRIVATE_KEY_FILE = path
    out = StringIO()
    call_command("notify_vapid_keys", stdout=out)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    public = push.vapid_public_key()
    assert public in out.getvalue()
    raw = base64.urlsafe_b64decode(public + "=")
    assert len(raw) == 65 and raw[0] == 4


def test_vapid_key_command_refuses_to_overwrite_without_force(vapid_key: Path) -> None:
    """An existing key stays unless --force; --if-missing keeps it quietly."""
    before = vapid_key.read_bytes()
    with pytest.raises(CommandError, match="--force"):
        call_command("notify_vapid_keys", stdout=StringIO())
    out = StringIO()
    call_command("notify_vapid_keys", "--if-missing", stdout=out)
    assert vapid_key.read_bytes() == before
    assert push.vapid_public_key() in out.getvalue()
    call_command("notify_vapid_keys", "--force", stdout=StringIO())
    assert vapid_key.read_bytes() != before
    assert stat.S_IMODE(vapid_key.stat().st_mode) == 0o600


def test_a_missing_or_wrong_key_makes_push_unavailable(settings: Any, tmp_path: Path) -> None:
    """No key file, or a key of another curve, is reported clearly."""
    settings.NOTIFY_VAPID_PRIVATE_KEY_FILE = tmp_path / "nothing.pem"
    assert push.push_available() is False
    with pytest.raises(push.VapidKeyUnavailable, match="notify_vapid_keys"):
        push.vapid_public_key()
    from cryptography.hazmat.primitives import serialization

    other = ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (tmp_path / "p384.pem").write_bytes(other)
    settings.NOTIFY_VAPID_PRIVATE_KEY_FILE = tmp_path / "p384.pem"
    with pytest.raises(push.VapidKeyUnavailable, match="P-256"):
        push.vapid_public_key()
    (tmp_path / "junk.pem").write_text("not a key")
    settings.NOTIFY_VAPID_PRIVATE_KEY_FILE = tmp_path / "junk.pem"
    with pytest.raises(push.VapidKeyUnavailable, match="PEM"):
        push.vapid_public_key()


# --- Subscription checks ----------------------------------------------------------------


def test_a_well_formed_subscription_passes() -> None:
    errors = push.subscription_check(
        endpoint="https://fcm.googleapis.com/fcm/send/abc:def",
        p256dh=_p256dh(),
        auth=_b64(secrets.token_bytes(16)),
    )
    assert errors == {}


@pytest.mark.parametrize(
    "endpoint",
    [
        "",
        "push.example.com/abc",
        "ftp://push.example.com/abc",
        "javascript:alert(1)",
        "http://push.example.com/abc",
        "https://user:secret@push.example.com/abc",
        "https://push.example.com/abc#fragment",
        "https://push.example.com/a b",
        "https://[::1/abc",
        "https://push.example.com:99999/abc",
        "https://push.example.com/" + "a" * 1000,
        "https://pûsh.example.com/abc",
    ],
)
def test_bad_endpoints_are_refused(endpoint: str) -> None:
    errors = push.subscription_check(
        endpoint=endpoint, p256dh=_p256dh(), auth=_b64(secrets.token_bytes(16))
    )
    assert list(errors) == ["endpoint"]


def _not_on_curve() -> str:
    raw = bytearray(push.public_key_raw(ec.generate_private_key(ec.SECP256R1()).public_key()))
    raw[-1] ^= 1  # y no longer matches x
    return _b64(bytes(raw))


@pytest.mark.parametrize(
    "p256dh",
    [
        "",
        "not base64!",
        _b64(b"\x04" + bytes(range(1, 64))),
        _b64(b"\x03" + bytes(range(1, 65))),
        _b64(b"\x04" + b"\x00" * 64),
        "not-on-the-curve",
        "x" * 300,
    ],
)
def test_bad_subscriber_keys_are_refused(p256dh: str) -> None:
    if p256dh == "not-on-the-curve":
        p256dh = _not_on_curve()
    errors = push.subscription_check(
        endpoint="https://push.example.com/abc", p256dh=p256dh, auth=_b64(secrets.token_bytes(16))
    )
    assert list(errors) == ["p256dh"]


@pytest.mark.parametrize(
    "auth", ["", _b64(bytes(range(15))), _b64(bytes(range(17))), "$$$$", "é" * 22]
)
def test_bad_auth_secrets_are_refused(auth: str) -> None:
    errors = push.subscription_check(
        endpoint="https://push.example.com/abc", p256dh=_p256dh(), auth=auth
    )
    assert list(errors) == ["auth"]


def test_loopback_http_is_accepted_only_outside_production(settings: Any) -> None:
    """The stand-in runs on http loopback; production accepts only known push services."""
    keys = {"p256dh": _p256dh(), "auth": _b64(secrets.token_bytes(16))}
    assert push.subscription_check(endpoint="http://127.0.0.1:8765/push/x", **keys) == {}
    assert push.subscription_check(endpoint="https://push.example.com/x", **keys) == {}
    settings.PRODUCTION = True
    for endpoint in (
        "http://127.0.0.1:8765/push/x",
        "https://127.0.0.1/push/x",
        "https://10.1.2.3/push/x",
        "https://localhost/push/x",
        "https://push.example.com/x",
        "https://fcm.googleapis.com:8443/fcm/send/x",
        "https://fcm.googleapis.com.evil.example/fcm/send/x",
    ):
        assert list(push.subscription_check(endpoint=endpoint, **keys)) == ["endpoint"], endpoint
    for endpoint in (
        "https://fcm.googleapis.com/fcm/send/x",
        "https://updates.push.services.mozilla.com/wpush/v2/x",
        "https://web.push.apple.com/x",
        "https://db5p.notify.windows.com/w/?token=x",
    ):
        assert push.subscription_check(endpoint=endpoint, **keys) == {}, endpoint
    settings.NOTIFY_PUSH_SERVICE_HOSTS = ["push.example.com"]
    assert push.subscription_check(endpoint="https://push.example.com/x", **keys) == {}


# --- Sending ------------------------------------------------------------------------------


def test_a_push_message_reaches_the_browser_encrypted_and_signed(
    vapid_key: Path, standin: PushStandin, sender: Sender, template: Any, person: Any
) -> None:
    """The stand-in verifies VAPID, decrypts the body and reads our title, body and link."""
    browser = standin.subscribe(application_server_key=push.vapid_public_key())
    subscription = _subscribe(person, browser)

    notification = _push(sender, template, person, url="/en/applications/abc/")

    assert notification.status == Status.DELIVERED
    assert notification.provider == "push"
    assert standin.refusals == []
    [message] = standin.messages(browser["endpoint"])
    assert message == {
        "title": "Your application APP-2026-000123",
        "body": "Hello Rhian, there is news about your application.",
        "url": "/en/applications/abc/",
        "id": str(notification.pk),
        "tag": str(notification.pk),
    }
    subscription.refresh_from_db()
    assert subscription.last_success_at is not None
    [request] = standin.requests
    assert request["content-encoding"] == "aes128gcm"
    assert int(request["ttl"]) == push.TTL_SECONDS
    token = request["authorization"].split("t=", 1)[1].split(",", 1)[0]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["aud"] == standin.origin
    assert claims["sub"] == "mailto:notifications@civicstack.example"
    assert time.time() < claims["exp"] <= time.time() + 12 * 3600 + 5


def test_without_a_link_the_message_opens_the_dashboard(
    vapid_key: Path, standin: PushStandin, sender: Sender, template: Any, person: Any
) -> None:
    browser = standin.subscribe()
    _subscribe(person, browser)
    _push(sender, template, person, url="javascript:alert(1)")
    [message] = standin.messages(browser["endpoint"])
    assert message["url"] == "/en/applications/"


def test_every_browser_of_the_person_gets_the_message(
    vapid_key: Path, standin: PushStandin, sender: Sender, template: Any, person: Any
) -> None:
    phone, laptop = standin.subscribe(), standin.subscribe()
    _subscribe(person, phone)
    _subscribe(person, laptop)
    someone_else = standin.subscribe()
    _subscribe(UserFactory(), someone_else)
    notification = _push(sender, template, person)
    assert notification.status == Status.DELIVERED
    assert len(standin.messages(phone["endpoint"])) == 1
    assert len(standin.messages(laptop["endpoint"])) == 1
    assert standin.messages(someone_else["endpoint"]) == []


def test_a_gone_browser_is_expired_and_the_others_still_get_it(
    vapid_key: Path, standin: PushStandin, sender: Sender, template: Any, person: Any
) -> None:
    gone, live = standin.subscribe(), standin.subscribe()
    gone_row, live_row = _subscribe(person, gone), _subscribe(person, live)
    standin.answer(gone["endpoint"], 410)
    notification = _push(sender, template, person)
    assert notification.status == Status.DELIVERED
    gone_row.refresh_from_db()
    live_row.refresh_from_db()
    assert gone_row.expired_at is not None
    assert live_row.expired_at is None
    assert len(standin.messages(live["endpoint"])) == 1


@pytest.mark.parametrize("status", [404, 410])
def test_when_no_browser_is_left_the_failure_is_permanent(
    vapid_key: Path,
    standin: PushStandin,
    sender: Sender,
    template: Any,
    person: Any,
    status: int,
) -> None:
    browser = standin.subscribe()
    row = _subscribe(person, browser)
    standin.answer(browser["endpoint"], status)
    notification = _push(sender, template, person)
    assert notification.status == Status.PERMANENT_FAILURE
    assert notification.failure_reason == "No browser subscribed"
    row.refresh_from_db()
    assert row.expired_at is not None
    # The next message does not even try the expired subscription.
    again = _push(sender, template, person)
    assert again.status == Status.PERMANENT_FAILURE
    assert len(standin.refusals) == 1


@pytest.mark.parametrize("status", [500, 503, 429])
def test_a_push_service_in_trouble_means_try_again_later(
    vapid_key: Path,
    standin: PushStandin,
    sender: Sender,
    template: Any,
    person: Any,
    status: int,
) -> None:
    browser = standin.subscribe()
    row = _subscribe(person, browser)
    standin.fail_status = status
    notification = _push(sender, template, person)
    assert notification.status == Status.CREATED
    assert notification.attempts == 1
    assert notification.next_attempt_at > timezone.now()
    assert str(status) in notification.failure_reason
    row.refresh_from_db()
    assert row.expired_at is None
    # Once the service recovers, the retry delivers it.
    standin.fail_status = None
    Notification.objects.filter(pk=notification.pk).update(next_attempt_at=timezone.now())
    delivery.notifications_send([str(notification.pk)])
    notification.refresh_from_db()
    assert notification.status == Status.DELIVERED
    assert len(standin.messages(browser["endpoint"])) == 1


def test_an_unreachable_push_service_means_try_again_later(
    vapid_key: Path, sender: Sender, template: Any, person: Any
) -> None:
    with PushStandin() as gone_away:
        browser = gone_away.subscribe()
    _subscribe(person, browser)
    notification = _push(sender, template, person)
    assert notification.status == Status.CREATED
    assert "unavailable" in notification.failure_reason


def test_a_refused_vapid_signature_is_a_technical_failure(
    vapid_key: Path, standin: PushStandin, sender: Sender, template: Any, person: Any
) -> None:
    """The browser subscribed with another server key: the push service answers 403."""
    other = ec.generate_private_key(ec.SECP256R1())
    browser = standin.subscribe(
        application_server_key=_b64(push.public_key_raw(other.public_key()))
    )
    row = _subscribe(person, browser)
    notification = _push(sender, template, person)
    assert notification.status == Status.TECHNICAL_FAILURE
    assert "403" in notification.failure_reason
    assert [r.status for r in standin.refusals] == [403]
    row.refresh_from_db()
    assert row.expired_at is None


def test_without_a_vapid_key_push_is_a_technical_failure(
    settings: Any,
    tmp_path: Path,
    standin: PushStandin,
    sender: Sender,
    template: Any,
    person: Any,
) -> None:
    settings.NOTIFY_VAPID_PRIVATE_KEY_FILE = tmp_path / "missing.pem"
    _subscribe(person, standin.subscribe())
    notification = _push(sender, template, person)
    assert notification.status == Status.TECHNICAL_FAILURE
    assert "notify_vapid_keys" in notification.failure_reason
    assert standin.requests == []


def test_a_person_who_turned_push_off_gets_nothing(
    vapid_key: Path, standin: PushStandin, sender: Sender, template: Any, person: Any
) -> None:
    browser = standin.subscribe()
    _subscribe(person, browser)
    Preference.objects.filter(user=person).update(push=False)
    notification = _push(sender, template, person)
    assert notification.status == Status.PERMANENT_FAILURE
    assert standin.messages(browser["endpoint"]) == []


def test_a_long_message_is_shortened_to_fit_a_push_message(
    vapid_key: Path, standin: PushStandin, sender: Sender, person: Any
) -> None:
    template = services.template_create(
        actor=None,
        sender=sender,
        kind=Kind.PUSH,
        name="Long",
        subject_en="News",
        body_en="((text))",
    )
    browser = standin.subscribe()
    _subscribe(person, browser)
    notification = _push(sender, template, person, text="ŵ" * 2000)
    assert notification.status == Status.DELIVERED
    [message] = standin.messages(browser["endpoint"])
    assert message["body"].startswith("ŵ" * 100) and message["body"].endswith("…")
    assert len(push.payload_for(notification)) <= push.PAYLOAD_MAX_BYTES


def test_the_standin_refuses_tokens_for_another_origin_or_expired(
    vapid_key: Path, standin: PushStandin
) -> None:
    """The stand-in's VAPID check is real: a token for another audience or past its
    expiry is refused with 401, so the tests above would notice a wrong signature."""
    import requests

    endpoint = standin.subscribe()["endpoint"]
    wrong_audience = push.vapid_authorization("https://push.example.com/x")
    expired = push.vapid_authorization(endpoint, now=time.time() - 13 * 3600)
    for header in (wrong_audience, expired, "WebPush abc", ""):
        response = requests.post(
            endpoint, headers={"Authorization": header, "TTL": "60"}, timeout=5
        )
        assert response.status_code == 401, header
    good = requests.post(
        endpoint, headers={"Authorization": push.vapid_authorization(endpoint)}, timeout=5
    )
    assert good.status_code == 400  # no TTL header
    assert standin.messages(endpoint) == []
