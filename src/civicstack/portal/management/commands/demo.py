"""``civicstack demo load|synthetic``: demo content and people, and benchmark catalogues."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from civicstack.catalogue.services import catalogue_demo_load, catalogue_synthetic_generate


class Command(BaseCommand):
    help = "Load the demo catalogue and people (idempotent), or add a synthetic catalogue."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("load", help="load demo agencies, services, guides and people")
        sub.add_parser("sign-ins", help="print the demo sign-ins")
        synthetic = sub.add_parser("synthetic", help="add N synthetic services for benchmarks")
        synthetic.add_argument("--count", type=int, default=10_000)
        synthetic.add_argument("--seed", type=int, default=20261127)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "load":
            report = catalogue_demo_load()
            self.stdout.write(
                f"catalogue: {len(report.created)} created, {len(report.updated)} updated"
            )
            from civicstack.accounts.services import accounts_demo_load

            people = accounts_demo_load()
            self.stdout.write(f"people: {people.created} created")
            from civicstack.forms.services import forms_demo_load

            forms = forms_demo_load()
            self.stdout.write(f"forms: {forms} published or up to date")
            from civicstack.cases.services import cases_demo_load

            self.stdout.write(f"cases: {cases_demo_load()} services set up")
            from civicstack.identity.services import signing_keys_ensure

            self.stdout.write(f"sign-in (OpenID Connect) keys: {len(signing_keys_ensure())} made")
            return
        if options["action"] == "sign-ins":
            from civicstack.accounts.services import demo_sign_ins

            self.stdout.write("Demo sign-ins (staff: get the current code with")
            self.stdout.write("  .venv/bin/civicstack demo_totp EMAIL):")
            for description, email, password in demo_sign_ins():
                self.stdout.write(f"  {description:<28} {email:<36} {password}")
            return
        created = catalogue_synthetic_generate(count=options["count"], seed=options["seed"])
        self.stdout.write(f"synthetic services created: {created}")
