"""Test support for anything that uploads documents: a real clamd, storage, sample files.

The root conftest.py loads this module as a pytest plugin, so every app's tests can ask
for the ``clamd`` fixture (a session-wide clamd with only the EICAR test signature, which
CLAMD_ADDRESS points at) and ``document_store`` (an empty storage folder and key ring for
one test). It is never imported by the running site.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from PIL import Image
from pypdf import PdfWriter

from civicstack.documents import scanner
from civicstack.documents.scanner import (
    EICAR,
    ManagedClamd,
    clamd_executable,
    eicar_database_write,
)

__all__ = [
    "EICAR",
    "clamd",
    "clamd_start",
    "document_store",
    "jpeg_bytes",
    "pdf_bytes",
    "png_bytes",
    "stored_blobs",
    "upload_of",
    "webp_bytes",
    "zip_bytes",
]

CLAMD_MISSING = (
    "clamd is not installed: `make test` installs Debian's clamav-daemon (`make scanner`)"
)


def clamd_start(directory: Path) -> ManagedClamd:
    """Start a clamd in ``directory`` with only the EICAR test signature; return it."""
    database = directory / "db"
    eicar_database_write(database)
    return scanner.clamd_start(directory=directory, database_dir=database, wait_seconds=30)


@pytest.fixture(scope="session")
def clamd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Run one clamd for the test session and point CLAMD_ADDRESS at it; yield the address.

    Skips (with how to install it) when clamd is missing.
    """
    if clamd_executable() is None:
        pytest.skip(CLAMD_MISSING)
    managed = clamd_start(tmp_path_factory.mktemp("clamd"))
    override = override_settings(CLAMD_ADDRESS=managed.address)
    override.enable()
    try:
        yield managed.address
    finally:
        override.disable()
        managed.stop()


@pytest.fixture
def document_store(tmp_path: Path) -> Iterator[Path]:
    """Give one test an empty documents storage folder and its own key ring file."""
    location = tmp_path / "documents"
    storages = {
        **settings.STORAGES,
        "documents": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(location)},
        },
    }
    with override_settings(
        STORAGES=storages, DOCUMENT_KEYS=None, DOCUMENT_KEYS_FILE=tmp_path / "documents.keys"
    ):
        yield location


def stored_blobs(location: Path) -> list[Path]:
    """Return the files in a storage folder."""
    return sorted(path for path in location.rglob("*") if path.is_file())


def upload_of(name: str, content: bytes, content_type: str = "application/octet-stream") -> Any:
    """Return an uploaded file as a view would receive it."""
    return SimpleUploadedFile(name, content, content_type=content_type)


def _image(size: tuple[int, int] = (64, 48), mode: str = "RGB") -> Image.Image:
    image = Image.new(mode, size, "white")
    for x in range(size[0]):
        image.putpixel((x, x * size[1] // size[0]), (200, 30, 30) if mode == "RGB" else 0)
    return image


def jpeg_bytes(*, gps: bool = False, **save: Any) -> bytes:
    """Return a small JPEG, with EXIF GPS coordinates, a comment and an ICC profile if ``gps``."""
    image = _image()
    output = io.BytesIO()
    if gps:
        from PIL import ImageCms

        exif = Image.Exif()
        exif[0x010F] = "Civicstack Test Camera"  # Make
        exif[0x8825] = {  # GPSInfo
            1: "N",
            2: (51.0, 28.0, 38.0),
            3: "W",
            4: (0.0, 0.0, 5.0),
        }
        profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
        image.save(
            output,
            "JPEG",
            exif=exif.tobytes(),
            icc_profile=profile,
            comment=b"home address",
            **save,
        )
    else:
        image.save(output, "JPEG", **save)
    return output.getvalue()


def png_bytes(**save: Any) -> bytes:
    """Return a small PNG."""
    output = io.BytesIO()
    _image().save(output, "PNG", **save)
    return output.getvalue()


def webp_bytes() -> bytes:
    """Return a small WebP image."""
    output = io.BytesIO()
    _image().save(output, "WEBP")
    return output.getvalue()


def pdf_bytes(pages: int = 1) -> bytes:
    """Return a clean PDF made by pypdf."""
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    output = io.BytesIO()
    writer.write(output)
    return output.getvalue()


def zip_bytes(entries: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """Return a zip holding ``entries`` (name -> content)."""
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w", compression=compression) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return output.getvalue()
