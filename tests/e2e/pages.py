"""What every journey checks on every page: accessibility (axe-core) and a clean browser log.

Kept apart from the fixtures so the journeys read as steps: ``visit`` (or ``arrive`` after a
click or a form) loads a page, waits for it, and runs axe-core on it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import ConsoleMessage, Page, Request, Response, Route

PROJECT_DIR = Path(__file__).resolve().parents[2]
AXE_SOURCE_PATH = PROJECT_DIR / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]

CHROMIUM_PATH = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@dataclass
class BrowserLog:
    """Everything that went wrong in the browser while a journey ran."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    error_responses: list[str] = field(default_factory=list)
    pages_checked: list[str] = field(default_factory=list)
    # For pages opened with JavaScript off: a JavaScript-enabled page to run axe-core in.
    axe_checker: Page | None = None

    def watch(self, page: Page) -> None:
        """Record console errors, uncaught exceptions, failed requests and 4xx/5xx answers."""
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.page_errors.append(f"{page.url}: {error}"))
        page.on("requestfailed", self._on_request_failed)
        page.on("response", self._on_response)

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(f"{message.location.get('url', '')}: {message.text}")

    def _on_request_failed(self, request: Request) -> None:
        self.failed_requests.append(f"{request.method} {request.url}: {request.failure}")

    def _on_response(self, response: Response) -> None:
        if response.status >= 400:
            request = response.request
            self.error_responses.append(f"{request.method} {response.url}: {response.status}")

    def problems(self) -> list[str]:
        """Return one line per problem; empty when the journey ran cleanly."""
        return [
            *(f"console error: {line}" for line in self.console_errors),
            *(f"uncaught exception: {line}" for line in self.page_errors),
            *(f"failed request: {line}" for line in self.failed_requests),
            *(f"error response: {line}" for line in self.error_responses),
        ]


def _axe_source() -> str:
    return AXE_SOURCE_PATH.read_text(encoding="utf-8")


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Run axe-core (WCAG 2.0-2.2 A and AA rules) on the page and return its violations.

    axe is evaluated through the DevTools protocol rather than ``page.add_script_tag``:
    add_script_tag inlines the file as a ``<script>`` without the page's CSP nonce, and
    Civicstack's CSP (``script-src 'self' 'nonce-...'``) rightly blocks it. The alternative,
    a context with ``bypass_csp=True``, would switch the CSP off for the application's own
    markup too and hide real CSP violations, which the journeys report as console errors.
    Code evaluated by DevTools is not subject to the page's CSP.
    """
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(_axe_source())
    return page.evaluate(
        """async (tags) => {
            const results = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
            return results.violations.map((v) => ({
                id: v.id,
                impact: v.impact,
                help: v.help,
                helpUrl: v.helpUrl,
                nodes: v.nodes.map((n) => (
                    {target: n.target, html: n.html, summary: n.failureSummary}
                )),
            }));
        }""",
        AXE_TAGS,
    )


def format_violations(url: str, violations: list[dict[str, Any]]) -> str:
    """Describe axe violations one by one: id, impact, help and the offending nodes."""
    lines = [f"{len(violations)} axe-core violation(s) on {url}:"]
    for violation in violations:
        lines.append(
            f"- {violation['id']} ({violation['impact']}): {violation['help']}"
            f" [{violation['helpUrl']}]"
        )
        for node in violation["nodes"]:
            lines.append(f"    target {json.dumps(node['target'])}: {node['html'][:300]}")
            if node.get("summary"):
                lines.append("      " + node["summary"].replace("\n", "\n      "))
    return "\n".join(lines)


_SCRIPT_ELEMENT = re.compile(r"<script\b[^>]*>.*?</script\s*>", re.DOTALL | re.IGNORECASE)


def axe_violations_without_javascript(page: Page, checker: Page) -> list[dict[str, Any]]:
    """Run axe-core on a page loaded with JavaScript switched off, as that browser shows it.

    axe.run needs timers and promises, which never run in a page whose script execution is
    disabled, so the check cannot happen in that page. Instead its document, as rendered
    without JavaScript, is served at the same address to ``checker`` (a JavaScript-enabled
    page) with its ``<script>`` elements removed, so none of the page's own scripts can
    change it there; styles load from the live server as usual, and axe-core runs on that.
    """
    html = _SCRIPT_ELEMENT.sub("", page.content())
    url = page.url

    def serve_snapshot(route: Route) -> None:
        route.fulfill(status=200, content_type="text/html; charset=utf-8", body=html)

    checker.route(url, serve_snapshot)
    try:
        checker.goto(url, wait_until="load")
        return axe_violations(checker)
    finally:
        checker.unroute(url, serve_snapshot)


def assert_accessible(page: Page, log: BrowserLog | None = None) -> None:
    """Fail with every violation listed when axe-core finds any on the current page."""
    if log is not None and log.axe_checker is not None:
        violations = axe_violations_without_javascript(page, log.axe_checker)
    else:
        violations = axe_violations(page)
    if log is not None:
        log.pages_checked.append(page.url)
    assert not violations, format_violations(page.url, violations)


def arrive(page: Page, log: BrowserLog, *, path: str | re.Pattern[str] | None = None) -> None:
    """Wait for the page reached by a click or a form to load, then check it with axe."""
    page.wait_for_load_state("load")
    if path is not None:
        if isinstance(path, str):
            assert page.url.split("?")[0].endswith(path), f"expected {path}, at {page.url}"
        else:
            assert path.search(page.url), f"expected {path.pattern}, at {page.url}"
    assert_accessible(page, log)


def visit(page: Page, log: BrowserLog, url: str, *, status: int = 200) -> Response:
    """Open ``url``, check the final answer's status, and check the page with axe."""
    response = page.goto(url, wait_until="load")
    assert response is not None, f"no response for {url}"
    assert response.status == status, f"{url} answered {response.status}, expected {status}"
    assert_accessible(page, log)
    return response


def html_lang(page: Page) -> str:
    """Return the ``lang`` attribute of the ``<html>`` element."""
    return page.evaluate("() => document.documentElement.lang")


def assert_clean(log: BrowserLog) -> None:
    """Fail when the browser logged a console error, an exception or a failed request."""
    problems = log.problems()
    assert not problems, "browser problems:\n" + "\n".join(problems)
    assert log.pages_checked, "no page was checked with axe-core"
