# SPDX-License-Identifier: EUPL-1.2
"""A very small agency service that signs people in with Civicstack, as an integrator would.

It is a plain WSGI application using only an off-the-shelf OpenID Connect client: Authlib's
``OAuth2Session`` (authorization code flow, PKCE S256, state and nonce), discovery for every
endpoint, and joserfc to check the ID token against the provider's JWKS. It knows nothing
about Civicstack beyond its issuer URL and the client id and secret it was registered with.

Pages:

* ``/``: "Signed in as <email>" and the level of assurance (the ``acr``) once signed in,
  otherwise a "Sign in with Civicstack" link;
* ``/login``: starts the authorization request (state, nonce and the PKCE verifier are kept
  in this service's own session);
* ``/callback``: checks the state, exchanges the code, verifies the ID token (signature
  with the JWKS key named by ``kid``, ``iss``, ``aud``, ``exp``, ``iat``, ``nonce``), reads
  userinfo and signs the person in here;
* ``/logout``: RP-initiated logout: forgets the local session and sends the person to the
  provider's ``end_session_endpoint`` with ``id_token_hint``, ``post_logout_redirect_uri``
  and a state; ``/signed-out`` is where the provider sends them back.

``serve(...)`` runs it with wsgiref on 127.0.0.1 on a free port in a thread, for tests.
"""

from __future__ import annotations

import html
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qs, urlencode
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.jwk import KeySet

COOKIE = "sample_service_session"
LEVEL_NAMES = {
    "http://eidas.europa.eu/LoA/low": "low",
    "http://eidas.europa.eu/LoA/substantial": "substantial",
    "http://eidas.europa.eu/LoA/high": "high",
}
StartResponse = Callable[[str, list[tuple[str, str]]], Any]


@dataclass
class Visitor:
    """One browser's session at the sample service."""

    state: str | None = None
    nonce: str | None = None
    code_verifier: str | None = None
    email: str | None = None
    acr: str | None = None
    id_token: str | None = None
    claims: dict[str, Any] = field(default_factory=dict)
    logout_state: str | None = None


class SampleService:
    """The sample agency service as a WSGI application."""

    def __init__(
        self,
        *,
        issuer: str,
        client_id: str,
        client_secret: str,
        scope: str = "openid email profile",
        acr_values: str | None = None,
    ) -> None:
        self.issuer = issuer
        self.client_id = client_id
        self.client_secret = client_secret
        self.scope = scope
        self.acr_values = acr_values
        self.base_url = ""  # set by serve() once the port is known
        self.visitors: dict[str, Visitor] = {}
        self.errors: list[str] = []
        self._metadata: dict[str, Any] | None = None

    # --- OpenID Connect ---------------------------------------------------------------------

    @property
    def metadata(self) -> dict[str, Any]:
        """Return the provider's discovery document (fetched once)."""
        if self._metadata is None:
            response = requests.get(self.issuer + "/.well-known/openid-configuration", timeout=10)
            response.raise_for_status()
            self._metadata = dict(response.json())
            if self._metadata.get("issuer") != self.issuer:
                raise ValueError("the discovery document names another issuer")
        return self._metadata

    def oauth(self) -> OAuth2Session:
        """Return an Authlib client session for this service."""
        return OAuth2Session(
            client_id=self.client_id,
            client_secret=self.client_secret,
            scope=self.scope,
            redirect_uri=self.base_url + "/callback",
            code_challenge_method="S256",
        )

    def verify_id_token(self, id_token: str, *, nonce: str | None) -> dict[str, Any]:
        """Verify the ID token's signature and claims; return the claims."""
        jwks = requests.get(self.metadata["jwks_uri"], timeout=10).json()
        algorithms = self.metadata["id_token_signing_alg_values_supported"]
        token = jwt.decode(id_token, KeySet.import_key_set(jwks), algorithms=algorithms)
        registry = jwt.JWTClaimsRegistry(
            leeway=60,
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": self.client_id},
            exp={"essential": True},
            iat={"essential": True},
            sub={"essential": True},
        )
        registry.validate(token.claims)
        if token.claims.get("nonce") != nonce:
            raise ValueError("the ID token's nonce is not the one this service sent")
        return dict(token.claims)

    # --- WSGI ---------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Serve one request."""
        cookie = SimpleCookie(environ.get("HTTP_COOKIE", ""))
        session_id = cookie[COOKIE].value if COOKIE in cookie else ""
        if session_id not in self.visitors:
            session_id = secrets.token_urlsafe(24)
            self.visitors[session_id] = Visitor()
        visitor = self.visitors[session_id]
        path = environ.get("PATH_INFO", "/")
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        routes = {
            "/": self.home,
            "/login": self.login,
            "/callback": self.callback,
            "/logout": self.logout,
            "/signed-out": self.signed_out,
        }
        handler = routes.get(path)
        if path == "/favicon.ico":
            start_response("204 No Content", [("Cache-Control", "max-age=3600")])
            return [b""]
        if handler is None:
            status, headers, body = "404 Not Found", [], page("Page not found", "<p>Not found.</p>")
        else:
            try:
                status, headers, body = handler(visitor, query)
            except Exception as error:  # a sample service shows what went wrong
                self.errors.append(f"{path}: {error!r}")
                message = f"<p>Sign-in failed: {html.escape(repr(error))}</p>"
                status, headers, body = "400 Bad Request", [], page("Sign-in failed", message)
        headers = [
            *headers,
            ("Set-Cookie", f"{COOKIE}={session_id}; Path=/; HttpOnly; SameSite=Lax"),
            ("Cache-Control", "no-store"),
        ]
        if not any(name == "Content-Type" for name, _ in headers):
            headers.append(("Content-Type", "text/html; charset=utf-8"))
        start_response(status, headers)
        return [body.encode()]

    def home(self, visitor: Visitor, query: dict[str, str]) -> tuple[str, list[Any], str]:
        """Say who is signed in, and at which level, or offer to sign in."""
        if visitor.email:
            level = LEVEL_NAMES.get(visitor.acr or "", visitor.acr or "unknown")
            body = (
                f"<p id='who'>Signed in as {html.escape(visitor.email)}</p>"
                f"<p id='level'>Level of assurance: {html.escape(level)}</p>"
                "<p><a href='/logout'>Sign out</a></p>"
            )
        else:
            body = "<p><a href='/login'>Sign in with Civicstack</a></p>"
        return "200 OK", [], page("Sample agency service", body)

    def login(self, visitor: Visitor, query: dict[str, str]) -> tuple[str, list[Any], str]:
        """Send the browser to the provider with a fresh state, nonce and PKCE verifier."""
        visitor.state = generate_token(32)
        visitor.nonce = generate_token(32)
        visitor.code_verifier = generate_token(64)
        extra = {"acr_values": self.acr_values} if self.acr_values else {}
        url, _state = self.oauth().create_authorization_url(
            self.metadata["authorization_endpoint"],
            state=visitor.state,
            code_verifier=visitor.code_verifier,
            nonce=visitor.nonce,
            **extra,
        )
        return "302 Found", [("Location", url)], ""

    def callback(self, visitor: Visitor, query: dict[str, str]) -> tuple[str, list[Any], str]:
        """Finish the sign-in: state, code exchange, ID token checks, userinfo."""
        if "error" in query:
            raise ValueError(f"the provider answered {query['error']}")
        if not visitor.state or query.get("state") != visitor.state:
            raise ValueError("state mismatch")
        if query.get("iss") not in (None, self.issuer):
            raise ValueError("the response names another issuer (RFC 9207)")
        session = self.oauth()
        token = session.fetch_token(
            self.metadata["token_endpoint"],
            code=query["code"],
            code_verifier=visitor.code_verifier,
        )
        claims = self.verify_id_token(token["id_token"], nonce=visitor.nonce)
        info = session.get(self.metadata["userinfo_endpoint"], timeout=10)
        info.raise_for_status()
        if info.json().get("sub") != claims["sub"]:
            raise ValueError("userinfo names another subject")
        visitor.state = visitor.nonce = visitor.code_verifier = None
        visitor.email = str(info.json().get("email", claims["sub"]))
        visitor.acr = claims.get("acr")
        visitor.id_token = token["id_token"]
        visitor.claims = claims
        return "302 Found", [("Location", "/")], ""

    def logout(self, visitor: Visitor, query: dict[str, str]) -> tuple[str, list[Any], str]:
        """Sign out here, then at the provider (RP-initiated logout)."""
        id_token = visitor.id_token
        visitor.email = visitor.acr = visitor.id_token = None
        visitor.claims = {}
        if not id_token:
            return "302 Found", [("Location", "/")], ""
        visitor.logout_state = generate_token(24)
        params = {
            "id_token_hint": id_token,
            "post_logout_redirect_uri": self.base_url + "/signed-out",
            "state": visitor.logout_state,
            "client_id": self.client_id,
        }
        url = self.metadata["end_session_endpoint"] + "?" + urlencode(params)
        return "302 Found", [("Location", url)], ""

    def signed_out(self, visitor: Visitor, query: dict[str, str]) -> tuple[str, list[Any], str]:
        """Where the provider sends the browser after signing out."""
        if not visitor.logout_state or query.get("state") != visitor.logout_state:
            raise ValueError("logout state mismatch")
        visitor.logout_state = None
        body = "<p id='signed-out'>You have signed out of the sample service.</p>"
        body += "<p><a href='/'>Back to the start</a></p>"
        return "200 OK", [], page("Signed out", body)


def page(title: str, body: str) -> str:
    """Return a small, accessible HTML page."""
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)} - Sample agency service</title></head>"
        f"<body><main><h1>{html.escape(title)}</h1>{body}</main></body></html>"
    )


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return None


@contextmanager
def serve(service: SampleService) -> Iterator[str]:
    """Serve ``service`` on 127.0.0.1 on a free port in a thread; yield its base URL."""
    server = make_server(
        "127.0.0.1", 0, service, server_class=_ThreadingServer, handler_class=_QuietHandler
    )
    service.base_url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.daemon = True
    thread.start()
    try:
        yield service.base_url
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def wait_until_listening(url: str, *, seconds: float = 5.0) -> None:
    """Wait until ``url`` answers (the thread is up)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.05)
    raise TimeoutError(url)
