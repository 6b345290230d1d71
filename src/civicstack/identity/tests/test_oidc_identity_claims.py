"""What the provider says about identity checks and representation: the national identifier
from a verification, and ``represents`` when the person signed in while acting for someone."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client as BrowserClient
from django.urls import reverse
from django.utils import timezone

from civicstack.accounts.models import User
from civicstack.accounts.tests.factories import UserFactory
from civicstack.identity import selectors, services
from civicstack.identity.services import consent_give
from civicstack.identity.tests.helpers import standin_data
from civicstack.identity.tests.oidc_helpers import (
    REDIRECT,
    authorize,
    basic,
    exchange,
    pkce_pair,
    sign_in_as,
    verify_id_token,
)

pytestmark = pytest.mark.django_db

NEXT_YEAR = timezone.localdate() + dt.timedelta(days=365)


def _userinfo(browser: BrowserClient, access_token: str) -> dict[str, Any]:
    response = browser.get(reverse("oidc:userinfo"), HTTP_AUTHORIZATION="Bearer " + access_token)
    assert response.status_code == 200
    return dict(response.json())


def _ticked_code(browser: BrowserClient, client: Any) -> tuple[str, str]:
    """Ask for national_id and tick it on the consent page; return the code and verifier."""
    verifier, challenge = pkce_pair()
    page = browser.get(
        reverse("oidc:authorize"),
        {
            "client_id": client.client_id,
            "redirect_uri": REDIRECT,
            "response_type": "code",
            "scope": "openid national_id",
            "state": "s",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
    )
    match = re.search(rb'name="pending" value="([^"]+)"', page.content)
    assert match, page.content.decode()[:2000]
    answer = browser.post(
        reverse("oidc:consent"),
        {"pending": match.group(1).decode(), "decision": "allow", "explicit": "national_id"},
    )
    code = parse_qs(urlsplit(answer["Location"]).query)["code"][0]
    return code, verifier


def test_a_verified_national_identifier_is_released_with_the_ticked_scope(
    register_client: Any, citizen: User
) -> None:
    """The identifier comes from the person's current verification, and only for national_id."""
    services.identity_verification_record(
        user=citizen,
        method="document_check_standin",
        data=standin_data(expires=NEXT_YEAR),
        actor=citizen,
    )
    identifier = selectors.national_identifier(citizen)
    assert identifier
    client, secret = register_client()
    browser = BrowserClient()
    sign_in_as(browser, citizen)
    code, verifier = _ticked_code(browser, client)
    tokens = exchange(browser, client, secret, code, verifier).json()
    assert _userinfo(browser, tokens["access_token"])["national_identifier"] == identifier

    consent_give(user=citizen, client=client, scopes=["openid"])
    result = authorize(browser, client, scope="openid")
    tokens = exchange(browser, client, secret, result.params["code"], result.verifier).json()
    assert "national_identifier" not in _userinfo(browser, tokens["access_token"])


def test_no_identifier_without_a_verification(register_client: Any, citizen: User) -> None:
    """Without a current verification the claim is left out, never made up."""
    client, secret = register_client()
    browser = BrowserClient()
    sign_in_as(browser, citizen)
    code, verifier = _ticked_code(browser, client)
    tokens = exchange(browser, client, secret, code, verifier).json()
    assert "national_identifier" not in _userinfo(browser, tokens["access_token"])


def test_tokens_carry_whom_the_person_acts_for(register_client: Any, citizen: User) -> None:
    """Signed in while acting for someone: the ID token, its refresh and userinfo say so."""
    giver = UserFactory(full_name="Gwen Giver", email="gwen.giver@example.org")
    mandate = services.mandate_give(
        actor=giver,
        representative_email=citizen.email,
        all_services=True,
        service_ids=(),
        expires_on=timezone.localdate() + dt.timedelta(days=30),
    )
    client, secret = register_client()
    consent_give(user=citizen, client=client, scopes=["openid"])
    browser = BrowserClient()
    sign_in_as(browser, citizen)
    started = browser.post(
        reverse("identity:acting-start"), {"kind": "person", "mandate": str(mandate.pk)}
    )
    assert started.status_code == 302
    result = authorize(browser, client, scope="openid")
    tokens = exchange(browser, client, secret, result.params["code"], result.verifier).json()
    claims = verify_id_token(browser, tokens["id_token"], client.client_id)
    represents = claims["represents"]
    assert represents["type"] == "person"
    assert represents["name"] == "Gwen Giver"
    assert represents["mandate"] == str(mandate.pk)
    assert _userinfo(browser, tokens["access_token"])["represents"] == represents

    refreshed = browser.post(
        reverse("oidc:token"),
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        **basic(client, secret),
    )
    assert refreshed.status_code == 200, refreshed.content
    again = refreshed.json()
    assert _userinfo(browser, again["access_token"])["represents"] == represents

    browser.post(reverse("identity:acting-stop"))
    result = authorize(browser, client, scope="openid")
    tokens = exchange(browser, client, secret, result.params["code"], result.verifier).json()
    assert "represents" not in verify_id_token(browser, tokens["id_token"], client.client_id)
