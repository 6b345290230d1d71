"""``civicstack documents_keys``: the key-encryption keys that protect stored documents.

- ``status``: how many documents each key wraps, and which key is current.
- ``rotate``: add a new key to the key ring file and make it current (old keys stay).
- ``rewrap``: re-wrap every document's data key with the current key, in batches; safe
  while the site runs, idempotent and resumable. File ciphertext is never rewritten.
- ``generate``: print a new "id:key" pair to put at the front of DOCUMENT_KEYS.
"""

from __future__ import annotations

import base64
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from civicstack.conf.env import ConfigurationError
from civicstack.documents import crypto, selectors, services


class Command(BaseCommand):
    help = "Show, rotate and re-wrap the keys that protect stored documents."

    def add_arguments(self, parser: ArgumentParser) -> None:
        commands = parser.add_subparsers(dest="action", required=True)
        commands.add_parser("status", help="Count documents per key.")
        commands.add_parser("rotate", help="Make a new key current in the key ring file.")
        rewrap = commands.add_parser("rewrap", help="Re-wrap data keys with the current key.")
        rewrap.add_argument("--batch-size", type=int, default=200)
        commands.add_parser("generate", help="Print a new id:key pair for DOCUMENT_KEYS.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, f"_{options['action']}")(options)
        except ConfigurationError as exc:
            raise CommandError(str(exc)) from exc

    def _status(self, options: dict[str, Any]) -> None:
        ring = crypto.key_ring_load()
        counts = selectors.document_key_counts()
        source = "DOCUMENT_KEYS" if not crypto.key_ring_uses_file() else "DOCUMENT_KEYS_FILE"
        self.stdout.write(f"Key ring from {source}; current key: {ring.current_id}")
        for key_id in dict.fromkeys([*ring.ids(), *counts]):
            note = "" if key_id in ring.ids() else "  (MISSING from the key ring)"
            self.stdout.write(f"  {key_id}: {counts.get(key_id, 0)} documents{note}")

    def _rotate(self, options: dict[str, Any]) -> None:
        key_id = services.document_key_rotate(actor=None)
        self.stdout.write(
            f"New current key {key_id}. Run `civicstack documents_keys rewrap` to re-wrap "
            "existing documents under it."
        )

    def _rewrap(self, options: dict[str, Any]) -> None:
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        count = services.documents_rewrap(actor=None, batch_size=options["batch_size"])
        ring = crypto.key_ring_load()
        left = sum(
            n for key, n in selectors.document_key_counts().items() if key != ring.current_id
        )
        self.stdout.write(f"Re-wrapped {count} documents under {ring.current_id}; {left} left.")

    def _generate(self, options: dict[str, Any]) -> None:
        key_id, key = crypto.key_new()
        self.stdout.write(f"{key_id}:{base64.urlsafe_b64encode(key).decode().rstrip('=')}")
