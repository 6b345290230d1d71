"""An in-process cache of public pages for visitors who are not signed in.

Catalogue pages are the same for every anonymous visitor, and rendering them costs far more
than serving them. This middleware sits first in the stack: for a GET or HEAD without a
session or messages cookie it serves a stored copy of a page that a view marked with
``core.http.public_page``, after replacing the stored Content-Security-Policy nonce with a
fresh one. Entries are keyed by the full path and the catalogue's state token (checked at
most once a second per process), and expire after ``PUBLIC_PAGE_CACHE_SECONDS``. Responses that
set cookies, are not 200, or come from signed-in people are never stored.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.utils.csp import generate_nonce
from django.utils.functional import empty

from civicstack.catalogue.selectors import catalogue_version
from civicstack.core.http import PUBLIC_PAGE_ATTRIBUTE

NONCE_PLACEHOLDER = b"\x00civicstack-nonce\x00"
MAX_ENTRIES = 2000
MAX_BODY_BYTES = 512 * 1024
# Longer addresses (very long search queries) are served but not stored.
MAX_KEY_LENGTH = 600
_SKIPPED_HEADERS = {"x-request-id", "content-length"}


@dataclass(frozen=True)
class CachedPage:
    """A stored page: its headers and body with the nonce replaced by a placeholder."""

    version: str
    stored_at: float
    headers: tuple[tuple[str, str], ...]
    body: bytes


class PublicPageCache:
    """A bounded LRU of public pages, safe to share between the threads of one process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pages: OrderedDict[str, CachedPage] = OrderedDict()
        self._version = ""
        self._version_checked = 0.0

    def clear(self) -> None:
        """Forget every stored page (tests, and after a deploy)."""
        with self._lock:
            self._pages.clear()
            self._version = ""
            self._version_checked = 0.0

    def current_version(self) -> str:
        """Return the catalogue's state token, read from the database at most once a second."""
        now = time.monotonic()
        if now - self._version_checked >= settings.CATALOGUE_CHECK_SECONDS or not self._version:
            self._version = catalogue_version()
            self._version_checked = now
        return self._version

    def get(self, key: str, *, version: str, ttl: float) -> CachedPage | None:
        """Return the stored page for ``key`` if it is current, else None."""
        with self._lock:
            page = self._pages.get(key)
            if page is None:
                return None
            if page.version != version or time.monotonic() - page.stored_at > ttl:
                del self._pages[key]
                return None
            self._pages.move_to_end(key)
            return page

    def put(self, key: str, page: CachedPage) -> None:
        """Store a page, evicting the least recently used beyond the bound."""
        with self._lock:
            self._pages[key] = page
            self._pages.move_to_end(key)
            while len(self._pages) > MAX_ENTRIES:
                self._pages.popitem(last=False)

    def __len__(self) -> int:
        return len(self._pages)


page_cache = PublicPageCache()


def _anonymous(request: HttpRequest) -> bool:
    cookies = request.COOKIES
    return settings.SESSION_COOKIE_NAME not in cookies and "messages" not in cookies


def _serve(request: HttpRequest, page: CachedPage) -> HttpResponse:
    nonce = generate_nonce()
    body = page.body.replace(NONCE_PLACEHOLDER, nonce.encode())
    response = HttpResponse(b"" if request.method == "HEAD" else body)
    for name, value in page.headers:
        response.headers[name] = value.replace(NONCE_PLACEHOLDER.decode(), nonce)
    response.headers["Content-Length"] = str(len(body))
    response.headers["X-Request-Id"] = secrets.token_hex(8)
    response.headers["X-Cache"] = "hit"
    return response


def _store(request: HttpRequest, response: HttpResponse, key: str, version: str) -> None:
    if (
        response.status_code != 200
        or not getattr(response, PUBLIC_PAGE_ATTRIBUTE, False)
        or response.cookies
        or response.streaming
        or request.method != "GET"
        or len(key) > MAX_KEY_LENGTH
    ):
        return
    body = response.content
    if len(body) > MAX_BODY_BYTES:
        return
    nonce = getattr(request, "_csp_nonce", None)
    placeholder_text = NONCE_PLACEHOLDER.decode()
    headers = []
    # The nonce is generated lazily: if nothing on the page used it, there is none to swap.
    used = nonce is not None and getattr(nonce, "_wrapped", empty) is not empty
    nonce_text = str(nonce) if used else ""
    for name, value in response.headers.items():
        if name.lower() in _SKIPPED_HEADERS:
            continue
        headers.append((name, value.replace(nonce_text, placeholder_text) if nonce_text else value))
    if nonce_text:
        body = body.replace(nonce_text.encode(), NONCE_PLACEHOLDER)
    page_cache.put(
        key,
        CachedPage(version=version, stored_at=time.monotonic(), headers=tuple(headers), body=body),
    )


class PublicPageCacheMiddleware:
    """Serve and store public pages for visitors without a session."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        ttl = settings.PUBLIC_PAGE_CACHE_SECONDS
        if ttl <= 0 or request.method not in {"GET", "HEAD"} or not _anonymous(request):
            return self.get_response(request)
        if getattr(settings, "SECURE_SSL_REDIRECT", False) and not request.is_secure():
            # The security middleware below redirects plain HTTP to HTTPS.
            return self.get_response(request)
        # get_host() checks ALLOWED_HOSTS (raising DisallowedHost, a 400), exactly as the
        # stack would, and keys the page by host and scheme.
        key = f"{request.scheme}://{request.get_host()}{request.get_full_path()}"
        try:
            version = page_cache.current_version()
        except DatabaseError:
            # Without the database the cache cannot know what is current: let the normal
            # stack answer (with its designed error page).
            return self.get_response(request)
        page = page_cache.get(key, version=version, ttl=ttl)
        if page is not None:
            return _serve(request, page)
        response = self.get_response(request)
        _store(request, response, key, version)
        return response
