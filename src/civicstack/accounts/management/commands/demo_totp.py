"""``civicstack demo_totp EMAIL``: print the current authenticator code of a demo staff account."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from civicstack.accounts.services import demo_totp_code
from civicstack.core.errors import PermissionDenied


class Command(BaseCommand):
    help = "Print the current 6-digit code for a demo staff account (never in production)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("email", help="the demo account's email address")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            code = demo_totp_code(email=options["email"])
        except PermissionDenied as error:
            raise CommandError(str(error.message)) from error
        self.stdout.write(code)
