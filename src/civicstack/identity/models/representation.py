"""Acting for someone else: businesses and who represents them, and mandates between people.

A *business representation* says a person may act for a business (recorded by a platform
admin, or delegated by a representative whose own representation allows it). A *mandate*
says a person may act for the citizen who gave it. Both carry a scope (every service, or
chosen services of the catalogue), an expiry, and end early when revoked.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from civicstack.core.models import BaseModel
from civicstack.identity.constants import RepresentationRole


class Business(BaseModel):
    """A company or other registered organisation people may act for."""

    name = models.CharField(max_length=200)
    registration_number = models.CharField(
        max_length=20, unique=True, help_text="Company number, as the register prints it."
    )
    # The agency whose register the business was checked against, if any.
    register_agency = models.ForeignKey(
        "accounts.Agency", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "businesses"

    def __str__(self) -> str:
        return f"{self.name} ({self.registration_number})"


class RepresentationQuerySet(models.QuerySet["BusinessRepresentation"]):
    """Reusable filters on business representations."""

    def valid_at(self, when: datetime) -> RepresentationQuerySet:
        """Return the representations in force at ``when`` (a delegated one also needs its
        source to be in force)."""
        own = models.Q(revoked_at__isnull=True, valid_from__lte=when) & (
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=when)
        )
        source = models.Q(delegated_from__isnull=True) | (
            models.Q(delegated_from__revoked_at__isnull=True, delegated_from__valid_from__lte=when)
            & (
                models.Q(delegated_from__expires_at__isnull=True)
                | models.Q(delegated_from__expires_at__gt=when)
            )
        )
        return self.filter(own & source)


class BusinessRepresentation(BaseModel):
    """A person may act for a business, in a role, for some or all services, until expiry."""

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="representations")
    person = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="business_representations"
    )
    role = models.CharField(max_length=20, choices=RepresentationRole.choices)
    all_services = models.BooleanField(default=True)
    # Ids (as text) of the catalogue services covered when not all services.
    service_ids: models.JSONField[Any] = models.JSONField(default=list, blank=True)
    can_delegate = models.BooleanField(default=False)
    valid_from = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Set when a representative gave this to a colleague: it ends when its source ends.
    delegated_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="delegations"
    )

    objects = RepresentationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["person", "revoked_at"])]

    def __str__(self) -> str:
        return f"{self.person_id} for {self.business_id} ({self.role})"

    def is_valid_at(self, when: datetime) -> bool:
        """Return True when this representation (and its source, if delegated) is in force."""
        own = (
            self.revoked_at is None
            and self.valid_from <= when
            and (self.expires_at is None or self.expires_at > when)
        )
        if not own or self.delegated_from_id is None:
            return own
        source = self.delegated_from
        return source is not None and source.is_valid_at(when)

    @property
    def scopes(self) -> tuple[str, ...]:
        """Return the scope as ``("all",)`` or the covered service ids."""
        return ("all",) if self.all_services else tuple(str(s) for s in self.service_ids)


class MandateQuerySet(models.QuerySet["Mandate"]):
    """Reusable filters on mandates between people."""

    def valid_at(self, when: datetime) -> MandateQuerySet:
        """Return the mandates in force at ``when``."""
        return self.filter(
            revoked_at__isnull=True,
            renounced_at__isnull=True,
            valid_from__lte=when,
            expires_at__gt=when,
            giver__is_active=True,
        )


class Mandate(BaseModel):
    """A citizen lets another person act for them, for some or all services, until expiry.

    The representative is named by email address: when nobody has that (confirmed) address
    yet, ``representative`` stays empty until the person with it takes the mandate up.
    """

    giver = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mandates_given"
    )
    representative = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="mandates_held",
    )
    representative_email = models.EmailField()
    all_services = models.BooleanField(default=True)
    service_ids: models.JSONField[Any] = models.JSONField(default=list, blank=True)
    valid_from = models.DateTimeField()
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    renounced_at = models.DateTimeField(null=True, blank=True)

    objects = MandateQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["giver", "revoked_at"]),
            models.Index(fields=["representative", "revoked_at"]),
        ]

    def __str__(self) -> str:
        return f"mandate {self.pk}"

    def is_valid_at(self, when: datetime) -> bool:
        """Return True when the mandate is in force at ``when``."""
        return (
            self.revoked_at is None
            and self.renounced_at is None
            and self.valid_from <= when
            and self.expires_at > when
        )

    @property
    def status(self) -> str:
        """Return "revoked", "renounced", "expired" or "active" (as of now)."""
        if self.revoked_at is not None:
            return "revoked"
        if self.renounced_at is not None:
            return "renounced"
        if self.expires_at <= timezone.now():
            return "expired"
        return "active"

    @property
    def scopes(self) -> tuple[str, ...]:
        """Return the scope as ``("all",)`` or the covered service ids."""
        return ("all",) if self.all_services else tuple(str(s) for s in self.service_ids)
