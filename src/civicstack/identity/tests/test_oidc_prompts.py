"""prompt, max_age, acr_values, id_token_hint, ui_locales, consent and claims by scope."""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client as BrowserClient
from django.urls import reverse

from civicstack.accounts.models import User
from civicstack.core.models import AuditEvent
from civicstack.identity.models import Consent
from civicstack.identity.oidc import claims as oidc_claims
from civicstack.identity.services import consent_give, consent_revoke
from civicstack.identity.tests.conftest import RegisterClient
from civicstack.identity.tests.oidc_helpers import (
    authorize,
    exchange,
    sign_in_as,
    verify_id_token,
)

pytestmark = pytest.mark.django_db
SUBSTANTIAL = "http://eidas.europa.eu/LoA/substantial"


def _pending(content: bytes) -> str:
    match = re.search(rb'name="pending" value="([^"]+)"', content)
    assert match, content.decode()[:3000]
    return match.group(1).decode()


def test_prompt_none_when_signed_out_returns_login_required(
    register_client: RegisterClient,
) -> None:
    """prompt=none never shows a page: nobody signed in is login_required at the client."""
    client, _secret = register_client()
    result = authorize(BrowserClient(), client, prompt="none")
    assert result.status == 302
    assert result.params["error"] == "login_required"
    assert result.params["state"] == "state-123"


def test_prompt_none_without_consent_returns_consent_required(
    register_client: RegisterClient, citizen: User
) -> None:
    """prompt=none for a signed-in person who never agreed is consent_required."""
    client, _secret = register_client()
    browser = BrowserClient()
    sign_in_as(browser, citizen)
    result = authorize(browser, client, prompt="none")
    assert result.params["error"] == "consent_required"


def test_prompt_none_signed_in_with_consent_issues_a_code(
    register_client: RegisterClient, citizen: User
) -> None:
    """prompt=none with a session and a remembered consent returns a code silently."""
    client, _secret = register_client()
    consent_give(user=citizen, client=client, scopes=["openid", "email"])
    browser = BrowserClient()
    sign_in_as(browser, citizen)
    result = authorize(browser, client, prompt="none", scope="openid email")
    assert "code" in result.params
    combined = authorize(browser, client, prompt="none login")
    assert combined.params["error"] == "invalid_request"


def test_anonymous_person_is_sent_to_sign_in_and_back(register_client: RegisterClient) -> None:
    """Without a session the person signs in first; login_hint and the request come along."""
    client, _secret = register_client()
    result = authorize(BrowserClient(), client, login_hint="ada@example.org", ui_locales="cy")
    assert result.status == 302
    target = urlsplit(result.location)
    assert target.path == "/cy/account/sign-in"
    query = parse_qs(target.query)
    assert query["login_hint"] == ["ada@example.org"]
    assert query["next"][0].startswith("/oidc/authorize?")
    assert "code_challenge" in query["next"][0]


def test_prompt_login_asks_for_a_fresh_sign_in(
    register_client: RegisterClient, citizen: User
) -> None:
    """prompt=login asks the signed-in person for their password again, without signing
    them out, and comes back to the same request."""
    client, _secret = register_client()
    consent_give(user=citizen, client=client, scopes=["openid"])
    browser = BrowserClient()
    sign_in_as(browser, citizen)
    result = authorize(browser, client, prompt="login")
    assert urlsplit(result.location).path == reverse("accounts:reauthenticate")
    next_url = parse_qs(urlsplit(result.location).query)["next"][0]
    assert parse_qs(urlsplit(next_url).query)["prompt"] == ["login"]
    assert "_auth_user_id" in browser.session


def test_max_age_exceeded_asks_for_a_fresh_sign_in_and_auth_time_is_in_the_token(
    register_client: RegisterClient, citizen: User
) -> None:
    """A session older than max_age signs in again; a recent one gets auth_time in the token."""
    client, secret = register_client()
    consent_give(user=citizen, client=client, scopes=["openid"])
    browser = BrowserClient()
    old = int(time.time()) - 600
    sign_in_as(browser, citizen, auth_time=old)
    stale = authorize(browser, client, max_age="60")
    assert urlsplit(stale.location).path == reverse("accounts:reauthenticate")
    sign_in_as(browser, citizen, auth_time=old)
    silent = authorize(browser, client, max_age="60", prompt="none")
    assert silent.params["error"] == "login_required"
    sign_in_as(browser, citizen)
    fresh = authorize(browser, client, max_age="60")
    tokens = exchange(browser, client, secret, fresh.params["code"], fresh.verifier).json()
    claims = verify_id_token(browser, tokens["id_token"], client.client_id)
    assert abs(claims["auth_time"] - time.time()) < 30
    bad = authorize(browser, client, max_age="-1")
    assert bad.params["error"] == "invalid_request"


def test_acr_values_above_the_session_step_up_and_the_token_carries_acr(
    register_client: RegisterClient, citizen: User
) -> None:
    """A password session asked for substantial is not given a code; an MFA session is."""
    client, secret = register_client()
    consent_give(user=citizen, client=client, scopes=["openid"])
    browser = BrowserClient()
    sign_in_as(browser, citizen)
    silent = authorize(browser, client, acr_values=SUBSTANTIAL, prompt="none")
    assert silent.params["error"] == "interaction_required"
    stepped = authorize(browser, client, acr_values=SUBSTANTIAL)
    assert "code" not in stepped.params
    assert stepped.status in {302, 403}
    sign_in_as(browser, citizen, mfa=True)
    ok = authorize(browser, client, acr_values=SUBSTANTIAL)
    tokens = exchange(browser, client, secret, ok.params["code"], ok.verifier).json()
    claims = verify_id_token(browser, tokens["id_token"], client.client_id)
    assert claims["acr"] == SUBSTANTIAL
    assert claims["amr"] == ["pwd", "otp", "mfa"]


def test_a_client_requiring_substantial_is_not_given_a_low_session(
    register_client: RegisterClient, citizen: User
) -> None:
    """The client's registered level applies even when it asks for no acr."""
    from civicstack.identity.constants import Level

    client, _secret = register_client(required_level=Level.SUBSTANTIAL)
    consent_give(user=citizen, client=client, scopes=["openid"])
    browser = BrowserClient()
    sign_in_as(browser, citizen)
    assert authorize(browser, client, prompt="none").params["error"] == "interaction_required"


def test_id_token_hint_for_someone_else_is_login_required(
    register_client: RegisterClient, citizen: User
) -> None:
    """An id_token_hint whose sub is not the person signed in never yields a code for them."""
    from civicstack.accounts.tests.factories import UserFactory

    client, secret = register_client()
    consent_give(user=citizen, client=client, scopes=["openid"])
    browser = BrowserClient()
    sign_in_as(browser, citizen)
    first = authorize(browser, client)
    hint = exchange(browser, client, secret, first.params["code"], first.verifier).json()[
        "id_token"
    ]
    same = authorize(browser, client, id_token_hint=hint, prompt="none")
    assert "code" in same.params
    other = UserFactory()
    consent_give(user=other, client=client, scopes=["openid"])
    sign_in_as(browser, other)
    mismatch = authorize(browser, client, id_token_hint=hint, prompt="none")
    assert mismatch.params["error"] == "login_required"
    forged = authorize(browser, client, id_token_hint=hint[:-4] + "AAAA")
    assert forged.params["error"] == "invalid_request"


def test_consent_page_allow_remembers_and_cancel_denies(
    register_client: RegisterClient, citizen: User
) -> None:
    """The consent page lists what the service gets; Allow issues a code, Cancel access_denied."""
    client, _secret = register_client()
    browser = BrowserClient()
    sign_in_as(browser, citizen)
    page = browser.get(
        reverse("oidc:authorize"),
        authorize_params(client.client_id, "openid email"),
    )
    assert page.status_code == 200
    text = page.content.decode()
    assert "Parking permits" in text
    assert "Your email address" in text
    assert "https://rp.example/privacy" in text
    policy = page["Content-Security-Policy"]
    assert "form-action 'self' https://rp.example;" in policy
    assert "img-src 'self' data: https://rp.example;" in policy
    assert "script-src 'self' 'nonce-" in policy
    cancel = browser.post(
        reverse("oidc:consent"), {"pending": _pending(page.content), "decision": "cancel"}
    )
    assert parse_qs(urlsplit(cancel["Location"]).query)["error"] == ["access_denied"]
    assert not Consent.objects.filter(user=citizen).exists()
    page = browser.get(
        reverse("oidc:authorize"), authorize_params(client.client_id, "openid email")
    )
    allow = browser.post(
        reverse("oidc:consent"), {"pending": _pending(page.content), "decision": "allow"}
    )
    assert "code" in parse_qs(urlsplit(allow["Location"]).query)
    consent = Consent.objects.get(user=citizen, client=client)
    assert consent.scopes == ["openid", "email"]
    assert AuditEvent.objects.filter(action="identity.consent_given").exists()
    # Remembered: fewer scopes need no page; more scopes or prompt=consent show it again.
    assert "code" in authorize(browser, client, scope="openid").params
    assert authorize(browser, client, scope="openid email profile").status == 200
    assert authorize(browser, client, scope="openid", prompt="consent").status == 200


def authorize_params(client_id: str, scope: str) -> dict[str, str]:
    """Return authorization request parameters with a fixed S256 challenge."""
    return {
        "client_id": client_id,
        "redirect_uri": "https://rp.example/callback",
        "response_type": "code",
        "scope": scope,
        "state": "s",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256",
    }


def test_national_id_needs_an_explicit_tick_every_time(
    register_client: RegisterClient, citizen: User
) -> None:
    """national_id is shown apart with a tick box, never remembered, and not granted unticked."""
    client, _secret = register_client()
    consent_give(user=citizen, client=client, scopes=["openid", "national_id"])
    browser = BrowserClient()
    sign_in_as(browser, citizen)
    silent = authorize(browser, client, scope="openid national_id", prompt="none")
    assert silent.params["error"] == "consent_required"
    page = browser.get(
        reverse("oidc:authorize"), authorize_params(client.client_id, "openid national_id")
    )
    assert b'name="explicit"' in page.content
    unticked = browser.post(
        reverse("oidc:consent"), {"pending": _pending(page.content), "decision": "allow"}
    )
    code = parse_qs(urlsplit(unticked["Location"]).query)["code"][0]
    from civicstack.identity.models import Grant

    assert Grant.objects.get(code=code).scope == "openid"
    page = browser.get(
        reverse("oidc:authorize"), authorize_params(client.client_id, "openid national_id")
    )
    ticked = browser.post(
        reverse("oidc:consent"),
        {"pending": _pending(page.content), "decision": "allow", "explicit": "national_id"},
    )
    code = parse_qs(urlsplit(ticked["Location"]).query)["code"][0]
    assert Grant.objects.get(code=code).scope == "openid national_id"


def test_consent_page_in_welsh_when_asked(register_client: RegisterClient, citizen: User) -> None:
    """ui_locales=cy renders the consent page in Welsh (the html lang says so)."""
    client, _secret = register_client()
    browser = BrowserClient()
    sign_in_as(browser, citizen)
    page = browser.get(
        reverse("oidc:authorize"),
        authorize_params(client.client_id, "openid") | {"ui_locales": "cy en"},
    )
    assert page.status_code == 200
    assert '<html lang="cy"' in page.content.decode()


def test_claims_follow_the_scopes(register_client: RegisterClient, citizen: User) -> None:
    """userinfo gives only what the scopes cover; phone from notification preferences."""
    from civicstack.notify.services import preference_save

    preference_save(
        user=citizen,
        sms=True,
        push=False,
        phone="+447700900123",
        language="",
        quiet_start=None,
        quiet_end=None,
    )
    client, secret = register_client()
    consent_give(user=citizen, client=client, scopes=["openid", "phone"])
    browser = BrowserClient()
    sign_in_as(browser, citizen)
    result = authorize(browser, client, scope="openid phone")
    tokens = exchange(browser, client, secret, result.params["code"], result.verifier).json()
    info = browser.get(
        reverse("oidc:userinfo"), HTTP_AUTHORIZATION="Bearer " + tokens["access_token"]
    )
    assert info.json() == {
        "sub": oidc_claims.subject(citizen),
        "phone_number": "+447700900123",
        "phone_number_verified": False,
    }


def test_revoking_consent_revokes_the_services_tokens(
    register_client: RegisterClient, citizen: User
) -> None:
    """Withdrawing consent ends every token of that service for that person, and is audited."""
    client, secret = register_client()
    consent_give(user=citizen, client=client, scopes=["openid"])
    browser = BrowserClient()
    sign_in_as(browser, citizen)
    result = authorize(browser, client)
    tokens = exchange(browser, client, secret, result.params["code"], result.verifier).json()
    consent_revoke(user=citizen, client=client)
    info = browser.get(
        reverse("oidc:userinfo"), HTTP_AUTHORIZATION="Bearer " + tokens["access_token"]
    )
    assert info.status_code == 401
    assert authorize(browser, client, prompt="none").params["error"] == "consent_required"
    assert AuditEvent.objects.filter(action="identity.consent_revoked").exists()
