"""Back-office client registration and the citizen's signed-in services page."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client as BrowserClient
from django.urls import reverse

from civicstack.accounts.models import User
from civicstack.accounts.tests.factories import staff_create
from civicstack.core.models import AuditEvent
from civicstack.identity.models import Client, Consent
from civicstack.identity.oidc.validator import secret_matches
from civicstack.identity.services import consent_give
from civicstack.identity.tests.conftest import RegisterClient
from civicstack.identity.tests.oidc_helpers import sign_in_as

pytestmark = pytest.mark.django_db

FORM = {
    "name": "Blue badge",
    "redirect_uris": "https://badge.example/callback\nhttps://badge.example/cb2",
    "post_logout_redirect_uris": "https://badge.example/bye",
    "scopes": ["openid", "email"],
    "grant_types": ["authorization_code", "refresh_token"],
    "required_level": "substantial",
    "auth_method": "client_secret_post",
    "jwks": "",
    "id_token_alg": "ES256",
    "logo_url": "https://badge.example/logo.png",
    "policy_url": "https://badge.example/privacy",
}


def _admin_browser(user: User) -> BrowserClient:
    browser = BrowserClient()
    sign_in_as(browser, user, mfa=True)
    return browser


def test_a_platform_admin_registers_a_client_and_sees_the_secret_once(
    platform_admin: User, oidc_keys: object
) -> None:
    """Registering shows the client id and secret once; the secret is stored only as an HMAC."""
    browser = _admin_browser(platform_admin)
    assert browser.get(reverse("backoffice:identity-client-new")).status_code == 200
    response = browser.post(reverse("backoffice:identity-client-new"), FORM)
    assert response.status_code == 200, response.content.decode()[:3000]
    secret = re.search(r'id="client-secret">([^<]+)<', response.content.decode())
    assert secret
    client = Client.objects.get(name="Blue badge")
    assert secret.group(1) not in client.client_secret
    assert secret_matches(secret.group(1), client.client_secret)
    assert client.redirect_uris.split() == [
        "https://badge.example/callback",
        "https://badge.example/cb2",
    ]
    assert client.id_token_alg == "ES256"
    assert client.required_level == "substantial"
    detail = browser.get(reverse("backoffice:identity-client", args=[client.public_id]))
    assert detail.status_code == 200
    assert secret.group(1).encode() not in detail.content
    assert AuditEvent.objects.filter(action="identity.client_registered").exists()


def test_registration_errors_are_shown_on_the_form(platform_admin: User, oidc_keys: object) -> None:
    """Bad addresses or JSON come back as form errors (400), and nothing is saved."""
    browser = _admin_browser(platform_admin)
    bad = dict(
        FORM,
        redirect_uris="http://badge.example/cb",
        auth_method="private_key_jwt",
        jwks="{not json",
        logo_url="ftp://x",
    )
    response = browser.post(reverse("backoffice:identity-client-new"), bad)
    assert response.status_code == 400
    text = response.content.decode()
    assert "govuk-error-summary" in text
    assert 'href="#jwks"' in text
    assert not Client.objects.exists()
    private = dict(
        FORM,
        auth_method="private_key_jwt",
        jwks=json.dumps({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}),
    )
    response = browser.post(reverse("backoffice:identity-client-new"), private)
    assert response.status_code == 400
    assert not Client.objects.exists()


def test_editing_rotating_and_switching_off(
    platform_admin: User, register_client: RegisterClient
) -> None:
    """An admin changes a client, makes a new secret (old one dead) and switches it off."""
    client, old_secret = register_client()
    assert old_secret is not None
    browser = _admin_browser(platform_admin)
    edit = dict(FORM, auth_method="client_secret_basic")
    response = browser.post(
        reverse("backoffice:identity-client-edit", args=[client.public_id]), edit
    )
    assert response.status_code == 302
    client.refresh_from_db()
    assert client.name == "Blue badge"
    assert secret_matches(old_secret, client.client_secret)
    response = browser.post(reverse("backoffice:identity-client-secret", args=[client.public_id]))
    new_secret = re.search(r'id="client-secret">([^<]+)<', response.content.decode())
    assert new_secret
    client.refresh_from_db()
    assert not secret_matches(old_secret, client.client_secret)
    assert secret_matches(new_secret.group(1), client.client_secret)
    browser.post(reverse("backoffice:identity-client-disable", args=[client.public_id]))
    client.refresh_from_db()
    assert client.disabled_at is not None
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {
        "identity.client_changed",
        "identity.client_secret_rotated",
        "identity.client_disabled",
    } <= actions


def test_staff_who_are_not_platform_admins_are_refused(
    register_client: RegisterClient, citizen: User
) -> None:
    """Caseworkers get 403 on every client page; citizens too; anonymous people sign in first."""
    client, _secret = register_client()
    urls = [
        reverse("backoffice:identity-clients"),
        reverse("backoffice:identity-client-new"),
        reverse("backoffice:identity-client", args=[client.public_id]),
        reverse("backoffice:identity-client-edit", args=[client.public_id]),
    ]
    caseworker = _admin_browser(staff_create())
    person = BrowserClient()
    sign_in_as(person, citizen)
    for url in urls:
        assert caseworker.get(url).status_code == 403
        assert person.get(url).status_code == 403
        assert BrowserClient().get(url).status_code == 302
    assert caseworker.post(reverse("backoffice:identity-client-new"), FORM).status_code == 403
    assert (
        caseworker.post(
            reverse("backoffice:identity-client-disable", args=[client.public_id])
        ).status_code
        == 403
    )
    client.refresh_from_db()
    assert client.disabled_at is None


def test_the_account_page_lists_services_and_withdraws_consent(
    register_client: RegisterClient, citizen: User
) -> None:
    """A person sees each service and what it receives, and can withdraw."""
    client, _secret = register_client()
    consent_give(user=citizen, client=client, scopes=["openid", "email"])
    browser = BrowserClient()
    sign_in_as(browser, citizen)
    account = browser.get(reverse("accounts:account"))
    assert reverse("oidc_account:services").encode() in account.content
    page = browser.get(reverse("oidc_account:services"))
    assert b"Parking permits" in page.content
    assert b"Your email address" in page.content
    confirm = browser.get(reverse("oidc_account:service-revoke", args=[client.public_id]))
    assert confirm.status_code == 200
    done = browser.post(reverse("oidc_account:service-revoke", args=[client.public_id]))
    assert done.status_code == 302
    assert not Consent.objects.filter(user=citizen, revoked_at__isnull=True).exists()
    other = BrowserClient()
    from civicstack.accounts.tests.factories import UserFactory

    sign_in_as(other, UserFactory())
    assert (
        other.post(reverse("oidc_account:service-revoke", args=[client.public_id])).status_code
        == 404
    )
