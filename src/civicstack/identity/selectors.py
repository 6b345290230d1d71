"""Read-only queries: the level of assurance of a session, and identity verifications."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from civicstack.accounts.constants import (
    AUTH_METHODS_KEY,
    AUTH_TIME_KEY,
    MFA_VERIFIED_KEY,
    Role,
)
from civicstack.identity.constants import DOCUMENT_TYPES, Level
from civicstack.identity.models import IdentityVerification
from civicstack.identity.verification import (
    VerificationMethod,
    method_allowed,
    national_identifier_decrypt,
    verification_methods,
)

# --- The session's level of assurance ------------------------------------------------------


def auth_methods(request: HttpRequest) -> list[str]:
    """Return how the person in this session proved who they are (RFC 8176 amr values).

    A session from before sign-in recorded its methods has only the MFA flag: it signed in
    with a password, and with an authenticator app code when the flag is set (the only
    second factor there was). A malformed value counts as no methods at all.
    """
    if not request.user.is_authenticated:
        return []
    value = request.session.get(AUTH_METHODS_KEY)
    if value is None:
        if request.session.get(MFA_VERIFIED_KEY) is True:
            return ["pwd", "otp", "mfa"]
        return ["pwd"]
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, str)]


def auth_time(request: HttpRequest) -> int | None:
    """Return the Unix time the person in this session last authenticated, or None."""
    if not request.user.is_authenticated:
        return None
    value = request.session.get(AUTH_TIME_KEY)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def session_level(request: HttpRequest) -> Level | None:
    """Return the level of assurance of this session (None when nobody is signed in).

    Low after a password; substantial when a second factor was passed ("mfa" among the
    methods and the MFA flag set); high when, besides, a passkey ("hwk") was used in this
    session and the person has a current identity verification that supports high.
    """
    user = request.user
    if not user.is_authenticated:
        return None
    methods = auth_methods(request)
    if not (request.session.get(MFA_VERIFIED_KEY) is True and "mfa" in methods):
        return Level.LOW
    if "hwk" in methods and identity_verified(user, level=Level.HIGH):
        return Level.HIGH
    return Level.SUBSTANTIAL


def level_required(request: HttpRequest, needed: Level, next_url: str) -> HttpResponse | None:
    """Return None when this session is good enough for ``needed``, else where to go.

    Anonymous people go to sign in; signed-in people below ``needed`` go to the step-up
    page (``identity:step-up?level=<needed>&next=<next_url>``), which comes back to
    ``next_url`` once the session reaches the level.
    """
    level = session_level(request)
    if level is None:
        return HttpResponseRedirect(
            f"{reverse('accounts:sign-in')}?{urlencode({'next': next_url})}"
        )
    if level.satisfies(needed):
        return None
    query = urlencode({"level": needed.value, "next": next_url})
    return HttpResponseRedirect(f"{reverse('identity:step-up')}?{query}")


# --- Identity verification -----------------------------------------------------------------


def identity_verification_current(
    user: Any, *, level: Level = Level.SUBSTANTIAL
) -> IdentityVerification | None:
    """Return the person's latest verification that is current and supports ``level``."""
    if not getattr(user, "is_authenticated", False) or user.pk is None:
        return None
    wanted = [candidate.value for candidate in Level if candidate.satisfies(level)]
    return (
        IdentityVerification.objects.current()
        .filter(user_id=user.pk, level__in=wanted)
        .order_by("-verified_at")
        .first()
    )


def identity_verified(user: Any, *, level: Level = Level.SUBSTANTIAL) -> bool:
    """Return True when the person has a current identity verification (for ``level``)."""
    return identity_verification_current(user, level=level) is not None


def national_identifier(user: Any) -> str | None:
    """Return the national identifier recorded at the person's current verification, if any.

    For the OpenID Connect provider's national identifier claim, released only with the
    person's consent. None when there is no current verification, or it recorded none.
    """
    if not getattr(user, "is_authenticated", False) or user.pk is None:
        return None
    for record in (
        IdentityVerification.objects.current()
        .filter(user_id=user.pk, national_identifier_encrypted__isnull=False)
        .order_by("-verified_at")
    ):
        value = national_identifier_decrypt(
            blob=bytes(record.national_identifier_encrypted or b""), record_id=str(record.pk)
        )
        if value:
            return value
    return None


@dataclass(frozen=True)
class VerificationRow:
    """One verification as its person sees it: how, when, by whom (role and agency only)."""

    id: str
    method: str
    method_label: str | Promise
    document_type: str | Promise
    issuing_country: str
    verified_at: dt.datetime
    checked_by: str | Promise
    expires_at: dt.datetime
    current: bool
    revoked_at: dt.datetime | None


def _agency_name(agency: Any) -> str:
    if agency is None:
        return ""
    language = (translation.get_language() or "en")[:2]
    return str((language == "cy" and agency.name_cy) or agency.name_en)


def _checked_by(record: IdentityVerification) -> str | Promise:
    if record.verifier_role == "" and record.verified_by_id is None:
        return _("An automated check")
    role = Role(record.verifier_role).label if record.verifier_role in Role.values else ""
    agency = _agency_name(record.verifier_agency)
    if role and agency:
        return _("%(role)s at %(agency)s") % {"role": role, "agency": agency}
    return str(role or agency or _("A member of staff"))


def _method_label(key: str) -> str | Promise:
    return verification_methods.get(key).label if key in verification_methods else key


def identity_verifications_for(*, user: Any) -> list[VerificationRow]:
    """Return the person's verifications, newest first, as they may see them."""
    if not getattr(user, "is_authenticated", False):
        return []
    rows = []
    for record in IdentityVerification.objects.filter(user_id=user.pk).select_related(
        "verifier_agency"
    ):
        rows.append(
            VerificationRow(
                id=str(record.pk),
                method=record.method,
                method_label=_method_label(record.method),
                document_type=DOCUMENT_TYPES.get(record.document_type, record.document_type),
                issuing_country=record.issuing_country,
                verified_at=record.verified_at,
                checked_by=_checked_by(record),
                expires_at=record.expires_at,
                current=record.is_current,
                revoked_at=record.revoked_at,
            )
        )
    return rows


def identity_verification_get(*, user: Any, verification_id: Any) -> IdentityVerification | None:
    """Return one of the person's own current verifications by id, or None."""
    if not getattr(user, "is_authenticated", False):
        return None
    try:
        return (
            IdentityVerification.objects.current()
            .filter(user_id=user.pk, pk=verification_id)
            .first()
        )
    except (ValueError, TypeError):
        return None


def verification_methods_available() -> list[VerificationMethod]:
    """Return the verification methods allowed here (no stand-ins in production)."""
    return [method for _key, method in verification_methods.items() if method_allowed(method)]


def verification_person_find(*, email: str) -> Any | None:
    """Return the active person with this email address (as counter staff type it), or None."""
    cleaned = email.strip().lower()
    if not cleaned or len(cleaned) > 254 or "\x00" in cleaned:
        return None
    user_model = get_user_model()
    return user_model.objects.filter(email=cleaned, is_active=True).first()
