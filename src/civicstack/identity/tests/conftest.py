"""Fixtures for the identity tests: signing keys, a platform admin, registered clients."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from civicstack.accounts.constants import Role
from civicstack.accounts.models import User
from civicstack.accounts.tests.factories import UserFactory, staff_create
from civicstack.identity import services
from civicstack.identity.models import Client, SigningKey


@pytest.fixture
def oidc_keys(db: None) -> list[SigningKey]:
    """Make the provider's signing keys (one RS256, one ES256)."""
    return services.signing_keys_ensure()


@pytest.fixture
def platform_admin(db: None) -> User:
    """A platform admin with an authenticator app."""
    return staff_create(role=Role.PLATFORM_ADMIN)


@pytest.fixture
def citizen(db: None) -> User:
    """A citizen with a confirmed email address."""
    user: User = UserFactory(full_name="Ada Lovelace Byron")
    return user


RegisterClient = Callable[..., tuple[Client, str | None]]


@pytest.fixture
def register_client(oidc_keys: list[SigningKey], platform_admin: User) -> RegisterClient:
    """Return a function that registers a client (defaults: secret in Basic, code flow)."""

    def register(**overrides: Any) -> tuple[Client, str | None]:
        values: dict[str, Any] = {
            "name": "Parking permits",
            "redirect_uris": ["https://rp.example/callback"],
            "scopes": ["openid", "profile", "email", "phone", "address", "national_id"],
            "post_logout_redirect_uris": ["https://rp.example/signed-out"],
            "logo_url": "https://rp.example/logo.png",
            "policy_url": "https://rp.example/privacy",
        }
        values.update(overrides)
        return services.client_register(actor=platform_admin, **values)

    return register
