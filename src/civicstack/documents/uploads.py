"""Site-wide caps on uploads, enforced while the request body is read.

``UploadSizeLimitHandler`` comes first in FILE_UPLOAD_HANDLERS: it refuses a multipart
request whose Content-Length is over UPLOAD_MAX_REQUEST_BYTES before reading any of the
body, and stops any single file passing UPLOAD_MAX_FILE_BYTES as it streams in (which
also covers parts that state no length). It raises ``UploadTooLarge``.

Django parses the body the first time anything reads ``request.POST``, which is usually
the CSRF check, before any view runs and outside the error middleware's reach. So
``UploadLimitMiddleware``, placed just before CsrfViewMiddleware, reads the body first
under these handlers and turns ``UploadTooLarge`` into a 413 page with a clear message
(``request.upload_too_large`` is set too, for anything that wants to know).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.files.uploadhandler import FileUploadHandler
from django.http import HttpRequest, HttpResponse
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _

from civicstack.core.middleware import error_response
from civicstack.documents.errors import UploadTooLarge


class UploadRefused(UploadTooLarge, RequestDataTooBig):
    """Over a site-wide cap.

    Also a RequestDataTooBig, so if the body is ever read outside the middleware Django
    still answers 400 rather than 500 and will not parse the body again.
    """


def _refusal(limit: int) -> UploadRefused:
    return UploadRefused(
        _(
            "The file you chose is too large. Each file must be %(size)s or smaller. "
            "Choose a smaller file and try again."
        )
        % {"size": filesizeformat(limit)}
    )


def _mark(request: HttpRequest | None) -> None:
    if request is not None:
        request.upload_too_large = True  # type: ignore[attr-defined]


class UploadSizeLimitHandler(FileUploadHandler):
    """Refuse oversized request bodies before reading them, and oversized files mid-stream."""

    def handle_raw_input(
        self,
        input_data: Any,
        META: dict[str, Any],
        content_length: int,
        boundary: Any,
        encoding: str | None = None,
    ) -> None:
        """Refuse the request if its Content-Length is over the cap (nothing read yet)."""
        self.file_limit = int(settings.UPLOAD_MAX_FILE_BYTES)
        if content_length > int(settings.UPLOAD_MAX_REQUEST_BYTES):
            _mark(self.request)
            raise _refusal(min(self.file_limit, int(settings.UPLOAD_MAX_REQUEST_BYTES)))

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        """Start counting a new file (and refuse at once if it declares an oversize)."""
        super().new_file(*args, **kwargs)
        self.file_limit = int(settings.UPLOAD_MAX_FILE_BYTES)
        if self.content_length is not None and self.content_length > self.file_limit:
            _mark(self.request)
            raise _refusal(self.file_limit)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        """Pass the chunk on, unless the file has grown past the per-file cap."""
        if start + len(raw_data) > self.file_limit:
            _mark(self.request)
            raise _refusal(self.file_limit)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        """Leave storing the file to the next handler."""
        return None


class UploadLimitMiddleware:
    """Read multipart bodies before the CSRF check, so a too-large upload gets a 413 page.

    Views that replace ``request.upload_handlers`` must therefore be exempt from this
    middleware's early read (there are none).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> HttpResponse | None:
        """Parse the body now; answer 413 if the upload handlers refused it."""
        if request.method != "POST" or not (request.content_type or "").startswith("multipart/"):
            return None
        try:
            request.POST  # noqa: B018 - parsing is the point
        except UploadTooLarge as error:
            return error_response(request, error.status, error.code, error)
        return None
