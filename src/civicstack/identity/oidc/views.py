"""OpenID Connect endpoints, all under /oidc/: discovery, JWKS, authorize, consent, token,
revoke, userinfo and RP-initiated logout."""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
    QueryDict,
)
from django.shortcuts import render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from oauth2_provider.models import AccessToken, RefreshToken
from oauth2_provider.views import RevokeTokenView, TokenView

from civicstack.accounts import services as account_services
from civicstack.accounts.constants import SESSION_STARTED_KEY
from civicstack.identity import selectors as assurance
from civicstack.identity import services
from civicstack.identity.constants import ACR_VALUES, SCOPE_ALL_SERVICES
from civicstack.identity.models import Client, Grant, SigningAlg
from civicstack.identity.oidc import authorize as flow
from civicstack.identity.oidc import claims as oidc_claims
from civicstack.identity.oidc import keys

PENDING_SESSION_KEY = "civicstack_oidc_pending"
_PENDING_MAX = 5
_PENDING_SECONDS = 30 * 60
# Authorization requests that sent the person to (re)authenticate, by request, with when
# they were sent: an auth_time from then on satisfies that request's prompt=login and
# max_age, so the request is not sent round again.
FRESH_SESSION_KEY = "civicstack_oidc_fresh"
_FRESH_MAX = 5
_FRESH_SECONDS = 30 * 60

PAGE_ERRORS = {
    "unknown_client": gettext_lazy(
        "The service that sent you here is not registered, or has been switched off."
    ),
    "bad_redirect_uri": gettext_lazy(
        "The service that sent you here gave an address to return to that is not registered."
    ),
    "duplicate_parameter": gettext_lazy("The link that brought you here is not valid."),
    "expired": gettext_lazy(
        "Your sign-in request has expired. Go back to the service and try again."
    ),
}


def _issuer() -> str:
    return str(settings.OIDC_ISSUER)


def _json(data: dict[str, Any], status: int = 200, **headers: str) -> JsonResponse:
    response = JsonResponse(data, status=status)
    for key, value in headers.items():
        response[key.replace("_", "-")] = value
    return response


# --- Discovery and keys -----------------------------------------------------------------


@require_GET
def discovery(request: HttpRequest) -> JsonResponse:
    """OpenID Provider metadata (OpenID Connect Discovery 1.0)."""
    from oauth2_provider.settings import oauth2_settings

    issuer = _issuer()
    metadata = {
        "issuer": issuer,
        "authorization_endpoint": issuer + "/authorize",
        "token_endpoint": issuer + "/token",
        "userinfo_endpoint": issuer + "/userinfo",
        "jwks_uri": issuer + "/jwks",
        "end_session_endpoint": issuer + "/logout",
        "revocation_endpoint": issuer + "/revoke",
        "scopes_supported": list(oauth2_settings.SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": list(SigningAlg.values),
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
        ],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256"],
        "revocation_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
        ],
        "code_challenge_methods_supported": ["S256"],
        "acr_values_supported": list(ACR_VALUES.values()),
        "claims_supported": oidc_claims.claims_supported(),
        "claim_types_supported": ["normal"],
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "require_request_uri_registration": False,
        "prompt_values_supported": ["none", "login", "consent"],
        "display_values_supported": ["page"],
        "ui_locales_supported": list(flow.LANGUAGES),
        "claims_locales_supported": ["en"],
        "userinfo_signing_alg_values_supported": [],
        "frontchannel_logout_supported": False,
        "backchannel_logout_supported": False,
        "authorization_response_iss_parameter_supported": True,
        "service_documentation": settings.SITE_URL.rstrip("/") + "/",
    }
    return _json(metadata, Cache_Control="public, max-age=300")


@require_GET
def jwks(request: HttpRequest) -> JsonResponse:
    """The public signing keys: active ones, and retired ones while their tokens may live."""
    return _json(keys.jwks_document(), Cache_Control=f"public, max-age={keys.JWKS_MAX_AGE}")


# --- Authorization ----------------------------------------------------------------------


def _error_page(request: HttpRequest, code: str, status: int = 400) -> HttpResponse:
    return render(
        request,
        "identity/oidc/error.html",
        {"message": PAGE_ERRORS.get(code, PAGE_ERRORS["duplicate_parameter"])},
        status=status,
    )


def _authorize_url(params: dict[str, str]) -> str:
    """Return the authorization request again, every parameter kept (so prompt=login,
    max_age and id_token_hint are checked again on the way back)."""
    return reverse("oidc:authorize") + "?" + urlencode(params)


def _request_key(auth: flow.AuthRequest) -> str:
    raw = "\0".join(
        (auth.client.client_id, auth.redirect_uri, auth.code_challenge, auth.state, auth.nonce)
    )
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def _fresh_marks(request: HttpRequest) -> dict[str, int]:
    stored = request.session.get(FRESH_SESSION_KEY)
    now = int(time.time())
    if not isinstance(stored, dict):
        return {}
    return {
        key: value
        for key, value in stored.items()
        if isinstance(key, str) and isinstance(value, int) and 0 <= now - value < _FRESH_SECONDS
    }


def _fresh_since(request: HttpRequest, auth: flow.AuthRequest) -> int | None:
    """Return when this request sent the person to authenticate, if it did."""
    return _fresh_marks(request).get(_request_key(auth))


def _fresh_mark(request: HttpRequest, auth: flow.AuthRequest) -> None:
    marks = _fresh_marks(request)
    while len(marks) >= _FRESH_MAX:
        marks.pop(min(marks, key=lambda key: marks[key]))
    marks[_request_key(auth)] = int(time.time())
    request.session[FRESH_SESSION_KEY] = marks


def _fresh_clear(request: HttpRequest, auth: flow.AuthRequest) -> None:
    if FRESH_SESSION_KEY in request.session:
        marks = _fresh_marks(request)
        marks.pop(_request_key(auth), None)
        request.session[FRESH_SESSION_KEY] = marks


def _sign_in(request: HttpRequest, auth: flow.AuthRequest) -> HttpResponse:
    """Send the person to sign in, and back to this request afterwards."""
    _fresh_mark(request, auth)
    query = {"next": _authorize_url(auth.params)}
    if auth.login_hint:
        # The sign-in page does not read it yet; it is passed on for when it does.
        query["login_hint"] = auth.login_hint
    with translation.override(auth.language or translation.get_language()):
        url = reverse("accounts:sign-in")
    return HttpResponseRedirect(url + "?" + urlencode(query))


def _reauthenticate(request: HttpRequest, auth: flow.AuthRequest) -> HttpResponse:
    """Ask the signed-in person for their password again, then come back to this request.

    Never a sign-out: this is a GET any site can cause, and signing the person out on it
    would let any site end their session.
    """
    _fresh_mark(request, auth)
    with translation.override(auth.language or translation.get_language()):
        url = reverse("accounts:reauthenticate")
    return HttpResponseRedirect(url + "?" + urlencode({"next": _authorize_url(auth.params)}))


def _auth_time(request: HttpRequest) -> int:
    value = assurance.auth_time(request)
    if value:
        return value
    started = request.session.get(SESSION_STARTED_KEY)
    if isinstance(started, int) and started > 0:
        return started
    return int(time.time())


def _to_client(request: HttpRequest, auth: flow.AuthRequest, url: str) -> HttpResponse:
    """Send the browser back to the client.

    After one of our own forms (sign-in, step-up) the browser arrives here by redirect, and
    Chromium applies that form page's CSP ``form-action 'self'`` to every redirect that
    follows, so a redirect to the client would be blocked. Such same-origin arrivals get a
    page that moves on by itself (meta refresh, no JavaScript) with a link as a fallback.
    """
    if request.method == "GET" and request.headers.get("Sec-Fetch-Site") == "same-origin":
        return render(
            request,
            "identity/oidc/continue.html",
            {"url": url, "client": auth.client},
        )
    return HttpResponseRedirect(url)


def _redirect_error(
    request: HttpRequest, auth: flow.AuthRequest, error: str, description: str
) -> HttpResponse:
    url = flow.error_redirect(auth.redirect_uri, auth.state, error, description)
    return _to_client(request, auth, url)


def _decide(
    request: HttpRequest, auth: flow.AuthRequest, *, consented: bool = False
) -> HttpResponse:
    """Sign in, re-authenticate, step up or ask consent as needed; then issue the code."""
    silent = "none" in auth.prompt
    user = request.user
    if not user.is_authenticated:
        if silent:
            return _redirect_error(request, auth, "login_required", "Nobody is signed in")
        return _sign_in(request, auth)
    if auth.id_token_hint_sub is not None and auth.id_token_hint_sub != oidc_claims.subject(user):
        # Never a sign-out on a GET: the client learns the person it named is not the one
        # signed in here, and decides what to do.
        return _redirect_error(
            request,
            auth,
            "login_required",
            "The person signed in is not the one in id_token_hint",
        )
    auth_time = _auth_time(request)
    since = _fresh_since(request, auth)
    # Only an authentication the session recorded counts, never _auth_time's fallbacks.
    recorded = assurance.auth_time(request)
    fresh = since is not None and recorded is not None and recorded >= since
    too_old = auth.max_age is not None and int(time.time()) - auth_time > auth.max_age
    if ("login" in auth.prompt or too_old) and not fresh:
        if silent:
            return _redirect_error(request, auth, "login_required", "A fresh sign-in is needed")
        return _reauthenticate(request, auth)
    level = assurance.session_level(request)
    if level is None or not level.satisfies(auth.needed):
        if silent:
            return _redirect_error(
                request, auth, "interaction_required", "A higher level of assurance is needed"
            )
        response = assurance.level_required(request, auth.needed, _authorize_url(auth.params))
        if response is not None:
            return response
        level = assurance.session_level(request)
    assert level is not None
    acting = assurance.acting_for(request)
    # Agency clients cannot map catalogue service ids: a mandate limited to some services is
    # not carried to them, and the person signs in as themselves.
    represents = (
        acting.as_claim() if acting is not None and SCOPE_ALL_SERVICES in acting.scopes else None
    )
    limited = acting.name if acting is not None and represents is None else ""
    if not consented and (
        "consent" in auth.prompt or not flow.consent_covers(user=user, auth=auth)
    ):
        if silent:
            return _redirect_error(
                request, auth, "consent_required", "The person has not agreed yet"
            )
        return _consent_page(request, auth, acting_limited=limited)
    _fresh_clear(request, auth)
    target = flow.code_issue(
        request=request,
        user=user,
        auth=auth,
        scopes=auth.scopes if consented else _remembered_scopes(request, auth),
        acr=level.acr,
        amr=assurance.auth_methods(request),
        auth_time=auth_time,
        represents=represents,
    )
    return _to_client(request, auth, target)


def _remembered_scopes(request: HttpRequest, auth: flow.AuthRequest) -> list[str]:
    return [scope for scope in auth.scopes if scope not in oidc_claims.EXPLICIT_SCOPES]


@csrf_exempt
@never_cache
@require_http_methods(["GET", "POST"])
def authorize(request: HttpRequest) -> HttpResponse:
    """The authorization endpoint (code flow, PKCE S256 required)."""
    params = flow.params_of(request)
    language = flow.language_of(params) or translation.get_language() or "en"
    with translation.override(language):
        try:
            _client, redirect_uri = flow.client_and_redirect(params)
        except flow.PageError as error:
            return _error_page(request, error.message)
        state = params.get("state", "")
        try:
            auth = flow.parse(params)
        except flow.PageError as error:
            return _error_page(request, error.message)
        except flow.RedirectError as error:
            return HttpResponseRedirect(
                flow.error_redirect(
                    redirect_uri,
                    state if len(state) <= 2048 else "",
                    error.error,
                    error.description,
                )
            )
        return _decide(request, auth)


def _consent_page(
    request: HttpRequest, auth: flow.AuthRequest, *, acting_limited: str = ""
) -> HttpResponse:
    pending: dict[str, Any] = dict(request.session.get(PENDING_SESSION_KEY) or {})
    now = int(time.time())
    pending = {
        key: value
        for key, value in pending.items()
        if isinstance(value, dict) and now - int(value.get("at", 0)) < _PENDING_SECONDS
    }
    while len(pending) >= _PENDING_MAX:
        pending.pop(min(pending, key=lambda key: pending[key]["at"]))
    pending_id = secrets.token_urlsafe(16)
    pending[pending_id] = {"at": now, "params": auth.params}
    request.session[PENDING_SESSION_KEY] = pending
    ordinary = [
        scope for scope in flow_scope_order(auth.scopes) if scope not in oidc_claims.EXPLICIT_SCOPES
    ]
    explicit = [
        scope for scope in flow_scope_order(auth.scopes) if scope in oidc_claims.EXPLICIT_SCOPES
    ]
    response = render(
        request,
        "identity/oidc/consent.html",
        {
            "client": auth.client,
            "agency_name": _agency_name(auth.client),
            "ordinary": [(scope, oidc_claims.SCOPE_DESCRIPTIONS[scope]) for scope in ordinary],
            "explicit": [(scope, oidc_claims.SCOPE_DESCRIPTIONS[scope]) for scope in explicit],
            "pending_id": pending_id,
            "language": auth.language,
            "acting_limited": acting_limited,
        },
    )
    _csp_allow_client(response, auth.client)
    return response


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def _csp_allow_client(response: HttpResponse, client: Client) -> None:
    """Let this page show the client's logo and, after its form, go on to the client.

    Browsers apply ``form-action`` to the redirects that follow a form submission, so the
    consent and logout forms must allow the client's registered redirect origins.
    """
    policy: dict[str, list[str]] = {
        key: [str(item) for item in value] if isinstance(value, (list, tuple)) else [str(value)]
        for key, value in settings.SECURE_CSP.items()
    }
    logo = _origin(client.logo_url)
    if logo:
        policy["img-src"] = [*policy.get("img-src", []), logo]
    targets = {
        _origin(uri)
        for uri in client.redirect_uris.split() + client.post_logout_redirect_uris.split()
    }
    policy["form-action"] = [*policy.get("form-action", []), *sorted(t for t in targets if t)]
    response._csp_config = policy  # type: ignore[attr-defined]


def flow_scope_order(scopes: list[str]) -> list[str]:
    """Return ``scopes`` in the order the consent page lists them."""
    return [scope for scope in oidc_claims.SCOPE_ORDER if scope in scopes]


def _agency_name(client: Client) -> str:
    agency = client.agency
    if agency is None:
        return ""
    if (translation.get_language() or "en").startswith("cy") and agency.name_cy:
        return str(agency.name_cy)
    return str(agency.name_en)


@never_cache
@require_POST
def consent(request: HttpRequest) -> HttpResponse:
    """The answer to the consent page: Allow (with any explicit scopes ticked) or Cancel."""
    pending: dict[str, Any] = dict(request.session.get(PENDING_SESSION_KEY) or {})
    pending_id = request.POST.get("pending", "")
    entry = pending.pop(pending_id, None) if len(pending_id) <= 64 else None
    request.session[PENDING_SESSION_KEY] = pending
    if not isinstance(entry, dict) or int(time.time()) - int(entry.get("at", 0)) > _PENDING_SECONDS:
        return _error_page(request, "expired")
    params = QueryDict(mutable=True)
    for key, value in entry.get("params", {}).items():
        params[key] = value
    language = flow.language_of(params) or translation.get_language() or "en"
    with translation.override(language):
        try:
            auth = flow.parse(params)
        except (flow.PageError, flow.RedirectError):
            return _error_page(request, "expired")
        if not request.user.is_authenticated:
            return _sign_in(request, auth)
        if request.POST.get("decision") != "allow":
            return _redirect_error(request, auth, "access_denied", "The person did not agree")
        ticked = set(request.POST.getlist("explicit"))
        granted = [
            scope
            for scope in auth.scopes
            if scope not in oidc_claims.EXPLICIT_SCOPES or scope in ticked
        ]
        services.consent_give(user=request.user, client=auth.client, scopes=granted)
        auth.scopes = granted
        auth.prompt.discard("consent")
        return _decide(request, auth, consented=True)


# --- Token, revocation, userinfo --------------------------------------------------------


class _TokenView(TokenView):  # type: ignore[misc]
    """django-oauth-toolkit's token endpoint without its device flow and its signal.

    The device grant does not exist here (and its branch answers a missing device_code with
    a 500), and the ``app_authorized`` signal costs a query per grant that nothing uses.
    """

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        _url, headers, body, status = self.create_token_response(request)
        response = HttpResponse(content=body, status=status)
        for key, value in headers.items():
            response[key] = value
        return response


token = csrf_exempt(_TokenView.as_view())
revoke = csrf_exempt(RevokeTokenView.as_view())


def _bearer_error(error: str, description: str, status: int = 401) -> JsonResponse:
    response = _json({"error": error, "error_description": description}, status=status)
    response["WWW-Authenticate"] = f'Bearer error="{error}", error_description="{description}"'
    response["Cache-Control"] = "no-store"
    return response


@csrf_exempt
@never_cache
@require_http_methods(["GET", "POST"])
def userinfo(request: HttpRequest) -> HttpResponse:
    """Claims about the person the access token is for, by its scopes (GET or POST)."""
    header = request.headers.get("Authorization", "")
    body_token = request.POST.get("access_token", "") if request.method == "POST" else ""
    if "access_token" in request.GET:
        return _bearer_error("invalid_request", "Send the token in the Authorization header", 400)
    if header and body_token:
        return _bearer_error("invalid_request", "Send the token one way only", 400)
    value = body_token
    if header:
        scheme, _sep, value = header.partition(" ")
        if scheme.lower() != "bearer":
            response = HttpResponse(status=401)
            response["WWW-Authenticate"] = 'Bearer realm="userinfo"'
            return response
        value = value.strip()
    if not value:
        response = HttpResponse(status=401)
        response["WWW-Authenticate"] = 'Bearer realm="userinfo"'
        return response
    if len(value) > 512:
        return _bearer_error("invalid_token", "The access token is not valid")
    checksum = hashlib.sha256(value.encode()).hexdigest()
    access = (
        AccessToken.objects.select_related("user", "application")
        .filter(token_checksum=checksum)
        .first()
    )
    if access is None or access.is_expired() or access.user is None:
        return _bearer_error("invalid_token", "The access token is not valid")
    client = access.application
    if client is None or not client.is_usable(request) or not access.user.is_active:
        return _bearer_error("invalid_token", "The access token is not valid")
    scopes = access.scope.split()
    if "openid" not in scopes:
        return _bearer_error("insufficient_scope", "The token was not issued for openid", 403)
    grant = (
        Grant.objects.filter(access_token_id=access.pk).only("represents", "token_family").first()
    )
    if grant is None and access.source_refresh_token_id is not None:
        family = (
            RefreshToken.objects.filter(pk=access.source_refresh_token_id)
            .values_list("token_family", flat=True)
            .first()
        )
        grant = Grant.objects.filter(token_family=family).first() if family else None
    represents = grant.represents if grant is not None else None
    if represents is not None and not assurance.representation_still_valid(access.user, represents):
        # The mandate or business representation ended since the person signed in: the
        # client may no longer be told they act for that party, nor keep these tokens.
        services.oidc_tokens_refuse(
            client=client,
            user=access.user,
            reason="representation_ended",
            token_family=grant.token_family if grant is not None else None,
            access_token_id=access.pk,
        )
        return _bearer_error("invalid_token", "The access token is not valid")
    return _json(
        oidc_claims.userinfo(access.user, scopes, represents=represents), Cache_Control="no-store"
    )


# --- RP-initiated logout ----------------------------------------------------------------


def _logout_target(params: QueryDict) -> tuple[Client | None, dict[str, Any] | None, str]:
    """Return the client, the verified hint's claims, and the registered redirect (or "")."""
    hint = params.get("id_token_hint", "")
    hint_claims = keys.verify(hint) if hint else None
    client_id = params.get("client_id", "")[:255]
    client: Client | None = None
    if hint_claims is not None:
        audience = hint_claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if client_id and client_id not in audiences:
            hint_claims = None
        else:
            client = Client.objects.filter(client_id__in=[str(a) for a in audiences]).first()
    if client is None and client_id:
        client = Client.objects.filter(client_id=client_id).first()
    redirect = params.get("post_logout_redirect_uri", "")
    if not redirect or client is None or not client.post_logout_redirect_uri_allowed(redirect):
        redirect = ""
    return client, hint_claims, redirect


_LOGOUT_PARAMS = ("id_token_hint", "post_logout_redirect_uri", "state", "client_id", "ui_locales")


@csrf_exempt
@never_cache
@require_http_methods(["GET", "POST"])
def end_session(request: HttpRequest) -> HttpResponse:
    """RP-initiated logout: with a valid id_token_hint for the person signed in, sign out at
    once; otherwise ask the person first. Then return to a registered address, with state."""
    params = request.POST if request.method == "POST" else request.GET
    language = flow.language_of(params) or translation.get_language() or "en"
    with translation.override(language):
        client, hint_claims, redirect = _logout_target(params)
        state = params.get("state", "")[:2048]
        user = request.user
        hint_matches = hint_claims is not None and (
            not user.is_authenticated or str(hint_claims.get("sub")) == oidc_claims.subject(user)
        )
        if hint_matches or not user.is_authenticated:
            # Nobody signed in: nothing to confirm. The redirect is still only to an address
            # registered for the client named by the hint or client_id.
            if user.is_authenticated:
                account_services.sign_out(request=request)
            return _logout_done(request, client, redirect, state, signed_out=True)
        response = render(
            request,
            "identity/oidc/logout_confirm.html",
            {
                "client": client,
                "params": [
                    (key, params[key])
                    for key in _LOGOUT_PARAMS
                    if params.get(key) and len(params[key]) <= 4096
                ],
                "signed_in": user.is_authenticated,
            },
        )
        if client is not None:
            _csp_allow_client(response, client)
        return response


@never_cache
@require_POST
def end_session_confirm(request: HttpRequest) -> HttpResponse:
    """The person's answer on the logout confirmation page (a same-site form, CSRF checked)."""
    params = request.POST
    language = flow.language_of(params) or translation.get_language() or "en"
    with translation.override(language):
        client, _claims, redirect = _logout_target(params)
        state = params.get("state", "")[:2048]
        if params.get("confirm") != "yes":
            return _logout_done(request, client, "", state, signed_out=False)
        if request.user.is_authenticated:
            account_services.sign_out(request=request)
        return _logout_done(request, client, redirect, state, signed_out=True)


def _logout_done(
    request: HttpRequest, client: Client | None, redirect: str, state: str, *, signed_out: bool
) -> HttpResponse:
    if redirect:
        return HttpResponseRedirect(flow.redirect_with(redirect, {"state": state}))
    return render(
        request,
        "identity/oidc/logout_done.html",
        {"client": client, "signed_out": signed_out},
    )
