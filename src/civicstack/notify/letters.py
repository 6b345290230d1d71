"""Letters: an A4 PDF in the print outbox, and a copy in the person's documents.

A letter from a template is rendered from ``notify/letter.html`` (address block, date,
subject and the body the template produced) to a tagged PDF by WeasyPrint; a precompiled
letter (sent as a PDF through the API) is checked and used as it is. The PDF is then

- issued into the person's documents when the letter is to someone with an account (once:
  a resend finds the document already issued), and its id is reported in the outcome
  (``document_id``) and kept on the notification;
- written to ``NOTIFY_OUTBOX_DIR/letters/<notification id>.pdf`` for the print service, by
  rename, so a resend replaces the file and there is never a second copy.

The renderer never reaches the network or the filesystem: it loads ``data:`` URIs only.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation
from weasyprint import HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse

from civicstack.notify.channels import Outcome, channels
from civicstack.notify.sms import atomic_write

if TYPE_CHECKING:
    from civicstack.notify.models import Notification

logger = logging.getLogger(__name__)

PROVIDER = "print-outbox"
TEMPLATE_NAME = "notify/letter.html"
PDF_VARIANT = "pdf/ua-1"
MAX_PAGES = 10
# A4 in PDF points, and how far a precompiled page may differ from it (rounding).
A4_POINTS = (595.28, 841.89)
A4_TOLERANCE = 3.0


class LetterInvalid(ValueError):
    """The letter cannot be printed as it is; the message says why (validation failed)."""


class _DataOnlyFetcher(URLFetcher):  # type: ignore[misc]  # weasyprint ships no type hints
    """Fetch ``data:`` URIs only; refuse every other URL (no network, no file reads)."""

    def __init__(self) -> None:
        super().__init__(allowed_protocols={"data"}, allow_redirects=False)

    def fetch(self, url: str, headers: dict[str, str] | None = None) -> URLFetcherResponse:
        scheme = url.partition(":")[0].strip().lower()
        if scheme != "data":
            # Only the scheme is logged: the rest of a URL may carry personal data.
            logger.warning("letter renderer refused a %s: URL", scheme[:16])
            raise ValueError("letters may only load data: URIs")
        return super().fetch(url, headers)


_FETCHER: _DataOnlyFetcher | None = None


def _fetcher() -> _DataOnlyFetcher:
    # Built once: making one creates an SSL context, and it keeps no state between fetches.
    global _FETCHER
    if _FETCHER is None:
        _FETCHER = _DataOnlyFetcher()
    return _FETCHER


@dataclass(frozen=True)
class LetterPage:
    """What a template letter shows: sender, address lines, date, subject and body HTML."""

    sender_name: str
    address: list[str]
    date: date
    language: str
    subject: str
    html: str


def letter_html(page: LetterPage) -> str:
    """Return the letter as the HTML document the PDF is made from."""
    language = page.language if page.language in dict(settings.LANGUAGES) else "en"
    with translation.override(language):
        return render_to_string(TEMPLATE_NAME, {"letter": page})


def letter_pdf_render(page: LetterPage) -> bytes:
    """Render a template letter to a tagged A4 PDF; raise LetterInvalid if it cannot be."""
    html = letter_html(page)
    try:
        # No base_url: relative URLs resolve to nothing rather than to a folder on disk.
        pdf: bytes = HTML(string=html, url_fetcher=_fetcher()).write_pdf(pdf_variant=PDF_VARIANT)
    except Exception as error:  # WeasyPrint raises many kinds; none must stop the batch
        logger.exception("letter could not be rendered")
        raise LetterInvalid(f"The letter could not be rendered: {type(error).__name__}") from None
    return pdf


def precompiled_check(content: bytes) -> None:
    """Raise LetterInvalid unless ``content`` is a readable, unencrypted A4 PDF of 1-10 pages."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    if not content.startswith(b"%PDF-"):
        raise LetterInvalid("The file is not a PDF")
    try:
        reader = PdfReader(io.BytesIO(content))
        if reader.is_encrypted:
            raise LetterInvalid("The PDF is protected by a password")
        pages = len(reader.pages)
        sizes = [(float(p.mediabox.width), float(p.mediabox.height)) for p in reader.pages]
    except LetterInvalid:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError, RecursionError) as error:
        raise LetterInvalid(f"The PDF could not be read: {type(error).__name__}") from None
    if pages == 0:
        raise LetterInvalid("The PDF has no pages")
    if pages > MAX_PAGES:
        raise LetterInvalid(f"Letters must be {MAX_PAGES} pages or fewer")
    for width, height in sizes:
        short, long = sorted((abs(width), abs(height)))
        if abs(short - A4_POINTS[0]) > A4_TOLERANCE or abs(long - A4_POINTS[1]) > A4_TOLERANCE:
            raise LetterInvalid("Letters must be A4 size")


def outbox_dir() -> Path:
    """Return the print outbox folder."""
    return Path(settings.NOTIFY_OUTBOX_DIR) / "letters"


def attached_reference(notification_id: Any) -> str:
    """Return what the person's copy of a letter is attached to in documents."""
    return f"letter:{notification_id}"


class LetterChannel:
    """Letters as PDFs: the print outbox, and the person's documents."""

    provider = PROVIDER

    def send(self, notifications: list[Notification]) -> list[Outcome]:
        """Prepare each claimed letter for printing; return one outcome for each."""
        return [self._send_one(notification) for notification in notifications]

    def _send_one(self, notification: Notification) -> Outcome:
        try:
            pdf = self._pdf(notification)
        except LetterInvalid as error:
            return Outcome("permanent", str(error))
        document_id = None
        if notification.user_id is not None:
            try:
                document_id = str(self._document(notification, pdf))
            except ValueError as error:
                return Outcome("permanent", f"The letter could not be stored: {error}")
            except Exception as error:  # storage, key ring: try again later
                logger.exception("letter %s: storing the person's copy failed", notification.pk)
                return Outcome("retry", f"Documents unavailable: {type(error).__name__}")
        try:
            atomic_write(outbox_dir() / f"{notification.pk}.pdf", pdf)
        except OSError as error:
            return Outcome("retry", f"Print outbox unavailable: {type(error).__name__}")
        return Outcome("delivered", document_id=document_id)

    def _pdf(self, notification: Notification) -> bytes:
        from civicstack.notify.models import LetterPdf

        stored = (
            LetterPdf.objects.filter(notification_id=notification.pk)
            .values_list("content", flat=True)
            .first()
        )
        if stored is not None:
            content = bytes(stored)
            precompiled_check(content)
            return content
        if not (notification.html or notification.body).strip():
            raise LetterInvalid("The letter has no content")
        page = LetterPage(
            sender_name=notification.sender.name,
            address=[str(line) for line in notification.address or [] if str(line).strip()],
            date=timezone.localdate(notification.created_at),
            language=notification.language,
            subject=notification.subject,
            html=notification.html,
        )
        return letter_pdf_render(page)

    def _document(self, notification: Notification, pdf: bytes) -> str:
        from civicstack.documents.selectors import documents_attached_to
        from civicstack.documents.services import document_issue

        if notification.document_id is not None:
            # Issued before it was sent (a signed decision letter): not stored twice.
            return str(notification.document_id)
        attached_to = attached_reference(notification.pk)
        with transaction.atomic():
            existing = documents_attached_to(attached_to=attached_to).first()
            if existing is not None:
                return str(existing.pk)
            document = document_issue(
                content=pdf,
                filename=_filename(notification),
                owner=notification.user,
                agency_id=notification.sender.agency_id,
                attached_to=attached_to,
                actor=None,
            )
        return str(document.pk)


def _filename(notification: Notification) -> str:
    from django.utils.text import slugify

    stem = slugify(notification.subject)[:80] or "letter"
    return f"{stem}.pdf"


letter_channel = LetterChannel()
channels.register("letter")(letter_channel)
