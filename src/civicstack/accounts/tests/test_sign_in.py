"""Signing in and out, throttling and device cookies."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from civicstack.accounts import services, tokens
from civicstack.accounts.models import SignInAttempt, UserSession
from civicstack.accounts.tests.conftest import sign_in, stable_html
from civicstack.accounts.tests.factories import PASSWORD, UserFactory
from civicstack.core.models import AuditEvent

pytestmark = pytest.mark.django_db

SIGN_IN = "/en/account/sign-in"
FAILED = "Enter the email address and password for your account"


def _post(client: Client, email: str, password: str, address: str = "192.0.2.10"):
    return client.post(SIGN_IN, {"email": email, "password": password}, REMOTE_ADDR=address)


def test_sign_in_page_renders_a_form() -> None:
    """The sign-in page has email and password fields with autocomplete hints."""
    response = Client().get(reverse("accounts:sign-in"))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'autocomplete="username"' in html
    assert 'autocomplete="current-password"' in html
    assert "govuk-error-summary" not in html


@pytest.mark.parametrize(
    ("hint", "shown"),
    [
        ("ada@example.org", 'value="ada@example.org"'),
        ("not an address", None),
        ("x" * 250 + "@example.org", None),
        ('"><script>@example.org', None),
    ],
)
def test_a_login_hint_fills_in_the_email_address(hint: str, shown: str | None) -> None:
    """A service's login_hint (OpenID Connect) prefills the address, only when it is valid."""
    response = Client().get(reverse("accounts:sign-in"), {"login_hint": hint})
    html = response.content.decode()
    assert response.status_code == 200
    email_input = html[html.index('name="email"') - 300 : html.index('name="email"') + 300]
    if shown:
        assert shown in email_input
    else:
        assert "value=" not in email_input.split('name="email"')[1].split(">")[0]
        assert "<script>" not in html.split("</head>")[1].split('type="module"')[0]


def test_correct_password_signs_in_and_records_a_session(client: Client) -> None:
    """A citizen without MFA is signed in with the password; a UserSession is recorded.

    ASVS 6.2.1, 7.1.1.
    """
    user = UserFactory()
    response = client.post(
        SIGN_IN,
        {"email": user.email.upper(), "password": PASSWORD},
        HTTP_USER_AGENT="Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
        REMOTE_ADDR="198.51.100.7",
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:account")
    assert client.session["_auth_user_id"] == str(user.pk)
    session = UserSession.objects.get(user=user)
    assert session.session_key == client.session.session_key
    assert session.ip_address == "198.51.100.7"
    assert "Firefox" in session.user_agent
    assert AuditEvent.objects.filter(action="accounts.signed_in", object_id=str(user.pk)).exists()


def test_session_id_changes_at_sign_in(client: Client) -> None:
    """The session id before sign-in is not the one after it (no fixation). ASVS 7.2.4."""
    session = client.session
    session["anything"] = "before"
    session.save()
    before = session.session_key
    sign_in(client, UserFactory())
    assert client.session.session_key != before
    assert client.cookies[settings.SESSION_COOKIE_NAME].value != before


def test_wrong_password_and_throttled_attempt_show_the_same_page(client: Client) -> None:
    """A throttled attempt cannot be told from a wrong password by its page. ASVS 6.3.1."""
    user = UserFactory()
    wrong = _post(client, user.email, "not the password at all")
    assert wrong.status_code == 200
    assert FAILED in wrong.content.decode()
    for _ in range(settings.ACCOUNT_THROTTLE_PER_ACCOUNT):
        _post(client, user.email, "not the password at all")
    throttled = _post(client, user.email, PASSWORD)
    assert throttled.status_code == wrong.status_code
    assert stable_html(throttled.content) == stable_html(wrong.content)
    assert "_auth_user_id" not in client.session


def test_unknown_address_gets_the_same_message_as_wrong_password(client: Client) -> None:
    """Sign-in does not reveal whether an address has an account. ASVS 6.3.8."""
    user = UserFactory()
    unknown = _post(client, "nobody@example.org", "whatever password")
    wrong = _post(client, user.email, "whatever password")
    assert FAILED in unknown.content.decode()
    assert stable_html(unknown.content).replace("nobody@example.org", "X") == stable_html(
        wrong.content
    ).replace(user.email, "X")


def test_error_page_has_error_title_and_summary_linking_to_the_field(client: Client) -> None:
    """Errors use the GOV.UK pattern: "Error:" title, summary linking to the input."""
    html = _post(client, "someone@example.org", "wrong").content.decode()
    assert "<title>Error: Sign in" in html
    assert 'class="govuk-error-summary"' in html
    assert 'href="#id_email"' in html
    assert "govuk-form-group--error" in html


def test_blank_fields_ask_for_each_value(client: Client) -> None:
    """Leaving both fields empty asks for the email address and the password."""
    html = client.post(SIGN_IN, {"email": "", "password": ""}).content.decode()
    assert "Enter your email address" in html
    assert "Enter your password" in html


@override_settings(ACCOUNT_THROTTLE_PER_ADDRESS=5, ACCOUNT_THROTTLE_PER_ACCOUNT=100)
def test_one_address_failing_against_many_accounts_is_throttled(client: Client) -> None:
    """After the per-address limit, even a correct password from that address fails.

    Other addresses are unaffected. ASVS 6.3.1.
    """
    victim = UserFactory()
    for number in range(5):
        _post(client, f"guess{number}@example.org", "password guess", address="203.0.113.9")
    blocked = _post(client, victim.email, PASSWORD, address="203.0.113.9")
    assert FAILED in blocked.content.decode()
    elsewhere = _post(Client(), victim.email, PASSWORD, address="198.51.100.1")
    assert elsewhere.status_code == 302


def test_attacker_cannot_lock_out_a_browser_with_a_device_cookie() -> None:
    """Failures from other addresses lock the account for unknown browsers only.

    The owner's browser, holding a device cookie from an earlier sign-in, still gets in
    (OWASP device cookies). ASVS 6.3.1.
    """
    owner = UserFactory()
    browser = Client()
    sign_in(browser, owner, REMOTE_ADDR="198.51.100.20")
    assert tokens.device_cookie_name() in browser.cookies
    browser.post(reverse("accounts:sign-out"))
    for number in range(settings.ACCOUNT_THROTTLE_PER_ACCOUNT * 2):
        _post(Client(), owner.email, f"guess {number}", address=f"203.0.113.{number + 1}")
    # An unknown browser with the right password is refused...
    assert FAILED in _post(Client(), owner.email, PASSWORD).content.decode()
    # ...but the owner's browser is not.
    response = _post(browser, owner.email, PASSWORD, address="198.51.100.20")
    assert response.status_code == 302
    assert browser.session["_auth_user_id"] == str(owner.pk)


def test_a_device_cookie_has_its_own_limit() -> None:
    """A browser with a device cookie is throttled after its own run of failures."""
    owner = UserFactory()
    browser = Client()
    sign_in(browser, owner)
    browser.post(reverse("accounts:sign-out"))
    for _ in range(settings.ACCOUNT_THROTTLE_PER_ACCOUNT):
        _post(browser, owner.email, "wrong password here")
    assert FAILED in _post(browser, owner.email, PASSWORD).content.decode()
    assert SignInAttempt.objects.filter(trusted_device=True).exists()


def test_a_forged_device_cookie_is_ignored(client: Client) -> None:
    """A cookie not signed by the server does not exempt the browser from the lock."""
    owner = UserFactory()
    for _ in range(settings.ACCOUNT_THROTTLE_PER_ACCOUNT):
        _post(Client(), owner.email, "wrong password here")
    client.cookies[tokens.device_cookie_name()] = "forged:value:signature"
    assert FAILED in _post(client, owner.email, PASSWORD).content.decode()


def test_device_cookie_is_httponly_samesite_lax(client: Client) -> None:
    """The device cookie cannot be read by scripts and is not sent cross-site. ASVS 3.3.1."""
    user = UserFactory()
    response = _post(client, user.email, PASSWORD)
    cookie = response.cookies[tokens.device_cookie_name()]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"
    assert not cookie["secure"]


def test_device_cookie_is_secure_over_https(client: Client) -> None:
    """Over HTTPS the device cookie is marked Secure. ASVS 3.3.1."""
    user = UserFactory()
    response = client.post(SIGN_IN, {"email": user.email, "password": PASSWORD}, secure=True)
    assert response.cookies[tokens.device_cookie_name()]["secure"]


def test_failed_attempts_store_no_email_or_address(client: Client) -> None:
    """Throttle records hold keyed hashes, never the email address or IP address."""
    _post(client, "Someone@Example.org", "wrong", address="192.0.2.55")
    attempt = SignInAttempt.objects.get()
    stored = f"{attempt.account_key} {attempt.address_key} {attempt.device_key}"
    assert "example.org" not in stored.lower()
    assert "192.0.2.55" not in stored
    assert attempt.account_key == tokens.account_key("someone@example.org")


def test_reaching_a_limit_is_audited(client: Client) -> None:
    """The moment an account's limit is reached is written to the audit log."""
    user = UserFactory()
    for _ in range(settings.ACCOUNT_THROTTLE_PER_ACCOUNT):
        _post(client, user.email, "wrong password")
    event = AuditEvent.objects.get(action="accounts.sign_in.throttled")
    assert event.data == {"scope": "account", "kind": "password"}


def test_old_attempts_are_pruned() -> None:
    """The prune job deletes failures older than a day and keeps recent ones."""
    SignInAttempt.objects.create(
        account_key="a", address_key="b", at=timezone.now() - timedelta(days=2)
    )
    recent = SignInAttempt.objects.create(account_key="a", address_key="b")
    assert services.sign_in_attempts_prune() == 1
    assert list(SignInAttempt.objects.all()) == [recent]
    assert AuditEvent.objects.filter(action="accounts.sign_in_attempts.pruned").exists()


def test_disabled_account_cannot_sign_in(client: Client) -> None:
    """A disabled account gets the same message as a wrong password."""
    user = UserFactory(is_active=False)
    assert FAILED in _post(client, user.email, PASSWORD).content.decode()


def test_next_is_followed_when_it_is_on_this_site(client: Client) -> None:
    """After sign-in the person returns to the page they asked for. ASVS 3.7.2 (redirects)."""
    user = UserFactory()
    response = client.post(
        SIGN_IN + "?next=/en/account/sessions", {"email": user.email, "password": PASSWORD}
    )
    assert response["Location"] == "/en/account/sessions"


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/x", "javascript:alert(1)", "/\\evil"]
)
def test_next_to_another_site_is_ignored(client: Client, target: str) -> None:
    """An open redirect through ``next`` is not possible."""
    user = UserFactory()
    response = client.post(SIGN_IN, {"email": user.email, "password": PASSWORD, "next": target})
    assert response["Location"] == reverse("accounts:account")


def test_sign_out_needs_post(client: Client) -> None:
    """Signing out by GET is refused, so a link or image cannot sign someone out."""
    sign_in(client, UserFactory())
    assert client.get(reverse("accounts:sign-out")).status_code == 405
    assert "_auth_user_id" in client.session


def test_sign_out_ends_the_session(client: Client) -> None:
    """Signing out logs out, marks the session ended and audits it. ASVS 7.4.1."""
    user = UserFactory()
    sign_in(client, user)
    key = client.session.session_key
    response = client.post(reverse("accounts:sign-out"))
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session
    assert UserSession.objects.get(session_key=key).ended_at is not None
    assert AuditEvent.objects.filter(action="accounts.signed_out").exists()


def test_unverified_account_can_sign_in_and_sees_a_banner(client: Client) -> None:
    """An unconfirmed address does not stop sign-in; the account page says so."""
    user = UserFactory(email_verified_at=None)
    sign_in(client, user)
    html = client.get(reverse("accounts:account")).content.decode()
    assert "You have not confirmed your email address yet." in html
    assert reverse("accounts:resend-verification") in html
