"""The code flow end to end with Django's test client: discovery, authorize, token, userinfo."""

from __future__ import annotations

import pytest
from django.test import Client as BrowserClient
from django.urls import reverse

from civicstack.accounts.models import User
from civicstack.identity.oidc import claims as oidc_claims
from civicstack.identity.services import consent_give
from civicstack.identity.tests.conftest import RegisterClient
from civicstack.identity.tests.oidc_helpers import (
    authorize,
    exchange,
    sign_in_as,
    verify_id_token,
)

pytestmark = pytest.mark.django_db


def test_discovery_describes_the_provider(oidc_keys: object) -> None:
    """Discovery lists the endpoints under the issuer and only what is really supported."""
    data = BrowserClient().get("/oidc/.well-known/openid-configuration").json()
    issuer = "http://127.0.0.1:8000/oidc"
    assert data["issuer"] == issuer
    for name, path in [
        ("authorization_endpoint", "/authorize"),
        ("token_endpoint", "/token"),
        ("userinfo_endpoint", "/userinfo"),
        ("jwks_uri", "/jwks"),
        ("end_session_endpoint", "/logout"),
    ]:
        assert data[name] == issuer + path
    assert data["response_types_supported"] == ["code"]
    assert set(data["grant_types_supported"]) == {
        "authorization_code",
        "refresh_token",
        "client_credentials",
    }
    assert data["code_challenge_methods_supported"] == ["S256"]
    assert data["token_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
    ]
    assert data["id_token_signing_alg_values_supported"] == ["RS256", "ES256"]
    assert "http://eidas.europa.eu/LoA/substantial" in data["acr_values_supported"]
    assert {"openid", "profile", "email", "phone", "national_id"} <= set(data["scopes_supported"])
    assert data["prompt_values_supported"] == ["none", "login", "consent"]
    assert data["claims_parameter_supported"] is False
    assert data["request_parameter_supported"] is False
    assert "national_identifier" in data["claims_supported"]


def _consented_flow(
    register_client: RegisterClient, citizen: User, scope: str = "openid profile email"
) -> tuple[BrowserClient, object, str, dict[str, object]]:
    client, secret = register_client()
    assert secret is not None
    consent_give(user=citizen, client=client, scopes=scope.split())
    browser = BrowserClient()
    sign_in_as(browser, citizen)
    result = authorize(browser, client, scope=scope)
    assert result.status == 302, result.location
    assert result.location.startswith("https://rp.example/callback?")
    assert result.params["state"] == "state-123"
    assert result.params["iss"] == "http://127.0.0.1:8000/oidc"
    response = exchange(browser, client, secret, result.params["code"], result.verifier)
    assert response.status_code == 200, response.content
    return browser, client, secret, response.json()


def test_code_flow_gives_a_signed_id_token_and_userinfo(
    register_client: RegisterClient, citizen: User
) -> None:
    """A consented, signed-in person's code becomes an RS256 ID token with kid, and userinfo."""
    browser, client, _secret, tokens = _consented_flow(register_client, citizen)
    assert tokens["token_type"] == "Bearer"
    claims = verify_id_token(browser, tokens["id_token"], client.client_id)  # type: ignore[attr-defined]
    assert claims["sub"] == oidc_claims.subject(citizen)
    assert claims["nonce"] == "nonce-456"
    assert claims["acr"] == "http://eidas.europa.eu/LoA/low"
    assert claims["amr"] == ["pwd"]
    assert isinstance(claims["auth_time"], int)
    assert claims["sid"]
    info = browser.get(
        reverse("oidc:userinfo"), HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}"
    )
    assert info.status_code == 200
    assert info.json() == {
        "sub": oidc_claims.subject(citizen),
        "name": "Ada Lovelace Byron",
        "given_name": "Ada Lovelace",
        "family_name": "Byron",
        "locale": "en",
        "email": citizen.email,
        "email_verified": True,
    }
    posted = browser.post(reverse("oidc:userinfo"), {"access_token": tokens["access_token"]})
    assert posted.status_code == 200
    assert posted.json()["sub"] == oidc_claims.subject(citizen)
