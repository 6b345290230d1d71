"""Read-only queries: the level of assurance of a session, and identity verifications."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from civicstack.accounts.constants import (
    AUTH_METHODS_KEY,
    AUTH_TIME_KEY,
    MFA_VERIFIED_KEY,
    Role,
)
from civicstack.catalogue import selectors as catalogue
from civicstack.identity.constants import (
    ACTING_FOR_SESSION_KEY,
    DOCUMENT_TYPES,
    PARTY_BUSINESS,
    PARTY_PERSON,
    SCOPE_ALL_SERVICES,
    Level,
)
from civicstack.identity.models import (
    Business,
    BusinessRepresentation,
    Client,
    Consent,
    IdentityVerification,
    Mandate,
    SigningKey,
)
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


# =============================================================================================
# Representation: acting for someone else (businesses, mandates between people)
# =============================================================================================

_REQUEST_CACHE = "_civicstack_acting_for"


@dataclass(frozen=True)
class ActingFor:
    """Whom the signed-in person is acting for, under which mandate, until when.

    ``kind`` is "person" or "business"; ``party_id`` the represented person's or business's
    id; ``mandate_id`` the id of the mandate (person) or business representation (business);
    ``scopes`` is ``("all",)`` or the ids of the catalogue services covered.
    """

    kind: str
    party_id: str
    name: str
    mandate_id: str
    scopes: tuple[str, ...]
    expires_at: datetime | None

    def covers_service(self, service_id: str) -> bool:
        """Return True when the mandate lets the representative use service ``service_id``."""
        return SCOPE_ALL_SERVICES in self.scopes or str(service_id) in self.scopes

    def as_claim(self) -> dict[str, Any]:
        """Return the ``represents`` claim of ID tokens and userinfo."""
        return {
            "type": self.kind,
            "id": self.party_id,
            "name": self.name,
            "mandate": self.mandate_id,
            "scopes": list(self.scopes),
            "expires_at": int(self.expires_at.timestamp()) if self.expires_at else None,
        }


def _person_name(user: Any) -> str:
    return str(user.full_name or user.email)


def acting_for_mandate(mandate: Mandate) -> ActingFor:
    """Return what acting under a mandate between people looks like."""
    return ActingFor(
        kind=PARTY_PERSON,
        party_id=str(mandate.giver_id),
        name=_person_name(mandate.giver),
        mandate_id=str(mandate.pk),
        scopes=mandate.scopes,
        expires_at=mandate.expires_at,
    )


def acting_for_representation(representation: BusinessRepresentation) -> ActingFor:
    """Return what acting for a business under a representation looks like."""
    return ActingFor(
        kind=PARTY_BUSINESS,
        party_id=str(representation.business_id),
        name=representation.business.name,
        mandate_id=str(representation.pk),
        scopes=representation.scopes,
        expires_at=representation.expires_at,
    )


def _parse_uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


def _held_by(user: Any) -> Q:
    """Return the filter of mandates ``user`` holds, or that wait for their confirmed address."""
    held = Q(representative=user)
    if user.email_verified_at is not None:
        held |= Q(representative__isnull=True, representative_email__iexact=user.email)
    return held


def acting_for_resolve(*, user: Any, kind: Any, mandate_id: Any) -> ActingFor | None:
    """Return the party ``user`` may act for under this mandate now, or None if they may not.

    None when the mandate does not exist, is not the user's, has expired, was revoked or
    renounced (or, for a delegated business representation, its source ended).
    """
    if not getattr(user, "is_authenticated", False):
        return None
    pk = _parse_uuid(mandate_id)
    if pk is None:
        return None
    now = timezone.now()
    if kind == PARTY_PERSON:
        mandate = (
            Mandate.objects.valid_at(now)
            .select_related("giver")
            .filter(_held_by(user), pk=pk)
            .first()
        )
        return acting_for_mandate(mandate) if mandate is not None else None
    if kind == PARTY_BUSINESS:
        representation = (
            BusinessRepresentation.objects.valid_at(now)
            .select_related("business")
            .filter(pk=pk, person=user)
            .first()
        )
        return acting_for_representation(representation) if representation else None
    return None


def acting_for(request: HttpRequest) -> ActingFor | None:
    """Return whom the person signed in to ``request`` is acting for, or None.

    Checked against the database on every request (once; the answer is kept on the request
    for as long as the session's choice is unchanged), so a mandate that expired or was
    revoked stops working at once.
    """
    session = getattr(request, "session", None)
    stored = session.get(ACTING_FOR_SESSION_KEY) if session is not None else None
    if not isinstance(stored, dict):
        return None
    cached = getattr(request, _REQUEST_CACHE, None)
    if cached is not None and cached[0] == stored:
        return cached[1]  # type: ignore[no-any-return]
    result = acting_for_resolve(
        user=getattr(request, "user", None), kind=stored.get("kind"), mandate_id=stored.get("id")
    )
    setattr(request, _REQUEST_CACHE, (dict(stored), result))
    return result


def acting_choices(*, user: Any) -> list[ActingFor]:
    """Return every party ``user`` may act for now: people, then businesses, by name."""
    if not getattr(user, "is_authenticated", False):
        return []
    now = timezone.now()
    people = [
        acting_for_mandate(mandate)
        for mandate in Mandate.objects.valid_at(now).filter(_held_by(user)).select_related("giver")
    ]
    businesses = [
        acting_for_representation(representation)
        for representation in BusinessRepresentation.objects.valid_at(now)
        .filter(person=user)
        .select_related("business")
    ]
    return sorted(people, key=lambda a: a.name.lower()) + sorted(
        businesses, key=lambda a: a.name.lower()
    )


def mandates_given_by(*, user: Any) -> QuerySet[Mandate]:
    """Return the mandates ``user`` gave, newest first (ended ones too)."""
    return Mandate.objects.filter(giver=user).select_related("representative")


def mandates_offered_to(*, user: Any) -> QuerySet[Mandate]:
    """Return the mandates for ``user``, held or waiting for them by confirmed email address.

    A mandate given to an address before anyone had an account with it waits, and is
    offered to the person whose confirmed address it is.
    """
    if not getattr(user, "is_authenticated", False):
        return Mandate.objects.none()
    return Mandate.objects.filter(_held_by(user)).select_related("giver")


def mandate_of_giver(*, user: Any, mandate_id: Any) -> Mandate | None:
    """Return the mandate ``mandate_id`` if ``user`` gave it, else None."""
    pk = _parse_uuid(mandate_id)
    if pk is None or not getattr(user, "is_authenticated", False):
        return None
    return mandates_given_by(user=user).filter(pk=pk).first()


def mandate_offered_to(*, user: Any, mandate_id: Any) -> Mandate | None:
    """Return the mandate ``mandate_id`` if it is for ``user`` (held or waiting), else None."""
    pk = _parse_uuid(mandate_id)
    if pk is None:
        return None
    return mandates_offered_to(user=user).filter(pk=pk).first()


def business_representations_of_person(*, user: Any) -> QuerySet[BusinessRepresentation]:
    """Return the business representations ``user`` holds (ended ones too), newest first."""
    return BusinessRepresentation.objects.filter(person=user).select_related(
        "business", "delegated_from"
    )


def business_representation_of_person(
    *, user: Any, representation_id: Any
) -> BusinessRepresentation | None:
    """Return ``user``'s business representation ``representation_id``, or None."""
    pk = _parse_uuid(representation_id)
    if pk is None or not getattr(user, "is_authenticated", False):
        return None
    return business_representations_of_person(user=user).filter(pk=pk).first()


def business_list() -> QuerySet[Business]:
    """Return every business on record, by name."""
    return Business.objects.select_related("register_agency").order_by("name")


def business_get(*, business_id: Any) -> Business | None:
    """Return the business ``business_id``, or None."""
    pk = _parse_uuid(business_id)
    return business_list().filter(pk=pk).first() if pk is not None else None


def representations_of_business(*, business: Business) -> QuerySet[BusinessRepresentation]:
    """Return everyone who represents (or represented) ``business``, newest first."""
    return BusinessRepresentation.objects.filter(business=business).select_related(
        "person", "granted_by", "delegated_from"
    )


def representation_of_business(
    *, business: Business, representation_id: Any
) -> BusinessRepresentation | None:
    """Return the representation ``representation_id`` of ``business``, or None."""
    pk = _parse_uuid(representation_id)
    if pk is None:
        return None
    return representations_of_business(business=business).filter(pk=pk).first()


def services_for_mandates() -> QuerySet[Any]:
    """Return the published services a mandate may be limited to, by title."""
    return catalogue.service_list()


def service_titles(*, service_ids: Iterable[str], language: str = "en") -> list[str]:
    """Return the titles of the services with these ids (those that still exist), sorted."""
    ids = [pk for pk in (_parse_uuid(value) for value in service_ids) if pk is not None]
    if not ids:
        return []
    field = "title_cy" if language == "cy" else "title_en"
    rows = catalogue.service_list().filter(pk__in=ids).values_list(field, "title_en")
    return sorted(str(title or fallback) for title, fallback in rows)


def representation_still_valid(user: Any, claim: Any) -> bool:
    """Return True when ``user`` may still act as a ``represents`` claim says they did.

    The mandate or business representation named by the claim must still be in force for
    ``user``, for the same party, and still cover every service the claim listed. A claim
    that cannot be read is not valid.
    """
    if not isinstance(claim, dict) or not getattr(user, "is_active", False):
        return False
    acting = acting_for_resolve(user=user, kind=claim.get("type"), mandate_id=claim.get("mandate"))
    if acting is None or acting.party_id != str(claim.get("id")):
        return False
    scopes = claim.get("scopes")
    if not isinstance(scopes, list) or not scopes:
        return False
    if SCOPE_ALL_SERVICES in scopes:
        return SCOPE_ALL_SERVICES in acting.scopes
    return all(acting.covers_service(str(scope)) for scope in scopes)


# =============================================================================================
# OpenID Connect provider: clients, consents, signing keys
# =============================================================================================


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
