"""Helpers for the OpenID Connect tests: PKCE, signing in quickly, the code flow by hand."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from django.test import Client as BrowserClient
from django.urls import reverse

from civicstack.accounts.constants import AUTH_METHODS_KEY, AUTH_TIME_KEY, MFA_VERIFIED_KEY
from civicstack.accounts.models import User
from civicstack.identity.models import Client

REDIRECT = "https://rp.example/callback"


def pkce_pair() -> tuple[str, str]:
    """Return a code verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign_in_as(
    browser: BrowserClient,
    user: User,
    *,
    methods: list[str] | None = None,
    mfa: bool = False,
    auth_time: int | None = None,
) -> None:
    """Sign ``user`` in without the pages, with the session keys sign-in writes."""
    browser.force_login(user)
    session = browser.session
    session[AUTH_METHODS_KEY] = methods or (["pwd", "otp", "mfa"] if mfa else ["pwd"])
    session[AUTH_TIME_KEY] = auth_time if auth_time is not None else int(time.time())
    session[MFA_VERIFIED_KEY] = mfa
    session.save()


@dataclass
class Authorization:
    """The outcome of an authorization request."""

    status: int
    location: str
    params: dict[str, str]
    verifier: str


def authorize(browser: BrowserClient, client: Client, **extra: Any) -> Authorization:
    """Send an authorization request; return where it redirects and with what."""
    verifier, challenge = pkce_pair()
    params: dict[str, Any] = {
        "client_id": client.client_id,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": "openid",
        "state": "state-123",
        "nonce": "nonce-456",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(extra)
    params = {key: value for key, value in params.items() if value is not None}
    response = browser.get(reverse("oidc:authorize"), params)
    location = response.get("Location", "")
    query = {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}
    return Authorization(response.status_code, location, query, verifier)


def basic(client: Client, secret: str) -> dict[str, str]:
    """Return the Authorization header of client_secret_basic."""
    raw = f"{client.client_id}:{secret}".encode()
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(raw).decode()}


def exchange(
    browser: BrowserClient, client: Client, secret: str, code: str, verifier: str | None
) -> Any:
    """Exchange a code at the token endpoint with client_secret_basic."""
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    if verifier is not None:
        data["code_verifier"] = verifier
    return browser.post(reverse("oidc:token"), data, **basic(client, secret))


def jwks_keys(browser: BrowserClient) -> dict[str, Any]:
    """Return the published keys by kid."""
    return {key["kid"]: key for key in browser.get(reverse("oidc:jwks")).json()["keys"]}


def verify_id_token(browser: BrowserClient, token: str, audience: str) -> dict[str, Any]:
    """Verify an ID token with the published JWKS (pyjwt) and return its claims."""
    header = jwt.get_unverified_header(token)
    key = jwt.PyJWK(jwks_keys(browser)[header["kid"]])
    claims: dict[str, Any] = jwt.decode(
        token,
        key=key,
        algorithms=["RS256", "ES256"],
        audience=audience,
        issuer="http://127.0.0.1:8000/oidc",
    )
    return claims
