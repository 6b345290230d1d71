"""The review's findings on the OpenID Connect provider, each held by a test.

Refresh tokens end with the account, the mandate and a family's absolute lifetime; a
mandate for some services is not carried to clients; prompt=login, max_age and
id_token_hint never sign anyone out; new signing keys are published before they sign;
pages showing a client secret are never cached.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from django.test import Client as BrowserClient
from django.urls import reverse
from django.utils import timezone
from oauth2_provider.models import AccessToken, RefreshToken

from civicstack.accounts.models import User
from civicstack.accounts.tests.factories import PASSWORD, UserFactory
from civicstack.core.models import AuditEvent
from civicstack.identity import selectors, services
from civicstack.identity.models import BusinessRepresentation, Client, Grant, SigningKey
from civicstack.identity.oidc import keys
from civicstack.identity.services import consent_give
from civicstack.identity.tests.conftest import RegisterClient
from civicstack.identity.tests.oidc_helpers import (
    REDIRECT,
    authorize,
    basic,
    exchange,
    jwks_keys,
    pkce_pair,
    sign_in_as,
    verify_id_token,
)
from civicstack.identity.tests.representation_support import platform_admin, service_with_form

pytestmark = pytest.mark.django_db

IN_A_MONTH = timezone.localdate() + dt.timedelta(days=30)


def _refresh(browser: BrowserClient, client: Client, secret: str, token: str) -> Any:
    return browser.post(
        reverse("oidc:token"),
        {"grant_type": "refresh_token", "refresh_token": token},
        **basic(client, secret),
    )


def _userinfo(browser: BrowserClient, access_token: str) -> Any:
    return browser.get(reverse("oidc:userinfo"), HTTP_AUTHORIZATION="Bearer " + access_token)


def _tokens(browser: BrowserClient, client: Client, secret: str, **extra: Any) -> dict[str, Any]:
    result = authorize(browser, client, **extra)
    assert "code" in result.params, result.location
    response = exchange(browser, client, secret, result.params["code"], result.verifier)
    assert response.status_code == 200, response.content
    return dict(response.json())


def _family_of(refresh_token: str) -> Any:
    import hashlib

    checksum = hashlib.sha256(refresh_token.encode()).hexdigest()
    return RefreshToken.objects.get(token_checksum=checksum).token_family


def _refused(reason: str) -> int:
    return AuditEvent.objects.filter(action="identity.tokens_refused", data__reason=reason).count()


@pytest.fixture
def ready(register_client: RegisterClient, citizen: User) -> tuple[BrowserClient, Client, str]:
    """A registered client and a signed-in citizen who already agreed to it."""
    client, secret = register_client()
    assert secret is not None
    consent_give(user=citizen, client=client, scopes=["openid"])
    browser = BrowserClient()
    sign_in_as(browser, citizen)
    return browser, client, secret


def _acting_for(browser: BrowserClient, kind: str, mandate_id: Any) -> None:
    started = browser.post(reverse("identity:acting-start"), {"kind": kind, "mandate": mandate_id})
    assert started.status_code == 302


# --- 1. Refresh tokens end with the account, the mandate and the family's lifetime ----------


def test_a_disabled_account_cannot_refresh_and_its_family_is_revoked(
    ready: tuple[BrowserClient, Client, str], citizen: User
) -> None:
    """A refresh for an account that was disabled is invalid_grant and ends the family."""
    browser, client, secret = ready
    tokens = _tokens(browser, client, secret)
    family = _family_of(tokens["refresh_token"])
    User.objects.filter(pk=citizen.pk).update(is_active=False)
    refused = _refresh(browser, client, secret, tokens["refresh_token"])
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"
    assert not RefreshToken.objects.filter(token_family=family, revoked__isnull=True).exists()
    assert not AccessToken.objects.filter(application=client, user=citizen).exists()
    assert _refused("user_inactive") == 1


def test_a_family_older_than_its_maximum_life_cannot_refresh(
    ready: tuple[BrowserClient, Client, str], settings: Any
) -> None:
    """However often it was refreshed, a family ends OIDC_FAMILY_MAX_SECONDS after sign-in."""
    browser, client, secret = ready
    assert settings.OIDC_FAMILY_MAX_SECONDS == 24 * 60 * 60
    tokens = _tokens(browser, client, secret)
    rotated = _refresh(browser, client, secret, tokens["refresh_token"])
    assert rotated.status_code == 200
    family = _family_of(tokens["refresh_token"])
    Grant.objects.filter(token_family=family).update(
        auth_time=int(time.time()) - settings.OIDC_FAMILY_MAX_SECONDS - 5
    )
    refused = _refresh(browser, client, secret, rotated.json()["refresh_token"])
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"
    assert not RefreshToken.objects.filter(token_family=family, revoked__isnull=True).exists()
    assert _refused("family_too_old") == 1
    # A shorter maximum applies to families already running.
    fresh = _tokens(browser, client, secret)
    settings.OIDC_FAMILY_MAX_SECONDS = 0
    Grant.objects.filter(token_family=_family_of(fresh["refresh_token"])).update(
        auth_time=int(time.time()) - 2
    )
    assert _refresh(browser, client, secret, fresh["refresh_token"]).status_code == 400


def test_a_revoked_mandate_ends_refresh_and_userinfo(
    register_client: RegisterClient, citizen: User
) -> None:
    """Tokens from a sign-in while acting for someone stop working when the mandate ends:
    refresh is invalid_grant, userinfo invalid_token, both audited and both revoke."""
    giver = UserFactory(full_name="Gwen Giver")
    mandate = services.mandate_give(
        actor=giver,
        representative_email=citizen.email,
        all_services=True,
        service_ids=(),
        expires_on=IN_A_MONTH,
    )
    client, secret = register_client()
    assert secret is not None
    consent_give(user=citizen, client=client, scopes=["openid"])
    browser = BrowserClient()
    sign_in_as(browser, citizen)
    _acting_for(browser, "person", str(mandate.pk))
    first = _tokens(browser, client, secret)
    second = _tokens(browser, client, secret)
    assert _userinfo(browser, second["access_token"]).json()["represents"]["mandate"] == str(
        mandate.pk
    )
    rotated = _refresh(browser, client, secret, first["refresh_token"])
    assert rotated.status_code == 200

    services.mandate_revoke(actor=giver, mandate=mandate)

    refused = _refresh(browser, client, secret, rotated.json()["refresh_token"])
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"
    assert _refused("representation_ended") == 1
    info = _userinfo(browser, second["access_token"])
    assert info.status_code == 401
    assert 'error="invalid_token"' in info["WWW-Authenticate"]
    assert _refused("representation_ended") == 2
    # The userinfo refusal ended that sign-in's refresh tokens too.
    assert _refresh(browser, client, secret, second["refresh_token"]).status_code == 400


def test_an_expired_business_representation_ends_refresh(
    register_client: RegisterClient, citizen: User
) -> None:
    """Acting for a business whose representation has since expired: no more refreshes."""
    admin = platform_admin()
    business = services.business_register(
        actor=admin, name="Acme Widgets", registration_number="01234567"
    )
    representation = services.business_representation_add(
        actor=admin, business=business, person_email=citizen.email, role="director"
    )
    client, secret = register_client()
    assert secret is not None
    consent_give(user=citizen, client=client, scopes=["openid"])
    browser = BrowserClient()
    sign_in_as(browser, citizen)
    _acting_for(browser, "business", str(representation.pk))
    tokens = _tokens(browser, client, secret)
    assert _userinfo(browser, tokens["access_token"]).json()["represents"]["type"] == "business"
    BusinessRepresentation.objects.filter(pk=representation.pk).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    refused = _refresh(browser, client, secret, tokens["refresh_token"])
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"
    assert _refused("representation_ended") == 1


def test_representation_still_valid_checks_party_mandate_and_scope(citizen: User) -> None:
    """The selector accepts only a claim whose mandate is in force for this person and party."""
    giver = UserFactory()
    mandate = services.mandate_give(
        actor=giver,
        representative_email=citizen.email,
        all_services=True,
        service_ids=(),
        expires_on=IN_A_MONTH,
    )
    claim = selectors.acting_for_mandate(mandate).as_claim()
    assert selectors.representation_still_valid(citizen, claim)
    assert not selectors.representation_still_valid(UserFactory(), claim)
    assert not selectors.representation_still_valid(citizen, {**claim, "id": str(citizen.pk)})
    assert not selectors.representation_still_valid(citizen, {**claim, "mandate": "nonsense"})
    assert not selectors.representation_still_valid(citizen, {**claim, "type": "other"})
    assert not selectors.representation_still_valid(citizen, "not a claim")
    services.mandate_revoke(actor=giver, mandate=mandate)
    assert not selectors.representation_still_valid(citizen, claim)


# --- 2. A mandate for some services only is not carried to clients --------------------------


def test_a_mandate_for_some_services_is_not_carried_to_the_client(
    register_client: RegisterClient, citizen: User
) -> None:
    """Acting under a mandate limited to some catalogue services, the person signs in to the
    client as themselves, and the consent page says so."""
    service = service_with_form("limited-licence")
    giver = UserFactory(full_name="Gwen Giver")
    mandate = services.mandate_give(
        actor=giver,
        representative_email=citizen.email,
        all_services=False,
        service_ids=[service.pk],
        expires_on=IN_A_MONTH,
    )
    client, secret = register_client()
    assert secret is not None
    browser = BrowserClient()
    sign_in_as(browser, citizen)
    _acting_for(browser, "person", str(mandate.pk))
    verifier, challenge = pkce_pair()
    page = browser.get(
        reverse("oidc:authorize"),
        {
            "client_id": client.client_id,
            "redirect_uri": REDIRECT,
            "response_type": "code",
            "scope": "openid",
            "state": "s",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
    )
    assert page.status_code == 200
    text = page.content.decode()
    assert "You are signing in as yourself" in text
    assert "Gwen Giver" in text
    match = re.search(r'name="pending" value="([^"]+)"', text)
    assert match
    answer = browser.post(reverse("oidc:consent"), {"pending": match.group(1), "decision": "allow"})
    code = parse_qs(urlsplit(answer["Location"]).query)["code"][0]
    assert Grant.objects.get(code=code).represents is None
    tokens = exchange(browser, client, secret, code, verifier).json()
    assert "represents" not in verify_id_token(browser, tokens["id_token"], client.client_id)
    assert "represents" not in _userinfo(browser, tokens["access_token"]).json()


# --- 3. prompt=login, max_age and id_token_hint never sign anyone out ---------------------------


def _reauthenticate_and_return(browser: BrowserClient, location: str) -> Any:
    """Answer the password page the request was sent to; return the authorize response."""
    target = urlsplit(location)
    assert target.path == reverse("accounts:reauthenticate"), location
    next_url = parse_qs(target.query)["next"][0]
    answer = browser.post(location, {"password": PASSWORD, "next": next_url})
    assert answer.status_code == 302, answer.content.decode()[:2000]
    assert answer["Location"] == next_url
    return browser.get(next_url)


def test_prompt_login_reauthenticates_without_signing_out_and_then_issues_a_code(
    ready: tuple[BrowserClient, Client, str], citizen: User
) -> None:
    """A GET with prompt=login (any site can cause one) keeps the person signed in, asks
    for the password again and, once given, issues a code whose auth_time is the new one."""
    browser, client, secret = ready
    sign_in_as(browser, citizen, auth_time=int(time.time()) - 3600)
    verifier, challenge = pkce_pair()
    params = {
        "client_id": client.client_id,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": "openid",
        "state": "st",
        "nonce": "n",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "prompt": "login",
    }
    first = browser.get(reverse("oidc:authorize"), params)
    assert first.status_code == 302
    assert str(browser.session["_auth_user_id"]) == str(citizen.pk)
    # Skipping the password page and coming straight back does not count.
    skipped = browser.get(parse_qs(urlsplit(first["Location"]).query)["next"][0])
    assert urlsplit(skipped["Location"]).path == reverse("accounts:reauthenticate")
    before = int(time.time())
    back = _reauthenticate_and_return(browser, first["Location"])
    assert back.status_code == 302
    code = parse_qs(urlsplit(back["Location"]).query)["code"][0]
    tokens = exchange(browser, client, secret, code, verifier).json()
    claims = verify_id_token(browser, tokens["id_token"], client.client_id)
    assert claims["auth_time"] >= before
    # The same request again asks again: the fresh sign-in served that one request.
    again = browser.get(reverse("oidc:authorize"), params)
    assert urlsplit(again["Location"]).path == reverse("accounts:reauthenticate")


@pytest.mark.parametrize("max_age", ["0", "60"])
def test_max_age_reauthenticates_without_signing_out_and_does_not_loop(
    ready: tuple[BrowserClient, Client, str], citizen: User, max_age: str
) -> None:
    """A session older than max_age is asked for the password, not signed out; after it the
    request goes on (even max_age=0, which any later second would exceed)."""
    browser, client, _secret = ready
    sign_in_as(browser, citizen, auth_time=int(time.time()) - 600)
    stale = authorize(browser, client, max_age=max_age)
    assert "_auth_user_id" in browser.session
    time.sleep(1.1 if max_age == "0" else 0)
    back = _reauthenticate_and_return(browser, stale.location)
    assert back.status_code == 302
    assert "code" in parse_qs(urlsplit(back["Location"]).query)


def test_an_id_token_hint_for_someone_else_is_login_required_not_a_sign_out(
    ready: tuple[BrowserClient, Client, str], citizen: User
) -> None:
    """A hint naming another person, without prompt=none, goes back to the client with
    login_required; the person signed in here stays signed in."""
    browser, client, secret = ready
    other = UserFactory()
    consent_give(user=other, client=client, scopes=["openid"])
    other_browser = BrowserClient()
    sign_in_as(other_browser, other)
    hint = _tokens(other_browser, client, secret)["id_token"]
    result = authorize(browser, client, id_token_hint=hint)
    assert result.params["error"] == "login_required"
    assert result.params["state"] == "state-123"
    assert str(browser.session["_auth_user_id"]) == str(citizen.pk)


def test_id_token_hint_is_kept_through_reauthentication_and_checked_again(
    ready: tuple[BrowserClient, Client, str], citizen: User
) -> None:
    """prompt=login with a hint: the request the password page returns to still carries the
    hint, and a hint for the signed-in person then gives a code."""
    browser, client, secret = ready
    hint = _tokens(browser, client, secret)["id_token"]
    result = authorize(browser, client, prompt="login", id_token_hint=hint)
    next_url = parse_qs(urlsplit(result.location).query)["next"][0]
    assert parse_qs(urlsplit(next_url).query)["id_token_hint"] == [hint]
    back = _reauthenticate_and_return(browser, result.location)
    assert "code" in parse_qs(urlsplit(back["Location"]).query)


def test_a_hint_for_someone_else_after_signing_in_is_login_required(
    register_client: RegisterClient, citizen: User
) -> None:
    """Someone signed out follows a request with a hint for another person and signs in as
    themselves: the hint is checked again on the way back, and no code is issued."""
    client, secret = register_client()
    assert secret is not None
    other = UserFactory()
    consent_give(user=other, client=client, scopes=["openid"])
    consent_give(user=citizen, client=client, scopes=["openid"])
    other_browser = BrowserClient()
    sign_in_as(other_browser, other)
    hint = _tokens(other_browser, client, secret)["id_token"]
    browser = BrowserClient()
    sent = authorize(browser, client, id_token_hint=hint)
    assert urlsplit(sent.location).path.endswith("/account/sign-in")
    next_url = parse_qs(urlsplit(sent.location).query)["next"][0]
    sign_in_as(browser, citizen)
    back = browser.get(next_url)
    assert parse_qs(urlsplit(back["Location"]).query)["error"] == ["login_required"]


# --- 4. New signing keys are published before they sign ------------------------------------------


def test_rotation_publishes_new_keys_before_they_sign(
    ready: tuple[BrowserClient, Client, str],
) -> None:
    """After a rotation the new keys are in the JWKS at once but sign only once every copy of
    the JWKS cached before the rotation has expired; then the old keys retire."""
    browser, client, secret = ready
    old_kid = jwt.get_unverified_header(_tokens(browser, client, secret)["id_token"])["kid"]
    made = services.signing_keys_rotate()
    new_kid = next(key.kid for key in made if key.alg == "RS256")
    response = browser.get(reverse("oidc:jwks"))
    max_age = int(re.search(r"max-age=(\d+)", response["Cache-Control"]).group(1))  # type: ignore[union-attr]
    assert keys.activation_delay_seconds() > max_age
    for key in made:
        assert key.activated_at >= timezone.now() + timedelta(seconds=max_age)
    assert new_kid in jwks_keys(browser)
    # Until then the old key signs, and is not yet retired.
    still = jwt.get_unverified_header(_tokens(browser, client, secret)["id_token"])["kid"]
    assert still == old_kid
    assert keys.active_key("RS256").kid == old_kid
    old = SigningKey.objects.get(kid=old_kid)
    assert old.retired_at == SigningKey.objects.get(kid=new_kid).activated_at
    # Once the switch time has passed the new key signs; the old one stays published.
    past = timezone.now() - timedelta(seconds=1)
    SigningKey.objects.filter(kid__in=[key.kid for key in made]).update(activated_at=past)
    SigningKey.objects.filter(kid=old_kid).update(retired_at=past)
    keys.caches_clear()
    token = _tokens(browser, client, secret)["id_token"]
    assert jwt.get_unverified_header(token)["kid"] == new_kid
    assert {old_kid, new_kid} <= set(jwks_keys(browser))


def test_a_second_rotation_within_the_delay_keeps_one_signing_key(oidc_keys: Any) -> None:
    """Two rotations close together: the first new key signs from its switch until the
    second's, and the original key still signs until the first switch."""
    original = keys.active_key("RS256").kid
    first = next(key for key in services.signing_keys_rotate() if key.alg == "RS256")
    second = next(key for key in services.signing_keys_rotate() if key.alg == "RS256")
    first.refresh_from_db()
    assert first.retired_at == second.activated_at
    assert SigningKey.objects.get(kid=original).retired_at == first.activated_at
    assert keys.active_key("RS256").kid == original


# --- 5. Pages that show a client secret are never cached ---------------------------------------


def test_pages_showing_a_client_secret_are_not_cached(
    register_client: RegisterClient, platform_admin: User
) -> None:
    """Registering, editing and a new secret answer with Cache-Control no-store, the pages
    that show a secret included."""
    from civicstack.identity.tests.test_oidc_pages import FORM

    browser = BrowserClient()
    sign_in_as(browser, platform_admin, mfa=True)
    client, _secret = register_client()
    new = reverse("backoffice:identity-client-new")
    edit = reverse("backoffice:identity-client-edit", args=[client.public_id])
    rotate = reverse("backoffice:identity-client-secret", args=[client.public_id])
    responses = {
        "new form": browser.get(new),
        "edit form": browser.get(edit),
        "new secret": browser.post(new, FORM),
        "rotated secret": browser.post(rotate),
    }
    for name, response in responses.items():
        assert response.status_code == 200, name
        assert "no-store" in response["Cache-Control"], name
    assert b'id="client-secret"' in responses["new secret"].content
    assert b'id="client-secret"' in responses["rotated secret"].content
