"""Account journeys in headless Chromium: sign up, confirm the email, set up an authenticator
app, save recovery codes, sign out and sign in again with password and code; and staff into
the back office. axe-core runs on every page visited.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import pyotp
import pytest
from django.core import mail
from playwright.sync_api import Page, expect

from tests.e2e.pages import BrowserLog, arrive, assert_clean, visit

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple 42"
FULL_NAME = "Rhiannon Evans"
SECRET_PATTERN = re.compile(r"\b([A-Z2-7]{4}(?: [A-Z2-7]{4})+)\b")
RECOVERY_CODE_PATTERN = re.compile(r"\b[a-z2-9]{5}-[a-z2-9]{5}\b")
CONFIRM_LINK_PATTERN = re.compile(r"https?://\S+/confirm-email/\S+")


def _confirmation_path(email: str) -> str:
    """Return the path of the confirmation link in the last email sent to ``email``."""
    messages = [message for message in mail.outbox if email in message.to]
    assert messages, f"no email was sent to {email}: {[m.to for m in mail.outbox]}"
    links = CONFIRM_LINK_PATTERN.findall(messages[-1].body)
    assert links, messages[-1].body
    parts = urlsplit(links[0])
    return parts.path


def _sign_in_with_password(page: Page, log: BrowserLog, *, email: str, password: str) -> None:
    page.get_by_role("navigation", name="Menu").get_by_role("link", name="Sign in").click()
    arrive(page, log, path="/en/account/sign-in")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("main").get_by_role("button", name="Continue").click()


def _sign_out(page: Page, log: BrowserLog) -> None:
    page.get_by_role("navigation", name="Menu").get_by_role("button", name="Sign out").click()
    arrive(page, log, path="/en/")
    expect(page.get_by_text("You have signed out.")).to_be_visible()
    expect(page.get_by_role("navigation", name="Menu").get_by_role("link", name="Sign in"))


@pytest.mark.parametrize("javascript_enabled", [True, False], ids=["js", "no-js"])
def test_sign_up_confirm_set_up_authenticator_then_sign_in_with_code(
    open_page: Callable[..., tuple[Page, BrowserLog]],
    demo_data: None,
    site_url: str,
    javascript_enabled: bool,
) -> None:
    """A new citizen signs up, confirms the address from the email, sets up an authenticator
    app, keeps the recovery codes, and later signs in with password and a fresh code; the
    same journey works with JavaScript switched off.
    """
    from civicstack.accounts.models import RecoveryCode, TOTPDevice, User

    page, log = open_page(javascript_enabled=javascript_enabled)
    email = f"rhiannon.{'js' if javascript_enabled else 'nojs'}@example.com"
    mail.outbox.clear()

    # Sign up.
    visit(page, log, "/en/")
    page.get_by_role("navigation", name="Menu").get_by_role("link", name="Sign in").click()
    arrive(page, log, path="/en/account/sign-in")
    page.get_by_role("link", name="Create an account").click()
    arrive(page, log, path="/en/account/create")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Full name").fill(FULL_NAME)
    page.get_by_label("Create a password").fill(PASSWORD)
    page.get_by_label("Confirm password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    arrive(page, log, path="/en/account/create/check-your-email")
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    expect(page.get_by_role("main")).to_contain_text(email)
    user = User.objects.get(email=email)
    assert user.email_verified_at is None

    # Open the link from the email; the page asks for a click so link scanners cannot use it.
    visit(page, log, _confirmation_path(email))
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm your email address")
    page.get_by_role("button", name="Confirm email address").click()
    arrive(page, log)
    expect(page.get_by_role("heading", level=1)).to_have_text("Email address confirmed")
    user.refresh_from_db()
    assert user.email_verified_at is not None

    # Sign in with the password alone (no second factor yet).
    _sign_in_with_password(page, log, email=email, password=PASSWORD)
    arrive(page, log, path="/en/account/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your account")

    # Set up the authenticator app by typing the key shown for manual entry.
    page.get_by_role("link", name="Set up an authenticator app").click()
    arrive(page, log, path="/en/account/two-factor/set-up")
    page.get_by_text("I cannot scan the QR code").click()
    key_text = page.locator("details code").inner_text()
    match = SECRET_PATTERN.search(key_text)
    assert match, f"no key for manual entry in {key_text!r}"
    secret = match.group(1).replace(" ", "")
    assert secret == TOTPDevice.objects.get(user=user).secret
    page.get_by_label("Code", exact=True).fill(pyotp.TOTP(secret).now())
    page.get_by_role("main").get_by_role("button", name="Continue").click()

    # Save the recovery codes, shown once.
    arrive(page, log, path="/en/account/two-factor/recovery-codes")
    expect(page.get_by_role("heading", level=1)).to_have_text("Save your recovery codes")
    codes = RECOVERY_CODE_PATTERN.findall(page.get_by_role("main").inner_text())
    assert len(set(codes)) == 10, codes
    assert RecoveryCode.objects.filter(user=user, used_at__isnull=True).count() == 10
    page.get_by_role("link", name="I have saved my recovery codes").click()
    arrive(page, log, path="/en/account/")
    expect(page.get_by_text("You have 10 recovery codes left.")).to_be_visible()
    subjects = [message.subject for message in mail.outbox if email in message.to]
    assert any("authenticator app" in subject for subject in subjects), subjects

    _sign_out(page, log)

    # Sign in again: password, then a code. The code used at set-up may not be replayed, so
    # use the next 30-second step's code, which the server accepts as clock drift.
    _sign_in_with_password(page, log, email=email, password=PASSWORD)
    arrive(page, log, path="/en/account/sign-in/code")
    page.get_by_label("Enter the code from your authenticator app").fill(
        pyotp.TOTP(secret).at(time.time() + 30)
    )
    page.get_by_role("main").get_by_role("button", name="Continue").click()
    arrive(page, log, path="/en/account/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your account")
    summary = page.locator(".govuk-summary-list")
    expect(summary).to_contain_text(FULL_NAME)
    expect(summary).to_contain_text(email)
    expect(summary).not_to_contain_text("Not confirmed")
    expect(page.get_by_text("You use an authenticator app when you sign in.")).to_be_visible()

    # A recovery code works once instead of the app.
    _sign_out(page, log)
    _sign_in_with_password(page, log, email=email, password=PASSWORD)
    arrive(page, log, path="/en/account/sign-in/code")
    page.get_by_label("Enter the code from your authenticator app").fill(codes[0])
    page.get_by_role("main").get_by_role("button", name="Continue").click()
    arrive(page, log, path="/en/account/")
    expect(page.get_by_text("You have 9 recovery codes left.")).to_be_visible()
    assert_clean(log)


def test_wrong_code_shows_an_error_and_keeps_the_person_signed_out(
    open_page: Callable[..., tuple[Page, BrowserLog]], demo_data: None
) -> None:
    """A wrong authenticator code is refused with a GOV.UK error summary and no session."""
    from civicstack.accounts.services import DEMO_PASSWORD

    page, log = open_page()
    visit(page, log, "/en/")
    _sign_in_with_password(page, log, email="service-owner@example.org", password=DEMO_PASSWORD)
    arrive(page, log, path="/en/account/sign-in/code")
    page.get_by_label("Enter the code from your authenticator app").fill("000000")
    page.get_by_role("main").get_by_role("button", name="Continue").click()
    arrive(page, log, path="/en/account/sign-in/code")
    summary = page.locator(".govuk-error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_contain_text("The code is not correct")
    # Nobody is signed in: the account page sends the person to sign in.
    visit(page, log, "/en/account/")
    assert page.url.split("?")[0].endswith("/en/account/sign-in"), page.url
    assert_clean(log)


def test_staff_sign_in_with_code_reaches_the_back_office(
    open_page: Callable[..., tuple[Page, BrowserLog]], demo_data: None
) -> None:
    """A demo service owner signs in with password and code, and works in the back office."""
    from civicstack.accounts.services import DEMO_PASSWORD, DEMO_TOTP_SECRET

    page, log = open_page()
    visit(page, log, "/en/back-office/")
    assert "/en/account/sign-in" in page.url, "anonymous people are sent to sign in"
    page.get_by_label("Email address").fill("service-owner@example.org")
    page.get_by_label("Password", exact=True).fill(DEMO_PASSWORD)
    page.get_by_role("main").get_by_role("button", name="Continue").click()
    arrive(page, log, path="/en/account/sign-in/code")
    page.get_by_label("Enter the code from your authenticator app").fill(
        pyotp.TOTP(DEMO_TOTP_SECRET).now()
    )
    page.get_by_role("main").get_by_role("button", name="Continue").click()
    arrive(page, log, path="/en/back-office/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Back office")

    visit(page, log, "/en/back-office/services")
    services = page.get_by_role("main").locator("a[href*='/back-office/services/']")
    assert services.count() > 0, "the service owner sees their agency's services"
    services.first.click()
    arrive(page, log, path=re.compile(r"/en/back-office/services/[a-z0-9-]+$"))
    slug = page.url.rstrip("/").rsplit("/", 1)[-1]
    visit(page, log, f"/en/back-office/services/{slug}/edit")
    expect(page.get_by_label("Title (English)")).not_to_have_value("")

    # Editing a guide: add a step (no JavaScript needed), save the draft, preview it.
    visit(page, log, "/en/back-office/guides")
    visit(page, log, "/en/back-office/guides/moving-home")
    visit(page, log, "/en/back-office/guides/moving-home/edit")
    page.get_by_role("button", name="Add a step").click()
    arrive(page, log, path="/en/back-office/guides/moving-home/edit")
    steps = page.get_by_role("group", name=re.compile(r"^Step \d+$"))
    last = steps.last
    last.get_by_label("Title (English)").fill("Tell your bank")
    last.get_by_label("Title (Welsh)").fill("Dweud wrth eich banc")
    page.get_by_role("button", name="Save draft").click()
    arrive(page, log, path="/en/back-office/guides/moving-home")
    visit(page, log, "/en/back-office/guides/moving-home/preview")
    expect(page.get_by_role("heading", name="Tell your bank")).to_be_visible()
    assert_clean(log)
