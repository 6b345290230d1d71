"""Authenticator-app codes (RFC 6238 TOTP), their QR code, and recovery codes.

Pure functions: nothing here reads or writes the database. The services decide which time
step is acceptable (replay protection) and store what must be stored.
"""

from __future__ import annotations

import re
import secrets
import time

import pyotp
import segno
from django.utils.crypto import constant_time_compare

from civicstack.accounts.tokens import keyed_hash

TOTP_DIGITS = 6
TOTP_INTERVAL = 30
# Accept the previous and next 30-second step too, for clocks that drift a little.
TOTP_DRIFT_STEPS = 1
RECOVERY_CODE_COUNT = 10
# Crockford-style alphabet without the look-alikes 0/O and 1/I/L.
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_RECOVERY_GROUP = 5
_CODE_CLEAN = re.compile(r"[\s-]")


def totp_secret_new() -> str:
    """Return a new random base32 secret of 160 bits (RFC 4226's recommended length)."""
    return pyotp.random_base32(length=32)


def totp_current_step(at: float | None = None) -> int:
    """Return the 30-second time step at ``at`` (now by default)."""
    return int((time.time() if at is None else at) // TOTP_INTERVAL)


def totp_code_at(*, secret: str, step: int) -> str:
    """Return the code the authenticator app shows during ``step``."""
    return pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_INTERVAL).generate_otp(step)


def totp_code_clean(code: str) -> str:
    """Return ``code`` without spaces or hyphens (people copy ``123 456``)."""
    return _CODE_CLEAN.sub("", code)


def totp_matching_step(*, secret: str, code: str, at: float | None = None) -> int | None:
    """Return the time step whose code equals ``code`` (within the drift), else None."""
    cleaned = totp_code_clean(code)
    if len(cleaned) != TOTP_DIGITS or not cleaned.isascii() or not cleaned.isdigit():
        return None
    now_step = totp_current_step(at)
    matched = None
    # Check every candidate so the time taken does not depend on which one matched.
    for step in range(now_step - TOTP_DRIFT_STEPS, now_step + TOTP_DRIFT_STEPS + 1):
        if constant_time_compare(totp_code_at(secret=secret, step=step), cleaned):
            matched = step if matched is None else max(matched, step)
    return matched


def totp_provisioning_uri(*, secret: str, account_name: str, issuer: str) -> str:
    """Return the ``otpauth://`` URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_INTERVAL).provisioning_uri(
        name=account_name, issuer_name=issuer
    )


def totp_qr_svg(*, uri: str, title: str) -> str:
    """Return the QR code of ``uri`` as inline SVG with colours in attributes, not styles.

    The page's Content Security Policy forbids inline styles, so the SVG must carry no
    ``style`` attribute or element; segno writes ``fill``/``stroke`` attributes.
    """
    qr = segno.make(uri, error="m", micro=False)
    svg: str = qr.svg_inline(
        scale=5,
        border=4,
        dark="#0b0c0c",
        light="#ffffff",
        title=title,
        svgclass="civicstack-qr",
        lineclass=None,
        omitsize=False,
    )
    return svg.replace("<svg ", '<svg role="img" focusable="false" ', 1)


def totp_secret_groups(secret: str) -> list[str]:
    """Return the secret in groups of four characters, easier to type by hand."""
    return [secret[i : i + 4] for i in range(0, len(secret), 4)]


def recovery_codes_new() -> list[str]:
    """Return ten new recovery codes like ``k7m2p-x9qrt`` (about 49 bits each)."""
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(2 * _RECOVERY_GROUP))
        codes.append(f"{raw[:_RECOVERY_GROUP]}-{raw[_RECOVERY_GROUP:]}")
    return codes


def recovery_code_normalise(code: str) -> str:
    """Return the code lower-cased without spaces or hyphens."""
    return _CODE_CLEAN.sub("", code).lower()


def recovery_code_hash(code: str) -> str:
    """Return the keyed hash stored for a recovery code.

    Recovery codes are random and high-entropy, so a fast keyed hash (HMAC-SHA256 with the
    secret key) is enough; a slow password hash would add nothing but sign-in latency.
    """
    return keyed_hash(kind="recovery-code", value=recovery_code_normalise(code))
