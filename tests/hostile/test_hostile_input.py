"""No request, however hostile, gets a server error; refused requests create nothing.

Every routed URL (both languages, realistic and junk path values) gets long strings,
control characters, SQL and template metacharacters, invalid UTF-8, junk headers, junk
content types and multipart bodies, as an anonymous visitor, a citizen, a member of staff
with MFA and a platform admin with MFA (ASVS 5.0 V1.2, V1.5, V2.2, V16.5).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from tests.hostile.conftest import Identity
from tests.hostile.crawl import (
    EXTRA_JUNK_PATHS,
    JUNK_HOSTS,
    PAYLOADS,
    Route,
    concrete_urls,
    url_routes,
)
from tests.hostile.crawler import HostileCrawler

# Which identity gets the full set of payloads on which pages; everyone else gets a sample.
AUDIENCE = {
    "anonymous": ("portal:", "catalogue:", "accounts:", "health-", "api-forms:", "openapi"),
    "citizen": ("accounts:", "forms:", "documents:", "identity:"),
    "staff": ("backoffice:",),
    "platform_admin": ("admin:",),
}
# Signing out ends the crawl's own session: crawl these last.
SESSION_ENDING = ("accounts:sign-out", "admin:logout")


def test_every_url_pattern_is_crawled() -> None:
    """The crawl covers every routed page, in both languages, and the admin."""
    names = {route.name for route in url_routes()}
    for expected in (
        "portal:home",
        "catalogue:search",
        "catalogue:service",
        "accounts:sign-in",
        "accounts:verify-email",
        "backoffice:service-revision",
        "admin:index",
        "health-live",
    ):
        assert expected in names, sorted(names)
    templates = {route.template for route in url_routes()}
    assert "/{language}/services/{slug}" in templates


@pytest.mark.parametrize("who", list(AUDIENCE))
def test_hostile_requests_never_get_a_server_error(
    who: str,
    identities: dict[str, Identity],
    realistic_values: Callable[[Route, str], list[str]],
) -> None:
    """Every URL answers hostile input with a page or a clear error, never a 500, and
    requests it refuses leave no new people, devices, codes, memberships or content behind.
    """
    crawler = HostileCrawler(identities[who])
    routes = sorted(url_routes(), key=lambda route: route.name.startswith(SESSION_ENDING))
    for target in concrete_urls(routes, realistic_values):
        ours = target.route.name.startswith(AUDIENCE[who])
        if not target.realistic and not (ours or who == "anonymous"):
            continue  # junk path values: crawled by the anonymous visitor and the audience
        crawler.crawl(target, full=ours and target.language in {"en", ""})
    if who == "anonymous":
        for path in EXTRA_JUNK_PATHS:
            crawler.get(path, "junk path")
            crawler.post(path, "junk path", data={"q": PAYLOADS["template metacharacters"]})
    if crawler.failures:
        pytest.fail(crawler.report(), pytrace=False)
    print(crawler.report())  # the request counts and statuses, shown with -s or -rP


def test_junk_host_headers_are_refused_cleanly(identities: dict[str, Identity]) -> None:
    """A Host header that is not ours gets a 400 page, never a 500 or our content."""
    crawler = HostileCrawler(identities["anonymous"])
    for path in ("/en/", "/en/search", "/en/account/sign-in", "/health/live"):
        for host in JUNK_HOSTS:
            response = crawler.get(path, f"Host: {host[:20]!r}", HTTP_HOST=host)
            assert response.status_code == 400, (path, host, response.status_code)
            response = crawler.post(path, f"Host: {host[:20]!r}", data={"q": "x"}, HTTP_HOST=host)
            assert response.status_code in {400, 405}, (path, host, response.status_code)
    if crawler.failures:
        pytest.fail(crawler.report(), pytrace=False)


def test_forms_without_a_csrf_token_are_refused_cleanly(
    identities: dict[str, Identity],
) -> None:
    """A form posted without its CSRF token gets the 403 page and changes nothing."""
    citizen = identities["citizen"]
    strict = Identity(
        "citizen (CSRF enforced)", Client(enforce_csrf_checks=True, raise_request_exception=False)
    )
    strict.client.cookies = citizen.client.cookies
    crawler = HostileCrawler(strict)
    for path in (
        "/en/account/sign-in",
        "/en/account/create",
        "/en/account/sign-out",
        "/en/account/change-password",
        "/cy/account/two-factor/set-up",
    ):
        response = crawler.post(
            path, "no CSRF token", data={"email": PAYLOADS["SQL metacharacters"]}
        )
        assert response.status_code == 403, (path, response.status_code)
    if crawler.failures:
        pytest.fail(crawler.report(), pytrace=False)
