#!/usr/bin/env python3
# SPDX-License-Identifier: EUPL-1.2
"""Measure work queues, the case view and decisions with 10k to 1M cases, over HTTP.

Run from the repository root (``make bench-cases`` runs it with the defaults)::

    .venv/bin/python bench/cases.py [--db sqlite|postgres|both] [--sizes 10000,100000]
                                    [--requests 300] [--target-seconds 20]
                                    [--decisions 30] [--duration 5] [--json out.json]

Defaults: PostgreSQL with 10,000, 100,000 and 1,000,000 cases (``--pg-sizes``), SQLite
with 100,000 (``--sqlite-sizes``); ``--sizes`` sets both. For each database it:

1. copies ``src/`` into a work dir and prepares an isolated var dir there like
   ``bench/run.py`` (migrate, createcachetable, ``demo load``, collectstatic; a fresh
   ``civicstack_bench_cases`` PostgreSQL database for ``postgres``);
2. for each size, smallest first, adds cases with ``civicstack cases_synthetic`` up to
   that size (timed: the 1M figure is how long 1M cases take to load) and, on PostgreSQL,
   runs ``VACUUM (ANALYZE)``; makes a personal API key for the demo caseworker
   (``api_key_create(..., user=...)``, scopes ``cases:read`` and ``cases:write``) and picks
   random cases of the caseworker's agency;
3. starts ``civicstack serve --no-worker --no-scheduler`` in production mode, signs the
   demo caseworker in through the real pages (password, then the code from
   ``civicstack demo_totp``), and times, one request after another on one keep-alive
   connection, the back-office pages and the JSON API alike: the queue's first page, its
   20th page (following the next link or ``next_cursor`` 19 times, then timing that page),
   the queue of unassigned cases by priority, and the case view of random cases, each
   ``--requests`` times or for ``--target-seconds``, whichever ends first; then a short
   ``wrk`` run (``--connections``) on the first page and on random case views; submits
   ``--decisions`` applications to ``register-company`` through the applications API for
   the decisions below;
4. stops the server and, in process (``civicstack shell``, development signing key),
   counts the SQL queries of ``selectors.case_for_staff`` for a case with 1 and with 50
   timeline entries, times the queue selector (first page, page 20, the deepest page
   reached in 60 s up to page 200, unassigned by priority) and shows the database's plans
   for its queries, then opens the submitted applications' cases (automation switched off for the
   service, so a person decides) and claims and decides them one after another
   (``case_claim`` + ``case_decide``: the letter is rendered by WeasyPrint and signed by
   pyHanko), timing rendering, signing and the rest.

It prints a table per database and size, and whether each 1M figure is within 1.5x of the
10k figure (printed, never asserted). Every server is stopped in a ``finally`` block, every
load is bounded, only 127.0.0.1 is targeted. Needs ``wrk`` (``apt-get install -y wrk``).
"""

from __future__ import annotations

import argparse
import contextlib
import html
import http.cookiejar
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import submissions  # type: ignore[import-not-found]
from run import (  # type: ignore[import-not-found]
    BENCH_DIR,
    HOST,
    ROOT,
    BenchError,
    LoadResult,
    base_environment,
    civicstack_command,
    free_port,
    machine,
    parse_wrk,
    postgres_available,
    postgres_recreate,
    postgres_vacuum,
    running_server,
    serve_defaults,
    snapshot_source,
    tool,
    warm_search,
    wrk_command,
)
from submissions import (  # type: ignore[import-not-found]
    Client,
    application_body,
    demo_site_prepare,
    plan_for,
    serve_command,
    shell_json,
    submit,
)

PG_DATABASE = "civicstack_bench_cases"
PG_URL = f"postgres://postgres@{HOST}:5432/{PG_DATABASE}"
DEFAULT_PG_SIZES = (10_000, 100_000, 1_000_000)
DEFAULT_SQLITE_SIZES = (100_000,)

# The demo people and services measured (accounts.services._demo_people, demo catalogue).
CASEWORKER = "caseworker@example.org"
AGENCY = "aberhafren-county-borough-council"
DECISION_SERVICE = "register-company"
DECISION_CASEWORKER = "caseworker-2@example.org"
DECISION_OWNER = "service-owner-2@example.org"
USER_AGENT = "civicstack-bench-cases"
QUEUE_PAGE = "/en/back-office/cases"
CASE_PAGE = "/en/back-office/cases/{id}"
QUEUE_API = "/api/v1/cases"
CASE_API = "/api/v1/cases/{id}"
FILTER_QUERY = "assigned=unassigned&sort=priority"
DEEP_PAGE = 20
# In process only: how the cost of a page grows with its depth.
DEEPER_PAGE = 200
MAX_RATIO = 1.5

TARGETS = (
    ("page", "queue, first page"),
    ("page", f"queue, page {DEEP_PAGE}"),
    ("page", "queue, unassigned by priority"),
    ("page", "case view, random cases"),
    ("api", "queue, first page"),
    ("api", f"queue, page {DEEP_PAGE}"),
    ("api", "queue, unassigned by priority"),
    ("api", "case view, random cases"),
)

_NEXT_LINK = re.compile(r'href="([^"]*)" rel="next"')
_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


# --- Results ------------------------------------------------------------------------------


@dataclass
class Timing:
    """Sequential requests to one target: latency percentiles of the 200 answers."""

    p50_ms: float
    p99_ms: float
    mean_ms: float
    requests: int
    errors: dict[str, int] = field(default_factory=dict)


@dataclass
class SizeRun:
    """Everything measured at one size of one database."""

    db: str
    size: int
    load_seconds: float = 0.0
    load_output: str = ""
    vacuum_seconds: float = 0.0
    database_bytes: int = 0
    timings: dict[str, Timing] = field(default_factory=dict)
    concurrent: dict[str, LoadResult] = field(default_factory=dict)
    inprocess: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _timing(durations: list[float], errors: Counter[str]) -> Timing:
    return Timing(
        p50_ms=_percentile(durations, 0.50) * 1000,
        p99_ms=_percentile(durations, 0.99) * 1000,
        mean_ms=statistics.fmean(durations) * 1000 if durations else float("nan"),
        requests=len(durations),
        errors=dict(errors),
    )


# --- Preparation ------------------------------------------------------------------------------

SETUP_CODE = """
import json, random
from civicstack.accounts.models import Agency, User
from civicstack.accounts.services import DEMO_PASSWORD, api_key_create
from civicstack.cases.models import Case
user = User.objects.get(email=%(caseworker)r)
agency = Agency.objects.get(slug=%(agency)r)
_key, cases_secret = api_key_create(
    agency=agency, name="bench cases", scopes=["cases:read", "cases:write"], actor=None,
    user=user,
)
from civicstack.catalogue.selectors import service_get
registry = service_get(slug=%(decision_service)r).agency
_key, submit_secret = api_key_create(
    agency=registry, name="bench decisions", scopes=["applications:submit"], actor=None
)
total = Case.objects.filter(reference__startswith="CASE-SYN-").count()
rng = random.Random(%(seed)d)
numbers = rng.sample(range(1, total + 1), min(total, %(wanted)d * 3))
references = ["CASE-SYN-%%07d" %% n for n in numbers]
found = dict(
    Case.objects.filter(reference__in=references, agency=agency).values_list("reference", "pk")
)
ids = [str(found[r]) for r in references if r in found][: %(wanted)d]
print("BENCHJSON " + json.dumps({
    "cases_secret": cases_secret, "submit_secret": submit_secret, "password": DEMO_PASSWORD,
    "case_ids": ids, "total": total,
}))
"""

INPROCESS_CODE = """
import importlib.util, json, sys
sys.path.insert(0, %(bench)r)
spec = importlib.util.spec_from_file_location("bench_cases", %(path)r)
module = importlib.util.module_from_spec(spec)
sys.modules["bench_cases"] = module
spec.loader.exec_module(module)
print("BENCHJSON " + json.dumps(module.inprocess(%(options)r), default=str))
"""


def run_captured(
    command: list[str], *, env: dict[str, str], log: IO[str], timeout: float
) -> tuple[str, float]:
    """Run a preparation command, log its output; return the output and the seconds it took."""
    log.write(f"$ {' '.join(command)}\n")
    log.flush()
    started = time.monotonic()
    completed = subprocess.run(
        command,
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    seconds = time.monotonic() - started
    log.write(completed.stdout + completed.stderr)
    log.flush()
    if completed.returncode != 0:
        raise BenchError(f"{' '.join(command)} exited {completed.returncode} (see {log.name})")
    return completed.stdout, seconds


def prepare(db: str, var_dir: Path, *, source: Path, log: IO[str]) -> dict[str, str]:
    """Fill a fresh database and var dir with the demo; return the server environment."""
    env = base_environment(var_dir, source)
    env["DOCUMENT_KEYS"] = "bench:" + secrets.token_urlsafe(32)
    demo_site_prepare(db, env, log=log, database=PG_DATABASE, url=PG_URL)
    return env


def database_bytes(db: str, var_dir: Path) -> int:
    """Return the size of the benchmark database on disk."""
    if db == "postgres":
        query = f"SELECT pg_database_size('{PG_DATABASE}')"
        completed = subprocess.run(
            [tool("psql"), "-h", HOST, "-U", "postgres", "-d", PG_DATABASE, "-tAc", query],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return int(completed.stdout.strip() or 0)
    return sum(p.stat().st_size for p in var_dir.rglob("*.sqlite3*") if p.is_file())


# --- Signing in and requests ------------------------------------------------------------------


def demo_code(email: str, *, env: dict[str, str]) -> str:
    """Return the demo member of staff's current authenticator code."""
    completed = subprocess.run(
        [*civicstack_command(), "demo_totp", email],
        env={**env, "CIVICSTACK_ENVIRONMENT": "development"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    code = completed.stdout.strip().splitlines()[-1] if completed.stdout.strip() else ""
    if not re.fullmatch(r"\d{6}", code):
        raise BenchError(f"civicstack demo_totp printed no code: {completed.stderr[-500:]}")
    return code


def sign_in(base: str, *, email: str, password: str, env: dict[str, str]) -> str:
    """Sign in through the real pages (password, then the TOTP code); return the cookies."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.addheaders = [("User-Agent", USER_AGENT)]

    def post(path: str, page: str, fields: dict[str, str]) -> tuple[str, str]:
        token = _CSRF.search(page)
        if token is None:
            raise BenchError(f"no CSRF token on the page before {path}")
        data = urllib.parse.urlencode({"csrfmiddlewaretoken": token.group(1), **fields})
        with opener.open(base + path, data.encode(), timeout=30) as response:
            return response.geturl(), response.read().decode()

    with opener.open(base + "/en/account/sign-in", timeout=30) as response:
        page = response.read().decode()
    url, page = post(
        "/en/account/sign-in", page, {"email": email, "password": password, "next": QUEUE_PAGE}
    )
    if not url.endswith("/sign-in/code"):
        raise BenchError(f"signing in as {email} did not ask for a code (at {url})")
    for _attempt in range(3):
        url, page = post("/en/account/sign-in/code", page, {"code": demo_code(email, env=env)})
        if not url.endswith("/sign-in/code"):
            break
        # A code is accepted once: wait for the next one.
        time.sleep(31 - time.time() % 30)
    else:
        raise BenchError(f"the authenticator code for {email} was refused three times")
    cookies = "; ".join(f"{cookie.name}={cookie.value}" for cookie in jar)
    return cookies


def _get(client: Client, path: str, headers: dict[str, str]) -> tuple[int, bytes, float]:
    started = time.perf_counter()
    status, _headers, body = client.request("GET", path, headers=headers)
    return status, body, time.perf_counter() - started


def sequential(
    client: Client, paths: list[str], headers: dict[str, str], *, budget: float, warm: int = 5
) -> Timing:
    """GET each path once, one after another on one connection, after ``warm`` untimed.

    Stops after ``budget`` seconds, so a slow target is measured on fewer requests.
    """
    for path in paths[:warm]:
        _get(client, path, headers)
    durations: list[float] = []
    errors: Counter[str] = Counter()
    deadline = time.monotonic() + budget
    for path in paths:
        if time.monotonic() > deadline:
            break
        try:
            status, _body, seconds = _get(client, path, headers)
        except OSError as error:
            errors[type(error).__name__] += 1
            continue
        if status == 200:
            durations.append(seconds)
        else:
            errors[str(status)] += 1
    return _timing(durations, errors)


def page_after(
    client: Client, first: str, headers: dict[str, str], pages: int, *, api: bool
) -> str:
    """Follow the next link (pages) or ``next_cursor`` (API) to page ``pages``; return it."""
    path = first
    for _ in range(pages - 1):
        status, body, _seconds = _get(client, path, headers)
        if status != 200:
            raise BenchError(f"{path} answered {status} while paging")
        if api:
            cursor = json.loads(body).get("next_cursor")
            if not cursor:
                return ""
            path = f"{QUEUE_API}?{urllib.parse.urlencode({'cursor': cursor})}"
        else:
            found = _NEXT_LINK.search(body.decode())
            if found is None:
                return ""
            path = html.unescape(found.group(1))
    return path


def wrk_paths(
    base: str,
    paths: list[str],
    header: str,
    *,
    script: Path,
    duration: float,
    warmup: float,
    connections: int,
    log: IO[str],
) -> LoadResult:
    """Load ``paths`` in turn with wrk (the header carries the session or key)."""
    lines = ",\n".join(json.dumps(path) for path in paths)
    script.write_text(
        f"local paths = {{\n{lines}\n}}\nlocal i = 0\n"
        "request = function()\n  i = i + 1\n"
        "  return wrk.format('GET', paths[(i % #paths) + 1])\nend\n"
    )
    result = None
    for seconds in (warmup, duration):
        if seconds <= 0:
            continue
        command = wrk_command(
            base + paths[0], duration=seconds, connections=connections, threads=2, script=script
        )
        command[1:1] = ["-H", header]
        log.write(f"$ wrk ... {base}{paths[0]} ({len(paths)} paths)\n")
        completed = subprocess.run(
            command, capture_output=True, text=True, timeout=seconds + 60, check=False
        )
        log.write(completed.stdout + completed.stderr)
        if completed.returncode != 0:
            raise BenchError(f"wrk exited {completed.returncode}: {completed.stderr.strip()}")
        result = parse_wrk(completed.stdout)
    if result is None:
        raise BenchError("wrk did not run")
    return result


# --- In process (run inside ``civicstack shell``) --------------------------------------------


def _explain(sql: str) -> list[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
            return [str(row[0]) for row in cursor.fetchall()]
        cursor.execute("EXPLAIN QUERY PLAN " + sql)
        return [" ".join(str(part) for part in row) for row in cursor.fetchall()]


def _median_ms(action: Any, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def inprocess(options: dict[str, Any]) -> dict[str, Any]:
    """Count queries, time and explain the queue, and time decisions; return the figures."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from civicstack.accounts.models import Agency, User
    from civicstack.cases import selectors
    from civicstack.cases.management.commands.cases_synthetic import cases_synthetic_generate
    from civicstack.cases.models import Case

    result: dict[str, Any] = {"vendor": connection.vendor}
    user = User.objects.get(email=CASEWORKER)

    # Queries of the case view, with 1 and with 50 timeline entries.
    counts = {}
    for entries in (1, 50):
        report = cases_synthetic_generate(
            count=1, agency_slugs=[AGENCY], entries_per_case=entries, seed=entries, analyze=False
        )
        case = Case.objects.get(reference=report.first_reference)
        selectors.case_for_staff(case_id=case.pk, user=user, purpose="bench")
        with CaptureQueriesContext(connection) as captured:
            view = selectors.case_for_staff(case_id=case.pk, user=user, purpose="bench")
        counts[str(entries)] = {
            "queries": len(captured.captured_queries),
            "entries": len(view.entries),
            "ms": _median_ms(
                lambda pk=case.pk: selectors.case_for_staff(case_id=pk, user=user, purpose="bench"),
                20,
            ),
        }
    result["case_view_queries"] = counts

    # The queue selector: time, plan, and what the rows cost.
    due = selectors.QueueFilters()
    unassigned = selectors.QueueFilters(assigned="unassigned", sort="priority")
    cursors = {1: ""}
    cursor = ""
    # Bounded: where each page costs half a second, 200 of them would take too long.
    deadline = time.monotonic() + 60
    for number in range(2, DEEPER_PAGE + 1):
        cursor = selectors.case_queue(user=user, filters=due, cursor=cursor).next_cursor
        if not cursor or time.monotonic() > deadline:
            break
        cursors[number] = cursor
    deepest = max(cursors)
    result["deepest_page"] = deepest
    queue: dict[str, Any] = {}
    for label, filters, after in (
        ("first page", due, ""),
        (f"page {DEEP_PAGE}", due, cursors.get(DEEP_PAGE)),
        (f"page {deepest}", due, cursors[deepest] if deepest > DEEP_PAGE else None),
        ("unassigned by priority", unassigned, ""),
    ):
        if after is None:
            continue
        with CaptureQueriesContext(connection) as captured:
            selectors.case_queue(user=user, filters=filters, cursor=after)
        page_sql = [q["sql"] for q in captured.captured_queries if "ORDER BY" in q["sql"]]
        queue[label] = {
            "ms": _median_ms(
                lambda f=filters, c=after: selectors.case_queue(user=user, filters=f, cursor=c),
                10,
            ),
            "queries": len(captured.captured_queries),
            "plan": _explain(page_sql[-1]) if page_sql else [],
        }
    agency = Agency.objects.get(slug=AGENCY)
    rows = (
        Case.objects.filter(agency_id__in=[agency.pk], closed_at__isnull=True)
        .select_related("service", "assignee")
        .order_by("due_on", "id")
    )
    queue["rows: all columns (as the selector)"] = {"ms": _median_ms(lambda: list(rows[:51]), 10)}
    queue["rows: without workflow_state and answers"] = {
        "ms": _median_ms(lambda: list(rows.defer("workflow_state", "answers")[:51]), 10)
    }
    result["queue"] = queue

    # Decisions: cases opened from real applications, claimed and decided in turn.
    application_ids = options.get("applications", [])
    if application_ids:
        result["decisions"] = _decisions(application_ids, warm=options.get("warm_decisions", 2))
    return result


def _decisions(application_ids: list[str], *, warm: int) -> dict[str, Any]:
    from uuid import UUID

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from civicstack.accounts.models import User
    from civicstack.cases import letters, selectors, services, signing
    from civicstack.catalogue.selectors import service_get

    service = service_get(slug=DECISION_SERVICE)
    worker = User.objects.get(email=DECISION_CASEWORKER)
    current = selectors.case_settings_for(service=service)
    if service is None or current is None:
        raise BenchError(f"{DECISION_SERVICE} or its case settings are missing")
    # Automation would approve these applications by itself: a person decides here.
    services.case_settings_update(
        service=service,
        target_working_days=current.target_working_days,
        nation=current.nation,
        four_eyes=False,
        automation_enabled=False,
        actor=User.objects.get(email=DECISION_OWNER),
    )
    outcome = next(o["value"] for o in current.outcomes if o["kind"] == "approve")
    opened = []
    started = time.perf_counter()
    for application_id in application_ids:
        case = services.case_open_for_application(application_id=UUID(application_id))
        if case is not None and case.is_open:
            opened.append(case)
    open_seconds = time.perf_counter() - started
    spent = {"render": 0.0, "sign": 0.0}
    render, sign = letters.letter_render, signing.pdf_sign

    def timed(name: str, function: Any) -> Any:
        def wrapper(**kwargs: Any) -> Any:
            begin = time.perf_counter()
            try:
                return function(**kwargs)
            finally:
                spent[name] += time.perf_counter() - begin

        return wrapper

    # The services call letters.letter_render and signing.pdf_sign through their modules.
    letters.letter_render = timed("render", render)
    signing.pdf_sign = timed("sign", sign)
    durations: list[float] = []
    queries: list[int] = []
    try:
        for number, case in enumerate(opened):
            if number == warm:
                spent["render"] = spent["sign"] = 0.0
            begin = time.perf_counter()
            with CaptureQueriesContext(connection) as captured:
                claimed = services.case_claim(case=case, actor=worker)
                services.case_decide(
                    case=claimed,
                    outcome=outcome,
                    reasons="The company meets every condition for registration.",
                    actor=worker,
                )
            if number >= warm:
                durations.append(time.perf_counter() - begin)
                queries.append(len(captured.captured_queries))
    finally:
        letters.letter_render, signing.pdf_sign = render, sign
    total = sum(durations)
    count = len(durations)
    return {
        "decisions": count,
        "warm_up_decisions": min(warm, len(opened)),
        "cases_opened": len(opened),
        "open_ms_each": open_seconds / len(opened) * 1000 if opened else None,
        "per_second": count / total if total else None,
        "p50_ms": _percentile(durations, 0.5) * 1000,
        "p99_ms": _percentile(durations, 0.99) * 1000,
        "render_ms": spent["render"] / count * 1000 if count else None,
        "sign_ms": spent["sign"] / count * 1000 if count else None,
        "rest_ms": (total - spent["render"] - spent["sign"]) / count * 1000 if count else None,
        "queries_each": statistics.median(queries) if queries else None,
    }


# --- One size of one database -----------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """How much each size is measured."""

    requests: int
    budget: float
    decisions: int
    duration: float
    warmup: float
    connections: int


def measure_http(
    run: SizeRun,
    base: str,
    port: int,
    *,
    setup: dict[str, Any],
    env: dict[str, str],
    settings: Settings,
    work_dir: Path,
    log: IO[str],
) -> list[str]:
    """Time the pages and the API; submit the decision applications; return their ids."""
    cookies = sign_in(base, email=CASEWORKER, password=setup["password"], env=env)
    headers = {
        "page": {"Cookie": cookies, "User-Agent": USER_AGENT, "Accept-Language": "en"},
        "api": {"Authorization": f"Bearer {setup['cases_secret']}", "User-Agent": USER_AGENT},
    }
    ids = setup["case_ids"]
    half = len(ids) // 2
    samples = {"page": ids[:half], "api": ids[half:]}
    for kind in ("page", "api"):
        client = Client(port)
        first = QUEUE_PAGE if kind == "page" else QUEUE_API
        case_path = CASE_PAGE if kind == "page" else CASE_API
        try:
            status, _body, _s = _get(client, first, headers[kind])
            if status != 200:
                raise BenchError(f"{first} answered {status} to the signed-in caseworker")
            deep = page_after(client, first, headers[kind], DEEP_PAGE, api=kind == "api")
            paths = {
                "queue, first page": [first] * settings.requests,
                f"queue, page {DEEP_PAGE}": [deep] * settings.requests if deep else [],
                "queue, unassigned by priority": [f"{first}?{FILTER_QUERY}"] * settings.requests,
                "case view, random cases": [case_path.format(id=i) for i in samples[kind]],
            }
            for label, targets in paths.items():
                if not targets:
                    run.notes.append(f"{kind}: fewer than {DEEP_PAGE} pages, no {label}")
                    continue
                timing = sequential(client, targets, headers[kind], budget=settings.budget)
                run.timings[f"{kind}: {label}"] = timing
                print(f"   {kind}: {label:<30} {_brief(timing)}", flush=True)
        finally:
            client.close()
        if settings.duration > 0:
            header = "Cookie: " + cookies if kind == "page" else "Authorization: Bearer "
            if kind == "api":
                header += setup["cases_secret"]
            for label, targets in (
                ("queue, first page", [first]),
                ("case view, random cases", [case_path.format(id=i) for i in samples[kind]]),
            ):
                result = wrk_paths(
                    base,
                    targets,
                    header,
                    script=work_dir / "cases.lua",
                    duration=settings.duration,
                    warmup=settings.warmup,
                    connections=settings.connections,
                    log=log,
                )
                run.concurrent[f"{kind}: {label}"] = result
                print(
                    f"   {kind}: {label:<30} wrk -c{settings.connections}: "
                    f"{result.requests_per_second:.0f} req/s, p50 {result.p50_ms:.1f} ms, "
                    f"p99 {result.p99_ms:.1f} ms"
                    + ("" if result.clean else f" [non-2xx {result.non_2xx}]"),
                    flush=True,
                )
    return submit_applications(port, setup["submit_secret"], settings.decisions, log=log)


def submit_applications(port: int, secret: str, count: int, *, log: IO[str]) -> list[str]:
    """Submit ``count`` valid applications through the API; return their ids."""
    if count <= 0:
        return []
    # The company's name must end in "Limited": submissions.py's example texts do not, so
    # one more is offered last (questions without a pattern keep their first choice).
    if "Bench Widgets Limited" not in submissions._TEXT_CANDIDATES:
        submissions._TEXT_CANDIDATES = (*submissions._TEXT_CANDIDATES, "Bench Widgets Limited")
    plan = plan_for(port, DECISION_SERVICE, secret, with_files=False, pdf=b"", log=log)
    if plan is None:
        raise BenchError(f"the applications API refused every {DECISION_SERVICE} application")
    client = Client(port)
    ids = []
    try:
        for number in range(count):
            body = application_body(plan, email=f"decide{number}@example.com", document_ids=[])
            key = f"bench-decide-{secrets.token_hex(8)}"
            status, _headers, data = submit(client, DECISION_SERVICE, secret, key, body)
            if status != 201:
                raise BenchError(f"submitting an application answered {status}: {data[:300]!r}")
            ids.append(str(json.loads(data)["id"]))
    finally:
        client.close()
    return ids


def bench_size(
    db: str,
    size: int,
    loaded: int,
    *,
    env: dict[str, str],
    var_dir: Path,
    work_dir: Path,
    settings: Settings,
    log: IO[str],
) -> SizeRun:
    """Load cases up to ``size``, then measure over HTTP and in process."""
    run = SizeRun(db=db, size=size)
    began = time.monotonic()
    load_env = {**env, "CIVICSTACK_ENVIRONMENT": "development"}
    cs = civicstack_command()
    output, run.load_seconds = run_captured(
        [*cs, "cases_synthetic", "--count", str(size - loaded)],
        env=load_env,
        log=log,
        timeout=3600,
    )
    run.load_output = next(
        (line for line in output.splitlines() if line.startswith("synthetic cases created")), ""
    )
    print(f"   loaded {size - loaded:,} cases in {run.load_seconds:.0f} s", flush=True)
    if db == "postgres":
        started = time.monotonic()
        postgres_vacuum(database=PG_DATABASE, env=env, log=log)
        run.vacuum_seconds = time.monotonic() - started
    run.database_bytes = database_bytes(db, var_dir)
    setup = shell_json(
        SETUP_CODE
        % {
            "caseworker": CASEWORKER,
            "agency": AGENCY,
            "decision_service": DECISION_SERVICE,
            "seed": size,
            "wanted": 2 * settings.requests,
        },
        env=load_env,
        log=log,
    )
    port = free_port()
    with running_server(
        serve_command(port), env=env, port=port, log_path=work_dir / "serve.log"
    ) as base:
        warm_search(base)
        applications = measure_http(
            run,
            base,
            port,
            setup=setup,
            env=env,
            settings=settings,
            work_dir=work_dir,
            log=log,
        )
    run.inprocess = shell_json(
        INPROCESS_CODE
        % {
            "bench": str(BENCH_DIR),
            "path": str(Path(__file__).resolve()),
            "options": {"applications": applications, "warm_decisions": 2},
        },
        env=load_env,
        log=log,
        timeout=1800,
    )
    print_inprocess(run)
    print(f"   {db} at {size:,} cases took {time.monotonic() - began:.0f} s in all", flush=True)
    run.notes.append("load average after: " + ", ".join(f"{n:.2f}" for n in os.getloadavg()))
    return run


def bench_database(db: str, sizes: list[int], settings: Settings, *, keep: bool) -> list[SizeRun]:
    """Prepare ``db`` once and measure it at each size, loading the difference each time."""
    runs: list[SizeRun] = []
    work_dir = Path(tempfile.mkdtemp(prefix=f"civicstack-cases-{db}-"))
    var_dir = work_dir / "var"
    var_dir.mkdir()
    log_path = work_dir / "bench.log"
    print(f"\n== {db}: work dir {work_dir} (log: {log_path})", flush=True)
    failed = False
    try:
        with log_path.open("a") as log:
            started = time.monotonic()
            source = snapshot_source(work_dir)
            env = prepare(db, var_dir, source=source, log=log)
            print(f"   prepared in {time.monotonic() - started:.1f} s", flush=True)
            loaded = 0
            for size in sorted(sizes):
                print(f"-- {db}, {size:,} cases", flush=True)
                runs.append(
                    bench_size(
                        db,
                        size,
                        loaded,
                        env=env,
                        var_dir=var_dir,
                        work_dir=work_dir,
                        settings=settings,
                        log=log,
                    )
                )
                loaded = size
    except (BenchError, subprocess.TimeoutExpired) as error:
        failed = True
        print(f"   FAILED: {error}", flush=True)
        if runs:
            runs[-1].notes.append(f"failed after this size: {error}")
    finally:
        if db == "postgres" and not keep:
            with contextlib.suppress(Exception), log_path.open("a") as log:
                postgres_recreate(log=log, drop_only=True, database=PG_DATABASE)
        if failed or keep:
            print(f"   kept {work_dir} for its logs", flush=True)
        else:
            shutil.rmtree(work_dir, ignore_errors=True)
    return runs


# --- Report ---------------------------------------------------------------------------------


def _brief(timing: Timing) -> str:
    text = f"p50 {timing.p50_ms:.1f} ms, p99 {timing.p99_ms:.1f} ms ({timing.requests} requests)"
    if timing.errors:
        text += f" errors {timing.errors}"
    return text


# The lines of a query plan worth printing: how the rows were found and what it cost.
_PLAN_KEYS = (
    "on cases_case",
    "Rows Removed by Filter",
    "Sort Method",
    "Execution Time",
    "SEARCH cases_case",
    "SCAN cases_case",
    "TEMP B-TREE",
)


def print_inprocess(run: SizeRun) -> None:
    """Print the in-process figures of one size as they arrive."""
    figures = run.inprocess
    for entries, found in figures.get("case_view_queries", {}).items():
        print(
            f"   case_for_staff, {entries} timeline entries: {found['queries']} queries, "
            f"{found['ms']:.1f} ms",
            flush=True,
        )
    for label, found in figures.get("queue", {}).items():
        line = f"   queue selector, {label}: {found['ms']:.1f} ms"
        plan = [p.strip() for p in found.get("plan", []) if any(k in p for k in _PLAN_KEYS)]
        print(line + (f" ({'; '.join(plan)})" if plan else ""), flush=True)
    decisions = figures.get("decisions")
    if decisions:
        print(f"   decisions: {_brief_decisions(decisions)}", flush=True)


def _brief_decisions(found: dict[str, Any]) -> str:
    if not found.get("per_second"):
        return "none measured"
    return (
        f"{found['per_second']:.2f}/s over {found['decisions']} (claim + decide), p50 "
        f"{found['p50_ms']:.0f} ms, p99 {found['p99_ms']:.0f} ms; render "
        f"{found['render_ms']:.0f} ms, sign {found['sign_ms']:.0f} ms, rest "
        f"{found['rest_ms']:.0f} ms; {found['queries_each']:.0f} queries each"
    )


def _cell(run: SizeRun, key: str) -> str:
    timing = run.timings.get(key)
    if timing is None:
        return "-"
    return f"{timing.p50_ms:.1f} / {timing.p99_ms:.1f}" + ("*" if timing.errors else "")


def print_report(runs: list[SizeRun], settings: Settings) -> None:
    """Print the figures side by side per database and size, and the 1M/10k ratios."""
    if not runs:
        return
    width = 17
    print(
        f"\nSequential requests on one keep-alive connection, p50 / p99 ms (up to "
        f"{settings.requests} requests or {settings.budget:g} s per target, the counts are in "
        "the JSON; random cases each once); * = some answers were not 200"
    )
    header = f"{'target':<40}" + "".join(
        f" | {r.db[:2] + ' ' + _size(r.size):>{width}}" for r in runs
    )
    print(header)
    print("-" * len(header))
    for kind, label in TARGETS:
        key = f"{kind}: {label}"
        print(f"{key:<40}" + "".join(f" | {_cell(r, key):>{width}}" for r in runs))
    rows: list[tuple[str, Any]] = [
        ("wrk req/s page: queue", lambda r: _wrk(r, "page: queue, first page")),
        ("wrk req/s page: case view", lambda r: _wrk(r, "page: case view, random cases")),
        ("wrk req/s api: queue", lambda r: _wrk(r, "api: queue, first page")),
        ("wrk req/s api: case view", lambda r: _wrk(r, "api: case view, random cases")),
        ("case_for_staff queries, 1 entry", lambda r: _queries(r, "1")),
        ("case_for_staff queries, 50 entries", lambda r: _queries(r, "50")),
        ("queue selector ms, first page", lambda r: _queue_ms(r, "first page")),
        (f"queue selector ms, page {DEEP_PAGE}", lambda r: _queue_ms(r, f"page {DEEP_PAGE}")),
        ("queue selector ms, deepest page (n)", _deepest),
        ("queue selector ms, unassigned", lambda r: _queue_ms(r, "unassigned by priority")),
        ("decisions/s (claim + decide)", lambda r: _decision(r, "per_second", "{:.2f}")),
        ("  render / sign / rest ms", _split),
        ("load: seconds for the added cases", lambda r: f"{r.load_seconds:.0f}"),
        ("database size", lambda r: f"{r.database_bytes / 1024**3:.2f} GiB"),
    ]
    for label, cell in rows:
        print(f"{label:<40}" + "".join(f" | {cell(r):>{width}}" for r in runs))
    for r in runs:
        for note in r.notes:
            print(f"  {r.db} {_size(r.size)}: {note}")
        if r.load_output:
            print(f"  {r.db} {_size(r.size)}: {r.load_output}")
    by_size = {r.size: r for r in runs if r.db == "postgres"}
    small, large = by_size.get(10_000), by_size.get(1_000_000)
    if small is None or large is None:
        print("\n1M vs 10k on PostgreSQL: not both measured in this run")
        return
    print(f"\n1M vs 10k on PostgreSQL, p50 (target: within {MAX_RATIO}x)")
    for kind, label in TARGETS:
        key = f"{kind}: {label}"
        a, b = small.timings.get(key), large.timings.get(key)
        if a is None or b is None:
            continue
        ratio = b.p50_ms / a.p50_ms
        verdict = "within" if ratio <= MAX_RATIO else "NOT within"
        print(
            f"  {key:<40} {a.p50_ms:7.1f} -> {b.p50_ms:7.1f} ms  {ratio:5.2f}x  "
            f"{verdict} {MAX_RATIO}x"
        )


def _size(size: int) -> str:
    return f"{size // 1_000_000}M" if size % 1_000_000 == 0 else f"{size // 1000}k"


def _wrk(run: SizeRun, key: str) -> str:
    found = run.concurrent.get(key)
    return f"{found.requests_per_second:.0f}" if found else "-"


def _queries(run: SizeRun, entries: str) -> str:
    found = run.inprocess.get("case_view_queries", {}).get(entries)
    return str(found["queries"]) if found else "-"


def _queue_ms(run: SizeRun, label: str) -> str:
    found = run.inprocess.get("queue", {}).get(label)
    return f"{found['ms']:.1f}" if found else "-"


def _deepest(run: SizeRun) -> str:
    deepest = run.inprocess.get("deepest_page", 0)
    if deepest <= DEEP_PAGE:
        return "-"
    return f"{_queue_ms(run, f'page {deepest}')} ({deepest})"


def _decision(run: SizeRun, key: str, pattern: str) -> str:
    value = (run.inprocess.get("decisions") or {}).get(key)
    return pattern.format(value) if value is not None else "-"


def _split(run: SizeRun) -> str:
    found = run.inprocess.get("decisions") or {}
    if not found.get("per_second"):
        return "-"
    return f"{found['render_ms']:.0f} / {found['sign_ms']:.0f} / {found['rest_ms']:.0f}"


def _sizes(text: str) -> list[int]:
    try:
        sizes = sorted({int(part.replace("_", "")) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError("sizes are whole numbers, comma-separated") from None
    if not sizes or sizes[0] < 1000 or sizes[-1] > 2_000_000:
        raise argparse.ArgumentTypeError("sizes must be between 1,000 and 2,000,000")
    return sizes


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--sizes", type=_sizes, default=None, help="for both databases")
    parser.add_argument("--pg-sizes", type=_sizes, default=list(DEFAULT_PG_SIZES))
    parser.add_argument("--sqlite-sizes", type=_sizes, default=list(DEFAULT_SQLITE_SIZES))
    parser.add_argument("--requests", type=int, default=300, help="sequential requests per target")
    parser.add_argument(
        "--target-seconds",
        type=float,
        default=20.0,
        help="stop a target's sequential requests after this long (slow targets get fewer)",
    )
    parser.add_argument("--decisions", type=int, default=30, help="decisions timed in process")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of wrk (0: none)")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of wrk before each")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections")
    parser.add_argument("--keep", action="store_true", help="keep work dirs and the PG database")
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    args = parser.parse_args(argv)
    if not 20 <= args.requests <= 5000 or not 0 <= args.decisions <= 500:
        parser.error("--requests must be in 20..5000 and --decisions in 0..500")
    if not 0 <= args.duration <= 120 or args.connections < 1:
        parser.error("--duration must be in [0, 120] and --connections >= 1")
    if shutil.which("wrk") is None:
        print("wrk is needed: apt-get install -y wrk", file=sys.stderr)
        return 2
    settings = Settings(
        requests=args.requests,
        budget=args.target_seconds,
        decisions=args.decisions + 2,  # the first two warm WeasyPrint and the signer up
        duration=args.duration,
        warmup=args.warmup,
        connections=args.connections,
    )
    about = machine()
    workers, threads = serve_defaults()
    postgres_version = ""
    if postgres_available():
        completed = subprocess.run(
            [tool("psql"), "-h", HOST, "-U", "postgres", "-tAc", "SHOW server_version"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        postgres_version = completed.stdout.strip()
    print(
        f"Civicstack cases bench: {about['cpus']} CPUs ({about['cpu_model']}), "
        f"{about['memory']}, Python {about['python']}, Django {about.get('django')}, granian "
        f"{about.get('granian')}, SQLite {about['sqlite']}, PostgreSQL "
        f"{postgres_version or 'not reachable'}; load average "
        f"{', '.join(f'{n:.2f}' for n in about['load_average'])}"
    )
    print(f"civicstack serve defaults: {workers} workers x {threads} blocking threads")
    databases = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    runs: list[SizeRun] = []
    for db in databases:
        if db == "postgres" and not postgres_available():
            print(f"\n== postgres: not reachable on {HOST}:5432 as postgres; skipped")
            continue
        sizes = args.sizes or (args.pg_sizes if db == "postgres" else args.sqlite_sizes)
        runs.extend(bench_database(db, sizes, settings, keep=args.keep))
    # PostgreSQL first in the table: its sizes are the ones compared.
    runs.sort(key=lambda r: (r.db != "postgres", r.size))
    print_report(runs, settings)
    if args.json is not None:
        payload = {
            "machine": about,
            "postgres": postgres_version,
            "settings": asdict(settings),
            "runs": [asdict(r) for r in runs],
        }
        args.json.write_text(json.dumps(payload, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
