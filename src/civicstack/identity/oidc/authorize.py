"""The authorization request: read and check it, decide what the person must do, issue a code.

Errors follow OpenID Connect Core 3.1.2.6: while the client or its redirect URI cannot be
trusted, an error page; after that, the error goes back to the redirect URI with ``state``.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.http import HttpRequest, QueryDict
from django.utils import timezone

from civicstack.identity.constants import LEVEL_BY_ACR, Level
from civicstack.identity.models import Client, Consent, Grant
from civicstack.identity.oidc import claims as oidc_claims
from civicstack.identity.oidc import keys

SID_SESSION_KEY = "civicstack_oidc_sid"
_CHALLENGE = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")
_MAX_PARAM = 2048
_SINGLE = (
    "client_id",
    "redirect_uri",
    "response_type",
    "response_mode",
    "scope",
    "state",
    "nonce",
    "prompt",
    "max_age",
    "acr_values",
    "login_hint",
    "ui_locales",
    "id_token_hint",
    "code_challenge",
    "code_challenge_method",
    "request",
    "request_uri",
    "claims",
    "display",
    "registration",
)
LANGUAGES = ("en", "cy")


class PageError(Exception):
    """The request cannot be answered at the client: show an error page."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RedirectError(Exception):
    """An OAuth error to send back to the client's redirect URI."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


@dataclass
class AuthRequest:
    """A checked authorization request."""

    client: Client
    redirect_uri: str
    state: str
    scopes: list[str]
    nonce: str
    code_challenge: str
    prompt: set[str]
    max_age: int | None
    needed: Level
    login_hint: str
    language: str
    id_token_hint_sub: str | None
    has_id_token_hint: bool
    params: dict[str, str] = field(default_factory=dict)


def _params(request: HttpRequest) -> QueryDict:
    return request.POST if request.method == "POST" else request.GET


def language_of(params: QueryDict) -> str | None:
    """Return the first of ``ui_locales`` Civicstack speaks (en, cy), if any."""
    value = _get(params, "ui_locales") or ""
    for tag in str(value)[:200].split():
        base = tag.split("-")[0].lower()
        if base in LANGUAGES:
            return base
    return None


def _get(params: QueryDict, name: str) -> str:
    value = params.get(name, "")
    return value if isinstance(value, str) else ""


def params_of(request: HttpRequest) -> QueryDict:
    """Return the request's parameters: the query string, or the form body of a POST."""
    return _params(request)


def client_and_redirect(params: QueryDict) -> tuple[Client, str]:
    """Return the client and redirect URI, or raise PageError when they cannot be trusted."""
    for name in ("client_id", "redirect_uri"):
        if len(params.getlist(name)) > 1:
            raise PageError("duplicate_parameter")
    client_id = _get(params, "client_id")
    redirect_uri = _get(params, "redirect_uri")
    if not client_id or len(client_id) > 255:
        raise PageError("unknown_client")
    client = Client.objects.filter(client_id=client_id).select_related("agency").first()
    if client is None or client.disabled_at is not None:
        raise PageError("unknown_client")
    if "authorization_code" not in client.grant_types:
        raise PageError("unknown_client")
    if not redirect_uri or not client.redirect_uri_allowed(redirect_uri):
        raise PageError("bad_redirect_uri")
    return client, redirect_uri


def parse(params: QueryDict) -> AuthRequest:
    """Check the whole request; raise PageError or RedirectError when it is not acceptable."""
    client, redirect_uri = client_and_redirect(params)
    state = _get(params, "state")
    for name in _SINGLE:
        if len(params.getlist(name)) > 1:
            raise RedirectError("invalid_request", f"{name} is given more than once")
    for name in params:
        value = _get(params, name)
        if len(value) > _MAX_PARAM:
            raise RedirectError("invalid_request", f"{name[:40]} is too long")
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            raise RedirectError("invalid_request", "Parameters cannot contain control characters")
    if _get(params, "request"):
        raise RedirectError("request_not_supported", "Request objects are not supported")
    if _get(params, "request_uri"):
        raise RedirectError("request_uri_not_supported", "request_uri is not supported")
    response_type = _get(params, "response_type")
    if not response_type:
        raise RedirectError("invalid_request", "response_type is required")
    if response_type != "code":
        raise RedirectError("unsupported_response_type", "Only response_type=code is supported")
    if (_get(params, "response_mode") or "query") != "query":
        raise RedirectError("invalid_request", "Only response_mode=query is supported")
    requested = _get(params, "scope").split()
    if "openid" not in requested:
        raise RedirectError("invalid_scope", "The openid scope is required")
    allowed = set(client.scopes_allowed)
    # Scope values not understood or not registered for the client are ignored (OIDC 3.1.2.1).
    scopes = [scope for scope in dict.fromkeys(requested) if scope in allowed]
    challenge = _get(params, "code_challenge")
    method = _get(params, "code_challenge_method")
    if not challenge:
        raise RedirectError("invalid_request", "code_challenge is required (PKCE, S256)")
    if method != "S256":
        raise RedirectError(
            "invalid_request", "code_challenge_method must be S256; plain is not accepted"
        )
    if not _CHALLENGE.match(challenge):
        raise RedirectError("invalid_request", "code_challenge is not a valid S256 challenge")
    prompt = set(_get(params, "prompt").split())
    if "none" in prompt and len(prompt) > 1:
        raise RedirectError("invalid_request", "prompt=none cannot be combined with other values")
    max_age: int | None = None
    if _get(params, "max_age") != "":
        raw = _get(params, "max_age")
        if not raw.isascii() or not raw.isdigit() or len(raw) > 10:
            raise RedirectError("invalid_request", "max_age must be a whole number of seconds")
        max_age = int(raw)
    needed = client.level
    for value in _get(params, "acr_values").split():
        level = LEVEL_BY_ACR.get(value)
        if level is not None and level.rank > needed.rank:
            needed = level
    nonce = _get(params, "nonce")
    if len(nonce) > 255:
        raise RedirectError("invalid_request", "nonce is too long")
    hint = _get(params, "id_token_hint")
    hint_sub: str | None = None
    if hint:
        hint_claims = keys.verify(hint)
        audience = hint_claims.get("aud") if hint_claims else None
        audiences = audience if isinstance(audience, list) else [audience]
        if hint_claims is None or client.client_id not in audiences:
            raise RedirectError("invalid_request", "id_token_hint is not an ID token we issued")
        hint_sub = str(hint_claims.get("sub", ""))
    return AuthRequest(
        client=client,
        redirect_uri=redirect_uri,
        state=state,
        scopes=scopes,
        nonce=nonce,
        code_challenge=challenge,
        prompt=prompt,
        max_age=max_age,
        needed=needed,
        login_hint=_get(params, "login_hint")[:254],
        language=language_of(params) or "",
        id_token_hint_sub=hint_sub,
        has_id_token_hint=bool(hint),
        params={key: _get(params, key) for key in params if key in _SINGLE},
    )


def redirect_with(redirect_uri: str, values: dict[str, str]) -> str:
    """Return ``redirect_uri`` with ``values`` added to its query (existing query kept)."""
    parts = urlsplit(redirect_uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [(key, value) for key, value in values.items() if value != ""]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


def error_redirect(redirect_uri: str, state: str, error: str, description: str) -> str:
    """Return the redirect URI carrying an OAuth error, ``state`` and ``iss``."""
    return redirect_with(
        redirect_uri,
        {
            "error": error,
            "error_description": description,
            "state": state,
            "iss": str(settings.OIDC_ISSUER),
        },
    )


def consent_covers(*, user: Any, auth: AuthRequest) -> bool:
    """Check whether a remembered consent covers every scope asked (never national_id)."""
    wanted = set(auth.scopes)
    if wanted & oidc_claims.EXPLICIT_SCOPES:
        return False
    consent = Consent.objects.filter(user=user, client=auth.client, revoked_at__isnull=True).first()
    return consent is not None and wanted <= set(consent.scopes)


def sid(request: HttpRequest) -> str:
    """Return this browser session's OpenID Connect session id (``sid``)."""
    value = request.session.get(SID_SESSION_KEY)
    if not isinstance(value, str) or not value:
        value = secrets.token_urlsafe(16)
        request.session[SID_SESSION_KEY] = value
    return value


def code_issue(
    *,
    request: HttpRequest,
    user: Any,
    auth: AuthRequest,
    scopes: list[str],
    acr: str,
    amr: list[str],
    auth_time: int,
) -> str:
    """Store a new authorization code and return the redirect that delivers it."""
    code = secrets.token_urlsafe(32)
    Grant.objects.create(
        application=auth.client,
        user=user,
        code=code,
        expires=timezone.now() + timedelta(seconds=int(settings.OIDC_CODE_SECONDS)),
        redirect_uri=auth.redirect_uri,
        scope=" ".join(scopes),
        code_challenge=auth.code_challenge,
        code_challenge_method="S256",
        nonce=auth.nonce,
        claims="",
        auth_time=auth_time,
        acr=acr,
        amr=amr,
        sid=sid(request),
        include_auth_time=auth.max_age is not None or auth.client.require_auth_time,
    )
    Consent.objects.filter(user=user, client=auth.client, revoked_at__isnull=True).update(
        last_used_at=timezone.now()
    )
    return redirect_with(
        auth.redirect_uri,
        {"code": code, "state": auth.state, "iss": str(settings.OIDC_ISSUER)},
    )
