"""Read-only questions about documents: who may see one, lists, and the decrypted content."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Collection, Iterable
from typing import Any, Literal
from uuid import UUID

from django.db.models import Count, Q, QuerySet

from civicstack.accounts.selectors import agencies_for_staff
from civicstack.core.errors import NotFound
from civicstack.documents import crypto
from civicstack.documents.constants import DocumentStatus
from civicstack.documents.errors import DocumentDamaged
from civicstack.documents.models import Document
from civicstack.documents.storage import document_storage

logger = logging.getLogger(__name__)

ViewerRelation = Literal["owner", "holder", "staff"]


def _uuid_or_none(value: object) -> UUID | None:
    if isinstance(value, UUID):
        return value
    try:
        return UUID(str(value))
    except ValueError:
        return None


def _clean_holder_keys(holder_keys: Iterable[object]) -> list[str]:
    return [key for key in holder_keys if isinstance(key, str) and key]


def document_is_held(
    *, document: Document, holder_keys: Collection[str], owner: Any | None
) -> bool:
    """Return True when the holder keys or the signed-in owner give a hold on ``document``."""
    if document.holder in _clean_holder_keys(holder_keys):
        return True
    return bool(
        owner is not None
        and getattr(owner, "is_authenticated", False)
        and document.owner_id is not None
        and document.owner_id == owner.pk
    )


def document_viewer_relation(
    *, document: Document, user: Any, holder_keys: Collection[str]
) -> ViewerRelation | None:
    """Return why ``user`` may see ``document`` (owner, holder or agency staff), or None."""
    if document.status == DocumentStatus.DELETED:
        return None
    if (
        getattr(user, "is_authenticated", False)
        and document.owner_id is not None
        and document.owner_id == user.pk
    ):
        return "owner"
    if document.holder in _clean_holder_keys(holder_keys):
        return "holder"
    if (
        document.agency_id is not None
        and agencies_for_staff(user=user).filter(pk=document.agency_id).exists()
    ):
        return "staff"
    return None


def document_for_viewer(
    *, document_id: UUID | str, user: Any, holder_keys: Collection[str]
) -> Document:
    """Return the document if ``user`` may see it; raise NotFound otherwise.

    Not found and not allowed look the same, so ids cannot be probed.
    """
    pk = _uuid_or_none(document_id)
    document = (
        Document.objects.filter(pk=pk).exclude(status=DocumentStatus.DELETED).first()
        if pk is not None
        else None
    )
    if (
        document is None
        or document_viewer_relation(document=document, user=user, holder_keys=holder_keys) is None
    ):
        raise NotFound()
    return document


def documents_for_holder(
    *,
    holder_keys: Collection[str],
    owner: Any | None,
    ids: Iterable[UUID | str] | None = None,
) -> QuerySet[Document]:
    """Return the unattached uploads held under ``holder_keys``, oldest first.

    A signed-in ``owner`` sees the held files that are theirs or nobody's; ``ids``
    narrows the list (unknown or malformed ids are ignored).
    """
    documents = Document.objects.filter(
        status=DocumentStatus.UPLOADED, holder__in=_clean_holder_keys(holder_keys)
    )
    if owner is not None and getattr(owner, "is_authenticated", False):
        documents = documents.filter(Q(owner__isnull=True) | Q(owner=owner))
    if ids is not None:
        wanted = [pk for pk in (_uuid_or_none(value) for value in ids) if pk is not None]
        documents = documents.filter(pk__in=wanted)
    return documents.order_by("created_at")


def documents_attached_to(*, attached_to: str) -> QuerySet[Document]:
    """Return the documents attached to an application (by its reference), oldest first."""
    return Document.objects.filter(
        attached_to=attached_to, status=DocumentStatus.ATTACHED
    ).order_by("created_at")


def documents_for_owner(*, user: Any) -> QuerySet[Document]:
    """Return a person's documents for their dashboard: attached and not, newest first."""
    if not getattr(user, "is_authenticated", False):
        return Document.objects.none()
    return (
        Document.objects.filter(owner=user)
        .exclude(status=DocumentStatus.DELETED)
        .select_related("agency")
        .order_by("-created_at")
    )


def document_content(*, document: Document) -> bytes:
    """Return the decrypted content; raise DocumentDamaged if it was altered or is lost.

    The AES-GCM tags of the wrapped key and of the file are checked (and the plaintext
    hash compared), so altered bytes are never returned.
    """
    if document.status == DocumentStatus.DELETED or not document.wrapped_key:
        raise NotFound()
    ring = crypto.key_ring_load()
    try:
        with document_storage().open(document.storage_name, "rb") as handle:
            ciphertext = handle.read()
    except OSError as exc:
        logger.error("document %s: stored file is missing", document.pk)
        raise DocumentDamaged() from exc
    try:
        plaintext = crypto.content_open(
            ciphertext=ciphertext,
            nonce=bytes(document.nonce),
            wrapped_key=bytes(document.wrapped_key),
            key_id=document.key_id,
            document_id=document.pk,
            ring=ring,
        )
    except (crypto.DecryptionFailed, crypto.KeyUnavailable) as exc:
        logger.error("document %s: %s", document.pk, exc)
        raise DocumentDamaged() from exc
    if hashlib.sha256(plaintext).hexdigest() != document.sha256:
        logger.error("document %s: content does not match its recorded hash", document.pk)
        raise DocumentDamaged()
    return plaintext


def document_key_counts() -> dict[str, int]:
    """Return how many readable documents each key-encryption key wraps."""
    rows = (
        Document.objects.exclude(status=DocumentStatus.DELETED)
        .values("key_id")
        .annotate(count=Count("id"))
        .order_by("key_id")
    )
    return {str(row["key_id"]): int(row["count"]) for row in rows}
