"""Levels of assurance and other fixed values other apps may import."""

from __future__ import annotations

from enum import StrEnum

from django.db import models
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


class Level(StrEnum):
    """eIDAS levels of assurance, lowest first: how sure we are of who is signed in.

    low: a password alone; substantial: with a second factor; high: a verified identity
    and a phishing-resistant second factor (a passkey) in this session.
    """

    LOW = "low"
    SUBSTANTIAL = "substantial"
    HIGH = "high"

    @property
    def rank(self) -> int:
        """Return 0, 1 or 2, for comparing levels."""
        return list(Level).index(self)

    def satisfies(self, needed: Level) -> bool:
        """Return True when a session at this level may use something that needs ``needed``."""
        return self.rank >= needed.rank

    @property
    def acr(self) -> str:
        """Return the ``acr`` value OpenID Connect carries for this level."""
        return ACR_VALUES[self]

    @property
    def label(self) -> Promise:
        """Return the level's name as people read it."""
        return LEVEL_LABELS[self]


# The eIDAS notified levels, as the acr values eIDAS nodes and OIDC clients use.
ACR_VALUES: dict[Level, str] = {
    Level.LOW: "http://eidas.europa.eu/LoA/low",
    Level.SUBSTANTIAL: "http://eidas.europa.eu/LoA/substantial",
    Level.HIGH: "http://eidas.europa.eu/LoA/high",
}
LEVEL_BY_ACR: dict[str, Level] = {value: level for level, value in ACR_VALUES.items()}
LEVEL_LABELS: dict[Level, Promise] = {
    Level.LOW: _("Low"),
    Level.SUBSTANTIAL: _("Substantial"),
    Level.HIGH: _("High"),
}


# --- OpenID Connect provider -------------------------------------------------------------


class AuthMethod(models.TextChoices):
    """How a client proves who it is at the token endpoint (one per client)."""

    CLIENT_SECRET_BASIC = "client_secret_basic", _("Client secret in the Authorization header")
    CLIENT_SECRET_POST = "client_secret_post", _("Client secret in the request body")
    PRIVATE_KEY_JWT = "private_key_jwt", _("Signed JWT with the client's key (private_key_jwt)")


class SigningAlg(models.TextChoices):
    """Algorithms the provider signs ID tokens with (RS256 is OpenID Connect's default)."""

    RS256 = "RS256", _("RS256 (RSA, the default every client supports)")
    ES256 = "ES256", _("ES256 (elliptic curve, faster)")


class GrantType(models.TextChoices):
    """How a client may get tokens."""

    AUTHORIZATION_CODE = "authorization_code", _("Sign people in (authorization code with PKCE)")
    REFRESH_TOKEN = "refresh_token", _("Refresh tokens")
    CLIENT_CREDENTIALS = "client_credentials", _("Act as itself (client credentials)")


class OidcScope(models.TextChoices):
    """What a client may ask to receive about a person."""

    OPENID = "openid", _("Sign-in (openid)")
    PROFILE = "profile", _("Name and language (profile)")
    EMAIL = "email", _("Email address (email)")
    PHONE = "phone", _("Phone number (phone)")
    ADDRESS = "address", _("Postal address (address)")
    NATIONAL_ID = "national_id", _("National identifier (national_id, asked every time)")
