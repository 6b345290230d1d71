"""Password rules, hashing, reset and change."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest
from argon2 import PasswordHasher
from argon2.low_level import Type
from django.contrib.auth.hashers import get_hasher, make_password
from django.contrib.sessions.models import Session
from django.core import mail
from django.test import Client, override_settings
from django.urls import reverse

from civicstack.accounts import services
from civicstack.accounts.hashers import CivicstackArgon2PasswordHasher
from civicstack.accounts.models import User, UserSession
from civicstack.accounts.tests.conftest import link_from, sign_in
from civicstack.accounts.tests.factories import PASSWORD, UserFactory
from civicstack.core.errors import ValidationFailed
from civicstack.core.models import AuditEvent

pytestmark = pytest.mark.django_db

Committed = Callable[[], AbstractContextManager[list[object]]]


def _sign_up(password: str) -> User | None:
    return services.user_sign_up(
        email="rules@example.org", full_name="Rule Tester", password=password
    )


@pytest.mark.parametrize(
    ("password", "accepted"),
    [
        ("x" * 3 + "abcdefgh", False),  # 11 characters
        ("plum tree 42", True),  # 12 characters
        ("a" * 64, True),
        ("longphrase " * 11 + "abcdefg", True),  # 128 characters
        ("b" * 129, False),
        ("password1234", False),  # on the common passwords list
        ("alllowercaseletters", True),  # no composition rules
        ("correct horse battery", True),  # words and spaces, no digits or symbols
    ],
)
def test_password_length_and_common_rules(password: str, accepted: bool) -> None:
    """Passwords are 12 to 128 characters, not common, with no composition rules.

    ASVS 6.2.1, 6.2.2 (up to 128 allowed), 6.2.4 (common passwords), 6.2.5 (no composition).
    """
    if password.startswith("longphrase"):
        assert len(password) == 128
    if accepted:
        assert _sign_up(password) is not None
    else:
        with pytest.raises(ValidationFailed) as raised:
            _sign_up(password)
        assert "password" in raised.value.field_errors
        assert not User.objects.exists()


def test_password_like_the_email_address_is_refused() -> None:
    """A password too similar to the email address is refused."""
    with pytest.raises(ValidationFailed):
        services.user_sign_up(
            email="verylongname@example.org", full_name="A", password="verylongname@example.org"
        )


@override_settings(PASSWORD_HASHERS=["civicstack.accounts.hashers.CivicstackArgon2PasswordHasher"])
def test_production_hasher_is_argon2id_with_owasp_parameters() -> None:
    """The production hasher is Argon2id, m=19456 KiB, t=2, p=1. ASVS 11.4.2."""
    hasher = get_hasher("default")
    assert isinstance(hasher, CivicstackArgon2PasswordHasher)
    encoded = make_password("plum tree 42 and more")
    assert encoded.startswith("argon2$argon2id$")
    params = hasher.decode(encoded)["params"]
    assert params.type is Type.ID
    assert params.memory_cost == 19456
    assert params.time_cost == 2
    assert params.parallelism == 1
    assert PasswordHasher().verify(encoded.removeprefix("argon2"), "plum tree 42 and more")


def test_password_reset_request_looks_the_same_for_unknown_addresses(
    client: Client, committed: Committed
) -> None:
    """The request page says the same whether or not the address has an account.

    ASVS 6.3.8 (no enumeration).
    """
    UserFactory(email="known@example.org")
    with committed():
        known = client.post(reverse("accounts:password-reset"), {"email": "known@example.org"})
        unknown = client.post(reverse("accounts:password-reset"), {"email": "nobody@example.org"})
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"] == reverse("accounts:password-reset-sent")
    assert [m.to for m in mail.outbox] == [["known@example.org"]]


def test_password_reset_link_works_once_and_ends_every_session(
    client: Client, committed: Committed
) -> None:
    """Resetting the password signs the account out everywhere; the link then stops working.

    ASVS 6.4.1, 7.4.3.
    """
    user = UserFactory(email_verified_at=None)
    elsewhere = Client()
    sign_in(elsewhere, user)
    with committed():
        client.post(reverse("accounts:password-reset"), {"email": user.email})
    link = link_from(mail.outbox[0].body)
    assert client.get(link).status_code == 200
    new = "a brand new pass phrase"
    with committed():
        response = client.post(link, {"password": new, "password_confirm": new})
    assert response["Location"] == reverse("accounts:sign-in")
    user.refresh_from_db()
    assert user.check_password(new)
    assert user.email_verified_at is not None
    assert not UserSession.objects.filter(user=user, ended_at__isnull=True).exists()
    assert elsewhere.get(reverse("accounts:account")).status_code == 302
    assert "Your password has been changed" in mail.outbox[-1].subject
    again = client.post(
        link, {"password": "yet another phrase", "password_confirm": "yet another phrase"}
    )
    assert "This link has expired or has already been used" in again.content.decode()
    assert AuditEvent.objects.filter(action="accounts.password.reset").exists()


def test_password_reset_refuses_a_weak_new_password(client: Client, committed: Committed) -> None:
    """The reset page applies the same password rules."""
    user = UserFactory()
    with committed():
        client.post(reverse("accounts:password-reset"), {"email": user.email})
    link = link_from(mail.outbox[0].body)
    response = client.post(link, {"password": "short", "password_confirm": "short"})
    assert "govuk-error-summary" in response.content.decode()
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_password_reset_emails_are_limited(committed: Committed) -> None:
    """At most three reset emails an hour go to one account."""
    user = UserFactory()
    with committed():
        for _ in range(5):
            services.password_reset_request(email=user.email)
    assert len(mail.outbox) == 3


def test_change_password_needs_the_current_one_and_ends_other_sessions(
    client: Client, committed: Committed
) -> None:
    """Changing the password needs the current one; other sessions end, this one stays.

    ASVS 6.2.3, 7.4.3.
    """
    user = UserFactory()
    other = Client()
    sign_in(other, user)
    other_key = other.session.session_key
    sign_in(client, user)
    url = reverse("accounts:change-password")
    new = "another long phrase"
    wrong = client.post(
        url, {"current_password": "nope", "new_password": new, "new_password_confirm": new}
    )
    assert "Your password is not correct" in wrong.content.decode()
    with committed():
        response = client.post(
            url, {"current_password": PASSWORD, "new_password": new, "new_password_confirm": new}
        )
    assert response["Location"] == reverse("accounts:account")
    user.refresh_from_db()
    assert user.check_password(new)
    assert client.get(reverse("accounts:account")).status_code == 200
    assert not Session.objects.filter(session_key=other_key).exists()
    assert other.get(reverse("accounts:account")).status_code == 302
    current = UserSession.objects.get(session_key=client.session.session_key)
    assert current.ended_at is None
    assert "Your password has been changed" in mail.outbox[-1].subject


def test_change_email_needs_the_password_and_a_link_to_the_new_address(
    client: Client, committed: Committed
) -> None:
    """The new address gets a link, the old one a notice; the change happens on the link.

    ASVS 6.4.x (changes to authentication details notify the owner).
    """
    user = UserFactory(email="old@example.org")
    sign_in(client, user)
    url = reverse("accounts:change-email")
    wrong = client.post(url, {"new_email": "new@example.org", "password": "not it"})
    assert "Your password is not correct" in wrong.content.decode()
    assert not mail.outbox
    with committed():
        response = client.post(url, {"new_email": "New@Example.org", "password": PASSWORD})
    assert response["Location"] == reverse("accounts:account")
    recipients = {tuple(m.to): m for m in mail.outbox}
    assert set(recipients) == {("new@example.org",), ("old@example.org",)}
    link = link_from(recipients[("new@example.org",)].body)
    user.refresh_from_db()
    assert user.email == "old@example.org"
    with committed():
        confirmed = client.post(link)
    assert "Your email address has been changed" in confirmed.content.decode()
    user.refresh_from_db()
    assert user.email == "new@example.org"
    assert "has been changed" in mail.outbox[-1].subject
    assert mail.outbox[-1].to == ["old@example.org"]
    assert "This link has expired" in client.post(link).content.decode()


def test_change_email_to_a_taken_address_tells_its_owner_only(
    client: Client, committed: Committed
) -> None:
    """Asking for an address that has an account looks the same; no link is sent."""
    UserFactory(email="taken@example.org")
    user = UserFactory(email="mine@example.org")
    sign_in(client, user)
    with committed():
        response = client.post(
            reverse("accounts:change-email"),
            {"new_email": "taken@example.org", "password": PASSWORD},
        )
    assert response["Location"] == reverse("accounts:account")
    to_taken = [m for m in mail.outbox if m.to == ["taken@example.org"]]
    assert len(to_taken) == 1
    assert "/confirm-email/" not in to_taken[0].body


def test_wrong_current_passwords_are_limited(client: Client) -> None:
    """Guessing the current password on a signed-in page is limited too."""
    sign_in(client, UserFactory())
    url = reverse("accounts:change-email")
    for _ in range(10):
        client.post(url, {"new_email": "x@example.org", "password": "guess"})
    response = client.post(url, {"new_email": "x@example.org", "password": PASSWORD})
    assert "Too many attempts" in response.content.decode()
