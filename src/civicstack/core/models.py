"""Shared model conventions and the kernel's own tables (references, audit log)."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models


class BaseModel(models.Model):
    """A UUID primary key (never guessable in URLs) and aware timestamps."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class ReferenceCounter(models.Model):
    """The last number handed out for a human reference prefix (``SVC``, ``APP-2026``)."""

    prefix = models.CharField(max_length=32, primary_key=True)
    last_value = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.prefix}: {self.last_value}"


class AuditEvent(models.Model):
    """One entry of the append-only, tamper-evident audit log.

    ``sequence`` runs 0, 1, 2, ... without gaps; ``leaf_hash`` is the RFC 6962 leaf hash of
    the entry's canonical bytes, so a Merkle tree over the log can be checkpointed, proved
    and verified. Rows are never updated or deleted by the application.
    """

    sequence = models.PositiveBigIntegerField(unique=True)
    occurred_at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
    )
    actor_label = models.CharField(max_length=200)
    action = models.CharField(max_length=100)
    object_type = models.CharField(max_length=100, blank=True)
    object_id = models.CharField(max_length=100, blank=True)
    reason = models.TextField(blank=True)
    ip_address = models.CharField(max_length=64, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    channel = models.CharField(max_length=20, blank=True)
    data: models.JSONField[Any] = models.JSONField(default=dict, blank=True)
    # Whom the actor was acting for ({"kind", "id", "mandate"}), when they were: hashed with
    # the rest of the event, so it cannot be added, changed or removed unnoticed.
    on_behalf_of: models.JSONField[Any] = models.JSONField(null=True, blank=True)
    leaf_hash = models.BinaryField(max_length=32)

    class Meta:
        ordering = ["sequence"]
        indexes = [
            models.Index(fields=["object_type", "object_id"]),
            models.Index(fields=["actor", "occurred_at"]),
        ]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.action} {self.object_type}:{self.object_id}"


class AuditLogHead(models.Model):
    """The log's current size and Merkle frontier; its row lock serialises appends."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    size = models.PositiveBigIntegerField(default=0)
    frontier: models.JSONField[Any] = models.JSONField(default=list)
    root = models.BinaryField(max_length=32)

    def __str__(self) -> str:
        return f"audit log head at {self.size}"


class AuditCheckpoint(models.Model):
    """A signed statement of the log's size and root hash at a moment."""

    size = models.PositiveBigIntegerField(unique=True)
    root = models.BinaryField(max_length=32)
    frontier: models.JSONField[Any] = models.JSONField(default=list)
    signed_at = models.DateTimeField()
    key_id = models.CharField(max_length=64)
    signature = models.BinaryField(max_length=64)

    class Meta:
        ordering = ["size"]

    def __str__(self) -> str:
        return f"checkpoint at {self.size}"


class SchedulerLease(models.Model):
    """Which scheduler instance may enqueue periodic jobs, until when.

    Several schedulers may run (one per machine); the one holding an unexpired lease is the
    only one that enqueues. The lease is taken with a conditional UPDATE, which is atomic on
    SQLite and PostgreSQL alike.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    holder = models.CharField(max_length=100, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"scheduler lease held by {self.holder or 'nobody'}"


class PeriodicJobRun(models.Model):
    """When each periodic job was last enqueued."""

    name = models.CharField(max_length=100, primary_key=True)
    last_enqueued_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} last enqueued {self.last_enqueued_at:%Y-%m-%d %H:%M}"


class OutboxEvent(models.Model):
    """A domain event written in the same transaction as the change that caused it.

    Delivery to subscribers happens after commit and again from the sweeper for any event
    whose delivery was cut short (a process killed between commit and dispatch), so an
    event that committed is always delivered at least once.
    """

    id = models.BigAutoField(primary_key=True)
    event_type = models.CharField(max_length=100)
    payload = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [
            models.Index(
                fields=["created_at"],
                condition=models.Q(delivered_at__isnull=True),
                name="outbox_undelivered",
            )
        ]

    def __str__(self) -> str:
        return f"{self.event_type} #{self.pk}"
