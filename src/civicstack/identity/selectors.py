"""Identity reads: OpenID Connect clients, consents and signing keys."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from civicstack.identity.models import Client, Consent, SigningKey


def signing_keys() -> QuerySet[SigningKey]:
    """Return every signing key, newest first."""
    return SigningKey.objects.order_by("-activated_at")


def oidc_clients() -> QuerySet[Client]:
    """Return every registered OpenID Connect client, by name."""
    return Client.objects.select_related("agency").order_by("name")


def oidc_client_by_public_id(*, public_id: Any) -> Client | None:
    """Return the client with this public id (as used in back office URLs), if any."""
    return Client.objects.select_related("agency").filter(public_id=public_id).first()


def consents_of(*, user: Any) -> QuerySet[Consent]:
    """Return a person's live consents, with their clients, most recent first."""
    return (
        Consent.objects.filter(user=user, revoked_at__isnull=True)
        .select_related("client", "client__agency")
        .order_by("-granted_at")
    )


def oidc_issuer() -> str:
    """Return the OpenID Connect issuer (discovery is at issuer + /.well-known/...)."""
    return str(settings.OIDC_ISSUER)
