"""Read-only queries about people, staff roles and agencies."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Exists, OuterRef, QuerySet
from django.utils.translation import gettext as _

from civicstack.accounts import tokens
from civicstack.accounts.constants import API_KEY_PREFIX, Role
from civicstack.accounts.models import (
    Agency,
    ApiKey,
    Passkey,
    RecoveryCode,
    StaffMembership,
    User,
    UserSession,
)


def user_is_platform_admin(*, user: Any) -> bool:
    """Return True when ``user`` is a platform admin (a role, not just Django's flag)."""
    if not getattr(user, "is_authenticated", False) or not user.is_staff:
        return False
    return bool(
        user.is_superuser
        or StaffMembership.objects.filter(user=user, role=Role.PLATFORM_ADMIN).exists()
    )


def agencies_for_staff(*, user: Any) -> QuerySet[Agency]:
    """Return the agencies ``user`` works for (none for citizens)."""
    if not getattr(user, "is_authenticated", False) or not user.is_staff:
        return Agency.objects.none()
    return Agency.objects.filter(memberships__user=user).distinct()


def roles_in_agency(*, user: Any, agency: Agency) -> set[str]:
    """Return the roles ``user`` holds in ``agency``."""
    if not getattr(user, "is_authenticated", False):
        return set()
    return set(
        StaffMembership.objects.filter(user=user, agency=agency).values_list("role", flat=True)
    )


def staff_roles_by_agency(*, user: Any) -> dict[Any, set[str]]:
    """Return the roles an active member of staff holds, by agency id (empty for others)."""
    if not getattr(user, "is_authenticated", False) or not user.is_staff or not user.is_active:
        return {}
    roles: dict[Any, set[str]] = {}
    for agency_id, role in StaffMembership.objects.filter(user=user).values_list(
        "agency_id", "role"
    ):
        roles.setdefault(agency_id, set()).add(role)
    return roles


def staff_with_roles(*, agency_id: Any, roles: Collection[str]) -> QuerySet[User]:
    """Return active staff holding any of ``roles`` in the agency, by name."""
    return (
        User.objects.filter(
            is_active=True,
            is_staff=True,
            memberships__agency_id=agency_id,
            memberships__role__in=list(roles),
        )
        .distinct()
        .order_by("full_name", "email")
    )


def agency_list() -> QuerySet[Agency]:
    """Return all agencies, by name."""
    return Agency.objects.order_by("name_en")


def user_may_administer_agency(*, user: Any, agency: Agency) -> bool:
    """Return True when ``user`` may manage staff of ``agency`` (its admins, platform admins)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user_is_platform_admin(user=user):
        return True
    return bool(user.is_staff and Role.AGENCY_ADMIN in roles_in_agency(user=user, agency=agency))


def staff_memberships_for_agency(*, agency: Agency, user: Any) -> QuerySet[StaffMembership]:
    """Return the staff roles in ``agency``, if ``user`` works there or is a platform admin.

    Staff of other agencies see nothing: agencies are isolated from each other.
    """
    if not user_is_platform_admin(user=user) and not roles_in_agency(user=user, agency=agency):
        return StaffMembership.objects.none()
    return (
        StaffMembership.objects.filter(agency=agency)
        .select_related("user", "agency")
        .order_by("user__full_name", "role")
    )


def recovery_codes_remaining(*, user: User) -> int:
    """Return how many unused recovery codes ``user`` has."""
    return RecoveryCode.objects.filter(user=user, used_at__isnull=True).count()


@dataclass(frozen=True)
class SessionRow:
    """One line of the "Your sessions" page."""

    id: str
    device: str
    ip_address: str
    authenticated_at: datetime
    last_seen_at: datetime
    current: bool


_BROWSERS = (
    ("Edg/", "Microsoft Edge"),
    ("OPR/", "Opera"),
    ("SamsungBrowser/", "Samsung Internet"),
    ("Firefox/", "Firefox"),
    ("FxiOS/", "Firefox"),
    ("CriOS/", "Chrome"),
    ("Chrome/", "Chrome"),
    ("Chromium/", "Chromium"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Android", "Android"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("Macintosh", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


def user_agent_summary(user_agent: str) -> str:
    """Return a short description like "Firefox on Windows" (empty if unrecognised)."""
    browser = next((name for marker, name in _BROWSERS if marker in user_agent), "")
    system = next((name for marker, name in _SYSTEMS if marker in user_agent), "")
    if browser and system:
        return str(_("%(browser)s on %(system)s") % {"browser": browser, "system": system})
    return browser or system


def user_sessions_for(*, user: User, current_session_key: str | None) -> list[SessionRow]:
    """Return the open sessions of ``user``, this one first, then by last activity."""
    rows = [
        SessionRow(
            id=str(session.pk),
            device=user_agent_summary(session.user_agent) or str(_("Unknown browser")),
            ip_address=session.ip_address,
            authenticated_at=session.authenticated_at,
            last_seen_at=session.last_seen_at,
            current=bool(current_session_key) and session.session_key == current_session_key,
        )
        for session in UserSession.objects.filter(user=user, ended_at__isnull=True).order_by(
            "-last_seen_at"
        )
    ]
    return sorted(rows, key=lambda row: not row.current)


def user_email_unverified(*, user: Any) -> bool:
    """Return True when a signed-in person has not yet confirmed their email address."""
    return bool(getattr(user, "is_authenticated", False) and user.email_verified_at is None)


def email_link_read(*, token: str) -> tokens.LinkContent:
    """Return what a verification or email-change link says; raise LinkInvalid if unusable."""
    return tokens.link_token_read(
        token=token, purposes=(tokens.PURPOSE_VERIFY_EMAIL, tokens.PURPOSE_CHANGE_EMAIL)
    )


def password_reset_link_user(*, token: str) -> User:
    """Return the person a reset link is for; raise LinkInvalid if it cannot be used."""
    return tokens.link_token_read(token=token, purposes=(tokens.PURPOSE_PASSWORD_RESET,)).user


_API_SECRET = re.compile(rf"{API_KEY_PREFIX}_[0-9a-f]{{12}}_[A-Za-z0-9_-]{{20,100}}")


def api_key_authenticate(*, secret: str) -> ApiKey | None:
    """Return the live API key whose secret is ``secret`` (``cs_<prefix>_<random>``), or None.

    A personal key comes with its ``user`` loaded, and is live only while that person is
    active staff with a role in the key's agency: checked on every call, so disabling them
    or taking away their last role there stops the key at once.
    """
    # Anything that is not shaped like a key never reaches the database (PostgreSQL
    # refuses NUL bytes in text, for one).
    if len(secret) > 200 or not _API_SECRET.fullmatch(secret):
        return None
    parts = secret.split("_", 2)
    key = (
        ApiKey.objects.select_related("user")
        .annotate(
            user_in_agency=Exists(
                StaffMembership.objects.filter(
                    user_id=OuterRef("user_id"), agency_id=OuterRef("agency_id")
                )
            )
        )
        .filter(prefix=parts[1], revoked_at__isnull=True)
        .first()
    )
    if key is None:
        return None
    digest = hashlib.sha256(parts[2].encode()).hexdigest()
    if not hmac.compare_digest(digest, key.secret_hash):
        return None
    if key.user_id is not None:
        user = key.user
        if user is None or not (
            user.is_active and user.is_staff and getattr(key, "user_in_agency", False)
        ):
            return None
    return key


def api_keys_for_agency(*, agency: Agency) -> QuerySet[ApiKey]:
    """Return the agency's API keys, live ones first."""
    return (
        ApiKey.objects.filter(agency=agency).select_related("user").order_by("revoked_at", "name")
    )


def user_with_confirmed_email(*, email: str) -> User | None:
    """Return the active person whose confirmed email address is ``email`` (any case), or None."""
    return User.objects.filter(
        email__iexact=email.strip(), is_active=True, email_verified_at__isnull=False
    ).first()


def passkeys_for(*, user: User) -> QuerySet[Passkey]:
    """Return the person's passkeys, oldest first."""
    return Passkey.objects.filter(user=user).order_by("created_at")


@dataclass(frozen=True)
class SecondFactors:
    """Which second factors a person has set up (for pages that offer a step-up)."""

    authenticator_app: bool
    passkey: bool


def second_factors_for(*, user: Any) -> SecondFactors:
    """Return which second factors ``user`` has (none for anonymous visitors)."""
    if not isinstance(user, User) or not user.is_authenticated:
        return SecondFactors(authenticator_app=False, passkey=False)
    return SecondFactors(authenticator_app=user.has_totp, passkey=user.has_passkey)
