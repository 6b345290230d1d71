"""Passkeys (WebAuthn): adding, signing in with and without a password, step-up, removal.

A software authenticator (``authenticator.py``) answers as a real one would, so the
server's real checks (challenge, origin, relying party, signature, counter) run.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import pytest
from django.core import mail
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from civicstack.accounts import passkeys
from civicstack.accounts.constants import (
    AUTH_METHODS_KEY,
    AUTH_TIME_KEY,
    MFA_VERIFIED_KEY,
    Role,
)
from civicstack.accounts.models import Passkey, User, UserSession
from civicstack.accounts.tests.authenticator import SoftwareAuthenticator
from civicstack.accounts.tests.conftest import sign_in, totp_code_for
from civicstack.accounts.tests.factories import (
    PASSWORD,
    TOTPDeviceFactory,
    UserFactory,
    staff_create,
)
from civicstack.core.models import AuditEvent
from civicstack.identity import services as identity_services
from civicstack.identity.constants import Level
from civicstack.identity.selectors import session_level
from civicstack.identity.tests.helpers import standin_data

pytestmark = pytest.mark.django_db


def _post_json(client: Client, name: str, body: Any, **kwargs: Any) -> Any:
    url = reverse(name, kwargs=kwargs) if not name.startswith("/") else name
    payload = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(url, data=payload, content_type="application/json")


def _options(client: Client, name: str, body: dict[str, Any] | None = None) -> str:
    response = _post_json(client, name, body or {})
    assert response.status_code == 200, response.content
    return response.content.decode()


def _add_passkey(
    client: Client, authenticator: SoftwareAuthenticator | None = None, name: str = "Phone"
) -> SoftwareAuthenticator:
    """Add a passkey for the signed-in person through the JSON endpoints."""
    authenticator = authenticator or SoftwareAuthenticator()
    options = _options(client, "accounts:passkey-add-options", {"name": name})
    response = _post_json(
        client,
        "accounts:passkey-add",
        {"credential": authenticator.register(options), "name": name},
    )
    assert response.status_code == 200, response.content
    assert response.json() == {"redirect": reverse("accounts:passkeys")}
    return authenticator


def _user_with_passkey(**kwargs: Any) -> tuple[User, SoftwareAuthenticator]:
    user = UserFactory(**kwargs)
    client = Client()
    sign_in(client, user)
    return user, _add_passkey(client)


def _passwordless(client: Client, authenticator: SoftwareAuthenticator, **assertion: Any) -> Any:
    options = _options(client, "accounts:sign-in-passkey-options")
    return _post_json(
        client,
        "accounts:sign-in-passkey",
        {"credential": authenticator.assertion(options, **assertion)},
    )


def _signed_in_user_id(client: Client) -> str | None:
    return client.session.get("_auth_user_id")


# --- Adding, renaming, removing ------------------------------------------------------------


def test_adding_a_passkey_stores_its_public_key_and_tells_the_person(committed: Any) -> None:
    """A verified registration stores the credential (never a private key), its counter,
    transports, AAGUID and backup flags, audits it and emails the person. ASVS 6.5.5."""
    user = UserFactory()
    client = Client()
    sign_in(client, user)
    mail.outbox.clear()
    with committed():
        authenticator = _add_passkey(client, name="  Work   laptop ")
    passkey = Passkey.objects.get(user=user)
    assert passkey.credential_id == authenticator.credential_id_b64
    assert passkey.name == "Work laptop"
    assert passkey.sign_count == 0
    assert passkey.transports == ["internal", "hybrid"]
    assert passkey.aaguid == "00000000-0000-0000-0000-000000000000"
    assert passkey.backup_eligible and passkey.backup_state
    assert passkey.last_used_at is None
    assert AuditEvent.objects.filter(action="accounts.passkey.added").count() == 1
    assert len(mail.outbox) == 1
    assert "You added a passkey" in mail.outbox[0].subject
    assert "Work laptop" in mail.outbox[0].body
    page = client.get(reverse("accounts:passkeys")).content.decode()
    assert "Work laptop" in page and "Not used yet" in page


def test_registration_options_ask_for_a_discoverable_verified_passkey() -> None:
    """The options need a resident key and user verification, no attestation, and exclude
    the passkeys the person already has."""
    user, authenticator = _user_with_passkey()
    client = Client()
    sign_in(client, user, passkey=authenticator)
    options = json.loads(_options(client, "accounts:passkey-add-options"))
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert options["attestation"] == "none"
    assert options["rp"]["id"] == passkeys.rp_id()
    assert [c["id"] for c in options["excludeCredentials"]] == [authenticator.credential_id_b64]


def test_adding_a_passkey_needs_a_recent_authentication() -> None:
    """After ten minutes the add page asks for the password again; the options are refused."""
    client = Client()
    sign_in(client, UserFactory())
    session = client.session
    session[AUTH_TIME_KEY] = int(time.time()) - 11 * 60
    session.save()
    response = client.get(reverse("accounts:passkey-add"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:reauthenticate") + "?next=")
    assert _post_json(client, "accounts:passkey-add-options", {}).status_code == 403
    response = client.post(
        response["Location"], {"password": PASSWORD, "next": reverse("accounts:passkey-add")}
    )
    assert response["Location"] == reverse("accounts:passkey-add")
    assert client.get(reverse("accounts:passkey-add")).status_code == 200


def test_a_registration_with_the_wrong_origin_or_rp_id_is_refused() -> None:
    """A credential made for another site is refused and nothing is stored. ASVS 6.5.7."""
    client = Client()
    sign_in(client, UserFactory())
    for kwargs in ({"origin": "https://evil.example"}, {"rp_id": "evil.example"}):
        options = _options(client, "accounts:passkey-add-options")
        credential = SoftwareAuthenticator().register(options, **kwargs)
        response = _post_json(client, "accounts:passkey-add", {"credential": credential})
        assert response.status_code == 400
        assert "error" in response.json()
    assert not Passkey.objects.exists()


def test_a_registration_challenge_works_once() -> None:
    """Posting the same registration twice stores one passkey; the second is refused."""
    client = Client()
    sign_in(client, UserFactory())
    options = _options(client, "accounts:passkey-add-options")
    credential = SoftwareAuthenticator().register(options)
    first = _post_json(client, "accounts:passkey-add", {"credential": credential})
    second = _post_json(client, "accounts:passkey-add", {"credential": credential})
    assert first.status_code == 200
    assert second.status_code == 400
    assert Passkey.objects.count() == 1


def test_an_expired_registration_challenge_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A challenge older than five minutes no longer works."""
    client = Client()
    sign_in(client, UserFactory())
    options = _options(client, "accounts:passkey-add-options")
    credential = SoftwareAuthenticator().register(options)
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + passkeys.CHALLENGE_SECONDS + 1)
    session = client.session
    session[AUTH_TIME_KEY] = int(time.time())
    session.save()
    response = _post_json(client, "accounts:passkey-add", {"credential": credential})
    assert response.status_code == 400
    assert not Passkey.objects.exists()


def test_a_bad_name_is_refused_before_the_ceremony() -> None:
    """The options request checks the name, so no credential is made that would be lost."""
    client = Client()
    sign_in(client, UserFactory())
    response = _post_json(client, "accounts:passkey-add-options", {"name": "x" * 101})
    assert response.status_code == 400
    assert response.json()["error"] == "Name must be 100 characters or fewer"


def test_renaming_a_passkey() -> None:
    """The person can rename their passkey; someone else's passkey is not found."""
    user, _authenticator = _user_with_passkey()
    passkey = Passkey.objects.get(user=user)
    client = Client()
    sign_in(client, user, passkey=_authenticator)
    url = reverse("accounts:passkey-rename", kwargs={"passkey_id": passkey.pk})
    assert client.post(url, {"name": "Tablet"}).status_code == 302
    passkey.refresh_from_db()
    assert passkey.name == "Tablet"
    assert client.post(url, {"name": ""}).status_code == 200
    other = Client()
    sign_in(other, UserFactory())
    assert other.post(url, {"name": "Mine"}).status_code == 404
    passkey.refresh_from_db()
    assert passkey.name == "Tablet"


def test_a_citizen_can_remove_their_passkey_and_is_told(committed: Any) -> None:
    """Removing needs a recent authentication; the person gets an email. ASVS 6.3.7."""
    user, authenticator = _user_with_passkey()
    passkey = Passkey.objects.get(user=user)
    client = Client()
    sign_in(client, user, passkey=authenticator)
    url = reverse("accounts:passkey-remove", kwargs={"passkey_id": passkey.pk})
    session = client.session
    session[AUTH_TIME_KEY] = int(time.time()) - 3600
    session.save()
    assert client.post(url)["Location"].startswith(reverse("accounts:reauthenticate"))
    assert Passkey.objects.filter(pk=passkey.pk).exists()
    client.post(reverse("accounts:reauthenticate"), {"password": PASSWORD, "next": url})
    mail.outbox.clear()
    with committed():
        assert client.post(url)["Location"] == reverse("accounts:passkeys")
    assert not Passkey.objects.filter(pk=passkey.pk).exists()
    assert len(mail.outbox) == 1
    assert "You removed a passkey" in mail.outbox[0].subject
    assert AuditEvent.objects.filter(action="accounts.passkey.removed").count() == 1


def test_staff_cannot_remove_their_last_second_factor() -> None:
    """A member of staff whose only second factor is one passkey cannot remove it; with an
    authenticator app too, they can."""
    staff = staff_create(mfa=False)
    client = Client()
    sign_in(client, staff)
    _add_passkey(client)
    passkey = Passkey.objects.get(user=staff)
    url = reverse("accounts:passkey-remove", kwargs={"passkey_id": passkey.pk})
    response = client.post(url)
    assert response.status_code == 200
    assert "Staff accounts must keep a passkey or an authenticator app" in response.content.decode()
    assert Passkey.objects.filter(pk=passkey.pk).exists()
    assert client.get(reverse("accounts:mfa-remove")).status_code == 302
    TOTPDeviceFactory(user=staff)
    assert client.post(url)["Location"] == reverse("accounts:passkeys")
    assert not Passkey.objects.exists()


def test_staff_with_a_passkey_may_stop_using_their_app() -> None:
    """Staff keep at least one of app or passkey: with a passkey the app may go. The session
    signed in with the app code then needs the passkey before the back office again."""
    staff = staff_create()
    client = Client()
    sign_in(client, staff)
    assert client.get(reverse("accounts:mfa-remove")).status_code == 403
    authenticator = _add_passkey(client)
    response = client.post(reverse("accounts:mfa-remove"), {"password": PASSWORD})
    assert response["Location"] == reverse("accounts:account")
    staff.refresh_from_db()
    assert not staff.has_totp and staff.has_mfa
    assert client.session[AUTH_METHODS_KEY] == ["pwd"]
    assert client.get(reverse("backoffice:home")).status_code == 302
    options = _options(client, "accounts:step-up-passkey-options")
    stepped = _post_json(
        client, "accounts:step-up-passkey", {"credential": authenticator.assertion(options)}
    )
    assert stepped.status_code == 200
    assert client.get(reverse("backoffice:home")).status_code == 200


def _level(client: Client, user: User) -> Any:
    """Return the level of assurance of ``client``'s session, as identity reads it."""
    request = RequestFactory().get("/")
    request.user = user
    request.session = client.session
    return session_level(request)


def _identity_checked(user: User) -> None:
    next_year = timezone.localdate() + dt.timedelta(days=365)
    identity_services.identity_verification_record(
        user=user,
        method="document_check_standin",
        data=standin_data(expires=next_year),
        actor=user,
    )


def test_removing_the_passkey_used_in_a_session_lowers_it_and_ends_the_others() -> None:
    """Without its passkey the session is no longer high (nor substantial), and the
    person's other sessions end, as after a password change."""
    user, authenticator = _user_with_passkey()
    _identity_checked(user)
    client, elsewhere = Client(), Client()
    sign_in(client, user, passkey=authenticator)
    sign_in(elsewhere, user, passkey=authenticator)
    assert _level(client, user) == Level.HIGH
    passkey = Passkey.objects.get(user=user)
    url = reverse("accounts:passkey-remove", kwargs={"passkey_id": passkey.pk})
    assert client.post(url)["Location"] == reverse("accounts:passkeys")
    session = client.session
    assert session[AUTH_METHODS_KEY] == ["pwd"]
    assert session[MFA_VERIFIED_KEY] is False
    assert _level(client, user) == Level.LOW
    assert _signed_in_user_id(client) == str(user.pk)
    assert _signed_in_user_id(elsewhere) is None
    assert UserSession.objects.filter(user=user, ended_at__isnull=True).count() == 1
    event = AuditEvent.objects.get(action="accounts.passkey.removed")
    assert event.data["sessions_ended"] == 2  # elsewhere, and the one that added the passkey


def test_removing_a_passkey_keeps_the_app_code_used_in_the_session() -> None:
    """With an app code in the session too, it stays substantial with its MFA flag."""
    user, authenticator = _user_with_passkey()
    TOTPDeviceFactory(user=user)
    _identity_checked(user)
    client = Client()
    sign_in(client, user)
    options = _options(client, "accounts:step-up-passkey-options")
    _post_json(client, "accounts:step-up-passkey", {"credential": authenticator.assertion(options)})
    assert _level(client, user) == Level.HIGH
    passkey = Passkey.objects.get(user=user)
    client.post(reverse("accounts:passkey-remove", kwargs={"passkey_id": passkey.pk}))
    session = client.session
    assert session[AUTH_METHODS_KEY] == ["pwd", "otp", "mfa"]
    assert session[MFA_VERIFIED_KEY] is True
    assert _level(client, user) == Level.SUBSTANTIAL


# --- Signing in -----------------------------------------------------------------------------


def test_signing_in_with_a_passkey_alone() -> None:
    """A discoverable passkey with user verification signs the person in without a password,
    as two factors: amr hwk, user, mfa. ASVS 6.2.x (passwordless)."""
    user, authenticator = _user_with_passkey()
    client = Client()
    before = int(time.time())
    response = _passwordless(client, authenticator)
    assert response.status_code == 200, response.content
    assert response.json() == {"redirect": reverse("accounts:account")}
    assert _signed_in_user_id(client) == str(user.pk)
    session = client.session
    assert session[AUTH_METHODS_KEY] == ["hwk", "user", "mfa"]
    assert session[AUTH_TIME_KEY] >= before
    assert session[MFA_VERIFIED_KEY] is True
    passkey = Passkey.objects.get(user=user)
    assert passkey.sign_count == 1
    assert passkey.last_used_at is not None
    event = AuditEvent.objects.filter(action="accounts.signed_in").latest("sequence")
    assert event.data["method"] == "passkey"
    assert event.data["passkey"] == str(passkey.pk)


def test_passkey_sign_in_goes_to_a_local_next_page_only() -> None:
    """``next`` is followed only when it is a path on this site."""
    _user, authenticator = _user_with_passkey()
    client = Client()
    options = _options(client, "accounts:sign-in-passkey-options")
    response = _post_json(
        client,
        reverse("accounts:sign-in-passkey") + "?next=https://evil.example/",
        {"credential": authenticator.assertion(options)},
    )
    assert response.json() == {"redirect": reverse("accounts:account")}
    client = Client()
    options = _options(client, "accounts:sign-in-passkey-options")
    response = _post_json(
        client,
        reverse("accounts:sign-in-passkey") + "?next=/en/account/sessions",
        {"credential": authenticator.assertion(options)},
    )
    assert response.json() == {"redirect": "/en/account/sessions"}


def test_passwordless_sign_in_needs_user_verification() -> None:
    """Without user verification a passkey alone is only one factor, so it is refused."""
    _user, authenticator = _user_with_passkey()
    authenticator.user_verification = False
    client = Client()
    response = _passwordless(client, authenticator)
    assert response.status_code == 400
    assert response.json()["error"].startswith("We could not sign you in with that passkey")
    assert _signed_in_user_id(client) is None


def test_a_replayed_assertion_is_refused() -> None:
    """The same assertion cannot be used twice: its challenge was used up."""
    _user, authenticator = _user_with_passkey()
    client = Client()
    options = _options(client, "accounts:sign-in-passkey-options")
    credential = authenticator.assertion(options)
    assert (
        _post_json(client, "accounts:sign-in-passkey", {"credential": credential}).status_code
        == 200
    )
    attacker = Client()
    _options(attacker, "accounts:sign-in-passkey-options")
    response = _post_json(attacker, "accounts:sign-in-passkey", {"credential": credential})
    assert response.status_code == 400
    assert _signed_in_user_id(attacker) is None


def test_an_assertion_for_another_challenge_is_refused() -> None:
    """An assertion signed over an old challenge fails against the session's new one."""
    user, authenticator = _user_with_passkey()
    client = Client()
    old = _options(client, "accounts:sign-in-passkey-options")
    _options(client, "accounts:sign-in-passkey-options")
    response = _post_json(
        client, "accounts:sign-in-passkey", {"credential": authenticator.assertion(old)}
    )
    assert response.status_code == 400
    assert _signed_in_user_id(client) is None
    assert Passkey.objects.get(user=user).sign_count == 0


@pytest.mark.parametrize("kwargs", [{"origin": "https://evil.example"}, {"rp_id": "evil.example"}])
def test_an_assertion_from_another_site_is_refused(kwargs: dict[str, str]) -> None:
    """A phishing site's origin or relying party id is refused. ASVS 6.5.7."""
    user, authenticator = _user_with_passkey()
    client = Client()
    response = _passwordless(client, authenticator, **kwargs)
    assert response.status_code == 400
    assert _signed_in_user_id(client) is None
    assert Passkey.objects.get(user=user).last_used_at is None


def test_a_counter_going_backwards_is_refused_and_audited() -> None:
    """A signature counter that does not go up means a cloned authenticator: refused, the
    stored counter kept, and an audit event recorded."""
    user, authenticator = _user_with_passkey()
    assert _passwordless(Client(), authenticator, counter=5).status_code == 200
    client = Client()
    response = _passwordless(client, authenticator, counter=3)
    assert response.status_code == 400
    assert _signed_in_user_id(client) is None
    assert Passkey.objects.get(user=user).sign_count == 5
    assert AuditEvent.objects.filter(action="accounts.passkey.counter_regressed").count() == 1


def test_an_unknown_passkey_gets_the_same_answer() -> None:
    """A passkey the server does not know gets the same message as every other failure."""
    client = Client()
    response = _passwordless(client, SoftwareAuthenticator())
    assert response.status_code == 400
    assert response.json()["error"].startswith("We could not sign you in with that passkey")


def test_a_disabled_account_cannot_sign_in_with_a_passkey() -> None:
    """Disabling the account stops its passkeys too."""
    user, authenticator = _user_with_passkey()
    User.objects.filter(pk=user.pk).update(is_active=False)
    client = Client()
    assert _passwordless(client, authenticator).status_code == 400
    assert _signed_in_user_id(client) is None


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        b"\xff\xfe",
        "[]",
        "{}",
        '{"credential": "x"}',
        '{"credential": {"id": "AAAA", "rawId": "AAAA", "response": {}}}',
        '{"credential": {"id": "AAAA", "rawId": "AAAB", "type": "public-key", "response": '
        '{"clientDataJSON": "!!", "authenticatorData": "", "signature": ""}}}',
    ],
)
def test_malformed_input_gets_a_clear_error(body: str | bytes) -> None:
    """Malformed JSON or credentials get a JSON error, never a 500, and change nothing."""
    user, _authenticator = _user_with_passkey()
    client = Client()
    _options(client, "accounts:sign-in-passkey-options")
    response = _post_json(client, "accounts:sign-in-passkey", body)
    assert response.status_code == 400
    assert "error" in response.json()
    signed_in = Client()
    sign_in(signed_in, user, passkey=_authenticator)
    _options(signed_in, "accounts:passkey-add-options")
    response = _post_json(signed_in, "accounts:passkey-add", body)
    assert response.status_code == 400
    assert "error" in response.json()
    assert Passkey.objects.count() == 1


def test_passkey_sign_in_is_throttled_by_address(settings: Any) -> None:
    """Failed passkey sign-ins count against the address like wrong passwords do."""
    settings.ACCOUNT_THROTTLE_PER_ADDRESS = 3
    _user, authenticator = _user_with_passkey()
    client = Client()
    for _ in range(3):
        assert _passwordless(client, SoftwareAuthenticator()).status_code == 400
    assert _passwordless(client, authenticator).status_code == 400
    assert _signed_in_user_id(client) is None


# --- Passkey as the second factor ------------------------------------------------------------


def test_a_passkey_is_the_second_factor_after_the_password() -> None:
    """With only a passkey, the password leads to the passkey page; the session is then
    pwd, hwk, mfa."""
    user, authenticator = _user_with_passkey()
    client = Client()
    response = client.post(reverse("accounts:sign-in"), {"email": user.email, "password": PASSWORD})
    assert response["Location"] == reverse("accounts:sign-in-code")
    assert _signed_in_user_id(client) is None
    response = client.get(reverse("accounts:sign-in-code"))
    assert response["Location"] == reverse("accounts:sign-in-code-passkey")
    page = client.get(reverse("accounts:sign-in-code-passkey")).content.decode()
    assert "you need JavaScript switched on" in page
    options = json.loads(_options(client, "accounts:sign-in-code-passkey-options"))
    assert [c["id"] for c in options["allowCredentials"]] == [authenticator.credential_id_b64]
    response = _post_json(
        client,
        "accounts:sign-in-code-passkey",
        {"credential": authenticator.assertion(options, with_user_handle=False)},
    )
    assert response.json() == {"redirect": reverse("accounts:account")}
    assert _signed_in_user_id(client) == str(user.pk)
    assert client.session[AUTH_METHODS_KEY] == ["pwd", "hwk", "mfa"]
    assert client.session[MFA_VERIFIED_KEY] is True


def test_the_code_page_offers_a_passkey_instead() -> None:
    """Someone with an app and a passkey sees "Use a passkey instead" on the code page."""
    user, _authenticator = _user_with_passkey()
    TOTPDeviceFactory(user=user)
    client = Client()
    client.post(reverse("accounts:sign-in"), {"email": user.email, "password": PASSWORD})
    page = client.get(reverse("accounts:sign-in-code")).content.decode()
    assert "Use a passkey instead" in page
    assert reverse("accounts:sign-in-code-passkey") in page


def test_someone_elses_passkey_is_not_a_second_factor() -> None:
    """After my password, another person's passkey does not finish my sign-in."""
    user, _mine = _user_with_passkey()
    _other, theirs = _user_with_passkey()
    client = Client()
    client.post(reverse("accounts:sign-in"), {"email": user.email, "password": PASSWORD})
    options = _options(client, "accounts:sign-in-code-passkey-options")
    response = _post_json(
        client, "accounts:sign-in-code-passkey", {"credential": theirs.assertion(options)}
    )
    assert response.status_code == 400
    assert _signed_in_user_id(client) is None


def test_staff_with_only_a_passkey_reach_the_back_office() -> None:
    """A member of staff who set up a passkey (and no app) is fully signed in with it."""
    staff = staff_create(mfa=False)
    client = Client()
    sign_in(client, staff)
    assert client.get(reverse("backoffice:home"))["Location"] == reverse("accounts:mfa-setup")
    setup = client.get(reverse("accounts:mfa-setup")).content.decode()
    assert reverse("accounts:passkey-add") in setup
    assert client.get(reverse("accounts:passkey-add")).status_code == 200
    authenticator = _add_passkey(client)
    assert client.get(reverse("backoffice:home")).status_code == 200
    fresh = Client()
    assert _passwordless(fresh, authenticator).status_code == 200
    assert fresh.get(reverse("backoffice:home")).status_code == 200


# --- Session keys and step-up ---------------------------------------------------------------


def test_password_and_totp_sign_ins_record_their_methods() -> None:
    """Password alone is pwd; password then app code is pwd, otp, mfa."""
    client = Client()
    sign_in(client, UserFactory())
    assert client.session[AUTH_METHODS_KEY] == ["pwd"]
    assert client.session[MFA_VERIFIED_KEY] is False
    client = Client()
    user = UserFactory()
    TOTPDeviceFactory(user=user)
    sign_in(client, user)
    assert client.session[AUTH_METHODS_KEY] == ["pwd", "otp", "mfa"]
    assert isinstance(client.session[AUTH_TIME_KEY], int)


def test_step_up_with_a_code_adds_methods_and_rotates_the_session() -> None:
    """A code raises a password-only session: methods union, new auth_time, new session id,
    audited, and back to the local ``next``."""
    user = UserFactory()
    client = Client()
    sign_in(client, user)
    TOTPDeviceFactory(user=user)
    session = client.session
    session[AUTH_TIME_KEY] = 1000
    session.save()
    old_key = client.session.session_key
    url = reverse("accounts:step-up-code") + "?next=/en/account/sessions"
    assert client.get(url).status_code == 200
    assert client.post(url, {"code": "000000"}).status_code == 200
    response = client.post(url, {"code": totp_code_for(user)})
    assert response["Location"] == "/en/account/sessions"
    session = client.session
    assert session[AUTH_METHODS_KEY] == ["pwd", "otp", "mfa"]
    assert session[AUTH_TIME_KEY] > 1000
    assert session[MFA_VERIFIED_KEY] is True
    assert session.session_key != old_key
    assert AuditEvent.objects.filter(action="accounts.stepped_up").count() == 1


def test_step_up_refuses_an_outside_next() -> None:
    """``next`` pointing at another site falls back to the account page."""
    user = UserFactory()
    TOTPDeviceFactory(user=user)
    client = Client()
    sign_in(client, user)
    url = reverse("accounts:step-up-code") + "?next=https://evil.example/"
    response = client.post(url, {"code": totp_code_for(user)})
    assert response["Location"] == reverse("accounts:account")


def test_step_up_with_a_passkey_adds_hwk() -> None:
    """A passkey step-up adds hwk (and user, when verified) to a password session."""
    user, authenticator = _user_with_passkey()
    client = Client()
    sign_in(client, user, passkey=authenticator)
    session = client.session
    session[AUTH_METHODS_KEY] = ["pwd"]
    session[AUTH_TIME_KEY] = 1000
    session.save()
    old_key = session.session_key
    next_url = "/en/account/sessions"
    assert client.get(reverse("accounts:step-up-passkey") + f"?next={next_url}").status_code == 200
    options = _options(client, "accounts:step-up-passkey-options")
    response = _post_json(
        client,
        reverse("accounts:step-up-passkey") + f"?next={next_url}",
        {"credential": authenticator.assertion(options)},
    )
    assert response.json() == {"redirect": next_url}
    session = client.session
    assert session[AUTH_METHODS_KEY] == ["pwd", "hwk", "user", "mfa"]
    assert session[AUTH_TIME_KEY] > 1000
    assert session.session_key != old_key
    event = AuditEvent.objects.filter(action="accounts.stepped_up").latest("sequence")
    assert event.data["method"] == "passkey"


def test_step_up_accepts_only_the_signed_in_persons_passkeys() -> None:
    """Another person's passkey cannot raise my session."""
    user, authenticator = _user_with_passkey()
    _other, theirs = _user_with_passkey()
    client = Client()
    sign_in(client, user, passkey=authenticator)
    session = client.session
    session[AUTH_METHODS_KEY] = ["pwd"]
    session.save()
    options = _options(client, "accounts:step-up-passkey-options")
    response = _post_json(
        client, "accounts:step-up-passkey", {"credential": theirs.assertion(options)}
    )
    assert response.status_code == 400
    assert client.session[AUTH_METHODS_KEY] == ["pwd"]


def test_reauthenticate_adds_pwd_and_a_new_auth_time() -> None:
    """The password page used by prompt=login sets auth_time to now and keeps the methods."""
    _user, authenticator = _user_with_passkey()
    client = Client()
    assert _passwordless(client, authenticator).status_code == 200
    session = client.session
    session[AUTH_TIME_KEY] = 1000
    session.save()
    url = reverse("accounts:reauthenticate") + "?next=/en/account/sessions"
    page = client.get(url).content.decode()
    assert reverse("accounts:step-up-passkey") in page
    assert client.post(url, {"password": "wrong"}).status_code == 200
    assert client.session[AUTH_TIME_KEY] == 1000
    response = client.post(url, {"password": PASSWORD})
    assert response["Location"] == "/en/account/sessions"
    assert client.session[AUTH_METHODS_KEY] == ["hwk", "user", "mfa", "pwd"]
    assert client.session[AUTH_TIME_KEY] > 1000
    assert AuditEvent.objects.filter(action="accounts.reauthenticated").count() == 1


def test_a_form_post_instead_of_json_gets_a_clear_error() -> None:
    """A form or multipart body (which the CSRF check has already read) is refused as JSON,
    not a 500."""
    client = Client()
    _options(client, "accounts:sign-in-passkey-options")
    response = client.post(reverse("accounts:sign-in-passkey"), {"credential": "x"})
    assert response.status_code == 400
    assert response.json()["error"].startswith("We could not sign you in with that passkey")


def test_step_up_with_wrong_codes_is_throttled(settings: Any) -> None:
    """Wrong step-up codes count against the account like wrong sign-in codes: after the
    limit, even a right code is refused and the session is not raised."""
    settings.ACCOUNT_THROTTLE_PER_ACCOUNT = 3
    user = UserFactory()
    client = Client()
    sign_in(client, user)
    TOTPDeviceFactory(user=user)
    url = reverse("accounts:step-up-code")
    for _ in range(3):
        assert client.post(url, {"code": "000000"}).status_code == 200
    response = client.post(url, {"code": totp_code_for(user)})
    assert response.status_code == 200
    assert client.session[AUTH_METHODS_KEY] == ["pwd"]
    assert client.session[MFA_VERIFIED_KEY] is False


def test_platform_admins_see_passkeys_by_name_only() -> None:
    """The admin's person page lists passkeys by name, never the key or credential id."""
    user, authenticator = _user_with_passkey()
    platform = staff_create(role=Role.PLATFORM_ADMIN)
    client = Client()
    sign_in(client, platform)
    page = client.get(reverse("admin:accounts_user_change", args=[user.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Phone" in html
    assert authenticator.credential_id_b64 not in html


def test_a_challenge_cannot_be_used_by_two_racing_requests() -> None:
    """Two requests that both read the session before either saved it cannot both use its
    challenge: the first use is marked in the shared cache."""
    _user, authenticator = _user_with_passkey()
    client = Client()
    options = _options(client, "accounts:sign-in-passkey-options")
    stale_session = dict(client.session.items())
    credential = authenticator.assertion(options, counter=0)
    assert (
        _post_json(client, "accounts:sign-in-passkey", {"credential": credential}).status_code
        == 200
    )
    racing = Client()
    session = racing.session
    session.update(stale_session)
    session.save()
    response = _post_json(racing, "accounts:sign-in-passkey", {"credential": credential})
    assert response.status_code == 400
    assert _signed_in_user_id(racing) is None


def test_second_factors_for_says_what_a_step_up_can_offer() -> None:
    """The selector other apps use to offer the right step-up links."""
    from django.contrib.auth.models import AnonymousUser

    from civicstack.accounts.selectors import SecondFactors, second_factors_for

    user, _authenticator = _user_with_passkey()
    assert second_factors_for(user=user) == SecondFactors(authenticator_app=False, passkey=True)
    TOTPDeviceFactory(user=user)
    user = User.objects.get(pk=user.pk)
    assert second_factors_for(user=user) == SecondFactors(authenticator_app=True, passkey=True)
    assert second_factors_for(user=AnonymousUser()) == SecondFactors(False, False)


def test_adding_a_passkey_from_a_step_up_page_returns_there() -> None:
    """``?next=`` on the passkeys page is carried to the add page and followed afterwards;
    an outside ``next`` is ignored."""
    client = Client()
    sign_in(client, UserFactory())
    next_url = "/en/identity/step-up?level=high"
    page = client.get(reverse("accounts:passkeys"), {"next": next_url}).content.decode()
    add_url = reverse("accounts:passkey-add") + "?next=%2Fen%2Fidentity%2Fstep-up%3Flevel%3Dhigh"
    assert f'href="{add_url}"' in page.replace("&amp;", "&")
    options = _options(client, "accounts:passkey-add-options")
    response = _post_json(
        client, add_url, {"credential": SoftwareAuthenticator().register(options), "name": "A"}
    )
    assert response.json() == {"redirect": next_url}
    options = _options(client, "accounts:passkey-add-options")
    response = _post_json(
        client,
        reverse("accounts:passkey-add") + "?next=https://evil.example/",
        {"credential": SoftwareAuthenticator().register(options), "name": "B"},
    )
    assert response.json() == {"redirect": reverse("accounts:passkeys")}
