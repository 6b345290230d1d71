"""ID token signing keys: made, encrypted at rest, published (JWKS) and used to sign.

Private keys are stored encrypted (AES-GCM) under a key derived from SECRET_KEY, with the
key's row id as associated data, so a copied ciphertext cannot be moved to another row.
Each process keeps decrypted keys in memory by kid: decrypting and parsing a PEM on every
token would cost more than signing it.

Signing itself is in ``jose``: a compact JWS built on the cached key objects.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from jwcrypto import jwk, jws

from civicstack.identity.models import SigningAlg, SigningKey
from civicstack.identity.oidc import jose

# How long an active key stays the one used before another process sees a rotation.
_ACTIVE_CACHE_SECONDS = 30.0
# How long relying parties may cache the JWKS (its Cache-Control max-age).
JWKS_MAX_AGE = 60
# Added to JWKS_MAX_AGE before a new key signs: clock skew and a slow fetch.
_ACTIVATION_MARGIN_SECONDS = 60
_lock = threading.Lock()
_private: dict[str, jose.PrivateKey] = {}
_active: dict[str, tuple[float, SigningKey]] = {}


def _cipher() -> AESGCM:
    material = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"civicstack oidc signing keys"
    ).derive(settings.SECRET_KEY.encode())
    return AESGCM(material)


def publish_seconds() -> int:
    """Return how long a retired key stays in the JWKS: the longest life of what it signed.

    Other processes may sign with a key for up to ``_ACTIVE_CACHE_SECONDS`` after it was
    retired, so that is added, with a minute for clock skew.
    """
    return int(settings.OIDC_ID_TOKEN_SECONDS) + int(_ACTIVE_CACHE_SECONDS) + 60


def activation_delay_seconds() -> int:
    """Return how long a new key is published before it signs anything.

    A relying party may hold the JWKS for ``JWKS_MAX_AGE`` seconds; a token signed by a key
    it has not seen yet would fail to verify until its copy expires.
    """
    return JWKS_MAX_AGE + _ACTIVATION_MARGIN_SECONDS


def key_new(alg: str) -> SigningKey:
    """Return a new, unsaved signing key for ``alg`` (RS256: RSA 2048; ES256: P-256)."""
    if alg == SigningAlg.RS256:
        private: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif alg == SigningAlg.ES256:
        private = ec.generate_private_key(ec.SECP256R1())
    else:
        raise ValueError("unsupported signing algorithm")
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    kid = secrets.token_urlsafe(16)
    public = jwk.JWK.from_pem(pem).export_public(as_dict=True)
    public.update({"kid": kid, "alg": alg, "use": "sig"})
    key = SigningKey(kid=kid, alg=alg, public_jwk=public)
    nonce = secrets.token_bytes(12)
    key.private_key_encrypted = nonce + _cipher().encrypt(nonce, pem, str(key.pk).encode())
    return key


def _private_key(key: SigningKey) -> jose.PrivateKey:
    cached = _private.get(key.kid)
    if cached is not None:
        return cached
    blob = bytes(key.private_key_encrypted)
    pem = _cipher().decrypt(blob[:12], blob[12:], str(key.pk).encode())
    private = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(private, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError(f"signing key {key.kid} is neither RSA nor EC")
    with _lock:
        _private[key.kid] = private
    return private


def caches_clear() -> None:
    """Forget this process's copies of the active keys (after a rotation)."""
    with _lock:
        _active.clear()


def _signing_now(alg: str, moment: datetime) -> SigningKey | None:
    """Return the newest key for ``alg`` that is active at ``moment``: activated, not retired."""
    return (
        SigningKey.objects.filter(alg=alg, activated_at__lte=moment)
        .filter(Q(retired_at__isnull=True) | Q(retired_at__gt=moment))
        .order_by("-activated_at")
        .first()
    )


def active_key(alg: str) -> SigningKey:
    """Return the key that signs new tokens with ``alg``.

    A key made by a rotation is published first and signs only from its ``activated_at``;
    until then the key it replaces goes on signing (its ``retired_at`` is that moment).
    Raises SigningKey.DoesNotExist when there is none (``civicstack oidc_keys`` makes them).
    """
    now = time.monotonic()
    cached = _active.get(alg)
    if cached is not None and now - cached[0] < _ACTIVE_CACHE_SECONDS:
        return cached[1]
    found = _signing_now(alg, timezone.now())
    if found is None:
        # A fresh installation that skipped `civicstack oidc_keys`: make the keys now rather
        # than fail the request.
        from civicstack.identity.services import signing_keys_ensure

        signing_keys_ensure()
        found = _signing_now(alg, timezone.now())
    if found is None:
        raise SigningKey.DoesNotExist(f"no active {alg} signing key")
    with _lock:
        _active[alg] = (now, found)
    return found


def published_keys(now: datetime | None = None) -> list[SigningKey]:
    """Return the keys in the JWKS: active ones, new ones not signing yet, and retired ones
    whose tokens may still live."""
    moment = now or timezone.now()
    cutoff = moment - timedelta(seconds=publish_seconds())
    return list(
        SigningKey.objects.filter(Q(retired_at__isnull=True) | Q(retired_at__gt=cutoff)).order_by(
            "alg", "-activated_at"
        )
    )


def jwks_document() -> dict[str, Any]:
    """Return the JSON Web Key Set of the published public keys."""
    return {"keys": [dict(key.public_jwk) for key in published_keys()]}


def sign(claims: dict[str, Any], alg: str) -> str:
    """Return ``claims`` as a compact JWS signed with the active ``alg`` key, with its kid."""
    if alg not in SigningAlg.values:
        raise ValueError("unsupported signing algorithm")
    key = active_key(alg)
    return jose.sign_compact(claims, alg=alg, kid=key.kid, key=_private_key(key))


def verify(token: str, *, leeway_expired: bool = False) -> dict[str, Any] | None:
    """Return the claims of a JWT we signed (any published key), or None when it is not ours.

    Only the kid's own algorithm is accepted, so ``alg`` none or HS256 never verify.
    """
    if not isinstance(token, str) or len(token) > 16384 or token.count(".") != 2:
        return None
    try:
        parsed = jws.JWS()
        parsed.deserialize(token)
        header = parsed.jose_header
        if not isinstance(header, dict):
            return None
        kid = header.get("kid")
        alg = header.get("alg")
        if not isinstance(kid, str) or alg not in SigningAlg.values:
            return None
        keys = {key.kid: key for key in published_keys()}
        key = keys.get(kid)
        if key is None or key.alg != alg:
            return None
        parsed.verify(jwk.JWK(**key.public_jwk), alg=alg)
        claims = json.loads(parsed.payload)
    except Exception:
        return None
    if not isinstance(claims, dict):
        return None
    return claims
