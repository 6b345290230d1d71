"""``civicstack oidc_keys``: the OpenID Connect provider's ID token signing keys.

With no argument (or ``--if-missing``, for ``make run``) it makes an RS256 and an ES256 key
where there is no active one, and lists the keys. ``rotate`` makes new keys, published at
once and signing after the JWKS cache lifetime, when the old ones retire; retired keys stay
in the JWKS until every token they signed expired.
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from civicstack.identity import selectors, services


class Command(BaseCommand):
    help = "Make (if missing) or rotate the OpenID Connect signing keys, and list them."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("action", nargs="?", choices=["ensure", "rotate"], default="ensure")
        parser.add_argument(
            "--if-missing",
            action="store_true",
            help="Make keys only where none is active (the default action).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "rotate":
            made = services.signing_keys_rotate()
            switch = made[0].activated_at.isoformat() if made else ""
            self.stdout.write(
                f"Rotated: {len(made)} new keys are published; they sign from {switch}."
            )
        else:
            made = services.signing_keys_ensure()
            if made:
                self.stdout.write(f"Made {len(made)} signing keys.")
        if int(options.get("verbosity", 1)) >= 1:
            now = timezone.now()
            for key in selectors.signing_keys():
                if key.activated_at > now:
                    state = "signs from " + key.activated_at.isoformat()
                elif key.retired_at is None:
                    state = "active"
                elif key.retired_at > now:
                    state = "active, retires " + key.retired_at.isoformat()
                else:
                    state = "retired " + key.retired_at.isoformat()
                self.stdout.write(f"{key.alg} {key.kid} {state}")
