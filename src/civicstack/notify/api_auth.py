"""Authentication of the Notify-compatible API: a JWT signed with one of the sender's keys.

A client sends ``Authorization: Bearer <token>``: a JSON Web Token signed with HS256, whose
``iss`` is the sender's id and whose ``iat`` is within 30 seconds of our clock. The secret
is the last part of the API key the client was given, so the token is checked against
each key of the sender in turn. Errors carry GOV.UK Notify's messages and body, so the
clients written for Notify report them unchanged.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jwt
from django.http import HttpRequest, JsonResponse
from django.utils import timezone

from civicstack.notify import caches
from civicstack.notify.models import ApiKey, KeyType, Sender
from civicstack.notify.services import api_key_secret

logger = logging.getLogger(__name__)

ALGORITHM = "HS256"
CLOCK_SKEW_SECONDS = 30
LAST_USED_EVERY = timedelta(minutes=1)
# A token longer than this is not one our clients make; refuse it before decoding.
MAX_TOKEN_LENGTH = 4096

GUIDANCE = "https://docs.notifications.service.gov.uk/rest-api.html#authorisation-header"
MESSAGE_NO_TOKEN = "Unauthorized: authentication token must be provided"  # noqa: S105
MESSAGE_NOT_BEARER = "Unauthorized: authentication bearer scheme must be used"
MESSAGE_NOT_DECODABLE = "Invalid token: signature, api token is not valid"
MESSAGE_NO_ISS = "Invalid token: iss field not provided"
MESSAGE_NO_IAT = "Invalid token: iat field not provided"
MESSAGE_ISS_NOT_UUID = "Invalid token: service id is not the right data type"
MESSAGE_NO_SERVICE = "Invalid token: service not found"
MESSAGE_NO_KEYS = "Invalid token: service has no API keys"
MESSAGE_ARCHIVED = "Invalid token: service is archived"
MESSAGE_CLOCK = "Error: Your system clock must be accurate to within 30 seconds"
MESSAGE_ALGORITHM = "Invalid token: algorithm used is not HS256"
MESSAGE_REVOKED = "Invalid token: API key revoked"
MESSAGE_KEY_NOT_FOUND = "Invalid token: API key not found"
MESSAGE_GENERAL = f"Invalid token: make sure your API token matches the example at {GUIDANCE}"

# How Notify names key types in its rate limit message.
KEY_TYPE_LABELS: dict[str, str] = {
    KeyType.NORMAL: "LIVE",
    KeyType.TEAM: "TEAM",
    KeyType.TEST: "TEST",
}


class ApiError(Exception):
    """An error answered in Notify's body: ``{"status_code", "errors": [{error, message}]}``."""

    def __init__(self, status: int, error: str, *messages: str) -> None:
        super().__init__(messages[0] if messages else error)
        self.status = status
        self.error = error
        self.messages = list(dict.fromkeys(messages)) or [error]

    def response(self) -> JsonResponse:
        """Return the error as Notify's JSON body."""
        return JsonResponse(
            {
                "status_code": self.status,
                "errors": [{"error": self.error, "message": m} for m in self.messages],
            },
            status=self.status,
        )


def auth_error(message: str, status: int = 403) -> ApiError:
    """Return an authentication error as Notify words it."""
    return ApiError(status, "AuthError", message)


@dataclass(frozen=True)
class Caller:
    """Who is calling: the sender (Notify's service) and the key that signed the token."""

    sender: Sender
    key: ApiKey

    @property
    def key_type(self) -> str:
        return self.key.key_type


def _token(request: HttpRequest) -> str:
    header = request.headers.get("Authorization", "")
    if not header:
        raise auth_error(MESSAGE_NO_TOKEN, 401)
    if header[:7].title() != "Bearer ":
        raise auth_error(MESSAGE_NOT_BEARER, 401)
    token = header[7:].strip()
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise auth_error(MESSAGE_NOT_DECODABLE)
    return token


def _issuer(token: str) -> uuid.UUID:
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except (jwt.InvalidTokenError, ValueError, TypeError):
        raise auth_error(MESSAGE_NOT_DECODABLE) from None
    if not isinstance(claims, dict) or "iss" not in claims:
        raise auth_error(MESSAGE_NO_ISS)
    # Only HS256: "none", RS256 (a public key as the HMAC secret) and the rest are refused
    # before any key is tried.
    if header.get("alg") != ALGORITHM:
        raise auth_error(MESSAGE_ALGORITHM)
    issuer = claims["iss"]
    if not isinstance(issuer, str):
        raise auth_error(MESSAGE_ISS_NOT_UUID)
    try:
        return uuid.UUID(issuer)
    except ValueError:
        raise auth_error(MESSAGE_ISS_NOT_UUID) from None


def _verified(token: str, secret: str) -> dict[str, Any] | None:
    """Return the claims if ``secret`` signed ``token``, None if another key did."""
    try:
        claims = jwt.decode(
            token,
            key=secret,
            algorithms=[ALGORITHM],
            options={"verify_iat": False, "verify_nbf": False, "require": []},
            leeway=CLOCK_SKEW_SECONDS,
        )
    except jwt.InvalidSignatureError:
        return None
    except jwt.ExpiredSignatureError:
        raise auth_error(MESSAGE_CLOCK) from None
    except jwt.InvalidAlgorithmError:
        raise auth_error(MESSAGE_ALGORITHM) from None
    except jwt.InvalidTokenError:
        raise auth_error(MESSAGE_GENERAL) from None
    if "iat" not in claims:
        raise auth_error(MESSAGE_NO_IAT)
    issued = claims["iat"]
    if isinstance(issued, bool) or not isinstance(issued, int | float) or not math.isfinite(issued):
        raise auth_error(MESSAGE_GENERAL)
    now = int(time.time())
    if now > issued + CLOCK_SKEW_SECONDS or issued > now + CLOCK_SKEW_SECONDS:
        raise auth_error(MESSAGE_CLOCK)
    return dict(claims)


def _keys_with_secrets(sender_id: uuid.UUID) -> list[ApiKey]:
    """Return the sender's keys (with the sender), each with its secret decrypted."""
    keys = list(ApiKey.objects.filter(sender_id=sender_id).select_related("sender"))
    # Live keys first. Sorted here, once: the list is shared by every thread of the
    # process, and sorting it in place while another thread reads it would hide it.
    keys.sort(key=lambda key: key.revoked_at is not None)
    for key in keys:
        try:
            key.secret = api_key_secret(key)  # type: ignore[attr-defined]
        except Exception:  # a key that cannot be read (SECRET_KEY changed) signs nothing
            logger.warning("API key %s cannot be decrypted", key.pk)
            key.secret = None  # type: ignore[attr-defined]
    return keys


def authenticate(request: HttpRequest) -> Caller:
    """Return the caller of an API request; raise :class:`ApiError` (401/403) if unproven.

    One query loads the sender's keys with the sender. Live keys are tried first; revoked
    ones only when none matched, to say the key was revoked rather than unknown.
    """
    token = _token(request)
    sender_id = _issuer(token)
    keys = caches.cached("keys", sender_id, lambda: _keys_with_secrets(sender_id))
    if not keys:
        if not Sender.objects.filter(pk=sender_id).exists():
            raise auth_error(MESSAGE_NO_SERVICE)
        raise auth_error(MESSAGE_NO_KEYS)
    sender = keys[0].sender
    if not sender.active:
        raise auth_error(MESSAGE_ARCHIVED)
    for key in keys:
        secret = getattr(key, "secret", None)
        if secret is None:
            continue
        if _verified(token, secret) is None:
            continue
        if key.revoked_at is not None:
            raise auth_error(MESSAGE_REVOKED)
        return Caller(sender=sender, key=key)
    raise auth_error(MESSAGE_KEY_NOT_FOUND)


def key_used(key: ApiKey) -> None:
    """Record that ``key`` was used, writing at most once a minute per key."""
    now = timezone.now()
    if key.last_used_at is not None and now - key.last_used_at < LAST_USED_EVERY:
        return
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    key.last_used_at = now
