"""Web push: the "push" channel (RFC 8030 delivery, RFC 8291 encryption, RFC 8292 VAPID).

A push notification goes to every live browser subscription of its person. The browser's
push service (Mozilla, Google, Apple, Microsoft) stores it until the browser is online;
our service worker (``static/civicstack/push-sw.js``) shows it.

The application server key (VAPID) is a P-256 private key in the PEM file
``NOTIFY_VAPID_PRIVATE_KEY_FILE``; ``civicstack notify_vapid_keys`` writes one. Without it
push messages fail as a technical failure and the settings page says push is unavailable.

Subscription endpoints must be ``https``. Outside production, ``http`` is also accepted
for loopback hosts (127.0.0.1, ::1, localhost), where the local stand-in push service
(:mod:`civicstack.notify.standin_push`) runs for tests and the demo. In production the
endpoint's host must belong to a known push service (``NOTIFY_PUSH_SERVICE_HOSTS``, by
default the push services of the major browsers), so a subscription cannot make the
server post to an address of someone's choosing.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

import jwt
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from civicstack.notify.channels import Outcome, channels

if TYPE_CHECKING:
    from civicstack.notify.models import Notification, PushSubscription

logger = logging.getLogger(__name__)

# How long a push service keeps a message for an offline browser.
TTL_SECONDS = 24 * 3600
# RFC 8292 allows up to 24 hours; a shorter token limits what a leaked one is worth.
VAPID_TOKEN_SECONDS = 12 * 3600
# RFC 8291: push services must accept 4096 bytes of encrypted body, which leaves 3993
# bytes of payload; we keep well under it.
PAYLOAD_MAX_BYTES = 3000
ENDPOINT_MAX_LENGTH = 1000
# Hosts (and their subdomains) of the push services browsers use.
KNOWN_PUSH_SERVICE_HOSTS = (
    "fcm.googleapis.com",
    "android.googleapis.com",
    "push.services.mozilla.com",
    "push.apple.com",
    "notify.windows.com",
)
_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
_TIMEOUT = (5.0, 15.0)


class VapidKeyUnavailable(RuntimeError):
    """The VAPID private key file is missing or does not hold a P-256 private key."""


# --- Keys -----------------------------------------------------------------------------


def b64url_encode(data: bytes) -> str:
    """Return ``data`` as unpadded base64url, as Web Push writes keys."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode base64url with or without padding; raise ValueError on anything else."""
    if not isinstance(text, str) or not text.isascii():
        raise ValueError("not base64url")
    stripped = text.strip().rstrip("=")
    if any(not (ch.isalnum() or ch in "-_") for ch in stripped):
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not base64url") from None


def public_key_raw(key: ec.EllipticCurvePublicKey) -> bytes:
    """Return a P-256 public key as the 65-byte uncompressed point."""
    return key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def vapid_key_pem_new() -> tuple[bytes, str]:
    """Make a new VAPID key pair; return the private key as PEM and the public key text."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return pem, b64url_encode(public_key_raw(key.public_key()))


@dataclass(frozen=True)
class _LoadedKey:
    path: Path
    modified_ns: int
    key: ec.EllipticCurvePrivateKey


_key_lock = threading.Lock()
_loaded: _LoadedKey | None = None


def vapid_private_key() -> ec.EllipticCurvePrivateKey:
    """Return the VAPID private key, read again whenever the file changes."""
    global _loaded
    path = Path(settings.NOTIFY_VAPID_PRIVATE_KEY_FILE)
    try:
        modified_ns = path.stat().st_mtime_ns
    except OSError:
        raise VapidKeyUnavailable(
            "Web push is not set up: there is no VAPID key file "
            "(NOTIFY_VAPID_PRIVATE_KEY_FILE). Run `civicstack notify_vapid_keys`."
        ) from None
    with _key_lock:
        if _loaded is not None and _loaded.path == path and _loaded.modified_ns == modified_ns:
            return _loaded.key
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError, TypeError):
            raise VapidKeyUnavailable(
                "Web push is not set up: NOTIFY_VAPID_PRIVATE_KEY_FILE cannot be read as an "
                "unencrypted PEM private key"
            ) from None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise VapidKeyUnavailable(
                "Web push is not set up: NOTIFY_VAPID_PRIVATE_KEY_FILE must hold a P-256 "
                "(prime256v1) private key"
            )
        _loaded = _LoadedKey(path=path, modified_ns=modified_ns, key=key)
        return key


def vapid_public_key() -> str:
    """Return the application server key browsers subscribe with (base64url, 65 bytes).

    Raises :class:`VapidKeyUnavailable` when no usable key is configured.
    """
    return b64url_encode(public_key_raw(vapid_private_key().public_key()))


def push_available() -> bool:
    """Return True if web push messages can be sent (a VAPID key is configured)."""
    try:
        vapid_private_key()
    except VapidKeyUnavailable:
        return False
    return True


def vapid_authorization(endpoint: str, *, now: float | None = None) -> str:
    """Return the ``Authorization`` header value (RFC 8292) for a push to ``endpoint``."""
    key = vapid_private_key()
    parts = urlsplit(endpoint)
    issued = int(now if now is not None else time.time())
    claims = {
        "aud": f"{parts.scheme}://{parts.netloc}",
        "exp": issued + VAPID_TOKEN_SECONDS,
        "sub": settings.NOTIFY_VAPID_SUBJECT,
    }
    token = jwt.encode(claims, key, algorithm="ES256", headers={"typ": "JWT"})
    return f"vapid t={token}, k={b64url_encode(public_key_raw(key.public_key()))}"


# --- Subscriptions ----------------------------------------------------------------------


def _allowed_hosts() -> tuple[str, ...]:
    configured = getattr(settings, "NOTIFY_PUSH_SERVICE_HOSTS", None)
    if configured:
        return tuple(str(host).lower().strip(".") for host in configured)
    return KNOWN_PUSH_SERVICE_HOSTS


def _is_loopback(host: str) -> bool:
    return host in _LOOPBACK_NAMES or host.endswith(".localhost")


def _endpoint_errors(endpoint: str) -> list[str]:
    if not isinstance(endpoint, str) or not endpoint.strip():
        return [_("The subscription has no endpoint")]
    if len(endpoint) > ENDPOINT_MAX_LENGTH:
        return [_("The subscription endpoint is too long")]
    if any(ord(ch) < 33 or ord(ch) == 127 for ch in endpoint) or not endpoint.isascii():
        return [_("The subscription endpoint is not a valid web address")]
    try:
        parts = urlsplit(endpoint)
        port = parts.port
    except ValueError:
        return [_("The subscription endpoint is not a valid web address")]
    host = (parts.hostname or "").lower()
    if not host or parts.username is not None or parts.password is not None or parts.fragment:
        return [_("The subscription endpoint is not a valid web address")]
    loopback = _is_loopback(host)
    if parts.scheme == "http" and loopback and not settings.PRODUCTION:
        return []
    if parts.scheme != "https":
        return [_("The subscription endpoint must be an https address")]
    if settings.PRODUCTION:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            return [_("The subscription endpoint must name a push service, not an IP address")]
        if port not in (None, 443) or loopback:
            return [_("The subscription endpoint is not a push service")]
        allowed = _allowed_hosts()
        if not any(host == known or host.endswith("." + known) for known in allowed):
            return [_("The subscription endpoint is not a push service we can send to")]
    return []


def _p256dh_errors(p256dh: str) -> list[str]:
    message = _("The subscription key (p256dh) is not a valid P-256 public key")
    if not isinstance(p256dh, str) or not p256dh or len(p256dh) > 200:
        return [message]
    try:
        raw = b64url_decode(p256dh)
    except ValueError:
        return [message]
    if len(raw) != 65 or raw[0] != 4:
        return [message]
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
    except ValueError:
        return [message]
    return []


def _auth_errors(auth: str) -> list[str]:
    message = _("The subscription secret (auth) must be 16 bytes in base64url")
    if not isinstance(auth, str) or not auth or len(auth) > 100:
        return [message]
    try:
        raw = b64url_decode(auth)
    except ValueError:
        return [message]
    return [] if len(raw) == 16 else [message]


def subscription_check(*, endpoint: str, p256dh: str, auth: str) -> dict[str, list[str]]:
    """Return what is wrong with a browser's push subscription, by field (empty if fine)."""
    errors: dict[str, list[str]] = {}
    for field, found in (
        ("endpoint", _endpoint_errors(endpoint)),
        ("p256dh", _p256dh_errors(p256dh)),
        ("auth", _auth_errors(auth)),
    ):
        if found:
            errors[field] = found
    return errors


# --- The channel --------------------------------------------------------------------------

Answer = Literal["accepted", "gone", "retry", "technical"]


def _dashboard_path(language: str) -> str:
    with translation.override(language if language in ("en", "cy") else "en"):
        return reverse("forms:dashboard")


def _link(notification: Notification) -> str:
    value = (notification.personalisation or {}).get("url")
    if isinstance(value, str) and len(value) <= 2000:
        value = value.strip()
        if value.startswith("/") and not value.startswith("//"):
            return value
        if value.startswith("https://") or (
            value.startswith("http://") and not settings.PRODUCTION
        ):
            return value
    return _dashboard_path(notification.language)


def payload_for(notification: Notification) -> bytes:
    """Return the JSON the service worker reads: title, body, url, id and tag."""
    ident = str(notification.pk)
    data: dict[str, str] = {
        "title": notification.subject[:200],
        "body": notification.body,
        "url": _link(notification),
        "id": ident,
        "tag": ident,
    }
    encoded = json.dumps(data, ensure_ascii=False).encode()
    while len(encoded) > PAYLOAD_MAX_BYTES and data["body"]:
        # Cut the body (never the link) until the message fits what push services carry.
        excess = len(encoded) - PAYLOAD_MAX_BYTES
        cut = max(len(data["body"]) - max(excess // 2, 1) - 1, 0)
        data["body"] = data["body"][:cut].rstrip() + "…" if cut else ""
        encoded = json.dumps(data, ensure_ascii=False).encode()
    return encoded


class _Sessions(threading.local):
    session: requests.Session | None = None


class PushChannel:
    """Web push to every live browser subscription of the notification's person."""

    provider = "push"

    def __init__(self) -> None:
        self._local = _Sessions()

    def _session(self) -> requests.Session:
        if self._local.session is None:
            session = requests.Session()
            # A push service answers directly; following a redirect could send the
            # message (and our VAPID token) somewhere else.
            session.max_redirects = 0
            self._local.session = session
        return self._local.session

    def _post(self, subscription: PushSubscription, payload: bytes) -> tuple[Answer, str]:
        from pywebpush import WebPusher, WebPushException

        info = {
            "endpoint": subscription.endpoint,
            "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth},
        }
        headers = {
            "Authorization": vapid_authorization(subscription.endpoint),
            "Urgency": "normal",
        }
        try:
            response = WebPusher(info, requests_session=self._session()).send(
                payload,
                headers,
                ttl=TTL_SECONDS,
                content_encoding="aes128gcm",
                timeout=_TIMEOUT,
            )
        except requests.TooManyRedirects:
            return "technical", "Push service answered with a redirect"
        except (requests.RequestException, OSError) as error:
            self._local.session = None
            return "retry", f"Push service unavailable: {type(error).__name__}"
        except (WebPushException, ValueError, TypeError) as error:
            # The stored keys cannot be used to encrypt: the subscription is unusable.
            logger.warning(
                "push subscription %s cannot be encrypted to: %s", subscription.pk, error
            )
            return "gone", "Subscription keys are not usable"
        status = getattr(response, "status_code", 0)
        if 200 <= status <= 202:
            return "accepted", ""
        if status in (404, 410):
            return "gone", f"Push service answered {status}"
        if status == 429 or status >= 500:
            return "retry", f"Push service answered {status}"
        if status == 413:
            return "technical", "Push service answered 413: the message is too large"
        return "technical", f"Push service refused the message ({status}); check the VAPID key"

    def _send_one(self, notification: Notification) -> Outcome:
        from civicstack.notify.models import Preference, PushSubscription

        if notification.user_id is None:
            return Outcome("permanent", "Web push messages go to a person with an account")
        preference = Preference.objects.filter(user_id=notification.user_id).first()
        if preference is not None and not preference.push:
            return Outcome("permanent", "The person has turned off web push messages")
        subscriptions = list(
            PushSubscription.objects.filter(
                user_id=notification.user_id, expired_at__isnull=True
            ).order_by("created_at")
        )
        if not subscriptions:
            return Outcome("permanent", "No browser subscribed")
        try:
            vapid_private_key()
        except VapidKeyUnavailable as error:
            return Outcome("technical", str(error))
        payload = payload_for(notification)
        answers: list[tuple[Answer, str]] = []
        for subscription in subscriptions:
            answer, reason = self._post(subscription, payload)
            answers.append((answer, reason))
            now = timezone.now()
            if answer == "accepted":
                PushSubscription.objects.filter(pk=subscription.pk).update(last_success_at=now)
            elif answer == "gone":
                PushSubscription.objects.filter(pk=subscription.pk, expired_at__isnull=True).update(
                    expired_at=now
                )
        kinds = {answer for answer, _reason in answers}
        if "accepted" in kinds:
            # Delivered to at least one browser; retrying the others would repeat it there.
            return Outcome("delivered")
        if "retry" in kinds:
            return Outcome("retry", next(r for a, r in answers if a == "retry"))
        if "technical" in kinds:
            return Outcome("technical", next(r for a, r in answers if a == "technical"))
        return Outcome("permanent", "No browser subscribed")

    def send(self, notifications: list[Notification]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for notification in notifications:
            try:
                outcomes.append(self._send_one(notification))
            except VapidKeyUnavailable as error:
                outcomes.append(Outcome("technical", str(error)))
        return outcomes


push_channel = PushChannel()
channels.register("push")(push_channel)
