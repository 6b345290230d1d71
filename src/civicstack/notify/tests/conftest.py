"""Fixtures of the notifications tests: a sender, templates, and a real SMTP server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from django.test import override_settings

from civicstack.catalogue.tests.factories import ServiceFactory
from civicstack.notify import services
from civicstack.notify.models import Sender, Template


@pytest.fixture
def sender(db: None) -> Sender:
    """A sender for a published catalogue service."""
    return services.sender_for_service(service=ServiceFactory())


@pytest.fixture
def email_template(sender: Sender) -> Template:
    """An email template with a placeholder, a conditional and formatting."""
    return services.template_create(
        actor=None,
        sender=sender,
        kind="email",
        name="Permit ready",
        subject_en="Your permit ((reference)) is ready",
        body_en="# Permit\n\nDear ((name)),\n\nYour permit is ready.\n\n((paid??You have paid.))",
        subject_cy="Mae eich trwydded ((reference)) yn barod",
        body_cy="# Trwydded\n\nAnnwyl ((name)),\n\nMae eich trwydded yn barod.",
    )


@dataclass
class Received:
    """One message the SMTP server accepted."""

    envelope_to: list[str]
    message: Message


@dataclass
class SmtpServer:
    """An aiosmtpd server on loopback that keeps what it accepts (and can refuse)."""

    port: int = 0
    received: list[Received] = field(default_factory=list)
    # An SMTP reply to give instead of accepting ("550 5.1.1 No such user"), if set.
    refuse_with: str | None = None
    # Set to hold DATA until released (a worker killed while sending).
    hold: threading.Event | None = None
    holding: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.refuse_with:
            return self.refuse_with
        if self.hold is not None:
            self.holding.set()
            import asyncio

            while not self.hold.is_set():
                await asyncio.sleep(0.02)
            return "451 4.3.0 Try again later"
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        with self.lock:
            self.received.append(
                Received(envelope_to=list(envelope.rcpt_tos), message=message_from_bytes(content))
            )
        return "250 OK"

    def message_ids(self) -> list[str]:
        """Return the Message-ID of every accepted message, in order."""
        with self.lock:
            return [str(item.message["Message-ID"]) for item in self.received]


def free_port() -> int:
    """Return a loopback port nobody listens on just now."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _smtp_settings(port: int) -> dict[str, Any]:
    return {
        "MAILERS": {
            "default": {
                "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                "OPTIONS": {"host": "127.0.0.1", "port": port, "timeout": 5},
            }
        }
    }


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server on a free loopback port; Django's mail goes to it."""
    server = SmtpServer(port=free_port())
    controller = Controller(server, hostname="127.0.0.1", port=server.port)
    controller.start()
    try:
        with override_settings(**_smtp_settings(server.port)):
            yield server
    finally:
        if server.hold is not None:
            server.hold.set()
        controller.stop()
        from civicstack.notify.channels import email_channel

        email_channel.close()
