"""Writes of the identity app: each checks permission, does its work and audits it."""

from __future__ import annotations

import re
import secrets
from collections.abc import Collection, Mapping
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from jwcrypto import jwk
from oauth2_provider.models import AccessToken, RefreshToken

from civicstack.accounts import selectors as accounts
from civicstack.accounts import selectors as accounts_selectors
from civicstack.accounts.constants import Role
from civicstack.core.audit import audit_event_record
from civicstack.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from civicstack.core.mail import email_send_on_commit, long_date
from civicstack.core.registry import PluginNotFound
from civicstack.identity import selectors
from civicstack.identity.constants import (
    ACTING_FOR_SESSION_KEY,
    MANDATE_MAX_YEARS,
    PARTY_BUSINESS,
    PARTY_PERSON,
    Level,
    RepresentationRole,
)
from civicstack.identity.models import (
    AuthMethod,
    Business,
    BusinessRepresentation,
    Client,
    Consent,
    Grant,
    IdentityVerification,
    Mandate,
    SigningAlg,
    SigningKey,
)
from civicstack.identity.verification import (
    DocumentEvidence,
    document_number_hash,
    expires_at_for,
    method_allowed,
    national_identifier_encrypt,
    national_identifier_hash,
    verification_methods,
)

# --- Identity verification (levels of assurance) ---------------------------------------------

REVOCATION_REASON_LIMIT = 500


# The roles that meet citizens, and so may check their documents at a counter. Analysts
# (read-only) and service owners do not; platform admins only with one of these roles too.
IDENTITY_CHECKER_ROLES = (Role.CASEWORKER, Role.SUPERVISOR, Role.AGENCY_ADMIN)


def identity_checker_roles(*, actor: Any) -> dict[Any, str]:
    """Return the role in which ``actor`` may check identity documents, by agency id.

    Empty for anyone who may not: citizens, inactive staff, and staff whose roles are only
    analyst, service owner or platform admin.
    """
    return {
        agency_id: next(role.value for role in IDENTITY_CHECKER_ROLES if role in held)
        for agency_id, held in accounts_selectors.staff_roles_by_agency(user=actor).items()
        if any(role in held for role in IDENTITY_CHECKER_ROLES)
    }


def _staff_agency_and_role(*, actor: Any, agency_id: Any) -> tuple[Any, str]:
    """Return the agency the member of staff acts for and their checking role there."""
    roles = identity_checker_roles(actor=actor)
    if not roles:
        raise PermissionDenied(
            _("Only caseworkers, supervisors and agency admins can check identity documents.")
        )
    if agency_id is None or str(agency_id) not in {str(key) for key in roles}:
        if agency_id is not None or len(roles) > 1:
            raise ValidationFailed(field_errors={"agency": [_("Select the agency you work for")]})
        agency_id = next(iter(roles))
    role = next(held for key, held in roles.items() if str(key) == str(agency_id))
    agency = accounts_selectors.agency_list().filter(pk=agency_id).first()
    return agency, role


def identity_verification_record(
    *,
    user: Any,
    method: str,
    data: Mapping[str, Any],
    actor: Any,
    agency_id: Any = None,
) -> IdentityVerification:
    """Check ``data`` with the verification ``method`` and record that ``user`` is verified.

    Methods performed by staff (the counter) need ``actor`` to be active staff who meet
    citizens in an agency: a caseworker, supervisor or agency admin there (``agency_id``
    picks the agency when they have several), and never the person being verified.
    Stand-in methods are refused in production. The same document cannot verify two
    people, nor the same national identifier: one already behind someone else's current
    verification is refused. Only keyed hashes of the document number and the national
    identifier are kept, and the identifier encrypted.
    """
    try:
        plugin = verification_methods.get(method)
    except PluginNotFound:
        raise NotFound(_("There is no such way to check identity.")) from None
    if not method_allowed(plugin):
        raise PermissionDenied(_("This check is for development only and is switched off here."))
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        raise NotFound(_("There is no account with that email address."))
    verifier_agency = None
    verifier_role = ""
    if plugin.performed_by_staff:
        if not getattr(actor, "is_authenticated", False) or not actor.is_staff:
            raise PermissionDenied(_("Only staff of an agency can check identity documents."))
        if actor.pk == user.pk:
            raise PermissionDenied(
                _("You cannot check your own identity. Ask a colleague to do it.")
            )
        verifier_agency, verifier_role = _staff_agency_and_role(actor=actor, agency_id=agency_id)
        verified_by = actor
    else:
        if getattr(actor, "pk", None) != user.pk:
            raise PermissionDenied(_("Only the person themselves can use this check."))
        verified_by = None
    evidence = plugin.check(data)
    number_hash = document_number_hash(
        document_type=evidence.document_type,
        issuing_country=evidence.issuing_country,
        number=evidence.document_number,
    )
    identifier_hash = (
        national_identifier_hash(
            issuing_country=evidence.issuing_country, identifier=evidence.national_identifier
        )
        if evidence.national_identifier
        else ""
    )
    with transaction.atomic():
        others = IdentityVerification.objects.current().exclude(user_id=user.pk)
        taken: dict[str, list[Any]] = {}
        if others.filter(document_number_hash=number_hash).exists():
            taken["document_number"] = [_("This document already confirms someone else's identity")]
        if identifier_hash and others.filter(national_identifier_hash=identifier_hash).exists():
            taken.setdefault(plugin.national_identifier_field, []).append(
                plugin.national_identifier_taken
            )
        if taken:
            raise ValidationFailed(field_errors=taken)
        now = timezone.now()
        record = IdentityVerification(
            user=user,
            method=plugin.key,
            level=plugin.level.value,
            verified_at=now,
            verified_by=verified_by,
            verifier_role=verifier_role,
            verifier_agency=verifier_agency,
            document_type=evidence.document_type,
            issuing_country=evidence.issuing_country,
            document_expires_on=evidence.document_expires_on,
            document_number_hash=number_hash,
            national_identifier_hash=identifier_hash,
            expires_at=expires_at_for(
                verified_at=now, document_expires_on=evidence.document_expires_on
            ),
        )
        if evidence.national_identifier:
            record.national_identifier_encrypted = national_identifier_encrypt(
                value=evidence.national_identifier, record_id=str(record.pk)
            )
        record.save()
        audit_event_record(
            action="identity.verification_recorded",
            actor=actor,
            obj=record,
            data={
                "person": str(user.pk),
                "method": plugin.key,
                "level": plugin.level.value,
                "agency": str(verifier_agency.pk) if verifier_agency else "",
                "national_identifier": bool(evidence.national_identifier),
                "production": bool(settings.PRODUCTION),
            },
        )
    return record


def identity_verification_revoke(
    *, verification: IdentityVerification, actor: Any, reason: str = ""
) -> IdentityVerification:
    """Revoke a verification: its person asks for it to be removed, or a platform admin.

    The record stays (the audit log points at it) but stops counting, and the encrypted
    national identifier is erased, both its encrypted form and its hash.
    """
    is_owner = getattr(actor, "pk", None) == verification.user_id
    if not is_owner and not accounts_selectors.user_is_platform_admin(user=actor):
        raise PermissionDenied()
    cleaned = "".join(ch for ch in str(reason) if ch.isprintable() or ch == "\n").strip()
    with transaction.atomic():
        locked = IdentityVerification.objects.select_for_update().get(pk=verification.pk)
        if locked.revoked_at is not None:
            return locked
        locked.revoked_at = timezone.now()
        locked.revoked_by = actor
        locked.revocation_reason = cleaned[:REVOCATION_REASON_LIMIT]
        locked.national_identifier_encrypted = None
        locked.national_identifier_hash = ""
        locked.save(
            update_fields=[
                "revoked_at",
                "revoked_by",
                "revocation_reason",
                "national_identifier_encrypted",
                "national_identifier_hash",
                "updated_at",
            ]
        )
        audit_event_record(
            action="identity.verification_revoked",
            actor=actor,
            obj=locked,
            reason=locked.revocation_reason,
            data={"person": str(locked.user_id), "by_owner": is_owner},
        )
    return locked


def identity_verification_check(*, method: str, data: Mapping[str, Any]) -> DocumentEvidence:
    """Validate ``data`` for the verification ``method`` without recording anything.

    Lets the counter page show a confirmation step; raise ValidationFailed naming each
    problem, NotFound for an unknown method, PermissionDenied for a stand-in in production.
    """
    try:
        plugin = verification_methods.get(method)
    except PluginNotFound:
        raise NotFound(_("There is no such way to check identity.")) from None
    if not method_allowed(plugin):
        raise PermissionDenied(_("This check is for development only and is switched off here."))
    return plugin.check(data)


# =============================================================================================
# Representation: businesses, mandates between people, acting for someone else
# =============================================================================================

EMAIL_TEMPLATES = "identity/email"
_REGISTRATION_NUMBER = re.compile(r"^[A-Z0-9]{2,20}$")
_MAX_SERVICES = 200


def _require_platform_admin(actor: Any) -> None:
    if not accounts.user_is_platform_admin(user=actor):
        raise PermissionDenied()


def _require_signed_in(actor: Any) -> None:
    if not getattr(actor, "is_authenticated", False) or not actor.is_active:
        raise PermissionDenied()


def _field_error(name: str, message: str | Promise) -> ValidationFailed:
    return ValidationFailed(field_errors={name: [message]})


def _page_language() -> str:
    return "cy" if (translation.get_language() or "en").startswith("cy") else "en"


def _latest_expiry(today: date) -> date:
    try:
        return today.replace(year=today.year + MANDATE_MAX_YEARS)
    except ValueError:  # 29 February
        return today.replace(year=today.year + MANDATE_MAX_YEARS, day=28)


def _end_of_day(day: date) -> datetime:
    """Return the first moment after ``day`` in local time: a mandate lasts the whole day."""
    return timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min))


def validate_expiry(
    *, expires_on: Any, field: str = "expires_on", latest: date | None = None
) -> date:
    """Validate an expiry date: required, not in the past, at most three years ahead."""
    if not isinstance(expires_on, date) or isinstance(expires_on, datetime):
        raise _field_error(field, _("Enter the date the permission ends"))
    today = timezone.localdate()
    if expires_on < today:
        raise _field_error(field, _("The date the permission ends must be today or in the future"))
    if expires_on > _latest_expiry(today):
        raise _field_error(
            field,
            _("The date the permission ends must be within %(years)s years")
            % {"years": MANDATE_MAX_YEARS},
        )
    if latest is not None and expires_on > latest:
        raise _field_error(
            field,
            _("The date the permission ends must be on or before %(date)s")
            % {"date": long_date(latest, _page_language())},
        )
    return expires_on


def validate_services(*, all_services: bool, service_ids: Collection[Any]) -> list[str]:
    """Validate a scope: all services, or at least one published service of the catalogue."""
    if all_services:
        return []
    chosen = {str(value) for value in service_ids}
    if not chosen:
        raise _field_error("services", _("Select at least one service, or choose all services"))
    if len(chosen) > _MAX_SERVICES:
        raise _field_error("services", _("Select fewer services"))
    known = {
        str(pk)
        for pk in selectors.services_for_mandates()
        .filter(pk__in=[value for value in chosen if _is_uuid(value)])
        .values_list("pk", flat=True)
    }
    if known != chosen:
        raise _field_error("services", _("Select services from the list"))
    return sorted(chosen)


def _is_uuid(value: str) -> bool:
    return selectors._parse_uuid(value) is not None


def _clean_email(value: Any, field: str) -> str:
    email = str(value or "").strip()
    if not email:
        raise _field_error(field, _("Enter an email address"))
    if len(email) > 254:
        raise _field_error(field, _("Email address must be 254 characters or fewer"))
    try:
        validate_email(email)
    except DjangoValidationError:
        raise _field_error(
            field, _("Enter an email address in the correct format, like name@example.com")
        ) from None
    return email


# --- Businesses (platform admins, in the back office) -----------------------------------------


def business_register(
    *, actor: Any, name: str, registration_number: str, register_agency: Any = None
) -> Business:
    """Record a business people may act for (platform admins only)."""
    _require_platform_admin(actor)
    clean_name = " ".join(str(name or "").split())
    number = re.sub(r"\s+", "", str(registration_number or "")).upper()
    errors: dict[str, list[str | Promise]] = {}
    if not clean_name:
        errors["name"] = [_("Enter the business's name")]
    elif len(clean_name) > 200:
        errors["name"] = [_("The name must be 200 characters or fewer")]
    elif any(ord(char) < 32 or ord(char) == 127 for char in clean_name):
        errors["name"] = [_("Enter the name without control characters")]
    if not _REGISTRATION_NUMBER.match(number):
        errors["registration_number"] = [
            _("Enter the company number: 2 to 20 letters and digits, like 01234567")
        ]
    if errors:
        raise ValidationFailed(field_errors=errors)
    try:
        with transaction.atomic():
            business = Business.objects.create(
                name=clean_name,
                registration_number=number,
                register_agency=register_agency,
                created_by=actor,
            )
            audit_event_record(
                action="identity.business_registered",
                actor=actor,
                obj=business,
                data={"registration_number": number},
            )
    except IntegrityError:
        raise _field_error(
            "registration_number", _("A business with this company number is already recorded")
        ) from None
    return business


def _business_access_email(*, person: Any, business: Business) -> None:
    email_send_on_commit(
        template_dir=EMAIL_TEMPLATES,
        name="business_access_given",
        to=person.email,
        context={"business": business.name},
        preferred=person.preferred_language,
        link=("identity:acting-choose", {}),
    )


def business_representation_add(
    *,
    actor: Any,
    business: Business,
    person_email: str,
    role: str,
    all_services: bool = True,
    service_ids: Collection[Any] = (),
    can_delegate: bool = False,
    expires_on: date | None = None,
) -> BusinessRepresentation:
    """Record that a person represents a business (platform admins only).

    The person must have an account with a confirmed email address; ``expires_on`` is
    optional (a director represents the business until revoked).
    """
    _require_platform_admin(actor)
    email = _clean_email(person_email, "person_email")
    if role not in RepresentationRole.values:
        raise _field_error("role", _("Select the person's role"))
    scope = validate_services(all_services=all_services, service_ids=service_ids)
    if expires_on is not None:
        validate_expiry(expires_on=expires_on)
    person = accounts.user_with_confirmed_email(email=email)
    if person is None:
        raise _field_error(
            "person_email", _("Nobody has an account with this confirmed email address")
        )
    with transaction.atomic():
        representation = BusinessRepresentation.objects.create(
            business=business,
            person=person,
            role=role,
            all_services=all_services,
            service_ids=scope,
            can_delegate=bool(can_delegate),
            valid_from=timezone.now(),
            expires_at=_end_of_day(expires_on) if expires_on else None,
            granted_by=actor,
        )
        audit_event_record(
            action="identity.business_representation_added",
            actor=actor,
            obj=representation,
            data={
                "business": str(business.pk),
                "person": str(person.pk),
                "role": role,
                "services": scope or ["all"],
                "can_delegate": bool(can_delegate),
            },
        )
        _business_access_email(person=person, business=business)
    return representation


def business_representation_delegate(
    *,
    actor: Any,
    representation: BusinessRepresentation,
    colleague_email: str,
    all_services: bool,
    service_ids: Collection[Any],
    expires_on: Any,
) -> BusinessRepresentation:
    """Let a colleague act for the business, within the actor's own representation.

    Only a representative whose representation is in force and allows delegation may; the
    colleague gets no more services and no longer time than the actor has, cannot pass it
    on, and loses it when the actor's representation ends.
    """
    _require_signed_in(actor)
    now = timezone.now()
    if representation.person_id != actor.pk or not representation.is_valid_at(now):
        raise PermissionDenied()
    if not representation.can_delegate or representation.delegated_from_id is not None:
        raise PermissionDenied(_("Your role does not let you give colleagues access."))
    email = _clean_email(colleague_email, "colleague_email")
    # The last day the actor's own access covers (it ends at the start of the next day).
    latest = (
        timezone.localdate(representation.expires_at - timedelta(microseconds=1))
        if representation.expires_at
        else None
    )
    expiry = validate_expiry(expires_on=expires_on, latest=latest)
    scope = validate_services(all_services=all_services, service_ids=service_ids)
    if not representation.all_services and (
        all_services or not set(scope) <= set(representation.scopes)
    ):
        raise _field_error("services", _("You can only give access to services you can use"))
    colleague = accounts.user_with_confirmed_email(email=email)
    if colleague is None:
        raise _field_error(
            "colleague_email",
            _("Your colleague needs an account with this confirmed email address first"),
        )
    if colleague.pk == actor.pk:
        raise _field_error("colleague_email", _("You cannot give access to yourself"))
    with transaction.atomic():
        delegated = BusinessRepresentation.objects.create(
            business=representation.business,
            person=colleague,
            role=RepresentationRole.EMPLOYEE,
            all_services=all_services,
            service_ids=scope,
            can_delegate=False,
            valid_from=now,
            expires_at=_end_of_day(expiry),
            granted_by=actor,
            delegated_from=representation,
        )
        audit_event_record(
            action="identity.business_representation_delegated",
            actor=actor,
            obj=delegated,
            data={
                "business": str(representation.business_id),
                "person": str(colleague.pk),
                "from": str(representation.pk),
                "services": scope or ["all"],
            },
        )
        _business_access_email(person=colleague, business=representation.business)
    return delegated


def business_representation_revoke(
    *, actor: Any, representation: BusinessRepresentation
) -> BusinessRepresentation:
    """End a business representation (platform admins, or whoever delegated it)."""
    _require_signed_in(actor)
    source = representation.delegated_from
    delegator = source.person_id if source is not None else None
    if not (accounts.user_is_platform_admin(user=actor) or delegator == actor.pk):
        raise PermissionDenied()
    with transaction.atomic():
        locked = BusinessRepresentation.objects.select_for_update().get(pk=representation.pk)
        if locked.revoked_at is not None:
            raise Conflict(_("This access has already been removed."))
        locked.revoked_at = timezone.now()
        locked.revoked_by = actor
        locked.save(update_fields=["revoked_at", "revoked_by", "updated_at"])
        audit_event_record(
            action="identity.business_representation_revoked",
            actor=actor,
            obj=locked,
            data={"business": str(locked.business_id), "person": str(locked.person_id)},
        )
    return locked


# --- Mandates between people ------------------------------------------------------------------


def mandate_give(
    *,
    actor: Any,
    representative_email: str,
    all_services: bool,
    service_ids: Collection[Any] = (),
    expires_on: Any,
) -> Mandate:
    """Let another person act for the actor, for some or all services, until a date.

    The person is named by email address; if nobody has an account with that confirmed
    address yet, the mandate waits for them. An email tells them either way.
    """
    _require_signed_in(actor)
    email = _clean_email(representative_email, "representative_email")
    if email.lower() == actor.email.lower():
        raise _field_error("representative_email", _("You cannot give permission to yourself"))
    expiry = validate_expiry(expires_on=expires_on)
    scope = validate_services(all_services=all_services, service_ids=service_ids)
    representative = accounts.user_with_confirmed_email(email=email)
    if representative is not None and representative.pk == actor.pk:
        raise _field_error("representative_email", _("You cannot give permission to yourself"))
    now = timezone.now()
    same_person = Q(representative_email__iexact=email)
    if representative is not None:
        same_person |= Q(representative=representative)
    if Mandate.objects.valid_at(now).filter(same_person, giver=actor).exists():
        raise _field_error(
            "representative_email",
            _(
                "You have already given this person permission. To change it, withdraw it "
                "and give it again"
            ),
        )
    with transaction.atomic():
        mandate = Mandate.objects.create(
            giver=actor,
            representative=representative,
            representative_email=email,
            all_services=all_services,
            service_ids=scope,
            valid_from=now,
            expires_at=_end_of_day(expiry),
        )
        audit_event_record(
            action="identity.mandate_given",
            actor=actor,
            obj=mandate,
            data={
                "representative": str(representative.pk) if representative else "",
                "waiting_for_account": representative is None,
                "services": scope or ["all"],
                "expires_on": expiry.isoformat(),
            },
        )
        email_send_on_commit(
            template_dir=EMAIL_TEMPLATES,
            name="mandate_given",
            to=email,
            context={
                "giver": actor.full_name or actor.email,
                "expires_on": long_date(expiry, "en"),
                "has_account": representative is not None,
            },
            preferred=representative.preferred_language if representative else "en",
            link=("identity:acting-choose", {}),
        )
    return mandate


def mandate_revoke(*, actor: Any, mandate: Mandate) -> Mandate:
    """End a mandate the actor gave, at once; the representative is told by email."""
    _require_signed_in(actor)
    if mandate.giver_id != actor.pk:
        raise PermissionDenied()
    with transaction.atomic():
        locked = Mandate.objects.select_for_update().get(pk=mandate.pk)
        if locked.revoked_at is not None or locked.renounced_at is not None:
            raise Conflict(_("This permission has already ended."))
        locked.revoked_at = timezone.now()
        locked.save(update_fields=["revoked_at", "updated_at"])
        audit_event_record(
            action="identity.mandate_revoked",
            actor=actor,
            obj=locked,
            data={"representative": str(locked.representative_id or "")},
        )
        email_send_on_commit(
            template_dir=EMAIL_TEMPLATES,
            name="mandate_revoked",
            to=locked.representative.email
            if locked.representative
            else locked.representative_email,
            context={"giver": actor.full_name or actor.email},
            preferred=locked.representative.preferred_language if locked.representative else "en",
        )
    return locked


def mandate_renounce(*, actor: Any, mandate: Mandate) -> Mandate:
    """Decline or give up a mandate given to the actor (held, or waiting for their address)."""
    _require_signed_in(actor)
    if selectors.mandate_offered_to(user=actor, mandate_id=mandate.pk) is None:
        raise PermissionDenied()
    with transaction.atomic():
        locked = Mandate.objects.select_for_update().get(pk=mandate.pk)
        if locked.revoked_at is not None or locked.renounced_at is not None:
            raise Conflict(_("This permission has already ended."))
        locked.renounced_at = timezone.now()
        locked.representative = actor
        locked.save(update_fields=["renounced_at", "representative", "updated_at"])
        audit_event_record(
            action="identity.mandate_renounced",
            actor=actor,
            obj=locked,
            data={"giver": str(locked.giver_id)},
        )
    return locked


# --- Acting for someone -----------------------------------------------------------------------


def acting_start(
    *, session: SessionBase, actor: Any, kind: Any, mandate_id: Any
) -> selectors.ActingFor:
    """Start acting for the party of a mandate the actor holds (checked now, and on every
    request after)."""
    _require_signed_in(actor)
    acting = selectors.acting_for_resolve(user=actor, kind=kind, mandate_id=mandate_id)
    if acting is None:
        raise PermissionDenied(
            _("You cannot act for them: the permission has ended or is not yours.")
        )
    with transaction.atomic():
        if acting.kind == PARTY_PERSON:
            # A mandate that waited for the actor's address becomes theirs when first used.
            Mandate.objects.filter(pk=acting.mandate_id, representative__isnull=True).update(
                representative=actor
            )
        audit_event_record(
            action="identity.acting_started",
            actor=actor,
            object_type="identity.mandate"
            if acting.kind == PARTY_PERSON
            else "identity.businessrepresentation",
            object_id=acting.mandate_id,
            data={"kind": acting.kind, "party": acting.party_id},
        )
    session[ACTING_FOR_SESSION_KEY] = {"kind": acting.kind, "id": acting.mandate_id}
    return acting


def acting_stop(*, session: SessionBase, actor: Any, reason: str = "stopped") -> bool:
    """Stop acting for anyone; return False when the session was not acting for anyone.

    ``reason`` is "stopped" (the person chose to) or "ended" (the mandate is no longer valid).
    """
    stored = session.get(ACTING_FOR_SESSION_KEY)
    if stored is None:
        return False
    session.pop(ACTING_FOR_SESSION_KEY, None)
    kind = stored.get("kind") if isinstance(stored, dict) else ""
    audit_event_record(
        action="identity.acting_stopped",
        actor=actor,
        object_type="identity.mandate"
        if kind == PARTY_PERSON
        else "identity.businessrepresentation",
        object_id=str(stored.get("id", ""))[:100] if isinstance(stored, dict) else "",
        reason=reason,
        data={"kind": kind if kind in (PARTY_PERSON, PARTY_BUSINESS) else ""},
    )
    return True


# =============================================================================================
# OpenID Connect provider: clients, consents, signing keys
# =============================================================================================

GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
_SECRET_METHODS = {AuthMethod.CLIENT_SECRET_BASIC, AuthMethod.CLIENT_SECRET_POST}
_PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
_LOOPBACK = {"localhost", "127.0.0.1", "[::1]", "::1"}
_MAX_URIS = 20
_MAX_URI_LENGTH = 2000


def _development() -> bool:
    return str(settings.ENVIRONMENT) == "development"


def _uri_problem(uri: str) -> str | None:
    if not isinstance(uri, str) or not uri or len(uri) > _MAX_URI_LENGTH:
        return gettext("Enter a web address of at most 2,000 characters")
    if any(ch.isspace() or ord(ch) < 32 for ch in uri) or "*" in uri:
        return gettext("A web address cannot contain spaces or wildcards")
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return gettext("Enter a full web address, like https://service.example/callback")
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        return gettext("Enter a full web address, like https://service.example/callback")
    if parts.fragment or "#" in uri:
        return gettext("A redirect address cannot have a fragment (#)")
    if parts.username or parts.password:
        return gettext("A web address cannot contain a user name or password")
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK and not _development():
        return gettext("Use https (http only for this computer, localhost)")
    return None


def _uris_clean(values: list[str], field: str, errors: dict[str, list[str | Promise]]) -> list[str]:
    cleaned: list[str] = []
    if not isinstance(values, list) or len(values) > _MAX_URIS:
        errors[field] = [gettext("Enter at most 20 web addresses")]
        return []
    for value in values:
        uri = str(value).strip()
        if not uri:
            continue
        problem = _uri_problem(uri)
        if problem:
            errors.setdefault(field, []).append(problem)
        elif uri not in cleaned:
            cleaned.append(uri)
    return cleaned


def _https_link(value: str, field: str, errors: dict[str, list[str | Promise]]) -> str:
    link = (value or "").strip()
    if not link:
        return ""
    parts = urlsplit(link) if len(link) <= 500 else None
    scheme_ok = parts is not None and (
        parts.scheme == "https" or (parts.scheme == "http" and _development())
    )
    if parts is None or not scheme_ok or not parts.hostname or any(c.isspace() for c in link):
        errors[field] = [gettext("Enter an https web address of at most 500 characters")]
        return ""
    return link


def jwks_validate(value: Any) -> dict[str, Any]:
    """Validate a client's JSON Web Key Set: public RSA or P-256 keys only. Return it clean."""
    if not isinstance(value, dict) or not isinstance(value.get("keys"), list):
        raise ValueError(gettext('Enter a JSON Web Key Set: {"keys": [ ... ]}'))
    found = value["keys"]
    if not 1 <= len(found) <= 10:
        raise ValueError(gettext("A key set needs between 1 and 10 keys"))
    clean = []
    for item in found:
        if not isinstance(item, dict):
            raise ValueError(gettext("Each key must be a JSON object"))
        if _PRIVATE_MEMBERS.intersection(item):
            raise ValueError(gettext("The key set contains a private key. Give public keys only"))
        if item.get("kty") not in {"RSA", "EC"}:
            raise ValueError(gettext("Only RSA and EC (P-256) keys are accepted"))
        if item.get("kty") == "EC" and item.get("crv") != "P-256":
            raise ValueError(gettext("Only RSA and EC (P-256) keys are accepted"))
        try:
            parsed = jwk.JWK(**item)
        except Exception as error:
            raise ValueError(gettext("A key could not be read")) from error
        if parsed.has_private:
            raise ValueError(gettext("The key set contains a private key. Give public keys only"))
        if item.get("kty") == "RSA" and parsed.get_op_key("verify").key_size < 2048:
            raise ValueError(gettext("RSA keys must be at least 2048 bits"))
        clean.append(
            parsed.export_public(as_dict=True)
            | {key: item[key] for key in ("kid", "alg", "use") if isinstance(item.get(key), str)}
        )
    return {"keys": clean}


def _client_values(
    *,
    name: str,
    redirect_uris: list[str],
    scopes: list[str],
    required_level: Level | str,
    auth_method: str,
    grant_types: list[str],
    jwks: dict[str, Any] | None,
    id_token_alg: str,
    post_logout_redirect_uris: list[str],
    logo_url: str,
    policy_url: str,
) -> dict[str, Any]:
    from oauth2_provider.settings import oauth2_settings

    errors: dict[str, list[str | Promise]] = {}
    clean_name = (name or "").strip()
    if not clean_name or len(clean_name) > 200:
        errors["name"] = [gettext("Enter the service's name, at most 200 characters")]
    uris = _uris_clean(list(redirect_uris or []), "redirect_uris", errors)
    logout_uris = _uris_clean(
        list(post_logout_redirect_uris or []), "post_logout_redirect_uris", errors
    )
    known = set(oauth2_settings.SCOPES)
    clean_scopes = [scope for scope in dict.fromkeys(scopes or []) if isinstance(scope, str)]
    if not clean_scopes or not set(clean_scopes) <= known:
        errors["scopes"] = [gettext("Choose the scopes the service may ask for")]
    kinds = [kind for kind in dict.fromkeys(grant_types or []) if isinstance(kind, str)]
    if not kinds or not set(kinds) <= set(GRANT_TYPES):
        errors["grant_types"] = [gettext("Choose how the service gets tokens")]
    elif "refresh_token" in kinds and "authorization_code" not in kinds:
        errors["grant_types"] = [gettext("Refresh tokens need the authorization code flow")]
    elif "authorization_code" in kinds and not uris and "redirect_uris" not in errors:
        errors["redirect_uris"] = [gettext("Enter at least one redirect address")]
    if "authorization_code" in kinds and "openid" not in clean_scopes and "scopes" not in errors:
        errors["scopes"] = [gettext("A service that signs people in needs the openid scope")]
    try:
        level = Level(required_level)
    except ValueError:
        errors["required_level"] = [gettext("Choose a level of assurance")]
        level = Level.LOW
    if auth_method not in AuthMethod.values:
        errors["auth_method"] = [gettext("Choose how the service authenticates")]
    clean_jwks: dict[str, Any] | None = None
    if auth_method == AuthMethod.PRIVATE_KEY_JWT:
        try:
            clean_jwks = jwks_validate(jwks)
        except ValueError as error:
            errors["jwks"] = [str(error)]
    elif jwks:
        errors["jwks"] = [gettext("A key set is only used with private_key_jwt")]
    if id_token_alg not in SigningAlg.values:
        errors["id_token_alg"] = [gettext("Choose RS256 or ES256")]
    logo = _https_link(logo_url, "logo_url", errors)
    policy = _https_link(policy_url, "policy_url", errors)
    if errors:
        raise ValidationFailed(field_errors=errors)
    return {
        "name": clean_name,
        "redirect_uris": " ".join(uris),
        "post_logout_redirect_uris": " ".join(logout_uris),
        "scopes_allowed": clean_scopes,
        "required_level": level.value,
        "auth_method": auth_method,
        "grant_types": kinds,
        "jwks": clean_jwks,
        "id_token_alg": id_token_alg,
        "logo_url": logo,
        "policy_url": policy,
        "authorization_grant_type": (
            Client.GRANT_AUTHORIZATION_CODE
            if "authorization_code" in kinds
            else Client.GRANT_CLIENT_CREDENTIALS
        ),
    }


def _new_secret(client: Client) -> str:
    from civicstack.identity.oidc.validator import secret_digest

    secret = secrets.token_urlsafe(32)  # 256 bits
    client.client_secret = secret_digest(secret)
    return secret


def client_register(
    *,
    actor: Any,
    name: str,
    redirect_uris: list[str],
    scopes: list[str],
    required_level: Level = Level.LOW,
    auth_method: str = "client_secret_basic",
    grant_types: list[str] | None = None,
    jwks: dict[str, Any] | None = None,
    id_token_alg: str = "RS256",  # noqa: S107 - an algorithm name
    post_logout_redirect_uris: list[str] | None = None,
    logo_url: str = "",
    policy_url: str = "",
    agency: Any = None,
) -> tuple[Client, str | None]:
    """Register an agency service as an OpenID Connect client (platform admins only).

    Return the client and, for the secret-based methods, its secret: shown once, stored
    only as an HMAC.
    """
    _require_platform_admin(actor)
    values = _client_values(
        name=name,
        redirect_uris=redirect_uris,
        scopes=scopes,
        required_level=required_level,
        auth_method=auth_method,
        grant_types=(
            list(grant_types)
            if grant_types is not None
            else ["authorization_code", "refresh_token"]
        ),
        jwks=jwks,
        id_token_alg=id_token_alg,
        post_logout_redirect_uris=list(post_logout_redirect_uris or []),
        logo_url=logo_url,
        policy_url=policy_url,
    )
    client = Client(
        **values,
        agency=agency,
        client_type=Client.CLIENT_CONFIDENTIAL,
        hash_client_secret=False,
        algorithm="",
        skip_authorization=False,
    )
    secret: str | None = None
    if values["auth_method"] in _SECRET_METHODS:
        secret = _new_secret(client)
    else:
        client.client_secret = ""
    with transaction.atomic():
        client.save()
        audit_event_record(
            action="identity.client_registered",
            actor=actor,
            obj=client,
            data={
                "client_id": client.client_id,
                "auth_method": client.auth_method,
                "scopes": list(client.scopes_allowed),
                "grant_types": list(client.grant_types),
                "required_level": client.required_level,
            },
        )
    return client, secret


def client_update(*, actor: Any, client: Client, **changes: Any) -> Client:
    """Change a client's registration (platform admins only); the secret is kept."""
    _require_platform_admin(actor)
    current = {
        "name": client.name,
        "redirect_uris": client.redirect_uris.split(),
        "scopes": list(client.scopes_allowed),
        "required_level": client.required_level,
        "auth_method": client.auth_method,
        "grant_types": list(client.grant_types),
        "jwks": client.jwks,
        "id_token_alg": client.id_token_alg,
        "post_logout_redirect_uris": client.post_logout_redirect_uris.split(),
        "logo_url": client.logo_url,
        "policy_url": client.policy_url,
    }
    agency = changes.pop("agency", client.agency)
    unknown = set(changes) - set(current)
    if unknown:
        raise TypeError(f"unknown client fields: {sorted(unknown)}")
    current.update(changes)
    values = _client_values(**current)
    secret: str | None = None
    changed = [key for key, value in values.items() if getattr(client, key) != value]
    with transaction.atomic():
        for key, value in values.items():
            setattr(client, key, value)
        client.agency = agency
        if values["auth_method"] in _SECRET_METHODS and not client.client_secret:
            secret = _new_secret(client)
        if values["auth_method"] not in _SECRET_METHODS:
            client.client_secret = ""
        client.save()
        audit_event_record(
            action="identity.client_changed",
            actor=actor,
            obj=client,
            data={"fields": sorted(changed), "new_secret": secret is not None},
        )
    client._new_secret = secret  # type: ignore[attr-defined]
    return client


def client_secret_rotate(*, actor: Any, client: Client) -> str:
    """Give a client a new secret (the old one stops working at once); return it, shown once."""
    _require_platform_admin(actor)
    if client.auth_method not in _SECRET_METHODS:
        raise ValidationFailed(
            field_errors={
                "auth_method": [gettext("This client authenticates with a key, not a secret")]
            }
        )
    with transaction.atomic():
        secret = _new_secret(client)
        client.secret_rotated_at = timezone.now()
        client.save(update_fields=["client_secret", "secret_rotated_at", "updated"])
        audit_event_record(action="identity.client_secret_rotated", actor=actor, obj=client)
    return secret


def _client_tokens_revoke(*, client: Client, user: Any | None = None) -> int:
    tokens = AccessToken.objects.filter(application=client)
    refresh = RefreshToken.objects.filter(application=client, revoked__isnull=True)
    if user is not None:
        tokens = tokens.filter(user=user)
        refresh = refresh.filter(user=user)
    now = timezone.now()
    refresh.update(revoked=now, updated=now, access_token=None)
    deleted, _ = tokens.delete()
    return deleted


def client_disable(*, actor: Any, client: Client) -> None:
    """Disable a client: it can get no token, and every token it holds stops working."""
    _require_platform_admin(actor)
    with transaction.atomic():
        Client.objects.filter(pk=client.pk).update(disabled_at=timezone.now())
        client.refresh_from_db()
        revoked = _client_tokens_revoke(client=client)
        audit_event_record(
            action="identity.client_disabled",
            actor=actor,
            obj=client,
            data={"tokens_revoked": revoked},
        )


def client_enable(*, actor: Any, client: Client) -> None:
    """Enable a disabled client again."""
    _require_platform_admin(actor)
    with transaction.atomic():
        Client.objects.filter(pk=client.pk).update(disabled_at=None)
        client.refresh_from_db()
        audit_event_record(action="identity.client_enabled", actor=actor, obj=client)


# --- Consent ---------------------------------------------------------------------------


def consent_give(*, user: Any, client: Client, scopes: list[str]) -> Consent:
    """Record that ``user`` agreed ``client`` may receive ``scopes``."""
    if not getattr(user, "is_authenticated", False):
        raise PermissionDenied()
    allowed = set(client.scopes_allowed)
    granted = [scope for scope in dict.fromkeys(scopes) if scope in allowed]
    with transaction.atomic():
        consent = (
            Consent.objects.select_for_update()
            .filter(user=user, client=client, revoked_at__isnull=True)
            .first()
        )
        if consent is None:
            consent = Consent.objects.create(user=user, client=client, scopes=granted)
        else:
            consent.scopes = granted
            consent.granted_at = timezone.now()
            consent.save(update_fields=["scopes", "granted_at", "updated_at"])
        audit_event_record(
            action="identity.consent_given",
            actor=user,
            obj=consent,
            data={"client_id": client.client_id, "scopes": granted},
        )
    return consent


def consent_revoke(*, user: Any, client: Client) -> int:
    """Withdraw ``user``'s consent for ``client`` and revoke every token it holds for them."""
    if not getattr(user, "is_authenticated", False):
        raise PermissionDenied()
    with transaction.atomic():
        now = timezone.now()
        ended = Consent.objects.filter(user=user, client=client, revoked_at__isnull=True).update(
            revoked_at=now, updated_at=now
        )
        revoked = _client_tokens_revoke(client=client, user=user)
        audit_event_record(
            action="identity.consent_revoked",
            actor=user,
            obj=client,
            data={"client_id": client.client_id, "consents": ended, "tokens_revoked": revoked},
        )
    return ended


# --- Token revocation on replay ------------------------------------------------------------


def code_reuse_revoke(*, grant: Grant) -> None:
    """A used authorization code came back: revoke every token its first use produced."""
    with transaction.atomic():
        if grant.access_token_id:
            AccessToken.objects.filter(pk=grant.access_token_id).delete()
        if grant.token_family:
            RefreshToken.revoke_family(grant.token_family)
        audit_event_record(
            action="identity.code_reused",
            actor=None,
            obj=grant.application,
            data={"grant": grant.pk, "token_family": str(grant.token_family or "")},
        )


def token_family_revoke(*, token_family: Any, client: Client, reason: str) -> None:
    """Revoke a refresh token family (a used refresh token came back) and its access tokens."""
    with transaction.atomic():
        RefreshToken.revoke_family(token_family)
        audit_event_record(
            action="identity.token_family_revoked",
            actor=None,
            obj=client,
            data={"token_family": str(token_family), "reason": reason},
        )


def oidc_tokens_refuse(
    *,
    client: Client,
    user: Any,
    reason: str,
    token_family: Any = None,
    access_token_id: int | None = None,
) -> None:
    """Revoke the tokens of a sign-in that may no longer be used, and audit why.

    Called when a refresh or a userinfo call finds the account disabled, the client
    disabled, the mandate behind ``represents`` ended, or the token family older than
    ``OIDC_FAMILY_MAX_SECONDS``: the refresh token family and the access token end.
    """
    with transaction.atomic():
        if access_token_id is not None:
            AccessToken.objects.filter(pk=access_token_id).delete()
        if token_family:
            RefreshToken.revoke_family(token_family)
        audit_event_record(
            action="identity.tokens_refused",
            actor=None,
            obj=client,
            data={
                "person": str(getattr(user, "pk", "")),
                "token_family": str(token_family or ""),
                "reason": reason,
            },
        )


# --- Signing keys -------------------------------------------------------------------------


def signing_keys_ensure() -> list[SigningKey]:
    """Make an active RS256 and ES256 signing key where none exists; return the new ones."""
    from civicstack.identity.oidc import keys

    made: list[SigningKey] = []
    with transaction.atomic():
        for alg in SigningAlg.values:
            if not SigningKey.objects.filter(alg=alg, retired_at__isnull=True).exists():
                key = keys.key_new(alg)
                key.save()
                made.append(key)
        if made:
            audit_event_record(
                action="identity.signing_keys_created",
                actor=None,
                data={"kids": [key.kid for key in made]},
            )
    keys.caches_clear()
    return made


def signing_keys_rotate() -> list[SigningKey]:
    """Make new keys (RS256 and ES256) that sign once relying parties can have seen them.

    The new keys are published at once and become active after the JWKS cache lifetime
    and a margin (``keys.activation_delay_seconds``); the keys they replace go on signing
    until then and count as retired from that moment. Retired keys stay in the JWKS until
    every token they signed has expired.
    """
    from civicstack.identity.oidc import keys

    with transaction.atomic():
        now = timezone.now()
        switch = now + timedelta(seconds=keys.activation_delay_seconds())
        # Keys not yet retired, or due to retire after the new keys take over (a second
        # rotation within the delay), retire when the new keys take over.
        replaced = SigningKey.objects.filter(Q(retired_at__isnull=True) | Q(retired_at__gt=switch))
        retired = list(replaced.values_list("kid", flat=True))
        replaced.update(retired_at=switch, updated_at=now)
        made = []
        for alg in SigningAlg.values:
            key = keys.key_new(alg)
            key.activated_at = switch
            key.save()
            made.append(key)
        audit_event_record(
            action="identity.signing_keys_rotated",
            actor=None,
            data={
                "new": [key.kid for key in made],
                "retired": retired,
                "switch_at": switch.isoformat(),
            },
        )
    keys.caches_clear()
    return made
