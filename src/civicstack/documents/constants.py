"""What the documents app accepts: file kinds, upload policies and the limits of its checks.

Other apps build an :class:`UploadPolicy` for each upload question (which kinds, how big,
whether archives are allowed) and pass it to ``services.document_upload``.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models
from django.utils.translation import gettext_lazy as _

KIND_PDF = "pdf"
KIND_JPEG = "jpeg"
KIND_PNG = "png"
KIND_WEBP = "webp"
KIND_ZIP = "zip"

KINDS: frozenset[str] = frozenset({KIND_PDF, KIND_JPEG, KIND_PNG, KIND_WEBP, KIND_ZIP})
IMAGE_KINDS: frozenset[str] = frozenset({KIND_JPEG, KIND_PNG, KIND_WEBP})
ARCHIVE_KINDS: frozenset[str] = frozenset({KIND_ZIP})

# File name extensions a person may give each kind (lower case, with the dot).
KIND_EXTENSIONS: dict[str, frozenset[str]] = {
    KIND_PDF: frozenset({".pdf"}),
    KIND_JPEG: frozenset({".jpg", ".jpeg", ".jpe", ".jfif"}),
    KIND_PNG: frozenset({".png"}),
    KIND_WEBP: frozenset({".webp"}),
    KIND_ZIP: frozenset({".zip"}),
}

# The canonical Content-Type stored and served for each kind, whatever the browser said.
KIND_CONTENT_TYPES: dict[str, str] = {
    KIND_PDF: "application/pdf",
    KIND_JPEG: "image/jpeg",
    KIND_PNG: "image/png",
    KIND_WEBP: "image/webp",
    KIND_ZIP: "application/zip",
}

# Names of the kinds for people, in messages ("Choose a PDF, JPG or PNG file").
KIND_LABELS: dict[str, str] = {
    KIND_PDF: "PDF",
    KIND_JPEG: "JPG",
    KIND_PNG: "PNG",
    KIND_WEBP: "WebP",
    KIND_ZIP: "ZIP",
}

# The session key where the forms app lists the holder strings ("draft:<uuid>") an
# anonymous person's session may use: upload under, see, remove and download.
HOLDERS_SESSION_KEY = "documents.holders"

FILENAME_MAX_LENGTH = 200

# Images: a decoded image larger than this is refused before its pixels are decoded
# (decompression bombs: a few KB of PNG can expand to gigabytes).
IMAGE_MAX_PIXELS = 50_000_000
IMAGE_JPEG_QUALITY = 90

# PDFs: how many objects and how many decompressed bytes the checker walks at most.
PDF_MAX_OBJECTS = 200_000
PDF_MAX_DECOMPRESSED_BYTES = 200 * 1024 * 1024

# Archives, checked entry by entry while decompressing (headers are not trusted).
ARCHIVE_MAX_ENTRIES = 1000
ARCHIVE_MAX_EXPANDED_BYTES = 200 * 1024 * 1024
ARCHIVE_MAX_RATIO = 100
# Small entries may compress very well (a page of spaces) without harm: the ratio is
# only judged once an entry has expanded past this size.
ARCHIVE_RATIO_FLOOR_BYTES = 1024 * 1024
ARCHIVE_MAX_NAME_LENGTH = 255
# Entry names with these endings are archives inside the archive, which are refused.
ARCHIVE_NESTED_EXTENSIONS: frozenset[str] = frozenset(
    {
        ".zip",
        ".jar",
        ".war",
        ".apk",
        ".7z",
        ".rar",
        ".gz",
        ".tgz",
        ".tar",
        ".bz2",
        ".tbz2",
        ".xz",
        ".txz",
        ".zst",
        ".lz",
        ".lzma",
        ".cab",
        ".iso",
        ".arj",
        ".z",
    }
)


@dataclass(frozen=True)
class UploadPolicy:
    """What one upload question accepts.

    ``kinds`` are the allowed kinds (``KIND_PDF``...); ``max_bytes`` the largest file;
    zip files are refused unless ``allow_archives``; ``max_files`` caps how many unattached
    files one holder (a draft) may keep.
    """

    kinds: frozenset[str]
    max_bytes: int
    allow_archives: bool = False
    max_files: int = 10

    def __post_init__(self) -> None:
        unknown = set(self.kinds) - KINDS
        if unknown:
            raise ValueError(f"unknown document kinds: {sorted(unknown)}")
        if self.max_bytes <= 0 or self.max_files <= 0:
            raise ValueError("max_bytes and max_files must be positive")


class DocumentStatus(models.TextChoices):
    """Where a document is in its life."""

    UPLOADED = "uploaded", _("Uploaded")
    ATTACHED = "attached", _("Attached")
    DELETED = "deleted", _("Deleted")
