"""Envelope encryption for stored files.

Each file gets its own random 256-bit data key; the file is sealed with AES-GCM under that
key (a random 96-bit nonce, the document id as associated data, so a ciphertext moved to
another document's row does not open). The data key is kept only wrapped by a
key-encryption key (KEK) from the key ring, again with AES-GCM, binding the document id and
the KEK's id. Rotating the KEK re-wraps 60-byte data keys; file ciphertext never changes.

The key ring comes from ``DOCUMENT_KEYS`` ("id:base64url-key,id2:...", newest first) or,
outside production only, from a file ``DOCUMENT_KEYS_FILE`` made on first use.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.utils import timezone

from civicstack.conf.env import ConfigurationError

KEY_BYTES = 32
NONCE_BYTES = 12
_KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_WRAP_CONTEXT = b"civicstack.documents.data-key.v1"


class KeyUnavailable(Exception):
    """The key a document was wrapped with is not in the key ring."""


class DecryptionFailed(Exception):
    """A wrapped key or a ciphertext failed its authentication tag (altered or misplaced)."""


@dataclass(frozen=True)
class KeyRing:
    """Key-encryption keys, newest (current) first."""

    keys: tuple[tuple[str, bytes], ...]

    @property
    def current_id(self) -> str:
        """Return the id of the key new data keys are wrapped with."""
        return self.keys[0][0]

    def key(self, key_id: str) -> bytes:
        """Return the key with ``key_id``; raise KeyUnavailable if the ring lacks it."""
        for candidate, key in self.keys:
            if candidate == key_id:
                return key
        raise KeyUnavailable(f"key {key_id!r} is not in the document key ring")

    def ids(self) -> list[str]:
        """Return the ids, newest first."""
        return [key_id for key_id, _ in self.keys]


@dataclass(frozen=True)
class Sealed:
    """A file sealed for storage: ciphertext plus what opens it."""

    ciphertext: bytes
    nonce: bytes
    wrapped_key: bytes
    key_id: str


def key_ring_parse(text: str) -> KeyRing:
    """Parse "id:base64url-key" pairs (comma or newline separated, newest first)."""
    keys: list[tuple[str, bytes]] = []
    for raw in re.split(r"[,\n]", text):
        entry = raw.strip()
        if not entry or entry.startswith("#"):
            continue
        key_id, sep, encoded = entry.partition(":")
        if not sep or not _KEY_ID.match(key_id):
            raise ConfigurationError(
                "document keys must be 'id:base64url-key' pairs with ids of letters, digits, "
                "'.', '_' or '-'"
            )
        try:
            key = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except ValueError as exc:
            raise ConfigurationError(f"document key {key_id!r} is not base64url") from exc
        if len(key) != KEY_BYTES:
            raise ConfigurationError(f"document key {key_id!r} must be {KEY_BYTES} bytes")
        if any(key_id == existing for existing, _ in keys):
            raise ConfigurationError(f"document key id {key_id!r} appears twice")
        keys.append((key_id, key))
    if not keys:
        raise ConfigurationError("the document key ring is empty")
    return KeyRing(keys=tuple(keys))


def key_ring_format(ring: KeyRing) -> str:
    """Return the ring as text, one "id:base64url-key" per line, newest first."""
    return "".join(
        f"{key_id}:{base64.urlsafe_b64encode(key).decode().rstrip('=')}\n"
        for key_id, key in ring.keys
    )


def key_new() -> tuple[str, bytes]:
    """Return a fresh key and an id for it (date plus random, so ids never collide)."""
    return f"{timezone.now():%Y%m%d}-{secrets.token_hex(4)}", AESGCM.generate_key(256)


def key_ring_uses_file() -> bool:
    """Return True when the ring lives in DOCUMENT_KEYS_FILE rather than DOCUMENT_KEYS."""
    return not settings.DOCUMENT_KEYS


def key_ring_load() -> KeyRing:
    """Return the key ring, making the file ring on first use outside production.

    Read on every use (it is small), so a key rotated by the command is picked up by
    every running process without a restart.
    """
    if settings.DOCUMENT_KEYS:
        return key_ring_parse(settings.DOCUMENT_KEYS)
    if settings.PRODUCTION:
        raise ConfigurationError(
            "DOCUMENT_KEYS must be set in production: 'id:base64url-32-byte-key' pairs, "
            "newest first (make one with `civicstack documents_keys generate`)"
        )
    path = Path(settings.DOCUMENT_KEYS_FILE)
    if not path.exists():
        key_id, key = key_new()
        _write_private(path, key_ring_format(KeyRing(keys=((key_id, key),))), exclusive=True)
    return key_ring_parse(path.read_text())


def key_ring_rotate() -> str:
    """Add a new key to the file ring and make it current; return its id.

    Old keys stay, so documents wrapped with them still open until they are re-wrapped.
    """
    if settings.DOCUMENT_KEYS:
        raise ConfigurationError(
            "the key ring comes from DOCUMENT_KEYS: add a new 'id:key' pair at its front "
            "(`civicstack documents_keys generate` makes one), restart, then run rewrap"
        )
    ring = key_ring_load()
    key_id, key = key_new()
    rotated = KeyRing(keys=((key_id, key), *ring.keys))
    _write_private(Path(settings.DOCUMENT_KEYS_FILE), key_ring_format(rotated), exclusive=False)
    return key_id


def _write_private(path: Path, text: str, *, exclusive: bool) -> None:
    # Written to a private temporary file and renamed into place, so readers never see a
    # half-written ring and the key is never readable by others, even for a moment.
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if exclusive:
            # Two processes starting at once must not each make a different first key.
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
        else:
            temporary.replace(path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


def _wrap_aad(document_id: UUID, key_id: str) -> bytes:
    return b"|".join((_WRAP_CONTEXT, document_id.bytes, key_id.encode()))


def data_key_wrap(*, data_key: bytes, document_id: UUID, ring: KeyRing) -> tuple[bytes, str]:
    """Return ``data_key`` wrapped with the ring's current key, and that key's id."""
    key_id = ring.current_id
    nonce = os.urandom(NONCE_BYTES)
    wrapped = AESGCM(ring.key(key_id)).encrypt(nonce, data_key, _wrap_aad(document_id, key_id))
    return nonce + wrapped, key_id


def data_key_unwrap(*, wrapped_key: bytes, key_id: str, document_id: UUID, ring: KeyRing) -> bytes:
    """Return the data key; raise DecryptionFailed if it was altered or moved."""
    if len(wrapped_key) != NONCE_BYTES + KEY_BYTES + 16:
        raise DecryptionFailed("the wrapped data key has the wrong length")
    nonce, body = wrapped_key[:NONCE_BYTES], wrapped_key[NONCE_BYTES:]
    try:
        return AESGCM(ring.key(key_id)).decrypt(nonce, body, _wrap_aad(document_id, key_id))
    except InvalidTag as exc:
        raise DecryptionFailed("the wrapped data key failed authentication") from exc


def content_seal(*, plaintext: bytes, document_id: UUID, ring: KeyRing) -> Sealed:
    """Encrypt ``plaintext`` under a new data key and wrap that key with the current KEK."""
    data_key = AESGCM.generate_key(256)
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(data_key).encrypt(nonce, plaintext, document_id.bytes)
    wrapped_key, key_id = data_key_wrap(data_key=data_key, document_id=document_id, ring=ring)
    return Sealed(ciphertext=ciphertext, nonce=nonce, wrapped_key=wrapped_key, key_id=key_id)


def content_open(
    *,
    ciphertext: bytes,
    nonce: bytes,
    wrapped_key: bytes,
    key_id: str,
    document_id: UUID,
    ring: KeyRing,
) -> bytes:
    """Return the plaintext; raise DecryptionFailed if anything was altered."""
    data_key = data_key_unwrap(
        wrapped_key=wrapped_key, key_id=key_id, document_id=document_id, ring=ring
    )
    try:
        return AESGCM(data_key).decrypt(nonce, ciphertext, document_id.bytes)
    except InvalidTag as exc:
        raise DecryptionFailed("the stored file failed authentication") from exc


def data_key_rewrap(
    *, wrapped_key: bytes, key_id: str, document_id: UUID, ring: KeyRing
) -> tuple[bytes, str]:
    """Return the data key wrapped again with the ring's current key, and its id."""
    data_key = data_key_unwrap(
        wrapped_key=wrapped_key, key_id=key_id, document_id=document_id, ring=ring
    )
    return data_key_wrap(data_key=data_key, document_id=document_id, ring=ring)
