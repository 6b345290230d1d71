"""Back-office pages for sign-in clients: agency services that use Civicstack to sign people in.

Only platform admins register, change, disable clients and rotate secrets (the services
check it too). A client's secret is shown once, on the response that made it, and never
stored in a form it could be read back from.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from civicstack.accounts import selectors as accounts
from civicstack.backoffice.access import staff_required
from civicstack.core.errors import PermissionDenied, ValidationFailed
from civicstack.identity import selectors as identity
from civicstack.identity import services as identity_services
from civicstack.identity.constants import AuthMethod, GrantType, Level, OidcScope, SigningAlg

_MAX_TEXT = 20_000


def _platform_admin(request: HttpRequest) -> None:
    if not accounts.user_is_platform_admin(user=request.user):
        raise PermissionDenied()


def _client_or_404(client_id: uuid.UUID) -> Any:
    client = identity.oidc_client_by_public_id(public_id=client_id)
    if client is None:
        raise Http404
    return client


def _error_list(errors: dict[str, list[Any]]) -> list[dict[str, Any]]:
    return [
        {"field": name, "message": message}
        for name, field_messages in errors.items()
        for message in field_messages
    ]


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value[:_MAX_TEXT].splitlines() if line.strip()]


def _values_from_post(request: HttpRequest) -> dict[str, Any]:
    post = request.POST
    return {
        "name": post.get("name", "")[:300],
        "agency": post.get("agency", "")[:64],
        "redirect_uris": post.get("redirect_uris", "")[:_MAX_TEXT],
        "post_logout_redirect_uris": post.get("post_logout_redirect_uris", "")[:_MAX_TEXT],
        "scopes": post.getlist("scopes")[:20],
        "grant_types": post.getlist("grant_types")[:10],
        "required_level": post.get("required_level", "")[:20],
        "auth_method": post.get("auth_method", "")[:40],
        "jwks": post.get("jwks", "")[:_MAX_TEXT],
        "id_token_alg": post.get("id_token_alg", "")[:10],
        "logo_url": post.get("logo_url", "")[:600],
        "policy_url": post.get("policy_url", "")[:600],
    }


def _values_from_client(client: Any) -> dict[str, Any]:
    return {
        "name": client.name,
        "agency": str(client.agency_id or ""),
        "redirect_uris": "\n".join(client.redirect_uris.split()),
        "post_logout_redirect_uris": "\n".join(client.post_logout_redirect_uris.split()),
        "scopes": list(client.scopes_allowed),
        "grant_types": list(client.grant_types),
        "required_level": client.required_level,
        "auth_method": client.auth_method,
        "jwks": json.dumps(client.jwks, indent=2) if client.jwks else "",
        "id_token_alg": client.id_token_alg,
        "logo_url": client.logo_url,
        "policy_url": client.policy_url,
    }


_DEFAULTS: dict[str, Any] = {
    "name": "",
    "agency": "",
    "redirect_uris": "",
    "post_logout_redirect_uris": "",
    "scopes": ["openid"],
    "grant_types": ["authorization_code", "refresh_token"],
    "required_level": Level.LOW.value,
    "auth_method": AuthMethod.CLIENT_SECRET_BASIC.value,
    "jwks": "",
    "id_token_alg": SigningAlg.RS256.value,
    "logo_url": "",
    "policy_url": "",
}


def _arguments(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """Turn the form's values into service arguments; return them and any parse errors."""
    errors: dict[str, list[Any]] = {}
    agency = None
    if values["agency"]:
        agency_id = _uuid_or_none(values["agency"])
        agency = accounts.agency_list().filter(pk=agency_id).first() if agency_id else None
        if agency is None:
            errors["agency"] = [_("Choose an agency from the list")]
    jwks = None
    if values["jwks"].strip():
        try:
            jwks = json.loads(values["jwks"])
        except ValueError:
            errors["jwks"] = [_('Enter the key set as JSON, like {"keys": [ ... ]}')]
    arguments = {
        "name": values["name"],
        "agency": agency,
        "redirect_uris": _lines(values["redirect_uris"]),
        "post_logout_redirect_uris": _lines(values["post_logout_redirect_uris"]),
        "scopes": values["scopes"],
        "grant_types": values["grant_types"],
        "required_level": values["required_level"],
        "auth_method": values["auth_method"],
        "jwks": jwks,
        "id_token_alg": values["id_token_alg"],
        "logo_url": values["logo_url"],
        "policy_url": values["policy_url"],
    }
    return arguments, errors


def _uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _form_context(values: dict[str, Any], errors: dict[str, list[Any]]) -> dict[str, Any]:
    return {
        "values": values,
        "errors": errors,
        "error_list": _error_list(errors),
        "agencies": accounts.agency_list(),
        "scope_choices": OidcScope.choices,
        "grant_choices": GrantType.choices,
        "level_choices": [(level.value, level.label) for level in Level],
        "method_choices": AuthMethod.choices,
        "alg_choices": SigningAlg.choices,
    }


@require_safe
@staff_required
def client_index(request: HttpRequest) -> HttpResponse:
    """List the registered sign-in clients."""
    _platform_admin(request)
    return render(request, "backoffice/identity/index.html", {"clients": identity.oidc_clients()})


@never_cache
@require_http_methods(["GET", "POST"])
@staff_required
def client_new(request: HttpRequest) -> HttpResponse:
    """Register a client; show its secret once."""
    _platform_admin(request)
    values = dict(_DEFAULTS)
    errors: dict[str, list[Any]] = {}
    if request.method == "POST":
        values = _values_from_post(request)
        arguments, errors = _arguments(values)
        if not errors:
            try:
                client, secret = identity_services.client_register(actor=request.user, **arguments)
            except ValidationFailed as error:
                errors = dict(error.field_errors)
            else:
                return render(
                    request,
                    "backoffice/identity/secret.html",
                    {"client": client, "secret": secret, "new": True},
                )
    return render(
        request,
        "backoffice/identity/edit.html",
        {**_form_context(values, errors), "client": None},
        status=400 if errors else 200,
    )


@require_safe
@staff_required
def client_detail(request: HttpRequest, client_id: uuid.UUID) -> HttpResponse:
    """Show a client's registration."""
    _platform_admin(request)
    client = _client_or_404(client_id)
    return render(
        request,
        "backoffice/identity/detail.html",
        {
            "client": client,
            "values": _values_from_client(client),
            "uses_secret": client.auth_method != AuthMethod.PRIVATE_KEY_JWT,
            "issuer": identity.oidc_issuer(),
        },
    )


@never_cache
@require_http_methods(["GET", "POST"])
@staff_required
def client_edit(request: HttpRequest, client_id: uuid.UUID) -> HttpResponse:
    """Change a client's registration."""
    _platform_admin(request)
    client = _client_or_404(client_id)
    values = _values_from_client(client)
    errors: dict[str, list[Any]] = {}
    if request.method == "POST":
        values = _values_from_post(request)
        arguments, errors = _arguments(values)
        if not errors:
            try:
                client = identity_services.client_update(
                    actor=request.user, client=client, **arguments
                )
            except ValidationFailed as error:
                errors = dict(error.field_errors)
            else:
                secret = getattr(client, "_new_secret", None)
                if secret:
                    return render(
                        request,
                        "backoffice/identity/secret.html",
                        {"client": client, "secret": secret, "new": False},
                    )
                return HttpResponseRedirect(
                    reverse("backoffice:identity-client", args=[client.public_id])
                )
    return render(
        request,
        "backoffice/identity/edit.html",
        {**_form_context(values, errors), "client": client},
        status=400 if errors else 200,
    )


@never_cache
@require_POST
@staff_required
def client_secret_rotate(request: HttpRequest, client_id: uuid.UUID) -> HttpResponse:
    """Give the client a new secret (the old one stops working) and show it once."""
    _platform_admin(request)
    client = _client_or_404(client_id)
    try:
        secret = identity_services.client_secret_rotate(actor=request.user, client=client)
    except ValidationFailed:
        return HttpResponseRedirect(reverse("backoffice:identity-client", args=[client.public_id]))
    return render(
        request,
        "backoffice/identity/secret.html",
        {"client": client, "secret": secret, "new": False},
    )


@require_POST
@staff_required
def client_disable(request: HttpRequest, client_id: uuid.UUID) -> HttpResponse:
    """Switch a client off (or on again): off, it can sign nobody in and its tokens stop."""
    _platform_admin(request)
    client = _client_or_404(client_id)
    if request.POST.get("enable") == "yes":
        identity_services.client_enable(actor=request.user, client=client)
    else:
        identity_services.client_disable(actor=request.user, client=client)
    return HttpResponseRedirect(reverse("backoffice:identity-client", args=[client.public_id]))
