"""Fixtures for the browser journeys: one headless Chromium, a live server, the demo data."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Playwright's sync API drives the browser from an asyncio event loop running in this thread
# (in a greenlet). Django sees that running loop and, to protect against blocking database
# calls inside async code, raises SynchronousOnlyOperation for every ORM call the test makes
# (loading demo data, reading users). Nothing here is actually async: the test's ORM calls
# and the live server's requests run in ordinary threads, so the check is switched off for
# this test process. It must be set before the first database access, hence at import time.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.e2e.pages import CHROMIUM_ARGS, CHROMIUM_PATH, BrowserLog


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Start Debian's headless Chromium once for the whole session."""
    if not Path(CHROMIUM_PATH).exists():
        pytest.skip(f"{CHROMIUM_PATH} is missing: run `make browsers`")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM_PATH, args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


@pytest.fixture
def demo_data(live_server: Any) -> None:
    """Load the demo catalogue, and the demo people once accounts provides them.

    ``live_server`` makes the test transactional, so the data is committed and visible to
    the server thread; it is flushed again after each test.
    """
    from civicstack.catalogue.loaders import catalogue_demo_load

    _restore_rows_made_by_migrations()
    catalogue_demo_load()
    try:
        from civicstack.accounts.services import accounts_demo_load
    except ImportError:  # accounts' demo people are still being built
        return
    accounts_demo_load()


def _restore_rows_made_by_migrations() -> None:
    """Re-create the singleton rows data migrations make, which a transactional test lost.

    A transactional test (every ``live_server`` test) ends by flushing all tables, which
    also deletes rows created by data migrations: the audit log head and the catalogue
    state. Running the migrations' own functions again keeps this in step with them.
    """
    from django.apps import apps

    audit_head = importlib.import_module("civicstack.core.migrations.0002_audit_log_head")
    catalogue_state = importlib.import_module(
        "civicstack.catalogue.migrations.0002_catalogue_state"
    )
    audit_head.create_head(apps, None)
    catalogue_state.create_state(apps, None)


@pytest.fixture
def site_url(live_server: Any, settings: Any) -> str:
    """Return the live server's address, also set as SITE_URL so emailed links point at it."""
    settings.SITE_URL = live_server.url
    return str(live_server.url)


@pytest.fixture
def open_page(
    browser: Browser, live_server: Any
) -> Iterator[Callable[..., tuple[Page, BrowserLog]]]:
    """Return a factory of fresh pages (own context, cookies) that record browser problems.

    ``open_page(javascript_enabled=False)`` gives a browser with JavaScript switched off, to
    prove the pages and forms work without it.
    """
    contexts: list[BrowserContext] = []

    def factory(*, javascript_enabled: bool = True) -> tuple[Page, BrowserLog]:
        def new_context(*, javascript: bool) -> BrowserContext:
            context = browser.new_context(
                base_url=live_server.url,
                java_script_enabled=javascript,
                locale="en-GB",
                viewport={"width": 1024, "height": 768},
            )
            context.set_default_timeout(10_000)
            contexts.append(context)
            return context

        page = new_context(javascript=javascript_enabled).new_page()
        log = BrowserLog()
        if not javascript_enabled:
            log.axe_checker = new_context(javascript=True).new_page()
        log.watch(page)
        return page, log

    yield factory
    for context in contexts:
        context.close()


@pytest.fixture
def page_and_log(
    open_page: Callable[..., tuple[Page, BrowserLog]], demo_data: None
) -> tuple[Page, BrowserLog]:
    """Return a JavaScript-enabled page on the live server with the demo data loaded."""
    return open_page()
