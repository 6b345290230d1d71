"""Forms of services, their versions, drafts in progress and submitted applications."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from civicstack.core.models import BaseModel


class Form(BaseModel):
    """The online form of one service; its content lives in versions."""

    service = models.OneToOneField(
        "catalogue.Service", on_delete=models.PROTECT, related_name="online_form"
    )
    published_version = models.ForeignKey(
        "FormVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"form of {self.service_id}"


class VersionStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    PUBLISHED = "published", _("Published")
    SUPERSEDED = "superseded", _("Superseded")


class FormVersion(BaseModel):
    """One version of a form definition; published versions are never edited again."""

    form = models.ForeignKey(Form, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=12, choices=VersionStatus.choices)
    source = models.TextField(help_text="The definition as the service owner wrote it (YAML).")
    definition = models.JSONField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["form", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["form", "number"], name="unique_form_version"),
            models.UniqueConstraint(
                fields=["form"],
                condition=models.Q(status="draft"),
                name="one_draft_version_per_form",
            ),
        ]

    def __str__(self) -> str:
        return f"version {self.number} ({self.status})"


class Draft(BaseModel):
    """An application in progress; it stays on the form version it was started with."""

    form_version = models.ForeignKey(FormVersion, on_delete=models.PROTECT, related_name="+")
    service = models.ForeignKey("catalogue.Service", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="form_drafts",
    )
    # For people applying without an account: where the save-and-return link went.
    email = models.EmailField(blank=True)
    language = models.CharField(max_length=5, default="en")
    answers = models.JSONField(default=dict)
    last_step = models.CharField(max_length=200, blank=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return f"draft {self.pk}"

    @property
    def holder(self) -> str:
        """The key that ties uploads to this draft before it becomes an application."""
        return f"draft:{self.pk}"


class ApplicationStatus(models.TextChoices):
    SUBMITTED = "submitted", _("Submitted")
    IN_PROGRESS = "in_progress", _("Being processed")
    INFORMATION_REQUESTED = "information_requested", _("More information needed")
    APPROVED = "approved", _("Approved")
    REFUSED = "refused", _("Refused")
    DECIDED = "decided", _("Decided")
    WITHDRAWN = "withdrawn", _("Withdrawn")


# An application the agency has not decided yet; it may still be withdrawn.
OPEN_STATUSES = frozenset(
    {
        ApplicationStatus.SUBMITTED,
        ApplicationStatus.IN_PROGRESS,
        ApplicationStatus.INFORMATION_REQUESTED,
    }
)


class Channel(models.TextChoices):
    ONLINE = "online", _("Online")
    API = "api", _("Agency or assisted digital")


class Application(BaseModel):
    """A submitted application: what the person sent, with the form version it was made on."""

    reference = models.CharField(max_length=20, unique=True)
    service = models.ForeignKey("catalogue.Service", on_delete=models.PROTECT, related_name="+")
    form_version = models.ForeignKey(FormVersion, on_delete=models.PROTECT, related_name="+")
    applicant = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="applications",
    )
    contact_name = models.CharField(max_length=200, blank=True)
    contact_email = models.EmailField(blank=True)
    language = models.CharField(max_length=5, default="en")
    answers = models.JSONField()
    status = models.CharField(
        max_length=30, choices=ApplicationStatus.choices, default=ApplicationStatus.SUBMITTED
    )
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.ONLINE)
    submitted_by_agency = models.ForeignKey(
        "accounts.Agency", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    submitted_at = models.DateTimeField()
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    # When the applicant acted for someone else (a business they represent, or a person who
    # gave them a mandate): that party, as it was named when the application was sent. The
    # applicant stays the person who acted.
    represented_kind = models.CharField(max_length=20, blank=True)
    represented_id = models.CharField(max_length=64, blank=True)
    represented_name = models.CharField(max_length=200, blank=True)
    represented_mandate_id = models.CharField(max_length=64, blank=True)
    # The draft an online application came from: a second submission of the same draft (a
    # double click, a retried POST) finds this row instead of making another.
    draft_id = models.UUIDField(null=True, blank=True, unique=True)
    # The API's Idempotency-Key (per API key) and a hash of the request body, kept on the
    # application itself so a submission writes no extra row; cleared after the replay
    # window so the key may be used again.
    idempotency_scope = models.CharField(max_length=100, blank=True)
    # NULL, not "", means no key: only set keys take part in the unique constraint.
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    request_hash = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-submitted_at"]
        indexes = [
            models.Index(fields=["applicant", "-submitted_at"]),
            # Applications made on a person's behalf, for their dashboard.
            models.Index(
                fields=["represented_id", "-submitted_at"], name="application_represented"
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["idempotency_scope", "idempotency_key"],
                condition=models.Q(idempotency_key__isnull=False),
                name="unique_application_idempotency_key",
            )
        ]

    def __str__(self) -> str:
        return self.reference


class TimelineKind(models.TextChoices):
    SUBMITTED = "submitted", _("Application sent")
    STATUS = "status", _("Status changed")
    MESSAGE = "message", _("Message from the agency")
    REPLY = "reply", _("Your reply")
    DECISION = "decision", _("Decision")
    WITHDRAWN = "withdrawn", _("Application withdrawn")


class ApplicationEntry(BaseModel):
    """One line of an application's timeline, as the applicant sees it."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="timeline")
    kind = models.CharField(max_length=20, choices=TimelineKind.choices)
    status = models.CharField(max_length=30, choices=ApplicationStatus.choices, blank=True)
    text = models.TextField(blank=True)
    from_agency = models.BooleanField(default=False)
    # Where the applicant acts on this entry (answer a request, read a letter).
    link_url = models.CharField(max_length=300, blank=True)
    link_text = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.kind} on {self.application_id}"
