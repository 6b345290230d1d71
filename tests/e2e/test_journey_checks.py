"""The checks every journey relies on can fail: axe-core finds violations (with and without
JavaScript), and the browser log catches CSP-blocked scripts and failed requests.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, Route

from tests.e2e.pages import BrowserLog, assert_accessible, axe_violations, format_violations

BROKEN_PAGE = """<!DOCTYPE html>
<html><head><title>Broken</title></head>
<body><main><img src="/static/civicstack/logo.svg"><input type="text" id="unlabelled">
<script>document.title = 'inline script ran';</script>
<img src="/static/does-not-exist.png" alt="missing">
</main></body></html>"""


def _serve_broken_page(page: Page) -> None:
    def fulfil(route: Route) -> None:
        route.fulfill(
            status=200,
            content_type="text/html; charset=utf-8",
            # The application's policy for scripts: inline scripts need a nonce.
            headers={"Content-Security-Policy": "script-src 'self'"},
            body=BROKEN_PAGE,
        )

    page.route("**/broken-page", fulfil)


@pytest.mark.browser
@pytest.mark.parametrize("javascript_enabled", [True, False], ids=["js", "no-js"])
def test_axe_reports_missing_alt_text_and_labels(
    open_page: Callable[..., tuple[Page, BrowserLog]], javascript_enabled: bool
) -> None:
    """axe-core reports an image without alt text and an unlabelled field, and the failure
    message names each rule and the offending element.
    """
    page, log = open_page(javascript_enabled=javascript_enabled)
    _serve_broken_page(page)
    if log.axe_checker is not None:
        _serve_broken_page(log.axe_checker)
    page.goto("/broken-page")
    with pytest.raises(AssertionError) as failure:
        assert_accessible(page, log)
    message = str(failure.value)
    assert "image-alt (critical)" in message
    assert "label (critical)" in message
    assert "#unlabelled" in message


@pytest.mark.browser
def test_browser_log_catches_blocked_scripts_and_failed_requests(
    open_page: Callable[..., tuple[Page, BrowserLog]],
) -> None:
    """An inline script blocked by the CSP is a console error; a missing image is a 404."""
    page, log = open_page()
    _serve_broken_page(page)
    page.goto("/broken-page", wait_until="load")
    # axe still runs under the page's CSP: it is evaluated through DevTools.
    assert {v["id"] for v in axe_violations(page)} >= {"image-alt", "label"}
    assert page.title() == "Broken", "the CSP stopped the inline script"
    problems = "\n".join(log.problems())
    assert "Content Security Policy" in problems
    assert "does-not-exist.png: 404" in problems


def test_violation_report_lists_id_impact_help_and_nodes() -> None:
    """The failure message lists each violation's id, impact, help and target nodes."""
    report = format_violations(
        "http://testserver/en/",
        [
            {
                "id": "color-contrast",
                "impact": "serious",
                "help": "Elements must meet minimum color contrast ratio thresholds",
                "helpUrl": "https://dequeuniversity.com/rules/axe/4.10/color-contrast",
                "nodes": [{"target": [".govuk-link"], "html": "<a>x</a>", "summary": "Fix it"}],
            }
        ],
    )
    assert "1 axe-core violation(s) on http://testserver/en/" in report
    assert "color-contrast (serious): Elements must meet minimum color contrast" in report
    assert 'target [".govuk-link"]: <a>x</a>' in report
