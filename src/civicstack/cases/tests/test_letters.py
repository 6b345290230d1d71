"""Decision letters: rendering in English and Welsh, escaping, signing and checking."""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from pypdf import PdfReader
from pytest_django.fixtures import Settings
from weasyprint import HTML

from civicstack.cases.letters import LetterContent, LetterURLFetcher, letter_render
from civicstack.cases.signing import (
    DEVELOPMENT_COMMON_NAME,
    pdf_sign,
    pdf_signature_check,
    signer_reset,
)
from civicstack.cases.testing import LetterPKI

DECIDED_AT = datetime(2026, 3, 5, 10, 30, tzinfo=UTC)

LETTER = LetterContent(
    reference="CASE-2026-000123",
    application_reference="APP-2026-000077",
    service_name="Blue Badge",
    agency_name="Example Borough Council",
    agency_contact="01632 960000\nbluebadge@council.example",
    applicant_name="Gwenllian Ŵyn Pryce",
    language="en",
    outcome="refused",
    outcome_label="Refused",
    reasons=(
        "You told us you can walk more than 50 metres.\n\n"
        "Your GP's letter of 2 February agrees with this."
    ),
    decided_at=DECIDED_AT,
    decided_by_role="Caseworker",
    approved_by_role="Team leader",
    outcome_kind="refuse",
)


def _text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def _language(pdf: bytes) -> str:
    return str(PdfReader(io.BytesIO(pdf)).trailer["/Root"]["/Lang"])


@pytest.fixture(scope="module")
def english_pdf() -> bytes:
    """One unsigned English letter, rendered once: rendering is the slow part."""
    return letter_render(content=LETTER)


class _RecordingHandler(BaseHTTPRequestHandler):
    requests: list[str]

    def do_GET(self) -> None:
        self.requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def loopback_server() -> Iterator[tuple[str, list[str]]]:
    """Run an HTTP server on loopback; yield its base URL and the paths it was asked for."""
    requests: list[str] = []
    handler = type("Handler", (_RecordingHandler,), {"requests": requests})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def development_signing(settings: Settings, tmp_path: Path) -> Iterator[Path]:
    """Point letter signing at missing files in a development setup; yield their folder."""
    keys = tmp_path / "var" / "keys"
    settings.PRODUCTION = False
    settings.LETTER_SIGNING_KEY_FILE = keys / "letters-key.pem"
    settings.LETTER_SIGNING_CERT_FILE = keys / "letters-cert.pem"
    settings.LETTER_SIGNING_CHAIN_FILE = None
    signer_reset()
    yield keys
    signer_reset()


# --- Rendering ------------------------------------------------------------------------


def test_english_letter_shows_references_applicant_reasons_and_date(english_pdf: bytes) -> None:
    """An English letter is an English PDF with both references, the applicant, the reasons
    in their paragraphs and the decision date written out in English."""
    text = _text(english_pdf)
    assert english_pdf.startswith(b"%PDF-")
    assert _language(english_pdf) == "en"
    assert "CASE-2026-000123" in text
    assert "APP-2026-000077" in text
    assert "Gwenllian Ŵyn Pryce" in text
    # Each paragraph of the reasons starts its own line: the paragraphs were kept.
    lines = text.splitlines()
    assert "You told us you can walk more than 50 metres." in lines
    assert "Your GP's letter of 2 February agrees with this." in lines
    assert "5 March 2026" in text
    assert "Refused" in text
    assert "Team leader" in text
    metadata = PdfReader(io.BytesIO(english_pdf)).metadata
    assert metadata is not None
    assert metadata.title == "Decision letter CASE-2026-000123"


def test_welsh_letter_is_marked_welsh_with_welsh_dates() -> None:
    """A Welsh letter declares lang cy and writes the date with Welsh month names, and still
    carries the references, the applicant and the reasons."""
    pdf = letter_render(content=replace(LETTER, language="cy", outcome_label="Gwrthodwyd"))
    text = _text(pdf)
    assert _language(pdf) == "cy"
    assert "5 Mawrth 2026" in text
    assert "CASE-2026-000123" in text
    assert "APP-2026-000077" in text
    assert "Gwenllian Ŵyn Pryce" in text
    assert "You told us you can walk more than 50 metres." in text
    assert "Gwrthodwyd" in text


def test_letter_is_tagged_for_assistive_technology(english_pdf: bytes) -> None:
    """The PDF is tagged (PDF/UA-1): it has a structure tree and shows its title."""
    root = PdfReader(io.BytesIO(english_pdf)).trailer["/Root"]
    assert "/StructTreeRoot" in root
    assert bool(root["/MarkInfo"]["/Marked"])
    assert bool(root["/ViewerPreferences"]["/DisplayDocTitle"])


def test_markup_in_reasons_is_printed_as_text_and_fetches_nothing(
    loopback_server: tuple[str, list[str]],
) -> None:
    """Markup a caseworker types into the reasons is printed literally: no script, no image,
    no stylesheet, and no request reaches a server the markup names."""
    base, requests = loopback_server
    reasons = (
        "<script>alert('x')</script>\n\n"
        f'<img src="{base}/tracker.png">\n\n'
        f'<link rel="stylesheet" href="{base}/evil.css">'
    )
    pdf = letter_render(content=replace(LETTER, reasons=reasons))
    text = _text(pdf)
    assert "<script>alert('x')</script>" in text
    assert f'<img src="{base}/tracker.png">' in text
    assert f'<link rel="stylesheet" href="{base}/evil.css">' in text
    assert requests == []


def test_renderer_loads_data_uris_but_no_network_or_file_urls(
    loopback_server: tuple[str, list[str]], tmp_path: Path
) -> None:
    """The letter fetcher serves data: URIs and refuses http and file URLs, so even markup
    that names a server or a local file makes no request and reads no file."""
    base, requests = loopback_server
    secret = tmp_path / "secret.css"
    secret.write_text("body { color: red }")
    fetcher = LetterURLFetcher()
    response = fetcher.fetch("data:text/plain;base64,aGVsbG8=")
    try:
        assert response.read() == b"hello"
    finally:
        response.close()
    for url in (f"{base}/direct.png", secret.as_uri(), "ftp://127.0.0.1/x"):
        with pytest.raises(ValueError, match="data: URIs"):
            fetcher.fetch(url)
    html = (
        f'<html><head><link rel="stylesheet" href="{secret.as_uri()}"></head>'
        f'<body><img src="{base}/in-document.png" alt="x"><p>Body</p></body></html>'
    )
    pdf = HTML(string=html, url_fetcher=LetterURLFetcher()).write_pdf()
    assert pdf.startswith(b"%PDF-")
    assert requests == []


def test_letter_content_refuses_unknown_language_and_naive_time() -> None:
    """A letter in a language the site does not offer, or with a naive decision time, is
    refused when it is described rather than printed wrong."""
    with pytest.raises(ValueError, match="fr"):
        replace(LETTER, language="fr")
    with pytest.raises(ValueError, match="timezone-aware"):
        replace(LETTER, decided_at=datetime(2026, 3, 5, 10, 30))


# --- Signing --------------------------------------------------------------------------


def test_signed_letter_is_intact_and_trusted_by_the_pki_root(
    english_pdf: bytes, letter_signing: LetterPKI
) -> None:
    """A rendered letter signed with the configured certificate is an intact PAdES signature
    over the whole file, trusted by the PKI's root, naming the signer and the time."""
    before = datetime.now(UTC)
    signed = pdf_sign(pdf=english_pdf, location="Cardiff")
    report = pdf_signature_check(pdf=signed, trust_roots=[letter_signing.root])
    assert report.intact
    assert report.valid
    assert report.pades
    assert report.covers_whole_file
    assert report.ok
    assert report.signer == letter_signing.signer_common_name == "Civicstack test letter signing"
    assert report.signed_at is not None
    assert before - timedelta(seconds=5) <= report.signed_at <= datetime.now(UTC)
    # Signing appends an incremental update: the letter's own bytes are unchanged.
    assert signed.startswith(english_pdf)
    assert "CASE-2026-000123" in _text(signed)


def test_check_trusts_the_configured_chain_when_given_no_roots(
    english_pdf: bytes, letter_signing: LetterPKI
) -> None:
    """With no trust roots named, the root in the configured chain file is trusted."""
    report = pdf_signature_check(pdf=pdf_sign(pdf=english_pdf))
    assert report.intact
    assert report.valid


def test_a_changed_byte_breaks_the_signature(english_pdf: bytes, letter_signing: LetterPKI) -> None:
    """Changing one byte of the signed letter makes it neither intact nor valid."""
    signed = bytearray(pdf_sign(pdf=english_pdf))
    signed[len(english_pdf) // 2] ^= 0x01
    report = pdf_signature_check(pdf=bytes(signed), trust_roots=[letter_signing.root])
    assert not report.intact
    assert not report.valid


def test_no_changed_byte_passes_for_the_issued_letter(
    english_pdf: bytes, letter_signing: LetterPKI
) -> None:
    """Wherever in a signed letter one byte is changed, the check reports that it is not the
    letter as issued, and never raises however badly the change breaks the file."""
    signed = pdf_sign(pdf=english_pdf)
    assert pdf_signature_check(pdf=signed, trust_roots=[letter_signing.root]).ok
    # Skip the signature value (the hex string the byte range leaves out): it cannot sign
    # itself, and its zero padding and unsigned CMS fields (the digestAlgorithms set) can
    # change without changing a byte of the letter.
    byte_range = re.search(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)", signed)
    assert byte_range is not None
    gap = range(int(byte_range[1]) + int(byte_range[2]), int(byte_range[3]))
    offsets = [o for o in range(0, len(signed), len(signed) // 60) if o not in gap]
    assert len(offsets) > 40
    for offset in offsets:
        damaged = bytearray(signed)
        damaged[offset] ^= 0x01
        report = pdf_signature_check(pdf=bytes(damaged), trust_roots=[letter_signing.root])
        assert not report.ok, f"a change at byte {offset} went unnoticed"


def test_bytes_added_after_signing_are_reported(
    english_pdf: bytes, letter_signing: LetterPKI
) -> None:
    """Bytes appended after signing leave the signature itself intact, but the report says it
    no longer covers the whole file, so the letter does not pass as issued."""
    signed = pdf_sign(pdf=english_pdf) + b"\n% added later\n"
    report = pdf_signature_check(pdf=signed, trust_roots=[letter_signing.root])
    assert report.intact
    assert not report.covers_whole_file
    assert not report.ok


def test_bytes_that_are_not_a_signed_pdf_are_not_intact(
    english_pdf: bytes, letter_signing: LetterPKI
) -> None:
    """An unsigned letter, or bytes that are not a PDF, are reported unsigned, not raised."""
    for pdf in (english_pdf, b"not a pdf at all"):
        report = pdf_signature_check(pdf=pdf, trust_roots=[letter_signing.root])
        assert not report.intact
        assert not report.valid
        assert report.signer == ""


def test_development_certificate_is_made_on_first_use_and_trusted_only_by_itself(
    english_pdf: bytes, development_signing: Path, letter_pki: LetterPKI
) -> None:
    """In development a missing key and certificate are created (key readable by the owner
    only); letters signed with them validate against that certificate but not against
    another PKI's root."""
    signed = pdf_sign(pdf=english_pdf)
    key_file = development_signing / "letters-key.pem"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert (development_signing / "letters-cert.pem").exists()
    own = pdf_signature_check(pdf=signed)
    assert own.intact
    assert own.valid
    assert own.signer == DEVELOPMENT_COMMON_NAME
    foreign = pdf_signature_check(pdf=signed, trust_roots=[letter_pki.root])
    assert foreign.intact
    assert not foreign.valid
    # The pair is reused, not replaced, once it exists.
    signer_reset()
    key_pem = key_file.read_bytes()
    assert pdf_signature_check(pdf=pdf_sign(pdf=english_pdf)).valid
    assert key_file.read_bytes() == key_pem


def test_production_without_key_files_refuses_to_sign(
    english_pdf: bytes, development_signing: Path, settings: Settings
) -> None:
    """In production a missing signing key or certificate is an error naming the settings,
    and no key is made."""
    settings.PRODUCTION = True
    with pytest.raises(RuntimeError, match="LETTER_SIGNING_KEY_FILE"):
        pdf_sign(pdf=english_pdf)
    assert not development_signing.exists()


def test_a_certificate_for_another_key_is_refused(
    english_pdf: bytes, development_signing: Path, letter_pki: LetterPKI, settings: Settings
) -> None:
    """A certificate that does not belong to the signing key is refused before signing."""
    pdf_sign(pdf=english_pdf)  # makes a development key and its certificate
    settings.LETTER_SIGNING_KEY_FILE = letter_pki.key_path
    with pytest.raises(RuntimeError, match="does not hold the certificate"):
        pdf_sign(pdf=english_pdf)


def test_signing_and_checking_work_inside_a_running_event_loop(
    english_pdf: bytes, letter_signing: LetterPKI
) -> None:
    """An ASGI worker or a browser driver runs a loop; signing still works there."""
    import asyncio

    async def inside() -> bool:
        signed = pdf_sign(pdf=english_pdf)
        return pdf_signature_check(pdf=signed, trust_roots=[letter_signing.root]).ok

    # The loop runs in a thread of its own: the browser tests may hold this thread's.
    with ThreadPoolExecutor(max_workers=1) as pool:
        assert pool.submit(asyncio.run, inside()).result()


def test_what_happens_next_follows_the_kind_of_outcome_not_its_name() -> None:
    """An approving outcome called "granted" gets the approval's next steps."""
    granted = replace(LETTER, outcome="granted", outcome_label="Granted", outcome_kind="approve")
    text = _text(letter_render(content=granted))
    assert "You do not need to do anything else now" in text
    assert "apply again" not in text
    assert "apply again" in _text(letter_render(content=LETTER))
