"""Signing keys (JWKS, rotation, ES256), RP-initiated logout and hostile input."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import jwt
import pytest
from django.core.management import call_command
from django.test import Client as BrowserClient
from django.urls import reverse
from django.utils import timezone

from civicstack.accounts.models import User
from civicstack.identity import services
from civicstack.identity.models import SigningKey
from civicstack.identity.oidc.keys import caches_clear, publish_seconds
from civicstack.identity.services import consent_give
from civicstack.identity.tests.conftest import RegisterClient
from civicstack.identity.tests.oidc_helpers import (
    authorize,
    exchange,
    jwks_keys,
    sign_in_as,
    verify_id_token,
)

pytestmark = pytest.mark.django_db


def _id_token(
    register_client: RegisterClient, citizen: User, **client_values: object
) -> tuple[BrowserClient, object, str]:
    client, secret = register_client(**client_values)
    assert secret is not None
    consent_give(user=citizen, client=client, scopes=["openid"])
    browser = BrowserClient()
    sign_in_as(browser, citizen)
    result = authorize(browser, client)
    response = exchange(browser, client, secret, result.params["code"], result.verifier)
    return browser, client, response.json()["id_token"]


def test_jwks_publishes_public_keys_only(oidc_keys: list[SigningKey]) -> None:
    """The JWKS has one RS256 and one ES256 public key, each with its kid, and no private part."""
    published = jwks_keys(BrowserClient())
    assert {key["alg"] for key in published.values()} == {"RS256", "ES256"}
    for kid, key in published.items():
        assert key["kid"] == kid
        assert key["use"] == "sig"
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)
    stored = SigningKey.objects.get(alg="RS256")
    assert b"PRIVATE KEY" not in bytes(stored.private_key_encrypted)


def test_rotation_keeps_old_keys_published_until_their_tokens_expire(
    register_client: RegisterClient, citizen: User, settings: object
) -> None:
    """After a rotation new tokens use the new key; the old key stays until its tokens expired."""
    browser, client, old_token = _id_token(register_client, citizen)
    old_kid = jwt.get_unverified_header(old_token)["kid"]
    out = StringIO()
    call_command("oidc_keys", "rotate", stdout=out)
    assert "Rotated" in out.getvalue()
    assert "signs from" in out.getvalue()
    published = jwks_keys(browser)
    assert old_kid in published
    assert len(published) == 4
    verify_id_token(browser, old_token, client.client_id)  # type: ignore[attr-defined]
    # The new keys sign once relying parties can have fetched them: move that moment to now.
    switch = timezone.now() - timedelta(seconds=1)
    SigningKey.objects.filter(retired_at__isnull=True).update(activated_at=switch)
    SigningKey.objects.filter(retired_at__isnull=False).update(retired_at=switch)
    caches_clear()
    consent_give(user=citizen, client=client, scopes=["openid"])  # type: ignore[arg-type]
    _browser, _client, _new = _id_token(register_client, citizen)
    new_kid = jwt.get_unverified_header(_new)["kid"]
    assert new_kid != old_kid
    assert SigningKey.objects.get(kid=new_kid).retired_at is None
    # Once every token the old key signed has expired, it leaves the JWKS.
    SigningKey.objects.filter(kid=old_kid).update(
        retired_at=timezone.now() - timedelta(seconds=publish_seconds() + 1)
    )
    assert old_kid not in jwks_keys(browser)


def test_oidc_keys_if_missing_makes_keys_once(db: None) -> None:
    """The command makes an RS256 and an ES256 key the first time only."""
    call_command("oidc_keys", "--if-missing", stdout=StringIO())
    call_command("oidc_keys", "--if-missing", stdout=StringIO())
    assert sorted(SigningKey.objects.values_list("alg", flat=True)) == ["ES256", "RS256"]


def test_a_client_registered_for_es256_gets_es256_id_tokens(
    register_client: RegisterClient, citizen: User
) -> None:
    """id_token_signed_response_alg ES256 is honoured; RS256 stays the default."""
    browser, client, token = _id_token(register_client, citizen, id_token_alg="ES256")
    assert jwt.get_unverified_header(token)["alg"] == "ES256"
    verify_id_token(browser, token, client.client_id)  # type: ignore[attr-defined]
    _b, _c, default = _id_token(register_client, citizen)
    assert jwt.get_unverified_header(default)["alg"] == "RS256"


# --- RP-initiated logout ------------------------------------------------------------------


def test_logout_with_a_valid_hint_signs_out_and_returns_with_state(
    register_client: RegisterClient, citizen: User
) -> None:
    """A valid id_token_hint and a registered post-logout URI: signed out, back with state."""
    browser, _client, token = _id_token(register_client, citizen)
    response = browser.get(
        reverse("oidc:logout"),
        {
            "id_token_hint": token,
            "post_logout_redirect_uri": "https://rp.example/signed-out",
            "state": "bye",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == "https://rp.example/signed-out?state=bye"
    assert "_auth_user_id" not in browser.session


def test_logout_never_redirects_to_an_unregistered_address(
    register_client: RegisterClient, citizen: User
) -> None:
    """An unregistered post_logout_redirect_uri is ignored: the person sees our page."""
    browser, _client, token = _id_token(register_client, citizen)
    response = browser.get(
        reverse("oidc:logout"),
        {"id_token_hint": token, "post_logout_redirect_uri": "https://evil.example/"},
    )
    assert response.status_code == 200
    assert b"You have signed out" in response.content


def test_logout_without_a_hint_asks_first(register_client: RegisterClient, citizen: User) -> None:
    """Without a valid hint the person is asked; only their POST signs them out."""
    client, _secret = register_client()
    browser = BrowserClient()
    sign_in_as(browser, citizen)
    page = browser.get(
        reverse("oidc:logout"),
        {
            "client_id": client.client_id,
            "post_logout_redirect_uri": "https://rp.example/signed-out",
            "state": "s1",
            "id_token_hint": "not-a-token",
        },
    )
    assert page.status_code == 200
    assert b"Do you want to sign out?" in page.content
    assert "_auth_user_id" in browser.session
    stay = browser.post(
        reverse("oidc:logout-confirm"), {"confirm": "no", "client_id": client.client_id}
    )
    assert stay.status_code == 200
    assert "_auth_user_id" in browser.session
    done = browser.post(
        reverse("oidc:logout-confirm"),
        {
            "confirm": "yes",
            "client_id": client.client_id,
            "post_logout_redirect_uri": "https://rp.example/signed-out",
            "state": "s1",
        },
    )
    assert done["Location"] == "https://rp.example/signed-out?state=s1"
    assert "_auth_user_id" not in browser.session


# --- Hostile input -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        {"scope": "openid " + "x" * 5000},
        {"state": "s" * 5000},
        {"max_age": "9" * 30},
        {"max_age": "ten"},
        {"nonce": "n" * 300},
        {"request": "eyJhbGciOiJub25lIn0.e30."},
        {"request_uri": "https://evil.example/r"},
        {"response_mode": "fragment"},
        {"scope": "profile"},
        {"id_token_hint": "x.y.z"},
        {"acr_values": "\x00\x01"},
        {"prompt": "none consent"},
    ],
)
def test_malformed_authorization_requests_get_oauth_errors(
    register_client: RegisterClient, citizen: User, extra: dict[str, str]
) -> None:
    """Bad parameters get an OAuth error at the redirect URI, never a 500."""
    client, _secret = register_client()
    browser = BrowserClient()
    sign_in_as(browser, citizen)
    result = authorize(browser, client, **extra)
    assert result.status == 302
    assert "error" in result.params
    assert "code" not in result.params


def test_malformed_token_and_userinfo_requests_get_json_errors(
    register_client: RegisterClient,
) -> None:
    """Garbage at /token, /userinfo and /logout gets a 4xx (JSON at the APIs), never a 500."""
    client, secret = register_client()
    browser = BrowserClient()
    for data in (
        {"grant_type": "authorization_code", "code": "x" * 5000},
        {"grant_type": "refresh_token", "refresh_token": "\x00"},
        {"grant_type": "nonsense"},
        {"grant_type": "urn:ietf:params:oauth:grant-type:device_code"},
        {"grant_type": "password", "username": "a", "password": "b"},
        {},
    ):
        response = browser.post(reverse("oidc:token"), data, HTTP_AUTHORIZATION="Basic %%%")
        assert 400 <= response.status_code < 500
        assert "error" in response.json()
    for header in ("Bearer", "Bearer " + "x" * 5000, "Basic abc", "Bearer \x00"):
        response = browser.get(reverse("oidc:userinfo"), HTTP_AUTHORIZATION=header)
        assert response.status_code in {400, 401}
    assert browser.get(reverse("oidc:userinfo"), {"access_token": "x"}).status_code == 400
    assert browser.get(reverse("oidc:logout"), {"id_token_hint": "a" * 20000}).status_code == 200
    assert browser.post(reverse("oidc:consent"), {"pending": "x" * 100}).status_code == 400
    assert secret is not None
    assert (
        browser.get(
            reverse("oidc:authorize"), {"client_id": client.client_id, "redirect_uri": "x"}
        ).status_code
        == 400
    )


def test_services_refuse_a_bad_key_set(register_client: RegisterClient) -> None:
    """A private key, a symmetric key, a short RSA key or junk in the JWKS are form errors."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwcrypto import jwk

    from civicstack.core.errors import ValidationFailed

    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    private = jwk.JWK.from_pem(pem).export_private(as_dict=True)
    for bad in (
        None,
        "not json",
        {"keys": []},
        {"keys": [private]},
        {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]},
        {"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}]},
        {"keys": ["x"]},
    ):
        with pytest.raises(ValidationFailed) as error:
            register_client(auth_method="private_key_jwt", jwks=bad)
        assert "jwks" in error.value.field_errors


def test_registration_refuses_bad_addresses(register_client: RegisterClient) -> None:
    """Wildcards, fragments, credentials and http outside localhost are refused."""
    from civicstack.core.errors import ValidationFailed

    for uri in (
        "https://*.example/cb",
        "https://rp.example/cb#x",
        "https://u:p@rp.example/cb",
        "http://rp.example/cb",
        "javascript:alert(1)",
        "https://rp.example:99999/cb",
    ):
        with pytest.raises(ValidationFailed) as error:
            register_client(redirect_uris=[uri])
        assert "redirect_uris" in error.value.field_errors
    client, _secret = register_client(redirect_uris=["http://localhost:8123/cb"])
    assert client.redirect_uris == "http://localhost:8123/cb"
    with pytest.raises(ValidationFailed) as error:
        register_client(logo_url="http://rp.example/logo.png")
    assert "logo_url" in error.value.field_errors


def test_only_platform_admins_register_clients(citizen: User, oidc_keys: object) -> None:
    """A citizen (or a caseworker) cannot register a client."""
    from civicstack.accounts.tests.factories import staff_create
    from civicstack.core.errors import PermissionDenied

    for actor in (citizen, staff_create()):
        with pytest.raises(PermissionDenied):
            services.client_register(
                actor=actor, name="x", redirect_uris=["https://rp.example/cb"], scopes=["openid"]
            )


def test_logout_when_nobody_is_signed_in_returns_to_a_registered_address(
    register_client: RegisterClient,
) -> None:
    """Signed out already: straight back to the client's registered address, with state."""
    client, _secret = register_client()
    response = BrowserClient().get(
        reverse("oidc:logout"),
        {
            "client_id": client.client_id,
            "post_logout_redirect_uri": "https://rp.example/signed-out",
            "state": "z",
        },
    )
    assert response["Location"] == "https://rp.example/signed-out?state=z"


def test_a_missing_signing_key_is_made_when_first_needed(
    register_client: RegisterClient, citizen: User
) -> None:
    """An installation that never ran `civicstack oidc_keys` still issues ID tokens."""
    from civicstack.identity.oidc import keys as oidc_keys_module
    from civicstack.identity.services import consent_give
    from civicstack.identity.tests.oidc_helpers import (
        authorize,
        exchange,
        sign_in_as,
        verify_id_token,
    )

    client, secret = register_client()
    SigningKey.objects.all().delete()
    oidc_keys_module.caches_clear()
    consent_give(user=citizen, client=client, scopes=["openid"])
    browser = BrowserClient()
    sign_in_as(browser, citizen)
    result = authorize(browser, client)
    response = exchange(browser, client, secret, result.params["code"], result.verifier)
    assert response.status_code == 200, response.content
    assert verify_id_token(browser, response.json()["id_token"], client.client_id)["sub"]
    assert SigningKey.objects.filter(retired_at__isnull=True).count() == 2
