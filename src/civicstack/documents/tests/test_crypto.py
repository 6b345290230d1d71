"""Envelope encryption: round trip, tamper detection, key rings, rotation and re-wrapping."""

from __future__ import annotations

import base64
import stat
import uuid
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from civicstack.conf.env import ConfigurationError
from civicstack.core.models import AuditEvent
from civicstack.documents import crypto, selectors, services
from civicstack.documents.constants import KINDS, UploadPolicy
from civicstack.documents.errors import DocumentDamaged
from civicstack.documents.models import Document
from civicstack.documents.testing import pdf_bytes, upload_of

POLICY = UploadPolicy(kinds=KINDS, max_bytes=1024 * 1024)


def _ring() -> crypto.KeyRing:
    return crypto.KeyRing(keys=(("k2", bytes(range(32))), ("k1", bytes(32))))


def test_sealed_content_opens_only_for_its_own_document() -> None:
    """V11.3.3: AES-GCM with the document id bound in; moved ciphertext does not open."""
    ring = _ring()
    document_id = uuid.uuid4()
    sealed = crypto.content_seal(plaintext=b"secret", document_id=document_id, ring=ring)
    assert sealed.key_id == "k2"
    assert len(sealed.nonce) == 12
    assert b"secret" not in sealed.ciphertext
    fields = {"nonce": sealed.nonce, "wrapped_key": sealed.wrapped_key, "key_id": "k2"}
    assert (
        crypto.content_open(
            ciphertext=sealed.ciphertext, document_id=document_id, ring=ring, **fields
        )
        == b"secret"
    )
    with pytest.raises(crypto.DecryptionFailed):
        crypto.content_open(
            ciphertext=sealed.ciphertext, document_id=uuid.uuid4(), ring=ring, **fields
        )


def test_each_file_gets_its_own_data_key_and_nonce() -> None:
    """Two seals of the same bytes share nothing."""
    ring = _ring()
    document_id = uuid.uuid4()
    first = crypto.content_seal(plaintext=b"same", document_id=document_id, ring=ring)
    second = crypto.content_seal(plaintext=b"same", document_id=document_id, ring=ring)
    assert first.ciphertext != second.ciphertext
    assert first.wrapped_key != second.wrapped_key
    assert first.nonce != second.nonce


def test_a_wrapped_key_is_bound_to_its_key_id() -> None:
    """A wrapped key relabelled with another key id fails, even if that key could open it."""
    ring = crypto.KeyRing(keys=(("a", bytes(32)), ("b", bytes(32))))
    document_id = uuid.uuid4()
    wrapped, key_id = crypto.data_key_wrap(data_key=bytes(32), document_id=document_id, ring=ring)
    assert key_id == "a"
    with pytest.raises(crypto.DecryptionFailed):
        crypto.data_key_unwrap(wrapped_key=wrapped, key_id="b", document_id=document_id, ring=ring)


def test_key_rings_parse_from_the_environment_format() -> None:
    """DOCUMENT_KEYS is "id:base64url-key" pairs, newest first; bad values are refused."""
    key = base64.urlsafe_b64encode(bytes(range(32))).decode().rstrip("=")
    ring = crypto.key_ring_parse(f"new:{key}, old:{key}")
    assert ring.ids() == ["new", "old"]
    assert ring.current_id == "new"
    for bad in ["", "nokey", f"bad id:{key}", "short:AAAA", f"a:{key},a:{key}"]:
        with pytest.raises(ConfigurationError):
            crypto.key_ring_parse(bad)


def test_production_without_document_keys_is_a_clear_configuration_error(
    tmp_path: Path,
) -> None:
    """V13.3.1: production never falls back to a key file; it says what to set."""
    production = override_settings(
        PRODUCTION=True, DOCUMENT_KEYS=None, DOCUMENT_KEYS_FILE=tmp_path / "k"
    )
    with production, pytest.raises(ConfigurationError, match="DOCUMENT_KEYS must be set"):
        crypto.key_ring_load()
    assert not (tmp_path / "k").exists()


def test_the_key_ring_file_is_made_private_on_first_use(tmp_path: Path) -> None:
    """V13.3.1: outside production the ring file is created once, readable only by us."""
    path = tmp_path / "keys" / "documents.keys"
    with override_settings(DOCUMENT_KEYS=None, DOCUMENT_KEYS_FILE=path):
        first = crypto.key_ring_load()
        again = crypto.key_ring_load()
    assert first == again
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert list(path.parent.iterdir()) == [path]  # no temporary files left behind


@pytest.mark.django_db
@pytest.mark.usefixtures("clamd")
def test_tampered_ciphertext_is_detected_never_returned(document_store: Path) -> None:
    """V11.3.3: one flipped bit in storage gives a clear error, not altered plaintext."""
    document = services.document_upload(
        upload=upload_of("a.pdf", pdf_bytes()),
        policy=POLICY,
        owner=None,
        holder="draft:x",
        actor=None,
    )
    blob = document_store / document.storage_name
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0x01
    blob.write_bytes(bytes(data))
    with pytest.raises(DocumentDamaged) as raised:
        selectors.document_content(document=document)
    assert raised.value.status == 500
    assert "damaged" in str(raised.value.message)


@pytest.mark.django_db
@pytest.mark.usefixtures("clamd")
def test_ciphertext_swapped_between_documents_is_detected(document_store: Path) -> None:
    """Copying another document's ciphertext into place does not open (id is bound in)."""
    first, second = (
        services.document_upload(
            upload=upload_of("a.pdf", pdf_bytes(pages)),
            policy=POLICY,
            owner=None,
            holder="draft:x",
            actor=None,
        )
        for pages in (1, 2)
    )
    (document_store / second.storage_name).write_bytes(
        (document_store / first.storage_name).read_bytes()
    )
    with pytest.raises(DocumentDamaged):
        selectors.document_content(document=second)


@pytest.mark.django_db
@pytest.mark.usefixtures("clamd")
def test_rotate_and_rewrap_keep_every_file_readable(document_store: Path) -> None:
    """V11.2.2: after rotation and re-wrap every file opens, under the new key id only.

    The stored ciphertext is not rewritten; re-running rewrap changes nothing.
    """
    contents = [pdf_bytes(pages) for pages in (1, 2, 3)]
    documents = [
        services.document_upload(
            upload=upload_of("a.pdf", content),
            policy=POLICY,
            owner=None,
            holder="draft:x",
            actor=None,
        )
        for content in contents
    ]
    old_key = documents[0].key_id
    blobs_before = {d.pk: (document_store / d.storage_name).read_bytes() for d in documents}

    out = StringIO()
    call_command("documents_keys", "rotate", stdout=out)
    new_key = crypto.key_ring_load().current_id
    assert new_key != old_key
    assert new_key in out.getvalue()
    # Before re-wrapping, old documents still open with the old key.
    for document, content in zip(documents, contents, strict=True):
        document.refresh_from_db()
        assert document.key_id == old_key
        assert selectors.document_content(document=document) == content
    assert selectors.document_key_counts() == {old_key: 3}

    call_command("documents_keys", "rewrap", "--batch-size", "2", stdout=StringIO())
    for document, content in zip(documents, contents, strict=True):
        document.refresh_from_db()
        assert document.key_id == new_key
        assert selectors.document_content(document=document) == content
        assert (document_store / document.storage_name).read_bytes() == blobs_before[document.pk]
    assert selectors.document_key_counts() == {new_key: 3}
    assert services.documents_rewrap(actor=None) == 0
    assert AuditEvent.objects.filter(action="documents.key_rotated", object_id=new_key).exists()
    assert AuditEvent.objects.filter(action="documents.rewrapped").count() == 2

    status = StringIO()
    call_command("documents_keys", "status", stdout=status)
    assert f"{new_key}: 3 documents" in status.getvalue()
    assert f"{old_key}: 0 documents" in status.getvalue()


@pytest.mark.django_db
def test_rotate_refuses_when_keys_come_from_the_environment() -> None:
    """With DOCUMENT_KEYS, rotation is the operator's job; the command says how."""
    key = base64.urlsafe_b64encode(bytes(32)).decode().rstrip("=")
    with (
        override_settings(DOCUMENT_KEYS=f"env1:{key}"),
        pytest.raises(CommandError, match="DOCUMENT_KEYS"),
    ):
        call_command("documents_keys", "rotate", stdout=StringIO())
    generated = StringIO()
    call_command("documents_keys", "generate", stdout=generated)
    parsed = crypto.key_ring_parse(generated.getvalue())
    assert len(parsed.keys[0][1]) == 32
    assert Document.objects.count() == 0
