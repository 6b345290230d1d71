"""``civicstack audit verify|checkpoint|prove``: check and prove the audit log."""

from __future__ import annotations

import base64
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from civicstack.core import audit, merkle
from civicstack.core.models import AuditCheckpoint, AuditEvent


class Command(BaseCommand):
    help = "Verify the tamper-evident audit log, sign a checkpoint, or print proofs."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("verify", help="recompute every leaf and checkpoint; exit 1 on tampering")
        sub.add_parser("checkpoint", help="sign a checkpoint of the current log")
        prove = sub.add_parser("prove", help="print an inclusion proof for one event")
        prove.add_argument("sequence", type=int)
        consistency = sub.add_parser("consistency", help="prove one checkpoint extends another")
        consistency.add_argument("old_size", type=int)
        consistency.add_argument("new_size", type=int)

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "verify":
            report = audit.audit_log_verify()
            if report.ok:
                self.stdout.write(
                    f"audit log intact: {report.events} events, "
                    f"{report.checkpoints} signed checkpoints"
                )
                return
            for problem in report.problems:
                self.stderr.write(f"PROBLEM: {problem}")
            raise CommandError(f"audit log verification failed: {len(report.problems)} problems")
        if action == "checkpoint":
            checkpoint = audit.audit_checkpoint_create()
            if checkpoint is None:
                self.stdout.write("nothing new to checkpoint")
            else:
                root = base64.b64encode(bytes(checkpoint.root)).decode()
                self.stdout.write(f"checkpoint {checkpoint.size} {root}")
            return
        if action == "prove":
            checkpoint = AuditCheckpoint.objects.order_by("-size").first()
            if checkpoint is None or options["sequence"] >= checkpoint.size:
                raise CommandError("that event is not covered by a signed checkpoint yet")
            event = AuditEvent.objects.filter(sequence=options["sequence"]).first()
            if event is None:
                raise CommandError("no such event")
            proof = audit.audit_inclusion_proof(sequence=event.sequence, tree_size=checkpoint.size)
            ok = merkle.verify_inclusion(
                leaf_hash=merkle.leaf_hash(audit.event_bytes(event)),
                index=event.sequence,
                tree_size=checkpoint.size,
                proof=proof,
                root=bytes(checkpoint.root),
            )
            self.stdout.write(f"tree size {checkpoint.size}; proof verifies: {ok}")
            for node in proof:
                self.stdout.write(base64.b64encode(node).decode())
            return
        if action == "consistency":
            old, new = options["old_size"], options["new_size"]
            try:
                proof = audit.audit_consistency_proof(old_size=old, new_size=new)
            except merkle.MerkleError as exc:
                raise CommandError(str(exc)) from exc
            for node in proof:
                self.stdout.write(base64.b64encode(node).decode())
