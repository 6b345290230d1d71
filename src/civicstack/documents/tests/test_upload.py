"""Uploads through the service, with a real clamd, a real database and real storage."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from django.test import override_settings
from PIL import Image

from civicstack.core.errors import TemporarilyUnavailable, ValidationFailed
from civicstack.core.models import AuditEvent
from civicstack.documents import selectors, services
from civicstack.documents.constants import KINDS, DocumentStatus, UploadPolicy
from civicstack.documents.models import Document
from civicstack.documents.testing import (
    EICAR,
    clamd_start,
    jpeg_bytes,
    pdf_bytes,
    png_bytes,
    stored_blobs,
    upload_of,
    webp_bytes,
    zip_bytes,
)
from civicstack.documents.tests import corpus

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clamd")]

EVERYTHING = UploadPolicy(kinds=KINDS, max_bytes=10 * 1024 * 1024, allow_archives=True)
NO_ARCHIVES = UploadPolicy(kinds=KINDS, max_bytes=10 * 1024 * 1024)
HOLDER = "draft:6b0f5a4e-0d6b-4a59-9a55-1b6e2f0c9d11"

# ClamAV's own PDF heuristics (Heuristics.PDF.ObfuscatedNameObject) may refuse a file
# before our checks see it; either refusal is right. test_checks shows ours catch it too.
ACTIVE_OR_HEURISTIC = "file_active_content|virus_found"

# (description, file name, content builder, policy, expected refusal code)
HOSTILE: list[tuple[str, str, Callable[[], bytes], UploadPolicy, str]] = [
    ("EICAR plain", "eicar.txt", lambda: EICAR, EVERYTHING, "virus_found"),
    ("EICAR named as a PDF", "eicar.pdf", lambda: EICAR, EVERYTHING, "virus_found"),
    ("EICAR zipped", "eicar.zip", corpus.eicar_zipped, EVERYTHING, "virus_found"),
    ("EICAR in a PDF comment", "form.pdf", corpus.eicar_in_pdf, EVERYTHING, "virus_found"),
    ("nested zip", "nested.zip", corpus.nested_zip, EVERYTHING, "archive_unsafe"),
    ("nested zip, innocent name", "n.zip", corpus.nested_zip_renamed, EVERYTHING, "archive_unsafe"),
    (
        "zip when archives are off",
        "a.zip",
        lambda: zip_bytes({"a.txt": b"a"}),
        NO_ARCHIVES,
        "archive_not_allowed",
    ),
    ("zip bomb", "bomb.zip", corpus.zip_bomb, EVERYTHING, "archive_unsafe"),
    (
        "zip bomb with lying headers",
        "lie.zip",
        corpus.zip_with_lying_header,
        EVERYTHING,
        "file_unreadable",
    ),
    (
        "zip path traversal",
        "t.zip",
        lambda: corpus.zip_with_entry("../../etc/cron.d/x"),
        EVERYTHING,
        "archive_unsafe",
    ),
    (
        "zip backslash traversal",
        "t.zip",
        lambda: corpus.zip_with_entry("..\\..\\boot.ini"),
        EVERYTHING,
        "archive_unsafe",
    ),
    (
        "zip absolute path",
        "t.zip",
        lambda: corpus.zip_with_entry("/etc/passwd"),
        EVERYTHING,
        "archive_unsafe",
    ),
    (
        "zip drive path",
        "t.zip",
        lambda: corpus.zip_with_entry("C:/Windows/win.ini"),
        EVERYTHING,
        "archive_unsafe",
    ),
    (
        "zip control character",
        "t.zip",
        lambda: corpus.zip_with_entry("a\x01b.txt"),
        EVERYTHING,
        "archive_unsafe",
    ),
    (
        "zip right-to-left override",
        "t.zip",
        lambda: corpus.zip_with_entry("a\u202etxt.exe"),
        EVERYTHING,
        "archive_unsafe",
    ),
    ("zip encrypted entry", "e.zip", corpus.zip_encrypted, EVERYTHING, "archive_unsafe"),
    (
        "zip with too many entries",
        "m.zip",
        lambda: corpus.zip_too_many_entries(1001),
        EVERYTHING,
        "archive_unsafe",
    ),
    ("polyglot JPEG+ZIP", "photo.jpg", corpus.polyglot_jpeg_zip, EVERYTHING, "file_hidden_content"),
    ("polyglot PDF+ZIP", "form.pdf", corpus.polyglot_pdf_zip, EVERYTHING, "file_hidden_content"),
    (
        "SVG with script",
        "logo.svg",
        lambda: corpus.SVG_WITH_SCRIPT,
        EVERYTHING,
        "file_type_not_allowed",
    ),
    (
        "SVG with script renamed .png",
        "logo.png",
        lambda: corpus.SVG_WITH_SCRIPT,
        EVERYTHING,
        "file_type_not_allowed",
    ),
    (
        "HTML renamed .pdf",
        "page.pdf",
        lambda: b"<html><script>alert(1)</script></html>",
        EVERYTHING,
        "file_type_not_allowed",
    ),
    (
        "PDF with JavaScript",
        "js.pdf",
        corpus.pdf_with_javascript,
        EVERYTHING,
        "file_active_content",
    ),
    (
        "PDF with hex-escaped JavaScript",
        "hex.pdf",
        corpus.pdf_with_hex_escaped_javascript,
        EVERYTHING,
        ACTIVE_OR_HEURISTIC,
    ),
    (
        "PDF with JavaScript in an object stream",
        "objstm.pdf",
        corpus.pdf_with_javascript_in_object_stream,
        EVERYTHING,
        "file_active_content",
    ),
    (
        "PDF with OpenAction",
        "open.pdf",
        corpus.pdf_with_open_action,
        EVERYTHING,
        "file_active_content",
    ),
    ("PDF with Launch", "launch.pdf", corpus.pdf_with_launch, EVERYTHING, "file_active_content"),
    (
        "PDF with an embedded file",
        "attach.pdf",
        corpus.pdf_with_embedded_file,
        EVERYTHING,
        "file_active_content",
    ),
    (
        "unparseable PDF",
        "broken.pdf",
        lambda: b"%PDF-1.7\n" + bytes(range(256)) * 8,
        EVERYTHING,
        "file_unreadable",
    ),
    ("PNG named .pdf", "scan.pdf", corpus.png_named_pdf, EVERYTHING, "file_extension_mismatch"),
    (
        "JPEG not in the policy",
        "photo.jpg",
        jpeg_bytes,
        UploadPolicy(kinds=frozenset({"pdf"}), max_bytes=1024 * 1024),
        "file_type_not_allowed",
    ),
    (
        "oversized",
        "big.pdf",
        lambda: pdf_bytes() + b"%" + b"x" * 2048,
        UploadPolicy(kinds=KINDS, max_bytes=1024),
        "file_too_large",
    ),
    ("empty", "empty.pdf", lambda: b"", EVERYTHING, "file_empty"),
    ("image bomb", "huge.png", lambda: _png_of_size(10_000, 10_000), EVERYTHING, "image_too_large"),
]


def _png_of_size(width: int, height: int) -> bytes:
    # 100 megapixels of one colour compresses to a few hundred kilobytes.
    output = io.BytesIO()
    Image.new("1", (width, height)).save(output, "PNG", optimize=True)
    return output.getvalue()


def test_every_hostile_file_is_refused_and_nothing_is_stored(document_store: Path) -> None:
    """V5.2.2, V5.2.3, V5.2.6, V5.2.7, V12.1.1: 0 of the hostile corpus is accepted.

    Each is refused with the refusal that names its problem; no row, no stored blob.
    """
    outcomes = {}
    for description, name, build, policy, expected in HOSTILE:
        try:
            services.document_upload(
                upload=upload_of(name, build()),
                policy=policy,
                owner=None,
                holder=HOLDER,
                actor=None,
            )
        except ValidationFailed as refusal:
            outcomes[description] = refusal.code
            if refusal.code in expected.split("|"):
                outcomes[description] = expected
            assert str(refusal.message).strip(), description
        else:
            outcomes[description] = "ACCEPTED"
    assert outcomes == {description: expected for description, *_, expected in HOSTILE}
    assert Document.objects.count() == 0
    assert stored_blobs(document_store) == []


def test_a_virus_is_recorded_in_the_audit_log_without_content(document_store: Path) -> None:
    """V5.2.4, V16.3.3: a malware hit is audited with the signature name, never the bytes."""
    with pytest.raises(services.VirusFound):
        services.document_upload(
            upload=upload_of("eicar.zip", corpus.eicar_zipped()),
            policy=EVERYTHING,
            owner=None,
            holder=HOLDER,
            actor=None,
        )
    event = AuditEvent.objects.get(action="documents.virus_found")
    assert event.data["signature"].startswith("Civicstack.Test.EICAR")
    assert event.data["holder"] == HOLDER
    assert "EICAR-STANDARD" not in str(event.data)
    assert Document.objects.count() == 0


def test_the_clean_control_files_are_accepted(document_store: Path) -> None:
    """The hostile builders' harmless twins pass, so the refusals above are for cause."""
    for name, content in [
        ("objects.pdf", corpus.pdf_clean_object_stream()),
        ("plain.pdf", corpus.pdf_classic(corpus.pdf_plain_objects())),
        ("files.zip", zip_bytes({"a/readme.txt": b"hello", "b.txt": b"x" * 5000})),
    ]:
        services.document_upload(
            upload=upload_of(name, content),
            policy=EVERYTHING,
            owner=None,
            holder=HOLDER,
            actor=None,
        )
    assert Document.objects.count() == 3
    assert len(stored_blobs(document_store)) == 3


def test_with_the_scanner_stopped_nothing_is_stored(
    document_store: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """V5.2.4, V16.5.2: clamd down means fail closed: a clear "try later", nothing stored."""
    stopped = clamd_start(tmp_path_factory.mktemp("stopped-clamd"))
    stopped.stop()
    with (
        override_settings(CLAMD_ADDRESS=stopped.address, CLAMD_TIMEOUT_SECONDS=2),
        pytest.raises(services.ScannerUnavailable) as raised,
    ):
        services.document_upload(
            upload=upload_of("form.pdf", pdf_bytes()),
            policy=EVERYTHING,
            owner=None,
            holder=HOLDER,
            actor=None,
        )
    assert isinstance(raised.value, TemporarilyUnavailable)
    assert raised.value.status == 503
    assert "Your other answers have been saved" in str(raised.value.message)
    assert Document.objects.count() == 0
    assert stored_blobs(document_store) == []


def test_a_wrong_scanner_address_also_fails_closed(document_store: Path) -> None:
    """A misconfigured CLAMD_ADDRESS refuses uploads rather than skipping the scan."""
    with (
        override_settings(CLAMD_ADDRESS="http://clamd.invalid:3310"),
        pytest.raises(services.ScannerUnavailable),
    ):
        services.document_upload(
            upload=upload_of("form.pdf", pdf_bytes()),
            policy=EVERYTHING,
            owner=None,
            holder=HOLDER,
            actor=None,
        )
    assert Document.objects.count() == 0


def test_a_photo_comes_back_without_exif_gps_icc_or_comment(document_store: Path) -> None:
    """V5.2.2, V14.2.6: a photo is re-encoded from its pixels: no location, no metadata."""
    original = jpeg_bytes(gps=True)
    with Image.open(io.BytesIO(original)) as before:
        assert before.getexif().get_ifd(0x8825)  # the test photo really has GPS
        assert before.info.get("icc_profile")
    document = services.document_upload(
        upload=upload_of("IMG_0001.JPG", original),
        policy=EVERYTHING,
        owner=None,
        holder=HOLDER,
        actor=None,
    )
    stored = selectors.document_content(document=document)
    assert document.kind == "jpeg"
    assert document.content_type == "image/jpeg"
    assert b"Exif" not in stored
    assert b"home address" not in stored
    assert b"Civicstack Test Camera" not in stored
    with Image.open(io.BytesIO(stored)) as after:
        assert dict(after.getexif()) == {}
        assert "icc_profile" not in after.info
        assert "comment" not in after.info
        assert after.size == (64, 48)


@pytest.mark.parametrize(
    ("name", "build", "kind"),
    [("scan.png", png_bytes, "png"), ("scan.webp", webp_bytes, "webp")],
)
def test_png_and_webp_are_accepted_and_re_encoded(
    document_store: Path, name: str, build: Callable[[], bytes], kind: str
) -> None:
    """Other allowed image kinds pass and come back as valid images of the same kind."""
    document = services.document_upload(
        upload=upload_of(name, build()),
        policy=EVERYTHING,
        owner=None,
        holder=HOLDER,
        actor=None,
    )
    with Image.open(io.BytesIO(selectors.document_content(document=document))) as image:
        assert image.format == kind.upper()


def test_a_clean_pdf_is_stored_unchanged_and_encrypted(document_store: Path) -> None:
    """V5.3.1, V11.3: a clean PDF is accepted, stored only as ciphertext, and reads back."""
    content = pdf_bytes(pages=2)
    document = services.document_upload(
        upload=upload_of("Form A.pdf", content, "text/html"),
        policy=EVERYTHING,
        owner=None,
        holder=HOLDER,
        actor=None,
    )
    assert document.content_type == "application/pdf"  # not what the browser claimed
    assert document.size == len(content)
    assert document.status == DocumentStatus.UPLOADED
    assert document.scanner_version.startswith("ClamAV ")
    [blob] = stored_blobs(document_store)
    assert blob.relative_to(document_store).as_posix() == document.storage_name
    assert document.id.hex in blob.name
    assert b"%PDF" not in blob.read_bytes()
    assert selectors.document_content(document=document) == content
    assert AuditEvent.objects.filter(action="documents.uploaded", object_id=str(document.pk))


def test_hostile_file_names_are_cleaned_and_never_used_as_paths(document_store: Path) -> None:
    """V5.3.2, V5.3.3: traversal and control characters stay out of names and paths."""
    names = {
        "../../../../etc/cron.d/evil.pdf": "evil.pdf",
        "C:\\Users\\me\\Desktop\\scan.pdf": "scan.pdf",
        "bad\x00name\r\n.pdf": "badname.pdf",
        "invoice\u202efdp.exe.pdf": "invoicefdp.exe.pdf",
        "x" * 500 + ".pdf": "x" * 196 + ".pdf",
    }
    for given, shown in names.items():
        document = services.document_upload(
            upload=_named(given),
            policy=EVERYTHING,
            owner=None,
            holder=HOLDER,
            actor=None,
        )
        assert document.original_filename == shown
        assert document.storage_name == f"{document.id.hex[:2]}/{document.id.hex}.bin"
    for blob in stored_blobs(document_store):
        assert blob.is_relative_to(document_store)
        assert blob.suffix == ".bin"


def _named(name: str) -> object:
    upload = upload_of("x.pdf", pdf_bytes())
    # Django's own parser already strips folders; a caller may not, so the service must.
    upload.name = name
    return upload


def test_a_holder_cannot_keep_more_files_than_the_policy_allows(document_store: Path) -> None:
    """The per-draft file cap refuses the next upload."""
    policy = UploadPolicy(kinds=KINDS, max_bytes=1024 * 1024, max_files=2)
    for _ in range(2):
        services.document_upload(
            upload=upload_of("a.pdf", pdf_bytes()),
            policy=policy,
            owner=None,
            holder=HOLDER,
            actor=None,
        )
    with pytest.raises(services.TooManyFiles):
        services.document_upload(
            upload=upload_of("a.pdf", pdf_bytes()),
            policy=policy,
            owner=None,
            holder=HOLDER,
            actor=None,
        )
    assert Document.objects.count() == 2


def test_a_failed_database_write_removes_the_stored_blob(
    document_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the row cannot be written, the ciphertext already stored is deleted again."""

    def broken(**kwargs: object) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr(services, "audit_event_record", broken)
    with pytest.raises(RuntimeError):
        services.document_upload(
            upload=upload_of("a.pdf", pdf_bytes()),
            policy=EVERYTHING,
            owner=None,
            holder=HOLDER,
            actor=None,
        )
    assert Document.objects.count() == 0
    assert stored_blobs(document_store) == []
