"""Levels of assurance: the session's level, level_required and the step-up page."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.db import SessionStore
from django.http import HttpRequest
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from civicstack.accounts.constants import AUTH_METHODS_KEY, AUTH_TIME_KEY, MFA_VERIFIED_KEY
from civicstack.accounts.tests.factories import TOTPDeviceFactory, UserFactory
from civicstack.identity import selectors, services
from civicstack.identity.constants import Level
from civicstack.identity.models import IdentityVerification
from civicstack.identity.tests.helpers import (
    PASSWORD_ONLY,
    WITH_CODE,
    WITH_PASSKEY,
    client_with,
    standin_data,
)

pytestmark = pytest.mark.django_db

NEXT_YEAR = timezone.localdate() + dt.timedelta(days=365)
STEP_UP = "/en/identity/step-up"


def _request(user: Any, session: dict[str, Any] | None = None) -> HttpRequest:
    request = RequestFactory().get("/en/somewhere")
    request.user = user if user is not None else AnonymousUser()
    store = SessionStore()
    for key, value in (session or {}).items():
        store[key] = value
    request.session = store
    return request


def _verify(person: Any) -> IdentityVerification:
    return services.identity_verification_record(
        user=person,
        method="document_check_standin",
        data=standin_data(expires=NEXT_YEAR),
        actor=person,
    )


def _session(methods: list[str], *, mfa: bool = True) -> dict[str, Any]:
    return {AUTH_METHODS_KEY: methods, AUTH_TIME_KEY: 1_800_000_000, MFA_VERIFIED_KEY: mfa}


# --- session_level, auth_methods, auth_time ---------------------------------------------------


def test_nobody_signed_in_has_no_level() -> None:
    """An anonymous request has no level, no methods and no time."""
    request = _request(None, _session(WITH_PASSKEY))
    assert selectors.session_level(request) is None
    assert selectors.auth_methods(request) == []
    assert selectors.auth_time(request) is None


def test_a_password_alone_is_low() -> None:
    """Password only is low, even for a verified person."""
    person = UserFactory()
    _verify(person)
    request = _request(person, _session(PASSWORD_ONLY, mfa=False))
    assert selectors.session_level(request) == Level.LOW
    assert selectors.auth_methods(request) == ["pwd"]
    assert selectors.auth_time(request) == 1_800_000_000


def test_a_session_from_before_methods_were_recorded_is_read_from_the_mfa_flag() -> None:
    """Without recorded methods: a password, plus an app code when the MFA flag is set."""
    with_code = _request(UserFactory(), {MFA_VERIFIED_KEY: True})
    assert selectors.auth_methods(with_code) == ["pwd", "otp", "mfa"]
    assert selectors.session_level(with_code) == Level.SUBSTANTIAL
    assert selectors.auth_time(with_code) is None
    password = _request(UserFactory(), {})
    assert selectors.auth_methods(password) == ["pwd"]
    assert selectors.session_level(password) == Level.LOW


def test_a_second_factor_is_substantial() -> None:
    """Password and an app code, with the MFA flag, is substantial."""
    assert selectors.session_level(_request(UserFactory(), _session(WITH_CODE))) == (
        Level.SUBSTANTIAL
    )


def test_mfa_in_the_methods_without_the_flag_is_low() -> None:
    """Both the flag and "mfa" among the methods are needed for substantial."""
    assert selectors.session_level(_request(UserFactory(), _session(WITH_CODE, mfa=False))) == (
        Level.LOW
    )
    assert selectors.session_level(_request(UserFactory(), _session(["pwd"], mfa=True))) == (
        Level.LOW
    )


def test_a_passkey_without_a_verified_identity_is_substantial() -> None:
    """A passkey alone is substantial: high also needs a verified identity."""
    assert selectors.session_level(_request(UserFactory(), _session(WITH_PASSKEY))) == (
        Level.SUBSTANTIAL
    )


def test_a_verified_identity_without_a_passkey_is_substantial() -> None:
    """An app code is not phishing-resistant: a verified person with one is substantial."""
    person = UserFactory()
    _verify(person)
    assert selectors.session_level(_request(person, _session(WITH_CODE))) == Level.SUBSTANTIAL


def test_a_passkey_and_a_verified_identity_is_high() -> None:
    """A passkey this session and a current verification is high; revoked, it is not."""
    person = UserFactory()
    record = _verify(person)
    request = _request(person, _session(WITH_PASSKEY))
    assert selectors.session_level(request) == Level.HIGH
    assert selectors.session_level(_request(person, _session(["pwd", "hwk", "mfa"]))) == (
        Level.HIGH
    )
    services.identity_verification_revoke(verification=record, actor=person)
    assert selectors.session_level(request) == Level.SUBSTANTIAL


@pytest.mark.parametrize(
    "session",
    [
        {AUTH_METHODS_KEY: "mfa", MFA_VERIFIED_KEY: True},
        {AUTH_METHODS_KEY: [1, None, {"mfa": 1}], MFA_VERIFIED_KEY: True},
        {AUTH_METHODS_KEY: ["pwd", "otp", "mfa"], MFA_VERIFIED_KEY: "yes"},
        {AUTH_TIME_KEY: "yesterday"},
        {AUTH_TIME_KEY: True},
    ],
)
def test_odd_session_values_never_raise_the_level(session: dict[str, Any]) -> None:
    """Malformed session values count as nothing, never as more."""
    request = _request(UserFactory(), session)
    assert selectors.session_level(request) == Level.LOW
    assert selectors.auth_time(request) is None or isinstance(selectors.auth_time(request), int)
    assert all(isinstance(item, str) for item in selectors.auth_methods(request))


# --- level_required ------------------------------------------------------------------------------


def test_level_required_sends_anonymous_people_to_sign_in() -> None:
    """Anonymous people go to sign in, and come back to next."""
    response = selectors.level_required(_request(None), Level.SUBSTANTIAL, "/en/apply/x/")
    assert response is not None
    assert response.status_code == 302
    parts = urlsplit(response["Location"])
    assert parts.path == reverse("accounts:sign-in")
    assert parse_qs(parts.query) == {"next": ["/en/apply/x/"]}


@pytest.mark.parametrize(
    ("methods", "needed", "passes"),
    [
        (PASSWORD_ONLY, Level.LOW, True),
        (PASSWORD_ONLY, Level.SUBSTANTIAL, False),
        (WITH_CODE, Level.SUBSTANTIAL, True),
        (WITH_CODE, Level.HIGH, False),
        (WITH_PASSKEY, Level.HIGH, False),
    ],
)
def test_level_required_steps_up_signed_in_people(
    methods: list[str], needed: Level, passes: bool
) -> None:
    """None when the session is good enough, else the step-up page with level and next."""
    request = _request(UserFactory(), _session(methods, mfa="mfa" in methods))
    response = selectors.level_required(request, needed, "/en/apply/x/?a=1")
    if passes:
        assert response is None
        return
    assert response is not None
    parts = urlsplit(response["Location"])
    assert parts.path == reverse("identity:step-up")
    assert parse_qs(parts.query) == {"level": [needed.value], "next": ["/en/apply/x/?a=1"]}


def test_level_required_passes_a_high_session() -> None:
    """A verified person with a passkey this session passes every level."""
    person = UserFactory()
    _verify(person)
    request = _request(person, _session(WITH_PASSKEY))
    assert all(selectors.level_required(request, level, "/") is None for level in Level)


# --- The step-up page -----------------------------------------------------------------------------


def test_the_step_up_page_for_substantial_offers_a_code() -> None:
    """Someone with an app is offered a code, coming back to this page."""
    person = UserFactory()
    TOTPDeviceFactory(user=person)
    client = client_with(person, PASSWORD_ONLY)
    response = client.get(STEP_UP, {"level": "substantial", "next": "/en/apply/x/"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "Confirm it's you to continue" in body
    assert "password only" in body
    assert "Enter a code from your authenticator app" in body
    assert "Set up an authenticator app" not in body
    here = response.context["code_url"]
    assert here.startswith(reverse("accounts:step-up-code") + "?next=")
    assert "%2Fen%2Fidentity%2Fstep-up" in here


def test_someone_with_a_passkey_is_offered_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a passkey (accounts' has_passkey), "Use a passkey" is offered and no set-up."""
    from civicstack.accounts.models import User

    monkeypatch.setattr(User, "has_passkey", property(lambda self: True), raising=False)
    client = client_with(UserFactory(), PASSWORD_ONLY)
    response = client.get(STEP_UP, {"level": "substantial", "next": "/en/apply/x/"})
    body = response.content.decode()
    assert "Use a passkey" in body
    assert "If you do not have an authenticator app or a passkey" not in body
    assert response.context["passkey_url"].startswith(reverse("accounts:step-up-passkey"))


def test_the_step_up_page_explains_how_to_set_up_a_second_factor() -> None:
    """Someone with no app is told how to set one up, and comes back here after."""
    client = client_with(UserFactory(), PASSWORD_ONLY)
    response = client.get(STEP_UP, {"level": "substantial", "next": "/en/apply/x/"})
    body = response.content.decode()
    assert "If you do not have an authenticator app or a passkey" in body
    setup = response.context["mfa_setup_url"]
    assert setup.startswith(reverse("accounts:mfa-setup") + "?next=")
    assert "step-up" in setup
    assert "Enter a code from your authenticator app" not in body
    assert response.context["passkeys_url"].startswith(reverse("accounts:passkeys"))
    assert "Add a passkey" in body


def test_the_step_up_page_for_high_lists_the_passkey_and_the_identity_check() -> None:
    """High needs a passkey and a verified identity; the page shows each and where to go."""
    client = client_with(UserFactory(), WITH_CODE)
    response = client.get(STEP_UP, {"level": "high", "next": "/en/apply/x/"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "Prove who you are to continue" in body
    assert "password and a second step" in body
    # Without a passkey yet, the page offers to add one and use it.
    assert "Add a passkey and use it" in body
    assert "Get your identity checked" in body
    assert response.context["verify_url"].startswith(reverse("identity:verification"))
    assert body.count("To do") == 2


def test_the_step_up_page_for_high_marks_a_verified_identity_done() -> None:
    """A verified person is shown that part as done; only the passkey is left."""
    person = UserFactory()
    _verify(person)
    response = client_with(person, WITH_CODE).get(STEP_UP, {"level": "high", "next": "/"})
    assert response.context["verified"] is True
    assert response.context["passkey_done"] is False
    assert "Done" in response.content.decode()


def test_a_session_already_good_enough_goes_straight_to_next() -> None:
    """When the session satisfies the level, the page redirects to next at once."""
    client = client_with(UserFactory(), WITH_CODE)
    response = client.get(STEP_UP, {"level": "substantial", "next": "/en/apply/x/"})
    assert response.status_code == 302
    assert response["Location"] == "/en/apply/x/"
    person = UserFactory()
    _verify(person)
    high = client_with(person, WITH_PASSKEY).get(STEP_UP, {"level": "high", "next": "/en/a"})
    assert high["Location"] == "/en/a"


@pytest.mark.parametrize(
    "next_url",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
        "\x00",
        "/" + "a" * 3000,
    ],
)
def test_next_must_be_a_local_page(next_url: str) -> None:
    """A next that is not a path on this site is dropped: the account page instead."""
    client = client_with(UserFactory(), WITH_CODE)
    response = client.get(STEP_UP, {"level": "substantial", "next": next_url})
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:account")


@pytest.mark.parametrize("level", ["", "low", "medium", "HIGH", "\x00", "x" * 5000])
def test_an_unknown_level_is_a_clear_error(level: str) -> None:
    """A level that is not substantial or high gets a 400 page, not a 500."""
    response = client_with(UserFactory(), PASSWORD_ONLY).get(
        STEP_UP, {"level": level, "next": "/en/apply/x/"}
    )
    assert response.status_code == 400
    assert "problem with this link" in response.content.decode()


def test_anonymous_people_sign_in_before_the_step_up_page() -> None:
    """The step-up page sends anonymous people to sign in and back to itself."""
    response = Client().get(STEP_UP, {"level": "substantial", "next": "/en/apply/x/"})
    assert response.status_code == 302
    parts = urlsplit(response["Location"])
    assert parts.path == reverse("accounts:sign-in")
    assert parse_qs(parts.query)["next"][0].startswith(STEP_UP + "?")


def test_the_step_up_page_accepts_only_get() -> None:
    """Posting to the step-up page changes nothing and is refused."""
    response = client_with(UserFactory(), PASSWORD_ONLY).post(STEP_UP, {"level": "high"})
    assert response.status_code == 405


def test_after_setting_up_an_app_from_the_step_up_page_the_person_comes_back() -> None:
    """The set-up link carries next; after the recovery codes, Continue leads back to it."""
    from civicstack.accounts.models import TOTPDevice
    from civicstack.accounts.totp import totp_code_at, totp_current_step

    person = UserFactory()
    client = client_with(person, PASSWORD_ONLY)
    step_up = client.get(STEP_UP, {"level": "substantial", "next": "/en/apply/x/"})
    setup_url = step_up.context["mfa_setup_url"]
    assert client.get(setup_url).status_code == 200
    device = TOTPDevice.objects.get(user=person)
    code = totp_code_at(secret=device.secret, step=totp_current_step())
    response = client.post(reverse("accounts:mfa-setup"), {"code": code})
    assert response.status_code == 302
    codes = client.get(response["Location"])
    back = codes.context["continue_url"]
    assert back.startswith(STEP_UP + "?")
    assert parse_qs(urlsplit(back).query) == {"level": ["substantial"], "next": ["/en/apply/x/"]}


def test_the_account_page_shows_the_identity_check() -> None:
    """The account page says whether, when and how the identity was checked."""
    person = UserFactory()
    client = client_with(person, PASSWORD_ONLY)
    assert "Your identity has not been checked" in client.get("/en/account/").content.decode()
    _verify(person)
    body = client.get("/en/account/").content.decode()
    assert "Your identity was checked on" in body
    assert "An automated check" in body
    assert reverse("identity:verification") in body
