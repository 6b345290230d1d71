"""Hostile input to every account form gives a clear error page, never a 500."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse

from civicstack.accounts import tokens
from civicstack.accounts.models import User
from civicstack.accounts.tests.conftest import sign_in
from civicstack.accounts.tests.factories import PASSWORD, TOTPDeviceFactory, UserFactory

pytestmark = pytest.mark.django_db

HOSTILE = {
    "10kB": "x" * 10_240,
    "nul": "abc\x00def",
    "control": "\x01\x02\x1b[31m\x7f",
    "invalid-email": "not-an-email@",
    "sql": "' OR 1=1; DROP TABLE accounts_user; --",
    "template": "{{ 7777|add:1 }}{% debug %}{% load log %}",
    "html": "<script>alert(1)</script>",
    "unicode": "\u202e\u200b" + "🙂" * 500,
    "whitespace": " \t\r\n ",
}


def _anonymous(client: Client) -> None:
    return None


def _citizen(client: Client) -> None:
    sign_in(client, UserFactory())


def _citizen_with_mfa(client: Client) -> None:
    sign_in(client, TOTPDeviceFactory().user)


def _pending(client: Client) -> None:
    user = TOTPDeviceFactory().user
    client.post(reverse("accounts:sign-in"), {"email": user.email, "password": PASSWORD})


def _reset_url() -> str:
    user = UserFactory()
    token = tokens.link_token_make(user=user, purpose=tokens.PURPOSE_PASSWORD_RESET)
    return reverse("accounts:password-reset-confirm", kwargs={"token": token})


Setup = Callable[[Client], None]
FORMS: dict[str, tuple[Setup, Callable[[], str], list[str]]] = {
    "sign-in": (_anonymous, lambda: reverse("accounts:sign-in"), ["email", "password"]),
    "sign-in-code": (_pending, lambda: reverse("accounts:sign-in-code"), ["code"]),
    "sign-up": (
        _anonymous,
        lambda: reverse("accounts:sign-up"),
        ["email", "full_name", "password", "password_confirm"],
    ),
    "password-reset": (_anonymous, lambda: reverse("accounts:password-reset"), ["email"]),
    "password-reset-confirm": (_anonymous, _reset_url, ["password", "password_confirm"]),
    "change-email": (_citizen, lambda: reverse("accounts:change-email"), ["new_email", "password"]),
    "change-password": (
        _citizen,
        lambda: reverse("accounts:change-password"),
        ["current_password", "new_password", "new_password_confirm"],
    ),
    "mfa-setup": (_citizen, lambda: reverse("accounts:mfa-setup"), ["code"]),
    "mfa-remove": (_citizen_with_mfa, lambda: reverse("accounts:mfa-remove"), ["password"]),
    "mfa-recovery-codes": (
        _citizen_with_mfa,
        lambda: reverse("accounts:mfa-recovery-codes"),
        ["password"],
    ),
}


@pytest.mark.parametrize("value", sorted(HOSTILE))
@pytest.mark.parametrize("form", sorted(FORMS))
def test_hostile_input_gets_an_error_summary(form: str, value: str) -> None:
    """Each field filled with hostile input gives a 200/400 page with the error summary,
    no 500 and no unescaped echo; a hostile string that is a valid new password is stored
    exactly. ASVS 1.2.x (output encoding), 2.2.1 (input validation)."""
    client = Client(raise_request_exception=False)
    setup, url, fields = FORMS[form]
    setup(client)
    address = url()
    response = client.post(address, dict.fromkeys(fields, HOSTILE[value]))
    if response.status_code == 302 and form == "password-reset-confirm":
        # Some hostile strings are good passwords: then they must be stored exactly.
        assert User.objects.get(password_changed_at__isnull=False).check_password(HOSTILE[value])
        return
    assert response.status_code in (200, 400), response.status_code
    html = response.content.decode()
    assert 'class="govuk-error-summary"' in html
    assert "<title>Error: " in html
    assert "<script>alert(1)</script>" not in html
    if value == "template":
        main = html.split("<main", 1)[1].split("</main>", 1)[0]
        # Echoed as text, never evaluated (a distinctive sum, so no other number on the
        # page, such as a generated email address, can match it).
        assert "7778" not in main
    if form in {"sign-in", "sign-in-code"}:
        assert "_auth_user_id" not in client.session


@pytest.mark.parametrize(
    "token", ["x" * 10_240, "%00", "' OR 1=1 --", "{{7*7}}", "..%2F..%2Fetc%2Fpasswd", "a:b:c"]
)
def test_hostile_link_tokens_show_the_expired_link_page(token: str) -> None:
    """Rubbish in a link's token gives the "expired or used" page, never a 500."""
    client = Client(raise_request_exception=False)
    for name in ("accounts:verify-email", "accounts:password-reset-confirm"):
        url = reverse(name, kwargs={"token": "placeholder"}).replace("placeholder", token)
        for method in (client.get, client.post):
            response = method(url)
            assert response.status_code in (200, 400, 404), (name, response.status_code)
            if response.status_code == 200:
                assert "This link has expired" in response.content.decode()


def test_hostile_next_parameter_is_ignored() -> None:
    """A hostile ``next`` value never leaves the site or breaks the page."""
    client = Client(raise_request_exception=False)
    for value in HOSTILE.values():
        response = client.get(reverse("accounts:sign-in"), {"next": value})
        assert response.status_code == 200
        assert "<script>alert(1)</script>" not in response.content.decode()
