"""Signed links, device cookies and keyed hashes used by sign-in and account recovery.

Links (email verification, email change, password reset) are signed with the project's
secret key, expire, and carry a fingerprint of the account state they change: once the
link has been used the state differs, so the same link is refused a second time without
storing anything.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.utils.crypto import constant_time_compare, salted_hmac

from civicstack.accounts.models import User, normalise_email

_LINK_SALT = "civicstack.accounts.link"
_DEVICE_SALT = "civicstack.accounts.device"
_KEY_SALT = "civicstack.accounts.key"

PURPOSE_VERIFY_EMAIL = "verify-email"
PURPOSE_CHANGE_EMAIL = "change-email"
PURPOSE_PASSWORD_RESET = "password-reset"  # noqa: S105 - a purpose label, not a secret

LINK_MAX_AGE = {
    PURPOSE_VERIFY_EMAIL: 24 * 60 * 60,
    PURPOSE_CHANGE_EMAIL: 24 * 60 * 60,
    PURPOSE_PASSWORD_RESET: 60 * 60,
}

# A device cookie is good for a year; it only loosens the per-account sign-in throttle.
DEVICE_COOKIE_MAX_AGE = 365 * 24 * 60 * 60
# How many accounts one browser remembers (a shared family computer, say).
DEVICE_COOKIE_MAX_ACCOUNTS = 5


class LinkInvalid(Exception):
    """The link is malformed, tampered with, expired or already used."""


def keyed_hash(*, kind: str, value: str) -> str:
    """Return the HMAC-SHA256 (hex) of ``value`` under the secret key, separated by kind."""
    return salted_hmac(f"{_KEY_SALT}.{kind}", value, algorithm="sha256").hexdigest()


def account_key(email: str) -> str:
    """Return the throttle key of an email address (never the address itself)."""
    return keyed_hash(kind="account", value=normalise_email(email))


def address_key(address: str) -> str:
    """Return the throttle key of an IP address (never the address itself)."""
    return keyed_hash(kind="address", value=address)


def _fingerprint(user: User, purpose: str, data: dict[str, str]) -> str:
    if purpose == PURPOSE_VERIFY_EMAIL:
        state = [user.email, user.email_verified_at.isoformat() if user.email_verified_at else ""]
    elif purpose == PURPOSE_CHANGE_EMAIL:
        state = [user.email, data.get("email", "")]
    elif purpose == PURPOSE_PASSWORD_RESET:
        # The password hash changes when the link is used; last_login when the person signs
        # in, which makes an old reset link useless as it should.
        state = [
            user.email,
            user.password,
            user.last_login.isoformat() if user.last_login else "",
        ]
    else:
        raise ValueError("unknown link purpose")
    return keyed_hash(kind=f"link.{purpose}", value="\x1f".join([str(user.pk), *state]))[:32]


def link_token_make(*, user: User, purpose: str, data: dict[str, str] | None = None) -> str:
    """Return a signed token for ``purpose`` bound to the current state of ``user``."""
    payload = {"u": str(user.pk), "p": purpose, "d": data or {}}
    payload["f"] = _fingerprint(user, purpose, data or {})
    return signing.dumps(payload, salt=_LINK_SALT, compress=True)


@dataclass(frozen=True)
class LinkContent:
    """What a valid link says: who it is for and what it carries."""

    user: User
    purpose: str
    data: dict[str, str]


def link_token_read(
    *, token: str, purposes: tuple[str, ...], for_update: bool = False
) -> LinkContent:
    """Return the content of a valid token for one of ``purposes``; raise LinkInvalid.

    With ``for_update`` the person's row is locked (inside the caller's transaction), so
    two requests racing with the same link cannot both use it.
    """
    if not token or len(token) > 2000:
        raise LinkInvalid()
    try:
        unverified = signing.loads(token, salt=_LINK_SALT)
        purpose = unverified.get("p") if isinstance(unverified, dict) else None
        if purpose not in purposes:
            raise LinkInvalid()
        payload: Any = signing.loads(token, salt=_LINK_SALT, max_age=LINK_MAX_AGE[purpose])
    except (signing.BadSignature, ValueError, TypeError) as exc:
        raise LinkInvalid() from exc
    data = payload.get("d")
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise LinkInvalid()
    users = User.objects.filter(pk=payload.get("u"), is_active=True)
    try:
        user = (users.select_for_update() if for_update else users).first()
    except ValidationError as exc:  # not a UUID
        raise LinkInvalid() from exc
    if user is None:
        raise LinkInvalid()
    if not constant_time_compare(str(payload.get("f", "")), _fingerprint(user, purpose, data)):
        raise LinkInvalid()
    return LinkContent(user=user, purpose=purpose, data=data)


# --- Device cookies (OWASP "slow down online guessing attacks with device cookies") ----


@dataclass(frozen=True)
class DeviceEntry:
    """One account this browser has signed in to, with the device's random id."""

    account_key: str
    nonce: str

    @property
    def device_key(self) -> str:
        """Return the keyed hash of the nonce, which is what attempts are recorded under."""
        return keyed_hash(kind="device", value=self.nonce)


def device_cookie_name() -> str:
    """Return the cookie's name (``__Host-`` prefixed over HTTPS)."""
    return "__Host-device" if settings.HTTPS else "civicstack_device"


def device_entries_read(value: str | None) -> list[DeviceEntry]:
    """Return the entries of a valid device cookie (none if missing, forged or expired)."""
    if not value or len(value) > 4096:
        return []
    try:
        payload = signing.loads(value, salt=_DEVICE_SALT, max_age=DEVICE_COOKIE_MAX_AGE)
    except (signing.BadSignature, ValueError, TypeError):
        return []
    if not isinstance(payload, list):
        return []
    entries = []
    for item in payload[:DEVICE_COOKIE_MAX_ACCOUNTS]:
        if (
            isinstance(item, list)
            and len(item) == 2
            and all(isinstance(part, str) for part in item)
        ):
            entries.append(DeviceEntry(account_key=item[0], nonce=item[1]))
    return entries


def device_entry_for(entries: list[DeviceEntry], key: str) -> DeviceEntry | None:
    """Return the entry for the account ``key``, if this browser holds one."""
    for entry in entries:
        if constant_time_compare(entry.account_key, key):
            return entry
    return None


def device_cookie_value(*, entries: list[DeviceEntry], key: str) -> str:
    """Return a fresh cookie value that adds (or renews) the account ``key``."""
    others = [entry for entry in entries if entry.account_key != key]
    fresh = DeviceEntry(account_key=key, nonce=secrets.token_urlsafe(24))
    kept = [fresh, *others][:DEVICE_COOKIE_MAX_ACCOUNTS]
    return signing.dumps([[entry.account_key, entry.nonce] for entry in kept], salt=_DEVICE_SALT)
