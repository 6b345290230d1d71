"""A stored, encrypted file and what is known about it."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from civicstack.core.models import BaseModel
from civicstack.documents.constants import FILENAME_MAX_LENGTH, KINDS, DocumentStatus


class Document(BaseModel):
    """One uploaded file: checked, scanned, encrypted with its own data key and stored.

    The storage name comes from the id alone; ``original_filename`` is for display only.
    The data key is kept wrapped by a key-encryption key (``key_id``); deleting a document
    destroys the wrapped key, so the ciphertext (and any backup of it) is unreadable.
    """

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # Who may use an unattached upload, e.g. "draft:<uuid>" (set by the forms app).
    holder = models.CharField(max_length=100, db_index=True)
    original_filename = models.CharField(max_length=FILENAME_MAX_LENGTH)
    content_type = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=[(kind, kind) for kind in sorted(KINDS)])
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    storage_name = models.CharField(max_length=200, unique=True)
    wrapped_key = models.BinaryField(max_length=128)
    key_id = models.CharField(max_length=64, db_index=True)
    nonce = models.BinaryField(max_length=12)
    status = models.CharField(
        max_length=10, choices=DocumentStatus.choices, default=DocumentStatus.UPLOADED
    )
    agency = models.ForeignKey(
        "accounts.Agency", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    attached_to = models.CharField(max_length=100, blank=True)
    # When clamd passed the file, its engine version ("ClamAV 1.4.6") and the version of
    # the signature databases it used ("27400/Thu Nov 27 09:12:00 2026").
    scanned_at = models.DateTimeField()
    scanner_version = models.CharField(max_length=100)
    scanner_signatures = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["owner", "status"]),
            models.Index(fields=["holder", "status"]),
            models.Index(fields=["attached_to"]),
        ]

    def __str__(self) -> str:
        return f"document {self.pk} ({self.kind}, {self.status})"

    @property
    def filename(self) -> str:
        """Return the name to show people (the sanitised original name)."""
        return self.original_filename
