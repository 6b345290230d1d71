"""PKCE, exact redirect URIs, single-use codes, refresh rotation and client authentication."""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.test import Client as BrowserClient
from django.urls import reverse
from jwcrypto import jwk
from oauth2_provider.models import AccessToken, RefreshToken

from civicstack.accounts.models import User
from civicstack.core.models import AuditEvent
from civicstack.identity.models import Client
from civicstack.identity.services import consent_give
from civicstack.identity.tests.conftest import RegisterClient
from civicstack.identity.tests.oidc_helpers import (
    REDIRECT,
    authorize,
    basic,
    exchange,
    pkce_pair,
    sign_in_as,
)

pytestmark = pytest.mark.django_db
TOKEN_URL = "http://127.0.0.1:8000/oidc/token"


@pytest.fixture
def ready(register_client: RegisterClient, citizen: User) -> tuple[BrowserClient, Client, str]:
    """A registered client, a signed-in citizen who already agreed to it."""
    client, secret = register_client()
    assert secret is not None
    consent_give(user=citizen, client=client, scopes=["openid", "profile", "email"])
    browser = BrowserClient()
    sign_in_as(browser, citizen)
    return browser, client, secret


# --- PKCE -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ({"code_challenge": None, "code_challenge_method": None}, "code_challenge+is+required"),
        ({"code_challenge_method": "plain"}, "plain+is+not+accepted"),
        ({"code_challenge_method": None}, "must+be+S256"),
        ({"code_challenge": "short"}, "not+a+valid"),
    ],
)
def test_pkce_s256_is_required_at_the_authorization_endpoint(
    ready: tuple[BrowserClient, Client, str], extra: dict[str, Any], fragment: str
) -> None:
    """Without an S256 challenge the client gets invalid_request at its redirect URI.

    ASVS 10.2.1.
    """
    browser, client, _secret = ready
    result = authorize(browser, client, **extra)
    assert result.status == 302
    assert result.location.startswith(REDIRECT + "?")
    assert result.params["error"] == "invalid_request"
    assert result.params["state"] == "state-123"
    assert fragment in result.location
    assert "code" not in result.params


def test_a_wrong_or_missing_code_verifier_is_refused(
    ready: tuple[BrowserClient, Client, str],
) -> None:
    """The token endpoint refuses a code without the verifier that matches its challenge."""
    browser, client, secret = ready
    first = authorize(browser, client)
    wrong = exchange(browser, client, secret, first.params["code"], pkce_pair()[0])
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"
    second = authorize(browser, client)
    missing = exchange(browser, client, secret, second.params["code"], None)
    assert missing.status_code == 400
    assert missing.json()["error"] in {"invalid_request", "invalid_grant"}


# --- Redirect URIs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "mutated",
    [
        REDIRECT + "?extra=1",
        "https://RP.example/callback",
        REDIRECT + "/",
        "https://rp.example:443/callback",
        "https://user@rp.example/callback",
        REDIRECT + "#fragment",
        "http://rp.example/callback",
        "https://rp.example/Callback",
        "",
    ],
)
def test_a_redirect_uri_must_match_exactly(
    ready: tuple[BrowserClient, Client, str], mutated: str
) -> None:
    """Any change to the registered redirect URI gets an error page, never a redirect."""
    browser, client, _secret = ready
    result = authorize(browser, client, redirect_uri=mutated)
    assert result.status == 400
    assert result.location == ""


def test_an_unknown_client_gets_an_error_page(ready: tuple[BrowserClient, Client, str]) -> None:
    """An unknown client id is shown an error page, not redirected anywhere."""
    browser, _client, _secret = ready
    response = browser.get(
        reverse("oidc:authorize"), {"client_id": "nope", "redirect_uri": REDIRECT}
    )
    assert response.status_code == 400
    assert b"not registered" in response.content


def test_the_token_request_must_repeat_the_same_redirect_uri(
    ready: tuple[BrowserClient, Client, str],
) -> None:
    """A code is exchanged only with the redirect URI it was issued for."""
    browser, client, secret = ready
    result = authorize(browser, client)
    response = browser.post(
        reverse("oidc:token"),
        {
            "grant_type": "authorization_code",
            "code": result.params["code"],
            "redirect_uri": REDIRECT + "/",
            "code_verifier": result.verifier,
        },
        **basic(client, secret),
    )
    assert response.status_code == 400
    assert response.json()["error"] in {"invalid_grant", "invalid_request"}


# --- Single-use codes -----------------------------------------------------------------


def test_a_reused_code_is_refused_and_revokes_its_tokens(
    ready: tuple[BrowserClient, Client, str],
) -> None:
    """The second use of a code fails, and the tokens from the first stop working."""
    browser, client, secret = ready
    result = authorize(browser, client)
    first = exchange(browser, client, secret, result.params["code"], result.verifier)
    assert first.status_code == 200
    tokens = first.json()
    second = exchange(browser, client, secret, result.params["code"], result.verifier)
    assert second.status_code == 400
    assert second.json()["error"] == "invalid_grant"
    info = browser.get(
        reverse("oidc:userinfo"), HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}"
    )
    assert info.status_code == 401
    refreshed = browser.post(
        reverse("oidc:token"),
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        **basic(client, secret),
    )
    assert refreshed.status_code == 400
    assert AuditEvent.objects.filter(action="identity.code_reused").count() == 1


def test_an_expired_code_is_refused(
    ready: tuple[BrowserClient, Client, str], settings: Any
) -> None:
    """A code is worth nothing after its lifetime (at most 10 minutes)."""
    from civicstack.identity.models import Grant

    browser, client, secret = ready
    result = authorize(browser, client)
    grant = Grant.objects.get(code=result.params["code"])
    assert (grant.expires - grant.created).total_seconds() <= 600
    Grant.objects.filter(pk=grant.pk).update(expires=grant.created)
    response = exchange(browser, client, secret, result.params["code"], result.verifier)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


# --- Refresh tokens -------------------------------------------------------------------


def _refresh(browser: BrowserClient, client: Client, secret: str, token: str) -> Any:
    return browser.post(
        reverse("oidc:token"),
        {"grant_type": "refresh_token", "refresh_token": token},
        **basic(client, secret),
    )


def test_refresh_rotates_and_reuse_revokes_the_whole_family(
    ready: tuple[BrowserClient, Client, str],
) -> None:
    """Each refresh gives a new refresh token; replaying an old one revokes them all.

    ASVS 10.4.8.
    """
    browser, client, secret = ready
    result = authorize(browser, client)
    tokens = exchange(browser, client, secret, result.params["code"], result.verifier).json()
    second = _refresh(browser, client, secret, tokens["refresh_token"])
    assert second.status_code == 200, second.content
    rotated = second.json()
    assert rotated["refresh_token"] != tokens["refresh_token"]
    assert "id_token" in rotated
    third = _refresh(browser, client, secret, rotated["refresh_token"])
    assert third.status_code == 200
    latest = third.json()
    replay = _refresh(browser, client, secret, tokens["refresh_token"])
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    # The newest refresh token and access token of the family are dead too.
    assert _refresh(browser, client, secret, latest["refresh_token"]).status_code == 400
    info = browser.get(
        reverse("oidc:userinfo"), HTTP_AUTHORIZATION=f"Bearer {latest['access_token']}"
    )
    assert info.status_code == 401
    assert not RefreshToken.objects.filter(application=client, revoked__isnull=True).exists()
    assert not AccessToken.objects.filter(application=client).exists()
    assert AuditEvent.objects.filter(action="identity.token_family_revoked").exists()


def test_access_and_refresh_tokens_carry_256_random_bits(
    ready: tuple[BrowserClient, Client, str],
) -> None:
    """Every token the endpoint issues is 32 random bytes in URL-safe base64, and new each time."""
    browser, client, secret = ready
    result = authorize(browser, client)
    tokens = exchange(browser, client, secret, result.params["code"], result.verifier).json()
    rotated = _refresh(browser, client, secret, tokens["refresh_token"]).json()
    issued = [
        tokens["access_token"],
        tokens["refresh_token"],
        rotated["access_token"],
        rotated["refresh_token"],
    ]
    for value in issued:
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", value), value
        assert len(base64.urlsafe_b64decode(value + "=")) == 32
    assert len(set(issued)) == len(issued)


# --- Client authentication -------------------------------------------------------------


def test_client_secret_post_works_and_basic_is_refused_for_it(
    register_client: RegisterClient, citizen: User
) -> None:
    """A client registered for client_secret_post cannot use Basic, and the reverse."""
    client, secret = register_client(auth_method="client_secret_post")
    assert secret is not None
    consent_give(user=citizen, client=client, scopes=["openid"])
    browser = BrowserClient()
    sign_in_as(browser, citizen)
    result = authorize(browser, client)
    refused = exchange(browser, client, secret, result.params["code"], result.verifier)
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"
    result = authorize(browser, client)
    accepted = browser.post(
        reverse("oidc:token"),
        {
            "grant_type": "authorization_code",
            "code": result.params["code"],
            "redirect_uri": REDIRECT,
            "code_verifier": result.verifier,
            "client_id": client.client_id,
            "client_secret": secret,
        },
    )
    assert accepted.status_code == 200, accepted.content


def test_a_wrong_secret_is_refused(register_client: RegisterClient) -> None:
    """A wrong secret, or both Basic and a body secret, get invalid_client."""
    client, secret = register_client(
        grant_types=["client_credentials"], redirect_uris=[], scopes=["openid"]
    )
    assert secret is not None
    browser = BrowserClient()
    wrong = browser.post(
        reverse("oidc:token"), {"grant_type": "client_credentials"}, **basic(client, secret + "x")
    )
    assert wrong.status_code == 401
    both = browser.post(
        reverse("oidc:token"),
        {
            "grant_type": "client_credentials",
            "client_id": client.client_id,
            "client_secret": secret,
        },
        **basic(client, secret),
    )
    assert both.status_code == 401
    good = browser.post(
        reverse("oidc:token"), {"grant_type": "client_credentials"}, **basic(client, secret)
    )
    assert good.status_code == 200
    assert "access_token" in good.json()
    assert "refresh_token" not in good.json()


def test_client_credentials_needs_registration_for_it(
    ready: tuple[BrowserClient, Client, str],
) -> None:
    """A code-flow client cannot use client_credentials, and nobody gets password or implicit."""
    browser, client, secret = ready
    for grant_type in ("client_credentials", "password"):
        response = browser.post(
            reverse("oidc:token"),
            {"grant_type": grant_type, "username": "a", "password": "b"},
            **basic(client, secret),
        )
        assert response.status_code in {400, 401}
        assert response.json()["error"] in {"unauthorized_client", "unsupported_grant_type"}
    implicit = authorize(browser, client, response_type="token")
    assert implicit.params["error"] == "unsupported_response_type"
    hybrid = authorize(browser, client, response_type="code id_token")
    assert hybrid.params["error"] == "unsupported_response_type"


def _rsa_key() -> tuple[str, dict[str, Any]]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = jwk.JWK.from_pem(pem.encode()).export_public(as_dict=True)
    public["kid"] = "rp-key-1"
    return pem, public


def _assertion(client_id: str, pem: str, **changes: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": TOKEN_URL,
        "exp": now + 60,
        "iat": now,
        "jti": str(uuid.uuid4()),
    }
    claims.update(changes)
    alg = changes.pop("_alg", "RS256") if "_alg" in changes else "RS256"
    claims.pop("_alg", None)
    return jwt.encode(claims, pem, algorithm=alg, headers={"kid": "rp-key-1"})


def _jwt_grant(browser: BrowserClient, assertion: str) -> Any:
    return browser.post(
        reverse("oidc:token"),
        {
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        },
    )


def test_private_key_jwt_authenticates_once_per_assertion(register_client: RegisterClient) -> None:
    """A JWT signed by the registered key works once; a replay, wrong audience or key fail."""
    pem, public = _rsa_key()
    client, secret = register_client(
        auth_method="private_key_jwt",
        jwks={"keys": [public]},
        grant_types=["client_credentials"],
        redirect_uris=[],
        scopes=["openid"],
    )
    assert secret is None
    browser = BrowserClient()
    assertion = _assertion(client.client_id, pem)
    assert _jwt_grant(browser, assertion).status_code == 200
    assert _jwt_grant(browser, assertion).status_code == 401  # replayed jti
    assert (
        _jwt_grant(browser, _assertion(client.client_id, pem, aud="https://other")).status_code
        == 401
    )
    assert (
        _jwt_grant(
            browser, _assertion(client.client_id, pem, exp=int(time.time()) - 60)
        ).status_code
        == 401
    )
    assert _jwt_grant(browser, _assertion(client.client_id, pem, sub="someone")).status_code == 401
    other_pem, _other = _rsa_key()
    assert _jwt_grant(browser, _assertion(client.client_id, other_pem)).status_code == 401
    hs256 = jwt.encode(
        {
            "iss": client.client_id,
            "sub": client.client_id,
            "aud": TOKEN_URL,
            "exp": int(time.time()) + 60,
            "jti": "x",
        },
        "a-shared-secret-that-is-long-enough-for-hs256",
        algorithm="HS256",
    )
    assert _jwt_grant(browser, hs256).status_code == 401
    unsigned = (
        base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
        + "."
        + base64.urlsafe_b64encode(
            json.dumps(
                {
                    "iss": client.client_id,
                    "sub": client.client_id,
                    "aud": TOKEN_URL,
                    "exp": int(time.time()) + 60,
                    "jti": "y",
                }
            ).encode()
        )
        .rstrip(b"=")
        .decode()
        + "."
    )
    assert _jwt_grant(browser, unsigned).status_code == 401
    # The same client cannot fall back to a secret.
    assert (
        browser.post(
            reverse("oidc:token"),
            {
                "grant_type": "client_credentials",
                "client_id": client.client_id,
                "client_secret": "x",
            },
        ).status_code
        == 401
    )


def test_private_key_jwt_accepts_es256(register_client: RegisterClient) -> None:
    """An EC P-256 client key signs ES256 assertions."""
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = jwk.JWK.from_pem(pem.encode()).export_public(as_dict=True) | {"kid": "rp-key-1"}
    client, _secret = register_client(
        auth_method="private_key_jwt",
        jwks={"keys": [public]},
        grant_types=["client_credentials"],
        redirect_uris=[],
        scopes=["openid"],
    )
    now = int(time.time())
    assertion = jwt.encode(
        {
            "iss": client.client_id,
            "sub": client.client_id,
            "aud": "http://127.0.0.1:8000/oidc",
            "exp": now + 60,
            "jti": "es-1",
        },
        pem,
        algorithm="ES256",
        headers={"kid": "rp-key-1"},
    )
    assert _jwt_grant(BrowserClient(), assertion).status_code == 200


def test_a_disabled_client_gets_nothing(
    ready: tuple[BrowserClient, Client, str], platform_admin: User
) -> None:
    """Disabling a client stops its tokens and its sign-ins at once."""
    from civicstack.identity.services import client_disable

    browser, client, secret = ready
    result = authorize(browser, client)
    tokens = exchange(browser, client, secret, result.params["code"], result.verifier).json()
    client_disable(actor=platform_admin, client=client)
    info = browser.get(
        reverse("oidc:userinfo"), HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}"
    )
    assert info.status_code == 401
    assert authorize(browser, client).status == 400
    assert _refresh(browser, client, secret, tokens["refresh_token"]).status_code in {400, 401}


def test_revocation_endpoint_revokes_a_refresh_token(
    ready: tuple[BrowserClient, Client, str],
) -> None:
    """RFC 7009: the client revokes its refresh token, which then gets invalid_grant."""
    browser, client, secret = ready
    result = authorize(browser, client)
    tokens = exchange(browser, client, secret, result.params["code"], result.verifier).json()
    revoked = browser.post(
        reverse("oidc:revoke"),
        {"token": tokens["refresh_token"], "token_type_hint": "refresh_token"},
        **basic(client, secret),
    )
    assert revoked.status_code == 200
    assert _refresh(browser, client, secret, tokens["refresh_token"]).status_code == 400
    stranger = browser.post(reverse("oidc:revoke"), {"token": tokens["access_token"]})
    assert stranger.status_code == 401


def test_a_client_without_the_refresh_grant_gets_no_refresh_token(
    register_client: RegisterClient, citizen: User
) -> None:
    """Only clients registered for refresh_token receive refresh tokens."""
    client, secret = register_client(grant_types=["authorization_code"])
    assert secret is not None
    consent_give(user=citizen, client=client, scopes=["openid"])
    browser = BrowserClient()
    sign_in_as(browser, citizen)
    result = authorize(browser, client)
    tokens = exchange(browser, client, secret, result.params["code"], result.verifier).json()
    assert "access_token" in tokens
    assert "id_token" in tokens
    assert "refresh_token" not in tokens
    assert not RefreshToken.objects.filter(application=client).exists()
