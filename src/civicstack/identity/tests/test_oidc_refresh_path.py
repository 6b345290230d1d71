"""The refresh grant's storage: what one rotation reads and writes, and its edge cases."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from django.db import connection
from django.test import Client as BrowserClient
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from oauth2_provider.models import AccessToken, IDToken, RefreshToken

from civicstack.accounts.models import User
from civicstack.identity.models import Client
from civicstack.identity.oidc.validator import CivicstackValidator
from civicstack.identity.services import consent_give
from civicstack.identity.tests.conftest import RegisterClient
from civicstack.identity.tests.oidc_helpers import (
    authorize,
    basic,
    exchange,
    sign_in_as,
    verify_id_token,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def first_tokens(
    register_client: RegisterClient, citizen: User
) -> tuple[BrowserClient, Client, str, dict[str, Any]]:
    """A client, a signed-in citizen who agreed to it, and the tokens of one code flow."""
    client, secret = register_client()
    assert secret is not None
    consent_give(user=citizen, client=client, scopes=["openid", "profile", "email"])
    browser = BrowserClient()
    sign_in_as(browser, citizen)
    result = authorize(browser, client)
    tokens = exchange(browser, client, secret, result.params["code"], result.verifier).json()
    return browser, client, secret, tokens


def _refresh(client: Client, secret: str, token: str, browser: BrowserClient | None = None) -> Any:
    # A fresh test client has no session cookie, like a relying party's back channel.
    return (browser or BrowserClient()).post(
        reverse("oidc:token"),
        {"grant_type": "refresh_token", "refresh_token": token},
        **basic(client, secret),
    )


def test_a_refresh_takes_one_write_transaction_and_few_statements(
    first_tokens: tuple[BrowserClient, Client, str, dict[str, Any]],
) -> None:
    """Three reads (client, refresh token with its access token and person, the code's
    sign-in context) and one transaction of five writes; django-oauth-toolkit's own path
    took 19 statements and two write transactions."""
    _browser, client, secret, tokens = first_tokens
    with CaptureQueriesContext(connection) as queries:
        answer = _refresh(client, secret, tokens["refresh_token"])
    assert answer.status_code == 200, answer.content
    statements = [query["sql"].split()[0].upper() for query in queries.captured_queries]
    writes = [verb for verb in statements if verb in {"INSERT", "UPDATE", "DELETE"}]
    assert statements.count("SELECT") == 3, statements
    assert sorted(writes) == ["DELETE", "INSERT", "INSERT", "INSERT", "UPDATE"], statements
    begins = [verb for verb in statements if verb in {"BEGIN", "SAVEPOINT"}]
    assert len(begins) <= 1, statements
    assert len(statements) <= 10, statements


def test_rotation_revokes_the_old_pair_and_links_the_new_one(
    first_tokens: tuple[BrowserClient, Client, str, dict[str, Any]],
) -> None:
    """The old refresh token is revoked and its access token gone; the new access token
    points at the refresh token it came from and at the row of the ID token issued with it,
    and the new refresh token stays in the family."""
    browser, client, secret, tokens = first_tokens
    old = RefreshToken.objects.select_related("access_token").get(
        application=client, revoked__isnull=True
    )
    assert old.access_token is not None
    old_access_id, old_scope = old.access_token.pk, old.access_token.scope
    answer = _refresh(client, secret, tokens["refresh_token"])
    assert answer.status_code == 200, answer.content
    body = answer.json()
    old.refresh_from_db()
    assert old.revoked is not None
    assert old.access_token_id is None
    assert not AccessToken.objects.filter(pk=old_access_id).exists()
    new = RefreshToken.objects.select_related("access_token").get(
        application=client, revoked__isnull=True
    )
    assert new.token_family == old.token_family
    access = new.access_token
    assert access is not None
    assert access.source_refresh_token_id == old.pk
    assert access.scope == old_scope
    claims = verify_id_token(browser, body["id_token"], client.client_id)
    assert access.id_token is not None
    assert str(access.id_token.jti) == claims["jti"]
    assert IDToken.objects.filter(jti=claims["jti"], application=client).count() == 1
    # The new access token works at userinfo (which finds the code through the family).
    info = browser.get(
        reverse("oidc:userinfo"), HTTP_AUTHORIZATION=f"Bearer {body['access_token']}"
    )
    assert info.status_code == 200, info.content
    assert info.json()["sub"] == claims["sub"]


def test_the_loser_of_two_concurrent_rotations_gets_invalid_grant(
    first_tokens: tuple[BrowserClient, Client, str, dict[str, Any]],
) -> None:
    """When another request rotates the same refresh token between this one's check and
    its write, this one is refused and stores nothing; the winner's tokens stay valid."""
    _browser, client, secret, tokens = first_tokens
    check = CivicstackValidator.validate_refresh_token

    def raced(self: CivicstackValidator, *args: Any, **kwargs: Any) -> bool:
        valid = check(self, *args, **kwargs)
        # The other request's rotation lands now.
        RefreshToken.objects.filter(application=client, revoked__isnull=True).update(
            revoked=timezone.now()
        )
        return valid

    before = (AccessToken.objects.count(), RefreshToken.objects.count(), IDToken.objects.count())
    with mock.patch.object(CivicstackValidator, "validate_refresh_token", raced):
        answer = _refresh(client, secret, tokens["refresh_token"])
    assert answer.status_code == 400, answer.content
    assert answer.json()["error"] == "invalid_grant"
    after = (AccessToken.objects.count(), RefreshToken.objects.count(), IDToken.objects.count())
    assert after == before


def test_an_access_token_is_pointed_at_only_by_its_refresh_token() -> None:
    """The rotation deletes the old access token with a bare DELETE after clearing its
    refresh token's link; that is only safe while nothing else refers to access tokens."""
    relations = [
        (relation.related_model, relation.field.name)
        for relation in AccessToken._meta.related_objects
    ]
    assert relations == [(RefreshToken, "access_token")]


def test_a_refresh_token_of_another_client_is_refused(
    first_tokens: tuple[BrowserClient, Client, str, dict[str, Any]],
    register_client: RegisterClient,
) -> None:
    """A live refresh token presented by a different client gets invalid_grant and is left
    as it was."""
    _browser, _client, _secret, tokens = first_tokens
    other, other_secret = register_client(name="Library")
    assert other_secret is not None
    answer = _refresh(other, other_secret, tokens["refresh_token"])
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"
    assert RefreshToken.objects.filter(revoked__isnull=True).count() == 1


def test_a_refresh_token_without_its_access_token_is_refused(
    first_tokens: tuple[BrowserClient, Client, str, dict[str, Any]],
) -> None:
    """A live refresh token whose access token was deleted (revoked) is refused."""
    _browser, client, secret, tokens = first_tokens
    AccessToken.objects.filter(application=client).delete()
    answer = _refresh(client, secret, tokens["refresh_token"])
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"
