"""Acting for someone else in headless Chromium: a citizen gives a mandate, the representative
signs in, acts for them, sees the banner on every page, and stops. axe-core on every page."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from tests.e2e.pages import BrowserLog, arrive, assert_clean, visit

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple 42"


def _sign_in(page: Page, log: BrowserLog, email: str) -> None:
    visit(page, log, "/en/account/sign-in")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("main").get_by_role("button", name="Continue").click()
    arrive(page, log)
    expect(page.get_by_role("navigation", name="Menu").get_by_role("button", name="Sign out"))


def _sign_out(page: Page, log: BrowserLog) -> None:
    page.get_by_role("navigation", name="Menu").get_by_role("button", name="Sign out").click()
    arrive(page, log, path="/en/")


@pytest.mark.parametrize("javascript_enabled", [True, False], ids=["js", "no-js"])
def test_a_citizen_gives_a_mandate_and_the_representative_acts_for_them(
    open_page: Callable[..., tuple[Page, BrowserLog]],
    demo_data: None,
    site_url: str,
    javascript_enabled: bool,
) -> None:
    """Gwen lets Huw act for her; Huw signs in, chooses to act for her, sees "You are acting
    for Gwen Giver" on every page, and stops; Gwen sees the permission on her account."""
    from civicstack.accounts.tests.factories import UserFactory
    from civicstack.core.models import AuditEvent
    from civicstack.identity.models import Mandate

    UserFactory(full_name="Gwen Giver", email="gwen@example.org", password=PASSWORD)
    UserFactory(full_name="Huw Helper", email="huw@example.org", password=PASSWORD)
    page, log = open_page(javascript_enabled=javascript_enabled)
    until = timezone.localdate() + timedelta(days=90)

    # Gwen gives Huw permission, from her account page.
    _sign_in(page, log, "gwen@example.org")
    page.get_by_role("navigation", name="Menu").get_by_role("link", name="Your account").click()
    arrive(page, log, path="/en/account/")
    page.get_by_role("link", name="People who can act for you").click()
    arrive(page, log, path="/en/identity/representation/given/")
    expect(page.get_by_text("Nobody can act for you.")).to_be_visible()
    page.get_by_role("link", name="Give someone permission to act for you").click()
    arrive(page, log, path="/en/identity/representation/give/")
    page.get_by_label("Their email address").fill("huw@example.org")
    page.get_by_role("button", name="Give permission").click()
    arrive(page, log, path="/en/identity/representation/give/")
    expect(page.get_by_role("alert")).to_contain_text("Enter the date the permission ends")
    page.get_by_label("Day").fill(str(until.day))
    page.get_by_label("Month").fill(str(until.month))
    page.get_by_label("Year").fill(str(until.year))
    page.get_by_role("button", name="Give permission").click()
    arrive(page, log, path="/en/identity/representation/given/")
    expect(page.get_by_text("You gave huw@example.org permission to act for you.")).to_be_visible()
    expect(page.get_by_role("table")).to_contain_text("Huw Helper")
    expect(page.get_by_role("table")).to_contain_text("Active")
    _sign_out(page, log)

    # Huw signs in, chooses to act for Gwen.
    _sign_in(page, log, "huw@example.org")
    page.get_by_role("navigation", name="Menu").get_by_role("link", name="Your account").click()
    arrive(page, log, path="/en/account/")
    page.get_by_role("link", name="People and businesses you can act for").click()
    arrive(page, log, path="/en/identity/representation/act-for/")
    page.get_by_role("button", name="Act for Gwen Giver").click()
    arrive(page, log, path="/en/")
    banner = page.get_by_role("region", name="Acting for someone else")
    expect(banner).to_contain_text("You are acting for Gwen Giver")

    # The banner stays on every page while he acts for her.
    page.get_by_role("navigation", name="Menu").get_by_role("link", name="Services").click()
    arrive(page, log)
    expect(page.get_by_role("region", name="Acting for someone else")).to_contain_text(
        "You are acting for Gwen Giver"
    )
    page.get_by_role("navigation", name="Menu").get_by_role(
        "link", name="Your applications"
    ).click()
    arrive(page, log)
    expect(page.get_by_role("region", name="Acting for someone else")).to_be_visible()

    # He stops.
    page.get_by_role("button", name="Stop acting for them").click()
    arrive(page, log, path="/en/identity/representation/act-for/")
    expect(page.get_by_text("You are acting for yourself again.")).to_be_visible()
    expect(page.get_by_role("region", name="Acting for someone else")).to_have_count(0)

    mandate = Mandate.objects.get()
    assert mandate.representative is not None
    assert mandate.representative.email == "huw@example.org"
    assert timezone.localdate(mandate.expires_at - timedelta(microseconds=1)) == until
    actions = list(
        AuditEvent.objects.filter(action__startswith="identity.").values_list("action", flat=True)
    )
    assert actions == [
        "identity.mandate_given",
        "identity.acting_started",
        "identity.acting_stopped",
    ]
    stopped = AuditEvent.objects.get(action="identity.acting_stopped")
    assert stopped.on_behalf_of is not None
    assert stopped.on_behalf_of["mandate"] == str(mandate.pk)
    assert_clean_except_expected_400(log)


def assert_clean_except_expected_400(log: BrowserLog) -> None:
    """The give page answered 400 once, on purpose (the missing date); nothing else failed."""
    expected = [line for line in log.error_responses if "/representation/give/" in line]
    assert len(expected) == 1 and expected[0].startswith("POST "), log.error_responses
    log.error_responses = [line for line in log.error_responses if line not in expected]
    # Chromium also reports the 400 as a "failed to load resource" console message.
    log.console_errors = [
        line
        for line in log.console_errors
        if not ("/representation/give/" in line and "status of 400" in line)
    ]
    assert_clean(log)
