"""Sign-up and email verification links."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest
from django.core import mail, signing
from django.test import Client
from django.urls import reverse

from civicstack.accounts import services, tokens
from civicstack.accounts.models import User
from civicstack.accounts.tests.conftest import link_from, sign_in
from civicstack.accounts.tests.factories import PASSWORD, UserFactory
from civicstack.core.errors import RateLimited
from civicstack.core.models import AuditEvent

pytestmark = pytest.mark.django_db

Committed = Callable[[], AbstractContextManager[list[object]]]
SIGN_UP = "/en/account/create"
GOOD = {
    "email": "New.Person@Example.org",
    "full_name": "New Person",
    "password": "a long pass phrase",
    "password_confirm": "a long pass phrase",
}


def test_sign_up_emails_a_link_that_works_once(client: Client, committed: Committed) -> None:
    """Sign-up creates an unverified account and emails a link; the link works once.

    ASVS 6.4.1 (single-use, expiring), 2.1 (input).
    """
    with committed():
        response = client.post(SIGN_UP, GOOD)
    assert response["Location"] == reverse("accounts:sign-up-check-email")
    user = User.objects.get(email="new.person@example.org")
    assert user.email_verified_at is None
    assert user.full_name == "New Person"
    assert "new.person@example.org" in client.get(response["Location"]).content.decode()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["new.person@example.org"]
    assert "Confirm your email address" in message.subject
    link = link_from(message.body)
    assert link.startswith("/en/account/confirm-email/")
    # Following the link shows a button (mail scanners that fetch links do not use it up).
    page = client.get(link)
    assert page.status_code == 200
    assert "Confirm email address" in page.content.decode()
    user.refresh_from_db()
    assert user.email_verified_at is None
    confirmed = client.post(link)
    assert "Email address confirmed" in confirmed.content.decode()
    user.refresh_from_db()
    assert user.email_verified_at is not None
    again = client.post(link)
    assert "This link has expired or has already been used" in again.content.decode()
    assert "This link has expired" in client.get(link).content.decode()


def test_expired_verification_link_is_refused(
    client: Client, committed: Committed, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A link older than 24 hours does not work."""
    with committed():
        client.post(SIGN_UP, GOOD)
    link = link_from(mail.outbox[0].body)
    later = time.time() + tokens.LINK_MAX_AGE[tokens.PURPOSE_VERIFY_EMAIL] + 10
    monkeypatch.setattr(signing.time, "time", lambda: later)
    assert "This link has expired" in client.post(link).content.decode()
    assert User.objects.get().email_verified_at is None


@pytest.mark.parametrize("change", ["truncate", "flip", "other-purpose"])
def test_tampered_links_are_refused(client: Client, change: str) -> None:
    """A link that was altered, or made for another purpose, is refused."""
    user = UserFactory(email_verified_at=None)
    token = tokens.link_token_make(user=user, purpose=tokens.PURPOSE_VERIFY_EMAIL)
    if change == "truncate":
        token = token[:-3]
    elif change == "flip":
        token = token[:5] + ("A" if token[5] != "A" else "B") + token[6:]
    else:
        token = tokens.link_token_make(user=user, purpose=tokens.PURPOSE_PASSWORD_RESET)
    response = client.post(reverse("accounts:verify-email", kwargs={"token": token}))
    assert "This link has expired" in response.content.decode()
    user.refresh_from_db()
    assert user.email_verified_at is None


def test_sign_up_with_an_existing_address_reveals_nothing(
    client: Client, committed: Committed
) -> None:
    """Signing up with a registered address looks the same; its owner is emailed instead.

    ASVS 6.3.8 (no account enumeration).
    """
    existing = UserFactory(email="new.person@example.org")
    with committed():
        response = client.post(SIGN_UP, GOOD)
    assert response["Location"] == reverse("accounts:sign-up-check-email")
    assert User.objects.count() == 1
    existing.refresh_from_db()
    assert existing.check_password(PASSWORD)
    assert len(mail.outbox) == 1
    assert "You already have an account" in mail.outbox[0].subject
    assert mail.outbox[0].to == ["new.person@example.org"]


def test_passwords_must_match(client: Client) -> None:
    """Sign-up refuses two different passwords."""
    response = client.post(SIGN_UP, {**GOOD, "password_confirm": "another long phrase"})
    assert "The passwords do not match" in response.content.decode()
    assert not User.objects.exists()


def test_common_password_is_refused_at_sign_up(client: Client) -> None:
    """A password from the common list is refused with a clear message. ASVS 6.2.4."""
    response = client.post(
        SIGN_UP, {**GOOD, "password": "password1234", "password_confirm": "password1234"}
    )
    html = response.content.decode()
    assert "govuk-error-summary" in html
    assert "too common" in html
    assert not User.objects.exists()


def test_control_characters_in_name_are_refused(client: Client) -> None:
    """A name with control characters is refused."""
    response = client.post(SIGN_UP, {**GOOD, "full_name": "Bad\x07Name"})
    assert "Full name must only include letters" in response.content.decode()
    assert not User.objects.exists()


def test_email_is_bilingual_ready_and_has_no_html_escaping(committed: Committed) -> None:
    """Email text is plain (no HTML entities) and carries the link in each language."""
    with committed():
        services.user_sign_up(
            email="o'brien@example.org", full_name="Seán O'Brien & Co", password=GOOD["password"]
        )
    body = mail.outbox[0].body
    assert "Seán O'Brien & Co" in body
    assert "&amp;" not in body
    assert "/en/account/confirm-email/" in body


def test_resending_the_link_is_rate_limited(client: Client, committed: Committed) -> None:
    """An unverified person can ask for new links, but only three an hour."""
    user = UserFactory(email_verified_at=None)
    sign_in(client, user)
    page = client.get(reverse("accounts:resend-verification"))
    assert page.status_code == 200
    for _ in range(3):
        with committed():
            response = client.post(reverse("accounts:resend-verification"))
        assert response["Location"] == reverse("accounts:account")
    assert len(mail.outbox) == 3
    limited = client.post(reverse("accounts:resend-verification"))
    assert limited.status_code == 200
    assert "too many links" in limited.content.decode()
    assert len(mail.outbox) == 3
    with pytest.raises(RateLimited):
        services.email_verification_resend(user=user)


def test_an_older_link_still_works_after_a_resend(committed: Committed) -> None:
    """Asking for a new link does not break the first one (emails can arrive late)."""
    with committed():
        user = services.user_sign_up(**{k: v for k, v in GOOD.items() if k != "password_confirm"})
    assert user is not None
    with committed():
        services.email_verification_resend(user=user)
    first = link_from(mail.outbox[0].body).rsplit("/", 1)[1]
    services.email_verify(token=first)
    user.refresh_from_db()
    assert user.email_verified_at is not None
    assert AuditEvent.objects.filter(action="accounts.email.verified").exists()
