"""People, agencies, staff roles, second factors and sessions."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from civicstack.accounts.constants import AgencyKind, Role
from civicstack.core.models import BaseModel


class UserManager(BaseUserManager["User"]):
    """Create people with an email address as their sign-in name."""

    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        """Create a person; the address is normalised to lower case."""
        if not email:
            raise ValueError("An email address is required")
        user = self.model(email=normalise_email(email), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        """Create a platform administrator (Django admin access)."""
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


def normalise_email(email: str) -> str:
    """Return the address stripped and lower-cased, the form it is stored and matched in."""
    return email.strip().lower()


class User(AbstractBaseUser, PermissionsMixin):
    """A person: a citizen, a member of staff, or both."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(_("email address"), max_length=254, unique=True)
    full_name = models.CharField(_("full name"), max_length=200, blank=True)
    preferred_language = models.CharField(max_length=5, choices=settings.LANGUAGES, default="en")
    is_staff = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)
    email_verified_at = models.DateTimeField(null=True, blank=True)
    password_changed_at = models.DateTimeField(null=True, blank=True)

    objects: ClassVar[UserManager] = UserManager()  # type: ignore[assignment]

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        verbose_name = _("person")
        verbose_name_plural = _("people")

    def __str__(self) -> str:
        return self.full_name or self.email

    @property
    def mfa_required(self) -> bool:
        """Return True when this person must use a second factor (all staff)."""
        return self.is_staff

    @property
    def has_totp(self) -> bool:
        """Return True when a confirmed authenticator app exists."""
        device = getattr(self, "totp_device", None)
        return device is not None and device.confirmed_at is not None

    @property
    def has_passkey(self) -> bool:
        """Return True when at least one passkey is registered."""
        if not self.pk:
            return False
        return bool(self.passkeys.exists())

    @property
    def has_mfa(self) -> bool:
        """Return True when a second factor exists: an authenticator app or a passkey."""
        return self.has_totp or self.has_passkey


class Agency(BaseModel):
    """A public body that owns services and employs staff: a ministry, agency or council."""

    reference = models.CharField(max_length=20, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    kind = models.CharField(max_length=10, choices=AgencyKind.choices)
    name_en = models.CharField(max_length=200)
    name_cy = models.CharField(max_length=200)
    description_en = models.TextField(blank=True)
    description_cy = models.TextField(blank=True)
    phone = models.CharField(max_length=40, blank=True)
    opening_hours_en = models.CharField(max_length=200, blank=True)
    opening_hours_cy = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["name_en"]
        verbose_name_plural = "agencies"

    def __str__(self) -> str:
        return self.name_en


class StaffMembership(BaseModel):
    """A role a member of staff holds in one agency."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "agency", "role"], name="unique_staff_role")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.role} at {self.agency_id}"


class TOTPDevice(BaseModel):
    """An authenticator app enrolled as a second factor."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="totp_device")
    secret = models.CharField(max_length=64)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    # The last 30-second step accepted: a code for this step or an earlier one is refused,
    # so an observed code cannot be replayed.
    last_used_step = models.BigIntegerField(default=-1)

    def __str__(self) -> str:
        return f"authenticator app for {self.user_id}"


class Passkey(BaseModel):
    """A WebAuthn credential (a passkey or security key) registered by a person.

    It is a discoverable credential, so it can sign its owner in without a password; it
    also serves as a second factor after the password. Only the public key is kept.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="passkeys")
    # The credential id as base64url (up to 1023 bytes by the WebAuthn spec).
    credential_id = models.CharField(max_length=1400, unique=True)
    public_key = models.BinaryField()
    # The authenticator's signature counter: a value that does not go up (when either is
    # non-zero) means a cloned authenticator or a replayed assertion, and is refused.
    sign_count = models.PositiveBigIntegerField(default=0)
    transports = models.JSONField(default=list, blank=True)
    aaguid = models.CharField(max_length=36, blank=True)
    backup_eligible = models.BooleanField(default=False)
    backup_state = models.BooleanField(default=False)
    name = models.CharField(max_length=100)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"passkey {self.name} of {self.user_id}"


class RecoveryCode(BaseModel):
    """A single-use code for when the authenticator app is lost (stored hashed)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="recovery_codes")
    code_hash = models.CharField(max_length=128)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"recovery code for {self.user_id}"


class SignInAttempt(models.Model):
    """A failed or throttled sign-in, counted for brute-force protection.

    Only keyed hashes are stored: ``account_key`` of the normalised email address,
    ``address_key`` of the client's IP address and ``device_key`` of the device cookie's
    random id (blank when the browser presented no valid device cookie for the account).
    """

    id = models.BigAutoField(primary_key=True)
    account_key = models.CharField(max_length=64, db_index=True)
    address_key = models.CharField(max_length=64, db_index=True)
    device_key = models.CharField(max_length=64, blank=True, db_index=True)
    trusted_device = models.BooleanField(default=False)
    at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        indexes = [
            models.Index(fields=["account_key", "at"], name="signin_account_at"),
            models.Index(fields=["address_key", "at"], name="signin_address_at"),
        ]

    def __str__(self) -> str:
        return f"failed sign-in at {self.at:%Y-%m-%d %H:%M}"


class UserSession(BaseModel):
    """A signed-in session, listed on the account's sessions page."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="sessions")
    session_key = models.CharField(max_length=40, unique=True)
    authenticated_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    ip_address = models.CharField(max_length=64, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_seen_at"]

    def __str__(self) -> str:
        return f"session of {self.user_id}"


class ApiKey(BaseModel):
    """A key an agency's system (or an assisted-digital desk) uses to call Civicstack's APIs.

    Only a SHA-256 of the secret is kept: the secret has 256 bits of entropy, so a slow
    password hash would add nothing but latency to every API call.

    A personal key (``user`` set) acts as that member of staff, with exactly their
    permissions; it works only while they are active staff of the key's agency. An agency
    key (no ``user``) acts for the agency's system and cannot work cases.
    """

    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="api_keys")
    # Deleting the person deletes their keys: a personal key must never outlive its person
    # and become an agency key.
    user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    scopes = models.JSONField(default=list)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["agency", "name"]

    def __str__(self) -> str:
        return f"API key {self.prefix} ({self.name})"
