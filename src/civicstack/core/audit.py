"""The tamper-evident audit log: append, checkpoint, prove and verify.

Each event is serialised to canonical JSON, hashed as an RFC 6962 Merkle leaf and appended
under a row lock on the log head, in the same transaction as the change it records. The
head keeps the Merkle frontier, so the root after every append costs O(log n). Signed
checkpoints (Ed25519) fix the root at a size; ``civicstack audit verify`` recomputes every
leaf and every checkpoint root from the rows, so an edited, deleted, inserted or reordered
row is detected.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from civicstack.core import merkle
from civicstack.core.context import current_context
from civicstack.core.models import AuditCheckpoint, AuditEvent, AuditLogHead

FORMAT_VERSION = 1


def canonical_bytes(
    *,
    sequence: int,
    occurred_at: datetime,
    actor_id: str,
    actor_label: str,
    action: str,
    object_type: str,
    object_id: str,
    reason: str,
    ip_address: str,
    request_id: str,
    channel: str,
    data: Any,
    on_behalf_of: dict[str, str] | None = None,
) -> bytes:
    """Return the bytes that are hashed for one event (stable across databases).

    ``on_behalf_of`` is in the document only when set, so events recorded before it existed
    keep the bytes (and leaf hashes) they were written with.
    """
    document = {
        "v": FORMAT_VERSION,
        "sequence": sequence,
        "occurred_at": occurred_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor": actor_id,
        "actor_label": actor_label,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "reason": reason,
        "ip_address": ip_address,
        "request_id": request_id,
        "channel": channel,
        "data": data,
    }
    if on_behalf_of is not None:
        document["on_behalf_of"] = on_behalf_of
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_bytes(event: AuditEvent) -> bytes:
    """Return the canonical bytes of a stored event."""
    return canonical_bytes(
        sequence=event.sequence,
        occurred_at=event.occurred_at,
        actor_id=str(event.actor_id) if event.actor_id else "",
        actor_label=event.actor_label,
        action=event.action,
        object_type=event.object_type,
        object_id=event.object_id,
        reason=event.reason,
        ip_address=event.ip_address,
        request_id=event.request_id,
        channel=event.channel,
        data=event.data,
        on_behalf_of=event.on_behalf_of,
    )


def _check_data(value: Any, depth: int = 0) -> None:
    # Only JSON values that every database returns unchanged: no floats (jsonb and SQLite
    # may print them differently), no deep nesting.
    if depth > 8:
        raise ValueError("audit data is nested too deeply")
    if value is None or isinstance(value, (bool, str)):
        return
    if isinstance(value, int):
        if abs(value) > 2**53:
            raise ValueError("audit data integers must fit in 53 bits")
        return
    if isinstance(value, list):
        for item in value:
            _check_data(item, depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError("audit data keys must be strings")
            _check_data(item, depth + 1)
        return
    raise ValueError(f"audit data cannot hold {type(value).__name__}")


def audit_event_record(
    *,
    action: str,
    actor: Any | None,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: str = "",
    reason: str = "",
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append an event to the audit log inside the caller's transaction.

    ``actor`` is the person acting (None for the system); ``obj`` the object acted on.
    Personal data belongs in the object's own tables, not in ``data``: record ids and
    field names, not values. When the request context says the actor is acting for
    someone else, the event records that party too (``on_behalf_of``).
    """
    payload = data or {}
    _check_data(payload)
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
    context = current_context()
    actor_id = ""
    actor_label = "system"
    if actor is not None and getattr(actor, "is_authenticated", False):
        actor_id = str(actor.pk)
        actor_label = f"user:{actor.pk}"
    on_behalf_of = context.represented.as_data() if context.represented is not None else None
    # No savepoint: the event belongs to the caller's transaction and rolls back with it,
    # and a savepoint would cost two more statements on every audited change.
    with transaction.atomic(savepoint=False):
        head = _head_locked()
        occurred_at = timezone.now()
        content = canonical_bytes(
            sequence=head.size,
            occurred_at=occurred_at,
            actor_id=actor_id,
            actor_label=actor_label,
            action=action,
            object_type=object_type,
            object_id=object_id,
            reason=reason,
            ip_address=context.ip_address,
            request_id=context.request_id,
            channel=context.channel,
            data=payload,
            on_behalf_of=on_behalf_of,
        )
        leaf = merkle.leaf_hash(content)
        event = AuditEvent.objects.create(
            sequence=head.size,
            occurred_at=occurred_at,
            actor_id=actor_id or None,
            actor_label=actor_label,
            action=action,
            object_type=object_type,
            object_id=object_id,
            reason=reason,
            ip_address=context.ip_address,
            request_id=context.request_id,
            channel=context.channel,
            data=payload,
            on_behalf_of=on_behalf_of,
            leaf_hash=leaf,
        )
        frontier = _frontier_from_head(head)
        frontier.append(leaf)
        head.size = frontier.size
        head.frontier = [h.hex() for h in frontier.to_list()]
        head.root = frontier.root()
        head.save(update_fields=["size", "frontier", "root"])
    return event


def _head_locked() -> AuditLogHead:
    """Return the log head, locked for this transaction (made on first use if missing).

    The initial migration creates the head; tests that empty every table (live-server
    tests flush the database) would otherwise leave the log unable to append.
    """
    try:
        return AuditLogHead.objects.select_for_update().get(pk=1)
    except AuditLogHead.DoesNotExist:
        AuditLogHead.objects.get_or_create(
            pk=1, defaults={"size": 0, "frontier": [], "root": merkle.EMPTY_ROOT}
        )
        return AuditLogHead.objects.select_for_update().get(pk=1)


def _frontier_from_head(head: AuditLogHead) -> merkle.CompactRange:
    return merkle.CompactRange.from_list(head.size, [bytes.fromhex(h) for h in head.frontier])


# --- Signing --------------------------------------------------------------------------


def _private_key() -> Ed25519PrivateKey:
    pem: bytes
    if settings.AUDIT_SIGNING_KEY:
        pem = settings.AUDIT_SIGNING_KEY.encode()
    else:
        path = settings.AUDIT_SIGNING_KEY_FILE
        if not path.exists():
            if settings.PRODUCTION:
                raise RuntimeError("AUDIT_SIGNING_KEY or AUDIT_SIGNING_KEY_FILE must be set")
            path.parent.mkdir(parents=True, exist_ok=True)
            key = Ed25519PrivateKey.generate()
            path.write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
            path.chmod(0o600)
        pem = path.read_bytes()
    loaded = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise RuntimeError("the audit signing key must be an Ed25519 key")
    return loaded


def public_key() -> Ed25519PublicKey:
    """Return the public key that verifies checkpoint signatures."""
    return _private_key().public_key()


def key_id(key: Ed25519PublicKey) -> str:
    """Return a short, stable id for a public key."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def checkpoint_message(*, size: int, root: bytes, signed_at: datetime) -> bytes:
    """Return the text a checkpoint signature covers (origin, size, root, time)."""
    return (
        f"{settings.AUDIT_LOG_ORIGIN}\n{size}\n{base64.b64encode(root).decode()}\n"
        f"{signed_at.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S.%fZ')}\n"
    ).encode()


def audit_checkpoint_create() -> AuditCheckpoint | None:
    """Sign the log's current root; return None when nothing was added since the last one."""
    with transaction.atomic():
        head = _head_locked()
        if head.size == 0 or AuditCheckpoint.objects.filter(size=head.size).exists():
            return None
        private = _private_key()
        signed_at = timezone.now()
        root = bytes(head.root)
        signature = private.sign(checkpoint_message(size=head.size, root=root, signed_at=signed_at))
        return AuditCheckpoint.objects.create(
            size=head.size,
            root=root,
            frontier=list(head.frontier),
            signed_at=signed_at,
            key_id=key_id(private.public_key()),
            signature=signature,
        )


# --- Proofs ---------------------------------------------------------------------------


def _leaf_hashes(size: int) -> list[bytes]:
    rows = AuditEvent.objects.filter(sequence__lt=size).order_by("sequence")
    return [bytes(h) for h in rows.values_list("leaf_hash", flat=True).iterator(chunk_size=5000)]


def audit_inclusion_proof(*, sequence: int, tree_size: int) -> list[bytes]:
    """Return the proof that event ``sequence`` is in the tree of ``tree_size`` events."""
    return merkle.inclusion_proof(_leaf_hashes(tree_size), sequence)


def audit_consistency_proof(*, old_size: int, new_size: int) -> list[bytes]:
    """Return the proof that the tree of ``old_size`` is a prefix of that of ``new_size``."""
    return merkle.consistency_proof(_leaf_hashes(new_size), old_size)


# --- Verification ---------------------------------------------------------------------


@dataclass
class VerificationReport:
    """What ``audit verify`` found: problems is empty when the log is intact."""

    events: int = 0
    checkpoints: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Return True when no problem was found."""
        return not self.problems


def _iter_events() -> Iterator[AuditEvent]:
    return AuditEvent.objects.order_by("sequence").iterator(chunk_size=2000)


def audit_log_verify() -> VerificationReport:
    """Recompute every leaf, the head and every checkpoint root, and check signatures."""
    report = VerificationReport()
    checkpoints = list(AuditCheckpoint.objects.order_by("size"))
    by_size = {cp.size: cp for cp in checkpoints}
    try:
        verifier: Ed25519PublicKey | None = public_key()
    except (RuntimeError, ValueError) as exc:
        verifier = None
        report.problems.append(f"cannot load the signing key: {exc}")
    frontier = merkle.CompactRange()
    expected = 0
    for event in _iter_events():
        if event.sequence != expected:
            report.problems.append(
                f"sequence {event.sequence} found where {expected} was expected "
                "(a row was deleted, inserted or renumbered)"
            )
            expected = event.sequence
        recomputed = merkle.leaf_hash(event_bytes(event))
        if recomputed != bytes(event.leaf_hash):
            report.problems.append(f"event {event.sequence} does not match its leaf hash (edited)")
        frontier.append(recomputed)
        expected += 1
        checkpoint = by_size.get(frontier.size)
        if checkpoint is not None and frontier.root() != bytes(checkpoint.root):
            report.problems.append(
                f"the events up to {checkpoint.size} do not match the signed checkpoint"
            )
    report.events = frontier.size
    for checkpoint in checkpoints:
        report.checkpoints += 1
        if checkpoint.size > frontier.size:
            report.problems.append(
                f"checkpoint at {checkpoint.size} is beyond the log's {frontier.size} events"
                " (rows were deleted)"
            )
        if verifier is not None:
            message = checkpoint_message(
                size=checkpoint.size, root=bytes(checkpoint.root), signed_at=checkpoint.signed_at
            )
            try:
                verifier.verify(bytes(checkpoint.signature), message)
            except Exception:
                report.problems.append(f"checkpoint at {checkpoint.size} has a bad signature")
    head = AuditLogHead.objects.filter(pk=1).first()
    if head is None:
        if frontier.size:
            report.problems.append("the log head is missing")
    elif head.size != frontier.size or (frontier.size and bytes(head.root) != frontier.root()):
        report.problems.append(
            f"the log head ({head.size} events) does not match the rows ({frontier.size})"
        )
    return report
