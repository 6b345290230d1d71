"""The token endpoint's rules, as django-oauth-toolkit's request validator.

Differences from django-oauth-toolkit's defaults, and why:

- Every client is confidential and authenticates with the one method it registered
  (client_secret_basic, client_secret_post or private_key_jwt); any other is refused.
- Client secrets are 256-bit random, so a keyed hash (HMAC-SHA256) is as strong as a slow
  password hash and lets the token endpoint do hundreds of grants a second.
- Codes are kept after use: a second use is refused and revokes every token the first
  use produced.
- ID tokens are signed with Civicstack's rotating keys (RS256 by default, ES256 on
  request), carry a kid, and the authentication context recorded with the code.
- A refresh is a handful of statements (docs/performance.md, "Sign-in and tokens"): one
  query finds the refresh token with its access token and person, and the rotation is one
  transaction of plain writes (claim the old token, delete its access token, insert the ID
  token row, the access token and the refresh token), where django-oauth-toolkit re-reads
  and locks each row first. The ID token row is written in that same transaction rather
  than on its own, so a grant takes SQLite's one write lock once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import secrets
import time
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import unquote_plus

from django.conf import settings
from django.db import IntegrityError, router, transaction
from django.db.models import F
from django.utils import timezone
from jwcrypto import jwk, jws
from oauth2_provider.exceptions import FatalClientError
from oauth2_provider.models import (
    AccessToken,
    IDToken,
    RefreshToken,
    refresh_token_expire_timedelta,
)
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.scopes import BaseScopes
from oauth2_provider.settings import oauth2_settings
from oauthlib.oauth2.rfc6749 import errors
from oauthlib.openid import Server

from civicstack.identity.models import AuthMethod, Client, ClientAssertion, Grant
from civicstack.identity.oidc import claims as oidc_claims
from civicstack.identity.oidc import keys

log = logging.getLogger(__name__)

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SECRET_PREFIX = "hmac-sha256$"  # noqa: S105 - the stored form's label, not a secret
# Client assertions may live up to an hour (Authlib's default lifetime); each jti is kept
# until its exp, so a replay is refused for as long as the assertion is valid.
_MAX_ASSERTION_SECONDS = 3600


# What an ID token (and the checks before a refresh) read from the sign-in's Grant.
_GRANT_ID_TOKEN_FIELDS = ("acr", "amr", "auth_time", "sid", "represents")
# What the refresh grant reads of a refresh token, its access token and its person.
_REFRESH_FIELDS = (
    "token_family",
    "resource",
    "application_id",
    "access_token_id",
    "revoked",
    "access_token__scope",
    "access_token__expires",
    "user__is_active",
)


def secret_digest(secret: str) -> str:
    """Return the stored form of a client secret: an HMAC-SHA256 under a SECRET_KEY-derived key."""
    key = hashlib.sha256(b"civicstack oidc client secrets\x00" + settings.SECRET_KEY.encode())
    mac = hmac.new(key.digest(), secret.encode(), hashlib.sha256).hexdigest()
    return SECRET_PREFIX + mac


def secret_matches(secret: str, stored: str) -> bool:
    """Check a presented client secret against its stored digest, in constant time."""
    if not stored.startswith(SECRET_PREFIX) or not secret or len(secret) > 512:
        return False
    return hmac.compare_digest(secret_digest(secret), stored)


def new_token(request: Any = None) -> str:
    """Return a new access or refresh token: 256 random bits, URL-safe base64 (43 characters).

    oauthlib's default draws each of 30 characters from ``SystemRandom`` (a read of the
    system's random source per character, about 178 bits in all); this is one read.
    """
    return secrets.token_urlsafe(32)


def token_endpoint() -> str:
    """Return the token endpoint's absolute URL."""
    return str(settings.OIDC_ISSUER) + "/token"


class _RefreshTokenUsed(errors.InvalidGrantError):  # type: ignore[misc]
    """invalid_grant raised while storing tokens, answered as JSON like a failed check.

    django-oauth-toolkit answers an error raised there with the error's own headers, which
    for a 400 are none.
    """

    @property
    def headers(self) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            "Cache-Control": "no-store",
            "Pragma": "no-cache",
        }


class ClientScopes(BaseScopes):
    """The scopes a client may ask for: those it was registered for."""

    def get_all_scopes(self) -> dict[str, str]:
        from oauth2_provider.settings import oauth2_settings

        return dict(oauth2_settings.SCOPES)

    def get_available_scopes(
        self, application: Any = None, request: Any = None, *args: Any, **kwargs: Any
    ) -> list[str]:
        if application is None:
            return []
        known = self.get_all_scopes()
        return [scope for scope in application.scopes_allowed if scope in known]

    def get_default_scopes(
        self, application: Any = None, request: Any = None, *args: Any, **kwargs: Any
    ) -> list[str]:
        return []


class CivicstackValidator(OAuth2Validator):  # type: ignore[misc]
    """django-oauth-toolkit's validator with Civicstack's client, code and token rules."""

    oidc_claim_scope = None

    # --- Client authentication ---------------------------------------------------------

    def client_authentication_required(self, request: Any, *args: Any, **kwargs: Any) -> bool:
        return True

    def authenticate_client_id(self, client_id: Any, request: Any, *args: Any, **kw: Any) -> bool:
        return False

    def _client(self, client_id: Any, request: Any) -> Client | None:
        if not isinstance(client_id, str) or not client_id or len(client_id) > 255:
            return None
        client = self._load_application(client_id, request)
        return client if isinstance(client, Client) else None

    def authenticate_client(self, request: Any, *args: Any, **kwargs: Any) -> bool:
        basic = self._extract_basic_auth(request)
        body_secret = getattr(request, "client_secret", None)
        assertion = getattr(request, "client_assertion", None)
        assertion_type = getattr(request, "client_assertion_type", None)
        presented = [bool(basic), body_secret is not None, assertion is not None]
        if sum(presented) != 1:
            return False
        if basic:
            return self._basic(request, basic)
        if body_secret is not None:
            client = self._client(request.client_id, request)
            if client is None or client.auth_method != AuthMethod.CLIENT_SECRET_POST:
                return False
            return secret_matches(str(body_secret), client.client_secret)
        if assertion_type != JWT_BEARER or not isinstance(assertion, str):
            return False
        return self._private_key_jwt(request, assertion)

    def _basic(self, request: Any, auth_string: str) -> bool:
        try:
            decoded = base64.b64decode(auth_string, validate=True).decode("utf-8")
            client_id, secret = (unquote_plus(part) for part in decoded.split(":", 1))
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return False
        if request.client_id and request.client_id != client_id:
            return False
        client = self._client(client_id, request)
        if client is None or client.auth_method != AuthMethod.CLIENT_SECRET_BASIC:
            return False
        if not secret_matches(secret, client.client_secret):
            return False
        request.client_id = client_id
        return True

    def _private_key_jwt(self, request: Any, assertion: str) -> bool:
        """RFC 7523 client authentication: a JWT signed by a key in the client's JWKS."""
        if len(assertion) > 8192 or assertion.count(".") != 2:
            return False
        try:
            parsed = jws.JWS()
            parsed.deserialize(assertion)
            header = parsed.jose_header
            unverified = json.loads(parsed.objects["payload"])
        except Exception:
            return False
        if not isinstance(header, dict) or not isinstance(unverified, dict):
            return False
        client_id = unverified.get("iss")
        if request.client_id and request.client_id != client_id:
            return False
        client = self._client(client_id, request)
        if client is None or client.auth_method != AuthMethod.PRIVATE_KEY_JWT:
            return False
        alg = header.get("alg")
        if alg not in ("RS256", "ES256"):
            return False
        claims = None
        for candidate in (client.jwks or {}).get("keys", []):
            if not isinstance(candidate, dict):
                continue
            if header.get("kid") and candidate.get("kid") != header.get("kid"):
                continue
            if candidate.get("kty") != ("RSA" if alg == "RS256" else "EC"):
                continue
            try:
                parsed.verify(jwk.JWK(**candidate), alg=alg)
                claims = json.loads(parsed.payload)
                break
            except Exception:  # noqa: S112 - try the next registered key
                continue
        if not isinstance(claims, dict):
            return False
        now = int(time.time())
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        exp = claims.get("exp")
        jti = claims.get("jti")
        if (
            claims.get("sub") != client.client_id
            or claims.get("iss") != client.client_id
            or not {token_endpoint(), str(settings.OIDC_ISSUER)} & set(map(str, audiences))
            or not isinstance(exp, int)
            or exp <= now - 5
            or exp > now + _MAX_ASSERTION_SECONDS
            or not isinstance(jti, str)
            or not jti
            or len(jti) > 255
        ):
            return False
        try:
            with transaction.atomic():
                ClientAssertion.objects.create(
                    client=client, jti=jti, expires_at=timezone.now() + timedelta(seconds=exp - now)
                )
        except IntegrityError:
            return False  # a replayed assertion
        request.client_id = client.client_id
        return True

    # --- Grants ------------------------------------------------------------------------

    def validate_grant_type(
        self, client_id: Any, grant_type: str, client: Any, request: Any, *args: Any, **kw: Any
    ) -> bool:
        allowed = getattr(request.client, "grant_types", [])
        return grant_type in {"authorization_code", "refresh_token", "client_credentials"} and (
            grant_type in allowed
        )

    def validate_response_type(self, *args: Any, **kwargs: Any) -> bool:
        return False  # the authorization endpoint is Civicstack's own view

    def _grant(self, code: Any, request: Any) -> Grant | None:
        cached = getattr(request, "_civicstack_grant", None)
        if isinstance(cached, Grant) and cached.code == code:
            return cached
        if not isinstance(code, str) or not code or len(code) > 255:
            return None
        grant = Grant.objects.filter(code=code, application=request.client).first()
        request._civicstack_grant = grant
        return grant

    def validate_code(
        self, client_id: Any, code: Any, client: Any, request: Any, *args: Any, **kwargs: Any
    ) -> bool:
        from civicstack.identity import services

        grant = self._grant(code, request)
        if grant is None:
            return False
        claimed = Grant.objects.filter(pk=grant.pk, used_at__isnull=True).update(
            used_at=timezone.now()
        )
        if not claimed:
            services.code_reuse_revoke(grant=grant)
            return False
        if grant.is_expired():
            return False
        request.scopes = grant.scope.split()
        request.user = grant.user
        if grant.nonce:
            request.nonce = grant.nonce
        request.claims = {}
        return True

    def invalidate_authorization_code(self, *args: Any, **kwargs: Any) -> None:
        return None  # validate_code marked it used, atomically

    def confirm_redirect_uri(
        self, client_id: Any, code: Any, redirect_uri: Any, client: Any, *args: Any, **kw: Any
    ) -> bool:
        request = kw.get("request") or (args[0] if args else None)
        grant = self._grant(code, request) if request is not None else None
        return grant is not None and redirect_uri == grant.redirect_uri

    def get_code_challenge(self, code: Any, request: Any) -> str | None:
        grant = self._grant(code, request)
        return (grant.code_challenge or None) if grant else None

    def get_code_challenge_method(self, code: Any, request: Any) -> str | None:
        grant = self._grant(code, request)
        return (grant.code_challenge_method or None) if grant else None

    def get_authorization_code_nonce(
        self, client_id: Any, code: Any, redirect_uri: Any, request: Any
    ) -> str | None:
        grant = self._grant(code, request)
        return (grant.nonce or None) if grant else None

    def get_authorization_code_scopes(
        self, client_id: Any, code: Any, redirect_uri: Any, request: Any
    ) -> list[str]:
        grant = Grant.objects.filter(code=code).only("scope").first() if code else None
        return grant.scope.split() if grant else []

    def validate_refresh_token(
        self, refresh_token: Any, client: Any, request: Any, *args: Any, **kwargs: Any
    ) -> bool:
        from civicstack.identity import services

        if not isinstance(refresh_token, str) or not refresh_token or len(refresh_token) > 255:
            return False
        checksum = hashlib.sha256(refresh_token.encode()).hexdigest()
        # One query: rows share a checksum only across revocations ((checksum, revoked) is
        # unique), so the live row comes first, else the latest revoked one; with the access
        # token (scopes, expiry) and the person the grant needs next. Of the person, only
        # what the grant uses: the key (``sub``, the new tokens' owner) and whether active.
        token = (
            RefreshToken.objects.filter(token_checksum=checksum)
            .select_related("access_token", "user")
            .only(*_REFRESH_FIELDS)
            .order_by(F("revoked").desc(nulls_first=True))
            .first()
        )
        if token is None:
            return False
        if token.revoked is not None:
            # A rotated (or revoked) refresh token came back: revoke its whole family.
            if token.token_family:
                services.token_family_revoke(
                    token_family=token.token_family,
                    client=token.application,
                    reason="refresh_token_reuse",
                )
            return False
        # django-oauth-toolkit's own checks (OAuth2Validator.validate_refresh_token): a live
        # refresh token always has its access token, and dies REFRESH_TOKEN_EXPIRE_SECONDS
        # after that access token expires.
        access = token.access_token
        if access is None:
            return False
        lifetime = refresh_token_expire_timedelta()
        if lifetime and access.expires + lifetime <= timezone.now():
            return False
        request.user = token.user
        request.refresh_token = refresh_token
        request.refresh_token_instance = token
        if client is None or token.application_id != client.pk:
            return False
        return self._refresh_still_allowed(request)

    def _refresh_still_allowed(self, request: Any) -> bool:
        """Check that the sign-in behind a valid refresh token may still go on.

        Refused (invalid_grant), with the family revoked and audited, when the account or
        the client was disabled, when the mandate or business representation the person
        acted under (``represents``) is no longer in force for them, or when the person
        signed in longer ago than ``OIDC_FAMILY_MAX_SECONDS``.
        """
        from civicstack.identity import selectors as identity_selectors
        from civicstack.identity import services

        instance = getattr(request, "refresh_token_instance", None)
        if instance is None:
            return False
        family = instance.token_family
        # The sign-in behind the family; kept on the request for the ID token it is about to
        # get (one read instead of two).
        grant = (
            Grant.objects.filter(token_family=family).only(*_GRANT_ID_TOKEN_FIELDS).first()
            if family
            else None
        )
        request.civicstack_grant = grant
        started = grant.auth_time if grant is not None else int(instance.created.timestamp())
        user = instance.user
        client = request.client
        reason = ""
        if user is None or not user.is_active:
            reason = "user_inactive"
        elif client is None or client.disabled_at is not None:
            reason = "client_disabled"
        elif int(time.time()) - started > int(settings.OIDC_FAMILY_MAX_SECONDS):
            reason = "family_too_old"
        elif (
            grant is not None
            and grant.represents is not None
            and not identity_selectors.representation_still_valid(user, grant.represents)
        ):
            reason = "representation_ended"
        if not reason:
            return True
        # Without a family (none is made when reuse protection is off) deleting the access
        # token is enough: a refresh token without one is refused.
        services.oidc_tokens_refuse(
            client=client,
            user=user,
            reason=reason,
            token_family=family,
            access_token_id=None if family else instance.access_token_id,
        )
        return False

    def _save_bearer_token(self, token: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        old = getattr(request, "refresh_token_instance", None)
        if (
            request.grant_type != "refresh_token"
            or not isinstance(old, RefreshToken)
            or not token.get("refresh_token")
        ):
            return super()._save_bearer_token(token, request, *args, **kwargs)
        return self._rotate(token, request, old)

    def _rotate(self, token: Any, request: Any, old: RefreshToken) -> None:
        """Revoke ``old`` and its access token; store the new access and refresh tokens.

        Runs inside save_bearer_token's transaction. Where django-oauth-toolkit locks and
        re-reads the old refresh token and its access token and then revokes them (five
        statements before the first insert), this claims the old token with one UPDATE that
        only succeeds while it is live: of two concurrent uses, the second finds it revoked
        and is refused.
        """
        if "scope" not in token:
            raise FatalClientError("Failed to renew access token: missing scope")
        self._check_and_set_request_resource(request)
        now = timezone.now()
        seconds = token.get("expires_in", oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS)
        claimed = RefreshToken.objects.filter(pk=old.pk, revoked__isnull=True).update(
            revoked=now, updated=now, access_token=None
        )
        if not claimed:
            raise _RefreshTokenUsed(request=request)
        if old.access_token_id is not None:
            # Nothing else points at an access token (a test keeps this true): its refresh
            # token's access_token (SET_NULL) was cleared just above, and Grant keeps a plain
            # id. So a bare DELETE is what Model.delete() would end with, without its SELECT
            # and UPDATE first.
            stale = AccessToken.objects.filter(pk=old.access_token_id)
            stale._raw_delete(router.db_for_write(AccessToken))
        old.revoked, old.access_token = now, None
        access = self._create_access_token(
            now + timedelta(seconds=seconds), request, token, source_refresh_token=old
        )
        self._create_refresh_token(request, token["refresh_token"], access, old)
        request.refresh_token_instance = None

    def _create_access_token(
        self, expires: Any, request: Any, token: Any, source_refresh_token: Any = None
    ) -> AccessToken:
        access = AccessToken(
            user=request.user,
            scope=token["scope"],
            expires=expires,
            id_token=self._store_id_token(request) if token.get("id_token") else None,
            application=request.client,
            source_refresh_token=source_refresh_token,
            resource=getattr(request, "resource", []),
        )
        self._set_token_value(access, token["access_token"])
        access.save()
        return access

    def save_bearer_token(self, token: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        # oauthlib mints a refresh token for every code; a client not registered for the
        # refresh grant must not receive one it can never use.
        if "refresh_token" not in getattr(request.client, "grant_types", []):
            token.pop("refresh_token", None)
        result = super().save_bearer_token(token, request, *args, **kwargs)
        if request.grant_type == "authorization_code":
            grant = self._grant(request.code, request)
            checksum = hashlib.sha256(token["access_token"].encode()).hexdigest()
            access = AccessToken.objects.filter(token_checksum=checksum).only("pk").first()
            family = (
                RefreshToken.objects.filter(access_token=access).values_list(
                    "token_family", flat=True
                )
                if access
                else None
            )
            if grant is not None and access is not None:
                Grant.objects.filter(pk=grant.pk).update(
                    access_token_id=access.pk, token_family=family.first() if family else None
                )
        return result

    # --- ID tokens ---------------------------------------------------------------------

    def _grant_for_id_token(self, request: Any) -> Grant | None:
        if request.grant_type == "authorization_code":
            return self._grant(request.code, request)
        # A refresh: _refresh_still_allowed read the family's sign-in before allowing it.
        kept: Grant | None = getattr(request, "civicstack_grant", None)
        return kept

    def get_id_token_dictionary(
        self, token: Any, token_handler: Any, request: Any
    ) -> tuple[dict[str, Any], Any]:
        now = int(time.time())
        lifetime = int(settings.OIDC_ID_TOKEN_SECONDS)
        grant = self._grant_for_id_token(request)
        claims: dict[str, Any] = {
            "iss": str(settings.OIDC_ISSUER),
            "sub": oidc_claims.subject(request.user),
            "iat": now,
            "exp": now + lifetime,
            "jti": str(uuid.uuid4()),
        }
        if grant is not None:
            if grant.acr:
                claims["acr"] = grant.acr
            if grant.amr:
                claims["amr"] = list(grant.amr)
            # Always given (OIDC allows it), so clients asking max_age or requiring it get it.
            if grant.auth_time:
                claims["auth_time"] = grant.auth_time
            if grant.sid:
                claims["sid"] = grant.sid
            if grant.represents:
                claims["represents"] = grant.represents
        claims["azp"] = request.client.client_id
        return claims, timezone.now() + timedelta(seconds=lifetime)

    def finalize_id_token(self, id_token: Any, token: Any, token_handler: Any, request: Any) -> str:
        claims, expires = self.get_id_token_dictionary(token, token_handler, request)
        id_token.update(claims)
        if "nonce" not in id_token and request.nonce:
            id_token["nonce"] = request.nonce
        id_token["aud"] = request.client.client_id
        signed = keys.sign(id_token, request.client.id_token_alg)
        # The row is written with the access token, in save_bearer_token's transaction.
        request._civicstack_id_token = (id_token["jti"], expires)
        return signed

    def _store_id_token(self, request: Any) -> IDToken | None:
        """Write the IDToken row of the ID token finalize_id_token signed for this request."""
        pending = getattr(request, "_civicstack_id_token", None)
        if pending is None:
            return None
        request._civicstack_id_token = None
        jti, expires = pending
        row = self._save_id_token(jti, request, expires)
        request.access_token = row
        request.id_token = row
        return row  # type: ignore[no-any-return]

    def _load_id_token(self, token: Any) -> Any:
        from oauth2_provider.models import get_id_token_model

        claims = keys.verify(token) if isinstance(token, str) else None
        if not claims or not isinstance(claims.get("jti"), str):
            return None
        return get_id_token_model().objects.filter(jti=claims["jti"]).first()


class CivicstackServer(Server):  # type: ignore[misc]
    """oauthlib's OpenID Connect server with only the grants Civicstack offers at /token.

    The password and device grants are not merely refused per client: they do not exist,
    so asking for them gets ``unsupported_grant_type``.
    """

    def __init__(self, request_validator: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(request_validator, *args, **kwargs)
        offered: dict[str, Any] = self.grant_types
        self._grant_types = {
            name: grant
            for name, grant in offered.items()
            if name in {"authorization_code", "refresh_token", "client_credentials"}
        }
