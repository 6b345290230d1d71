#!/usr/bin/env python3
# SPDX-License-Identifier: EUPL-1.2
"""Load-test the applications API on SQLite and PostgreSQL, then kill it mid-burst.

Run from the repository root (``make bench-submissions`` runs it with the defaults)::

    .venv/bin/python bench/submissions.py [--db sqlite|postgres|both] [--duration 10]
                                          [--connections 32] [--no-upload]
                                          [--no-durability] [--durability-count 1000]

For each database it:

1. copies ``src/`` into a work dir and prepares an isolated var dir there, like
   ``bench/run.py`` (migrate, createcachetable, ``demo load``, collectstatic; a fresh
   ``civicstack_bench_submissions`` PostgreSQL database for ``postgres``), and creates an
   API key per demo service's agency with ``civicstack shell -c`` (``api_key_create``);
2. starts ``civicstack serve --no-worker --no-scheduler`` in production mode, with
   ``CLAMD_MANAGED=true`` (so ``serve`` runs its own clamd for upload scanning) and a
   generated ``DOCUMENT_KEYS``; reads each demo form from ``GET /api/v1/services/<slug>/form``
   and builds a complete, valid application for it; checks it once (201, then the replay:
   200 with ``Idempotent-Replayed: true``, then the same key with another body: 409);
3. loads ``POST /api/v1/services/<slug>/applications`` with wrk and
   ``bench/wrk_submissions.lua`` (a new Idempotency-Key on every request) for a service
   without uploads;
4. for a service with a file question, runs ``--connections`` Python clients that each
   upload a generated 1 MB PDF and then submit the application naming it, on keep-alive
   connections: applications per second and the latency of the pair;
5. serves ``bench/insert_floor_app.py`` (one row inserted per request, the same database
   settings) with the same granian flags and loads it with the same wrk script: the floor
   submissions are compared with;
6. the durability run: ``--durability-count`` submissions from 64 client threads, each
   retrying with the same key and body on connection errors and 5xx (for at most 120 s),
   while the server's process group is killed with SIGKILL and restarted three times; then
   counts from the database the applications per key: lost and duplicated must be 0.

Figures are printed, with the targets' pass/fail, never asserted. Every server is stopped in
a ``finally`` block, every load is bounded in time, and only 127.0.0.1 is targeted.
Needs ``wrk`` (``apt-get install -y wrk``) and, for uploads, Debian's ``clamav-daemon``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import http.client
import io
import json
import os
import queue
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from run import (  # type: ignore[import-not-found]
    BENCH_DIR,
    HOST,
    ROOT,
    BenchError,
    LoadResult,
    base_environment,
    civicstack_command,
    free_port,
    http_get,
    machine,
    parse_wrk,
    postgres_available,
    postgres_recreate,
    postgres_vacuum,
    run_step,
    running_server,
    serve_defaults,
    snapshot_source,
    stop_process_group,
    warm_search,
    wrk_command,
)

from civicstack.core.management.commands.serve import web_command
from civicstack.forms.conditions import condition_evaluate

PG_DATABASE = "civicstack_bench_submissions"
PG_URL = f"postgres://postgres@{HOST}:5432/{PG_DATABASE}"
SUBMIT_SCRIPT = BENCH_DIR / "wrk_submissions.lua"
# Preferred demo services; any other demo form that fits is used when these are missing.
PREFERRED_PLAIN = "buy-rod-fishing-licence"
PREFERRED_UPLOAD = "apply-residents-parking-permit"
UPLOAD_BYTES = 1024 * 1024

# Targets from the issue, printed beside the figures (never asserted).
MIN_FLOOR_RATIO = 0.5
MIN_SUBMISSIONS_PER_SECOND = 200.0
MAX_P99_MS = 250.0

DURABILITY_CLIENTS = 64
DURABILITY_KILLS = 3
DURABILITY_GIVE_UP_SECONDS = 120.0


# --- Results ------------------------------------------------------------------------------


@dataclass
class PairResult:
    """What the upload-then-submit clients measured."""

    applications_per_second: float
    p50_ms: float
    p99_ms: float
    upload_p50_ms: float
    upload_p99_ms: float
    submit_p50_ms: float
    submit_p99_ms: float
    applications: int
    errors: dict[str, int] = field(default_factory=dict)


@dataclass
class DurabilityResult:
    """What the kill-and-restart run found in the database."""

    keys: int
    kills: int
    client_2xx: int
    client_201: int
    client_200: int
    gave_up: int
    failed_4xx: int
    retried_requests: int
    keys_retried: int
    applications: int
    lost: int
    duplicated_keys: int
    applications_without_key: int
    mismatched_ids: int
    seconds: float
    restart_seconds: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)


@dataclass
class SubmissionRun:
    """Every figure measured against one database."""

    db: str
    plain_service: str = ""
    upload_service: str = ""
    submit: LoadResult | None = None
    submit_statuses: dict[str, int] = field(default_factory=dict)
    floor: LoadResult | None = None
    floor_statuses: dict[str, int] = field(default_factory=dict)
    upload: PairResult | None = None
    durability: DurabilityResult | None = None
    checks: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# --- Valid answers from a published definition ----------------------------------------------

_RELATIVE_DATE = re.compile(
    r"^today(?:(?P<sign>[+-])P(?:(?P<y>\d+)Y)?(?:(?P<m>\d+)M)?(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?)?$"
)
_TEXT_CANDIDATES = (
    "Bench applicant",
    "KB12 ABC",
    "AB12CDE",
    "Bench",
    "bench",
    "BENCH",
    "12345",
    "A1",
    "1",
)


def _date_bound(spec: object, today: dt.date) -> dt.date | None:
    # The rules' format (questions.date_bound): "today", "today-P18Y", "2026-03-01".
    if not isinstance(spec, str):
        return None
    with contextlib.suppress(ValueError):
        return dt.date.fromisoformat(spec)
    match = _RELATIVE_DATE.match(spec)
    if match is None:
        return None
    if match.group("sign") is None:
        return today
    sign = -1 if match.group("sign") == "-" else 1
    months = int(match.group("y") or 0) * 12 + int(match.group("m") or 0)
    days = int(match.group("w") or 0) * 7 + int(match.group("d") or 0)
    total = today.year * 12 + today.month - 1 + sign * months
    year, month0 = divmod(total, 12)
    day = min(today.day, 28)
    return dt.date(year, month0 + 1, day) + dt.timedelta(days=sign * days)


def national_id_example(digits: str = "123456789") -> str:
    """Return a valid fictional national identifier (ISO 7064 MOD 11-10 check digit)."""
    product = 10
    for char in digits:
        total = (product + int(char)) % 10 or 10
        product = (total * 2) % 11
    return digits + str((11 - product) % 10)


def _text_answer(rules: Mapping[str, Any], default_max: int) -> str:
    low = int(rules.get("min_length", 0))
    high = int(rules.get("max_length", default_max))
    pattern = rules.get("pattern")
    for candidate in _TEXT_CANDIDATES:
        text = candidate[:high]
        if len(text) < low:
            text = (text + "x" * low)[: max(low, 1)]
        if not text or len(text) > high:
            continue
        if pattern is None or re.fullmatch(pattern, text):
            return text
    raise BenchError(f"no example text matches the pattern {pattern!r}")


def _number_answer(rules: Mapping[str, Any], preferred: int) -> int:
    low, high = rules.get("min"), rules.get("max")
    value = preferred
    if low is not None and value < low:
        value = int(low)
    if high is not None and value > high:
        value = int(high)
    return value


def _date_answer(rules: Mapping[str, Any]) -> str:
    # The server's "today" is in its TIME_ZONE (Europe/London by default).
    today = dt.datetime.now(ZoneInfo(os.environ.get("TIME_ZONE", "Europe/London"))).date()
    low = _date_bound(rules.get("min_date"), today)
    high = _date_bound(rules.get("max_date"), today)
    if low and high:
        value = low + (high - low) / 2
    elif low:
        value = low + dt.timedelta(days=30)
    elif high:
        value = high - dt.timedelta(days=400)
    else:
        value = dt.date(1990, 5, 17)
    return value.isoformat()


def question_answer(question: Mapping[str, Any], *, yes: bool) -> Any:
    """Return a valid answer to one question (file questions are filled in by the caller)."""
    kind = question["type"]
    rules = question.get("rules") or {}
    options = [option["value"] for option in question.get("options") or []]
    if kind == "text":
        return _text_answer(rules, 500)
    if kind == "textarea":
        return _text_answer(rules, 5000)
    if kind == "email":
        return "applicant@example.com"
    if kind == "phone":
        return "+447700900123"
    if kind == "number":
        return _number_answer(rules, 2)
    if kind == "money":
        return _number_answer(rules, 2500)
    if kind == "date":
        return _date_answer(rules)
    if kind == "choice":
        return options[0]
    if kind == "checkboxes":
        return options[: max(1, int(rules.get("min_selected", 1)))]
    if kind == "yesno":
        return "yes" if yes else "no"
    if kind == "address":
        return {
            "line1": "4 Abbey Road",
            "line2": "",
            "town": "Kingsbridge",
            "county": "",
            "postcode": "KB1 2AB",
        }
    if kind == "nino":
        return "AB123456C"
    if kind == "national_id":
        return national_id_example()
    raise BenchError(f"no example answer for question type {kind!r}")


@dataclass
class ApplicationPlan:
    """The answers of one application, and the file questions on its path to upload to."""

    service: str
    answers: dict[str, Any]
    # (answer path, question id): top-level question ids, or ("group", index, id) items.
    file_slots: list[tuple[tuple[Any, ...], str]]

    def answers_with(self, document_ids: list[str]) -> dict[str, Any]:
        """Return the answers with one uploaded document id per file slot."""
        answers = json.loads(json.dumps(self.answers))
        for (path, _question), document_id in zip(self.file_slots, document_ids, strict=True):
            target = answers
            for step in path[:-1]:
                target = target[step]
            target[path[-1]] = [document_id]
        return answers


def plan_application(
    slug: str, definition: Mapping[str, Any], *, yes: bool, with_files: bool
) -> ApplicationPlan:
    """Answer every page on the path through ``definition`` that the answers open.

    Pages and groups whose ``when`` is false for the answers so far are skipped (the
    project's own condition evaluator decides). Optional file questions are left out
    unless ``with_files`` and there is no required one; required ones are always slots.
    """
    answers: dict[str, Any] = {}
    slots: list[tuple[tuple[Any, ...], str]] = []
    optional_files: list[tuple[tuple[Any, ...], str]] = []

    def fill(page: Mapping[str, Any], target: dict[str, Any], prefix: tuple[Any, ...]) -> None:
        for question in page["questions"]:
            if question["type"] == "file":
                slot = ((*prefix, question["id"]), question["id"])
                if question.get("required", True):
                    slots.append(slot)
                    target[question["id"]] = ["00000000-0000-0000-0000-000000000000"]
                else:
                    optional_files.append(slot)
                continue
            target[question["id"]] = question_answer(question, yes=yes)

    for entry in definition["pages"]:
        if "group" in entry:
            group = entry["group"]
            if "when" in group and not condition_evaluate(group["when"], answers):
                continue
            has_file = any(
                q["type"] == "file" for page in group["pages"] for q in page["questions"]
            )
            count = max(int(group.get("min", 0)), 1 if (with_files and has_file) else 0)
            items: list[dict[str, Any]] = []
            answers[group["id"]] = items
            for index in range(count):
                item: dict[str, Any] = {}
                items.append(item)
                for page in group["pages"]:
                    if "when" in page and not condition_evaluate(page["when"], answers, item):
                        continue
                    fill(page, item, (group["id"], index))
            if not items:
                del answers[group["id"]]
            continue
        if "when" in entry and not condition_evaluate(entry["when"], answers):
            continue
        fill(entry, answers, ())
    if with_files and not slots and optional_files:
        slots.append(optional_files[0])
    return ApplicationPlan(service=slug, answers=answers, file_slots=slots)


def application_body(plan: ApplicationPlan, *, email: str, document_ids: list[str]) -> bytes:
    """Return the JSON body of one application request."""
    body = {
        "applicant": {"name": "Bench Applicant", "email": email},
        "language": "en",
        "answers": plan.answers_with(document_ids),
    }
    return json.dumps(body, separators=(",", ":")).encode()


def pdf_example(size: int = UPLOAD_BYTES) -> bytes:
    """Return a one-page PDF of about ``size`` bytes, padded with a comment-only stream.

    The padding is base32 text inside ``%`` comments of the page's content stream: no
    names, no archive signatures, nothing the documents checks refuse.
    """
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, NameObject

    writer = PdfWriter()
    page = writer.add_blank_page(width=595, height=842)
    line_bytes = 76
    lines = []
    padding = base64.b32encode(os.urandom(size)).decode()
    for start in range(0, size - 2048, line_bytes):
        lines.append("% " + padding[start : start + line_bytes - 3])
    stream = DecodedStreamObject()
    stream.set_data(("\n".join(lines) + "\n").encode("ascii"))
    page[NameObject("/Contents")] = writer._add_object(stream)
    output = io.BytesIO()
    writer.write(output)
    return output.getvalue()


def multipart_body(content: bytes, filename: str) -> tuple[bytes, str]:
    """Return a multipart/form-data body with one ``file`` field, and its content type."""
    boundary = "bench" + secrets.token_hex(12)
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/pdf\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return head + content + tail, f"multipart/form-data; boundary={boundary}"


# --- A small HTTP client on 127.0.0.1 ----------------------------------------------------------


class Client:
    """One keep-alive connection to the server; reconnects after any error."""

    def __init__(self, port: int, *, timeout: float = 30.0) -> None:
        self.port = port
        self.timeout = timeout
        self.connection: http.client.HTTPConnection | None = None

    def request(
        self, method: str, path: str, *, body: bytes | None = None, headers: Mapping[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        """Send one request; raise OSError or http.client errors when the connection fails."""
        if self.connection is None:
            self.connection = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
        try:
            self.connection.request(method, path, body=body, headers=dict(headers))
            response = self.connection.getresponse()
            data = response.read()
        except BaseException:
            self.close()
            raise
        if response.getheader("Connection", "").lower() == "close":
            self.close()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data

    def close(self) -> None:
        """Drop the connection."""
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def _api_headers(
    secret: str, key: str | None = None, content_type: str = "application/json"
) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": content_type}
    if key is not None:
        headers["Idempotency-Key"] = key
    return headers


def upload_document(
    client: Client, slug: str, question: str, secret: str, body: bytes, content_type: str
) -> tuple[int, bytes]:
    """Upload one file for ``question``; return the status and the response body."""
    status, _headers, data = client.request(
        "POST",
        f"/api/v1/services/{slug}/questions/{question}/documents",
        body=body,
        headers=_api_headers(secret, content_type=content_type),
    )
    return status, data


def submit(
    client: Client, slug: str, secret: str, key: str, body: bytes
) -> tuple[int, dict[str, str], bytes]:
    """Submit one application."""
    return client.request(
        "POST",
        f"/api/v1/services/{slug}/applications",
        body=body,
        headers=_api_headers(secret, key),
    )


# --- Preparation ------------------------------------------------------------------------------

KEYS_CODE = """
import json
from civicstack.accounts.services import api_key_create
from civicstack.catalogue.selectors import service_get
out = {}
for slug in %(slugs)r:
    service = service_get(slug=slug)
    if service is None:
        continue
    _key, secret = api_key_create(
        agency=service.agency, name="bench", scopes=["applications:submit"], actor=None
    )
    out[slug] = secret
print("BENCHJSON " + json.dumps(out))
"""

COUNT_CODE = """
import json
from civicstack.forms.models import Application
applications = [
    [str(pk), email]
    for pk, email in Application.objects.filter(
        contact_email__startswith=%(email_prefix)r
    ).values_list("pk", "contact_email")
]
# The Idempotency-Key is kept on the application itself.
records = [
    [key, str(pk)]
    for key, pk in Application.objects.filter(
        idempotency_key__startswith=%(key_prefix)r
    ).values_list("idempotency_key", "pk")
]
print("BENCHJSON " + json.dumps({"applications": applications, "records": records}))
"""


def shell_json(code: str, *, env: dict[str, str], log: IO[str], timeout: float = 300) -> Any:
    """Run ``code`` with ``civicstack shell -c`` and return the JSON it printed."""
    command = [*civicstack_command(), "shell", "-c", code]
    log.write(f"$ civicstack shell -c <{len(code)} characters>\n")
    completed = subprocess.run(
        command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    log.write(completed.stderr)
    log.flush()
    for line in completed.stdout.splitlines():
        if line.startswith("BENCHJSON "):
            return json.loads(line.removeprefix("BENCHJSON "))
    raise BenchError(f"civicstack shell printed no result (exit {completed.returncode})")


def demo_site_prepare(
    db: str, env: dict[str, str], *, log: IO[str], database: str, url: str
) -> None:
    """Make a fresh database (PostgreSQL: ``database`` at ``url``) with the demo loaded.

    Sets DATABASE_URL in ``env`` for PostgreSQL. The demo load runs in development mode:
    demo people are refused in production (as in bench/run.py).
    """
    if db == "postgres":
        postgres_recreate(log=log, database=database)
        env["DATABASE_URL"] = url
    load_env = {**env, "CIVICSTACK_ENVIRONMENT": "development"}
    cs = civicstack_command()
    run_step([*cs, "migrate", "--no-input"], env=env, log=log, timeout=600)
    run_step([*cs, "createcachetable"], env=env, log=log, timeout=600)
    run_step([*cs, "demo", "load"], env=load_env, log=log, timeout=600)
    run_step(
        [*cs, "collectstatic", "--no-input", "--verbosity", "0"], env=env, log=log, timeout=300
    )


def prepare(db: str, var_dir: Path, *, source: Path, log: IO[str]) -> dict[str, str]:
    """Fill a fresh database and var dir; return the server environment (production)."""
    env = base_environment(var_dir, source)
    env.update(
        {
            "CLAMD_MANAGED": "true",
            "DOCUMENT_KEYS": "bench:"
            + base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("="),
        }
    )
    demo_site_prepare(db, env, log=log, database=PG_DATABASE, url=PG_URL)
    run_step(
        [sys.executable, str(BENCH_DIR / "insert_floor_app.py")], env=env, log=log, timeout=120
    )
    if db == "postgres":
        postgres_vacuum(database=PG_DATABASE, env=env, log=log)
    return env


def demo_form_slugs(source: Path) -> list[str]:
    """Return the services with a demo form in the snapshot."""
    return sorted(path.stem for path in (source / "civicstack" / "forms" / "demo").glob("*.yaml"))


def clamd_wait(var_dir: Path, *, budget: float = 60.0) -> bool:
    """Wait until the managed clamd answers PING on its socket; return whether it did."""
    path = var_dir / "clamav" / "clamd.sock"
    deadline = time.monotonic() + budget
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(2)
            sock.connect(str(path))
            sock.sendall(b"zPING\0")
            if sock.recv(16).startswith(b"PONG"):
                return True
        time.sleep(0.25)
    return False


# --- Choosing services and checking the API once --------------------------------------------


def form_definition(port: int, slug: str) -> dict[str, Any] | None:
    """Return the published definition of ``slug`` from the API, or None."""
    client = Client(port)
    try:
        status, _headers, data = client.request("GET", f"/api/v1/services/{slug}/form", headers={})
    finally:
        client.close()
    if status != 200:
        return None
    return dict(json.loads(data)["definition"])


def plan_for(
    port: int, slug: str, secret: str, *, with_files: bool, pdf: bytes, log: IO[str]
) -> ApplicationPlan | None:
    """Return a plan that the API accepts for ``slug`` (trying yes, then no), or None."""
    definition = form_definition(port, slug)
    if definition is None:
        return None
    client = Client(port)
    try:
        for yes in (False, True):
            try:
                plan = plan_application(slug, definition, yes=yes, with_files=with_files)
            except BenchError as error:
                log.write(f"{slug}: {error}\n")
                continue
            if bool(plan.file_slots) != with_files:
                continue
            ids = []
            for _path, question in plan.file_slots:
                body, content_type = multipart_body(pdf, "proof.pdf")
                status, data = upload_document(client, slug, question, secret, body, content_type)
                if status != 201:
                    log.write(f"{slug}: upload answered {status}: {data[:500]!r}\n")
                    break
                ids.append(json.loads(data)["id"])
            else:
                key = "bench-check-" + secrets.token_hex(8)
                body = application_body(plan, email="check@example.com", document_ids=ids)
                status, _h, data = submit(client, slug, secret, key, body)
                log.write(f"{slug} (yes={yes}, files={with_files}): {status} {data[:800]!r}\n")
                if status == 201:
                    return plan
    finally:
        client.close()
    return None


def api_checks(port: int, plan: ApplicationPlan, secret: str) -> list[str]:
    """Check created, replayed and conflicting answers once; return what was seen."""
    client = Client(port)
    key = "bench-idempotency-" + secrets.token_hex(8)
    body = application_body(plan, email="replay@example.com", document_ids=[])
    other = application_body(plan, email="other@example.com", document_ids=[])
    try:
        first = submit(client, plan.service, secret, key, body)
        again = submit(client, plan.service, secret, key, body)
        conflict = submit(client, plan.service, secret, key, other)
    finally:
        client.close()
    same = first[0] in (200, 201) and json.loads(first[2]).get("id") == json.loads(again[2]).get(
        "id"
    )
    return [
        f"new key: {first[0]} (want 201)",
        f"same key and body: {again[0]}, Idempotent-Replayed: "
        f"{again[1].get('idempotent-replayed', '-')}, same application: {same} "
        "(want 200, true, True)",
        f"same key, other body: {conflict[0]} (want 409)",
    ]


# --- Load -------------------------------------------------------------------------------------


def wrk_post(
    url: str,
    body_file: Path,
    *,
    prefix: str,
    secret: str,
    duration: float,
    connections: int,
    threads: int,
    log: IO[str],
) -> tuple[LoadResult, dict[str, int]]:
    """Run wrk with the submissions script; return its figures and the responses by status."""
    if not url.startswith(f"http://{HOST}:"):
        raise BenchError(f"refusing to load {url}: only {HOST} is benchmarked")
    command = wrk_command(
        url,
        duration=duration,
        connections=connections,
        threads=threads,
        script=SUBMIT_SCRIPT,
        script_args=[str(body_file), prefix, secret],
    )
    log.write(f"$ {' '.join(command[:-1])} <secret>\n")
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=duration + 60, check=False
    )
    log.write(completed.stdout + completed.stderr)
    log.flush()
    if completed.returncode != 0:
        raise BenchError(f"wrk exited {completed.returncode}: {completed.stderr.strip()}")
    statuses = {
        code: int(count)
        for code, count in re.findall(r"^status (\d+): (\d+)$", completed.stdout, re.MULTILINE)
    }
    return parse_wrk(completed.stdout), statuses


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def upload_pairs(
    port: int,
    plan: ApplicationPlan,
    secret: str,
    pdf: bytes,
    *,
    duration: float,
    connections: int,
    prefix: str,
) -> PairResult:
    """Run ``connections`` clients uploading then submitting for ``duration`` seconds."""
    body, content_type = multipart_body(pdf, "proof.pdf")
    pairs: list[float] = []
    uploads: list[float] = []
    submits: list[float] = []
    errors: Counter[str] = Counter()
    lock = threading.Lock()
    started = time.monotonic()
    deadline = started + duration

    def worker(number: int) -> None:
        client = Client(port)
        count = 0
        try:
            while time.monotonic() < deadline:
                count += 1
                begin = time.perf_counter()
                ids: list[str] = []
                failed = ""
                try:
                    for _path, question in plan.file_slots:
                        t0 = time.perf_counter()
                        status, data = upload_document(
                            client, plan.service, question, secret, body, content_type
                        )
                        with lock:
                            uploads.append(time.perf_counter() - t0)
                        if status != 201:
                            failed = f"upload {status} {_error_code(data)}"
                            break
                        ids.append(json.loads(data)["id"])
                    if not failed:
                        t0 = time.perf_counter()
                        status, _h, data = submit(
                            client,
                            plan.service,
                            secret,
                            f"{prefix}-{number}-{count}",
                            application_body(plan, email="pair@example.com", document_ids=ids),
                        )
                        with lock:
                            submits.append(time.perf_counter() - t0)
                        if status != 201:
                            failed = f"submit {status} {_error_code(data)}"
                except (OSError, http.client.HTTPException) as error:
                    failed = type(error).__name__
                with lock:
                    if failed:
                        errors[failed] += 1
                    else:
                        pairs.append(time.perf_counter() - begin)
        finally:
            client.close()

    workers = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(connections)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(timeout=duration + 60)
    elapsed = time.monotonic() - started
    return PairResult(
        applications_per_second=len(pairs) / elapsed,
        p50_ms=_percentile(pairs, 0.50) * 1000,
        p99_ms=_percentile(pairs, 0.99) * 1000,
        upload_p50_ms=_percentile(uploads, 0.50) * 1000,
        upload_p99_ms=_percentile(uploads, 0.99) * 1000,
        submit_p50_ms=_percentile(submits, 0.50) * 1000,
        submit_p99_ms=_percentile(submits, 0.99) * 1000,
        applications=len(pairs),
        errors=dict(errors),
    )


def _error_code(data: bytes) -> str:
    with contextlib.suppress(ValueError, AttributeError):
        return str(json.loads(data).get("code", ""))
    return ""


# --- Durability: SIGKILL the server mid-burst -------------------------------------------------


class RestartableServer:
    """``civicstack serve`` in its own process group, which can be killed and restarted."""

    def __init__(self, command: list[str], *, env: dict[str, str], port: int, log_path: Path):
        self.command = command
        self.env = env
        self.port = port
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *, timeout: float = 60.0) -> float:
        """Start the server and wait until it is live; return the seconds it took."""
        started = time.monotonic()
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command,
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        while True:
            if self.process.poll() is not None:
                raise BenchError(f"server exited {self.process.returncode} ({self.log_path})")
            with contextlib.suppress(OSError, http.client.HTTPException):
                status, _ = http_get(f"http://{HOST}:{self.port}/health/live", timeout=2)
                if status == 200:
                    return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise BenchError(f"server not live after {timeout:g} s ({self.log_path})")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL the whole process group (server, workers, clamd) and reap it."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(self.process.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop the server for good."""
        if self.process is not None:
            stop_process_group(self.process)
            self.process = None


def durability_run(
    server: RestartableServer,
    plan: ApplicationPlan,
    secret: str,
    *,
    count: int,
    env: dict[str, str],
    log: IO[str],
) -> DurabilityResult:
    """Submit ``count`` applications with retries while killing the server three times."""
    tag = "dur" + secrets.token_hex(4)
    jobs: queue.Queue[int] = queue.Queue()
    for number in range(count):
        jobs.put(number)
    outcome: dict[int, tuple[int, str]] = {}
    attempts: dict[int, int] = {}
    errors: Counter[str] = Counter()
    lock = threading.Lock()
    finished = [0]

    def client_loop() -> None:
        client = Client(server.port, timeout=30)
        try:
            while True:
                try:
                    number = jobs.get_nowait()
                except queue.Empty:
                    return
                key = f"{tag}-{number:05d}"
                body = application_body(
                    plan, email=f"{tag}+{number:05d}@example.com", document_ids=[]
                )
                first = time.monotonic()
                tries = 0
                result = (0, "")
                while time.monotonic() - first < DURABILITY_GIVE_UP_SECONDS:
                    tries += 1
                    try:
                        status, _headers, data = submit(client, plan.service, secret, key, body)
                    except (OSError, http.client.HTTPException) as error:
                        with lock:
                            errors[type(error).__name__] += 1
                        time.sleep(min(1.0, 0.05 * 2 ** min(tries, 5)))
                        continue
                    if status >= 500:
                        with lock:
                            errors[f"HTTP {status}"] += 1
                        time.sleep(min(1.0, 0.05 * 2 ** min(tries, 5)))
                        continue
                    application_id = ""
                    with contextlib.suppress(ValueError, AttributeError):
                        application_id = str(json.loads(data).get("id", ""))
                    result = (status, application_id)
                    if status >= 400:
                        with lock:
                            errors[f"HTTP {status} {_error_code(data)}"] += 1
                    break
                with lock:
                    outcome[number] = result
                    attempts[number] = tries
                    finished[0] += 1
        finally:
            client.close()

    started = time.monotonic()
    clients = [threading.Thread(target=client_loop, daemon=True) for _ in range(DURABILITY_CLIENTS)]
    for thread in clients:
        thread.start()
    kills = 0
    restarts: list[float] = []
    thresholds = [count * (n + 1) // (DURABILITY_KILLS + 1) for n in range(DURABILITY_KILLS)]
    deadline = started + DURABILITY_GIVE_UP_SECONDS + 60
    try:
        for threshold in thresholds:
            while finished[0] < threshold and time.monotonic() < deadline:
                if not any(thread.is_alive() for thread in clients):
                    break
                time.sleep(0.01)
            if finished[0] >= count:
                break
            server.kill()
            kills += 1
            log.write(f"durability: SIGKILL after {finished[0]} finished\n")
            restarts.append(server.start())
    finally:
        for thread in clients:
            thread.join(timeout=max(1.0, deadline - time.monotonic()))
    seconds = time.monotonic() - started

    found = shell_json(
        COUNT_CODE % {"email_prefix": f"{tag}+", "key_prefix": f"{tag}-"}, env=env, log=log
    )
    by_email: Counter[str] = Counter(email for _pk, email in found["applications"])
    record_by_key = dict(found["records"])
    recorded_ids = set(record_by_key.values())
    lost = duplicated = mismatched = 0
    for number in range(count):
        email = f"{tag}+{number:05d}@example.com"
        key = f"{tag}-{number:05d}"
        status, application_id = outcome.get(number, (0, ""))
        stored = by_email.get(email, 0)
        if stored == 0:
            lost += 1
        if stored > 1:
            duplicated += 1
        if status in (200, 201) and record_by_key.get(key) != application_id:
            mismatched += 1
    statuses = Counter(status for status, _id in outcome.values())
    return DurabilityResult(
        keys=count,
        kills=kills,
        client_2xx=statuses[200] + statuses[201],
        client_201=statuses[201],
        client_200=statuses[200],
        gave_up=count - len(outcome) + statuses[0],
        failed_4xx=sum(n for status, n in statuses.items() if 400 <= status < 500),
        retried_requests=sum(attempts.values()) - len(attempts),
        keys_retried=sum(1 for tries in attempts.values() if tries > 1),
        applications=len(found["applications"]),
        lost=lost,
        duplicated_keys=duplicated,
        applications_without_key=sum(
            1 for pk, _email in found["applications"] if pk not in recorded_ids
        ),
        mismatched_ids=mismatched,
        seconds=seconds,
        restart_seconds=[round(s, 2) for s in restarts],
        errors=dict(errors),
    )


# --- One database -------------------------------------------------------------------------------


def serve_command(port: int) -> list[str]:
    """Return the ``civicstack serve`` command the benchmark runs."""
    return [
        *civicstack_command(),
        "serve",
        "--no-worker",
        "--no-scheduler",
        "--host",
        HOST,
        "--port",
        str(port),
    ]


def insert_floor_command(port: int) -> list[str]:
    """Return the granian command of ``civicstack serve`` serving the insert floor."""
    workers, threads = serve_defaults()
    command = web_command(host=HOST, port=port, workers=workers, threads=threads)
    return [*command[:-1], "--working-dir", str(BENCH_DIR), "insert_floor_app:application"]


@dataclass(frozen=True)
class Settings:
    """How hard and how long each figure is measured."""

    duration: float
    warmup: float
    connections: int
    threads: int
    upload: bool
    durability: int


def bench_database(db: str, settings: Settings, *, keep: bool) -> SubmissionRun:
    """Prepare ``db`` and measure submissions, uploads, the insert floor and durability."""
    result = SubmissionRun(db=db)
    work_dir = Path(tempfile.mkdtemp(prefix=f"civicstack-submissions-{db}-"))
    var_dir = work_dir / "var"
    var_dir.mkdir()
    log_path = work_dir / "bench.log"
    print(f"\n== {db}: work dir {work_dir} (log: {log_path})", flush=True)
    failed = False
    body_file = work_dir / "application.json"
    floor_body_file = work_dir / "floor.json"
    try:
        with log_path.open("a") as log:
            started = time.monotonic()
            source = snapshot_source(work_dir)
            env = prepare(db, var_dir, source=source, log=log)
            slugs = demo_form_slugs(source)
            secrets_by_slug = shell_json(KEYS_CODE % {"slugs": slugs}, env=env, log=log)
            print(
                f"   prepared in {time.monotonic() - started:.1f} s; demo forms: "
                f"{', '.join(slugs) or 'none'}",
                flush=True,
            )
            pdf = pdf_example()
            port = free_port()
            with running_server(
                serve_command(port), env=env, port=port, log_path=work_dir / "serve.log"
            ) as base:
                # Let every worker build its search index (serve starts that in the
                # background) before measuring, as bench/run.py does.
                warm_search(base)
                if settings.upload and not clamd_wait(var_dir):
                    result.notes.append("clamd did not answer: uploads skipped")
                plain, upload = choose_plans(port, slugs, secrets_by_slug, pdf, log=log)
                if plain is None:
                    raise BenchError(
                        f"no demo form accepted a submission without files ({log_path})"
                    )
                result.plain_service = plain.service
                secret = secrets_by_slug[plain.service]
                result.checks = api_checks(port, plain, secret)
                for line in result.checks:
                    print(f"   check: {line}", flush=True)
                body_file.write_bytes(
                    application_body(plain, email="load@example.com", document_ids=[])
                )
                url = f"{base}/api/v1/services/{plain.service}/applications"
                run_tag = "load" + secrets.token_hex(4)
                if settings.warmup > 0:
                    wrk_post(
                        url,
                        body_file,
                        prefix=run_tag + "w",
                        secret=secret,
                        duration=settings.warmup,
                        connections=settings.connections,
                        threads=settings.threads,
                        log=log,
                    )
                result.submit, result.submit_statuses = wrk_post(
                    url,
                    body_file,
                    prefix=run_tag,
                    secret=secret,
                    duration=settings.duration,
                    connections=settings.connections,
                    threads=settings.threads,
                    log=log,
                )
                print(
                    f"   submit ({plain.service}) {_brief(result.submit)} "
                    f"statuses {result.submit_statuses}",
                    flush=True,
                )
                if settings.upload and upload is not None:
                    result.upload_service = upload.service
                    upload_secret = secrets_by_slug[upload.service]
                    if settings.warmup > 0:
                        upload_pairs(
                            port,
                            upload,
                            upload_secret,
                            pdf,
                            duration=settings.warmup,
                            connections=settings.connections,
                            prefix=run_tag + "uw",
                        )
                    result.upload = upload_pairs(
                        port,
                        upload,
                        upload_secret,
                        pdf,
                        duration=settings.duration,
                        connections=settings.connections,
                        prefix=run_tag + "u",
                    )
                    print(
                        f"   upload+submit ({upload.service}) {_brief_pair(result.upload)}",
                        flush=True,
                    )
                    # One client alone: what a single desk or integration sees.
                    single = upload_pairs(
                        port,
                        upload,
                        upload_secret,
                        pdf,
                        duration=settings.duration / 2,
                        connections=1,
                        prefix=run_tag + "u1",
                    )
                    result.notes.append(f"upload+submit with 1 connection: {_brief_pair(single)}")
                    print(f"   upload+submit, 1 connection: {_brief_pair(single)}", flush=True)
                elif settings.upload:
                    result.notes.append("no demo form with a file question accepted an upload")
                    print("   no demo form with a file question accepted an upload", flush=True)

            floor_body_file.write_bytes(body_file.read_bytes())
            port = free_port()
            with running_server(
                insert_floor_command(port),
                env=env,
                port=port,
                log_path=work_dir / "floor.log",
            ) as base:
                url = f"{base}/insert"
                if settings.warmup > 0:
                    wrk_post(
                        url,
                        floor_body_file,
                        prefix=run_tag + "fw",
                        secret="-",
                        duration=settings.warmup,
                        connections=settings.connections,
                        threads=settings.threads,
                        log=log,
                    )
                result.floor, result.floor_statuses = wrk_post(
                    url,
                    floor_body_file,
                    prefix=run_tag + "f",
                    secret="-",
                    duration=settings.duration,
                    connections=settings.connections,
                    threads=settings.threads,
                    log=log,
                )
                print(
                    f"   insert floor {_brief(result.floor)} statuses {result.floor_statuses}",
                    flush=True,
                )

            if settings.durability:
                port = free_port()
                server = RestartableServer(
                    serve_command(port), env=env, port=port, log_path=work_dir / "durability.log"
                )
                try:
                    server.start()
                    result.durability = durability_run(
                        server, plain, secret, count=settings.durability, env=env, log=log
                    )
                finally:
                    server.stop()
                print(f"   durability {_brief_durability(result.durability)}", flush=True)
            result.notes.append(
                "load average after: " + ", ".join(f"{n:.2f}" for n in os.getloadavg())
            )
    except (BenchError, subprocess.TimeoutExpired) as error:
        failed = True
        result.notes.append(f"failed: {error}")
        print(f"   FAILED: {error}", flush=True)
    finally:
        if db == "postgres" and not keep:
            with contextlib.suppress(Exception), log_path.open("a") as log:
                postgres_recreate(log=log, drop_only=True, database=PG_DATABASE)
        if failed or keep:
            print(f"   kept {work_dir} for its logs", flush=True)
        else:
            shutil.rmtree(work_dir, ignore_errors=True)
    return result


def choose_plans(
    port: int, slugs: list[str], secrets_by_slug: dict[str, str], pdf: bytes, *, log: IO[str]
) -> tuple[ApplicationPlan | None, ApplicationPlan | None]:
    """Pick a service the API accepts without files and one with a file question."""
    plain = upload = None
    for slug in sorted(slugs, key=lambda s: (s != PREFERRED_PLAIN, s)):
        if slug in secrets_by_slug:
            plain = plan_for(port, slug, secrets_by_slug[slug], with_files=False, pdf=pdf, log=log)
            if plain is not None:
                break
    for slug in sorted(slugs, key=lambda s: (s != PREFERRED_UPLOAD, s)):
        if slug in secrets_by_slug:
            upload = plan_for(port, slug, secrets_by_slug[slug], with_files=True, pdf=pdf, log=log)
            if upload is not None:
                break
    return plain, upload


# --- Report ---------------------------------------------------------------------------------------


def _brief(result: LoadResult) -> str:
    text = (
        f"{result.requests_per_second:.0f} req/s "
        f"p50 {result.p50_ms:.1f} ms p99 {result.p99_ms:.1f} ms"
    )
    if not result.clean:
        text += f" [non-2xx {result.non_2xx}, socket errors {result.socket_errors}]"
    return text


def _brief_pair(result: PairResult) -> str:
    text = (
        f"{result.applications_per_second:.1f} applications/s, pair p50 {result.p50_ms:.0f} ms "
        f"p99 {result.p99_ms:.0f} ms (upload p50 {result.upload_p50_ms:.0f} / p99 "
        f"{result.upload_p99_ms:.0f} ms, submit p50 {result.submit_p50_ms:.0f} / p99 "
        f"{result.submit_p99_ms:.0f} ms)"
    )
    if result.errors:
        text += f" errors {result.errors}"
    return text


def _brief_durability(result: DurabilityResult) -> str:
    return (
        f"{result.keys} keys, {result.kills} kills (restarts {result.restart_seconds} s), "
        f"{result.seconds:.1f} s: client 2xx {result.client_2xx} (201 {result.client_201}, "
        f"200 {result.client_200}), gave up {result.gave_up}, 4xx {result.failed_4xx}; "
        f"applications {result.applications}, lost {result.lost}, duplicated keys "
        f"{result.duplicated_keys}, applications without key {result.applications_without_key}, "
        f"id mismatches {result.mismatched_ids}; retried requests {result.retried_requests} "
        f"over {result.keys_retried} keys; errors {result.errors}"
    )


def verdict(run: SubmissionRun) -> str:
    """Return pass/fail against the issue's targets (printed, never asserted)."""
    if run.submit is None or run.floor is None:
        return "not measured"
    problems = []
    ratio = run.submit.requests_per_second / run.floor.requests_per_second
    if ratio < MIN_FLOOR_RATIO:
        problems.append(f"{ratio:.2f}x<{MIN_FLOOR_RATIO}x floor")
    if run.submit.requests_per_second < MIN_SUBMISSIONS_PER_SECOND:
        problems.append(f"<{MIN_SUBMISSIONS_PER_SECOND:g}/s")
    if run.submit.p99_ms > MAX_P99_MS:
        problems.append(f"p99>{MAX_P99_MS:g}ms")
    if set(run.submit_statuses) - {"201"} or not run.submit.clean:
        problems.append("errors")
    return "pass" if not problems else "FAIL " + ", ".join(problems)


def print_report(runs: list[SubmissionRun], settings: Settings) -> None:
    """Print the figures side by side per database."""
    print(
        f"\n{settings.connections} connections, {settings.duration:g} s per measured run after a "
        f"{settings.warmup:g} s warm-up; targets: submissions without upload >= "
        f"{MIN_FLOOR_RATIO}x the insert floor and >= {MIN_SUBMISSIONS_PER_SECOND:g}/s, "
        f"p99 <= {MAX_P99_MS:g} ms"
    )
    print(f"{'figure':<34}" + "".join(f" | {run.db:<44}" for run in runs))
    rows: list[tuple[str, Callable[[SubmissionRun], str]]] = [
        ("service without upload", lambda r: r.plain_service or "-"),
        (
            "submissions/s (wrk)",
            lambda r: f"{r.submit.requests_per_second:.0f}" if r.submit else "-",
        ),
        (
            "  p50 / p99 ms",
            lambda r: f"{r.submit.p50_ms:.1f} / {r.submit.p99_ms:.1f}" if r.submit else "-",
        ),
        ("  responses by status", lambda r: str(r.submit_statuses) or "-"),
        ("insert floor rows/s", lambda r: f"{r.floor.requests_per_second:.0f}" if r.floor else "-"),
        (
            "  p50 / p99 ms",
            lambda r: f"{r.floor.p50_ms:.1f} / {r.floor.p99_ms:.1f}" if r.floor else "-",
        ),
        (
            "submissions x insert floor",
            lambda r: (
                f"{r.submit.requests_per_second / r.floor.requests_per_second:.2f}"
                if r.submit and r.floor
                else "-"
            ),
        ),
        ("target", verdict),
        ("service with upload", lambda r: r.upload_service or "-"),
        (
            "applications/s with 1 MB upload",
            lambda r: f"{r.upload.applications_per_second:.1f}" if r.upload else "-",
        ),
        (
            "  pair p50 / p99 ms",
            lambda r: f"{r.upload.p50_ms:.0f} / {r.upload.p99_ms:.0f}" if r.upload else "-",
        ),
        (
            "  upload p50 / p99 ms",
            lambda r: (
                f"{r.upload.upload_p50_ms:.0f} / {r.upload.upload_p99_ms:.0f}" if r.upload else "-"
            ),
        ),
        (
            "  submit p50 / p99 ms",
            lambda r: (
                f"{r.upload.submit_p50_ms:.0f} / {r.upload.submit_p99_ms:.0f}" if r.upload else "-"
            ),
        ),
        ("  failed pairs", lambda r: str(r.upload.errors) if r.upload else "-"),
    ]
    for label, cell in rows:
        print(f"{label:<34}" + "".join(f" | {cell(run):<44}" for run in runs))
    for run in runs:
        if run.durability is not None:
            print(f"\nDurability on {run.db}: {_brief_durability(run.durability)}")
            ok = run.durability.lost == 0 and run.durability.duplicated_keys == 0
            ok = ok and run.durability.applications_without_key == 0
            print(f"  lost 0 and duplicated 0: {'pass' if ok else 'FAIL'}")
        for note in run.notes:
            print(f"  {run.db}: {note}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measured run")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load before each")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--no-upload", action="store_true", help="skip the 1 MB upload figure")
    parser.add_argument("--no-durability", action="store_true", help="skip the kill run")
    parser.add_argument("--durability-count", type=int, default=1000)
    parser.add_argument("--keep", action="store_true", help="keep work dirs and the PG database")
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    args = parser.parse_args(argv)
    if not 0 < args.duration <= 300 or args.connections < 1 or args.durability_count < 1:
        parser.error("--duration must be in (0, 300], --connections and --durability-count >= 1")
    if shutil.which("wrk") is None:
        print("wrk is needed: apt-get install -y wrk", file=sys.stderr)
        return 2
    settings = Settings(
        duration=args.duration,
        warmup=args.warmup,
        connections=args.connections,
        threads=args.threads,
        upload=not args.no_upload,
        durability=0 if args.no_durability else args.durability_count,
    )
    about = machine()
    workers, threads = serve_defaults()
    print(
        f"Civicstack submissions bench: {about['cpus']} CPUs ({about['cpu_model']}), "
        f"{about['memory']}, Python {about['python']}, Django {about.get('django')}, granian "
        f"{about.get('granian')}, SQLite {about['sqlite']}; load average "
        f"{', '.join(f'{n:.2f}' for n in about['load_average'])}"
    )
    print(f"civicstack serve defaults: {workers} workers x {threads} blocking threads")
    databases = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    runs: list[SubmissionRun] = []
    for db in databases:
        if db == "postgres" and not postgres_available():
            print(f"\n== postgres: not reachable on {HOST}:5432 as postgres; skipped")
            continue
        runs.append(bench_database(db, settings, keep=args.keep))
    print_report(runs, settings)
    if args.json is not None:
        payload = {
            "machine": about,
            "settings": asdict(settings),
            "runs": [asdict(r) for r in runs],
        }
        args.json.write_text(json.dumps(payload, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
