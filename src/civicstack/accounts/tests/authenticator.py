"""A software WebAuthn authenticator for tests: what a phone or security key would answer.

It makes "none" attestation registrations and signed assertions with an EC P-256 key, in
the JSON form browsers send (base64url fields), so the server's real checks run on them.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url, encode_cbor

from civicstack.accounts import passkeys

FLAG_UP = 0x01
FLAG_UV = 0x04
FLAG_BE = 0x08
FLAG_BS = 0x10
FLAG_AT = 0x40


def _coordinate(value: int) -> bytes:
    return value.to_bytes(32, "big")


@dataclass
class SoftwareAuthenticator:
    """One discoverable credential on a pretend authenticator; the counter goes up on use."""

    user_verification: bool = True
    backed_up: bool = True
    counter: int = 0
    credential_id: bytes = field(default_factory=lambda: os.urandom(32))
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    user_handle: bytes = b""

    @property
    def credential_id_b64(self) -> str:
        """Return the credential id as base64url, as the server stores it."""
        return bytes_to_base64url(self.credential_id)

    def _cose_public_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return encode_cbor(
            {1: 2, 3: -7, -1: 1, -2: _coordinate(numbers.x), -3: _coordinate(numbers.y)}
        )

    def _flags(self, *, attested: bool = False) -> int:
        flags = FLAG_UP
        if self.user_verification:
            flags |= FLAG_UV
        if self.backed_up:
            flags |= FLAG_BE | FLAG_BS
        if attested:
            flags |= FLAG_AT
        return flags

    @staticmethod
    def _client_data(kind: str, challenge: str, origin: str) -> bytes:
        return json.dumps(
            {"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": False}
        ).encode()

    def register(
        self,
        options: str | dict[str, Any],
        *,
        origin: str | None = None,
        rp_id: str | None = None,
    ) -> dict[str, Any]:
        """Return the browser's JSON answer to ``create()`` for these options."""
        opts = json.loads(options) if isinstance(options, str) else options
        rp = rp_id or opts["rp"]["id"]
        self.user_handle = base64url_to_bytes(opts["user"]["id"])
        client_data = self._client_data(
            "webauthn.create", opts["challenge"], origin or passkeys.expected_origins()[0]
        )
        auth_data = (
            hashlib.sha256(rp.encode()).digest()
            + bytes([self._flags(attested=True)])
            + struct.pack(">I", self.counter)
            + bytes(16)  # AAGUID: all zero, as "none" attestation usually gives
            + struct.pack(">H", len(self.credential_id))
            + self.credential_id
            + self._cose_public_key()
        )
        attestation = encode_cbor({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {
            "id": self.credential_id_b64,
            "rawId": self.credential_id_b64,
            "type": "public-key",
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
            "response": {
                "clientDataJSON": bytes_to_base64url(client_data),
                "attestationObject": bytes_to_base64url(attestation),
                "transports": ["internal", "hybrid"],
            },
        }

    def assertion(
        self,
        options: str | dict[str, Any],
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        counter: int | None = None,
        with_user_handle: bool = True,
    ) -> dict[str, Any]:
        """Return the browser's JSON answer to ``get()``; the counter goes up by one."""
        opts = json.loads(options) if isinstance(options, str) else options
        rp = rp_id or opts["rpId"]
        if counter is None:
            self.counter += 1
            counter = self.counter
        client_data = self._client_data(
            "webauthn.get", opts["challenge"], origin or passkeys.expected_origins()[0]
        )
        auth_data = (
            hashlib.sha256(rp.encode()).digest()
            + bytes([self._flags()])
            + struct.pack(">I", counter)
        )
        signature = self.key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        response: dict[str, Any] = {
            "clientDataJSON": bytes_to_base64url(client_data),
            "authenticatorData": bytes_to_base64url(auth_data),
            "signature": bytes_to_base64url(signature),
        }
        if with_user_handle and self.user_handle:
            response["userHandle"] = bytes_to_base64url(self.user_handle)
        return {
            "id": self.credential_id_b64,
            "rawId": self.credential_id_b64,
            "type": "public-key",
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
            "response": response,
        }
