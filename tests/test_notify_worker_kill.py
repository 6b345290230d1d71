"""A worker killed while sending an email: the sweeper takes the message back and it
arrives once.

Real processes on a SQLite file: a task worker (``db_worker``) starts sending the message
to an SMTP server on loopback, which holds the DATA command open; the worker is killed with
SIGKILL before the server accepts anything. A new worker and the scheduler start; once the
claim has run out the sweeper requeues the message and the mail server receives it once.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from civicstack.notify.tests.conftest import SmtpServer, free_port
from tests.processes import manage, start, stop, wait_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        bool(os.environ.get("DATABASE_URL")), reason="runs once, on the embedded default"
    ),
]

SETUP = """
from civicstack.catalogue.tests.factories import ServiceFactory
from civicstack.notify import delivery, services

sender = services.sender_for_service(service=ServiceFactory(slug="notify-kill-test"))
template = services.template_create(
    actor=None, sender=sender, kind="email", name="Hello",
    subject_en="Hello ((name))", body_en="Dear ((name)), this is a test.",
)
delivery.notification_create(
    sender=sender, kind="email", recipient="ann@example.org", template=template,
    personalisation={"name": "Ann"},
)
"""


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer(port=free_port(), hold=threading.Event())
    controller = Controller(server, hostname="127.0.0.1", port=server.port)
    controller.start()
    try:
        yield server
    finally:
        if server.hold is not None:
            server.hold.set()
        controller.stop()


@pytest.fixture
def environment(tmp_path: Path, smtp: SmtpServer) -> dict[str, str]:
    env = {
        **os.environ,
        "CIVICSTACK_VAR_DIR": str(tmp_path / "var"),
        "CIVICSTACK_ENVIRONMENT": "development",
        "DJANGO_SETTINGS_MODULE": "civicstack.conf.settings",
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp.port),
        "NOTIFY_CLAIM_SECONDS": "3",
    }
    for name in ("DATABASE_URL", "REDIS_URL"):
        env.pop(name, None)
    manage(env, "migrate", "--verbosity", "0")
    manage(env, "createcachetable")
    return env


def _status(env: dict[str, str]) -> tuple[str, int]:
    database = Path(env["CIVICSTACK_VAR_DIR"]) / "civicstack.sqlite3"
    with sqlite3.connect(database, timeout=10) as connection:
        row = connection.execute("SELECT status, attempts FROM notify_notification").fetchone()
    return str(row[0]), int(row[1])


def test_a_worker_killed_mid_send_is_replaced_and_the_mail_arrives_once(
    environment: dict[str, str], smtp: SmtpServer
) -> None:
    """SIGKILL during SMTP DATA; the sweeper requeues; the server receives one message."""
    manage(environment, "shell", "-c", SETUP)
    first = start(environment, "db_worker", "--interval", "0.2")
    processes = [first]
    try:
        assert smtp.holding.wait(60), "the worker started sending"
        assert _status(environment) == ("sending", 1)
        stop(first, signal.SIGKILL)
        assert smtp.hold is not None
        smtp.hold.set()  # the held session gets a 451 on a dead connection: nothing accepted
        time.sleep(0.5)
        assert smtp.received == []
        smtp.hold = None
        second = start(environment, "db_worker", "--interval", "0.2")
        scheduler = start(environment, "scheduler")
        processes += [second, scheduler]
        wait_for(lambda: _status(environment)[0] == "delivered", seconds=90)
        assert _status(environment) == ("delivered", 2)
        time.sleep(1)
        assert len(smtp.received) == 1
        assert smtp.received[0].message["Subject"] == "Hello Ann"
    finally:
        for process in processes:
            stop(process)
