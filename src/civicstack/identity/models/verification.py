"""Identity verification records: who checked a person's identity document, how and when."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from civicstack.core.models import BaseModel
from civicstack.identity.constants import Level


class IdentityVerificationQuerySet(models.QuerySet["IdentityVerification"]):
    """Reusable filters for verification records."""

    def current(self) -> IdentityVerificationQuerySet:
        """Return the records not revoked and not expired."""
        return self.filter(revoked_at__isnull=True, expires_at__gt=timezone.now())


class IdentityVerification(BaseModel):
    """One check of a person's identity against an identity document.

    Only what the check needs to stand on is kept: the kind of document, who issued it,
    when it expires and a keyed hash of its number (so the same document cannot verify two
    accounts), never the number itself. The national identifier, which a service may
    receive with the person's consent, is kept encrypted (AES-GCM, bound to this row), with
    a keyed hash of it so that it cannot verify two accounts either.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="identity_verifications"
    )
    method = models.CharField(max_length=40)
    level = models.CharField(max_length=12, choices=[(level.value, level.value) for level in Level])
    verified_at = models.DateTimeField(default=timezone.now)
    # None for an automated check; the staff member for an in-person one.
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # What the citizen is shown about who checked: a role and an agency, never a name.
    verifier_role = models.CharField(max_length=20, blank=True)
    verifier_agency = models.ForeignKey(
        "accounts.Agency", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    document_type = models.CharField(max_length=20)
    issuing_country = models.CharField(max_length=3)
    document_expires_on = models.DateField()
    document_number_hash = models.CharField(max_length=64, db_index=True)
    national_identifier_encrypted = models.BinaryField(null=True, blank=True)
    # A keyed hash of the national identifier within its country, so that one identifier
    # cannot confirm two people; empty when none was given, and erased on revocation.
    national_identifier_hash = models.CharField(max_length=64, blank=True, db_index=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    revocation_reason = models.CharField(max_length=500, blank=True)

    objects = IdentityVerificationQuerySet.as_manager()

    class Meta:
        ordering = ["-verified_at"]
        indexes = [models.Index(fields=["user", "-verified_at"], name="identity_verif_user")]
        constraints = [
            models.CheckConstraint(
                condition=Q(level__in=[level.value for level in Level]),
                name="identity_verification_level_valid",
            )
        ]

    def __str__(self) -> str:
        return f"{self.method} verification of {self.user_id}"

    @property
    def is_current(self) -> bool:
        """Return True while the record is neither revoked nor expired."""
        return self.revoked_at is None and self.expires_at > timezone.now()
