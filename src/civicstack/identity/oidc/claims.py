"""What a client receives about a person, by the scopes it was granted."""

from __future__ import annotations

import uuid
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

# A fixed namespace: the same person has the same public ``sub`` for every client and
# for ever, and the ``sub`` reveals nothing of the account's internal id.
_SUB_NAMESPACE = uuid.UUID("6f1d3e0c-6c4e-5b8e-9d0e-2a1b9c0d4e11")

# Scopes that are never granted by a remembered consent: asked for and ticked every time.
EXPLICIT_SCOPES = frozenset({"national_id"})

SCOPE_ORDER = ["openid", "profile", "email", "phone", "address", "national_id"]

SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "openid": ("sub",),
    "profile": ("name", "given_name", "family_name", "locale"),
    "email": ("email", "email_verified"),
    "phone": ("phone_number", "phone_number_verified"),
    "address": ("address",),
    "national_id": ("national_identifier",),
}

# What the consent page says each scope gives the service.
SCOPE_DESCRIPTIONS: dict[str, Promise] = {
    "openid": _("A reference that identifies you to this service"),
    "profile": _("Your name and the language you use"),
    "email": _("Your email address"),
    "phone": _("Your phone number, if you gave one"),
    "address": _("Your postal address, if you gave one"),
    "national_id": _("Your national identifier, if your identity was verified"),
}


def subject(user: Any) -> str:
    """Return the person's public subject identifier, stable and the same for every client."""
    return str(uuid.uuid5(_SUB_NAMESPACE, str(user.pk)))


def claims_supported() -> list[str]:
    """Return every claim the provider can release (for discovery)."""
    names = [claim for scope in SCOPE_ORDER for claim in SCOPE_CLAIMS[scope]]
    return [
        *names,
        "iss",
        "aud",
        "exp",
        "iat",
        "auth_time",
        "nonce",
        "acr",
        "amr",
        "sid",
        "azp",
    ]


def _split_name(full_name: str) -> tuple[str, str]:
    parts = full_name.split()
    if len(parts) < 2:
        return "", ""
    return " ".join(parts[:-1]), parts[-1]


def userinfo(user: Any, scopes: list[str] | set[str]) -> dict[str, Any]:
    """Return the claims ``user`` releases for ``scopes`` (sub always)."""
    from civicstack.notify import selectors as notify_selectors

    granted = set(scopes)
    result: dict[str, Any] = {"sub": subject(user)}
    if "profile" in granted:
        full_name = (user.full_name or "").strip()
        if full_name:
            result["name"] = full_name
            given, family = _split_name(full_name)
            if given:
                result["given_name"] = given
                result["family_name"] = family
        result["locale"] = user.preferred_language or "en"
    if "email" in granted:
        result["email"] = user.email
        result["email_verified"] = user.email_verified_at is not None
    if "phone" in granted:
        preference = notify_selectors.preference_of(user=user)
        if preference is not None and preference.phone:
            result["phone_number"] = preference.phone
            # Civicstack does not confirm phone numbers by a code yet.
            result["phone_number_verified"] = False
    # address: Civicstack keeps no postal address for a person, so the claim is omitted.
    # national_id: released once identity verification (identity.selectors) records one.
    return result
