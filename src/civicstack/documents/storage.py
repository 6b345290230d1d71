"""Where ciphertext is kept: the Django storage alias "documents" (a folder or S3)."""

from __future__ import annotations

from uuid import UUID

from django.core.files.storage import Storage, storages


def document_storage() -> Storage:
    """Return the configured storage for encrypted documents."""
    return storages["documents"]


def storage_name_for(document_id: UUID) -> str:
    """Return the storage name of a document: made from its id only, never from input."""
    return f"{document_id.hex[:2]}/{document_id.hex}.bin"
