"""Notifications in headless Chromium: a citizen's settings, a service owner's templates.

The citizen chooses texts, a mobile number and quiet hours (with JavaScript and without),
sees a clear error for a bad number, and then the settings saved. A service owner writes a
template, previews it with sample values (text message fragments shown), saves it as a new
version, and reads the message log. axe-core runs on every page.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pyotp
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.pages import BrowserLog, arrive, assert_clean, visit

pytestmark = pytest.mark.browser

SERVICE = "apply-blue-badge"


def _sign_in(page: Page, log: BrowserLog, *, email: str, code: bool) -> None:
    from civicstack.accounts.services import DEMO_PASSWORD, DEMO_TOTP_SECRET

    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(DEMO_PASSWORD)
    page.get_by_role("main").get_by_role("button", name="Continue").click()
    if code:
        arrive(page, log, path="/en/account/sign-in/code")
        page.get_by_label("Enter the code from your authenticator app").fill(
            pyotp.TOTP(DEMO_TOTP_SECRET).now()
        )
        page.get_by_role("main").get_by_role("button", name="Continue").click()


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_a_citizen_chooses_how_to_be_contacted(
    open_page: Callable[..., tuple[Page, BrowserLog]], demo_data: None, javascript: bool
) -> None:
    from civicstack.accounts.models import User
    from civicstack.notify.models import Preference

    page, log = open_page(javascript_enabled=javascript)
    visit(page, log, "/en/account/notifications/", status=200)
    arrive(page, log, path="/en/account/sign-in")
    _sign_in(page, log, email="citizen@example.org", code=False)
    arrive(page, log, path="/en/account/notifications/")
    page.get_by_label("Text messages").check()
    page.get_by_label("Mobile number").fill("not a number")
    page.get_by_role("button", name="Save settings").click()
    arrive(page, log, path="/en/account/notifications/")
    expect(page.locator(".govuk-error-summary")).to_be_visible()
    assert not Preference.objects.filter(user__email="citizen@example.org").exists()
    page.get_by_label("Mobile number").fill("07700 900 982")
    page.get_by_label("From").fill("21:00")
    page.get_by_label("To").fill("07:30")
    page.get_by_role("button", name="Save settings").click()
    arrive(page, log)
    preference = Preference.objects.get(user=User.objects.get(email="citizen@example.org"))
    assert preference.sms and preference.phone == "+447700900982"
    assert preference.quiet_start is not None and preference.quiet_start.hour == 21
    visit(page, log, "/en/account/notifications/")
    expect(page.get_by_label("Mobile number")).to_have_value(re.compile(r"7700 ?900 ?982"))
    assert_clean(log)


def test_a_service_owner_writes_previews_and_versions_a_template(
    open_page: Callable[..., tuple[Page, BrowserLog]], demo_data: None
) -> None:
    from civicstack.catalogue.selectors import service_get
    from civicstack.notify.models import Template
    from civicstack.notify.services import sender_for_service

    service = service_get(slug=SERVICE)
    assert service is not None
    sender = sender_for_service(service=service)
    page, log = open_page()
    visit(page, log, "/en/back-office/notifications", status=200)
    arrive(page, log, path="/en/account/sign-in")
    _sign_in(page, log, email="service-owner@example.org", code=True)
    arrive(page, log, path="/en/back-office/notifications")
    page.get_by_role("link", name=sender.name).first.click()
    arrive(page, log, path=f"/en/back-office/notifications/{sender.pk}")
    visit(page, log, f"/en/back-office/notifications/{sender.pk}/templates/new")
    page.get_by_label("Text message", exact=True).check()
    page.get_by_label("Template name").fill("Badge ready")
    page.get_by_label("Message (English)").fill("Hi ((name)), your badge ((reference)) is ready.")
    page.get_by_role("button", name="Preview").click()
    arrive(page, log)
    expect(page.get_by_text(re.compile(r"1 text message|fragment", re.I)).first).to_be_visible()
    page.get_by_role("button", name="Save template").click()
    arrive(page, log)
    template = Template.objects.get(sender=sender, name="Badge ready")
    assert template.version == 1
    visit(page, log, f"/en/back-office/notifications/{sender.pk}/templates/{template.pk}/edit")
    page.get_by_label("Message (English)").fill("Hello ((name)), badge ((reference)) is ready.")
    page.get_by_role("button", name="Save as a new version").click()
    arrive(page, log)
    template.refresh_from_db()
    assert template.version == 2
    visit(page, log, f"/en/back-office/notifications/{sender.pk}/log")
    visit(page, log, f"/en/back-office/notifications/{sender.pk}/api-keys")
    assert_clean(log)
