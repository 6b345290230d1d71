"""Identity writes: OpenID Connect clients, consents, signing keys and token revocation."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext
from jwcrypto import jwk
from oauth2_provider.models import AccessToken, RefreshToken

from civicstack.accounts import selectors as account_selectors
from civicstack.core.audit import audit_event_record
from civicstack.core.errors import PermissionDenied, ValidationFailed
from civicstack.identity.constants import Level
from civicstack.identity.models import (
    AuthMethod,
    Client,
    Consent,
    Grant,
    SigningAlg,
    SigningKey,
)

GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
_SECRET_METHODS = {AuthMethod.CLIENT_SECRET_BASIC, AuthMethod.CLIENT_SECRET_POST}
_PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
_LOOPBACK = {"localhost", "127.0.0.1", "[::1]", "::1"}
_MAX_URIS = 20
_MAX_URI_LENGTH = 2000


def _require_platform_admin(actor: Any) -> None:
    if not account_selectors.user_is_platform_admin(user=actor):
        raise PermissionDenied()


def _development() -> bool:
    return str(settings.ENVIRONMENT) == "development"


def _uri_problem(uri: str) -> str | None:
    if not isinstance(uri, str) or not uri or len(uri) > _MAX_URI_LENGTH:
        return gettext("Enter a web address of at most 2,000 characters")
    if any(ch.isspace() or ord(ch) < 32 for ch in uri) or "*" in uri:
        return gettext("A web address cannot contain spaces or wildcards")
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return gettext("Enter a full web address, like https://service.example/callback")
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        return gettext("Enter a full web address, like https://service.example/callback")
    if parts.fragment or "#" in uri:
        return gettext("A redirect address cannot have a fragment (#)")
    if parts.username or parts.password:
        return gettext("A web address cannot contain a user name or password")
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK and not _development():
        return gettext("Use https (http only for this computer, localhost)")
    return None


def _uris_clean(values: list[str], field: str, errors: dict[str, list[str | Promise]]) -> list[str]:
    cleaned: list[str] = []
    if not isinstance(values, list) or len(values) > _MAX_URIS:
        errors[field] = [gettext("Enter at most 20 web addresses")]
        return []
    for value in values:
        uri = str(value).strip()
        if not uri:
            continue
        problem = _uri_problem(uri)
        if problem:
            errors.setdefault(field, []).append(problem)
        elif uri not in cleaned:
            cleaned.append(uri)
    return cleaned


def _https_link(value: str, field: str, errors: dict[str, list[str | Promise]]) -> str:
    link = (value or "").strip()
    if not link:
        return ""
    parts = urlsplit(link) if len(link) <= 500 else None
    scheme_ok = parts is not None and (
        parts.scheme == "https" or (parts.scheme == "http" and _development())
    )
    if parts is None or not scheme_ok or not parts.hostname or any(c.isspace() for c in link):
        errors[field] = [gettext("Enter an https web address of at most 500 characters")]
        return ""
    return link


def jwks_validate(value: Any) -> dict[str, Any]:
    """Validate a client's JSON Web Key Set: public RSA or P-256 keys only. Return it clean."""
    if not isinstance(value, dict) or not isinstance(value.get("keys"), list):
        raise ValueError(gettext('Enter a JSON Web Key Set: {"keys": [ ... ]}'))
    found = value["keys"]
    if not 1 <= len(found) <= 10:
        raise ValueError(gettext("A key set needs between 1 and 10 keys"))
    clean = []
    for item in found:
        if not isinstance(item, dict):
            raise ValueError(gettext("Each key must be a JSON object"))
        if _PRIVATE_MEMBERS.intersection(item):
            raise ValueError(gettext("The key set contains a private key. Give public keys only"))
        if item.get("kty") not in {"RSA", "EC"}:
            raise ValueError(gettext("Only RSA and EC (P-256) keys are accepted"))
        if item.get("kty") == "EC" and item.get("crv") != "P-256":
            raise ValueError(gettext("Only RSA and EC (P-256) keys are accepted"))
        try:
            parsed = jwk.JWK(**item)
        except Exception as error:
            raise ValueError(gettext("A key could not be read")) from error
        if parsed.has_private:
            raise ValueError(gettext("The key set contains a private key. Give public keys only"))
        if item.get("kty") == "RSA" and parsed.get_op_key("verify").key_size < 2048:
            raise ValueError(gettext("RSA keys must be at least 2048 bits"))
        clean.append(
            parsed.export_public(as_dict=True)
            | {key: item[key] for key in ("kid", "alg", "use") if isinstance(item.get(key), str)}
        )
    return {"keys": clean}


def _client_values(
    *,
    name: str,
    redirect_uris: list[str],
    scopes: list[str],
    required_level: Level | str,
    auth_method: str,
    grant_types: list[str],
    jwks: dict[str, Any] | None,
    id_token_alg: str,
    post_logout_redirect_uris: list[str],
    logo_url: str,
    policy_url: str,
) -> dict[str, Any]:
    from oauth2_provider.settings import oauth2_settings

    errors: dict[str, list[str | Promise]] = {}
    clean_name = (name or "").strip()
    if not clean_name or len(clean_name) > 200:
        errors["name"] = [gettext("Enter the service's name, at most 200 characters")]
    uris = _uris_clean(list(redirect_uris or []), "redirect_uris", errors)
    logout_uris = _uris_clean(
        list(post_logout_redirect_uris or []), "post_logout_redirect_uris", errors
    )
    known = set(oauth2_settings.SCOPES)
    clean_scopes = [scope for scope in dict.fromkeys(scopes or []) if isinstance(scope, str)]
    if not clean_scopes or not set(clean_scopes) <= known:
        errors["scopes"] = [gettext("Choose the scopes the service may ask for")]
    kinds = [kind for kind in dict.fromkeys(grant_types or []) if isinstance(kind, str)]
    if not kinds or not set(kinds) <= set(GRANT_TYPES):
        errors["grant_types"] = [gettext("Choose how the service gets tokens")]
    elif "refresh_token" in kinds and "authorization_code" not in kinds:
        errors["grant_types"] = [gettext("Refresh tokens need the authorization code flow")]
    elif "authorization_code" in kinds and not uris and "redirect_uris" not in errors:
        errors["redirect_uris"] = [gettext("Enter at least one redirect address")]
    if "authorization_code" in kinds and "openid" not in clean_scopes and "scopes" not in errors:
        errors["scopes"] = [gettext("A service that signs people in needs the openid scope")]
    try:
        level = Level(required_level)
    except ValueError:
        errors["required_level"] = [gettext("Choose a level of assurance")]
        level = Level.LOW
    if auth_method not in AuthMethod.values:
        errors["auth_method"] = [gettext("Choose how the service authenticates")]
    clean_jwks: dict[str, Any] | None = None
    if auth_method == AuthMethod.PRIVATE_KEY_JWT:
        try:
            clean_jwks = jwks_validate(jwks)
        except ValueError as error:
            errors["jwks"] = [str(error)]
    elif jwks:
        errors["jwks"] = [gettext("A key set is only used with private_key_jwt")]
    if id_token_alg not in SigningAlg.values:
        errors["id_token_alg"] = [gettext("Choose RS256 or ES256")]
    logo = _https_link(logo_url, "logo_url", errors)
    policy = _https_link(policy_url, "policy_url", errors)
    if errors:
        raise ValidationFailed(field_errors=errors)
    return {
        "name": clean_name,
        "redirect_uris": " ".join(uris),
        "post_logout_redirect_uris": " ".join(logout_uris),
        "scopes_allowed": clean_scopes,
        "required_level": level.value,
        "auth_method": auth_method,
        "grant_types": kinds,
        "jwks": clean_jwks,
        "id_token_alg": id_token_alg,
        "logo_url": logo,
        "policy_url": policy,
        "authorization_grant_type": (
            Client.GRANT_AUTHORIZATION_CODE
            if "authorization_code" in kinds
            else Client.GRANT_CLIENT_CREDENTIALS
        ),
    }


def _new_secret(client: Client) -> str:
    from civicstack.identity.oidc.validator import secret_digest

    secret = secrets.token_urlsafe(32)  # 256 bits
    client.client_secret = secret_digest(secret)
    return secret


def client_register(
    *,
    actor: Any,
    name: str,
    redirect_uris: list[str],
    scopes: list[str],
    required_level: Level = Level.LOW,
    auth_method: str = "client_secret_basic",
    grant_types: list[str] | None = None,
    jwks: dict[str, Any] | None = None,
    id_token_alg: str = "RS256",  # noqa: S107 - an algorithm name
    post_logout_redirect_uris: list[str] | None = None,
    logo_url: str = "",
    policy_url: str = "",
    agency: Any = None,
) -> tuple[Client, str | None]:
    """Register an agency service as an OpenID Connect client (platform admins only).

    Return the client and, for the secret-based methods, its secret: shown once, stored
    only as an HMAC.
    """
    _require_platform_admin(actor)
    values = _client_values(
        name=name,
        redirect_uris=redirect_uris,
        scopes=scopes,
        required_level=required_level,
        auth_method=auth_method,
        grant_types=(
            list(grant_types)
            if grant_types is not None
            else ["authorization_code", "refresh_token"]
        ),
        jwks=jwks,
        id_token_alg=id_token_alg,
        post_logout_redirect_uris=list(post_logout_redirect_uris or []),
        logo_url=logo_url,
        policy_url=policy_url,
    )
    client = Client(
        **values,
        agency=agency,
        client_type=Client.CLIENT_CONFIDENTIAL,
        hash_client_secret=False,
        algorithm="",
        skip_authorization=False,
    )
    secret: str | None = None
    if values["auth_method"] in _SECRET_METHODS:
        secret = _new_secret(client)
    else:
        client.client_secret = ""
    with transaction.atomic():
        client.save()
        audit_event_record(
            action="identity.client_registered",
            actor=actor,
            obj=client,
            data={
                "client_id": client.client_id,
                "auth_method": client.auth_method,
                "scopes": list(client.scopes_allowed),
                "grant_types": list(client.grant_types),
                "required_level": client.required_level,
            },
        )
    return client, secret


def client_update(*, actor: Any, client: Client, **changes: Any) -> Client:
    """Change a client's registration (platform admins only); the secret is kept."""
    _require_platform_admin(actor)
    current = {
        "name": client.name,
        "redirect_uris": client.redirect_uris.split(),
        "scopes": list(client.scopes_allowed),
        "required_level": client.required_level,
        "auth_method": client.auth_method,
        "grant_types": list(client.grant_types),
        "jwks": client.jwks,
        "id_token_alg": client.id_token_alg,
        "post_logout_redirect_uris": client.post_logout_redirect_uris.split(),
        "logo_url": client.logo_url,
        "policy_url": client.policy_url,
    }
    agency = changes.pop("agency", client.agency)
    unknown = set(changes) - set(current)
    if unknown:
        raise TypeError(f"unknown client fields: {sorted(unknown)}")
    current.update(changes)
    values = _client_values(**current)
    secret: str | None = None
    changed = [key for key, value in values.items() if getattr(client, key) != value]
    with transaction.atomic():
        for key, value in values.items():
            setattr(client, key, value)
        client.agency = agency
        if values["auth_method"] in _SECRET_METHODS and not client.client_secret:
            secret = _new_secret(client)
        if values["auth_method"] not in _SECRET_METHODS:
            client.client_secret = ""
        client.save()
        audit_event_record(
            action="identity.client_changed",
            actor=actor,
            obj=client,
            data={"fields": sorted(changed), "new_secret": secret is not None},
        )
    client._new_secret = secret  # type: ignore[attr-defined]
    return client


def client_secret_rotate(*, actor: Any, client: Client) -> str:
    """Give a client a new secret (the old one stops working at once); return it, shown once."""
    _require_platform_admin(actor)
    if client.auth_method not in _SECRET_METHODS:
        raise ValidationFailed(
            field_errors={
                "auth_method": [gettext("This client authenticates with a key, not a secret")]
            }
        )
    with transaction.atomic():
        secret = _new_secret(client)
        client.secret_rotated_at = timezone.now()
        client.save(update_fields=["client_secret", "secret_rotated_at", "updated"])
        audit_event_record(action="identity.client_secret_rotated", actor=actor, obj=client)
    return secret


def _client_tokens_revoke(*, client: Client, user: Any | None = None) -> int:
    tokens = AccessToken.objects.filter(application=client)
    refresh = RefreshToken.objects.filter(application=client, revoked__isnull=True)
    if user is not None:
        tokens = tokens.filter(user=user)
        refresh = refresh.filter(user=user)
    now = timezone.now()
    refresh.update(revoked=now, updated=now, access_token=None)
    deleted, _ = tokens.delete()
    return deleted


def client_disable(*, actor: Any, client: Client) -> None:
    """Disable a client: it can get no token, and every token it holds stops working."""
    _require_platform_admin(actor)
    with transaction.atomic():
        Client.objects.filter(pk=client.pk).update(disabled_at=timezone.now())
        client.refresh_from_db()
        revoked = _client_tokens_revoke(client=client)
        audit_event_record(
            action="identity.client_disabled",
            actor=actor,
            obj=client,
            data={"tokens_revoked": revoked},
        )


def client_enable(*, actor: Any, client: Client) -> None:
    """Enable a disabled client again."""
    _require_platform_admin(actor)
    with transaction.atomic():
        Client.objects.filter(pk=client.pk).update(disabled_at=None)
        client.refresh_from_db()
        audit_event_record(action="identity.client_enabled", actor=actor, obj=client)


# --- Consent ---------------------------------------------------------------------------


def consent_give(*, user: Any, client: Client, scopes: list[str]) -> Consent:
    """Record that ``user`` agreed ``client`` may receive ``scopes``."""
    if not getattr(user, "is_authenticated", False):
        raise PermissionDenied()
    allowed = set(client.scopes_allowed)
    granted = [scope for scope in dict.fromkeys(scopes) if scope in allowed]
    with transaction.atomic():
        consent = (
            Consent.objects.select_for_update()
            .filter(user=user, client=client, revoked_at__isnull=True)
            .first()
        )
        if consent is None:
            consent = Consent.objects.create(user=user, client=client, scopes=granted)
        else:
            consent.scopes = granted
            consent.granted_at = timezone.now()
            consent.save(update_fields=["scopes", "granted_at", "updated_at"])
        audit_event_record(
            action="identity.consent_given",
            actor=user,
            obj=consent,
            data={"client_id": client.client_id, "scopes": granted},
        )
    return consent


def consent_revoke(*, user: Any, client: Client) -> int:
    """Withdraw ``user``'s consent for ``client`` and revoke every token it holds for them."""
    if not getattr(user, "is_authenticated", False):
        raise PermissionDenied()
    with transaction.atomic():
        now = timezone.now()
        ended = Consent.objects.filter(user=user, client=client, revoked_at__isnull=True).update(
            revoked_at=now, updated_at=now
        )
        revoked = _client_tokens_revoke(client=client, user=user)
        audit_event_record(
            action="identity.consent_revoked",
            actor=user,
            obj=client,
            data={"client_id": client.client_id, "consents": ended, "tokens_revoked": revoked},
        )
    return ended


# --- Token revocation on replay ------------------------------------------------------------


def code_reuse_revoke(*, grant: Grant) -> None:
    """A used authorization code came back: revoke every token its first use produced."""
    with transaction.atomic():
        if grant.access_token_id:
            AccessToken.objects.filter(pk=grant.access_token_id).delete()
        if grant.token_family:
            RefreshToken.revoke_family(grant.token_family)
        audit_event_record(
            action="identity.code_reused",
            actor=None,
            obj=grant.application,
            data={"grant": grant.pk, "token_family": str(grant.token_family or "")},
        )


def token_family_revoke(*, token_family: Any, client: Client, reason: str) -> None:
    """Revoke a refresh token family (a used refresh token came back) and its access tokens."""
    with transaction.atomic():
        RefreshToken.revoke_family(token_family)
        audit_event_record(
            action="identity.token_family_revoked",
            actor=None,
            obj=client,
            data={"token_family": str(token_family), "reason": reason},
        )


# --- Signing keys -------------------------------------------------------------------------


def signing_keys_ensure() -> list[SigningKey]:
    """Make an active RS256 and ES256 signing key where none exists; return the new ones."""
    from civicstack.identity.oidc import keys

    made: list[SigningKey] = []
    with transaction.atomic():
        for alg in SigningAlg.values:
            if not SigningKey.objects.filter(alg=alg, retired_at__isnull=True).exists():
                key = keys.key_new(alg)
                key.save()
                made.append(key)
        if made:
            audit_event_record(
                action="identity.signing_keys_created",
                actor=None,
                data={"kids": [key.kid for key in made]},
            )
    keys.caches_clear()
    return made


def signing_keys_rotate() -> list[SigningKey]:
    """Make new active keys (RS256 and ES256) and retire the old ones.

    Retired keys stay in the JWKS until every token they signed has expired.
    """
    from civicstack.identity.oidc import keys

    with transaction.atomic():
        now = timezone.now()
        retired = list(
            SigningKey.objects.filter(retired_at__isnull=True).values_list("kid", flat=True)
        )
        SigningKey.objects.filter(retired_at__isnull=True).update(retired_at=now, updated_at=now)
        made = []
        for alg in SigningAlg.values:
            key = keys.key_new(alg)
            key.save()
            made.append(key)
        audit_event_record(
            action="identity.signing_keys_rotated",
            actor=None,
            data={"new": [key.kid for key in made], "retired": retired},
        )
    keys.caches_clear()
    return made
