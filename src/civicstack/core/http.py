"""HTTP helpers shared by every app."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.http import HttpRequest, HttpResponse

PUBLIC_PAGE_ATTRIBUTE = "civicstack_public_page"


def public_page[ViewT: Callable[..., HttpResponse]](view: ViewT) -> ViewT:
    """Mark a view's pages as the same for every anonymous visitor, so they may be cached.

    Only mark views whose output depends on nothing but the URL and published content
    (no forms with CSRF tokens, no per-person data). The portal's page cache stores such
    pages for visitors without a session and serves them with a fresh CSP nonce.
    """

    @wraps(view)
    def wrapper(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        response = view(request, *args, **kwargs)
        setattr(response, PUBLIC_PAGE_ATTRIBUTE, True)
        return response

    return wrapper  # type: ignore[return-value]
