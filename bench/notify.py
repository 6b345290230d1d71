#!/usr/bin/env python3
# SPDX-License-Identifier: EUPL-1.2
"""Measure email notifications end to end: from the API call to a local mail server.

Run from the repository root (``make bench-notify`` runs the recorded figures)::

    .venv/bin/python bench/notify.py [--scenario all|throughput|burst|outage]
                                     [--backend db|redis] [--db sqlite|postgres]
                                     [--messages N] [--connections 32]
                                     [--outage-seconds 300] [--extra-workers 1]
                                     [--full] [--entry api|direct] [--json FILE]

Without options it runs a short version of every scenario (500 / 1,000 / 500 messages, a
20 s outage) on each available setup: the database task backend on SQLite and on
PostgreSQL, and the Redis/RQ backend on PostgreSQL. ``--full`` runs the recorded sizes
(5,000 / 10,000 / 3,000 messages, a 300 s outage). For each setup it:

1. copies ``src/`` into a work dir, prepares an isolated var dir there (a fresh
   ``civicstack_bench_notify`` PostgreSQL database, Redis database ``--redis-db``, flushed),
   migrates, and with ``civicstack shell -c`` makes an agency, a sender with limits high
   enough not to interfere, an email template and a live API key;
2. starts a mail server (aiosmtpd, in a child process of this script) on a free port on
   127.0.0.1; it writes the monotonic time, Message-ID and reference of every message it
   accepts to a file;
3. starts ``civicstack serve`` (web server, one task worker and the scheduler) with
   ``EMAIL_BACKEND`` pointing at that server, plus ``--extra-workers`` task workers
   (``db_worker --interval 1``, as ``serve`` runs it); with Redis, ``serve --no-worker`` and
   1 + ``--extra-workers`` ``rqworker default --job-class django_tasks_rq.backend.Job``
   (without that job class every task fails);
4. runs the scenarios, each with ``--connections`` concurrent keep-alive clients sending
   ``POST /v2/notifications/email`` with a GOV.UK Notify token (HS256, ``iss`` the sender
   id, ``iat`` now) and then waiting for the mail server to receive every message the API
   accepted:

   * ``throughput``: emails/s = messages accepted by SMTP / (first API call to last SMTP
     acceptance), API requests/s and API latency;
   * ``burst``: as many calls as fast as possible; per message the time from its API call
     to its SMTP acceptance: the share within 10 s, p50/p99, lost and duplicated;
   * ``outage``: once a quarter of the messages have arrived the mail server is stopped for
     ``--outage-seconds`` and started again on the same port; then it waits until every
     accepted message has arrived or ``--settle-seconds`` after the restart have passed.

Messages are matched by the notification id in their Message-ID (``<id@domain>``), so a
message received twice counts as a duplicate and one never received as lost. The CPU time
each kind of process used (web, workers, scheduler, mail server, this client) is printed
with the figures, to show what limits throughput.

``--entry direct`` bypasses the HTTP API: a ``civicstack shell`` process creates the
notifications with ``delivery.notification_create``, one transaction each; that measures
the delivery pipeline alone. Figures are printed with the targets' pass/fail, never
asserted. Every process is stopped in a ``finally`` block (also on Ctrl-C and SIGTERM),
every wait is bounded in time, and only 127.0.0.1 is used.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from run import (  # type: ignore[import-not-found]
    HOST,
    ROOT,
    BenchError,
    base_environment,
    civicstack_command,
    free_port,
    machine_basics,
    postgres_available,
    postgres_recreate,
    run_step,
    running_server,
    snapshot_source,
    stop_process_group,
)

PG_DATABASE = "civicstack_bench_notify"
PG_URL = f"postgres://postgres@{HOST}:5432/{PG_DATABASE}"
REDIS_PORT = 6379
DEFAULT_REDIS_DB = 12
# django-tasks-rq runs tasks only in workers using its job class; the plain ``rqworker
# default`` that ``civicstack serve`` starts fails every task ("'Task' object is not
# callable"), so with Redis the benchmark starts every worker itself.
RQ_JOB_CLASS = "django_tasks_rq.backend.Job"
API_PATH = "/v2/notifications/email"

# Targets from the issue, printed beside the figures (never asserted).
MIN_EMAILS_PER_SECOND = 200.0
BURST_WITHIN_SECONDS = 10.0
MIN_BURST_SHARE = 0.99

SHORT = {"throughput": 500, "burst": 1000, "outage": 500}
FULL = {"throughput": 5000, "burst": 10_000, "outage": 3000}
SHORT_OUTAGE_SECONDS = 20.0
FULL_OUTAGE_SECONDS = 300.0
# After the last message arrived, keep listening this long for late copies (duplicates):
# longer than the 15 s sweeper interval.
WATCH_SECONDS = 20.0
# Delivery retries back off from 15 s doubling to 10 minutes (+-20%), so after an outage
# the last message may wait for almost the outage again, capped at 12 minutes.
BACKOFF_CAP_SECONDS = 720.0


# --- The mail server (run in a child process of this script) ----------------------------


def smtp_sink(port: int, record: Path) -> int:
    """Accept every message on 127.0.0.1:``port``, recording when it arrived; until SIGTERM.

    Each accepted message appends ``<monotonic time>\\t<Message-ID>\\t<reference>`` to
    ``record`` before the server answers 250, so a message recorded is one the sender may
    consider delivered (and one answered 250 is always recorded).
    """
    from email.parser import BytesHeaderParser

    from aiosmtpd.controller import Controller

    parser = BytesHeaderParser()
    lock = threading.Lock()
    out = record.open("a", buffering=1)

    class Recorder:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            content = envelope.original_content or envelope.content or b""
            if isinstance(content, str):
                content = content.encode()
            headers = parser.parsebytes(content)
            message_id = str(headers.get("Message-ID", "")).strip()
            reference = str(headers.get("X-Notification-Reference", "")).strip()
            with lock:
                out.write(f"{time.monotonic():.6f}\t{message_id}\t{reference}\n")
            return "250 2.0.0 OK"

    controller = Controller(
        Recorder(), hostname=HOST, port=port, ready_timeout=15, data_size_limit=10_000_000
    )
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    controller.start()
    print("ready", flush=True)
    try:
        while not stopping.wait(0.5):
            pass
    finally:
        controller.stop()
        out.close()
    return 0


class MailServer:
    """The mail server child process: start, stop (an outage) and start again, same port."""

    def __init__(self, work_dir: Path, port: int, log: IO[str]) -> None:
        self.work_dir = work_dir
        self.port = port
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.records: list[Path] = []
        self.pids_seen: list[int] = []

    def running(self) -> bool:
        """Return True while the server process runs."""
        return self.process is not None and self.process.poll() is None

    def offsets(self) -> dict[Path, int]:
        """Return where each record file ends now (at a line end): a scenario reads on."""
        ends = {}
        for path in self.records:
            data = path.read_bytes()
            ends[path] = data.rfind(b"\n") + 1
        return ends

    def start(self) -> None:
        """Start the server, recording to a new file; return once it accepts connections."""
        record = self.work_dir / f"smtp-{len(self.records)}.tsv"
        record.touch()
        self.records.append(record)
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--smtp-sink",
            str(self.port),
            "--smtp-record",
            str(record),
        ]
        self.log.write(f"$ {' '.join(command)}\n")
        self.log.flush()
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=self.log, start_new_session=True
        )
        self.pids_seen.append(self.process.pid)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # "ready", or nothing if it failed
        if line.strip() != b"ready":
            self.stop()
            raise BenchError(f"the mail server did not start on port {self.port}")

    def stop(self) -> None:
        """Stop the server (if running) and its process group."""
        if self.process is not None:
            stop_process_group(self.process)
            if self.process.stdout is not None:
                self.process.stdout.close()
            self.process = None


class Arrivals:
    """What the mail server recorded, read incrementally from its files."""

    def __init__(self, mail: MailServer) -> None:
        self.mail = mail
        self.times: dict[str, list[float]] = {}
        self.by_reference: dict[str, list[float]] = {}
        # Only what arrives from now on counts (the server keeps running between scenarios).
        self._offsets: dict[Path, int] = mail.offsets()

    def refresh(self) -> None:
        """Read complete new lines from each record file of the mail server."""
        for path in self.mail.records:
            offset = self._offsets.get(path, 0)
            with path.open("rb") as handle:
                handle.seek(offset)
                data = handle.read()
            end = data.rfind(b"\n") + 1
            self._offsets[path] = offset + end
            for line in data[:end].decode().splitlines():
                stamp, message_id, reference = ([*line.split("\t"), "", ""])[:3]
                key = message_id.strip("<>").partition("@")[0].lower()
                self.times.setdefault(key, []).append(float(stamp))
                if reference:
                    self.by_reference.setdefault(reference, []).append(float(stamp))

    def count(self) -> int:
        """Return how many distinct messages arrived."""
        return len(self.times)


# --- The Civicstack side ----------------------------------------------------------------

SETUP_CODE = """
import json
from civicstack.accounts.services import agency_upsert
from civicstack.notify import services
from civicstack.notify.models import KeyType, Sender
agency, _ = agency_upsert(
    slug="bench-notify",
    values={"kind": "central", "name_en": "Bench agency", "name_cy": "Asiantaeth meinc"},
    actor=None,
)
sender = Sender.objects.create(name="Bench notifications", agency=agency)
services.sender_update(
    actor=None, sender=sender, rate_limit_per_minute=100_000, daily_limit=10_000_000,
    email_reply_to="", sms_sender="",
)
template = services.template_create(
    actor=None, sender=sender, kind="email", name="Bench message",
    subject_en="Your reference ((ref))",
    body_en="# Hello ((name))\\n\\nYour application ((ref)) has been received.\\n\\n"
    "* first point\\n* second point\\n\\nThank you.",
)
_key, text = services.api_key_create(
    actor=None, sender=sender, name="bench", key_type=KeyType.NORMAL
)
print("BENCHJSON " + json.dumps(
    {"sender": str(sender.pk), "template": str(template.pk), "key": text}
))
"""

# Notifications created without the HTTP API: the delivery pipeline alone.
DIRECT_CODE = """
import time
from civicstack.notify import delivery
from civicstack.notify.models import Sender, Template
sender = Sender.objects.get(pk=%(sender)r)
template = Template.objects.get(pk=%(template)r)
with open(%(out)r, "a", buffering=1) as out:
    for i in range(%(count)d):
        started = time.monotonic()
        reference = "%(prefix)s-" + str(i)
        notification = delivery.notification_create(
            sender=sender, kind="email", recipient="bench+" + str(i) + "@example.com",
            template=template, personalisation={"name": "Bench", "ref": reference},
            reference=reference,
        )
        out.write(f"{started:.6f}\\t{time.monotonic():.6f}\\t{notification.pk}\\t{reference}\\n")
"""

STATUS_CODE = """
import json
from django.db.models import Count, Max, Sum
from civicstack.notify.models import Notification
rows = Notification.objects.filter(sender_id=%(sender)r)
print("BENCHJSON " + json.dumps({
    "statuses": dict(rows.values_list("status").annotate(n=Count("pk")).order_by()),
    "attempts": rows.aggregate(total=Sum("attempts"), most=Max("attempts")),
}, default=str))
"""


def shell_json(code: str, *, env: dict[str, str], log: IO[str], timeout: float = 300) -> Any:
    """Run ``code`` with ``civicstack shell -c`` and return the JSON it printed."""
    command = [*civicstack_command(), "shell", "-c", code]
    log.write(f"$ civicstack shell -c <{len(code)} characters>\n")
    completed = subprocess.run(
        command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    log.write(completed.stdout[-2000:] + completed.stderr)
    log.flush()
    for line in completed.stdout.splitlines():
        if line.startswith("BENCHJSON "):
            return json.loads(line.removeprefix("BENCHJSON "))
    raise BenchError(f"civicstack shell printed no result (exit {completed.returncode})")


@dataclass(frozen=True)
class Setup:
    """One combination of task backend and database."""

    backend: str  # db | redis
    db: str  # sqlite | postgres

    @property
    def label(self) -> str:
        """Return a short name for tables."""
        return f"{self.backend}/{self.db}"


@dataclass(frozen=True)
class Credentials:
    """The sender, template and API key made for the run."""

    sender: str
    template: str
    key: str

    @property
    def secret(self) -> str:
        """Return the secret part of the key text (``<name>-<sender>-<secret>``)."""
        return self.key[-36:]

    @property
    def issuer(self) -> str:
        """Return the sender id from the key text, the token's ``iss``."""
        return self.key[-73:-37]


def redis_flush(database: int) -> None:
    """Empty the benchmark's own Redis database (never another one)."""
    import redis

    client = redis.Redis(host=HOST, port=REDIS_PORT, db=database, socket_timeout=5)
    client.flushdb()
    client.close()


def redis_available() -> bool:
    """Return True when Redis answers on 127.0.0.1:6379."""
    with contextlib.suppress(Exception):
        import redis

        client = redis.Redis(host=HOST, port=REDIS_PORT, socket_timeout=2)
        ok = bool(client.ping())
        client.close()
        return ok
    return False


def prepare(
    setup: Setup, work_dir: Path, *, mail_port: int, redis_db: int, log: IO[str]
) -> tuple[dict[str, str], Credentials]:
    """Make a fresh database and var dir; return the server environment and the key."""
    var_dir = work_dir / "var"
    var_dir.mkdir()
    # No pages are measured: an empty static folder instead of collectstatic.
    (var_dir / "static").mkdir()
    source = snapshot_source(work_dir)
    env = base_environment(var_dir, source)
    env.update(
        {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": HOST,
            "EMAIL_PORT": str(mail_port),
            "LOG_LEVEL": "WARNING",
        }
    )
    if setup.db == "postgres":
        postgres_recreate(log=log, database=PG_DATABASE)
        env["DATABASE_URL"] = PG_URL
    if setup.backend == "redis":
        redis_flush(redis_db)
        env["REDIS_URL"] = f"redis://{HOST}:{REDIS_PORT}/{redis_db}"
    cs = civicstack_command()
    run_step([*cs, "migrate", "--no-input"], env=env, log=log, timeout=600)
    run_step([*cs, "createcachetable"], env=env, log=log, timeout=300)
    found = shell_json(SETUP_CODE, env=env, log=log)
    return env, Credentials(sender=found["sender"], template=found["template"], key=found["key"])


def worker_command(setup: Setup, rq_worker_class: str | None) -> list[str]:
    """Return the task worker command ``civicstack serve`` runs for this backend."""
    cs = civicstack_command()
    if setup.backend == "redis":
        extra = ["--worker-class", rq_worker_class] if rq_worker_class else []
        return [*cs, "rqworker", "default", "--job-class", RQ_JOB_CLASS, *extra]
    return [*cs, "db_worker", "--interval", "1"]


@contextlib.contextmanager
def extra_workers(
    command: list[str], count: int, *, env: dict[str, str], log_path: Path
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Start ``count`` more task workers, each in its own session; always stop them."""
    processes: list[subprocess.Popen[bytes]] = []
    try:
        with log_path.open("ab") as log:
            for _ in range(count):
                log.write(f"$ {' '.join(command)}\n".encode())
                log.flush()
                processes.append(
                    subprocess.Popen(
                        command,
                        env=env,
                        cwd=ROOT,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        yield processes
    finally:
        for process in processes:
            stop_process_group(process)


# --- CPU time per kind of process -------------------------------------------------------

_TICKS = os.sysconf("SC_CLK_TCK")


def _process_table() -> dict[int, tuple[int, int, str, float]]:
    """Return pid -> (session id, parent pid, command line, CPU seconds incl. reaped children)."""
    table: dict[int, tuple[int, int, str, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            fields = stat[stat.rfind(")") + 2 :].split()
            parent, session = int(fields[1]), int(fields[3])
            seconds = sum(int(fields[i]) for i in (11, 12, 13, 14)) / _TICKS
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            table[int(entry.name)] = (session, parent, command, seconds)
    return table


def _role(command: str) -> str:
    if "granian" in command:
        return "web"
    if "db_worker" in command or "rqworker" in command or " rq " in command:
        return "worker"
    if "scheduler" in command:
        return "scheduler"
    if "--smtp-sink" in command:
        return "smtp"
    if "postgres" in command:
        return "postgres"
    if "redis-server" in command:
        return "redis"
    return "other"


def cpu_by_role(sessions: set[int]) -> dict[str, float]:
    """Return CPU seconds used so far per role: our sessions, PostgreSQL, Redis, this client.

    Reaped children (RQ's work horses, granian workers that restarted) count in their
    parent's figure.
    """
    totals: dict[str, float] = {}
    for pid, (session, _parent, command, seconds) in _process_table().items():
        if pid == os.getpid():
            totals["client"] = totals.get("client", 0.0) + seconds
        elif (
            session in sessions
            or command.startswith(("postgres", "/usr/lib/postgresql"))
            or "redis-server" in command
        ):
            role = _role(command)
            totals[role] = totals.get(role, 0.0) + seconds
    return totals


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Return CPU seconds per role between two samples (never negative)."""
    return {
        role: round(max(0.0, after.get(role, 0.0) - before.get(role, 0.0)), 2)
        for role in sorted(set(before) | set(after))
    }


# --- The load ---------------------------------------------------------------------------


@dataclass
class Call:
    """One API call (or one direct creation): when it started and ended, and its result."""

    index: int
    reference: str
    started: float
    ended: float = 0.0
    status: int = 0
    notification_id: str = ""
    error: str = ""


def token(credentials: Credentials) -> str:
    """Return a GOV.UK Notify API token: HS256, ``iss`` the sender id, ``iat`` now."""
    import jwt

    return jwt.encode(
        {"iss": credentials.issuer, "iat": int(time.time())},
        credentials.secret,
        algorithm="HS256",
    )


async def api_calls(
    port: int,
    credentials: Credentials,
    *,
    count: int,
    connections: int,
    prefix: str,
    calls: list[Call],
) -> None:
    """Send ``count`` email requests over ``connections`` keep-alive connections.

    Appends one :class:`Call` per request to ``calls`` as it starts, so a monitor sees the
    progress. Each request gets one try (a failure is counted, not retried).
    """
    import aiohttp

    counter = iter(range(count))
    timeout = aiohttp.ClientTimeout(total=60)
    connector = aiohttp.TCPConnector(limit=connections, limit_per_host=connections)
    url = f"http://{HOST}:{port}{API_PATH}"
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def client() -> None:
            for index in counter:
                reference = f"{prefix}-{index}"
                body = {
                    "email_address": f"bench+{index}@example.com",
                    "template_id": credentials.template,
                    "personalisation": {"name": "Bench", "ref": reference},
                    "reference": reference,
                }
                headers = {"Authorization": f"Bearer {token(credentials)}"}
                call = Call(index=index, reference=reference, started=time.monotonic())
                calls.append(call)
                try:
                    async with session.post(url, json=body, headers=headers) as response:
                        call.status = response.status
                        data = await response.read()
                    call.ended = time.monotonic()
                    if call.status == 201:
                        with contextlib.suppress(ValueError, AttributeError, TypeError):
                            call.notification_id = str(json.loads(data)["id"]).lower()
                    else:
                        call.error = data[:200].decode(errors="replace")
                except (aiohttp.ClientError, TimeoutError, OSError) as error:
                    call.ended = time.monotonic()
                    call.error = type(error).__name__

        await asyncio.gather(*(client() for _ in range(connections)))


async def direct_calls(
    credentials: Credentials,
    *,
    count: int,
    prefix: str,
    env: dict[str, str],
    work_dir: Path,
    calls: list[Call],
    log: IO[str],
) -> None:
    """Create ``count`` notifications in a ``civicstack shell`` process (no HTTP API)."""
    out = work_dir / f"direct-{prefix}.tsv"
    out.touch()
    code = DIRECT_CODE % {
        "sender": credentials.sender,
        "template": credentials.template,
        "out": str(out),
        "count": count,
        "prefix": prefix,
    }
    process = await asyncio.create_subprocess_exec(
        *civicstack_command(),
        "shell",
        "-c",
        code,
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=log,
        start_new_session=True,
    )
    offset = 0
    try:
        while True:
            finished = process.returncode is not None
            with out.open("rb") as handle:
                handle.seek(offset)
                data = handle.read()
            end = data.rfind(b"\n") + 1
            offset += end
            for line in data[:end].decode().splitlines():
                started, ended, pk, reference = line.split("\t")
                calls.append(
                    Call(
                        index=len(calls),
                        reference=reference,
                        started=float(started),
                        ended=float(ended),
                        status=201,
                        notification_id=pk.lower(),
                    )
                )
            if finished:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), timeout=0.2)
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            await process.wait()
    if process.returncode != 0:
        raise BenchError(f"the direct producer exited {process.returncode} (see the log)")


# --- Results ----------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    """Return the nearest-rank percentile of ``values`` (0 for none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))]


@dataclass
class ScenarioResult:
    """Every figure of one scenario on one setup."""

    scenario: str
    setup: str
    entry: str
    messages: int
    connections: int
    workers: int
    api_ok: int = 0
    api_errors: dict[str, int] = field(default_factory=dict)
    api_per_second: float = 0.0
    api_p50_ms: float = 0.0
    api_p99_ms: float = 0.0
    delivered: int = 0
    emails_per_second: float = 0.0
    delivery_p50_s: float = 0.0
    delivery_p99_s: float = 0.0
    delivery_max_s: float = 0.0
    within_10s: float = 0.0
    lost: int = 0
    duplicates: int = 0
    unexpected: int = 0
    outage_seconds: float = 0.0
    outage_started_after: int = 0
    restart_to_last_s: float = 0.0
    delivered_before_outage: int = 0
    seconds: float = 0.0
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    pipeline: dict[str, Any] = field(default_factory=dict)
    checks: list[str] = field(default_factory=list)


def summarise(
    result: ScenarioResult,
    calls: list[Call],
    arrivals: Arrivals,
    *,
    restart_at: float | None,
) -> None:
    """Fill ``result`` from the calls made and the messages the mail server recorded."""
    accepted = [call for call in calls if call.status == 201]
    errors: Counter[str] = Counter(
        str(call.status or call.error) for call in calls if call.status != 201
    )
    result.api_ok = len(accepted)
    result.api_errors = dict(errors)
    if calls:
        first = min(call.started for call in calls)
        last_end = max(call.ended for call in calls)
        result.api_per_second = round(len(calls) / max(last_end - first, 1e-9), 1)
        latencies = [(call.ended - call.started) * 1000 for call in calls if call.ended]
        result.api_p50_ms = round(percentile(latencies, 0.5), 1)
        result.api_p99_ms = round(percentile(latencies, 0.99), 1)
    waits: list[float] = []
    known: set[str] = set()
    last_arrival = 0.0
    for call in accepted:
        times = arrivals.times.get(call.notification_id) if call.notification_id else None
        if times is None and not call.notification_id:
            times = arrivals.by_reference.get(call.reference)
        if call.notification_id:
            known.add(call.notification_id)
        if not times:
            result.lost += 1
            continue
        result.delivered += 1
        result.duplicates += len(times) - 1
        waits.append(min(times) - call.started)
        last_arrival = max(last_arrival, min(times))
    result.unexpected = sum(len(v) for k, v in arrivals.times.items() if k not in known)
    if accepted and waits:
        first = min(call.started for call in calls)
        result.emails_per_second = round(result.delivered / max(last_arrival - first, 1e-9), 1)
        result.delivery_p50_s = round(percentile(waits, 0.5), 3)
        result.delivery_p99_s = round(percentile(waits, 0.99), 3)
        result.delivery_max_s = round(max(waits), 3)
        within = sum(1 for wait in waits if wait <= BURST_WITHIN_SECONDS)
        result.within_10s = round(within / len(accepted), 4)
    if restart_at is not None and last_arrival > restart_at:
        result.restart_to_last_s = round(last_arrival - restart_at, 1)


def judge(result: ScenarioResult, backend: str) -> None:
    """Add the targets' pass/fail (printed, never asserted)."""
    checks = result.checks
    if result.api_errors:
        checks.append(f"FAIL api errors {result.api_errors}")
    if result.lost:
        checks.append(f"FAIL lost {result.lost}")
    if result.duplicates:
        checks.append(f"FAIL duplicates {result.duplicates}")
    if result.scenario == "throughput" and backend == "db":
        ok = result.emails_per_second >= MIN_EMAILS_PER_SECOND
        checks.append(
            f"{'pass' if ok else 'FAIL'} emails/s >= {MIN_EMAILS_PER_SECOND:g}"
            f" ({result.emails_per_second:g})"
        )
    if result.scenario == "burst":
        ok = result.within_10s >= MIN_BURST_SHARE
        checks.append(
            f"{'pass' if ok else 'FAIL'} {MIN_BURST_SHARE:.0%} within "
            f"{BURST_WITHIN_SECONDS:g} s ({result.within_10s:.2%})"
        )
    if not any(check.startswith("FAIL") for check in checks):
        checks.insert(0, "pass")


# --- Scenarios --------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """How one scenario runs."""

    scenario: str
    messages: int
    connections: int
    outage_seconds: float
    settle_seconds: float
    watch_seconds: float
    entry: str


def settle_default(scenario: str, outage_seconds: float) -> float:
    """Return how long to wait for the last message after the load (or after the restart)."""
    if scenario == "outage":
        return min(1.5 * outage_seconds, BACKOFF_CAP_SECONDS) + 120.0
    return 180.0


async def run_scenario(
    plan: Plan,
    *,
    setup: Setup,
    port: int,
    credentials: Credentials,
    mail: MailServer,
    env: dict[str, str],
    work_dir: Path,
    sessions: set[int],
    workers: int,
    log: IO[str],
) -> ScenarioResult:
    """Run one scenario against a running server; return its figures."""
    result = ScenarioResult(
        scenario=plan.scenario,
        setup=setup.label,
        entry=plan.entry,
        messages=plan.messages,
        connections=plan.connections if plan.entry == "api" else 1,
        workers=workers,
    )
    prefix = f"{plan.scenario}-{uuid.uuid4().hex[:8]}"
    if not mail.running():
        mail.start()
    arrivals = Arrivals(mail)
    calls: list[Call] = []
    cpu_before = cpu_by_role(sessions | set(mail.pids_seen))
    started = time.monotonic()
    if plan.entry == "api":
        load = asyncio.create_task(
            api_calls(
                port,
                credentials,
                count=plan.messages,
                connections=plan.connections,
                prefix=prefix,
                calls=calls,
            )
        )
    else:
        load = asyncio.create_task(
            direct_calls(
                credentials,
                count=plan.messages,
                prefix=prefix,
                env=env,
                work_dir=work_dir,
                calls=calls,
                log=log,
            )
        )
    restart_at: float | None = None
    trigger = max(1, plan.messages // 4)
    outage_done = plan.scenario != "outage"
    load_deadline = started + 600 + plan.messages / 5
    try:
        while not load.done():
            await asyncio.sleep(0.2)
            arrivals.refresh()
            if not outage_done and arrivals.count() >= trigger:
                restart_at = await outage(plan, mail, arrivals, result)
                outage_done = True
            if time.monotonic() > load_deadline:
                raise BenchError(f"the load did not finish within {load_deadline - started:.0f} s")
        await load
        if not outage_done:
            # The pipeline delivered too slowly to reach the trigger while calls ran.
            restart_at = await outage(plan, mail, arrivals, result)
        # Wait for every accepted message to arrive (bounded), then watch for copies.
        base = restart_at if restart_at is not None else time.monotonic()
        deadline = base + plan.settle_seconds
        wanted = {call.notification_id for call in calls if call.status == 201}
        wanted.discard("")
        while time.monotonic() < deadline:
            arrivals.refresh()
            if wanted <= arrivals.times.keys():
                break
            await asyncio.sleep(0.25)
        cpu_after = cpu_by_role(sessions | set(mail.pids_seen))
        elapsed = time.monotonic() - started
        await asyncio.sleep(plan.watch_seconds)
        arrivals.refresh()
    finally:
        if not load.done():
            load.cancel()
            with contextlib.suppress(BaseException):
                await load
    result.seconds = round(elapsed, 1)
    result.cpu_seconds = cpu_delta(cpu_before, cpu_after)
    summarise(result, calls, arrivals, restart_at=restart_at)
    with contextlib.suppress(BenchError, subprocess.TimeoutExpired):
        result.pipeline = shell_json(
            STATUS_CODE % {"sender": credentials.sender}, env=env, log=log, timeout=120
        )
    judge(result, setup.backend)
    return result


async def outage(
    plan: Plan,
    mail: MailServer,
    arrivals: Arrivals,
    result: ScenarioResult,
) -> float:
    """Stop the mail server for ``plan.outage_seconds``, start it again; return restart time."""
    arrivals.refresh()
    result.delivered_before_outage = arrivals.count()
    result.outage_started_after = arrivals.count()
    result.outage_seconds = plan.outage_seconds
    await asyncio.to_thread(mail.stop)
    print(
        f"   mail server stopped after {arrivals.count()} messages; "
        f"restarting in {plan.outage_seconds:g} s",
        flush=True,
    )
    await asyncio.sleep(plan.outage_seconds)
    await asyncio.to_thread(mail.start)
    print("   mail server started again", flush=True)
    return time.monotonic()


def bench_setup(
    setup: Setup,
    plans: list[Plan],
    *,
    extra: int,
    redis_db: int,
    rq_worker_class: str | None,
    keep: bool,
) -> list[ScenarioResult]:
    """Prepare ``setup``, start Civicstack and run every plan against it."""
    work_dir = Path(tempfile.mkdtemp(prefix=f"civicstack-notify-{setup.backend}-{setup.db}-"))
    log_path = work_dir / "bench.log"
    print(f"\n== {setup.label}: work dir {work_dir} (log: {log_path})", flush=True)
    results: list[ScenarioResult] = []
    mail_port = free_port()
    try:
        with log_path.open("a") as log, contextlib.ExitStack() as stack:
            started = time.monotonic()
            env, credentials = prepare(
                setup, work_dir, mail_port=mail_port, redis_db=redis_db, log=log
            )
            print(f"   prepared in {time.monotonic() - started:.1f} s", flush=True)
            mail = MailServer(work_dir, mail_port, log)
            # One mail server for the whole setup (only the outage stops it): a restart would
            # leave every worker's kept-open connection broken, delaying its next message.
            stack.callback(mail.stop)
            mail.start()
            port = free_port()
            command = [*civicstack_command(), "serve", "--host", HOST, "--port", str(port)]
            worker = worker_command(setup, rq_worker_class)
            own_workers = extra
            if setup.backend == "redis":
                command.append("--no-worker")
                own_workers += 1
            with (
                running_server(
                    command,
                    env=env,
                    port=port,
                    log_path=work_dir / "server.log",
                    start_timeout=180,
                ) as base,
                extra_workers(
                    worker, own_workers, env=env, log_path=work_dir / "workers.log"
                ) as more,
            ):
                sessions = {process.pid for process in more}
                sessions |= server_sessions(port)
                served = (
                    "web, scheduler" if "--no-worker" in command else "web, 1 worker, scheduler"
                )
                print(
                    f"   {base}: civicstack serve ({served}) + {own_workers} worker(s) of ours: "
                    f"{' '.join(worker[1:])}; mail server on {HOST}:{mail_port}",
                    flush=True,
                )
                check = first_message(port, credentials, mail)
                if check:
                    print(f"   API check: {check}", flush=True)
                for plan in plans:
                    if check and plan.entry == "api":
                        print(f"   {plan.scenario}: skipped (the API is not usable)", flush=True)
                        continue
                    print(
                        f"   {plan.scenario}: {plan.messages} messages, entry {plan.entry}",
                        flush=True,
                    )
                    result = asyncio.run(
                        run_scenario(
                            plan,
                            setup=setup,
                            port=port,
                            credentials=credentials,
                            mail=mail,
                            env=env,
                            work_dir=work_dir,
                            sessions=sessions,
                            workers=1 + extra,
                            log=log,
                        )
                    )
                    print(f"   {brief(result)}", flush=True)
                    results.append(result)
    except BenchError as error:
        print(f"   failed: {error}", flush=True)
    finally:
        if not keep:
            with contextlib.suppress(Exception), open(os.devnull, "w") as sink:
                if setup.db == "postgres":
                    postgres_recreate(log=sink, drop_only=True, database=PG_DATABASE)
                if setup.backend == "redis":
                    redis_flush(redis_db)
    return results


def server_sessions(port: int) -> set[int]:
    """Return the session of the ``civicstack serve`` listening on ``port``."""
    sessions: set[int] = set()
    for _pid, (session, _parent, command, _cpu) in _process_table().items():
        if " serve " in command and f"--port {port}" in command:
            sessions.add(session)
    return sessions


def first_message(port: int, credentials: Credentials, mail: MailServer) -> str:
    """Send one message through the API and wait for it (at most 60 s), warming up.

    Return '' if the API answered 201, else what went wrong.
    """
    calls: list[Call] = []
    arrivals = Arrivals(mail)
    with contextlib.suppress(Exception):
        asyncio.run(
            api_calls(port, credentials, count=1, connections=1, prefix="check", calls=calls)
        )
    if not calls:
        return "no answer"
    call = calls[0]
    if call.status != 201 or not call.notification_id:
        return f"{API_PATH} answered {call.status or call.error}: {call.error[:120]}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        arrivals.refresh()
        if call.notification_id in arrivals.times:
            wait = arrivals.times[call.notification_id][0] - call.started
            print(f"   first message arrived {wait:.2f} s after its API call", flush=True)
            return ""
        time.sleep(0.1)
    print("   the first message did not arrive within 60 s", flush=True)
    return ""


# --- Report -----------------------------------------------------------------------------


def brief(result: ScenarioResult) -> str:
    """Return one line about a scenario."""
    text = (
        f"{result.scenario}: {result.api_ok}/{result.messages} accepted "
        f"({result.api_per_second:g} req/s), {result.delivered} delivered at "
        f"{result.emails_per_second:g} emails/s, call->SMTP p50 {result.delivery_p50_s:g} s "
        f"p99 {result.delivery_p99_s:g} s, lost {result.lost}, duplicates {result.duplicates}"
    )
    if result.outage_seconds:
        text += f", restart->last {result.restart_to_last_s:g} s"
    return text


def print_report(results: list[ScenarioResult], command: str, about: dict[str, Any]) -> None:
    """Print every scenario as a table, then CPU use and the pipeline state."""
    print(f"\n$ {command}")
    print(
        f"{about['cpus']} CPUs ({about['cpu_model']}), {about['memory']}, Python "
        f"{about['python']}, Django {about.get('django')}, SQLite {about['sqlite']}, "
        f"aiosmtpd {about.get('aiosmtpd')}, aiohttp {about.get('aiohttp')}; load average "
        f"{', '.join(f'{n:.2f}' for n in about['load_average'])}"
    )
    print(
        f"targets: database backend >= {MIN_EMAILS_PER_SECOND:g} emails/s; burst "
        f">= {MIN_BURST_SHARE:.0%} within {BURST_WITHIN_SECONDS:g} s; lost = duplicates = 0"
    )
    head = (
        f"{'setup':<15} {'scenario':<10} {'entry':<6} {'msgs':>6} {'conn':>4} {'wrk':>3} "
        f"{'api ok':>6} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'emails/s':>8} "
        f"{'p50 s':>6} {'p99 s':>6} {'max s':>6} {'<=10s':>7} {'lost':>4} {'dup':>3}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        print(
            f"{r.setup:<15} {r.scenario:<10} {r.entry:<6} {r.messages:>6} {r.connections:>4} "
            f"{r.workers:>3} {r.api_ok:>6} {r.api_per_second:>7.1f} {r.api_p50_ms:>7.1f} "
            f"{r.api_p99_ms:>7.1f} {r.emails_per_second:>8.1f} {r.delivery_p50_s:>6.2f} "
            f"{r.delivery_p99_s:>6.2f} {r.delivery_max_s:>6.1f} {r.within_10s:>7.2%} "
            f"{r.lost:>4} {r.duplicates:>3}"
        )
    outages = [r for r in results if r.outage_seconds]
    if outages:
        print("\nOutages (mail server stopped, then started again on the same port)")
        print(
            f"{'setup':<15} {'outage s':>8} {'stopped after':>13} {'accepted':>8} "
            f"{'delivered':>9} {'lost':>4} {'dup':>3} {'restart->last s':>15}"
        )
        for r in outages:
            print(
                f"{r.setup:<15} {r.outage_seconds:>8g} {r.outage_started_after:>13} "
                f"{r.api_ok:>8} {r.delivered:>9} {r.lost:>4} {r.duplicates:>3} "
                f"{r.restart_to_last_s:>15g}"
            )
    print("\nCPU seconds per process kind during each scenario (load start to last arrival)")
    roles = sorted({role for r in results for role in r.cpu_seconds})
    print(f"{'setup':<15} {'scenario':<10} {'seconds':>7} " + " ".join(f"{x:>9}" for x in roles))
    for r in results:
        print(
            f"{r.setup:<15} {r.scenario:<10} {r.seconds:>7.1f} "
            + " ".join(f"{r.cpu_seconds.get(role, 0.0):>9.1f}" for role in roles)
        )
    print("\nChecks and notification rows after each scenario (cumulative per setup)")
    for r in results:
        print(f"{r.setup:<15} {r.scenario:<10} {'; '.join(r.checks)}")
        if r.pipeline:
            print(f"{'':<26} rows {r.pipeline.get('statuses')}, {r.pipeline.get('attempts')}")
        if r.api_errors:
            print(f"{'':<26} API errors: {r.api_errors}")
        if r.unexpected:
            print(f"{'':<26} messages not from this scenario's calls: {r.unexpected}")


# The packages whose versions are printed with the figures.
PACKAGES = (
    "django",
    "granian",
    "django-tasks-db",
    "django-tasks-rq",
    "rq",
    "psycopg",
    "aiosmtpd",
    "aiohttp",
)


def machine() -> dict[str, Any]:
    """Describe the machine and the software measured."""
    return {**machine_basics(PACKAGES), "load_average": os.getloadavg()}


# --- Command line -----------------------------------------------------------------------


def setups_for(args: argparse.Namespace) -> list[Setup]:
    """Return the setups to run: the one asked for, or every available one."""
    if args.backend is None and args.db is None:
        chosen = [Setup("db", "sqlite"), Setup("db", "postgres"), Setup("redis", "postgres")]
    else:
        backend = args.backend or "db"
        db = args.db or ("postgres" if backend == "redis" else "sqlite")
        chosen = [Setup(backend, db)]
    available = []
    for setup in chosen:
        if setup.db == "postgres" and not postgres_available():
            print(f"== {setup.label}: PostgreSQL not reachable on {HOST}:5432; skipped")
            continue
        if setup.backend == "redis" and not redis_available():
            print(f"== {setup.label}: Redis not reachable on {HOST}:{REDIS_PORT}; skipped")
            continue
        available.append(setup)
    return available


def plans_for(args: argparse.Namespace) -> list[Plan]:
    """Return the scenarios to run with their sizes."""
    scenarios = ["throughput", "burst", "outage"] if args.scenario == "all" else [args.scenario]
    full = args.full or args.scenario != "all"
    sizes = FULL if full else SHORT
    plans = []
    for scenario in scenarios:
        outage_seconds = (
            args.outage_seconds
            if args.outage_seconds is not None
            else (FULL_OUTAGE_SECONDS if full else SHORT_OUTAGE_SECONDS)
        )
        plans.append(
            Plan(
                scenario=scenario,
                messages=args.messages or sizes[scenario],
                connections=args.connections,
                outage_seconds=outage_seconds if scenario == "outage" else 0.0,
                settle_seconds=(
                    args.settle_seconds
                    if args.settle_seconds is not None
                    else settle_default(scenario, outage_seconds)
                ),
                watch_seconds=args.watch_seconds,
                entry=args.entry,
            )
        )
    return plans


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the report."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--scenario", choices=["all", "throughput", "burst", "outage"], default="all"
    )
    parser.add_argument("--backend", choices=["db", "redis"], default=None)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default=None)
    parser.add_argument("--messages", type=int, default=None, help="API calls per scenario")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--outage-seconds", type=float, default=None)
    parser.add_argument(
        "--settle-seconds",
        type=float,
        default=None,
        help="longest wait for the last message after the load (outage: after the restart)",
    )
    parser.add_argument("--watch-seconds", type=float, default=WATCH_SECONDS)
    parser.add_argument(
        "--extra-workers", type=int, default=1, help="task workers beside the one serve runs"
    )
    parser.add_argument(
        "--rq-worker-class",
        default=None,
        help="worker class of the extra RQ workers (e.g. rq.worker.SimpleWorker)",
    )
    parser.add_argument("--redis-db", type=int, default=DEFAULT_REDIS_DB)
    parser.add_argument("--entry", choices=["api", "direct"], default="api")
    parser.add_argument("--full", action="store_true", help="the recorded sizes for 'all'")
    parser.add_argument("--keep", action="store_true", help="keep the PG database and Redis db")
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    parser.add_argument("--smtp-sink", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--smtp-record", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.smtp_sink is not None:
        return smtp_sink(args.smtp_sink, args.smtp_record)
    if args.messages is not None and not 1 <= args.messages <= 1_000_000:
        parser.error("--messages must be between 1 and 1,000,000")
    if not 1 <= args.connections <= 512 or not 0 <= args.extra_workers <= 16:
        parser.error("--connections must be in 1..512 and --extra-workers in 0..16")
    if args.outage_seconds is not None and not 1 <= args.outage_seconds <= 3600:
        parser.error("--outage-seconds must be between 1 and 3600")
    if not 0 <= args.redis_db <= 15:
        parser.error("--redis-db must be between 0 and 15")

    # SIGTERM unwinds like Ctrl-C, so every finally block stops what it started.
    def terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    about = machine()
    command = " ".join([".venv/bin/python", "bench/notify.py", *(argv or sys.argv[1:])])
    print(
        f"Civicstack notifications bench: {about['cpus']} CPUs ({about['cpu_model']}), "
        f"{about['memory']}; load average "
        f"{', '.join(f'{n:.2f}' for n in about['load_average'])}",
        flush=True,
    )
    results: list[ScenarioResult] = []
    for setup in setups_for(args):
        results += bench_setup(
            setup,
            plans_for(args),
            extra=args.extra_workers,
            redis_db=args.redis_db,
            rq_worker_class=args.rq_worker_class,
            keep=args.keep,
        )
    print_report(results, command, about)
    if args.json is not None:
        args.json.write_text(
            json.dumps({"machine": about, "results": [asdict(r) for r in results]}, indent=2)
        )
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:
        print("\ninterrupted: every process this benchmark started has been stopped")
        raise SystemExit(130) from None
