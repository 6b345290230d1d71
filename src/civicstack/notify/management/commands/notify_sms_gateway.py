"""``civicstack notify_sms_gateway``: run the stand-in text message gateway for development.

Start it beside ``make run`` and point Civicstack at it::

    NOTIFY_SMS_BACKEND=http NOTIFY_SMS_URL=http://127.0.0.1:8025/messages \\
    NOTIFY_SMS_TOKEN=dev-token civicstack serve
    NOTIFY_SMS_TOKEN=dev-token civicstack notify_sms_gateway --port 8025 \\
        --callback http://127.0.0.1:8000/notify/receipts/sms

Texts arrive on the console and in a JSON Lines file; receipts go back to the callback.
It is a stand-in for tests and demos only, never a way to send real messages.
"""

from __future__ import annotations

import ipaddress
from argparse import ArgumentParser, RawDescriptionHelpFormatter
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from civicstack.notify.standin_sms import SmsGateway

HELP = """Run a stand-in text message gateway on loopback, for development and demos.

Civicstack posts texts to it when started with
  NOTIFY_SMS_BACKEND=http NOTIFY_SMS_URL=http://127.0.0.1:8025/messages NOTIFY_SMS_TOKEN=...
and it posts delivery receipts back to --callback
(http://127.0.0.1:8000/notify/receipts/sms for `civicstack serve`).

Numbers ending in 900002 fail permanently and numbers ending in 900003 fail temporarily;
--refuse NUMBER makes the gateway refuse a number outright (HTTP 400). GET /messages lists
what arrived; POST /messages/<gateway id>/receipt {"status": ..., "reason": ...} posts a
receipt by hand. Stop it with Ctrl-C.

Example:
  civicstack notify_sms_gateway --port 8025 --callback http://127.0.0.1:8000/notify/receipts/sms
"""


class Command(BaseCommand):
    help = HELP

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.formatter_class = RawDescriptionHelpFormatter
        return parser

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Address to listen on (loopback).")
        parser.add_argument("--port", type=int, default=8025, help="Port to listen on (8025).")
        parser.add_argument(
            "--callback",
            default="",
            help="URL to post delivery receipts to, such as "
            "http://127.0.0.1:8000/notify/receipts/sms (none: no receipts).",
        )
        parser.add_argument(
            "--token",
            default="",
            help="Bearer token for messages and receipts (default: NOTIFY_SMS_TOKEN).",
        )
        parser.add_argument(
            "--receipts",
            choices=["immediate", "manual"],
            default="immediate",
            help="Post each receipt at once, or only when asked (POST .../receipt).",
        )
        parser.add_argument(
            "--store",
            default="",
            help="JSON Lines file recording texts and receipts "
            "(default: NOTIFY_OUTBOX_DIR/sms-gateway.jsonl).",
        )
        parser.add_argument(
            "--refuse",
            action="append",
            default=[],
            metavar="NUMBER",
            help="A number in E.164 form (+447700900404) to refuse with HTTP 400; repeatable.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        token = options["token"] or str(getattr(settings, "NOTIFY_SMS_TOKEN", "") or "")
        if not token:
            raise CommandError("Give --token or set NOTIFY_SMS_TOKEN: the gateway needs one.")
        host = options["host"]
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise CommandError("The stand-in gateway only listens on loopback addresses.")
        store = (
            Path(options["store"])
            if options["store"]
            else Path(settings.NOTIFY_OUTBOX_DIR) / "sms-gateway.jsonl"
        )
        gateway = SmsGateway(
            token=token,
            callback_url=options["callback"] or None,
            receipts=options["receipts"],
            host=host,
            port=options["port"],
            store=store,
            refused_numbers=options["refuse"],
        )
        gateway.start()
        self.stdout.write(f"Stand-in text message gateway on {gateway.url}")
        self.stdout.write(f"Recording texts in {store}")
        if gateway.callback_url:
            self.stdout.write(f"Posting receipts ({gateway.receipts}) to {gateway.callback_url}")
        self.stdout.write("Quit with Ctrl-C.")
        try:
            _wait_forever(gateway, self.stdout.write)
        except KeyboardInterrupt:
            pass
        finally:
            gateway.stop()


def _wait_forever(gateway: SmsGateway, write: Any) -> None:
    seen = 0
    while True:
        messages = gateway.messages
        for text in messages[seen:]:
            write(f"[{text.received_at}] to {text.to} from {text.sender or '-'}: {text.body}")
        seen = len(messages)
        if gateway.wait(0.5):
            return
