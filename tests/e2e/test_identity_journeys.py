"""Identity checks in headless Chromium: the citizen's document check stand-in, its errors
and removal, and a member of staff recording a check at a counter. axe-core runs on every
page visited, with and without JavaScript for the citizen's pages.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pyotp
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.pages import BrowserLog, arrive, assert_clean, visit

pytestmark = [pytest.mark.browser]

EXPIRES = dt.datetime.now(tz=dt.UTC).date() + dt.timedelta(days=800)


def _sign_in(page: Page, log: BrowserLog, *, email: str, code: bool) -> None:
    from civicstack.accounts.services import DEMO_PASSWORD, DEMO_TOTP_SECRET

    visit(page, log, "/en/account/sign-in")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(DEMO_PASSWORD)
    page.get_by_role("main").get_by_role("button", name="Continue").click()
    if code:
        arrive(page, log, path="/en/account/sign-in/code")
        page.get_by_label("Enter the code from your authenticator app").fill(
            pyotp.TOTP(DEMO_TOTP_SECRET).now()
        )
        page.get_by_role("main").get_by_role("button", name="Continue").click()
    arrive(page, log)


def _fill_date(page: Page, legend: str, value: dt.date) -> None:
    group = page.get_by_role("group", name=legend)
    group.get_by_label("Day").fill(str(value.day))
    group.get_by_label("Month").fill(str(value.month))
    group.get_by_label("Year").fill(str(value.year))


@pytest.mark.parametrize("javascript_enabled", [True, False], ids=["js", "no-js"])
def test_a_citizen_checks_a_document_sees_it_and_removes_it(
    open_page: Callable[..., tuple[Page, BrowserLog]],
    demo_data: None,
    javascript_enabled: bool,
) -> None:
    from civicstack.identity.tests.helpers import td3

    page, log = open_page(javascript_enabled=javascript_enabled)
    _sign_in(page, log, email="citizen@example.org", code=False)
    visit(page, log, "/en/account/")
    page.get_by_role("link", name="Find out how to get your identity checked").click()
    arrive(page, log, path="/en/identity/verification")
    page.get_by_role("link", name="Check a document now").click()
    arrive(page, log, path="/en/identity/verification/document-check")

    # Everything missing, then a typo in the MRZ: each error is listed and linked.
    page.get_by_role("button", name="Check the document").click()
    arrive(page, log, path="/en/identity/verification/document-check")
    expect(page.locator(".govuk-error-summary")).to_contain_text("Select the type of document")
    line_1, line_2 = td3(expires=EXPIRES)
    page.get_by_label("Passport").check()
    page.get_by_label("Issuing country").fill("UTO")
    page.get_by_label("Document number").fill("L898902C3")
    _fill_date(page, "Date of birth", dt.date(1974, 8, 12))
    _fill_date(page, "Expiry date", EXPIRES)
    page.get_by_label("Machine-readable zone, line 1").fill(line_1)
    page.get_by_label("Machine-readable zone, line 2").fill(line_2[:-1] + "X")
    page.get_by_role("button", name="Check the document").click()
    arrive(page, log, path="/en/identity/verification/document-check")
    expect(page.locator(".govuk-error-summary")).to_contain_text("composite check digit")
    page.get_by_label("Machine-readable zone, line 2").fill(line_2)
    page.get_by_role("button", name="Check the document").click()
    arrive(page, log, path="/en/identity/verification")
    expect(page.get_by_text("Your identity has been checked.")).to_be_visible()
    expect(page.locator(".govuk-table")).to_contain_text("An automated check")

    visit(page, log, "/en/account/")
    expect(page.get_by_text("Your identity was checked on")).to_be_visible()
    visit(page, log, "/en/identity/verification")
    page.get_by_role("link", name="Remove").click()
    arrive(page, log)
    page.get_by_role("button", name="Remove the check").click()
    arrive(page, log, path="/en/identity/verification")
    expect(page.locator(".govuk-table")).to_contain_text("Removed")
    visit(page, log, "/cy/identity/verification")
    visit(page, log, "/en/identity/step-up?level=high&next=/en/account/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Prove who you are to continue")
    assert_clean(log)


def test_staff_record_an_identity_check_at_the_counter(
    open_page: Callable[..., tuple[Page, BrowserLog]], demo_data: None
) -> None:
    from civicstack.identity.models import IdentityVerification

    page, log = open_page()
    _sign_in(page, log, email="caseworker@example.org", code=True)
    visit(page, log, "/en/back-office/")
    page.get_by_role("link", name="Check someone's identity").click()
    arrive(page, log, path="/en/back-office/identity-checks")
    page.get_by_label("The email address the person signs in with").fill("caseworker@example.org")
    page.get_by_role("button", name="Find the person").click()
    arrive(page, log)
    expect(page.locator(".govuk-error-summary")).to_contain_text("cannot check your own identity")
    page.get_by_label("The email address the person signs in with").fill("citizen@example.org")
    page.get_by_role("button", name="Find the person").click()
    arrive(page, log)
    page.get_by_label("National identity card").check()
    page.get_by_label("Issuing country").fill("UTO")
    page.get_by_label("Document number").fill("ID 4455 6677")
    _fill_date(page, "Expiry date", EXPIRES)
    page.get_by_role("button", name="Continue").click()
    arrive(page, log)
    expect(page.locator(".govuk-error-summary")).to_contain_text(
        "Confirm you have seen the original document"
    )
    page.get_by_label("I have seen the original document").check()
    page.get_by_role("button", name="Continue").click()
    arrive(page, log)
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Check the details before you record them"
    )
    assert not IdentityVerification.objects.exists()
    page.get_by_role("button", name="Record the identity check").click()
    arrive(page, log, path="/en/back-office/identity-checks")
    expect(page.get_by_text("You have recorded that you checked")).to_be_visible()
    record = IdentityVerification.objects.get()
    assert record.user.email == "citizen@example.org"
    assert record.verified_by is not None and record.verified_by.email == "caseworker@example.org"
    assert_clean(log)
