"""The upload checks on their own, without the scanner (the service runs clamd first)."""

from __future__ import annotations

import pytest

from civicstack.documents import checks
from civicstack.documents.constants import KINDS, UploadPolicy
from civicstack.documents.errors import (
    ArchiveUnsafe,
    FileActiveContent,
    FileExtensionMismatch,
    FileHiddenContent,
    FileTypeNotAllowed,
    FileUnreadable,
)
from civicstack.documents.testing import jpeg_bytes, pdf_bytes, png_bytes, webp_bytes, zip_bytes
from civicstack.documents.tests import corpus

EVERYTHING = UploadPolicy(kinds=KINDS, max_bytes=10 * 1024 * 1024, allow_archives=True)


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("scan.pdf", "scan.pdf"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\boot.ini", "boot.ini"),
        ("/absolute/path/a.png", "a.png"),
        ("..", "document"),
        ("", "document"),
        ("  .hidden.pdf  ", "hidden.pdf"),
        ("tab\there.pdf", "tabhere.pdf"),
        ("nul\x00byte.pdf", "nulbyte.pdf"),
        ("rtl\u202efdp.exe", "rtlfdp.exe"),
        ("Café   menu.pdf", "Café menu.pdf"),
    ],
)
def test_file_names_are_cleaned_for_display(given: str, shown: str) -> None:
    """V5.3.2: names lose folders, control and format characters; they are only shown."""
    assert checks.filename_clean(given) == shown


def test_very_long_names_are_cut_keeping_the_extension() -> None:
    """A 1000-character name is cut to the column size, keeping what kind of file it is."""
    cleaned = checks.filename_clean("a" * 1000 + ".pdf")
    assert len(cleaned) == 200
    assert cleaned.endswith(".pdf")


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (pdf_bytes(), "pdf"),
        (jpeg_bytes(), "jpeg"),
        (jpeg_bytes(gps=True), "jpeg"),
        (png_bytes(), "png"),
        (webp_bytes(), "webp"),
        (zip_bytes({"a.txt": b"a"}), "zip"),
        (corpus.SVG_WITH_SCRIPT, None),
        (b"GIF89a" + bytes(40), None),
        (b"MZ\x90\x00" + bytes(100), None),
        (b"just some text", None),
        (b"", None),
        (b"junk before %PDF-1.7", None),
    ],
)
def test_the_kind_comes_from_the_content(content: bytes, kind: str | None) -> None:
    """V5.2.2: the type is sniffed (puremagic plus the required header), never trusted."""
    assert checks.kind_sniff(content) == kind


@pytest.mark.parametrize(
    "build",
    [
        corpus.pdf_with_javascript,
        corpus.pdf_with_hex_escaped_javascript,
        corpus.pdf_with_javascript_in_object_stream,
        corpus.pdf_with_open_action,
        corpus.pdf_with_launch,
        corpus.pdf_with_embedded_file,
    ],
)
def test_pdfs_with_active_content_are_refused_by_our_own_checks(build: object) -> None:
    """V5.2.6: scripts, actions, launchers and attachments are found, escaped or compressed."""
    assert callable(build)
    with pytest.raises(FileActiveContent):
        checks.pdf_check(build())


def test_javascript_only_inside_an_object_stream_is_found_by_parsing() -> None:
    """The raw bytes of this PDF show no forbidden name; the decompressed objects do."""
    content = corpus.pdf_with_javascript_in_object_stream()
    assert b"JavaScript" not in content and b"OpenAction" not in content
    checks._pdf_raw_check(content)  # nothing visible in the raw bytes
    with pytest.raises(FileActiveContent):
        checks._pdf_parsed_check(content)


def test_a_harmless_object_stream_pdf_passes() -> None:
    """The same construction without JavaScript is accepted: the refusal is for cause."""
    checks.pdf_check(corpus.pdf_clean_object_stream())


def test_a_pdf_that_cannot_be_parsed_is_refused() -> None:
    """An unparseable PDF cannot be checked, so it is not accepted."""
    with pytest.raises(FileUnreadable):
        checks.pdf_check(b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 9 0 R >>\n%%EOF\n")


def test_an_image_with_a_zip_inside_is_refused() -> None:
    """V5.2.7: a JPEG or PDF that is also a zip is refused, even though it would be cleaned."""
    with pytest.raises(FileHiddenContent):
        checks.upload_check(content=corpus.polyglot_jpeg_zip(), filename="a.jpg", policy=EVERYTHING)
    with pytest.raises(FileHiddenContent):
        checks.upload_check(content=corpus.polyglot_pdf_zip(), filename="a.pdf", policy=EVERYTHING)


def test_svg_is_refused_whatever_its_name() -> None:
    """V5.2.2: SVG (which can carry script) is never one of the accepted kinds."""
    for name in ("logo.svg", "logo.png", "logo.jpg"):
        with pytest.raises(FileTypeNotAllowed):
            checks.upload_check(content=corpus.SVG_WITH_SCRIPT, filename=name, policy=EVERYTHING)


def test_the_extension_must_match_the_content() -> None:
    """A PNG named .pdf, or a PDF named .jpg, is refused."""
    with pytest.raises(FileExtensionMismatch):
        checks.upload_check(content=png_bytes(), filename="scan.pdf", policy=EVERYTHING)
    with pytest.raises(FileExtensionMismatch):
        checks.upload_check(content=pdf_bytes(), filename="scan.jpg", policy=EVERYTHING)
    with pytest.raises(FileExtensionMismatch):
        checks.upload_check(content=pdf_bytes(), filename="scan", policy=EVERYTHING)


def test_a_bomb_is_measured_by_decompressing_not_by_its_headers() -> None:
    """V5.2.3: headers claiming 10 bytes do not hide 16 MB; the real expansion refuses it."""
    with pytest.raises((ArchiveUnsafe, FileUnreadable)):
        checks.archive_check(corpus.zip_with_lying_header())
    with pytest.raises(ArchiveUnsafe):
        checks.archive_check(corpus.zip_bomb())


def test_a_reasonable_zip_passes() -> None:
    """Ordinary files in folders, compressing normally, are accepted."""
    checks.archive_check(zip_bytes({"letters/a.txt": b"hello " * 100, "b.pdf": pdf_bytes()}))
