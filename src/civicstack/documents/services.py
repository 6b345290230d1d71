"""Uploading, attaching, removing and releasing documents; key rotation and re-wrapping.

An upload is size-capped, scanned by clamd (failing closed), checked and cleaned
(``checks``), sealed with its own data key (``crypto``) and stored under a name made from
its id; the row and its audit event are written in one transaction, and if that fails the
stored ciphertext is removed. Removing a document destroys its wrapped key at once (so the
ciphertext is unreadable) and deletes the stored bytes after commit.

Other apps catch the refusals re-exported here (all ``ValidationFailed``) and
``ScannerUnavailable`` (a ``TemporarilyUnavailable``).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from civicstack.core.audit import audit_event_record
from civicstack.core.errors import NotFound, ValidationFailed
from civicstack.documents import checks, crypto, scanner, selectors
from civicstack.documents.constants import (
    FILENAME_MAX_LENGTH,
    KIND_PDF,
    DocumentStatus,
    UploadPolicy,
)
from civicstack.documents.errors import (
    ArchiveNotAllowed,
    ArchiveUnsafe,
    DocumentDamaged,
    FileActiveContent,
    FileEmpty,
    FileEncrypted,
    FileExtensionMismatch,
    FileHiddenContent,
    FileRefused,
    FileTooLarge,
    FileTypeNotAllowed,
    FileUnreadable,
    ImageTooLarge,
    ScannerUnavailable,
    TooManyFiles,
    UploadTooLarge,
    VirusFound,
)
from civicstack.documents.models import Document
from civicstack.documents.storage import document_storage, storage_name_for

__all__ = [
    "ArchiveNotAllowed",
    "ArchiveUnsafe",
    "DocumentDamaged",
    "DocumentDownload",
    "DocumentUnavailable",
    "FileActiveContent",
    "FileEmpty",
    "FileEncrypted",
    "FileExtensionMismatch",
    "FileHiddenContent",
    "FileRefused",
    "FileTooLarge",
    "FileTypeNotAllowed",
    "FileUnreadable",
    "ImageTooLarge",
    "ScannerUnavailable",
    "TooManyFiles",
    "UploadTooLarge",
    "VirusFound",
    "document_download",
    "document_key_rotate",
    "document_remove",
    "document_upload",
    "documents_attach",
    "documents_release",
    "documents_rewrap",
]

logger = logging.getLogger(__name__)

HOLDER_MAX_LENGTH = 100
_READ_CHUNK = 64 * 1024


class DocumentUnavailable(ValidationFailed):
    """An uploaded file cannot be used: unknown, removed, already sent or not yours."""

    code = "document_unavailable"
    default_message = _("One of the files you uploaded is no longer available. Upload it again.")


@dataclass(frozen=True)
class DocumentDownload:
    """A document and its decrypted content, for the download response."""

    document: Document
    content: bytes


def _holder_valid(holder: str) -> str:
    if not isinstance(holder, str) or not holder.strip() or len(holder) > HOLDER_MAX_LENGTH:
        raise ValueError("holder must be a non-empty string of at most 100 characters")
    return holder


def _upload_read(upload: UploadedFile, max_bytes: int) -> bytes:
    # The browser's stated size is checked first, then the bytes are counted as they are
    # read, so a file larger than the policy is never held whole in memory.
    if upload.size is not None and upload.size > max_bytes:
        raise checks.file_too_large(max_bytes)
    upload.seek(0)
    parts: list[bytes] = []
    total = 0
    for chunk in upload.chunks(_READ_CHUNK):
        total += len(chunk)
        if total > max_bytes:
            raise checks.file_too_large(max_bytes)
        parts.append(chunk)
    return b"".join(parts)


def _blob_delete(name: str) -> None:
    try:
        document_storage().delete(name)
    except OSError:
        # The row is already gone or shredded; a leftover ciphertext cannot be opened
        # without its wrapped key, so this is logged rather than failing the request.
        logger.warning("could not delete stored document %s", name)


def _blobs_delete(names: list[str]) -> None:
    for name in names:
        _blob_delete(name)


def document_upload(
    *,
    upload: UploadedFile,
    policy: UploadPolicy,
    owner: AbstractBaseUser | None,
    holder: str,
    actor: Any,
) -> Document:
    """Check, scan, encrypt and store an upload under ``holder``; return the new document.

    Nothing is stored when any check refuses the file or clamd is unavailable
    (``ScannerUnavailable``). A virus is refused and recorded in the audit log (its
    signature name, never the content).
    """
    holder = _holder_valid(holder)
    content = _upload_read(upload, policy.max_bytes)
    if not content:
        raise FileEmpty()
    held = Document.objects.filter(holder=holder, status=DocumentStatus.UPLOADED).count()
    if held >= policy.max_files:
        raise TooManyFiles()
    # Every file that arrives is scanned before any parser (Pillow, pypdf, zipfile)
    # touches it, and malware is recorded even if the file would be refused for its type.
    scan = scanner.content_scan(content=content)
    if not scan.clean:
        audit_event_record(
            action="documents.virus_found",
            actor=actor,
            object_type="documents.document",
            data={
                "signature": scan.signature,
                "scanner": scan.version,
                "holder": holder,
                "size": len(content),
            },
        )
        raise VirusFound()
    checked = checks.upload_check(content=content, filename=upload.name or "", policy=policy)
    document_id = uuid4()
    sealed = crypto.content_seal(
        plaintext=checked.content, document_id=document_id, ring=crypto.key_ring_load()
    )
    name = storage_name_for(document_id)
    stored_name = document_storage().save(name, ContentFile(sealed.ciphertext))
    try:
        if stored_name != name:
            raise RuntimeError(f"storage saved {name} as {stored_name}")
        with transaction.atomic():
            document = Document.objects.create(
                id=document_id,
                owner_id=owner.pk if owner is not None else None,
                holder=holder,
                original_filename=checked.filename,
                content_type=checked.content_type,
                kind=checked.kind,
                size=len(checked.content),
                sha256=hashlib.sha256(checked.content).hexdigest(),
                storage_name=name,
                wrapped_key=sealed.wrapped_key,
                key_id=sealed.key_id,
                nonce=sealed.nonce,
                status=DocumentStatus.UPLOADED,
                scanned_at=timezone.now(),
                scanner_version=scan.engine,
                scanner_signatures=scan.databases,
            )
            audit_event_record(
                action="documents.uploaded",
                actor=actor,
                obj=document,
                data={
                    "kind": document.kind,
                    "size": document.size,
                    "holder": holder,
                    "key_id": document.key_id,
                },
            )
    except BaseException:
        _blob_delete(stored_name)
        raise
    return document


def document_issue(
    *,
    content: bytes,
    filename: str,
    owner: AbstractBaseUser | None,
    agency_id: UUID,
    attached_to: str,
    actor: Any,
) -> Document:
    """Store a PDF the platform made itself (a signed letter) for an agency and a person.

    Issued documents skip the upload checks and the virus scan: they never came from
    outside. They are encrypted like any other file and attached at once. Runs in the
    caller's transaction; like uploads, a blob stays behind (encrypted, with no key) if
    the caller's outer transaction rolls back later.
    """
    if not content.startswith(b"%PDF-"):
        raise ValueError("only PDF documents can be issued")
    if not attached_to or len(attached_to) > 100:
        raise ValueError("attached_to must be a reference of at most 100 characters")
    document_id = uuid4()
    sealed = crypto.content_seal(
        plaintext=content, document_id=document_id, ring=crypto.key_ring_load()
    )
    name = storage_name_for(document_id)
    stored_name = document_storage().save(name, ContentFile(sealed.ciphertext))
    if stored_name != name:
        _blob_delete(stored_name)
        raise RuntimeError(f"storage saved {name} as {stored_name}")
    try:
        document = Document.objects.create(
            id=document_id,
            owner_id=owner.pk if owner is not None else None,
            holder=f"issued:{agency_id}",
            original_filename=filename[:FILENAME_MAX_LENGTH],
            content_type="application/pdf",
            kind=KIND_PDF,
            size=len(content),
            sha256=hashlib.sha256(content).hexdigest(),
            storage_name=name,
            wrapped_key=sealed.wrapped_key,
            key_id=sealed.key_id,
            nonce=sealed.nonce,
            status=DocumentStatus.ATTACHED,
            agency_id=agency_id,
            attached_to=attached_to,
            scanned_at=timezone.now(),
            scanner_version="issued by Civicstack",
        )
        audit_event_record(
            action="documents.issued",
            actor=actor,
            obj=document,
            data={"attached_to": attached_to, "agency": str(agency_id), "size": document.size},
        )
    except BaseException:
        _blob_delete(stored_name)
        raise
    return document


def _shred(document: Document) -> None:
    # Destroying the wrapped data key makes the ciphertext (and every backup of it)
    # unreadable at once, before the stored bytes are deleted after commit.
    document.status = DocumentStatus.DELETED
    document.wrapped_key = b""
    document.save(update_fields=["status", "wrapped_key", "updated_at"])


def document_remove(*, document: Document, holder_keys: Collection[str], actor: Any) -> None:
    """Delete an unattached upload held by the caller (by holder key or as its owner).

    Attached documents belong to an application and cannot be removed here.
    """
    with transaction.atomic():
        locked = Document.objects.select_for_update().filter(pk=document.pk).first()
        if (
            locked is None
            or locked.status == DocumentStatus.DELETED
            or not selectors.document_is_held(document=locked, holder_keys=holder_keys, owner=actor)
        ):
            raise NotFound()
        if locked.status != DocumentStatus.UPLOADED:
            raise ValidationFailed(
                _("This file has been sent with an application, so it cannot be removed.")
            )
        _shred(locked)
        audit_event_record(action="documents.removed", actor=actor, obj=locked)
        name = locked.storage_name
        transaction.on_commit(lambda: _blob_delete(name))
    document.status = locked.status
    document.wrapped_key = b""


def documents_attach(
    *,
    document_ids: Sequence[UUID | str],
    holder_keys: Collection[str],
    owner: AbstractBaseUser | None,
    agency_id: UUID | None,
    attached_to: str,
    actor: Any,
) -> list[Document]:
    """Attach held uploads to ``attached_to`` (an application reference) for an agency.

    Runs in the caller's transaction, so the application and its documents commit
    together. All or nothing: any id that is unknown, removed, already attached or not
    held by ``holder_keys``/``owner`` refuses the lot with ``DocumentUnavailable``.
    """
    if not attached_to or len(attached_to) > 100:
        raise ValueError("attached_to must be a reference of at most 100 characters")
    wanted: list[UUID] = []
    for value in document_ids:
        try:
            pk = value if isinstance(value, UUID) else UUID(str(value))
        except ValueError:
            raise DocumentUnavailable() from None
        if pk not in wanted:
            wanted.append(pk)
    with transaction.atomic():
        found = {
            document.pk: document
            for document in Document.objects.select_for_update().filter(pk__in=wanted)
        }
        documents = []
        for pk in wanted:
            document = found.get(pk)
            if (
                document is None
                or document.status != DocumentStatus.UPLOADED
                or not selectors.document_is_held(
                    document=document, holder_keys=holder_keys, owner=owner
                )
            ):
                raise DocumentUnavailable()
            documents.append(document)
        for document in documents:
            document.status = DocumentStatus.ATTACHED
            document.agency_id = agency_id
            document.attached_to = attached_to
            if owner is not None and document.owner_id is None:
                document.owner_id = owner.pk
            document.save(update_fields=["status", "agency", "attached_to", "owner", "updated_at"])
            audit_event_record(
                action="documents.attached",
                actor=actor,
                obj=document,
                data={
                    "attached_to": attached_to,
                    "agency": str(agency_id) if agency_id else "",
                },
            )
    return documents


def documents_release(*, holder: str, actor: Any) -> int:
    """Delete every unattached upload of ``holder`` (an expired draft); return how many.

    Wrapped keys are destroyed in the transaction; stored bytes are deleted after commit.
    """
    with transaction.atomic():
        documents = list(
            Document.objects.select_for_update().filter(
                holder=holder, status=DocumentStatus.UPLOADED
            )
        )
        for document in documents:
            _shred(document)
        if documents:
            audit_event_record(
                action="documents.released",
                actor=actor,
                object_type="documents.document",
                data={"holder": holder, "documents": [str(d.pk) for d in documents]},
            )
        names = [document.storage_name for document in documents]
        transaction.on_commit(lambda: _blobs_delete(names))
    return len(documents)


def documents_release_stale(
    *, holder_prefix: str, uploaded_before: datetime, actor: Any, limit: int = 500
) -> int:
    """Delete unattached uploads whose holder starts with ``holder_prefix`` and that were
    uploaded before ``uploaded_before`` (files sent to an API and never used); return how
    many."""
    if not holder_prefix:
        raise ValueError("a holder prefix is required")
    with transaction.atomic():
        documents = list(
            Document.objects.select_for_update().filter(
                holder__startswith=holder_prefix,
                status=DocumentStatus.UPLOADED,
                created_at__lt=uploaded_before,
            )[:limit]
        )
        for document in documents:
            _shred(document)
        if documents:
            audit_event_record(
                action="documents.stale_released",
                actor=actor,
                object_type="documents.document",
                data={"holder_prefix": holder_prefix, "documents": len(documents)},
            )
        names = [document.storage_name for document in documents]
        transaction.on_commit(lambda: _blobs_delete(names))
    return len(documents)


def document_download(
    *, document_id: UUID | str, user: Any, holder_keys: Collection[str]
) -> DocumentDownload:
    """Return a document and its content for someone who may see it (else NotFound).

    Every access by agency staff is recorded in the audit log.
    """
    document = selectors.document_for_viewer(
        document_id=document_id, user=user, holder_keys=holder_keys
    )
    relation = selectors.document_viewer_relation(
        document=document, user=user, holder_keys=holder_keys
    )
    content = selectors.document_content(document=document)
    if relation == "staff":
        audit_event_record(
            action="documents.viewed_by_staff",
            actor=user,
            obj=document,
            data={"agency": str(document.agency_id), "attached_to": document.attached_to},
        )
    return DocumentDownload(document=document, content=content)


def document_key_rotate(*, actor: Any) -> str:
    """Make a new key-encryption key current in the key ring file; return its id.

    Existing documents stay readable with their old key until ``documents_rewrap``.
    """
    key_id = crypto.key_ring_rotate()
    audit_event_record(
        action="documents.key_rotated",
        actor=actor,
        object_type="documents.key",
        object_id=key_id,
    )
    return key_id


def documents_rewrap(*, actor: Any, batch_size: int = 200) -> int:
    """Re-wrap every readable document's data key with the current KEK; return how many.

    Works in batches of rows locked with SKIP LOCKED, so it runs beside the live site and
    beside another rewrap; it is idempotent and can be stopped and started again. Only
    the 60-byte wrapped keys change: stored ciphertext is never rewritten.
    """
    total = 0
    while True:
        ring = crypto.key_ring_load()
        with transaction.atomic():
            batch = list(
                Document.objects.select_for_update(skip_locked=True)
                .exclude(status=DocumentStatus.DELETED)
                .exclude(key_id=ring.current_id)
                .exclude(wrapped_key=b"")
                .order_by("id")[:batch_size]
            )
            if not batch:
                break
            for document in batch:
                document.wrapped_key, document.key_id = crypto.data_key_rewrap(
                    wrapped_key=bytes(document.wrapped_key),
                    key_id=document.key_id,
                    document_id=document.pk,
                    ring=ring,
                )
            Document.objects.bulk_update(batch, ["wrapped_key", "key_id"])
            audit_event_record(
                action="documents.rewrapped",
                actor=actor,
                object_type="documents.key",
                object_id=ring.current_id,
                data={"count": len(batch)},
            )
        total += len(batch)
    return total
