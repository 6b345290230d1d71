"""Compact JWS signing (RFC 7515) for ID tokens, on ``cryptography``'s key objects.

The token endpoint signs an ID token on every code and refresh grant. Here that costs the
signature, two small JSON dumps and three base64 encodings, on a key object each process
loads once; jwcrypto, which the provider signed with before, builds JWK and JWS objects
and parses the header again on every call. ``bench/identity.py`` ("signing") times both
signers side by side. Verifying is rarer (an id_token_hint, a logout) and stays with
jwcrypto, which the tests also use, with joserfc, to check what this module signs.

No Django here, so the benchmark can time exactly this code.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

# ES256 signatures are r and s as two 32-byte big-endian integers (RFC 7518, 3.4).
_P256_BYTES = 32


def _b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _json(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def sign_compact(claims: dict[str, Any], *, alg: str, kid: str, key: PrivateKey) -> str:
    """Return ``claims`` as a compact JWS with header {alg, kid, typ: JWT}, signed by ``key``.

    RS256 is RSASSA-PKCS1-v1_5 with SHA-256 and needs an RSA key; ES256 is ECDSA on P-256
    with SHA-256, its signature r || s (RFC 7518, 3.3 and 3.4), and needs a P-256 key.
    Anything else raises ValueError rather than sign with the wrong algorithm.
    """
    if alg == "RS256":
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("RS256 needs an RSA key")
    elif alg == "ES256":
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise ValueError("ES256 needs a P-256 key")
    else:
        raise ValueError("unsupported signing algorithm")
    header = {"alg": alg, "kid": kid, "typ": "JWT"}
    signing_input = _b64url(_json(header)) + b"." + _b64url(_json(claims))
    if isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    else:
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(_P256_BYTES, "big") + s.to_bytes(_P256_BYTES, "big")
    return (signing_input + b"." + _b64url(signature)).decode("ascii")
