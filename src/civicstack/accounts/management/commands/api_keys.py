"""``civicstack api_keys create|list|revoke``: API keys for agency systems and counters.

``create --user <email>`` makes a personal key that acts as that member of staff (the case
API needs one); without it the key acts for the agency's system.
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from civicstack.accounts import selectors, services
from civicstack.accounts.constants import API_SCOPES
from civicstack.accounts.models import User, normalise_email
from civicstack.core.errors import CivicstackError


class Command(BaseCommand):
    help = "Create, list or revoke an agency's API keys (the secret is shown once)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="make a key and print its secret once")
        create.add_argument("--agency", required=True, help="the agency's slug")
        create.add_argument("--name", required=True, help="what the key is for")
        create.add_argument("--scope", action="append", choices=API_SCOPES, required=True)
        create.add_argument(
            "--user", help="email of the member of staff a personal key acts for", default=""
        )
        listing = sub.add_parser("list", help="list an agency's keys")
        listing.add_argument("--agency", required=True)
        revoke = sub.add_parser("revoke", help="stop a key working at once")
        revoke.add_argument("--agency", required=True)
        revoke.add_argument("--prefix", required=True, help="the key's prefix, from list")

    def handle(self, *args: Any, **options: Any) -> None:
        agency = selectors.agency_list().filter(slug=options["agency"]).first()
        if agency is None:
            raise CommandError(f"no agency with the slug {options['agency']!r}")
        try:
            if options["action"] == "create":
                user = None
                if options["user"]:
                    user = User.objects.filter(email=normalise_email(options["user"])).first()
                    if user is None:
                        raise CommandError(f"no person with the email {options['user']!r}")
                key, secret = services.api_key_create(
                    agency=agency,
                    name=options["name"],
                    scopes=options["scope"],
                    user=user,
                    actor=None,
                )
                self.stdout.write(f"{key.prefix}\t{secret}")
                return
            keys = selectors.api_keys_for_agency(agency=agency)
            if options["action"] == "list":
                for key in keys:
                    state = "revoked" if key.revoked_at else "live"
                    person = key.user.email if key.user else "-"
                    self.stdout.write(
                        f"{key.prefix}\t{state}\t{key.name}\t{','.join(key.scopes)}\t{person}"
                    )
                return
            found = keys.filter(prefix=options["prefix"]).first()
            if found is None:
                raise CommandError("no such key for that agency")
            services.api_key_revoke(key=found, actor=None)
        except CivicstackError as error:
            details = "; ".join(
                f"{field}: {' '.join(str(m) for m in messages)}"
                for field, messages in error.field_errors.items()
            )
            raise CommandError(
                f"{error.message} ({details})" if details else str(error.message)
            ) from error
