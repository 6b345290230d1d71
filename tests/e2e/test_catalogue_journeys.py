"""Citizen journeys through the catalogue in headless Chromium, with axe-core on every page."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.pages import BrowserLog, arrive, assert_clean, html_lang, visit

pytestmark = pytest.mark.browser

SERVICE_SLUG = "renew-driving-licence"
SERVICE_TITLE_EN = "Renew your driving licence"
SERVICE_TITLE_CY = "Adnewyddu eich trwydded yrru"
GUIDE_SLUG = "learning-to-drive"
GUIDE_TITLE_EN = "Learn to drive a car: step by step"


def test_browse_from_home_to_topic_to_service(page_and_log: tuple[Page, BrowserLog]) -> None:
    """A person reaches a service page from the home page through its topic."""
    page, log = page_and_log
    visit(page, log, "/")
    assert page.url.endswith("/en/"), "the bare address redirects to the English home page"
    expect(page.get_by_role("heading", level=1)).to_have_text("Find and use public services")

    page.get_by_role("link", name="Driving and transport").click()
    arrive(page, log, path="/en/topics/driving-and-transport")
    expect(page.get_by_role("heading", level=1)).to_have_text("Driving and transport")

    page.get_by_role("link", name=SERVICE_TITLE_EN).click()
    arrive(page, log, path=f"/en/services/{SERVICE_SLUG}")
    expect(page.get_by_role("heading", level=1)).to_have_text(SERVICE_TITLE_EN)
    # The breadcrumb leads back to the topic the person came through.
    breadcrumbs = page.get_by_role("navigation", name="Breadcrumb")
    expect(breadcrumbs.get_by_role("link", name="Driving and transport")).to_be_visible()
    assert_clean(log)


def test_search_with_a_typo_shows_the_correction(page_and_log: tuple[Page, BrowserLog]) -> None:
    """A misspelt search shows "Showing results for" the corrected word, and finds services."""
    page, log = page_and_log
    visit(page, log, "/en/")
    page.get_by_label("Search services and guides").fill("drivng licence")
    page.get_by_role("main").get_by_role("button", name="Search").click()
    arrive(page, log, path="/en/search")

    correction = page.get_by_text("Showing results for")
    expect(correction).to_be_visible()
    expect(correction).to_contain_text("driving")
    expect(correction).to_contain_text("drivng")
    # The search box keeps what the person typed, not the correction.
    expect(page.get_by_label("Search services and guides")).to_have_value("drivng licence")
    status = page.get_by_role("status")
    expect(status).to_have_text(re.compile(r"^[1-9]\d* results?$"))

    results = page.locator(".civicstack-card-list").get_by_role("link")
    expect(results.first).to_be_visible()
    titles = results.all_inner_texts()
    assert SERVICE_TITLE_EN in titles, titles
    results.filter(has_text=SERVICE_TITLE_EN).click()
    arrive(page, log, path=f"/en/services/{SERVICE_SLUG}")
    assert_clean(log)


def test_service_page_explains_the_service(page_and_log: tuple[Page, BrowserLog]) -> None:
    """A service page shows who can apply, what you need, the cost and how to apply."""
    page, log = page_and_log
    visit(page, log, f"/en/services/{SERVICE_SLUG}")
    expect(page).to_have_title(re.compile(rf"^{SERVICE_TITLE_EN} - "))
    expect(page.get_by_role("heading", level=1)).to_have_text(SERVICE_TITLE_EN)
    for heading in ("Who can apply", "What you need", "Cost and how long it takes", "How to apply"):
        expect(page.get_by_role("heading", level=2, name=heading)).to_be_visible()
    expect(page.get_by_text("your driving licence number")).to_be_visible()
    expect(page.get_by_text("£14 online or £17 by post.", exact=False)).to_be_visible()
    expect(page.get_by_text("Usually 5 working days")).to_be_visible()
    expect(page.get_by_text(re.compile(r"Reference: SVC-\d+"))).to_be_visible()

    page.get_by_role("complementary").get_by_role("link", name="Driving and transport").click()
    arrive(page, log, path="/en/topics/driving-and-transport")
    assert_clean(log)


def test_step_by_step_guide_lists_numbered_steps_and_services(
    page_and_log: tuple[Page, BrowserLog],
) -> None:
    """A guide shows its steps in order, with links to the services each step needs."""
    page, log = page_and_log
    visit(page, log, "/en/step-by-step")
    page.get_by_role("main").get_by_role("link", name=GUIDE_TITLE_EN).click()
    arrive(page, log, path=f"/en/step-by-step/{GUIDE_SLUG}")
    expect(page.get_by_role("heading", level=1)).to_have_text(GUIDE_TITLE_EN)

    steps = page.locator("ol.civicstack-step-nav > li")
    assert steps.count() >= 3
    expect(steps.first.locator(".civicstack-step-nav__marker")).to_have_text("1")
    # Screen readers hear the step number with the heading.
    expect(
        page.get_by_role("heading", name="Step 1: Check you are allowed to drive")
    ).to_be_visible()
    # "and" steps share the number of the step before.
    expect(page.get_by_role("heading", name="and Practise with family or friends")).to_be_visible()

    page.get_by_role("link", name="Apply for your first provisional driving licence").click()
    arrive(page, log, path="/en/services/apply-provisional-driving-licence")
    # The service page links back to the guide it is part of.
    part_of = page.get_by_role("complementary", name="Part of")
    expect(part_of.get_by_role("link", name=GUIDE_TITLE_EN)).to_be_visible()
    assert_clean(log)


def test_switch_to_welsh_and_back(page_and_log: tuple[Page, BrowserLog]) -> None:
    """The language link shows the same page in Welsh under /cy/, and English again."""
    page, log = page_and_log
    visit(page, log, f"/en/services/{SERVICE_SLUG}")
    assert html_lang(page) == "en"

    page.get_by_role("navigation", name="Language").get_by_role("link", name="Cymraeg").click()
    arrive(page, log, path=f"/cy/services/{SERVICE_SLUG}")
    assert html_lang(page) == "cy"
    expect(page.get_by_role("heading", level=1)).to_have_text(SERVICE_TITLE_CY)
    expect(page.get_by_text("rhif eich trwydded yrru")).to_be_visible()
    # The current language is marked, the other one is a link.
    language_nav = page.get_by_role("navigation", name=re.compile("Language|Iaith"))
    expect(language_nav.locator("[aria-current=true]")).to_have_text("Cymraeg")

    # Links within the Welsh pages stay in Welsh.
    page.get_by_role("complementary").get_by_role("link", name="Gyrru a thrafnidiaeth").click()
    arrive(page, log, path="/cy/topics/driving-and-transport")
    assert html_lang(page) == "cy"

    language_nav = page.get_by_role("navigation", name=re.compile("Language|Iaith"))
    language_nav.get_by_role("link", name="English").click()
    arrive(page, log, path="/en/topics/driving-and-transport")
    assert html_lang(page) == "en"
    expect(page.get_by_role("heading", level=1)).to_have_text("Driving and transport")
    assert_clean(log)


def test_search_and_browse_work_without_javascript(
    open_page: Callable[..., tuple[Page, BrowserLog]], demo_data: None
) -> None:
    """With JavaScript off, the search form, result links and language switch all work."""
    page, log = open_page(javascript_enabled=False)
    visit(page, log, "/en/")
    # govuk-frontend's JS marks the body; without JS the page must not depend on it.
    assert "js-enabled" not in (page.get_attribute("body", "class") or "")
    page.get_by_label("Search services and guides").fill("council tax")
    page.get_by_role("main").get_by_role("button", name="Search").click()
    arrive(page, log, path="/en/search")
    assert "q=council+tax" in page.url
    results = page.locator(".civicstack-card-list").get_by_role("link")
    assert results.count() > 0
    results.first.click()
    arrive(page, log, path=re.compile(r"/en/(services|step-by-step)/[a-z0-9-]+$"))

    page.get_by_role("link", name="Cymraeg").click()
    arrive(page, log, path=re.compile(r"/cy/(services|step-by-step)/[a-z0-9-]+$"))
    assert html_lang(page) == "cy"
    assert_clean(log)


def test_welsh_pages_use_welsh_for_the_interface_too(page_and_log: tuple[Page, BrowserLog]) -> None:
    """Under /cy/ the page's own words (skip link, search label, headings) are in Welsh, so
    the whole page matches its lang="cy" (WCAG 3.1.1), not only the catalogue content.
    """
    page, log = page_and_log
    visit(page, log, f"/cy/services/{SERVICE_SLUG}")
    assert html_lang(page) == "cy"
    expect(page.locator("a.govuk-skip-link")).not_to_have_text("Skip to main content")
    expect(page.get_by_role("heading", level=2, name="Who can apply")).to_have_count(0)
    assert_clean(log)
