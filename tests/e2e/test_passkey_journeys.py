"""Passkey journeys in headless Chromium with a virtual authenticator (DevTools WebAuthn
domain): add a passkey, sign out, sign in with the passkey alone; and a passkey as the
second factor after the password. axe-core runs on every page visited.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import CDPSession, Page, expect

from tests.e2e.pages import BrowserLog, arrive, assert_clean, visit

pytestmark = pytest.mark.browser

DEMO_CITIZEN = "citizen@example.org"
DEMO_PASSWORD = "civicstack-demo-password"


def _virtual_authenticator(page: Page) -> tuple[CDPSession, str]:
    """Attach a platform authenticator with resident keys and user verification (a phone's
    or laptop's built-in passkey provider) to the page; return the session and its id."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    added = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return cdp, str(added["authenticatorId"])


def _sign_in_with_password(page: Page, log: BrowserLog) -> None:
    visit(page, log, "/en/account/sign-in")
    page.get_by_label("Email address").fill(DEMO_CITIZEN)
    page.get_by_label("Password", exact=True).fill(DEMO_PASSWORD)
    page.get_by_role("main").get_by_role("button", name="Continue").click()


def _sign_out(page: Page, log: BrowserLog) -> None:
    page.get_by_role("navigation", name="Menu").get_by_role("button", name="Sign out").click()
    arrive(page, log, path="/en/")
    expect(page.get_by_text("You have signed out.")).to_be_visible()


def _add_passkey(page: Page, log: BrowserLog, name: str) -> None:
    page.get_by_role("link", name="Manage your passkeys").click()
    arrive(page, log, path="/en/account/passkeys")
    expect(page.get_by_text("You have not added a passkey.")).to_be_visible()
    page.get_by_role("button", name="Add a passkey").click()
    arrive(page, log, path="/en/account/passkeys/add")
    # With JavaScript and WebAuthn the "you need JavaScript" note gives way to the button.
    expect(page.get_by_text("you need JavaScript switched on")).to_be_hidden()
    page.get_by_label("Name for this passkey").fill(name)
    page.get_by_role("main").get_by_role("button", name="Add a passkey").click()
    page.wait_for_url("**/en/account/passkeys")
    arrive(page, log, path="/en/account/passkeys")
    expect(page.get_by_text("Your passkey has been added.")).to_be_visible()
    expect(page.get_by_role("cell", name=name, exact=True)).to_be_visible()


def test_add_a_passkey_then_sign_in_with_it_alone(
    open_page: Callable[..., tuple[Page, BrowserLog]], demo_data: None, site_url: str
) -> None:
    """A citizen adds a passkey from their account, signs out, and signs in again with the
    passkey only: no email address, no password."""
    from civicstack.accounts.models import Passkey

    page, log = open_page()
    cdp, authenticator_id = _virtual_authenticator(page)

    _sign_in_with_password(page, log)
    arrive(page, log, path="/en/account/")
    _add_passkey(page, log, "Work laptop")
    passkey = Passkey.objects.get(user__email=DEMO_CITIZEN)
    assert passkey.name == "Work laptop"
    credentials: Any = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})
    assert len(credentials["credentials"]) == 1
    assert credentials["credentials"][0]["isResidentCredential"] is True

    _sign_out(page, log)
    visit(page, log, "/en/account/sign-in")
    page.get_by_role("button", name="Sign in with a passkey").click()
    page.wait_for_url("**/en/account/")
    arrive(page, log, path="/en/account/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your account")
    expect(page.get_by_text("You have 1 passkey.")).to_be_visible()
    passkey.refresh_from_db()
    assert passkey.last_used_at is not None
    assert passkey.sign_count >= 1
    assert_clean(log)


def test_a_passkey_as_the_second_factor_after_the_password(
    open_page: Callable[..., tuple[Page, BrowserLog]], demo_data: None, site_url: str
) -> None:
    """Once a citizen has a passkey, the password leads to the passkey step, which finishes
    the sign-in; the passkey step-up page then confirms it is them and returns to ``next``."""
    page, log = open_page()
    _virtual_authenticator(page)
    _sign_in_with_password(page, log)
    arrive(page, log, path="/en/account/")
    _add_passkey(page, log, "Phone")
    _sign_out(page, log)

    _sign_in_with_password(page, log)
    arrive(page, log, path="/en/account/sign-in/code/passkey")
    expect(page.get_by_role("heading", level=1)).to_have_text("Use your passkey")
    page.get_by_role("main").get_by_role("button", name="Use a passkey").click()
    page.wait_for_url("**/en/account/")
    arrive(page, log, path="/en/account/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your account")

    # Later, a page that needs a fresh check sends the person to the passkey step-up, which
    # returns them where they were.
    visit(page, log, "/en/account/confirm-it-is-you/passkey?next=/en/account/sessions")
    page.get_by_role("main").get_by_role("button", name="Use a passkey").click()
    page.wait_for_url(lambda url: urlsplit(url).path == "/en/account/sessions")
    arrive(page, log, path="/en/account/sessions")
    assert_clean(log)


def test_without_javascript_the_passkey_pages_say_what_is_needed(
    open_page: Callable[..., tuple[Page, BrowserLog]], demo_data: None, site_url: str
) -> None:
    """With JavaScript off the sign-in page still signs in with a password, and says that
    passkeys need JavaScript."""
    page, log = open_page(javascript_enabled=False)
    _sign_in_with_password(page, log)
    arrive(page, log, path="/en/account/")
    visit(page, log, "/en/account/sign-in")
    visit(page, log, "/en/account/passkeys/add")
    expect(page.get_by_text("you need JavaScript switched on")).to_be_visible()
    expect(page.get_by_role("main").get_by_role("button", name="Add a passkey")).to_be_hidden()
    assert_clean(log)
