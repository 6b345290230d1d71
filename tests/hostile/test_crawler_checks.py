"""The crawler's own checks can fail: it reports a 500 with its cause, and rows created by
a request that was refused.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest
from django.http import HttpResponse

from tests.hostile.conftest import Identity
from tests.hostile.crawl import JUNK_PATH_VALUES, Route, concrete_urls
from tests.hostile.crawler import HostileCrawler


class _ScriptedClient:
    """Stands in for the test client: answers every request with ``answer()``."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer

    def get(self, url: str, **kwargs: Any) -> HttpResponse:
        return self.answer()

    post = get


def _server_error() -> HttpResponse:
    response = HttpResponse("Server error", status=500)
    try:
        int("not a number")
    except ValueError:
        response.exc_info = sys.exc_info()  # type: ignore[attr-defined]
    return response


def test_a_server_error_is_reported_with_its_exception() -> None:
    """A 500 is recorded with the method, URL, payload kind and the exception behind it."""
    crawler = HostileCrawler(Identity("scripted", _ScriptedClient(_server_error)))  # type: ignore[arg-type]
    crawler.get("/en/search", "query: SQL metacharacters")
    assert len(crawler.failures) == 1
    report = crawler.report()
    assert "GET     /en/search [query: SQL metacharacters] -> 500" in report
    assert "ValueError raised at" in report
    assert "test_crawler_checks.py" in report


@pytest.mark.django_db
def test_rows_created_by_a_refused_request_are_reported() -> None:
    """A request answered 400 that still created a person is reported as a failure."""
    from civicstack.accounts.models import User

    def refuse_but_create() -> HttpResponse:
        User.objects.create_user("created-anyway@example.com", "z" * 16)
        return HttpResponse("Bad request", status=400)

    crawler = HostileCrawler(Identity("scripted", _ScriptedClient(refuse_but_create)))  # type: ignore[arg-type]
    crawler.post("/en/account/create", "form: SQL metacharacters", data={})
    assert [failure.problem for failure in crawler.failures] == [
        "refused but created rows: accounts.User 0->1"
    ]


def test_junk_path_values_are_only_used_where_the_converter_accepts_them() -> None:
    """Junk path values are filled in only where they route, so each request reaches a view."""
    route = Route(
        "backoffice:service-revision",
        "/{language}/back-office/services/{slug}/revisions/{number}",
        {"slug": "[-a-zA-Z0-9_]+", "number": "[0-9]+"},
        {"slug": "slug", "number": "int"},
    )
    urls = [
        target.url
        for target in concrete_urls(
            [route], lambda _route, name: {"slug": ["s"], "number": ["1"]}[name]
        )
    ]
    assert "/en/back-office/services/s/revisions/1" in urls
    assert "/cy/back-office/services/s/revisions/99999999999999999999999999" in urls
    assert all("%" not in url and "'" not in url for url in urls)
    assert len(urls) == 2 * (1 + len(JUNK_PATH_VALUES["slug"]) + len(JUNK_PATH_VALUES["int"]) + 1)
