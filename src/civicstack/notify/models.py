"""Notification senders, templates, notifications, subscriptions, preferences, reminders.

A *sender* is what GOV.UK Notify calls a service: it owns templates, API keys, limits and
the notifications it sent. Each catalogue service gets one when it first sends; agencies
may have senders of their own for messages that belong to no single service.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from civicstack.core.models import BaseModel


class Kind(models.TextChoices):
    EMAIL = "email", _("Email")
    SMS = "sms", _("Text message")
    PUSH = "push", _("Web push")
    LETTER = "letter", _("Letter")


class Sender(BaseModel):
    """A sending service: templates, API keys, rate limit and daily cap, notification log."""

    name = models.CharField(max_length=200)
    agency = models.ForeignKey("accounts.Agency", on_delete=models.PROTECT, related_name="+")
    service = models.OneToOneField(
        "catalogue.Service", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Requests per minute to the API (all keys of this sender) and messages per day.
    rate_limit_per_minute = models.PositiveIntegerField(default=3000)
    daily_limit = models.PositiveIntegerField(default=250_000)
    email_reply_to = models.EmailField(blank=True)
    sms_sender = models.CharField(max_length=11, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Template(BaseModel):
    """A message of one kind; its wording lives in numbered :class:`TemplateVersion` rows.

    ``sender`` is empty for the platform's own templates (``key`` names them, such as
    ``forms.application_submitted``); a sender overrides one by having a template with
    the same key.
    """

    sender = models.ForeignKey(
        Sender, null=True, blank=True, on_delete=models.CASCADE, related_name="templates"
    )
    key = models.SlugField(max_length=100, blank=True)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    version = models.PositiveIntegerField(default=1)
    archived = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["sender", "key"],
                condition=~Q(key=""),
                name="notify_template_key_per_sender",
            ),
            models.UniqueConstraint(
                fields=["key"],
                condition=Q(sender__isnull=True) & ~Q(key=""),
                name="notify_template_key_platform",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class TemplateVersion(models.Model):
    """One saved wording of a template, in English and Welsh. Never changed once saved."""

    template = models.ForeignKey(Template, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    subject_en = models.CharField(max_length=400, blank=True)
    body_en = models.TextField()
    subject_cy = models.CharField(max_length=400, blank=True)
    body_cy = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(fields=["template", "version"], name="notify_template_version")
        ]

    def __str__(self) -> str:
        return f"{self.template_id} v{self.version}"

    def wording(self, language: str) -> tuple[str, str]:
        """Return (subject, body) in ``language``, falling back to English."""
        if language == "cy" and self.body_cy.strip():
            return self.subject_cy or self.subject_en, self.body_cy
        return self.subject_en, self.body_en


class KeyType(models.TextChoices):
    NORMAL = "normal", _("Live")
    TEAM = "team", _("Team and guest list")
    TEST = "test", _("Test")


class ApiKey(BaseModel):
    """A Notify-compatible API key. The secret signs JWTs (HS256), so it is kept encrypted."""

    sender = models.ForeignKey(Sender, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    key_type = models.CharField(max_length=10, choices=KeyType.choices)
    secret_encrypted = models.BinaryField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class Status(models.TextChoices):
    """GOV.UK Notify's statuses, so API clients read them unchanged."""

    CREATED = "created", _("Queued")
    SENDING = "sending", _("Sending")
    PENDING = "pending", _("Pending")
    DELIVERED = "delivered", _("Delivered")
    PERMANENT_FAILURE = "permanent-failure", _("Not delivered: permanent failure")
    TEMPORARY_FAILURE = "temporary-failure", _("Not delivered: temporary failure")
    TECHNICAL_FAILURE = "technical-failure", _("Not delivered: technical failure")
    ACCEPTED = "accepted", _("Accepted for printing")
    RECEIVED = "received", _("Received by the print service")
    VALIDATION_FAILED = "validation-failed", _("Validation failed")
    CANCELLED = "cancelled", _("Cancelled")


FINAL_STATUSES = (
    Status.DELIVERED,
    Status.PERMANENT_FAILURE,
    Status.TEMPORARY_FAILURE,
    Status.TECHNICAL_FAILURE,
    Status.RECEIVED,
    Status.VALIDATION_FAILED,
    Status.CANCELLED,
)
FAILED_STATUSES = (
    Status.PERMANENT_FAILURE,
    Status.TEMPORARY_FAILURE,
    Status.TECHNICAL_FAILURE,
    Status.VALIDATION_FAILED,
)


class Notification(BaseModel):
    """One message to one recipient on one channel, from creation to its final status.

    The content is rendered when the row is written, so a retry sends exactly what was
    accepted. ``status`` is ``created`` while the message waits to be sent (first time or
    retry at ``next_attempt_at``), ``sending`` while a worker holds it (until
    ``claimed_until``), then a final status.
    """

    sender = models.ForeignKey(Sender, on_delete=models.PROTECT, related_name="notifications")
    template = models.ForeignKey(
        Template, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    template_version = models.PositiveIntegerField(null=True, blank=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    key_type = models.CharField(max_length=10, choices=KeyType.choices, default=KeyType.NORMAL)
    api_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # An email address, a phone number in E.164 form, or empty (push, letters to a person).
    recipient = models.CharField(max_length=320, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    language = models.CharField(max_length=5, default="en")
    personalisation: models.JSONField[Any] = models.JSONField(default=dict, blank=True)
    subject = models.CharField(max_length=1000, blank=True)
    body = models.TextField(blank=True)
    # Email and letters: the body with its formatting as HTML (values escaped).
    html = models.TextField(blank=True)
    # Postal address lines for letters (line_1 .. line_7), as Notify reports them.
    address: models.JSONField[Any] = models.JSONField(default=list, blank=True)
    postage = models.CharField(max_length=10, blank=True)
    reference = models.CharField(max_length=1000, blank=True)
    # Unique per sender when given: the same business event never makes two messages.
    # NULL, not "", when absent: the unique constraint must not treat two blanks as equal.
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.CREATED)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claimed_until = models.DateTimeField(null=True, blank=True)
    # Set while a send task for this row waits in the queue, so the sweeper adds no other.
    queued_until = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    failure_reason = models.CharField(max_length=500, blank=True)
    provider = models.CharField(max_length=50, blank=True)
    provider_reference = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    # Letters: the stored PDF in documents (to a person) and the print outbox file name.
    document_id = models.UUIDField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="created"),
                name="notify_due",
            ),
            models.Index(
                fields=["claimed_until"],
                condition=Q(status="sending"),
                name="notify_sending",
            ),
            models.Index(fields=["sender", "-created_at", "-id"], name="notify_sender_recent"),
            models.Index(fields=["sender", "reference"], name="notify_sender_reference"),
            models.Index(fields=["user", "-created_at"], name="notify_user_recent"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["sender", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="notify_idempotency",
            ),
            models.UniqueConstraint(
                fields=["provider", "provider_reference"],
                condition=Q(provider_reference__isnull=False),
                name="notify_provider_reference",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.id} ({self.status})"


class LetterPdf(models.Model):
    """The PDF of a precompiled letter sent through the API, kept until it is printed."""

    notification = models.OneToOneField(
        Notification, primary_key=True, on_delete=models.CASCADE, related_name="letter_pdf"
    )
    content = models.BinaryField()

    def __str__(self) -> str:
        return f"letter PDF of {self.notification_id}"


class PushSubscription(BaseModel):
    """A browser's Web Push subscription (RFC 8030 endpoint, RFC 8291 keys) for a person."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    endpoint = models.URLField(max_length=1000, unique=True)
    p256dh = models.CharField(max_length=200)
    auth = models.CharField(max_length=100)
    label = models.CharField(max_length=200, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    # Set when the push service says the subscription is gone (404/410).
    expired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.label or self.endpoint[:60]


class Preference(BaseModel):
    """How a person wants to hear from services. Email stays on for statutory messages."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    sms = models.BooleanField(default=False)
    push = models.BooleanField(default=False)
    letter = models.BooleanField(default=False)
    phone = models.CharField(max_length=20, blank=True)
    # Empty: the account's language.
    language = models.CharField(max_length=5, blank=True)
    # Local times (settings.TIME_ZONE); no texts or push messages between start and end.
    quiet_start = models.TimeField(null=True, blank=True)
    quiet_end = models.TimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"preferences of {self.user_id}"


class ReminderStatus(models.TextChoices):
    SCHEDULED = "scheduled", _("Scheduled")
    SENT = "sent", _("Sent")
    CANCELLED = "cancelled", _("Cancelled")


class Reminder(BaseModel):
    """A notification planned for a moment computed from case or application data.

    ``subject`` names what the reminder is about (``information_request:<id>``); one row
    per (kind, subject, local date) means no reminder is planned twice, whatever the
    clocks do.
    """

    kind = models.CharField(max_length=100)
    subject = models.CharField(max_length=200)
    local_date = models.DateField()
    due_at = models.DateTimeField()
    status = models.CharField(
        max_length=10, choices=ReminderStatus.choices, default=ReminderStatus.SCHEDULED
    )
    notification = models.ForeignKey(
        Notification, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    cancelled_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["due_at"]
        indexes = [
            models.Index(
                fields=["due_at"], condition=Q(status="scheduled"), name="notify_reminder_due"
            )
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "subject", "local_date"], name="notify_reminder_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.subject} {self.local_date}"


class DrainState(models.Model):
    """One row: until when a drain task is queued or running (see ``delivery``)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    busy_until = models.DateTimeField()

    def __str__(self) -> str:
        return f"drain busy until {self.busy_until}"


class RateCounter(models.Model):
    """A counter for one rate-limit window, raised with one atomic upsert."""

    key = models.CharField(max_length=200, primary_key=True)
    count = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.key}={self.count}"
