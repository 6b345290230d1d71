"""Decision letters: what a letter says, and its rendering to an accessible PDF.

A letter is rendered from ``cases/letters/decision.html`` in the applicant's language and
turned into a tagged PDF (PDF/UA-1) by WeasyPrint. The renderer never reaches the network
or the filesystem: the only URLs it will load are ``data:`` URIs, so neither the template
nor anything a caseworker typed can make the server fetch a resource. Signing is separate
(:mod:`civicstack.cases.signing`), so a letter can be rendered for preview unsigned.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import translation
from weasyprint import HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse

__all__ = ["LetterContent", "LetterURLFetcher", "letter_render"]

logger = logging.getLogger(__name__)

TEMPLATE_NAME = "cases/letters/decision.html"

# PDF/UA-1 makes WeasyPrint tag the structure (headings, paragraphs, lists), so screen
# readers can navigate the letter; it also carries the title and language into the PDF.
PDF_VARIANT = "pdf/ua-1"


@dataclass(frozen=True)
class LetterContent:
    """Everything a decision letter says, already resolved to plain values.

    ``outcome_label`` and the role names arrive translated into ``language``; ``reasons``
    is the caseworker's plain text, paragraphs separated by blank lines (it is escaped
    when rendered, never trusted as markup).
    """

    reference: str
    application_reference: str
    service_name: str
    agency_name: str
    agency_contact: str
    applicant_name: str
    language: str
    outcome: str
    outcome_label: str
    reasons: str
    decided_at: datetime
    decided_by_role: str
    approved_by_role: str | None = None
    # "approve", "refuse" or "other": what the outcome means, whatever the service calls it.
    outcome_kind: str = "other"
    # The last day a permit or licence granted by this decision is valid, if it expires.
    valid_until: date | None = None

    def __post_init__(self) -> None:
        # Caught here rather than at render time: a letter in an unknown language would
        # silently fall back to English, and a naive time would print in the wrong zone.
        if self.language not in {code for code, _name in settings.LANGUAGES}:
            raise ValueError(f"letters cannot be written in {self.language!r}")
        if self.decided_at.tzinfo is None or self.decided_at.utcoffset() is None:
            raise ValueError("decided_at must be a timezone-aware datetime")


class LetterURLFetcher(URLFetcher):  # type: ignore[misc]  # weasyprint ships no type hints
    """Fetch ``data:`` URIs only; refuse every other URL (no network, no file reads)."""

    def __init__(self) -> None:
        # allowed_protocols is WeasyPrint's own guard; the check in fetch() comes first so
        # a refusal never reaches urllib at all.
        super().__init__(allowed_protocols={"data"}, allow_redirects=False)

    def fetch(self, url: str, headers: dict[str, str] | None = None) -> URLFetcherResponse:
        """Return the resource for a ``data:`` URI; raise ValueError for anything else."""
        scheme = url.partition(":")[0].strip().lower()
        if scheme != "data":
            # Only the scheme is logged: the rest of a URL may carry personal data.
            logger.warning("letter renderer refused a %s: URL", scheme[:16])
            raise ValueError("decision letters may only load data: URIs")
        return super().fetch(url, headers)


# One fetcher for every letter: building it creates an SSL context (about 80 ms), and it
# holds no state between fetches.
_FETCHER: LetterURLFetcher | None = None


def _fetcher() -> LetterURLFetcher:
    global _FETCHER
    if _FETCHER is None:
        _FETCHER = LetterURLFetcher()
    return _FETCHER


def _html(*, content: LetterContent) -> str:
    context: dict[str, Any] = {"letter": content}
    with translation.override(content.language):
        return render_to_string(TEMPLATE_NAME, context)


def letter_render(*, content: LetterContent) -> bytes:
    """Render a decision letter to an unsigned, tagged A4 PDF in the letter's language."""
    html = _html(content=content)
    # No base_url: a relative URL then resolves to nothing, where a filename source would
    # resolve it against a directory on disk.
    document = HTML(string=html, url_fetcher=_fetcher())
    pdf: bytes = document.write_pdf(pdf_variant=PDF_VARIANT)
    return pdf
