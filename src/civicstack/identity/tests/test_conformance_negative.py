"""Negative checks: forged tokens are refused wherever the provider accepts a JWT, and a
replayed refresh token ends its whole family. ASVS V9 (self-contained tokens), V10.

Forgeries use the claims of a real ID token the provider issued to the same person for
the same client, so the only thing wrong with them is the signature: a provider that
accepted one would be trusting the token's own header.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import RSAKey

from civicstack.accounts.tests.factories import PASSWORD, UserFactory
from civicstack.identity.tests.conformance_support import (
    POST_LOGOUT_REDIRECT_URI,
    Browser,
    Provider,
    RelyingParty,
    authorization_request,
    client_register,
    exchange,
    forge_alg_none,
    forge_hs256_with_public_key,
    id_token_verify,
    jwt_parts,
    key_for,
    provider_discover,
    restore_migration_rows,
    token_post,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def op(live_server: Any, settings: Any) -> Provider:
    restore_migration_rows()
    return provider_discover(live_server, settings)


@pytest.fixture
def rp(op: Provider) -> RelyingParty:
    return client_register(op)


@pytest.fixture
def browser(op: Provider) -> Browser:
    person = UserFactory(email="dafydd@example.org", full_name="Dafydd Rees")
    signed_in = Browser(op)
    signed_in.sign_in(person.email, PASSWORD)
    return signed_in


def _tokens(browser: Browser, rp: RelyingParty) -> dict[str, Any]:
    """Run the code flow once (which also records consent); return the token response."""
    request = authorization_request(rp)
    outcome = browser.authorize(request.url)
    assert outcome.at_client and "code" in outcome.params, outcome.describe()
    token = exchange(rp, request, outcome.code)
    id_token_verify(rp, token["id_token"], nonce=request.nonce)
    return token


def _forgeries(rp: RelyingParty, id_token: str) -> dict[str, str]:
    """Return the two forgeries of ``id_token``: alg none, and HS256 keyed with the public key."""
    header, claims = jwt_parts(id_token)
    fresh = {**claims, "iat": int(time.time()), "exp": int(time.time()) + 600}
    public = key_for(rp.provider.jwks(), header["kid"])
    return {
        "alg-none": forge_alg_none(fresh, kid=header["kid"]),
        "hs256-public-key": forge_hs256_with_public_key(fresh, public),
    }


FORGERIES = ["alg-none", "hs256-public-key"]


def _userinfo_status(rp: RelyingParty, access_token: str) -> int:
    return requests.get(
        rp.provider.userinfo_endpoint,
        headers={"Authorization": f"Bearer {access_token}"},
        timeout=10,
    ).status_code


# --- Forged ID tokens as id_token_hint ---------------------------------------------------------


def test_genuine_id_token_hint_accepted(browser: Browser, rp: RelyingParty) -> None:
    """The control for the forgeries below: the real ID token as hint gives a code."""
    token = _tokens(browser, rp)
    request = authorization_request(rp, prompt="none", id_token_hint=token["id_token"])
    outcome = browser.authorize(request.url, consent=False)
    assert "code" in outcome.params, outcome.describe()


@pytest.mark.parametrize("forgery", FORGERIES)
def test_forged_id_token_hint_refused(browser: Browser, rp: RelyingParty, forgery: str) -> None:
    """An id_token_hint forged with alg none, or HS256 keyed with the provider's public key,
    is refused at the authorization endpoint: no code, whatever it claims.
    """
    token = _tokens(browser, rp)
    forged = _forgeries(rp, token["id_token"])[forgery]
    request = authorization_request(rp, prompt="none", id_token_hint=forged)
    outcome = browser.authorize(request.url, consent=False)
    assert "code" not in outcome.params, f"forged hint accepted: {outcome.describe()}"


@pytest.mark.parametrize("forgery", FORGERIES)
def test_forged_id_token_hint_for_other_person_refused(
    browser: Browser, rp: RelyingParty, forgery: str
) -> None:
    """A forged hint naming another subject does not pass either (it cannot be checked)."""
    token = _tokens(browser, rp)
    header, claims = jwt_parts(token["id_token"])
    claims = {**claims, "sub": str(uuid.uuid4())}
    public = key_for(rp.provider.jwks(), header["kid"])
    forged = (
        forge_alg_none(claims, kid=header["kid"])
        if forgery == "alg-none"
        else forge_hs256_with_public_key(claims, public)
    )
    request = authorization_request(rp, prompt="none", id_token_hint=forged)
    outcome = browser.authorize(request.url, consent=False)
    assert "code" not in outcome.params, f"forged hint accepted: {outcome.describe()}"


# --- Forged ID tokens at end_session -------------------------------------------------------------


def _end_session(browser: Browser, rp: RelyingParty, hint: str) -> Any:
    response = browser.http.get(
        rp.provider.end_session_endpoint,
        params={
            "id_token_hint": hint,
            "post_logout_redirect_uri": POST_LOGOUT_REDIRECT_URI,
            "state": "forged-logout",
        },
        allow_redirects=False,
        timeout=10,
    )
    return browser.follow(response, consent=False)


def _still_signed_in(browser: Browser, rp: RelyingParty) -> bool:
    request = authorization_request(rp, prompt="none")
    return "code" in browser.authorize(request.url, consent=False).params


def test_genuine_end_session_hint_accepted(browser: Browser, rp: RelyingParty) -> None:
    """The control: the real ID token as hint signs out and returns to the registered URI."""
    token = _tokens(browser, rp)
    outcome = _end_session(browser, rp, token["id_token"])
    assert outcome.location.startswith(POST_LOGOUT_REDIRECT_URI), outcome.describe()
    assert not _still_signed_in(browser, rp)


@pytest.mark.parametrize("forgery", FORGERIES)
def test_forged_end_session_hint_refused(browser: Browser, rp: RelyingParty, forgery: str) -> None:
    """A forged hint at end_session is refused: no redirect to the client's post-logout
    URI on its word, and the person is not signed out without being asked.
    """
    token = _tokens(browser, rp)
    forged = _forgeries(rp, token["id_token"])[forgery]
    outcome = _end_session(browser, rp, forged)
    assert not outcome.location.startswith(POST_LOGOUT_REDIRECT_URI), (
        f"forged hint trusted: {outcome.describe()}"
    )
    assert _still_signed_in(browser, rp), "signed out by a forged hint"


# --- Forged client assertions (private_key_jwt) --------------------------------------------------


@pytest.mark.parametrize("forgery", FORGERIES)
def test_forged_client_assertion_refused(op: Provider, forgery: str) -> None:
    """At the token endpoint, a client assertion with alg none, or HS256 keyed with the
    client's own public key, is invalid_client.
    """
    rp = client_register(op, auth_method="private_key_jwt", grant_types=["client_credentials"])
    assert rp.private_jwk is not None
    now = int(time.time())
    claims = {
        "iss": rp.client_id,
        "sub": rp.client_id,
        "aud": rp.provider.token_endpoint,
        "jti": str(uuid.uuid4()),
        "iat": now,
        "exp": now + 60,
    }
    public = {k: v for k, v in rp.private_jwk.items() if k not in {"d", "p", "q", "dp", "dq", "qi"}}
    assertion = (
        forge_alg_none(claims, kid=public["kid"])
        if forgery == "alg-none"
        else forge_hs256_with_public_key(claims, public)
    )
    response = requests.post(
        rp.provider.token_endpoint,
        data={
            "grant_type": "client_credentials",
            "client_id": rp.client_id,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        },
        timeout=10,
    )
    assert response.status_code in (400, 401), response.text
    assert response.json()["error"] == "invalid_client"


def test_client_assertion_replay_refused(op: Provider) -> None:
    """A genuine client assertion works once; the same jti again is invalid_client."""
    rp = client_register(op, auth_method="private_key_jwt", grant_types=["client_credentials"])
    assert rp.private_jwk is not None
    now = int(time.time())
    claims = {
        "iss": rp.client_id,
        "sub": rp.client_id,
        "aud": rp.provider.token_endpoint,
        "jti": str(uuid.uuid4()),
        "iat": now,
        "exp": now + 60,
    }
    key = RSAKey.import_key(rp.private_jwk)
    assertion = jwt.encode({"alg": "RS256", "kid": rp.private_jwk["kid"]}, claims, key)
    data = {
        "grant_type": "client_credentials",
        "client_id": rp.client_id,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion,
    }
    first = requests.post(rp.provider.token_endpoint, data=data, timeout=10)
    assert first.status_code == 200, first.text
    second = requests.post(rp.provider.token_endpoint, data=data, timeout=10)
    assert second.status_code in (400, 401), second.text
    assert second.json()["error"] == "invalid_client"


# --- Refresh token families -----------------------------------------------------------------------


def test_refresh_token_replay_revokes_family(browser: Browser, rp: RelyingParty) -> None:
    """Using a rotated-out refresh token again is refused, and ends the whole family: the
    refresh token that replaced it and every access token of the family stop working
    (RFC 9700 4.14.2).
    """
    token = _tokens(browser, rp)
    first_refresh = token["refresh_token"]
    rotated = token_post(rp, {"grant_type": "refresh_token", "refresh_token": first_refresh})
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()
    assert second["refresh_token"] != first_refresh
    assert _userinfo_status(rp, second["access_token"]) == 200

    replay = token_post(rp, {"grant_type": "refresh_token", "refresh_token": first_refresh})
    assert replay.status_code == 400, replay.text
    assert replay.json()["error"] == "invalid_grant"

    after = token_post(
        rp, {"grant_type": "refresh_token", "refresh_token": second["refresh_token"]}
    )
    assert after.status_code == 400, f"the newer refresh token still works: {after.text}"
    assert _userinfo_status(rp, second["access_token"]) == 401, "newer access token still works"
    assert _userinfo_status(rp, token["access_token"]) == 401, "first access token still works"


def test_refresh_token_bound_to_client(browser: Browser, rp: RelyingParty, op: Provider) -> None:
    """Another client cannot use this client's refresh token."""
    token = _tokens(browser, rp)
    other = client_register(op, name="Another agency service")
    response = token_post(
        other, {"grant_type": "refresh_token", "refresh_token": token["refresh_token"]}
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_grant"
