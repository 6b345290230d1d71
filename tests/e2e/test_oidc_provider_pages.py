# The identity app's fixtures are imported below by name, so their parameters shadow them.
# ruff: noqa: F811
"""In Chromium: after signing in on Civicstack's own page, the browser reaches the client.

Chromium applies the sign-in page's CSP ``form-action 'self'`` to the redirects after the
form, so a plain redirect from /oidc/authorize to another origin would be blocked.
"""

from __future__ import annotations

import shutil
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from civicstack.accounts.models import User
from civicstack.accounts.tests.factories import PASSWORD
from civicstack.identity.services import consent_give
from civicstack.identity.tests.conftest import (  # noqa: F401 (fixtures used by name)
    RegisterClient,
    citizen,
    oidc_keys,
    platform_admin,
    register_client,
)
from civicstack.identity.tests.oidc_helpers import pkce_pair

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not shutil.which("chromium"), reason="Debian's chromium is not installed"),
]


def test_sign_in_then_back_to_the_client_in_chromium(
    browser: Any,
    live_server: Any,
    register_client: RegisterClient,
    citizen: User,
    settings: Any,
) -> None:
    """A person signs in on the sign-in page and lands on the client's redirect URI with a code."""
    settings.OIDC_ISSUER = live_server.url + "/oidc"
    port = urlsplit(live_server.url).port
    # Another origin than the live server (localhost), as an agency service would be.
    redirect = f"http://127.0.0.1:{port}/rp-callback"
    client, _secret = register_client(redirect_uris=[redirect])
    consent_give(user=citizen, client=client, scopes=["openid"])
    _verifier, challenge = pkce_pair()
    query = (
        f"client_id={client.client_id}&redirect_uri={redirect}&response_type=code&scope=openid"
        f"&state=abc&code_challenge={challenge}&code_challenge_method=S256"
    )
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/oidc/authorize?{query}")
        assert "/account/sign-in" in page.url
        page.fill("#id_email", citizen.email)
        page.fill("#id_password", PASSWORD)
        with page.expect_navigation(url=lambda url: url.startswith(redirect), timeout=15000):
            page.click("main button[type=submit]")
        params = parse_qs(urlsplit(page.url).query)
        assert params["state"] == ["abc"]
        assert params["code"][0]
    finally:
        context.close()


def test_the_provider_pages_pass_axe(
    browser: Any,
    live_server: Any,
    register_client: RegisterClient,
    citizen: User,
    platform_admin: User,
    settings: Any,
) -> None:
    """Consent, logout, signed-in services and the back-office client pages: no axe violations."""
    from civicstack.accounts.tests.conftest import totp_code_for
    from tests.e2e.pages import assert_accessible

    settings.OIDC_ISSUER = live_server.url + "/oidc"
    port = urlsplit(live_server.url).port
    redirect = f"http://127.0.0.1:{port}/rp-callback"
    client, _secret = register_client(redirect_uris=[redirect])
    _verifier, challenge = pkce_pair()
    query = (
        f"client_id={client.client_id}&redirect_uri={redirect}&response_type=code"
        f"&scope=openid+email+national_id&state=abc&code_challenge={challenge}"
        "&code_challenge_method=S256"
    )
    # Made before the browser starts: Playwright's loop makes database access "async".
    admin_code = totp_code_for(platform_admin)
    admin_pages = [
        "sign-in-clients",
        "sign-in-clients/new",
        f"sign-in-clients/{client.public_id}",
    ]
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/oidc/authorize?{query}")
        page.fill("#id_email", citizen.email)
        page.fill("#id_password", PASSWORD)
        page.click("main button[type=submit]")
        page.wait_for_load_state("load")
        assert "Allow" in page.content()
        assert_accessible(page)
        with page.expect_navigation(url=lambda url: url.startswith(redirect)):
            page.click("button[value=allow]")
        page.goto(f"{live_server.url}/en/account/services/")
        assert "Parking permits" in page.content()
        assert_accessible(page)
        page.goto(f"{live_server.url}/oidc/logout?client_id={client.client_id}")
        assert_accessible(page)
        page.click("main button[value=yes]")
        page.wait_for_load_state("load")
        assert_accessible(page)
        # A platform admin's back-office pages.
        page.goto(f"{live_server.url}/en/account/sign-in")
        page.fill("#id_email", platform_admin.email)
        page.fill("#id_password", PASSWORD)
        page.click("main button[type=submit]")
        page.wait_for_load_state("load")
        page.fill("#id_code", admin_code)
        page.click("main button[type=submit]")
        page.wait_for_load_state("load")
        for path in admin_pages:
            response = page.goto(f"{live_server.url}/en/back-office/{path}")
            assert response is not None
            assert response.status == 200, path
            assert_accessible(page)
        page.goto(f"{live_server.url}/en/back-office/sign-in-clients/new")
        page.click("main button[type=submit]")
        page.wait_for_load_state("load")
        assert "There is a problem" in page.content()
        assert_accessible(page)
    finally:
        context.close()
