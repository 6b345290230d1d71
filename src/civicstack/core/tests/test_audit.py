"""The audit log: append, checkpoint, verify, and detection of every kind of tampering."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from civicstack.core import audit, merkle
from civicstack.core.context import RequestContext, use_context
from civicstack.core.models import AuditCheckpoint, AuditEvent, AuditLogHead

pytestmark = pytest.mark.django_db


def _append(count: int, start: int = 0) -> None:
    for number in range(start, start + count):
        audit.audit_event_record(
            action="test.thing_done",
            actor=None,
            object_type="test.thing",
            object_id=str(number),
            data={"n": number},
        )


def test_events_are_numbered_without_gaps_and_carry_their_context() -> None:
    """Each event gets the next sequence number and records where the request came from."""
    with use_context(RequestContext(request_id="abc", ip_address="192.0.2.7", channel="web")):
        _append(3)
    events = list(AuditEvent.objects.order_by("sequence"))
    assert [e.sequence for e in events] == [0, 1, 2]
    assert events[0].ip_address == "192.0.2.7"
    assert events[0].request_id == "abc"
    assert events[0].actor_label == "system"


def test_head_root_equals_the_merkle_root_of_the_rows() -> None:
    """The head's root after each append is the RFC 6962 root over all leaf hashes."""
    _append(7)
    head = AuditLogHead.objects.get(pk=1)
    leaves = [bytes(h) for h in AuditEvent.objects.values_list("leaf_hash", flat=True)]
    assert head.size == 7
    assert bytes(head.root) == merkle.root_from_leaf_hashes(leaves)


def test_a_rolled_back_change_leaves_no_audit_event() -> None:
    """An event recorded inside a transaction that fails is rolled back with it."""
    with pytest.raises(RuntimeError), transaction.atomic():
        _append(1)
        raise RuntimeError("business change failed")
    assert AuditEvent.objects.count() == 0
    # The head row comes from a migration; a flush by an earlier test on this worker removes
    # it, and the next event makes it again. Either way no event may be counted in it.
    head = AuditLogHead.objects.filter(pk=1).first()
    assert head is None or head.size == 0


def test_floats_and_other_unstable_values_are_refused() -> None:
    """Audit data that a database could print differently is refused before anything is written."""
    with pytest.raises(ValueError):
        audit.audit_event_record(action="x", actor=None, data={"amount": 1.5})
    assert AuditEvent.objects.count() == 0


def test_intact_log_verifies() -> None:
    """An untouched log with checkpoints verifies with no problems."""
    _append(5)
    assert audit.audit_checkpoint_create() is not None
    _append(4, start=5)
    assert audit.audit_checkpoint_create() is not None
    report = audit.audit_log_verify()
    assert report.ok, report.problems
    assert report.events == 9
    assert report.checkpoints == 2


def test_checkpoint_is_not_repeated_when_nothing_changed() -> None:
    """A second checkpoint at the same size is not made."""
    _append(2)
    assert audit.audit_checkpoint_create() is not None
    assert audit.audit_checkpoint_create() is None
    assert AuditCheckpoint.objects.count() == 1


def test_inclusion_and_consistency_proofs_verify_against_checkpoints() -> None:
    """Proofs from the stored log verify against the signed roots."""
    _append(6)
    first = audit.audit_checkpoint_create()
    _append(5, start=6)
    second = audit.audit_checkpoint_create()
    assert first is not None and second is not None
    event = AuditEvent.objects.get(sequence=3)
    proof = audit.audit_inclusion_proof(sequence=3, tree_size=second.size)
    assert merkle.verify_inclusion(
        leaf_hash=merkle.leaf_hash(audit.event_bytes(event)),
        index=3,
        tree_size=second.size,
        proof=proof,
        root=bytes(second.root),
    )
    consistency = audit.audit_consistency_proof(old_size=first.size, new_size=second.size)
    assert merkle.verify_consistency(
        old_size=first.size,
        new_size=second.size,
        old_root=bytes(first.root),
        new_root=bytes(second.root),
        proof=consistency,
    )


def _raw(sql: str, params: list[object]) -> None:
    # Tampering goes around the ORM, as an attacker with database access would.
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


TABLE = AuditEvent._meta.db_table


def test_edited_row_is_detected() -> None:
    """Changing any recorded field of an event is reported."""
    _append(4)
    audit.audit_checkpoint_create()
    _raw(f"UPDATE {TABLE} SET reason = %s WHERE sequence = %s", ["nothing to see", 2])  # noqa: S608
    report = audit.audit_log_verify()
    assert not report.ok
    assert any("event 2" in problem for problem in report.problems)


def test_edited_row_with_recomputed_leaf_is_detected_by_the_checkpoint() -> None:
    """Rewriting an event and its leaf hash still breaks the signed checkpoint root."""
    _append(4)
    audit.audit_checkpoint_create()
    event = AuditEvent.objects.get(sequence=1)
    event.reason = "rewritten"
    forged = merkle.leaf_hash(audit.event_bytes(event))
    _raw(
        f"UPDATE {TABLE} SET reason = %s, leaf_hash = %s WHERE sequence = %s",  # noqa: S608
        ["rewritten", forged, 1],
    )
    report = audit.audit_log_verify()
    assert any("signed checkpoint" in problem for problem in report.problems)


def test_deleted_row_is_detected() -> None:
    """Deleting an event is reported."""
    _append(5)
    audit.audit_checkpoint_create()
    _raw(f"DELETE FROM {TABLE} WHERE sequence = %s", [2])  # noqa: S608
    assert not audit.audit_log_verify().ok


def test_deleted_last_rows_are_detected() -> None:
    """Deleting the newest events (a truncation) is reported."""
    _append(5)
    audit.audit_checkpoint_create()
    _raw(f"DELETE FROM {TABLE} WHERE sequence >= %s", [3])  # noqa: S608
    assert not audit.audit_log_verify().ok


def test_reordered_rows_are_detected() -> None:
    """Swapping the sequence numbers of two events is reported."""
    _append(5)
    audit.audit_checkpoint_create()
    _raw(f"UPDATE {TABLE} SET sequence = %s WHERE sequence = %s", [999, 1])  # noqa: S608
    _raw(f"UPDATE {TABLE} SET sequence = %s WHERE sequence = %s", [1, 3])  # noqa: S608
    _raw(f"UPDATE {TABLE} SET sequence = %s WHERE sequence = %s", [3, 999])  # noqa: S608
    assert not audit.audit_log_verify().ok


def test_bad_checkpoint_signature_is_detected() -> None:
    """A checkpoint whose signature does not match is reported."""
    _append(3)
    checkpoint = audit.audit_checkpoint_create()
    assert checkpoint is not None
    bad = bytes(64)
    AuditCheckpoint.objects.filter(pk=checkpoint.pk).update(signature=bad)
    assert any("bad signature" in p for p in audit.audit_log_verify().problems)


MUTATIONS = st.sampled_from(["edit", "delete", "insert", "swap", "forge"])


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(size=st.integers(min_value=2, max_value=12), mutation=MUTATIONS, data=st.data())
def test_random_tampering_is_always_detected(size: int, mutation: str, data: st.DataObject) -> None:
    """Whatever single edit, deletion, insertion, swap or forgery is made, verify reports it."""
    with transaction.atomic():
        AuditEvent.objects.all().delete()
        AuditCheckpoint.objects.all().delete()
        AuditLogHead.objects.filter(pk=1).update(size=0, frontier=[], root=merkle.EMPTY_ROOT)
        _append(size)
        audit.audit_checkpoint_create()
        target = data.draw(st.integers(min_value=0, max_value=size - 1))
        if mutation == "edit":
            _raw(f"UPDATE {TABLE} SET action = %s WHERE sequence = %s", ["x.y", target])  # noqa: S608
        elif mutation == "delete":
            _raw(f"DELETE FROM {TABLE} WHERE sequence = %s", [target])  # noqa: S608
        elif mutation == "insert":
            event = AuditEvent.objects.get(sequence=target)
            AuditEvent.objects.filter(sequence__gte=target).order_by("-sequence")
            for row in AuditEvent.objects.filter(sequence__gte=target).order_by("-sequence"):
                AuditEvent.objects.filter(pk=row.pk).update(sequence=row.sequence + 1)
            AuditEvent.objects.create(
                sequence=target,
                occurred_at=event.occurred_at,
                actor_label="system",
                action="test.inserted",
                leaf_hash=merkle.leaf_hash(b"inserted"),
            )
        elif mutation == "swap":
            other = (target + 1) % size
            _raw(f"UPDATE {TABLE} SET sequence = %s WHERE sequence = %s", [10_000, target])  # noqa: S608
            _raw(f"UPDATE {TABLE} SET sequence = %s WHERE sequence = %s", [target, other])  # noqa: S608
            _raw(f"UPDATE {TABLE} SET sequence = %s WHERE sequence = %s", [other, 10_000])  # noqa: S608
        else:
            event = AuditEvent.objects.get(sequence=target)
            event.object_id = "forged"
            forged = merkle.leaf_hash(audit.event_bytes(event))
            AuditEvent.objects.filter(pk=event.pk).update(object_id="forged", leaf_hash=forged)
        report = audit.audit_log_verify()
        assert not report.ok, (mutation, target, size)
