"""The public page cache: fast for anonymous visitors, never stale, never personal."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from django.http import HttpResponse
from django.test import Client, RequestFactory, override_settings

from civicstack.accounts.models import User
from civicstack.catalogue.content import bump_catalogue_version
from civicstack.catalogue.loaders import catalogue_demo_load
from civicstack.catalogue.models import Service
from civicstack.portal import pagecache

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def cache_on(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    pagecache.page_cache.clear()
    catalogue_demo_load()
    with override_settings(PUBLIC_PAGE_CACHE_SECONDS=60):
        yield
    pagecache.page_cache.clear()


def _nonce_of(response: HttpResponse) -> str:
    match = re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"])
    assert match is not None
    return match.group(1)


def test_second_anonymous_visit_is_served_from_the_cache_with_a_fresh_nonce() -> None:
    """The stored page is served again, with a new nonce in both the header and the page."""
    client = Client()
    first = client.get("/en/services/renew-driving-licence")
    second = client.get("/en/services/renew-driving-licence")
    assert "X-Cache" not in first
    assert second["X-Cache"] == "hit"
    first_nonce, second_nonce = _nonce_of(first), _nonce_of(second)
    assert first_nonce != second_nonce
    assert f'nonce="{second_nonce}"' in second.content.decode()
    assert first_nonce not in second.content.decode()
    assert first.content.decode().replace(first_nonce, "N") == second.content.decode().replace(
        second_nonce, "N"
    )
    assert second["X-Frame-Options"] == "DENY"
    assert int(second["Content-Length"]) == len(second.content)


def test_publishing_invalidates_the_cache() -> None:
    """After the catalogue changes, the next visit renders the new content."""
    client = Client()
    client.get("/en/services/renew-driving-licence")
    Service.objects.filter(slug="renew-driving-licence").update(title_en="Renewed heading")
    bump_catalogue_version()
    response = client.get("/en/services/renew-driving-licence")
    assert "X-Cache" not in response
    assert "Renewed heading" in response.content.decode()


def test_signed_in_people_never_get_or_fill_cached_pages() -> None:
    """Pages for signed-in people are rendered for them and not stored."""
    user = User.objects.create_user("person@example.org", "a long enough password")
    client = Client()
    client.force_login(user)
    client.get("/en/")
    assert len(pagecache.page_cache) == 0
    Client().get("/en/")
    response = client.get("/en/")
    assert "X-Cache" not in response
    assert "Sign out" in response.content.decode()


def test_errors_and_unmarked_pages_are_not_stored() -> None:
    """404s and account pages are never stored."""
    client = Client()
    client.get("/en/services/no-such-service")
    client.get("/en/account/sign-in")
    assert len(pagecache.page_cache) == 0


def test_search_results_are_stored_per_query() -> None:
    """A repeated search is served from the cache; another query is not."""
    client = Client()
    client.get("/en/search?q=blue+badge")
    assert client.get("/en/search?q=blue+badge")["X-Cache"] == "hit"
    assert "X-Cache" not in client.get("/en/search?q=blue+badges")


def test_responses_that_set_cookies_are_not_stored() -> None:
    """A marked page that sets a cookie is not stored (it could carry a token)."""
    request = RequestFactory().get("/en/x")
    response = HttpResponse(b"page")
    response.set_cookie("csrftoken", "secret")
    setattr(response, pagecache.PUBLIC_PAGE_ATTRIBUTE, True)
    pagecache._store(request, response, "/en/x", "v")
    assert len(pagecache.page_cache) == 0


def test_head_requests_get_headers_only() -> None:
    """A HEAD for a cached page has its headers and no body."""
    client = Client()
    client.get("/en/")
    response = client.head("/en/")
    assert response["X-Cache"] == "hit"
    assert response.content == b""


def test_the_cache_is_bounded() -> None:
    """The least recently used page is dropped beyond the bound."""
    cache = pagecache.PublicPageCache()
    for number in range(pagecache.MAX_ENTRIES + 5):
        cache.put(
            f"/p/{number}",
            pagecache.CachedPage(version="v", stored_at=0.0, headers=(), body=b""),
        )
    assert len(cache) == pagecache.MAX_ENTRIES


def test_unknown_hosts_are_refused_even_for_cached_pages() -> None:
    """A cached page is not served for a Host outside ALLOWED_HOSTS."""
    client = Client()
    client.get("/en/")
    response = client.get("/en/", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert "X-Cache" not in response


def test_plain_http_is_not_served_from_the_cache_when_https_is_required() -> None:
    """With SECURE_SSL_REDIRECT the redirect to HTTPS still happens."""
    Client().get("/en/")
    with override_settings(SECURE_SSL_REDIRECT=True):
        # A new client loads the middleware with the setting in force.
        response = Client().get("/en/")
    assert response.status_code == 301
    assert response["Location"].startswith("https://")
