"""Authenticator apps (TOTP), recovery codes and the second sign-in step."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.conf import settings
from django.test import Client, RequestFactory
from django.urls import reverse

from civicstack.accounts import services, totp
from civicstack.accounts.constants import AUTH_METHODS_KEY, MFA_VERIFIED_KEY, Role
from civicstack.accounts.models import RecoveryCode, TOTPDevice, User, UserSession
from civicstack.accounts.tests.conftest import sign_in, totp_code_for
from civicstack.accounts.tests.factories import (
    PASSWORD,
    TOTPDeviceFactory,
    UserFactory,
    staff_create,
)
from civicstack.core.models import AuditEvent
from civicstack.identity.constants import Level
from civicstack.identity.selectors import session_level

pytestmark = pytest.mark.django_db

SIGN_IN = "/en/account/sign-in"
CODE = "/en/account/sign-in/code"


def _password_step(client: Client, user: User) -> None:
    response = client.post(SIGN_IN, {"email": user.email, "password": PASSWORD})
    assert response["Location"] == reverse("accounts:sign-in-code")


def _enrol(client: Client) -> list[str]:
    """Go through the set-up page as the signed-in person; return the recovery codes."""
    page = client.get(reverse("accounts:mfa-setup"))
    assert page.status_code == 200
    user = User.objects.get(pk=client.session["_auth_user_id"])
    device = TOTPDevice.objects.get(user=user)
    code = totp.totp_code_at(secret=device.secret, step=totp.totp_current_step())
    response = client.post(reverse("accounts:mfa-setup"), {"code": code})
    assert response["Location"] == reverse("accounts:mfa-recovery-codes")
    html = client.get(reverse("accounts:mfa-recovery-codes")).content.decode()
    return re.findall(r"<code>([a-z0-9]{5}-[a-z0-9]{5})</code>", html)


def test_setup_page_shows_an_inline_qr_code_without_styles(client: Client) -> None:
    """The QR code is inline SVG with colours as attributes (the CSP forbids inline styles),
    and the key is shown in groups of four for typing. ASVS 6.5.2 (enrolment)."""
    sign_in(client, UserFactory())
    html = client.get(reverse("accounts:mfa-setup")).content.decode()
    svg = re.search(r"<svg.*?</svg>", html, re.S)
    assert svg is not None
    assert "style" not in svg.group(0)
    assert "<script" not in svg.group(0)
    assert 'role="img"' in svg.group(0)
    assert "http" not in svg.group(0)
    device = TOTPDevice.objects.get()
    assert device.confirmed_at is None
    assert " ".join(totp.totp_secret_groups(device.secret)) in html
    assert "style=" not in html


def test_reloading_setup_page_keeps_the_same_secret(client: Client) -> None:
    """A second visit before confirming shows the same key (the app may already have it)."""
    sign_in(client, UserFactory())
    client.get(reverse("accounts:mfa-setup"))
    first = TOTPDevice.objects.get().secret
    client.get(reverse("accounts:mfa-setup"))
    assert TOTPDevice.objects.get().secret == first


def test_enrolment_gives_ten_hashed_recovery_codes_shown_once(client: Client) -> None:
    """Confirming the app shows ten recovery codes once; only their hashes are stored.

    ASVS 6.5.1, 6.5.2.
    """
    user = UserFactory()
    sign_in(client, user)
    codes = _enrol(client)
    assert len(codes) == 10
    assert len(set(codes)) == 10
    stored = set(RecoveryCode.objects.filter(user=user).values_list("code_hash", flat=True))
    assert stored == {totp.recovery_code_hash(code) for code in codes}
    assert not any(code in hash_ for code in codes for hash_ in stored)
    assert client.session[MFA_VERIFIED_KEY] is True
    again = client.get(reverse("accounts:mfa-recovery-codes")).content.decode()
    assert not any(code in again for code in codes)
    assert AuditEvent.objects.filter(action="accounts.mfa.enrolled").exists()


def test_wrong_code_does_not_confirm_the_app(client: Client) -> None:
    """A wrong code leaves the app unconfirmed and shows an error."""
    sign_in(client, UserFactory())
    client.get(reverse("accounts:mfa-setup"))
    response = client.post(reverse("accounts:mfa-setup"), {"code": "000000"})
    assert response.status_code == 200
    assert "govuk-error-summary" in response.content.decode()
    assert TOTPDevice.objects.get().confirmed_at is None


def test_person_with_mfa_is_only_logged_in_after_the_code(client: Client) -> None:
    """The password alone does not log in; the pending sign-in holds only id and time.

    ASVS 6.3.3.
    """
    user = TOTPDeviceFactory().user
    _password_step(client, user)
    assert "_auth_user_id" not in client.session
    assert client.get(reverse("accounts:account")).status_code == 302
    response = client.post(CODE, {"code": totp_code_for(user)})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)
    assert client.session[MFA_VERIFIED_KEY] is True


def test_code_page_without_a_pending_sign_in_goes_back_to_sign_in(client: Client) -> None:
    """The code page cannot be used without the password step first."""
    response = client.get(CODE)
    assert response["Location"] == reverse("accounts:sign-in")


def test_a_totp_code_cannot_be_used_twice(client: Client) -> None:
    """A code whose time step is not after the last accepted one is refused. ASVS 6.5.1."""
    user = TOTPDeviceFactory().user
    code = totp_code_for(user)
    _password_step(client, user)
    client.post(CODE, {"code": code})
    client.post(reverse("accounts:sign-out"))
    _password_step(client, user)
    response = client.post(CODE, {"code": code})
    assert response.status_code == 200
    assert "The code is not correct" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_an_earlier_step_is_refused_after_a_later_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """Accepting step n makes every code of step n or before unusable."""
    device = TOTPDeviceFactory()
    now = totp.totp_current_step()
    later = totp.totp_code_at(secret=device.secret, step=now + 1)
    current = totp.totp_code_at(secret=device.secret, step=now)
    assert services._totp_use(device.user, later)
    assert not services._totp_use(device.user, current)
    device.refresh_from_db()
    assert device.last_used_step == now + 1


@pytest.mark.parametrize(("offset", "accepted"), [(-2, False), (-1, True), (1, True), (2, False)])
def test_clock_drift_of_one_step_is_allowed(offset: int, accepted: bool) -> None:
    """Codes from one 30-second step either side are accepted; two steps are not."""
    device = TOTPDeviceFactory()
    step = totp.totp_current_step() + offset
    code = totp.totp_code_at(secret=device.secret, step=step)
    assert services._totp_use(device.user, code) is accepted


def test_a_recovery_code_works_once(client: Client) -> None:
    """Each recovery code signs in once; the second use is refused. ASVS 6.5.1."""
    user = UserFactory()
    sign_in(client, user)
    codes = _enrol(client)
    client.post(reverse("accounts:sign-out"))
    _password_step(client, user)
    response = client.post(CODE, {"code": codes[0].upper().replace("-", " ")})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)
    assert AuditEvent.objects.filter(action="accounts.mfa.recovery_code_used").exists()
    client.post(reverse("accounts:sign-out"))
    _password_step(client, user)
    response = client.post(CODE, {"code": codes[0]})
    assert "The code is not correct" in response.content.decode()
    assert RecoveryCode.objects.filter(user=user, used_at__isnull=True).count() == 9


def test_five_wrong_codes_end_the_pending_sign_in(client: Client) -> None:
    """After five wrong codes the person must start again with their password."""
    user = TOTPDeviceFactory().user
    _password_step(client, user)
    for _ in range(4):
        assert client.post(CODE, {"code": "123456"}).status_code == 200
    response = client.post(CODE, {"code": "123456"})
    assert response["Location"] == reverse("accounts:sign-in")
    response = client.post(CODE, {"code": totp_code_for(user)})
    assert response["Location"] == reverse("accounts:sign-in")
    assert "_auth_user_id" not in client.session


def test_wrong_codes_count_against_the_account(client: Client) -> None:
    """Restarting the sign-in does not give unlimited code guesses: they hit the throttle."""
    user = TOTPDeviceFactory().user
    for _ in range(settings.ACCOUNT_THROTTLE_PER_ACCOUNT // 5):
        _password_step(client, user)
        for _ in range(5):
            client.post(CODE, {"code": "000000"})
    response = client.post(SIGN_IN, {"email": user.email, "password": PASSWORD})
    assert response.status_code == 200
    assert "Enter the email address and password for your account" in response.content.decode()


def test_pending_sign_in_expires_after_five_minutes(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A code entered more than 5 minutes after the password is not accepted."""
    user = TOTPDeviceFactory().user
    _password_step(client, user)
    started = client.session[services.PENDING_AT_KEY]
    monkeypatch.setattr(services.time, "time", lambda: started + services.PENDING_SECONDS + 1)
    response = client.post(CODE, {"code": totp_code_for(user)})
    assert response["Location"] == reverse("accounts:sign-in")
    assert "_auth_user_id" not in client.session


def test_staff_without_an_app_must_set_one_up_first(client: Client) -> None:
    """A member of staff without MFA is sent to set it up and can reach nothing else.

    ASVS 6.3.3 (MFA for privileged users).
    """
    user = staff_create(mfa=False)
    response = client.post(SIGN_IN, {"email": user.email, "password": PASSWORD})
    assert response["Location"] == reverse("accounts:mfa-setup")
    for name in ("accounts:account", "accounts:sessions", "accounts:change-password"):
        assert client.get(reverse(name))["Location"] == reverse("accounts:mfa-setup")
    assert client.get(reverse("backoffice:home"))["Location"] == reverse("accounts:mfa-setup")
    assert client.get(reverse("accounts:mfa-setup")).status_code == 200
    _enrol(client)
    assert client.get(reverse("accounts:account")).status_code == 200
    assert client.get(reverse("backoffice:home")).status_code == 200


def test_staff_cannot_remove_their_app(client: Client) -> None:
    """Staff must keep MFA: the remove page and the service refuse."""
    user = staff_create()
    sign_in(client, user)
    assert client.get(reverse("accounts:mfa-remove")).status_code == 403
    response = client.post(reverse("accounts:mfa-remove"), {"password": PASSWORD})
    assert response.status_code == 403
    assert TOTPDevice.objects.filter(user=user).exists()


def test_citizen_can_remove_their_app_with_their_password(client: Client) -> None:
    """A citizen removes MFA by confirming their password; the codes go too."""
    user = UserFactory()
    sign_in(client, user)
    _enrol(client)
    wrong = client.post(reverse("accounts:mfa-remove"), {"password": "not my password"})
    assert "Your password is not correct" in wrong.content.decode()
    response = client.post(reverse("accounts:mfa-remove"), {"password": PASSWORD})
    assert response["Location"] == reverse("accounts:account")
    assert not TOTPDevice.objects.filter(user=user).exists()
    assert not RecoveryCode.objects.filter(user=user).exists()
    assert AuditEvent.objects.filter(action="accounts.mfa.removed").exists()


def test_new_recovery_codes_replace_the_old_ones(client: Client) -> None:
    """Asking for new codes (with the password) makes the old ones useless."""
    user = UserFactory()
    sign_in(client, user)
    old = _enrol(client)
    response = client.post(reverse("accounts:mfa-recovery-codes"), {"password": PASSWORD})
    assert response["Location"] == reverse("accounts:mfa-recovery-codes")
    html = client.get(reverse("accounts:mfa-recovery-codes")).content.decode()
    new = re.findall(r"<code>([a-z0-9]{5}-[a-z0-9]{5})</code>", html)
    assert len(new) == 10
    assert not set(old) & set(new)
    assert RecoveryCode.objects.filter(user=user).count() == 10


def test_staff_sign_in_with_app_reaches_the_back_office(client: Client) -> None:
    """Staff with MFA pass both steps and the back office admits them."""
    user = staff_create(role=Role.SUPERVISOR)
    sign_in(client, user)
    assert client.session[MFA_VERIFIED_KEY] is True
    assert client.get(reverse("backoffice:home")).status_code == 200


def test_password_alone_cannot_make_new_recovery_codes(client: Client) -> None:
    """A session without the second factor cannot mint recovery codes. ASVS 6.5.x."""
    user = UserFactory()
    sign_in(client, user)
    _enrol(client)
    session = client.session
    session[MFA_VERIFIED_KEY] = False
    session.save()
    response = client.post(reverse("accounts:mfa-recovery-codes"), {"password": PASSWORD})
    assert response.status_code == 403
    assert RecoveryCode.objects.filter(user=user, used_at__isnull=True).count() == 10


def test_the_admin_sign_in_page_sends_people_to_the_real_sign_in(client: Client) -> None:
    """Django's admin sign-in page (password only) is replaced by ours, with its second factor."""
    user = staff_create(role=Role.PLATFORM_ADMIN)
    response = client.post(
        "/en/back-office/django-admin/login/",
        {"username": user.email, "password": PASSWORD, "next": "/en/back-office/django-admin/"},
    )
    assert response.status_code == 302
    assert reverse("accounts:sign-in") in response["Location"]
    assert "_auth_user_id" not in client.session


def _level(client: Client, user: User) -> Any:
    """Return the level of assurance of ``client``'s session, as identity reads it."""
    request = RequestFactory().get("/")
    request.user = user
    request.session = client.session
    return session_level(request)


def test_removing_the_app_lowers_this_session_and_ends_the_others() -> None:
    """The session signed in with the app's code falls to low; other sessions end."""
    user = UserFactory()
    TOTPDeviceFactory(user=user)
    client, elsewhere = Client(), Client()
    sign_in(client, user)
    sign_in(elsewhere, user)
    assert _level(client, user) == Level.SUBSTANTIAL
    response = client.post(reverse("accounts:mfa-remove"), {"password": PASSWORD})
    assert response["Location"] == reverse("accounts:account")
    session = client.session
    assert session[AUTH_METHODS_KEY] == ["pwd"]
    assert session[MFA_VERIFIED_KEY] is False
    assert _level(client, user) == Level.LOW
    assert client.session.get("_auth_user_id") == str(user.pk)
    assert elsewhere.session.get("_auth_user_id") is None
    assert UserSession.objects.filter(user=user, ended_at__isnull=True).count() == 1
    event = AuditEvent.objects.get(action="accounts.mfa.removed")
    assert event.data["sessions_ended"] == 1


def test_removing_the_app_from_a_session_without_recorded_methods() -> None:
    """A session from before methods were recorded loses its app code all the same."""
    user = UserFactory()
    TOTPDeviceFactory(user=user)
    client = Client()
    sign_in(client, user)
    session = client.session
    del session[AUTH_METHODS_KEY]
    session.save()
    assert _level(client, user) == Level.SUBSTANTIAL
    client.post(reverse("accounts:mfa-remove"), {"password": PASSWORD})
    assert client.session[AUTH_METHODS_KEY] == ["pwd"]
    assert _level(client, user) == Level.LOW
