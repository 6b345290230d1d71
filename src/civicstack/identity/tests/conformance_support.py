"""What the OpenID Connect conformance checks share: a relying party built on Authlib.

The checks replay, locally, what the OpenID Foundation's Basic OP and Config OP test plans
do against a provider: they talk to Civicstack only over HTTP (a pytest-django
``live_server``), as an agency's service would. The person signs in through the real
sign-in form in a ``requests`` session (the "browser"), and the relying party is Authlib's
``OAuth2Session`` (PKCE S256, state, nonce) with ID tokens verified by joserfc against the
provider's published JWKS. Nothing here reads the provider's tables or calls its code,
except ``client_register`` (the documented way to register a client) and the test
factories for people.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey

from civicstack.identity.constants import Level

# Every test relying party uses this redirect URI unless it says otherwise. Nothing listens
# there: the "browser" never follows a redirect to it, it only reads the Location header.
REDIRECT_URI = "https://rp.example.test/callback"
POST_LOGOUT_REDIRECT_URI = "https://rp.example.test/signed-out"
ALL_SCOPES = ["openid", "profile", "email", "phone", "address"]
# What the OpenID Foundation suite tolerates between the two clocks (its default is 5 min).
CLOCK_SKEW_SECONDS = 300
# Discovery metadata OpenID Connect Discovery 1.0 section 3 makes REQUIRED.
REQUIRED_METADATA = (
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "jwks_uri",
    "response_types_supported",
    "subject_types_supported",
    "id_token_signing_alg_values_supported",
)
# Not required by the specification, but the OpenID Foundation Config OP plan expects them
# from a provider that has these endpoints and features.
EXPECTED_METADATA = (
    "userinfo_endpoint",
    "scopes_supported",
    "claims_supported",
    "grant_types_supported",
    "token_endpoint_auth_methods_supported",
    "code_challenge_methods_supported",
    "end_session_endpoint",
    "acr_values_supported",
)
SESSION_COOKIE = "civicstack_session"


def b64url(data: bytes) -> str:
    """Return ``data`` base64url-encoded without padding, as JOSE wants."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode base64url with or without padding."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jwt_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return a compact JWT's header and claims without verifying anything."""
    header, payload, _signature = token.split(".")
    return json.loads(b64url_decode(header)), json.loads(b64url_decode(payload))


# --- The provider, as discovery describes it --------------------------------------------------


@dataclass
class Provider:
    """Civicstack as a relying party sees it: the live server and its discovery document."""

    base_url: str
    issuer: str
    metadata: dict[str, Any]

    @property
    def authorization_endpoint(self) -> str:
        """Return where authorization requests go."""
        return str(self.metadata["authorization_endpoint"])

    @property
    def token_endpoint(self) -> str:
        """Return the token endpoint."""
        return str(self.metadata["token_endpoint"])

    @property
    def userinfo_endpoint(self) -> str:
        """Return the userinfo endpoint."""
        return str(self.metadata["userinfo_endpoint"])

    @property
    def end_session_endpoint(self) -> str:
        """Return the RP-initiated logout endpoint."""
        return str(self.metadata["end_session_endpoint"])

    def jwks(self) -> dict[str, Any]:
        """Fetch the published key set (every call: keys may rotate between tests)."""
        response = requests.get(self.metadata["jwks_uri"], timeout=10)
        assert response.status_code == 200, response.text[:500]
        assert response.headers["Content-Type"].startswith("application/"), response.headers
        return dict(response.json())


def provider_discover(live_server: Any, settings: Any) -> Provider:
    """Point the issuer at the live server and read the discovery document, as an RP would."""
    from civicstack.identity.services import signing_keys_ensure

    # Keys are made by `civicstack oidc_keys` in a deployment; a flushed test database has none.
    signing_keys_ensure()
    issuer = str(live_server.url) + "/oidc"
    settings.OIDC_ISSUER = issuer
    settings.SITE_URL = str(live_server.url)
    response = requests.get(issuer + "/.well-known/openid-configuration", timeout=10)
    assert response.status_code == 200, response.text[:500]
    return Provider(base_url=str(live_server.url), issuer=issuer, metadata=response.json())


# --- Relying parties ----------------------------------------------------------------------------


@dataclass
class RelyingParty:
    """A client registered with Civicstack, and how to talk to the provider as it."""

    provider: Provider
    client_id: str
    client_secret: str | None
    redirect_uri: str
    scopes: list[str]
    auth_method: str = "client_secret_basic"
    id_token_alg: str = "RS256"
    private_jwk: dict[str, Any] | None = None

    def oauth(self, *, assertion_seconds: int | None = None, **kwargs: Any) -> OAuth2Session:
        """Return a fresh Authlib session for this client (PKCE S256 unless told otherwise).

        For private_key_jwt, ``assertion_seconds`` sets the client assertion's lifetime
        (Authlib's default is 3600 seconds).
        """
        kwargs.setdefault("code_challenge_method", "S256")
        kwargs.setdefault("scope", " ".join(self.scopes))
        if self.auth_method == "private_key_jwt":
            assert self.private_jwk is not None
            session = OAuth2Session(
                client_id=self.client_id,
                client_secret=self.private_jwk,
                token_endpoint_auth_method="private_key_jwt",
                redirect_uri=self.redirect_uri,
                **kwargs,
            )
            claims = {"exp": int(time.time()) + assertion_seconds} if assertion_seconds else None
            session.register_client_auth_method(
                PrivateKeyJWT(self.provider.token_endpoint, claims=claims, alg="RS256")
            )
            return session
        return OAuth2Session(
            client_id=self.client_id,
            client_secret=self.client_secret,
            token_endpoint_auth_method=self.auth_method,
            redirect_uri=self.redirect_uri,
            **kwargs,
        )

    def basic_auth(self) -> tuple[str, str]:
        """Return the client id and secret for HTTP Basic authentication."""
        assert self.client_secret is not None
        return (self.client_id, self.client_secret)


def platform_admin() -> Any:
    """Return a platform admin to register clients as (an actor with the right to)."""
    from civicstack.accounts.constants import Role
    from civicstack.accounts.tests.factories import staff_create

    return staff_create(role=Role.PLATFORM_ADMIN, is_superuser=True)


def client_register(
    provider: Provider,
    *,
    actor: Any = None,
    redirect_uris: list[str] | None = None,
    scopes: list[str] | None = None,
    required_level: Level = Level.LOW,
    auth_method: str = "client_secret_basic",
    grant_types: list[str] | None = None,
    id_token_alg: str = "RS256",
    post_logout_redirect_uris: list[str] | None = None,
    name: str = "Sample agency service",
) -> RelyingParty:
    """Register a client through identity.services.client_register and describe it."""
    from civicstack.identity.services import client_register as register

    redirect_uris = redirect_uris or [REDIRECT_URI]
    scopes = scopes or list(ALL_SCOPES)
    private_jwk: dict[str, Any] | None = None
    jwks: dict[str, Any] | None = None
    if auth_method == "private_key_jwt":
        key = RSAKey.generate_key(2048, parameters={"kid": "rp-key-1", "alg": "RS256"})
        private_jwk = key.as_dict(private=True)
        jwks = {"keys": [key.as_dict(private=False)]}
    client, secret = register(
        actor=actor if actor is not None else platform_admin(),
        name=name,
        redirect_uris=redirect_uris,
        scopes=scopes,
        required_level=required_level,
        auth_method=auth_method,
        grant_types=grant_types or ["authorization_code", "refresh_token"],
        jwks=jwks,
        id_token_alg=id_token_alg,
        post_logout_redirect_uris=(
            post_logout_redirect_uris
            if post_logout_redirect_uris is not None
            else [POST_LOGOUT_REDIRECT_URI]
        ),
    )
    return RelyingParty(
        provider=provider,
        client_id=str(client.client_id),
        client_secret=secret,
        redirect_uri=redirect_uris[0],
        scopes=scopes,
        auth_method=auth_method,
        id_token_alg=id_token_alg,
        private_jwk=private_jwk,
    )


# --- The person's browser -------------------------------------------------------------------------


class _Forms(HTMLParser):
    """Collect every form's method, action and inputs (hidden, checked, and buttons)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.forms.append(
                {
                    "method": values.get("method", "get").lower(),
                    "action": values.get("action", ""),
                    "fields": [],
                    "buttons": [],
                }
            )
        elif tag in ("input", "button", "textarea", "select") and self.forms:
            kind = values.get("type", "submit" if tag == "button" else "text").lower()
            entry = (values.get("name", ""), values.get("value", ""))
            if kind == "submit":
                self.forms[-1]["buttons"].append(entry)
            elif kind in ("checkbox", "radio"):
                if "checked" in values:
                    self.forms[-1]["fields"].append(entry)
            elif entry[0]:
                self.forms[-1]["fields"].append(entry)


def html_forms(html: str) -> list[dict[str, Any]]:
    """Return the forms of a page (see ``_Forms``)."""
    parser = _Forms()
    parser.feed(html)
    return parser.forms


@dataclass
class Outcome:
    """Where an authorization request ended: back at the client, or on a Civicstack page."""

    status: int
    location: str = ""
    params: dict[str, str] = field(default_factory=dict)
    fragment: dict[str, str] = field(default_factory=dict)
    body: str = ""
    history: list[str] = field(default_factory=list)

    @property
    def at_client(self) -> bool:
        """Return True when the provider redirected back to the client."""
        return bool(self.location) and not self.location.startswith("/")

    @property
    def code(self) -> str:
        """Return the authorization code, failing clearly when there is none."""
        assert "code" in self.params, f"no code: {self.describe()}"
        return self.params["code"]

    def describe(self) -> str:
        """Say where the request ended, for assertion messages."""
        return (
            f"status {self.status}, location {self.location!r}, params {self.params}, "
            f"via {self.history}, body {self.body[:600]!r}"
        )


class Browser:
    """A person's browser: a cookie jar on the live server, following only its redirects."""

    def __init__(self, provider: Provider) -> None:
        self.provider = provider
        self.http = requests.Session()
        self.http.headers["Accept-Language"] = "en-GB"
        self.signed_in_as: str | None = None

    def sign_in(self, email: str, password: str, *, totp_secret: str | None = None) -> None:
        """Sign in through the real sign-in form (and the code page for an app)."""
        url = self.provider.base_url + "/en/account/sign-in"
        page = self.http.get(url, timeout=10)
        assert page.status_code == 200, page.text[:500]
        response = self.http.post(
            url,
            data={"email": email, "password": password, **_csrf(page.text)},
            allow_redirects=False,
            timeout=10,
        )
        assert response.status_code == 302, f"sign-in failed: {response.text[:1500]}"
        if response.headers["Location"].endswith("/sign-in/code"):
            assert totp_secret is not None, "this person has an authenticator app"
            self.enter_code(urljoin(url, response.headers["Location"]), totp_secret)
        assert SESSION_COOKIE in self.http.cookies, "no session cookie after sign-in"
        self.signed_in_as = email

    def enter_code(self, url: str, totp_secret: str) -> None:
        """Answer a code page with the authenticator app's current code."""
        import pyotp

        page = self.http.get(url, timeout=10)
        code = pyotp.TOTP(totp_secret).now()
        response = self.http.post(
            url, data={"code": code, **_csrf(page.text)}, allow_redirects=False, timeout=10
        )
        assert response.status_code == 302, f"code refused: {response.text[:1500]}"

    def sign_out(self) -> None:
        """Forget the session cookie, as closing the browser would."""
        self.http.cookies.clear()
        self.signed_in_as = None

    def authorize(
        self,
        url: str,
        *,
        method: str = "GET",
        data: Mapping[str, str] | None = None,
        consent: bool = True,
        max_hops: int = 8,
    ) -> Outcome:
        """Send an authorization request and follow Civicstack's own redirects.

        Stops at the first redirect to another site (the client), at the sign-in page, or
        at a page that asks nothing; when ``consent`` it answers yes to a page that asks
        (consent, continue, logout confirmation), otherwise it stops there too.
        """
        response = self.http.request(method, url, data=data, allow_redirects=False, timeout=15)
        return self.follow(response, consent=consent, max_hops=max_hops)

    def follow(
        self, response: requests.Response, *, consent: bool = True, max_hops: int = 8
    ) -> Outcome:
        """Follow Civicstack's redirects from ``response`` (see ``authorize``)."""
        history: list[str] = []
        for _hop in range(max_hops):
            history.append(f"{response.request.method} {response.url} -> {response.status_code}")
            location = response.headers.get("Location", "")
            if response.is_redirect:
                target = urljoin(response.url, location)
                if not target.startswith(self.provider.base_url + "/"):
                    return _outcome(response.status_code, target, history)
                if _is_sign_in(target):
                    parts = urlsplit(target)
                    return Outcome(
                        status=response.status_code,
                        location=parts.path + ("?" + parts.query if parts.query else ""),
                        history=history,
                    )
                response = self.http.get(target, allow_redirects=False, timeout=15)
                continue
            form = _consent_form(response.text) if response.status_code == 200 else None
            if form is not None and consent:
                response = self._approve(response.url, form)
                continue
            return Outcome(status=response.status_code, body=response.text, history=history)
        raise AssertionError(f"too many redirects: {history}")

    def sign_in_page(self, outcome: Outcome) -> str:
        """Open the sign-in page an authorization request was sent to; return its HTML."""
        assert outcome.location and _is_sign_in(outcome.location), outcome.describe()
        page = self.http.get(self.provider.base_url + outcome.location, timeout=10)
        assert page.status_code == 200, page.text[:500]
        return page.text

    def sign_in_and_continue(
        self,
        outcome: Outcome,
        email: str,
        password: str,
        *,
        totp_secret: str | None = None,
        consent: bool = True,
    ) -> Outcome:
        """Sign in on the page an authorization request stopped at, then carry on with it."""
        html = self.sign_in_page(outcome)
        form = next(
            form
            for form in html_forms(html)
            if form["method"] == "post" and any(name == "password" for name, _ in form["fields"])
        )
        fields = dict(form["fields"])
        fields.update({"email": email, "password": password})
        page_url = self.provider.base_url + outcome.location
        response = self.http.post(
            urljoin(page_url, form["action"] or page_url),
            data=fields,
            allow_redirects=False,
            timeout=10,
        )
        assert response.status_code == 302, f"sign-in failed: {response.text[:1500]}"
        if response.headers["Location"].endswith("/sign-in/code"):
            assert totp_secret is not None, "this person has an authenticator app"
            code_url = urljoin(page_url, response.headers["Location"])
            page = self.http.get(code_url, timeout=10)
            import pyotp

            response = self.http.post(
                code_url,
                data={"code": pyotp.TOTP(totp_secret).now(), **_csrf(page.text)},
                allow_redirects=False,
                timeout=10,
            )
            assert response.status_code == 302, f"code refused: {response.text[:1500]}"
        self.signed_in_as = email
        return self.follow(response, consent=consent)

    def _approve(self, page_url: str, form: dict[str, Any]) -> requests.Response:
        fields = list(form["fields"])
        button = _approve_button(form["buttons"])
        if button is not None and button[0]:
            fields.append(button)
        return self.http.post(
            urljoin(page_url, form["action"] or page_url),
            data=fields,
            allow_redirects=False,
            timeout=15,
        )


def _csrf(html: str) -> dict[str, str]:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return {"csrfmiddlewaretoken": match.group(1)}


def _is_sign_in(url: str) -> bool:
    """Return True for the sign-in page, and the password page a signed-in person is sent
    to for prompt=login or max_age (``accounts:reauthenticate``)."""
    path = urlsplit(url).path
    return "/account/sign-in" in path or "/account/confirm-it-is-you" in path


_APPROVE_WORDS = ("allow", "approve", "agree", "accept", "continue", "yes")


def _approve_button(buttons: Iterable[tuple[str, str]]) -> tuple[str, str] | None:
    for name, value in buttons:
        if any(word in f"{name} {value}".lower() for word in _APPROVE_WORDS):
            return (name, value)
    return None


def _consent_form(html: str) -> dict[str, Any] | None:
    """Return the form that asks the person to go on, if any: consent ("Allow"), a
    continue page, or the logout confirmation ("yes"); a POST form with an approving
    button and no credentials in it.
    """
    for form in html_forms(html):
        names = {name for name, _value in form["fields"]}
        if form["method"] == "post" and (
            "allow" in names
            or "client_id" in names
            or (
                _approve_button(form["buttons"]) is not None
                and "csrfmiddlewaretoken" in names
                and not {"email", "password", "code"} & names
            )
        ):
            return form
    return None


def _outcome(status: int, target: str, history: list[str]) -> Outcome:
    parts = urlsplit(target)
    params = {key: values[0] for key, values in parse_qs(parts.query).items()}
    fragment = {key: values[0] for key, values in parse_qs(parts.fragment).items()}
    return Outcome(
        status=status, location=target, params=params, fragment=fragment, history=history
    )


# --- Authorization requests ---------------------------------------------------------------------


@dataclass
class Request:
    """One authorization request's secrets, kept by the client for the callback."""

    url: str
    state: str
    nonce: str | None
    code_verifier: str | None


def authorization_request(
    rp: RelyingParty,
    *,
    nonce: bool = True,
    pkce: str | None = "S256",
    scope: str | None = None,
    redirect_uri: str | None = None,
    **params: str | None,
) -> Request:
    """Build an authorization request URL the way Authlib does (state, nonce, PKCE S256)."""
    state = generate_token(24)
    nonce_value = generate_token(24) if nonce else None
    verifier = generate_token(48) if pkce else None
    query: dict[str, str] = {
        "response_type": "code",
        "client_id": rp.client_id,
        "redirect_uri": redirect_uri or rp.redirect_uri,
        "scope": scope or " ".join(rp.scopes),
        "state": state,
    }
    if nonce_value:
        query["nonce"] = nonce_value
    if pkce == "S256" and verifier:
        query["code_challenge"] = create_s256_code_challenge(verifier)
        query["code_challenge_method"] = "S256"
    elif pkce == "plain" and verifier:
        query["code_challenge"] = verifier
        query["code_challenge_method"] = "plain"
    overrides_type = "response_type" in params
    query.update(params)
    query = {key: value for key, value in query.items() if value is not None}
    if pkce == "S256" and not overrides_type:
        session = rp.oauth(scope=query.get("scope"))
        url, _state = session.create_authorization_url(
            rp.provider.authorization_endpoint,
            code_verifier=verifier,
            **{key: value for key, value in query.items() if key not in _AUTHLIB_OWN},
        )
        return Request(url=url, state=state, nonce=nonce_value, code_verifier=verifier)
    url = rp.provider.authorization_endpoint + "?" + urlencode(query)
    return Request(url=url, state=state, nonce=nonce_value, code_verifier=verifier)


# Parameters Authlib's create_authorization_url sets itself from the session.
_AUTHLIB_OWN = {"response_type", "client_id", "code_challenge", "code_challenge_method"}


def exchange(
    rp: RelyingParty,
    request: Request,
    code: str,
    *,
    assertion_seconds: int | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """Exchange ``code`` at the token endpoint with Authlib; return the token response."""
    session = rp.oauth(assertion_seconds=assertion_seconds)
    token = session.fetch_token(
        rp.provider.token_endpoint,
        code=code,
        code_verifier=request.code_verifier,
        **kwargs,
    )
    return dict(token)


def token_post(rp: RelyingParty, data: Mapping[str, str]) -> requests.Response:
    """POST to the token endpoint with Basic client authentication, without Authlib's checks."""
    return requests.post(
        rp.provider.token_endpoint, data=dict(data), auth=rp.basic_auth(), timeout=15
    )


# --- ID tokens ------------------------------------------------------------------------------------


def key_for(jwks: Mapping[str, Any], kid: str) -> dict[str, Any]:
    """Return the published key with ``kid``; fail when there is none or several."""
    matches = [key for key in jwks.get("keys", []) if key.get("kid") == kid]
    assert len(matches) == 1, f"kid {kid!r} matches {len(matches)} published keys"
    return dict(matches[0])


def id_token_verify(
    rp: RelyingParty,
    id_token: str,
    *,
    nonce: str | None,
    access_token: str | None = None,
    alg: str | None = None,
) -> dict[str, Any]:
    """Check an ID token as the OpenID Foundation suite does; return its claims.

    Header: ``alg`` the client's registered algorithm (never none or HS*), a ``kid`` naming
    exactly one key in the JWKS, whose ``use`` (if given) is ``sig`` and ``alg`` (if given)
    matches. Signature: verified with that key alone. Claims: ``iss`` the issuer, ``aud``
    holds the client id (with ``azp`` when there are several), ``exp`` in the future, ``iat``
    now (within the clock skew), ``sub`` present, ``nonce`` exactly the one sent (absent when
    none was sent), and ``at_hash`` matching the access token when present.
    """
    header, unverified = jwt_parts(id_token)
    expected_alg = alg or rp.id_token_alg
    assert header.get("alg") == expected_alg, f"alg {header.get('alg')}, expected {expected_alg}"
    assert "kid" in header, f"no kid in the ID token header {header}"
    published = key_for(rp.provider.jwks(), header["kid"])
    assert published.get("use", "sig") == "sig", published
    assert published.get("alg", expected_alg) == expected_alg, published
    key = (RSAKey if published["kty"] == "RSA" else ECKey).import_key(published)
    try:
        token = jwt.decode(id_token, key, algorithms=[expected_alg])
    except JoseError as error:
        raise AssertionError(f"ID token signature does not verify: {error!r}") from error
    claims = dict(token.claims)
    assert claims == unverified
    now = time.time()
    assert claims.get("iss") == rp.provider.issuer, f"iss {claims.get('iss')!r}"
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    assert rp.client_id in audiences, f"aud {audience!r}"
    if len(audiences) > 1:
        assert claims.get("azp") == rp.client_id, claims
    assert isinstance(claims.get("exp"), int | float), claims
    assert claims["exp"] > now, "expired ID token"
    assert isinstance(claims.get("iat"), int | float), claims
    assert now - CLOCK_SKEW_SECONDS <= claims["iat"] <= now + CLOCK_SKEW_SECONDS, claims
    assert claims["exp"] > claims["iat"], claims
    assert isinstance(claims.get("sub"), str), claims
    assert claims["sub"], claims
    assert len(claims["sub"]) <= 255, claims
    if nonce is None:
        assert "nonce" not in claims, f"a nonce nobody sent: {claims.get('nonce')!r}"
    else:
        assert claims.get("nonce") == nonce, f"nonce {claims.get('nonce')!r}, sent {nonce!r}"
    if access_token is not None and "at_hash" in claims:
        assert claims["at_hash"] == left_half_hash(access_token, expected_alg), "at_hash"
    return claims


def left_half_hash(value: str, alg: str) -> str:
    """Return the at_hash / c_hash of ``value`` for a signing algorithm (OIDC core 3.1.3.6)."""
    bits = int(alg[2:])
    digest = {256: hashlib.sha256, 384: hashlib.sha384, 512: hashlib.sha512}[bits]
    full = digest(value.encode("ascii")).digest()
    return b64url(full[: len(full) // 2])


def forge_alg_none(claims: Mapping[str, Any], kid: str | None = None) -> str:
    """Return an unsigned JWT (alg none) carrying ``claims``."""
    header: dict[str, Any] = {"alg": "none", "typ": "JWT"}
    if kid:
        header["kid"] = kid
    return ".".join(
        [
            b64url(json.dumps(header).encode()),
            b64url(json.dumps(dict(claims)).encode()),
            "",
        ]
    )


def forge_hs256_with_public_key(claims: Mapping[str, Any], public_jwk: Mapping[str, Any]) -> str:
    """Return a JWT "signed" with HS256 using the provider's public key as the shared secret.

    The classic algorithm-confusion attack: a verifier that takes the algorithm from the
    header and the key from its store would check the HMAC with the public key's bytes. Both
    the PEM and the JWK JSON of the public key are plausible secrets; this uses the PEM.
    """
    import hmac

    key = (RSAKey if public_jwk["kty"] == "RSA" else ECKey).import_key(dict(public_jwk))
    secret = key.as_pem(private=False)
    header = {"alg": "HS256", "typ": "JWT", "kid": public_jwk.get("kid")}
    signing_input = (
        b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(dict(claims)).encode())
    )
    signature = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return signing_input + "." + b64url(signature)


def restore_migration_rows() -> None:
    """Re-create the singleton rows data migrations make, which live-server tests flush.

    Every ``live_server`` test is transactional and ends by emptying every table, including
    the audit log head the audit trail chains from; registering a client writes an audit
    event, so the rows come back before each test (the migrations' own functions, so this
    stays in step with them).
    """
    import importlib

    from django.apps import apps

    audit_head = importlib.import_module("civicstack.core.migrations.0002_audit_log_head")
    catalogue_state = importlib.import_module(
        "civicstack.catalogue.migrations.0002_catalogue_state"
    )
    audit_head.create_head(apps, None)
    catalogue_state.create_state(apps, None)
