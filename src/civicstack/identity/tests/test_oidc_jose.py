"""ID token signing (identity.oidc.jose): what it signs verifies with two other libraries."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc import jwt as joserfc_jwt
from joserfc.jwk import ECKey, RSAKey
from jwcrypto import jwk, jws

from civicstack.identity.oidc.jose import PrivateKey, sign_compact

CLAIMS: dict[str, Any] = {
    "iss": "https://civicstack.example/oidc",
    "sub": "5b1c0d6e-8f5e-4b5a-9c1e-0c8d2f3a4b5c",
    "aud": "client-1",
    "iat": 1_800_000_000,
    "exp": 1_800_000_600,
    "name": "Siân Ó Ceallaigh",  # non-ASCII survives the round trip
    "amr": ["pwd", "otp"],
}


def _rsa() -> PrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _p256() -> PrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _part(token: str, index: int) -> bytes:
    piece = token.split(".")[index]
    return base64.urlsafe_b64decode(piece + "=" * (-len(piece) % 4))


@pytest.mark.parametrize(("alg", "make"), [("RS256", _rsa), ("ES256", _p256)])
def test_a_signed_token_verifies_with_jwcrypto_and_joserfc(alg: str, make: Any) -> None:
    key = make()
    token = sign_compact(CLAIMS, alg=alg, kid="key-1", key=key)
    public = jwk.JWK.from_pyca(key.public_key())

    checked = jws.JWS()
    checked.deserialize(token)
    checked.verify(public, alg=alg)
    assert json.loads(checked.payload) == CLAIMS
    assert checked.jose_header == {"alg": alg, "kid": "key-1", "typ": "JWT"}

    imported = (RSAKey if alg == "RS256" else ECKey).import_key(public.export_public(as_dict=True))
    assert joserfc_jwt.decode(token, imported, algorithms=[alg]).claims == CLAIMS


@pytest.mark.parametrize(("alg", "make", "length"), [("RS256", _rsa, 256), ("ES256", _p256, 64)])
def test_the_compact_form_has_no_padding_and_the_raw_signature_length(
    alg: str, make: Any, length: int
) -> None:
    """Three base64url parts without '='; ES256 is r || s (64 bytes), not DER."""
    token = sign_compact(CLAIMS, alg=alg, kid="k", key=make())
    assert token.count(".") == 2
    assert "=" not in token and "+" not in token and "/" not in token
    assert len(_part(token, 2)) == length


def test_a_changed_payload_no_longer_verifies() -> None:
    key = _p256()
    header, _payload, signature = sign_compact(CLAIMS, alg="ES256", kid="k", key=key).split(".")
    forged_claims = base64.urlsafe_b64encode(json.dumps({**CLAIMS, "sub": "someone-else"}).encode())
    forged = ".".join([header, forged_claims.decode().rstrip("="), signature])
    checked = jws.JWS()
    checked.deserialize(forged)
    with pytest.raises(jws.InvalidJWSSignature):
        checked.verify(jwk.JWK.from_pyca(key.public_key()), alg="ES256")


@pytest.mark.parametrize(
    ("alg", "make"),
    [
        ("RS256", _p256),  # an EC key cannot sign RS256
        ("ES256", _rsa),  # nor an RSA key ES256
        ("ES256", lambda: ec.generate_private_key(ec.SECP384R1())),  # ES256 is P-256 only
        ("HS256", _rsa),
        ("none", _rsa),
        ("PS256", _rsa),
    ],
)
def test_a_key_that_does_not_fit_the_algorithm_is_refused(alg: str, make: Any) -> None:
    with pytest.raises(ValueError):
        sign_compact(CLAIMS, alg=alg, kid="k", key=make())
