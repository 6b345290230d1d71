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
from civicstack.identity.tests.conftest import RegisterClient
from civicstack.identity.tests.oidc_helpers import pkce_pair

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not shutil.which("chromium"), reason="Debian's chromium is not installed"),
]


def test_sign_in_then_back_to_the_client_in_chromium(
    live_server: Any, register_client: RegisterClient, citizen: User, settings: Any
) -> None:
    """A person signs in on the sign-in page and lands on the client's redirect URI with a code."""
    from playwright.sync_api import sync_playwright

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
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"))
        try:
            page = browser.new_page()
            page.goto(f"{live_server.url}/oidc/authorize?{query}")
            assert "/account/sign-in" in page.url
            page.fill("#id_email", citizen.email)
            page.fill("#id_password", PASSWORD)
            with page.expect_navigation(url=lambda url: url.startswith(redirect), timeout=15000):
                page.click("button[type=submit]")
            params = parse_qs(urlsplit(page.url).query)
            assert params["state"] == ["abc"]
            assert params["code"][0]
        finally:
            browser.close()
