"""Case records, kept apart from the process engine that moves them along.

A case holds what the agency knows and did (applicant, answers, documents, status history,
notes, decisions); the BPMN engine's state is one JSON field beside it, so a process can
be replaced or upgraded without touching the record.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from civicstack.core.models import BaseModel


class Nation(models.TextChoices):
    ENGLAND = "england", _("England")
    WALES = "wales", _("Wales")
    SCOTLAND = "scotland", _("Scotland")
    NORTHERN_IRELAND = "northern-ireland", _("Northern Ireland")


class ProcessStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    PUBLISHED = "published", _("Published")
    SUPERSEDED = "superseded", _("Superseded")


class ProcessVersion(BaseModel):
    """One version of a service's BPMN process; a case stays on the version it started on."""

    service = models.ForeignKey(
        "catalogue.Service", on_delete=models.CASCADE, related_name="process_versions"
    )
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=12, choices=ProcessStatus.choices)
    name = models.CharField(max_length=200)
    process_id = models.CharField(max_length=200)
    xml = models.TextField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["service", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["service", "number"], name="unique_process_version"),
            models.UniqueConstraint(
                fields=["service"],
                condition=models.Q(status="published"),
                name="one_published_process_per_service",
            ),
        ]

    def __str__(self) -> str:
        return f"process {self.name} v{self.number}"


class CaseSettings(BaseModel):
    """How a service's cases are worked: outcomes, service level, approval and automation."""

    service = models.OneToOneField(
        "catalogue.Service", on_delete=models.CASCADE, related_name="case_settings"
    )
    # [{"value": "approved", "kind": "approve"|"refuse"|"other", "label_en": ..., "label_cy": ...}]
    outcomes = models.JSONField(default=list)
    target_working_days = models.PositiveSmallIntegerField(default=20)
    nation = models.CharField(max_length=20, choices=Nation.choices, default=Nation.ENGLAND)
    four_eyes = models.BooleanField(default=False)
    automation_enabled = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"case settings of {self.service_id}"


class CaseStatus(models.TextChoices):
    NEW = "new", _("New")
    IN_PROGRESS = "in_progress", _("In progress")
    WAITING_APPLICANT = "waiting_applicant", _("Waiting for the applicant")
    AWAITING_APPROVAL = "awaiting_approval", _("Decision awaiting approval")
    DECIDED = "decided", _("Decided")
    WITHDRAWN = "withdrawn", _("Withdrawn")


OPEN_CASE_STATUSES = (
    CaseStatus.NEW,
    CaseStatus.IN_PROGRESS,
    CaseStatus.WAITING_APPLICANT,
    CaseStatus.AWAITING_APPROVAL,
)


class Priority(models.IntegerChoices):
    HIGH = 1, _("High")
    NORMAL = 2, _("Normal")
    LOW = 3, _("Low")


class Case(BaseModel):
    """The agency's record of one application, from arrival to decision."""

    reference = models.CharField(max_length=20, unique=True)
    service = models.ForeignKey("catalogue.Service", on_delete=models.PROTECT, related_name="+")
    agency = models.ForeignKey("accounts.Agency", on_delete=models.PROTECT, related_name="+")
    application_id = models.UUIDField(unique=True)
    application_reference = models.CharField(max_length=20)
    applicant = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    applicant_name = models.CharField(max_length=200, blank=True)
    applicant_email = models.EmailField(blank=True)
    representative = models.CharField(max_length=200, blank=True)
    # The party the applicant acted for, copied from the application (see forms).
    represented_kind = models.CharField(max_length=20, blank=True)
    represented_id = models.CharField(max_length=64, blank=True)
    represented_name = models.CharField(max_length=200, blank=True)
    represented_mandate_id = models.CharField(max_length=64, blank=True)
    language = models.CharField(max_length=5, default="en")
    answers = models.JSONField(default=dict)
    status = models.CharField(max_length=20, choices=CaseStatus.choices, default=CaseStatus.NEW)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Who the case waits on now: a lane of the process (caseworker, supervisor, applicant)
    # or "" once it is closed. Queues filter on it.
    waiting_on = models.CharField(max_length=20, blank=True)
    current_task = models.CharField(max_length=200, blank=True)
    process_version = models.ForeignKey(ProcessVersion, on_delete=models.PROTECT, related_name="+")
    workflow_state = models.JSONField(default=dict)
    next_timer_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField()
    due_on = models.DateField()
    warned_at = models.DateTimeField(null=True, blank=True)
    breached_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=40, blank=True)
    # Bumped by every change, so a form posted from a stale page is refused.
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["due_on", "id"]
        indexes = [
            # Queues: open cases of an agency in due order, keyset on (due_on, id).
            models.Index(
                fields=["agency", "due_on", "id"],
                condition=models.Q(closed_at__isnull=True),
                name="case_open_queue",
            ),
            models.Index(
                fields=["assignee", "due_on", "id"],
                condition=models.Q(closed_at__isnull=True),
                name="case_assignee_queue",
            ),
            models.Index(
                fields=["next_timer_at"],
                condition=models.Q(next_timer_at__isnull=False),
                name="case_timers_due",
            ),
            models.Index(
                fields=["agency", "priority", "due_on", "id"],
                condition=models.Q(closed_at__isnull=True),
                name="case_priority_queue",
            ),
            models.Index(
                fields=["agency", "received_at", "id"],
                condition=models.Q(closed_at__isnull=True),
                name="case_received_queue",
            ),
            # Closed cases only (throughput): on all cases SQLite would choose it for the
            # open queues too, and sort every open case.
            models.Index(
                fields=["agency", "closed_at"],
                condition=models.Q(closed_at__isnull=False),
                name="case_agency_closed",
            ),
        ]

    def __str__(self) -> str:
        return self.reference

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


class EntryKind(models.TextChoices):
    CREATED = "created", _("Case created")
    STATUS = "status", _("Status changed")
    ASSIGNED = "assigned", _("Assigned")
    AUTOMATION = "automation", _("Automated step")
    TASK = "task", _("Task")
    NOTE = "note", _("Note")
    INFORMATION_REQUESTED = "information_requested", _("Information requested")
    INFORMATION_RECEIVED = "information_received", _("Information received")
    DECISION_PROPOSED = "decision_proposed", _("Decision proposed")
    DECISION_RETURNED = "decision_returned", _("Decision returned")
    DECIDED = "decided", _("Decision made")
    LETTER = "letter", _("Letter issued")
    SLA = "sla", _("Service level")
    LINKED = "linked", _("Case linked")
    WITHDRAWN = "withdrawn", _("Withdrawn by the applicant")


class CaseEntry(BaseModel):
    """One line of the case's timeline: everything that happened, by whom, with its data."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="entries")
    kind = models.CharField(max_length=30, choices=EntryKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=20, choices=CaseStatus.choices, blank=True)
    text = models.TextField(blank=True)
    data = models.JSONField(default=dict)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["case", "created_at"])]

    def __str__(self) -> str:
        return f"{self.kind} on {self.case_id}"


class CaseLink(BaseModel):
    """Two cases that belong together (the same person, the same property)."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="links")
    other = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(max_length=200)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["case", "other"], name="unique_case_link"),
        ]

    def __str__(self) -> str:
        return f"{self.case_id} -> {self.other_id}"


class WorkItemStatus(models.TextChoices):
    OPEN = "open", _("Open")
    DONE = "done", _("Done")
    CANCELLED = "cancelled", _("Cancelled")


class WorkItem(BaseModel):
    """A user task of the case's process: who should do what, and who did it."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="work_items")
    task_id = models.CharField(max_length=64)
    element_id = models.CharField(max_length=200)
    name = models.CharField(max_length=200)
    lane = models.CharField(max_length=20)
    status = models.CharField(
        max_length=10, choices=WorkItemStatus.choices, default=WorkItemStatus.OPEN
    )
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["case", "task_id"], name="unique_work_item_task"),
        ]

    def __str__(self) -> str:
        return f"{self.element_id} on {self.case_id}"


class InformationRequest(BaseModel):
    """A question the caseworker asked the applicant, and their answer."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="information_requests")
    question = models.TextField()
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    due_on = models.DateField()
    answer = models.TextField(blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    # Set when the deadline passed without a reply: the request can no longer be answered.
    expired_at = models.DateTimeField(null=True, blank=True)
    document_ids = models.JSONField(default=list)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"request on {self.case_id}"

    @property
    def is_open(self) -> bool:
        return self.answered_at is None and self.expired_at is None

    @property
    def holder(self) -> str:
        """The key that ties the applicant's uploads to this request until they answer."""
        return f"request:{self.pk}"


class DecisionStatus(models.TextChoices):
    PROPOSED = "proposed", _("Awaiting approval")
    RETURNED = "returned", _("Returned")
    FINAL = "final", _("Final")


class Decision(BaseModel):
    """An outcome with its reasons; under four-eyes it is final only once approved."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="decisions")
    outcome = models.CharField(max_length=40)
    outcome_kind = models.CharField(max_length=10)
    reasons = models.TextField()
    status = models.CharField(max_length=10, choices=DecisionStatus.choices)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    automated = models.BooleanField(default=False)
    rule_findings = models.JSONField(default=list)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    review_note = models.TextField(blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    letter_id = models.UUIDField(null=True, blank=True)
    # A permit or licence granted for a time: its last valid day (local date).
    valid_until = models.DateField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.outcome} ({self.status}) on {self.case_id}"


class RuleAction(models.TextChoices):
    CHECK = "check", _("Record a check")
    APPROVE = "approve", _("Approve when every check passes")


class AutomationRule(BaseModel):
    """A rule without code: conditions on the answers and documents, and what passing means.

    A rule never refuses. When an approving rule's conditions fail, the case goes to a
    person with the rule's findings.
    """

    service = models.ForeignKey(
        "catalogue.Service", on_delete=models.CASCADE, related_name="automation_rules"
    )
    name = models.CharField(max_length=200)
    position = models.PositiveSmallIntegerField(default=0)
    enabled = models.BooleanField(default=True)
    action = models.CharField(max_length=10, choices=RuleAction.choices, default=RuleAction.CHECK)
    # [{"field": "answers.age", "operator": "gte", "value": 18}, ...] (see cases.rules)
    conditions = models.JSONField(default=list)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["service", "position", "created_at"]

    def __str__(self) -> str:
        return self.name


class CaseAccess(models.Model):
    """Who opened a case, when and why: kept for the citizen's data usage view."""

    id = models.BigAutoField(primary_key=True)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    agency = models.ForeignKey(
        "accounts.Agency", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    purpose = models.CharField(max_length=40)
    channel = models.CharField(max_length=10)
    at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["case", "-at"])]

    def __str__(self) -> str:
        return f"{self.purpose} of {self.case_id}"
