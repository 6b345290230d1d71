"""Identity tables: the OpenID Connect provider's clients, codes, signing keys and consents."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from oauth2_provider.models import AbstractApplication, AbstractGrant

from civicstack.core.models import BaseModel
from civicstack.identity.constants import AuthMethod, Level, SigningAlg

# --- OpenID Connect provider ---------------------------------------------------------------


class Client(AbstractApplication):
    """An agency service that signs people in through Civicstack (an OAuth client).

    django-oauth-toolkit's own fields hold the client id, redirect URIs (space separated,
    matched exactly) and the secret (``client_secret`` holds an HMAC of it, never the secret).
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # Clients belong to agencies, not people: django-oauth-toolkit's owner field stays empty.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    agency = models.ForeignKey(
        "accounts.Agency",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    auth_method = models.CharField(
        max_length=32, choices=AuthMethod.choices, default=AuthMethod.CLIENT_SECRET_BASIC
    )
    grant_types: models.JSONField[Any] = models.JSONField(default=list)
    scopes_allowed: models.JSONField[Any] = models.JSONField(default=list)
    required_level = models.CharField(
        max_length=20, choices=[(level.value, level.value) for level in Level], default=Level.LOW
    )
    jwks: models.JSONField[Any] = models.JSONField(null=True, blank=True)
    id_token_alg = models.CharField(
        max_length=10, choices=SigningAlg.choices, default=SigningAlg.RS256
    )
    logo_url = models.URLField(max_length=500, blank=True)
    policy_url = models.URLField(max_length=500, blank=True)
    require_auth_time = models.BooleanField(default=False)
    disabled_at = models.DateTimeField(null=True, blank=True)
    secret_rotated_at = models.DateTimeField(null=True, blank=True)

    class Meta(AbstractApplication.Meta):
        swappable = "OAUTH2_PROVIDER_APPLICATION_MODEL"

    @property
    def level(self) -> Level:
        return Level(self.required_level)

    def allows_grant_type(self, *grant_types: str) -> bool:
        """Return True when the client is registered for any of django-oauth-toolkit's types."""
        names = {
            AbstractApplication.GRANT_AUTHORIZATION_CODE: "authorization_code",
            AbstractApplication.GRANT_CLIENT_CREDENTIALS: "client_credentials",
        }
        return any(names.get(kind) in self.grant_types for kind in grant_types)

    def is_usable(self, request: Any) -> bool:
        return self.disabled_at is None

    def redirect_uri_allowed(self, uri: str) -> bool:
        """Exact string match with a registered URI: no normalisation, no wildcard."""
        return uri in self.redirect_uris.split()

    def post_logout_redirect_uri_allowed(self, uri: str) -> bool:
        return uri in self.post_logout_redirect_uris.split()

    def clean(self) -> None:
        # Validation lives in identity.services (client_register / client_update).
        return None

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("backoffice:identity-client", args=[self.public_id])


class Grant(AbstractGrant):
    """An authorization code, kept after use so a replayed code is recognised.

    Also carries what the ID token needs later (when and how the person signed in), and
    which tokens the code produced, so a replay can revoke them.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    used_at = models.DateTimeField(null=True, blank=True)
    auth_time = models.BigIntegerField(default=0)
    acr = models.CharField(max_length=100, blank=True)
    amr: models.JSONField[Any] = models.JSONField(default=list)
    sid = models.CharField(max_length=64, blank=True)
    include_auth_time = models.BooleanField(default=False)
    access_token_id = models.BigIntegerField(null=True, blank=True)
    token_family = models.UUIDField(null=True, blank=True, db_index=True)

    class Meta(AbstractGrant.Meta):
        swappable = "OAUTH2_PROVIDER_GRANT_MODEL"


class SigningKey(BaseModel):
    """A key that signs ID tokens; the private key is encrypted with a key from SECRET_KEY."""

    kid = models.CharField(max_length=64, unique=True)
    alg = models.CharField(max_length=10, choices=SigningAlg.choices)
    private_key_encrypted = models.BinaryField()
    public_jwk: models.JSONField[Any] = models.JSONField()
    activated_at = models.DateTimeField(default=timezone.now)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-activated_at"]

    def __str__(self) -> str:
        return f"{self.alg} {self.kid}"


class Consent(BaseModel):
    """What a person agreed a client may receive, and when."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="oidc_consents"
    )
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="consents")
    scopes: models.JSONField[Any] = models.JSONField(default=list)
    granted_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-granted_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "client"],
                condition=models.Q(revoked_at__isnull=True),
                name="identity_one_live_consent",
            )
        ]

    def __str__(self) -> str:
        return f"consent {self.pk}"


class ClientAssertion(models.Model):
    """A private_key_jwt assertion's jti, kept until it expires so it works only once."""

    id = models.BigAutoField(primary_key=True)
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="+")
    jti = models.CharField(max_length=255)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["client", "jti"], name="identity_assertion_once")
        ]

    def __str__(self) -> str:
        return f"assertion {self.pk}"
