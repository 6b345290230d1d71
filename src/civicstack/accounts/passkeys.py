"""WebAuthn (passkeys): the relying party, challenges kept in the session, and checks.

Built on py_webauthn. Nothing here writes models: the services decide what a verified
ceremony means (a new passkey, a sign-in, a step-up) and store it. Challenges live in the
session, one at a time, for five minutes, and are taken out before they are checked (and
marked used in the shared cache), so each works at most once.
"""

from __future__ import annotations

import hashlib
import ipaddress
import time
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.core.cache import cache
from django.utils.translation import gettext_lazy as _
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    base64url_to_bytes,
    bytes_to_base64url,
    parse_authentication_credential_json,
    parse_registration_credential_json,
)
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticationCredential,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from civicstack.core.errors import ValidationFailed

Purpose = Literal["register", "sign_in", "second_factor", "step_up"]

CHALLENGE_KEY = "civicstack_webauthn_challenge"
CHALLENGE_SECONDS = 5 * 60
# What the browser is told; the server-side expiry above is what counts.
_TIMEOUT_MS = CHALLENGE_SECONDS * 1000
# ES256 first: every platform authenticator supports it; Ed25519 and RS256 for the rest.
_ALGORITHMS = [
    COSEAlgorithmIdentifier.ECDSA_SHA_256,
    COSEAlgorithmIdentifier.EDDSA,
    COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256,
]
MAX_CREDENTIAL_JSON = 64 * 1024
_KNOWN_TRANSPORTS = {transport.value for transport in AuthenticatorTransport}

PASSKEY_NOT_ACCEPTED = _("Your passkey could not be used. Try again, or use another way.")
CHALLENGE_EXPIRED = _("The request timed out or was already used. Try again.")


class PasskeyRefused(ValidationFailed):
    """A WebAuthn response that cannot be accepted; the message says what to do."""


# --- Relying party --------------------------------------------------------------------


def _is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _site_parts() -> tuple[str, str]:
    """Return (host, origin) from SITE_URL, reading a loopback IP address as localhost."""
    parts = urlsplit(settings.SITE_URL)
    host = parts.hostname or "localhost"
    if _is_ip_address(host) and ipaddress.ip_address(host).is_loopback:
        host = "localhost"
    port = f":{parts.port}" if parts.port else ""
    return host, f"{parts.scheme or 'https'}://{host}{port}"


def rp_id() -> str:
    """Return the relying party id: WEBAUTHN_RP_ID, else SITE_URL's host name."""
    configured: str = getattr(settings, "WEBAUTHN_RP_ID", "") or ""
    return configured or _site_parts()[0]


def expected_origins() -> list[str]:
    """Return the origins a ceremony may come from: WEBAUTHN_ORIGIN (comma-separated) or
    SITE_URL's origin."""
    configured: str = getattr(settings, "WEBAUTHN_ORIGIN", "") or ""
    if configured:
        return [origin.strip().rstrip("/") for origin in configured.split(",") if origin.strip()]
    return [_site_parts()[1]]


def user_handle(user_id: Any) -> bytes:
    """Return the WebAuthn user handle of a person: the 16 bytes of their random UUID."""
    return bytes(user_id.bytes)


# --- Challenges -----------------------------------------------------------------------


def _challenge_keep(
    session: SessionBase, *, purpose: Purpose, challenge: bytes, user_id: str
) -> None:
    session[CHALLENGE_KEY] = {
        "purpose": purpose,
        "challenge": bytes_to_base64url(challenge),
        "at": int(time.time()),
        "user": user_id,
    }


def challenge_take(session: SessionBase, *, purpose: Purpose, user_id: str = "") -> bytes:
    """Return the challenge issued in this session for ``purpose`` and forget it.

    Raises PasskeyRefused when there is none, it is older than five minutes, it was issued
    for something else or for another person: a challenge works once, for one thing.
    """
    stored = session.pop(CHALLENGE_KEY, None)
    if (
        not isinstance(stored, dict)
        or stored.get("purpose") != purpose
        or stored.get("user", "") != user_id
        or not isinstance(stored.get("at"), int)
        or time.time() - stored["at"] > CHALLENGE_SECONDS
    ):
        raise PasskeyRefused(CHALLENGE_EXPIRED)
    try:
        challenge = base64url_to_bytes(str(stored["challenge"]))
    except (ValueError, TypeError) as exc:
        raise PasskeyRefused(CHALLENGE_EXPIRED) from exc
    # Two requests racing with the same session could both read the challenge before
    # either saves the session; the shared cache's atomic add lets only the first use it.
    used_key = "civicstack:accounts:webauthn-used:" + hashlib.sha256(challenge).hexdigest()
    if not cache.add(used_key, 1, timeout=CHALLENGE_SECONDS + 60):
        raise PasskeyRefused(CHALLENGE_EXPIRED)
    return challenge


# --- Options --------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredCredential:
    """What the server knows about a registered credential, for building options."""

    credential_id: str
    transports: list[str]


def _descriptors(credentials: list[StoredCredential]) -> list[PublicKeyCredentialDescriptor]:
    descriptors = []
    for credential in credentials:
        transports = [
            AuthenticatorTransport(value)
            for value in credential.transports
            if value in _KNOWN_TRANSPORTS
        ]
        descriptors.append(
            PublicKeyCredentialDescriptor(
                id=base64url_to_bytes(credential.credential_id), transports=transports or None
            )
        )
    return descriptors


def registration_options(
    session: SessionBase,
    *,
    user_id: Any,
    user_name: str,
    display_name: str,
    existing: list[StoredCredential],
) -> str:
    """Return the JSON for ``navigator.credentials.create()`` and keep its challenge.

    A discoverable credential (resident key) with user verification, so the passkey can
    sign its owner in without a password; no attestation is asked for.
    """
    options = generate_registration_options(
        rp_id=rp_id(),
        rp_name=settings.SERVICE_NAME,
        user_id=user_handle(user_id),
        user_name=user_name,
        user_display_name=display_name or user_name,
        timeout=_TIMEOUT_MS,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=_descriptors(existing),
        supported_pub_key_algs=_ALGORITHMS,
    )
    _challenge_keep(session, purpose="register", challenge=options.challenge, user_id=str(user_id))
    return options_to_json(options)


def authentication_options(
    session: SessionBase,
    *,
    purpose: Purpose,
    user_id: str = "",
    allowed: list[StoredCredential] | None = None,
) -> str:
    """Return the JSON for ``navigator.credentials.get()`` and keep its challenge.

    Without ``allowed`` the browser offers the discoverable passkeys it holds for this
    site (passwordless sign-in, which needs user verification); with it, only those.
    """
    verification = (
        UserVerificationRequirement.REQUIRED
        if purpose == "sign_in"
        else UserVerificationRequirement.PREFERRED
    )
    options = generate_authentication_options(
        rp_id=rp_id(),
        timeout=_TIMEOUT_MS,
        allow_credentials=_descriptors(allowed or []),
        user_verification=verification,
    )
    _challenge_keep(session, purpose=purpose, challenge=options.challenge, user_id=user_id)
    return options_to_json(options)


# --- Verification ---------------------------------------------------------------------


@dataclass(frozen=True)
class NewCredential:
    """A verified registration: what to store about the new passkey."""

    credential_id: str
    public_key: bytes
    sign_count: int
    transports: list[str]
    aaguid: str
    backup_eligible: bool
    backup_state: bool


def _json_object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise PasskeyRefused(PASSKEY_NOT_ACCEPTED)
    return data


def registration_verify(*, credential: Any, challenge: bytes) -> NewCredential:
    """Check the browser's answer to ``create()`` against ``challenge``; return the passkey.

    Raises PasskeyRefused for anything malformed or that does not verify (wrong challenge,
    origin or relying party, no user verification).
    """
    try:
        parsed = parse_registration_credential_json(_json_object(credential))
        verified = verify_registration_response(
            credential=parsed,
            expected_challenge=challenge,
            expected_rp_id=rp_id(),
            expected_origin=expected_origins(),
            require_user_verification=True,
            supported_pub_key_algs=_ALGORITHMS,
        )
    except (WebAuthnException, ValueError, TypeError, KeyError, IndexError) as exc:
        raise PasskeyRefused(PASSKEY_NOT_ACCEPTED) from exc
    transports = [
        str(transport.value)
        for transport in (parsed.response.transports or [])
        if transport.value in _KNOWN_TRANSPORTS
    ]
    return NewCredential(
        credential_id=bytes_to_base64url(verified.credential_id),
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        transports=transports,
        aaguid=verified.aaguid,
        backup_eligible=verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
        backup_state=verified.credential_backed_up,
    )


def assertion_parse(credential: Any) -> AuthenticationCredential:
    """Return the browser's answer to ``get()`` parsed (not yet verified).

    Raises PasskeyRefused when it is not a well-formed assertion.
    """
    try:
        parsed = parse_authentication_credential_json(_json_object(credential))
    except (WebAuthnException, ValueError, TypeError, KeyError, IndexError) as exc:
        raise PasskeyRefused(PASSKEY_NOT_ACCEPTED) from exc
    if bytes_to_base64url(parsed.raw_id) != parsed.id:
        raise PasskeyRefused(PASSKEY_NOT_ACCEPTED)
    return parsed


@dataclass(frozen=True)
class VerifiedAssertion:
    """A verified assertion: the new counter, whether the person was verified, backup."""

    sign_count: int
    user_verified: bool
    backup_state: bool


class CounterRegressed(PasskeyRefused):
    """The assertion's signature counter did not go up: a cloned authenticator or replay."""


def assertion_verify(
    *,
    parsed: AuthenticationCredential,
    challenge: bytes,
    public_key: bytes,
    sign_count: int,
    require_user_verification: bool,
) -> VerifiedAssertion:
    """Check a parsed assertion against ``challenge`` and the stored key and counter.

    Raises CounterRegressed when the signature is good but the counter did not go up,
    PasskeyRefused for everything else.
    """
    try:
        # The counter is compared below, after the signature: a regressed counter on a
        # correctly signed assertion is worth auditing, a forged one is not.
        verified = verify_authentication_response(
            credential=parsed,
            expected_challenge=challenge,
            expected_rp_id=rp_id(),
            expected_origin=expected_origins(),
            credential_public_key=public_key,
            credential_current_sign_count=0,
            require_user_verification=require_user_verification,
        )
    except (WebAuthnException, ValueError, TypeError, KeyError, IndexError) as exc:
        raise PasskeyRefused(PASSKEY_NOT_ACCEPTED) from exc
    new_count = verified.new_sign_count
    if (new_count > 0 or sign_count > 0) and new_count <= sign_count:
        raise CounterRegressed(PASSKEY_NOT_ACCEPTED)
    return VerifiedAssertion(
        sign_count=new_count,
        user_verified=verified.user_verified,
        backup_state=verified.credential_backed_up,
    )
