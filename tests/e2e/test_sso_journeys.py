"""Single sign-on journeys in headless Chromium: a sample agency service (an Authlib client,
tests/sample_rp) signs a citizen in through Civicstack and out again, and asks for a higher
level of assurance. axe-core runs on every Civicstack page visited; the sample service's
own pages are not Civicstack's and are only read.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pyotp
import pytest
from django.urls import NoReverseMatch, reverse
from playwright.sync_api import Browser, Page, expect

from tests.e2e.pages import BrowserLog, arrive, assert_clean
from tests.sample_rp.app import SampleService, serve, wait_until_listening

pytestmark = pytest.mark.browser

DEMO_CITIZEN = "citizen@example.org"
CONSENT_BUTTON = re.compile(r"^(allow|agree|continue|share|yes)", re.IGNORECASE)
SIGN_OUT_BUTTON = re.compile(r"sign out|yes", re.IGNORECASE)


@pytest.fixture
def issuer(live_server: Any, settings: Any, demo_data: None) -> str:
    """Point the provider's issuer at the live server, as the settings contract says."""
    from civicstack.identity.services import signing_keys_ensure

    signing_keys_ensure()  # what `civicstack oidc_keys` does in a deployment
    settings.SITE_URL = live_server.url
    settings.OIDC_ISSUER = live_server.url + "/oidc"
    return str(settings.OIDC_ISSUER)


# Civicstack's CSP says form-action 'self', and Chromium applies form-action to every
# redirect that follows a form submission: these journeys run with the CSP enforced, as a
# citizen's browser runs them (they first found the consent form's redirect to the client
# blocked, since fixed with a continue page).


@pytest.fixture
def journey_page(browser: Browser, live_server: Any) -> Iterator[tuple[Page, BrowserLog]]:
    """Return a JavaScript-enabled page in a fresh context (own cookies, CSP enforced)."""
    context = browser.new_context(
        base_url=live_server.url,
        locale="en-GB",
        viewport={"width": 1024, "height": 768},
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    log = BrowserLog()
    log.watch(page)
    yield page, log
    context.close()


def _register(service: SampleService, *, required_level: Any = None) -> None:
    """Register the running sample service as a client, as a platform admin would."""
    from civicstack.accounts.models import User
    from civicstack.identity.constants import Level
    from civicstack.identity.services import client_register

    admin = User.objects.get(email="platform-admin@example.org")
    client, secret = client_register(
        actor=admin,
        name="Sample agency service",
        redirect_uris=[service.base_url + "/callback"],
        scopes=["openid", "email", "profile"],
        required_level=required_level or Level.LOW,
        post_logout_redirect_uris=[service.base_url + "/signed-out"],
    )
    assert secret is not None
    service.client_id = str(client.client_id)
    service.client_secret = secret


@pytest.fixture
def sample_service(issuer: str) -> Iterator[SampleService]:
    """Run the sample agency service on 127.0.0.1, registered for level low."""
    service = SampleService(issuer=issuer, client_id="", client_secret="")
    with serve(service) as url:
        wait_until_listening(url + "/")
        _register(service)
        yield service
    assert not service.errors, service.errors


def _on_civicstack(page: Page, live_server: Any) -> bool:
    return page.url.startswith(live_server.url)


def _sign_in_on_civicstack(page: Page, log: BrowserLog, *, email: str, password: str) -> None:
    arrive(page, log, path=re.compile(r"/account/sign-in"))
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("main").get_by_role("button", name="Continue").click()


def _consent(page: Page, log: BrowserLog, live_server: Any, service_url: str) -> None:
    """Approve what the service will receive when Civicstack asks (the consent page is
    shown at the authorization URL itself), or carry on when it does not ask.
    """
    deadline = time.monotonic() + 10
    while not page.url.startswith(service_url):
        if (
            _on_civicstack(page, live_server)
            and page.get_by_role("button", name=CONSENT_BUTTON).count()
        ):
            break
        assert time.monotonic() < deadline, f"neither consent nor the service: at {page.url}"
        page.wait_for_timeout(100)
    if not _on_civicstack(page, live_server):
        return
    arrive(page, log, path=re.compile(r"/oidc/"))
    main = page.get_by_role("main")
    expect(main.get_by_role("heading", level=1)).to_contain_text("Sample agency service")
    main.get_by_role("button", name=CONSENT_BUTTON).first.click()


def _back_at(page: Page, url: str, service: SampleService, log: BrowserLog | None = None) -> None:
    """Wait until the browser is at ``url``; fail with where it is and what it says."""
    deadline = time.monotonic() + 10
    while page.url != url:
        if time.monotonic() > deadline:
            text = page.locator("body").inner_text()[:600] if page.locator("body").count() else ""
            raise AssertionError(
                f"not back at {url}: at {page.url}: {text[-300:]} {service.errors} "
                f"{log.problems() if log else ''}"
            )
        page.wait_for_timeout(100)
    page.wait_for_load_state("load")


def test_sign_in_to_an_agency_service_and_sign_out(
    journey_page: tuple[Page, BrowserLog],
    sample_service: SampleService,
    live_server: Any,
) -> None:
    """A citizen opens an agency service, signs in with Civicstack, approves what the
    service receives, comes back signed in at level low, then signs out of both through
    RP-initiated logout.
    """
    from civicstack.accounts.services import DEMO_PASSWORD

    page, log = journey_page
    page.goto(sample_service.base_url + "/")
    page.get_by_role("link", name="Sign in with Civicstack").click()
    _sign_in_on_civicstack(page, log, email=DEMO_CITIZEN, password=DEMO_PASSWORD)
    _consent(page, log, live_server, sample_service.base_url)

    _back_at(page, sample_service.base_url + "/", sample_service, log)
    expect(page.locator("#who")).to_have_text(f"Signed in as {DEMO_CITIZEN}")
    expect(page.locator("#level")).to_have_text("Level of assurance: low")

    page.get_by_role("link", name="Sign out").click()
    page.wait_for_load_state("load")
    if _on_civicstack(page, live_server):
        arrive(page, log, path=re.compile(r"/oidc/logout"))
        page.get_by_role("main").get_by_role("button", name=SIGN_OUT_BUTTON).first.click()
    page.wait_for_url(re.compile(re.escape(sample_service.base_url) + r"/signed-out"))
    expect(page.locator("#signed-out")).to_be_visible()

    # Signed out of Civicstack too: its account page asks for a sign-in.
    page.goto(live_server.url + "/en/account/")
    arrive(page, log, path=re.compile(r"/account/sign-in"))
    assert_clean(log)


def test_signed_in_citizen_comes_back_without_being_asked_again(
    journey_page: tuple[Page, BrowserLog],
    sample_service: SampleService,
    live_server: Any,
) -> None:
    """Single sign-on: signed in to Civicstack and having approved the service once, the
    citizen who signs in to the service again goes straight through.
    """
    from civicstack.accounts.services import DEMO_PASSWORD

    page, log = journey_page
    page.goto(sample_service.base_url + "/login")
    _sign_in_on_civicstack(page, log, email=DEMO_CITIZEN, password=DEMO_PASSWORD)
    _consent(page, log, live_server, sample_service.base_url)
    _back_at(page, sample_service.base_url + "/", sample_service, log)

    second = page.context.new_page()
    log.watch(second)
    second.goto(sample_service.base_url + "/")
    expect(second.locator("#who")).to_have_text(f"Signed in as {DEMO_CITIZEN}")
    # Forget the service's own session: only Civicstack's remains.
    page.context.clear_cookies(domain="127.0.0.1")
    second.goto(sample_service.base_url + "/login")
    second.wait_for_url(sample_service.base_url + "/")
    expect(second.locator("#who")).to_have_text(f"Signed in as {DEMO_CITIZEN}")
    assert_clean(log)


def _step_up_exists() -> bool:
    try:
        reverse("accounts:step-up-code")
        reverse("identity:step-up")
    except NoReverseMatch:
        return False
    return True


def test_service_needing_substantial_steps_the_citizen_up(
    journey_page: tuple[Page, BrowserLog],
    issuer: str,
    live_server: Any,
) -> None:
    """A service that needs level substantial, and a citizen signed in with a password only
    who has since added an authenticator app: Civicstack asks for a code (step-up) instead
    of refusing, and the service sees level substantial.
    """
    if not _step_up_exists():
        pytest.skip(
            "step-up pages (accounts:step-up-code, identity:step-up) come from the "
            "passkeys and assurance branches; this journey runs once they are merged"
        )
    from civicstack.accounts.models import User
    from civicstack.accounts.tests.factories import TOTPDeviceFactory, UserFactory
    from civicstack.identity.constants import Level

    password = "a long passphrase for step up 7"
    person = UserFactory(email="step.up@example.org", full_name="Siân Step", password=password)
    page, log = journey_page
    # Signed in to Civicstack with the password alone (no app yet): level low.
    page.goto(live_server.url + "/en/account/sign-in")
    _sign_in_on_civicstack(page, log, email=person.email, password=password)
    arrive(page, log, path="/en/account/")
    # The app is added (as from another device) after this session started.
    secret = pyotp.random_base32()
    TOTPDeviceFactory(user=User.objects.get(pk=person.pk), secret=secret)

    service = SampleService(
        issuer=issuer, client_id="", client_secret="", acr_values=Level.SUBSTANTIAL.acr
    )
    with serve(service) as url:
        wait_until_listening(url + "/")
        _register(service, required_level=Level.SUBSTANTIAL)
        page.goto(url + "/login")
        # The step-up page says what the service needs and offers the app's code.
        arrive(page, log, path=re.compile(r"/identity/step-up"))
        page.get_by_role("main").get_by_role(
            "link", name=re.compile("authenticator app", re.IGNORECASE)
        ).first.click()
        code_page = reverse("accounts:step-up-code").replace("/en/", "/")
        arrive(page, log, path=re.compile(re.escape(code_page)))
        page.get_by_role("main").get_by_role("textbox").first.fill(pyotp.TOTP(secret).now())
        page.get_by_role("main").get_by_role("button", name="Continue").click()
        _consent(page, log, live_server, url)
        _back_at(page, url + "/", service, log)
        expect(page.locator("#who")).to_have_text(f"Signed in as {person.email}")
        expect(page.locator("#level")).to_have_text("Level of assurance: substantial")
    assert not service.errors, service.errors
    assert_clean(log)
