"""OpenID Foundation Basic OP checks, replayed locally against a live Civicstack.

Each test is named after the OpenID Foundation conformance test it replays (``oidcc-*``)
where there is one; the others cover what the issue asks beyond the Basic plan (PKCE,
redirect URI mutations, ES256, client authentication methods). The relying party is
Authlib (``OAuth2Session``, PKCE S256, state, nonce) and every ID token is checked by
``id_token_verify``: iss, aud, exp, iat, nonce, sub, at_hash, the signature with the JWKS
key named by the header's kid. ASVS V10 (OAuth and OIDC).
"""

from __future__ import annotations

import json
import re
import time
from typing import Any
from urllib.parse import unquote_plus, urljoin

import pytest
import requests
from authlib.integrations.base_client.errors import OAuthError
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from civicstack.accounts.tests.factories import PASSWORD, UserFactory
from civicstack.identity.constants import Level
from civicstack.identity.tests.conformance_support import (
    REDIRECT_URI,
    Browser,
    Outcome,
    Provider,
    RelyingParty,
    Request,
    authorization_request,
    b64url,
    client_register,
    exchange,
    forge_alg_none,
    html_forms,
    id_token_verify,
    jwt_parts,
    key_for,
    provider_discover,
    restore_migration_rows,
    token_post,
)

pytestmark = pytest.mark.django_db(transaction=True)

CITIZEN_EMAIL = "ceri.jones@example.org"
CITIZEN_NAME = "Ceri Jones"


@pytest.fixture
def op(live_server: Any, settings: Any) -> Provider:
    restore_migration_rows()
    return provider_discover(live_server, settings)


@pytest.fixture
def rp(op: Provider) -> RelyingParty:
    return client_register(op)


@pytest.fixture
def citizen(op: Provider) -> Any:
    return UserFactory(email=CITIZEN_EMAIL, full_name=CITIZEN_NAME)


@pytest.fixture
def browser(op: Provider, citizen: Any) -> Browser:
    person = Browser(op)
    person.sign_in(citizen.email, PASSWORD)
    return person


def code_flow(
    browser: Browser, rp: RelyingParty, **params: Any
) -> tuple[Request, Outcome, dict[str, Any], dict[str, Any]]:
    """Run the code flow to the end; return the request, the callback, tokens and claims."""
    request = authorization_request(rp, **params)
    outcome = browser.authorize(request.url)
    assert outcome.at_client, outcome.describe()
    assert outcome.location.startswith(rp.redirect_uri + "?"), outcome.describe()
    assert outcome.params.get("state") == request.state, outcome.describe()
    assert "error" not in outcome.params, outcome.describe()
    token = exchange(rp, request, outcome.code)
    claims = id_token_verify(
        rp, token["id_token"], nonce=request.nonce, access_token=token["access_token"]
    )
    return request, outcome, token, claims


def userinfo(rp: RelyingParty, access_token: str) -> requests.Response:
    """GET userinfo with the access token in the Authorization header."""
    return requests.get(
        rp.provider.userinfo_endpoint,
        headers={"Authorization": f"Bearer {access_token}"},
        timeout=10,
    )


def refused_at_authorization(outcome: Outcome, request: Request | None = None) -> str:
    """Check the provider refused: an error page, or back to the client with an error only.

    Return the error code (or "page" for an error page). Never a code.
    """
    assert "code" not in outcome.params, f"a code was issued: {outcome.describe()}"
    if outcome.at_client:
        assert outcome.params.get("error"), outcome.describe()
        if request is not None:
            assert outcome.params.get("state") == request.state, outcome.describe()
        return outcome.params["error"]
    assert 400 <= outcome.status < 500, outcome.describe()
    return "page"


# --- The code flow ------------------------------------------------------------------------------


def test_oidcc_server(browser: Browser, rp: RelyingParty, citizen: Any) -> None:
    """The code flow with PKCE S256, client_secret_basic: the code comes back with the state,
    the token response is a Bearer token with an ID token that passes every check, and
    userinfo names the same subject.
    """
    _request, outcome, token, claims = code_flow(browser, rp)
    assert token["token_type"].lower() == "bearer"
    assert isinstance(token["expires_in"], int) and token["expires_in"] > 0
    assert token.get("refresh_token"), "no refresh token for a client allowed refresh_token"
    assert claims["acr"] == Level.LOW.acr, claims.get("acr")
    assert "pwd" in claims.get("amr", []), claims.get("amr")
    assert isinstance(claims.get("auth_time"), int), claims
    info = userinfo(rp, token["access_token"])
    assert info.status_code == 200, info.text
    assert info.json()["sub"] == claims["sub"]
    assert outcome.params.get("iss") in (None, rp.provider.issuer), "RFC 9207 iss mismatch"


def test_oidcc_token_response_not_cached(browser: Browser, rp: RelyingParty, citizen: Any) -> None:
    """The token response is JSON with Cache-Control: no-store (RFC 6749 5.1)."""
    request = authorization_request(rp)
    outcome = browser.authorize(request.url)
    response = token_post(
        rp,
        {
            "grant_type": "authorization_code",
            "code": outcome.code,
            "redirect_uri": rp.redirect_uri,
            "code_verifier": str(request.code_verifier),
        },
    )
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert "no-store" in response.headers.get("Cache-Control", "")


def test_oidcc_server_client_secret_post(browser: Browser, op: Provider) -> None:
    """A client registered for client_secret_post signs in with the secret in the body."""
    rp = client_register(op, auth_method="client_secret_post")
    _request, _outcome, token, _claims = code_flow(browser, rp)
    assert token["access_token"]


def test_oidcc_server_private_key_jwt(browser: Browser, op: Provider) -> None:
    """A client registered with its public key authenticates with a signed JWT (RFC 7523),
    here one that lives 60 seconds.
    """
    rp = client_register(op, auth_method="private_key_jwt")
    request = authorization_request(rp)
    outcome = browser.authorize(request.url)
    token = exchange(rp, request, outcome.code, assertion_seconds=60)
    id_token_verify(rp, token["id_token"], nonce=request.nonce)


def test_private_key_jwt_with_authlib_defaults(browser: Browser, op: Provider) -> None:
    """Authlib's PrivateKeyJWT with its defaults (assertion valid one hour, no kid) works:
    an off-the-shelf client authenticates without tuning.
    """
    rp = client_register(op, auth_method="private_key_jwt")
    _request, _outcome, token, _claims = code_flow(browser, rp)
    assert token["access_token"]


def test_oidcc_ensure_request_without_nonce_succeeds_for_code_flow(
    browser: Browser, rp: RelyingParty
) -> None:
    """nonce is optional in the code flow; the ID token then carries none."""
    _request, _outcome, _token, claims = code_flow(browser, rp, nonce=False)
    assert "nonce" not in claims


def test_oidcc_ensure_other_scope_order_succeeds(browser: Browser, rp: RelyingParty) -> None:
    """Scopes in another order ("email openid") work the same."""
    _request, _outcome, token, _claims = code_flow(browser, rp, scope="email openid")
    info = userinfo(rp, token["access_token"]).json()
    assert info["email"] == CITIZEN_EMAIL


def test_oidcc_ensure_request_with_unknown_parameter_succeeds(
    browser: Browser, rp: RelyingParty
) -> None:
    """An unknown authorization parameter is ignored (OAuth 2.0 section 3.1)."""
    code_flow(browser, rp, extra_unknown_parameter="civicstack")


def test_oidcc_ensure_request_with_acr_values_succeeds(browser: Browser, rp: RelyingParty) -> None:
    """acr_values naming the session's level is met, and the ID token says which acr."""
    _request, _outcome, _token, claims = code_flow(browser, rp, acr_values=Level.LOW.acr)
    assert claims["acr"] == Level.LOW.acr


def test_oidcc_ensure_request_with_valid_pkce_succeeds(browser: Browser, rp: RelyingParty) -> None:
    """A code bound to an S256 challenge is exchanged with its verifier (RFC 7636)."""
    request, _outcome, token, _claims = code_flow(browser, rp, pkce="S256")
    assert request.code_verifier and token["access_token"]


def test_oidcc_ensure_post_request_succeeds(browser: Browser, rp: RelyingParty) -> None:
    """The authorization endpoint takes its parameters by POST too (OIDC Core 3.1.2.1)."""
    request = authorization_request(rp)
    query = dict(
        item.split("=", 1) for item in request.url.split("?", 1)[1].split("&") if "=" in item
    )
    form = {key: unquote_plus(value) for key, value in query.items()}
    outcome = browser.authorize(rp.provider.authorization_endpoint, method="POST", data=form)
    assert outcome.at_client, outcome.describe()
    assert outcome.params.get("state") == request.state
    token = exchange(rp, request, outcome.code)
    id_token_verify(rp, token["id_token"], nonce=request.nonce)


def test_oidcc_response_type_missing(browser: Browser, rp: RelyingParty) -> None:
    """Without response_type the request is refused: an error page, or invalid_request (or
    unsupported_response_type) back at the client; never a code.
    """
    request = authorization_request(rp, response_type=None)
    outcome = browser.authorize(request.url)
    error = refused_at_authorization(outcome, request)
    assert error in ("page", "invalid_request", "unsupported_response_type"), error


@pytest.mark.parametrize("response_type", ["token", "id_token", "id_token token", "code token"])
def test_implicit_and_hybrid_refused(
    browser: Browser, rp: RelyingParty, response_type: str
) -> None:
    """No implicit or hybrid flows: tokens never travel in the front channel."""
    request = authorization_request(rp, response_type=response_type)
    outcome = browser.authorize(request.url)
    refused_at_authorization(outcome, request)
    assert not {"access_token", "id_token", "code"} & set(outcome.fragment), outcome.describe()


# --- userinfo ------------------------------------------------------------------------------------


def test_oidcc_userinfo_get(browser: Browser, rp: RelyingParty) -> None:
    """userinfo by GET with a Bearer header returns JSON whose sub is the ID token's."""
    _request, _outcome, token, claims = code_flow(browser, rp)
    response = userinfo(rp, token["access_token"])
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["sub"] == claims["sub"]
    assert body["email"] == CITIZEN_EMAIL
    assert body["name"] == CITIZEN_NAME


def test_oidcc_userinfo_post_header(browser: Browser, rp: RelyingParty) -> None:
    """userinfo by POST with a Bearer header returns the same claims as by GET."""
    _request, _outcome, token, claims = code_flow(browser, rp)
    response = requests.post(
        rp.provider.userinfo_endpoint,
        headers={"Authorization": f"Bearer {token['access_token']}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.json() == userinfo(rp, token["access_token"]).json()
    assert response.json()["sub"] == claims["sub"]


def test_oidcc_userinfo_post_body(browser: Browser, rp: RelyingParty) -> None:
    """userinfo by POST with the access token in the form body (RFC 6750 2.2): the OpenID
    Foundation suite accepts a refusal (a 400/401 with an error) or the same claims.
    """
    _request, _outcome, token, claims = code_flow(browser, rp)
    response = requests.post(
        rp.provider.userinfo_endpoint, data={"access_token": token["access_token"]}, timeout=10
    )
    if response.status_code == 200:
        assert response.json()["sub"] == claims["sub"]
    else:
        assert response.status_code in (400, 401), response.text
        assert "error" in response.headers.get("WWW-Authenticate", "") + response.text


def test_userinfo_token_in_query_refused(browser: Browser, rp: RelyingParty) -> None:
    """An access token in the URL query is refused (RFC 9700 2.4.3: it leaks into logs)."""
    _request, _outcome, token, _claims = code_flow(browser, rp)
    response = requests.get(
        rp.provider.userinfo_endpoint,
        params={"access_token": token["access_token"]},
        timeout=10,
    )
    assert response.status_code in (400, 401), response.text


def test_userinfo_without_or_with_bad_token_refused(rp: RelyingParty) -> None:
    """userinfo without a token, or with a made-up one, answers 401 with WWW-Authenticate."""
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        response = requests.get(rp.provider.userinfo_endpoint, headers=headers, timeout=10)
        assert response.status_code == 401, response.text
        assert response.headers.get("WWW-Authenticate", "").startswith("Bearer")


# --- Scopes and claims ---------------------------------------------------------------------------

OTHER_SCOPE_CLAIMS = {
    "profile": {"name", "given_name", "family_name", "locale"},
    "email": {"email", "email_verified"},
    "phone": {"phone_number", "phone_number_verified"},
    "address": {"address"},
}


def _claims_for_scopes(browser: Browser, rp: RelyingParty, scopes: list[str]) -> dict[str, Any]:
    _request, _outcome, token, _claims = code_flow(browser, rp, scope=" ".join(scopes))
    response = userinfo(rp, token["access_token"])
    assert response.status_code == 200, response.text
    body = dict(response.json())
    for scope, names in OTHER_SCOPE_CLAIMS.items():
        if scope not in scopes:
            assert not names & set(body), f"{sorted(names & set(body))} without scope {scope}"
    return body


def test_oidcc_scope_profile(browser: Browser, rp: RelyingParty) -> None:
    """scope profile releases the name (and nothing of email, phone or address)."""
    body = _claims_for_scopes(browser, rp, ["openid", "profile"])
    assert body["name"] == CITIZEN_NAME


def test_oidcc_scope_email(browser: Browser, rp: RelyingParty) -> None:
    """scope email releases email and email_verified (true for a confirmed address)."""
    body = _claims_for_scopes(browser, rp, ["openid", "email"])
    assert body["email"] == CITIZEN_EMAIL
    assert body["email_verified"] is True


def test_oidcc_scope_address(browser: Browser, rp: RelyingParty) -> None:
    """scope address is accepted; an address, when held, is a JSON object (OIDC Core 5.1.1)."""
    body = _claims_for_scopes(browser, rp, ["openid", "address"])
    if "address" in body:
        assert isinstance(body["address"], dict), body


def test_oidcc_scope_phone(browser: Browser, rp: RelyingParty) -> None:
    """scope phone is accepted; a number, when held, comes with phone_number_verified."""
    body = _claims_for_scopes(browser, rp, ["openid", "phone"])
    if "phone_number" in body:
        assert isinstance(body.get("phone_number_verified"), bool), body


def test_oidcc_scope_all(browser: Browser, rp: RelyingParty) -> None:
    """All the standard scopes together release the profile and email claims."""
    body = _claims_for_scopes(browser, rp, ["openid", "profile", "email", "address", "phone"])
    assert body["name"] == CITIZEN_NAME
    assert body["email"] == CITIZEN_EMAIL


def test_scope_not_registered_is_not_granted(browser: Browser, op: Provider, citizen: Any) -> None:
    """A client registered for openid and email asking for profile too gets no name."""
    rp = client_register(op, scopes=["openid", "email"])
    request = authorization_request(rp, scope="openid email profile")
    outcome = browser.authorize(request.url)
    if "code" not in outcome.params:
        refused_at_authorization(outcome, request)
        return
    token = exchange(rp, request, outcome.code)
    assert "profile" not in token.get("scope", "").split()
    assert "name" not in userinfo(rp, token["access_token"]).json()


def test_oidcc_claims_essential(browser: Browser, rp: RelyingParty) -> None:
    """A claims request (name, essential, in userinfo) with scope openid alone succeeds;
    a provider that says claims_parameter_supported releases the name.
    """
    claims_request = json.dumps({"userinfo": {"name": {"essential": True}}})
    _request, _outcome, token, _claims = code_flow(
        browser, rp, scope="openid", claims=claims_request
    )
    body = userinfo(rp, token["access_token"]).json()
    if rp.provider.metadata.get("claims_parameter_supported"):
        assert body.get("name") == CITIZEN_NAME


@pytest.mark.parametrize("display", ["page", "popup"])
def test_oidcc_display(browser: Browser, rp: RelyingParty, display: str) -> None:
    """display=page and display=popup are accepted (oidcc-display-page, -popup)."""
    code_flow(browser, rp, display=display)


def test_oidcc_unsigned_request_object_supported_correctly_or_rejected_as_unsupported(
    browser: Browser, rp: RelyingParty
) -> None:
    """A request object with alg none is either honoured (when discovery says
    request_parameter_supported) or refused with request_not_supported; never half-used.
    """
    request = authorization_request(rp)
    claims = {
        "iss": rp.client_id,
        "aud": rp.provider.issuer,
        "response_type": "code",
        "client_id": rp.client_id,
        "redirect_uri": rp.redirect_uri,
        "scope": "openid email",
        "state": request.state,
        "nonce": request.nonce,
    }
    url = request.url + "&request=" + forge_alg_none(claims)
    outcome = browser.authorize(url)
    if rp.provider.metadata.get("request_parameter_supported"):
        assert outcome.at_client and "code" in outcome.params, outcome.describe()
    else:
        error = refused_at_authorization(outcome, request)
        assert error in ("page", "request_not_supported", "invalid_request_object"), error


def test_oidcc_request_uri_unsigned_supported_correctly_or_rejected_as_unsupported(
    browser: Browser, rp: RelyingParty
) -> None:
    """request_uri is refused with request_uri_not_supported unless discovery offers it
    (an OP must never fetch arbitrary URLs it does not support)."""
    request = authorization_request(rp)
    outcome = browser.authorize(request.url + "&request_uri=https%3A%2F%2Frp.example.test%2Freq")
    if rp.provider.metadata.get("request_uri_parameter_supported", True) is False or (
        "request_uri_parameter_supported" not in rp.provider.metadata
    ):
        error = refused_at_authorization(outcome, request)
        assert error in ("page", "request_uri_not_supported", "invalid_request_uri"), error


# --- Codes ---------------------------------------------------------------------------------------


def test_oidcc_codereuse(browser: Browser, rp: RelyingParty) -> None:
    """A code works once; using it again fails with invalid_grant and revokes the access
    token (and refresh token) issued with it (RFC 6749 4.1.2).
    """
    request, outcome, token, _claims = code_flow(browser, rp)
    assert userinfo(rp, token["access_token"]).status_code == 200
    with pytest.raises(OAuthError) as error:
        exchange(rp, request, outcome.code)
    assert error.value.error == "invalid_grant"
    assert userinfo(rp, token["access_token"]).status_code == 401, "access token not revoked"
    refreshed = token_post(
        rp, {"grant_type": "refresh_token", "refresh_token": token["refresh_token"]}
    )
    assert refreshed.status_code == 400, "refresh token from a replayed code still works"


@pytest.mark.slow
def test_oidcc_codereuse_30seconds(browser: Browser, rp: RelyingParty) -> None:
    """The same, 30 seconds after the first use."""
    request, outcome, token, _claims = code_flow(browser, rp)
    time.sleep(30)
    with pytest.raises(OAuthError) as error:
        exchange(rp, request, outcome.code)
    assert error.value.error == "invalid_grant"
    assert userinfo(rp, token["access_token"]).status_code == 401, "access token not revoked"


def test_code_expires_within_ten_minutes(browser: Browser, rp: RelyingParty) -> None:
    """A code is valid at most 10 minutes (OIDC Core 3.1.3.2's recommendation as a bound):
    exchanged with the clock 601 seconds on, it is invalid_grant. The clock moves in this
    process, where the live server thread runs too.
    """
    from datetime import timedelta

    from django.utils import timezone
    from freezegun import freeze_time

    request = authorization_request(rp)
    outcome = browser.authorize(request.url)
    later = timezone.now() + timedelta(seconds=601)
    with freeze_time(later, tick=True), pytest.raises(OAuthError) as error:
        exchange(rp, request, outcome.code)
    assert error.value.error == "invalid_grant"


def test_code_bound_to_its_client(browser: Browser, rp: RelyingParty, op: Provider) -> None:
    """Another client cannot exchange a code issued to this one."""
    other = client_register(op, name="Another agency service")
    request = authorization_request(rp)
    outcome = browser.authorize(request.url)
    with pytest.raises(OAuthError) as error:
        exchange(other, request, outcome.code)
    assert error.value.error in ("invalid_grant", "invalid_client")


def test_code_bound_to_its_redirect_uri(browser: Browser, op: Provider) -> None:
    """The token request must repeat the redirect URI the code was issued for."""
    rp = client_register(op, redirect_uris=[REDIRECT_URI, "https://rp.example.test/other"])
    request = authorization_request(rp)
    outcome = browser.authorize(request.url)
    response = token_post(
        rp,
        {
            "grant_type": "authorization_code",
            "code": outcome.code,
            "redirect_uri": "https://rp.example.test/other",
            "code_verifier": str(request.code_verifier),
        },
    )
    assert response.status_code == 400, response.text
    # RFC 6749 5.2 says invalid_grant; oauthlib answers invalid_request. Either refuses.
    assert response.json()["error"] in ("invalid_grant", "invalid_request")


def test_token_endpoint_wrong_client_secret_refused(browser: Browser, rp: RelyingParty) -> None:
    """A wrong client secret is invalid_client (401), and the code is not used up by it."""
    request = authorization_request(rp)
    outcome = browser.authorize(request.url)
    response = requests.post(
        rp.provider.token_endpoint,
        data={
            "grant_type": "authorization_code",
            "code": outcome.code,
            "redirect_uri": rp.redirect_uri,
            "code_verifier": str(request.code_verifier),
        },
        auth=(rp.client_id, "wrong-secret"),
        timeout=10,
    )
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"


def test_password_grant_refused(rp: RelyingParty, citizen: Any) -> None:
    """The resource owner password grant does not exist here (RFC 9700 2.4)."""
    response = token_post(
        rp, {"grant_type": "password", "username": CITIZEN_EMAIL, "password": PASSWORD}
    )
    assert response.status_code in (400, 401), response.text
    assert response.json()["error"] in ("unsupported_grant_type", "unauthorized_client")


def test_client_credentials_grant(op: Provider) -> None:
    """A client registered for client_credentials gets an access token for itself: no ID
    token, no refresh token, and userinfo (about a person) refuses it.
    """
    rp = client_register(op, scopes=["openid"], grant_types=["client_credentials"])
    response = token_post(rp, {"grant_type": "client_credentials"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["access_token"] and "id_token" not in body and "refresh_token" not in body
    info = userinfo(rp, body["access_token"])
    assert info.status_code in (401, 403), info.text


def test_client_credentials_needs_registration(rp: RelyingParty) -> None:
    """A client registered only for the code flow cannot use client_credentials."""
    response = token_post(rp, {"grant_type": "client_credentials"})
    assert response.status_code in (400, 401), response.text
    assert response.json()["error"] in ("unauthorized_client", "unsupported_grant_type")


# --- Redirect URIs -------------------------------------------------------------------------------

PORT_REDIRECT_URI = "https://rp.example.test:8443/port-callback"
MUTATIONS = {
    "query-added": REDIRECT_URI + "?extra=1",
    "path-case-changed": "https://rp.example.test/Callback",
    "host-case-changed": "https://RP.example.test/callback",
    "scheme-changed": "http://rp.example.test/callback",
    "trailing-slash": REDIRECT_URI + "/",
    "port-added": "https://rp.example.test:443/callback",
    "other-port-added": "https://rp.example.test:8443/callback",
    "port-changed": "https://rp.example.test:8444/port-callback",
    "port-removed": "https://rp.example.test/port-callback",
    "user-at-host": "https://user@rp.example.test/callback",
    "host-after-at": "https://rp.example.test@attacker.example/callback",
    "fragment": REDIRECT_URI + "#fragment",
    "empty-fragment": REDIRECT_URI + "#",
    "path-appended": REDIRECT_URI + "/../callback",
    "percent-encoded": "https://rp.example.test/%63allback",
    "subdomain": "https://evil.rp.example.test/callback",
}


def test_oidcc_ensure_registered_redirect_uri(browser: Browser, rp: RelyingParty) -> None:
    """A redirect URI that was never registered gets an error page, and no redirect at all
    (the OP must not send the person, or an error, to an unregistered address).
    """
    request = authorization_request(rp, redirect_uri="https://attacker.example/callback")
    outcome = browser.authorize(request.url)
    assert not outcome.at_client, f"redirected to an unregistered URI: {outcome.describe()}"
    assert 400 <= outcome.status < 500, outcome.describe()


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_redirect_uri_mutation_refused(browser: Browser, op: Provider, mutation: str) -> None:
    """Exact matching: each near-miss of a registered redirect URI gets an error page and
    no redirect (OIDC Core 3.1.2.1, RFC 9700 4.1.3).
    """
    rp = client_register(op, redirect_uris=[REDIRECT_URI, PORT_REDIRECT_URI])
    request = authorization_request(rp, redirect_uri=MUTATIONS[mutation])
    outcome = browser.authorize(request.url)
    assert not outcome.at_client, f"redirected to {outcome.location}"
    assert 400 <= outcome.status < 500, outcome.describe()


def test_registered_redirect_uri_with_port_accepted(browser: Browser, op: Provider) -> None:
    """The mutations above fail for the mutation, not the port: the exact URI works."""
    rp = client_register(op, redirect_uris=[PORT_REDIRECT_URI])
    code_flow(browser, rp)


def test_oidcc_ensure_redirect_uri_in_authorization_request(
    browser: Browser, rp: RelyingParty
) -> None:
    """OpenID Connect makes redirect_uri REQUIRED: without it, no code is issued."""
    request = authorization_request(rp)
    url = "&".join(part for part in request.url.split("&") if not part.startswith("redirect_uri"))
    outcome = browser.authorize(url)
    assert "code" not in outcome.params, outcome.describe()


# --- PKCE -----------------------------------------------------------------------------------------


def test_pkce_missing_refused(browser: Browser, rp: RelyingParty) -> None:
    """An authorization request without code_challenge is refused (PKCE is required)."""
    request = authorization_request(rp, pkce=None)
    outcome = browser.authorize(request.url)
    refused_at_authorization(outcome, request)


def test_pkce_plain_refused(browser: Browser, rp: RelyingParty) -> None:
    """code_challenge_method=plain is refused: S256 only."""
    request = authorization_request(rp, pkce="plain")
    outcome = browser.authorize(request.url)
    refused_at_authorization(outcome, request)


def test_pkce_unknown_method_refused(browser: Browser, rp: RelyingParty) -> None:
    """An unknown code_challenge_method is refused, not treated as plain."""
    request = authorization_request(rp, pkce="plain", code_challenge_method="S512")
    outcome = browser.authorize(request.url)
    refused_at_authorization(outcome, request)


def test_pkce_wrong_verifier_refused(browser: Browser, rp: RelyingParty) -> None:
    """A code exchanged with another verifier fails with invalid_grant."""
    request = authorization_request(rp)
    outcome = browser.authorize(request.url)
    request.code_verifier = "x" * 64
    with pytest.raises(OAuthError) as error:
        exchange(rp, request, outcome.code)
    assert error.value.error == "invalid_grant"


def test_pkce_verifier_missing_refused(browser: Browser, rp: RelyingParty) -> None:
    """A code bound to a challenge, exchanged without a verifier, fails."""
    request = authorization_request(rp)
    outcome = browser.authorize(request.url)
    response = token_post(
        rp,
        {"grant_type": "authorization_code", "code": outcome.code, "redirect_uri": REDIRECT_URI},
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"] in ("invalid_grant", "invalid_request")


# --- prompt, max_age, hints -----------------------------------------------------------------------


def test_oidcc_prompt_none_logged_in(browser: Browser, rp: RelyingParty) -> None:
    """Signed in, having consented: prompt=none returns a code at once, and the new ID token
    has the same sub and auth_time as the first.
    """
    _request, _outcome, _token, first = code_flow(browser, rp)
    request = authorization_request(rp, prompt="none")
    outcome = browser.authorize(request.url, consent=False)
    assert outcome.at_client and "code" in outcome.params, outcome.describe()
    token = exchange(rp, request, outcome.code)
    claims = id_token_verify(rp, token["id_token"], nonce=request.nonce)
    assert claims["sub"] == first["sub"]
    assert claims.get("auth_time") == first.get("auth_time")


def test_oidcc_prompt_none_not_logged_in(op: Provider, rp: RelyingParty) -> None:
    """Signed out: prompt=none comes straight back with login_required and the state."""
    request = authorization_request(rp, prompt="none")
    outcome = Browser(op).authorize(request.url)
    assert outcome.at_client, outcome.describe()
    assert outcome.params.get("error") == "login_required", outcome.describe()
    assert outcome.params.get("state") == request.state
    assert "code" not in outcome.params


def test_prompt_none_without_consent(browser: Browser, rp: RelyingParty) -> None:
    """Signed in but never asked: prompt=none cannot show the consent page, so it answers
    consent_required (or interaction_required).
    """
    request = authorization_request(rp, prompt="none")
    outcome = browser.authorize(request.url, consent=False)
    assert outcome.at_client, outcome.describe()
    assert outcome.params.get("error") in ("consent_required", "interaction_required")


def test_oidcc_prompt_login(browser: Browser, rp: RelyingParty, citizen: Any) -> None:
    """prompt=login makes a signed-in person sign in again; the ID token's auth_time is
    that of the new sign-in.
    """
    _request, _outcome, _token, first = code_flow(browser, rp)
    time.sleep(1.1)
    request = authorization_request(rp, prompt="login")
    outcome = browser.authorize(request.url)
    assert not outcome.at_client, f"no new sign-in was asked for: {outcome.describe()}"
    before = int(time.time())
    outcome = browser.sign_in_and_continue(outcome, citizen.email, PASSWORD)
    assert outcome.at_client and "code" in outcome.params, outcome.describe()
    token = exchange(rp, request, outcome.code)
    claims = id_token_verify(rp, token["id_token"], nonce=request.nonce)
    assert claims["sub"] == first["sub"]
    assert claims["auth_time"] >= before, (claims["auth_time"], before)


def test_oidcc_max_age_1(browser: Browser, rp: RelyingParty, citizen: Any) -> None:
    """max_age=1, two seconds after signing in: the person signs in again, and the ID
    token carries an auth_time from that new sign-in.
    """
    code_flow(browser, rp)
    time.sleep(2.1)
    request = authorization_request(rp, max_age="1")
    outcome = browser.authorize(request.url)
    assert not outcome.at_client, f"no new sign-in was asked for: {outcome.describe()}"
    before = int(time.time())
    outcome = browser.sign_in_and_continue(outcome, citizen.email, PASSWORD)
    token = exchange(rp, request, outcome.code)
    claims = id_token_verify(rp, token["id_token"], nonce=request.nonce)
    assert isinstance(claims.get("auth_time"), int), "max_age makes auth_time REQUIRED"
    assert claims["auth_time"] >= before


def test_oidcc_max_age_10000(browser: Browser, rp: RelyingParty) -> None:
    """max_age=10000 after a recent sign-in: no new sign-in, and auth_time is present and
    no older than 10000 seconds.
    """
    signed_in = int(time.time())
    _request, _outcome, _token, claims = code_flow(browser, rp, max_age="10000")
    assert isinstance(claims.get("auth_time"), int), "max_age makes auth_time REQUIRED"
    assert signed_in - 60 <= claims["auth_time"] <= int(time.time())


def test_oidcc_id_token_hint(browser: Browser, rp: RelyingParty) -> None:
    """An ID token the provider issued, sent back as id_token_hint with prompt=none, names
    the signed-in person: a code comes back for the same sub.
    """
    _request, _outcome, first_token, first = code_flow(browser, rp)
    request = authorization_request(rp, prompt="none", id_token_hint=first_token["id_token"])
    outcome = browser.authorize(request.url, consent=False)
    assert outcome.at_client and "code" in outcome.params, outcome.describe()
    token = exchange(rp, request, outcome.code)
    assert id_token_verify(rp, token["id_token"], nonce=request.nonce)["sub"] == first["sub"]


def test_id_token_hint_for_another_person_refused(
    browser: Browser, rp: RelyingParty, op: Provider
) -> None:
    """A hint naming someone other than the signed-in person gives no code for either
    (OIDC Core 3.1.2.1: login_required or another error with prompt=none).
    """
    other = UserFactory(email="someone.else@example.org")
    other_browser = Browser(op)
    other_browser.sign_in(other.email, PASSWORD)
    _request, _outcome, other_token, _claims = code_flow(other_browser, rp)
    code_flow(browser, rp)
    request = authorization_request(rp, prompt="none", id_token_hint=other_token["id_token"])
    outcome = browser.authorize(request.url, consent=False)
    assert "code" not in outcome.params, outcome.describe()
    assert outcome.params.get("error") in ("login_required", "invalid_request", None)


def test_oidcc_login_hint(op: Provider, rp: RelyingParty) -> None:
    """login_hint with an email, signed out: the sign-in page opens with the address filled in."""
    request = authorization_request(rp, login_hint=CITIZEN_EMAIL)
    browser = Browser(op)
    outcome = browser.authorize(request.url)
    html = browser.sign_in_page(outcome)
    fields = dict(next(f for f in html_forms(html) if f["method"] == "post")["fields"])
    assert fields.get("email") == CITIZEN_EMAIL, "login_hint was not used"


def test_oidcc_ui_locales(op: Provider, rp: RelyingParty) -> None:
    """ui_locales=cy, signed out: the sign-in page is shown in Welsh."""
    request = authorization_request(rp, ui_locales="cy")
    browser = Browser(op)
    outcome = browser.authorize(request.url)
    html = browser.sign_in_page(outcome)
    assert '<html lang="cy"' in html, html[:300]


def test_client_level_substantial_steps_up_password_session(browser: Browser, op: Provider) -> None:
    """A client that needs level substantial does not get a code for a password-only
    session: the person is sent to step up (or sign in again) instead.
    """
    rp = client_register(op, required_level=Level.SUBSTANTIAL)
    request = authorization_request(rp)
    outcome = browser.authorize(request.url)
    assert "code" not in outcome.params, outcome.describe()
    assert not outcome.at_client or outcome.params.get("error"), outcome.describe()


def test_consent_denied(browser: Browser, rp: RelyingParty) -> None:
    """Declining on the consent page sends access_denied (with the state) to the client."""
    request = authorization_request(rp)
    outcome = browser.authorize(request.url, consent=False)
    assert outcome.status == 200, outcome.describe()
    forms = [
        form
        for form in html_forms(outcome.body)
        if form["method"] == "post"
        and any(re.search(r"cancel|deny|decline", value, re.I) for _, value in form["buttons"])
    ]
    assert forms, "no consent form with a way to say no"
    form = forms[0]
    cancel = next(b for b in form["buttons"] if re.search(r"cancel|deny|decline", b[1], re.I))
    page_url = outcome.history[-1].split(" ")[1]
    response = browser.http.post(
        urljoin(page_url, form["action"] or page_url),
        data=[*form["fields"], cancel],
        allow_redirects=False,
        timeout=10,
    )
    result = browser.follow(response, consent=False)
    assert result.at_client, result.describe()
    assert result.params.get("error") == "access_denied"
    assert result.params.get("state") == request.state
    assert "code" not in result.params


# --- Refresh tokens ------------------------------------------------------------------------------


def test_oidcc_refresh_token(browser: Browser, rp: RelyingParty) -> None:
    """The refresh grant (Authlib's refresh_token) gives a new access token that works and a
    new refresh token (rotation); a new ID token keeps iss, sub, aud and auth_time
    (OIDC Core 12.2).
    """
    _request, _outcome, token, first = code_flow(browser, rp)
    session = rp.oauth(token=token)
    refreshed = dict(session.refresh_token(rp.provider.token_endpoint))
    assert refreshed["access_token"] != token["access_token"]
    assert refreshed.get("refresh_token"), "no new refresh token"
    assert refreshed["refresh_token"] != token["refresh_token"], "refresh token not rotated"
    info = userinfo(rp, refreshed["access_token"])
    assert info.status_code == 200 and info.json()["sub"] == first["sub"]
    if "id_token" in refreshed:
        _header, unverified = jwt_parts(refreshed["id_token"])
        claims = id_token_verify(rp, refreshed["id_token"], nonce=unverified.get("nonce"))
        assert claims["sub"] == first["sub"]
        assert claims.get("auth_time") == first.get("auth_time")
        if "nonce" in claims:
            assert claims["nonce"] == first.get("nonce")


# --- ID tokens ------------------------------------------------------------------------------------


def test_oidcc_idtoken_rs256(browser: Browser, rp: RelyingParty) -> None:
    """A client registered for RS256 (the default) gets RS256 ID tokens from an RSA key."""
    _request, _outcome, token, _claims = code_flow(browser, rp)
    header, _ = jwt_parts(token["id_token"])
    assert header["alg"] == "RS256"
    assert key_for(rp.provider.jwks(), header["kid"])["kty"] == "RSA"


def test_oidcc_idtoken_es256(browser: Browser, op: Provider) -> None:
    """A client registered with id_token_alg ES256 gets ES256 ID tokens that verify with the
    published P-256 key named by kid.
    """
    rp = client_register(op, id_token_alg="ES256")
    _request, _outcome, token, _claims = code_flow(browser, rp)
    header, _ = jwt_parts(token["id_token"])
    assert header["alg"] == "ES256"
    key = key_for(rp.provider.jwks(), header["kid"])
    assert key["kty"] == "EC" and key["crv"] == "P-256"


def test_oidcc_idtoken_kid(browser: Browser, rp: RelyingParty) -> None:
    """The ID token header names its key by kid, and exactly one published key has it."""
    _request, _outcome, token, _claims = code_flow(browser, rp)
    header, _ = jwt_parts(token["id_token"])
    assert header.get("kid"), header
    key_for(rp.provider.jwks(), header["kid"])


def test_oidcc_idtoken_signature(browser: Browser, rp: RelyingParty) -> None:
    """The signature verifies with the published key, and a changed claim breaks it: the
    check above is a real check.
    """
    request, _outcome, token, claims = code_flow(browser, rp)
    header_b64, _payload, signature = token["id_token"].split(".")
    tampered_claims = {**claims, "sub": claims["sub"] + "x"}
    tampered = ".".join([header_b64, b64url(json.dumps(tampered_claims).encode()), signature])
    header, _ = jwt_parts(token["id_token"])
    key = RSAKey.import_key(key_for(rp.provider.jwks(), header["kid"]))
    jwt.decode(token["id_token"], key, algorithms=["RS256"])
    with pytest.raises(JoseError):
        jwt.decode(tampered, key, algorithms=["RS256"])
    with pytest.raises(AssertionError):
        id_token_verify(rp, tampered, nonce=request.nonce)


def _new_keys_sign_now() -> None:
    from datetime import timedelta

    from django.utils import timezone

    from civicstack.identity.models import SigningKey
    from civicstack.identity.oidc.keys import caches_clear

    switch = timezone.now() - timedelta(seconds=1)
    SigningKey.objects.filter(activated_at__gt=switch).update(activated_at=switch)
    SigningKey.objects.filter(retired_at__gt=switch).update(retired_at=switch)
    caches_clear()


def test_jwks_rotation_keeps_old_keys_published(browser: Browser, rp: RelyingParty) -> None:
    """After a key rotation, new ID tokens name a new kid, and the old key stays in the
    JWKS so tokens it signed still verify until they expire.
    """
    from civicstack.identity.services import signing_keys_rotate

    first_request, _outcome, first_token, _claims = code_flow(browser, rp)
    old_kid = jwt_parts(first_token["id_token"])[0]["kid"]
    signing_keys_rotate()
    # New keys sign only after the JWKS cache lifetime; bring that moment forward.
    _new_keys_sign_now()
    _request, _outcome, token, _claims = code_flow(browser, rp)
    new_kid = jwt_parts(token["id_token"])[0]["kid"]
    assert new_kid != old_kid
    published = {key["kid"] for key in rp.provider.jwks()["keys"]}
    assert {old_kid, new_kid} <= published
    id_token_verify(rp, first_token["id_token"], nonce=first_request.nonce)


# --- RP-initiated logout --------------------------------------------------------------------------


def test_oidcc_rp_initiated_logout(browser: Browser, rp: RelyingParty) -> None:
    """end_session with id_token_hint, a registered post_logout_redirect_uri and a state
    signs the person out of Civicstack and comes back to the client with the state.
    """
    _request, _outcome, token, _claims = code_flow(browser, rp)
    from civicstack.identity.tests.conformance_support import POST_LOGOUT_REDIRECT_URI

    params = {
        "id_token_hint": token["id_token"],
        "post_logout_redirect_uri": POST_LOGOUT_REDIRECT_URI,
        "state": "logout-state-1",
        "client_id": rp.client_id,
    }
    response = browser.http.get(
        rp.provider.end_session_endpoint, params=params, allow_redirects=False, timeout=10
    )
    outcome = browser.follow(response)
    assert outcome.at_client, outcome.describe()
    assert outcome.location.startswith(POST_LOGOUT_REDIRECT_URI), outcome.describe()
    assert outcome.params.get("state") == "logout-state-1"
    again = authorization_request(rp, prompt="none")
    assert browser.authorize(again.url).params.get("error") == "login_required"


def test_rp_initiated_logout_unregistered_redirect_refused(
    browser: Browser, rp: RelyingParty
) -> None:
    """end_session never sends the person to a post-logout URI the client did not register."""
    _request, _outcome, token, _claims = code_flow(browser, rp)
    response = browser.http.get(
        rp.provider.end_session_endpoint,
        params={
            "id_token_hint": token["id_token"],
            "post_logout_redirect_uri": "https://attacker.example/",
        },
        allow_redirects=False,
        timeout=10,
    )
    outcome = browser.follow(response, consent=False)
    assert not outcome.location.startswith("https://attacker.example"), outcome.describe()
