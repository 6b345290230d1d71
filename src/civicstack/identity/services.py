"""Writes of the identity app: each checks permission, does its work and audits it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from civicstack.accounts import selectors as accounts_selectors
from civicstack.accounts.constants import Role
from civicstack.core.audit import audit_event_record
from civicstack.core.errors import NotFound, PermissionDenied, ValidationFailed
from civicstack.core.registry import PluginNotFound
from civicstack.identity.models import IdentityVerification
from civicstack.identity.verification import (
    DocumentEvidence,
    document_number_hash,
    expires_at_for,
    method_allowed,
    national_identifier_encrypt,
    verification_methods,
)

# --- Identity verification (levels of assurance) ---------------------------------------------

REVOCATION_REASON_LIMIT = 500


def _staff_agency_and_role(*, actor: Any, agency_id: Any) -> tuple[Any, str]:
    """Return the agency the member of staff acts for and one of their roles there."""
    roles = accounts_selectors.staff_roles_by_agency(user=actor)
    if not roles:
        raise PermissionDenied(_("Only staff of an agency can check identity documents."))
    if agency_id is None or str(agency_id) not in {str(key) for key in roles}:
        if agency_id is not None or len(roles) > 1:
            raise ValidationFailed(field_errors={"agency": [_("Select the agency you work for")]})
        agency_id = next(iter(roles))
    held = next(held for key, held in roles.items() if str(key) == str(agency_id))
    agency = accounts_selectors.agency_list().filter(pk=agency_id).first()
    role = next((name for name in Role.values if name in held), sorted(held)[0])
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

    Methods performed by staff (the counter) need ``actor`` to be active staff with a role
    in an agency (``agency_id`` picks one when they have several), and never the person
    being verified. Stand-in methods are refused in production. The same document cannot
    verify two people: a document already behind someone else's current verification is
    refused. Only a keyed hash of the document number is kept.
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
    with transaction.atomic():
        taken = (
            IdentityVerification.objects.current()
            .filter(document_number_hash=number_hash)
            .exclude(user_id=user.pk)
            .exists()
        )
        if taken:
            raise ValidationFailed(
                field_errors={
                    "document_number": [_("This document already confirms someone else's identity")]
                }
            )
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
    national identifier is erased.
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
        locked.save(
            update_fields=[
                "revoked_at",
                "revoked_by",
                "revocation_reason",
                "national_identifier_encrypted",
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
