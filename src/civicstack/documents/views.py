"""Download of a stored document, for its owner, its holder's session or agency staff."""

from __future__ import annotations

import unicodedata
from urllib.parse import quote
from uuid import UUID

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_safe

from civicstack.core.errors import NotFound
from civicstack.documents import services
from civicstack.documents.constants import HOLDERS_SESSION_KEY, IMAGE_KINDS


def session_holder_keys(request: HttpRequest) -> list[str]:
    """Return the holder strings this session may use (set by the forms app)."""
    value = request.session.get(HOLDERS_SESSION_KEY, [])
    if not isinstance(value, list):
        return []
    return [key for key in value if isinstance(key, str) and key]


def _ascii_filename(name: str) -> str:
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    safe = "".join(ch if ch.isprintable() and ch not in '"\\;' else "_" for ch in folded)
    return safe.strip(" .") or "document"


def content_disposition(name: str) -> str:
    """Return an attachment Content-Disposition with ASCII and UTF-8 (RFC 6266) names."""
    return (
        f"attachment; filename=\"{_ascii_filename(name)}\"; filename*=UTF-8''{quote(name, safe='')}"
    )


@require_safe
def download(request: HttpRequest, document_id: UUID) -> HttpResponse:
    """Send the decrypted file as a download; 404 for anyone who may not see it."""
    result = services.document_download(
        document_id=document_id, user=request.user, holder_keys=session_holder_keys(request)
    )
    document = result.document
    response = HttpResponse(result.content, content_type=document.content_type)
    response["Content-Disposition"] = content_disposition(document.original_filename)
    response["Content-Length"] = str(len(result.content))
    response["Cache-Control"] = "no-store, private"
    response["X-Content-Type-Options"] = "nosniff"
    # Always a download; should a browser render it anyway, it gets no script, no
    # forms and no same-origin access.
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    return response


@require_safe
def preview(request: HttpRequest, document_id: UUID) -> HttpResponse:
    """Send an image inline, to show it in a page; the same access rules and audit apply.

    Only images: they were re-encoded on upload, and an image shown by an ``<img>`` cannot
    run anything. Other kinds are downloads only (404 here).
    """
    result = services.document_download(
        document_id=document_id, user=request.user, holder_keys=session_holder_keys(request)
    )
    document = result.document
    if document.kind not in IMAGE_KINDS:
        raise NotFound()
    response = HttpResponse(result.content, content_type=document.content_type)
    response["Content-Disposition"] = "inline"
    response["Content-Length"] = str(len(result.content))
    response["Cache-Control"] = "no-store, private"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    return response
