"""``civicstack notify_vapid_keys``: write the web push (VAPID) key and print its public half.

The private key goes to ``NOTIFY_VAPID_PRIVATE_KEY_FILE`` (a P-256 key in PEM, mode 0600).
An existing key is kept unless ``--force`` is given: browsers subscribed with the old key
cannot receive messages signed with a new one, and must subscribe again. ``--if-missing``
makes a key only when there is none, so ``make run`` can call it every time.
"""

from __future__ import annotations

import os
import tempfile
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from civicstack.notify.push import VapidKeyUnavailable, vapid_key_pem_new, vapid_public_key


class Command(BaseCommand):
    help = "Write a new web push (VAPID) private key and print the public key."

    def add_arguments(self, parser: ArgumentParser) -> None:
        group = parser.add_mutually_exclusive_group()
        group.add_argument(
            "--force",
            action="store_true",
            help="Replace an existing key (every browser must subscribe again).",
        )
        group.add_argument(
            "--if-missing",
            action="store_true",
            help="Do nothing if a key exists (print its public key).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(settings.NOTIFY_VAPID_PRIVATE_KEY_FILE)
        if path.exists() and not options["force"]:
            if options["if_missing"]:
                self._print_public(path, written=False)
                return
            raise CommandError(
                f"{path} already exists. Use --force to replace it; browsers subscribed with "
                "the old key will have to subscribe again."
            )
        pem, _public = vapid_key_pem_new()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if options["force"]:
                _replace(path, pem)
            else:
                _create(path, pem)
        except FileExistsError:
            raise CommandError(f"{path} was created by someone else meanwhile") from None
        except OSError as error:
            raise CommandError(f"Cannot write {path}: {error.strerror or error}") from None
        self._print_public(path, written=True)

    def _print_public(self, path: Path, *, written: bool) -> None:
        try:
            public = vapid_public_key()
        except VapidKeyUnavailable as error:
            raise CommandError(str(error)) from None
        if written:
            self.stdout.write(f"Wrote a new VAPID private key to {path}")
        else:
            self.stdout.write(f"Keeping the VAPID private key in {path}")
        self.stdout.write(f"Public key (applicationServerKey): {public}")


def _create(path: Path, pem: bytes) -> None:
    # Exclusive and 0600 from the first byte: no window with the umask's mode.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(pem)


def _replace(path: Path, pem: bytes) -> None:
    # Write beside it and rename, so a reader never sees half a key.
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".vapid-", suffix=".pem")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(pem)
        Path(temporary).chmod(0o600)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
