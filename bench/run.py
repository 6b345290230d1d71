#!/usr/bin/env python3
# SPDX-License-Identifier: EUPL-1.2
"""Load-test Civicstack's public pages on SQLite and PostgreSQL, against a bare Django floor.

Run from the repository root (``make bench`` runs it with the defaults)::

    .venv/bin/python bench/run.py [--db sqlite|postgres|both] [--duration 10]
                                  [--connections 32] [--no-matrix] [--no-passwords]

For each database it:

1. copies ``src/`` into a work dir under /tmp (every process imports that snapshot, so
   code edited during the run cannot meet an older schema) and prepares an isolated var
   dir there (never the repository's ``var/``): migrate,
   ``demo load``, ``demo synthetic --count 10000`` and collectstatic, with a fresh
   ``civicstack_bench`` PostgreSQL database for ``postgres``;
2. starts ``civicstack serve --no-worker --no-scheduler`` in production mode (the web
   server ``make run`` starts, with its default workers and threads), waits for
   ``/health/live``, warms every page up (each worker builds its own search index on its
   first search) and loads each target with ``wrk --latency`` from 127.0.0.1;
3. serves ``bench/floor_app.py`` (one view, no middleware, no database) with the same
   granian flags, as the floor the pages are compared with;
4. compares web servers on the home and a service page: granian (2 workers, 1/2/4
   blocking threads) and gunicorn (2 sync workers; 2 gthread workers with 2 and 4 threads).

With ``--rounds N`` everything is measured N times and the best run kept (on a shared
machine other work only slows a run down). Then it prints a table per database side by
side, the pass/fail of each target (printed, never asserted) and, unless
``--no-passwords``, ``bench/passwords.py``. Every server it
starts is stopped in a ``finally`` block, every run is bounded in time, and only
127.0.0.1 is targeted. Needs ``wrk`` (``apt-get install -y wrk``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
sys.path.insert(0, str(ROOT / "src"))

from civicstack.core.management.commands.serve import (  # noqa: E402
    Command as ServeCommand,
)
from civicstack.core.management.commands.serve import web_command  # noqa: E402

HOST = "127.0.0.1"
PG_DATABASE = "civicstack_bench"
PG_URL = f"postgres://postgres@{HOST}:5432/{PG_DATABASE}"
SEARCH_SCRIPT = BENCH_DIR / "wrk_search.lua"
DISTINCT_SEARCH_SCRIPT = BENCH_DIR / "wrk_search_distinct.lua"
SCRIPTS = {"search": SEARCH_SCRIPT, "search-tail": DISTINCT_SEARCH_SCRIPT}

# What each target is: a real demo service and guide, and a search the warm-up uses.
SERVICE_PATH = "/en/services/renew-driving-licence"
GUIDE_PATH = "/en/step-by-step/having-a-baby"
WARM_SEARCH_PATH = "/en/search?q=driving+licence"
TARGETS: dict[str, str] = {
    "home": "/en/",
    "service": SERVICE_PATH,
    "guide": GUIDE_PATH,
    "search": "/en/search?q=... (bench/wrk_search.lua, 32 popular queries)",
    "search-tail": "/en/search?q=... (bench/wrk_search_distinct.lua, thousands of distinct)",
}
PAGE_TARGETS = ("home", "service", "guide")

# Thresholds printed beside the figures (never asserted).
MIN_FLOOR_RATIO = 0.5
MAX_P99_MS = 50.0

# Environment variables that would point the benchmark at something other than its own
# isolated var dir and database; they are removed from the inherited environment.
INHERITED_OVERRIDES = (
    "DATABASE_URL",
    "REDIS_URL",
    "SQLITE_PATH",
    "STATIC_ROOT",
    "MEDIA_ROOT",
    "DB_CONN_MAX_AGE",
    "DJANGO_SETTINGS_MODULE",
    "CIVICSTACK_PROJECT_DIR",
    "FILE_STORAGE_BACKEND",
    "EMAIL_BACKEND",
    "SECURE_SSL_REDIRECT",
    "LOG_LEVEL",
)


class BenchError(RuntimeError):
    """A step of the benchmark failed (its output says why)."""


# --- Results ------------------------------------------------------------------------------


@dataclass
class LoadResult:
    """What one wrk run measured."""

    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int = 0
    socket_errors: int = 0

    @property
    def clean(self) -> bool:
        """Return True when every response was 2xx/3xx and no socket failed."""
        return self.non_2xx == 0 and self.socket_errors == 0


@dataclass
class DatabaseRun:
    """Every figure measured against one database."""

    db: str
    targets: dict[str, LoadResult] = field(default_factory=dict)
    floor: LoadResult | None = None
    matrix: dict[str, dict[str, LoadResult]] = field(default_factory=dict)
    samples: dict[str, list[LoadResult]] = field(default_factory=dict)
    serve_command: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def keep(self, name: str, sample: LoadResult) -> None:
        """Record a sample of target ``name`` and keep the best one as its figure."""
        self.samples.setdefault(name, []).append(sample)
        if name == "floor":
            self.floor = better(self.floor, sample)
        else:
            self.targets[name] = better(self.targets.get(name), sample)

    def keep_matrix(self, label: str, *, home: LoadResult, service: LoadResult) -> None:
        """Record one round of a server configuration, keeping the best of each page."""
        row = self.matrix.setdefault(label, {})
        for page, sample in (("home", home), ("service", service)):
            self.samples.setdefault(f"{label}: {page}", []).append(sample)
            row[page] = better(row.get(page), sample)


def better(current: LoadResult | None, sample: LoadResult) -> LoadResult:
    """Return the better of two runs: error-free first, then more requests per second.

    On a shared machine other work only ever slows a run down, so with several rounds the
    fastest clean one is the best estimate of what the server can do.
    """
    if current is None:
        return sample
    if current.clean != sample.clean:
        return current if current.clean else sample
    return sample if sample.requests_per_second > current.requests_per_second else current


# --- Processes ------------------------------------------------------------------------------


def civicstack_command() -> list[str]:
    """Return the ``civicstack`` console script of this venv, as ``make run`` calls it."""
    script = Path(sys.executable).with_name("civicstack")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "civicstack"]


def run_step(command: list[str], *, env: dict[str, str], log: IO[str], timeout: float) -> None:
    """Run one preparation command to completion, logging it; raise if it fails."""
    log.write(f"$ {' '.join(command)}\n")
    log.flush()
    completed = subprocess.run(
        command,
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        timeout=timeout,
        check=False,
    )
    if completed.returncode != 0:
        raise BenchError(f"{' '.join(command)} exited {completed.returncode} (see {log.name})")


def tool(name: str) -> str:
    """Return the full path of an external program, or raise if it is not installed."""
    found = shutil.which(name)
    if found is None:
        raise BenchError(f"{name} is not installed")
    return found


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def http_get(url: str, *, timeout: float = 30.0) -> tuple[int, float]:
    """GET ``url`` on a fresh connection; return its status and the seconds it took."""
    if not url.startswith(f"http://{HOST}:"):
        raise BenchError(f"refusing to request {url}: only {HOST} is benchmarked")
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            response.read()
            status = int(response.status)
    except urllib.error.HTTPError as error:
        status = error.code
    return status, time.perf_counter() - started


def stop_process_group(process: subprocess.Popen[bytes]) -> None:
    """Stop the server we started and every process it started (its own session)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
    # The supervisor may be gone while a worker lingers: make sure the group is empty.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


@contextlib.contextmanager
def running_server(
    command: list[str],
    *,
    env: dict[str, str],
    port: int,
    log_path: Path,
    ready_path: str = "/health/live",
    start_timeout: float = 60.0,
) -> Iterator[str]:
    """Start a web server in its own session, yield its base URL, and always stop it."""
    base = f"http://{HOST}:{port}"
    with log_path.open("ab") as log:
        log.write(f"$ {' '.join(command)}\n".encode())
        log.flush()
        process = subprocess.Popen(
            command,
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + start_timeout
            while True:
                if process.poll() is not None:
                    raise BenchError(f"server exited {process.returncode} (see {log_path})")
                with contextlib.suppress(OSError):
                    status, _ = http_get(base + ready_path, timeout=2)
                    if status == 200:
                        break
                if time.monotonic() > deadline:
                    raise BenchError(f"server not live after {start_timeout:g} s ({log_path})")
                time.sleep(0.25)
            yield base
        finally:
            stop_process_group(process)


# --- Preparation ----------------------------------------------------------------------------


def snapshot_source(work_dir: Path) -> Path:
    """Copy ``src/`` into ``work_dir`` and return the copy, which every process imports.

    Other people edit the app while benchmarks run: without a snapshot, a server started
    late in the run could import models newer than the schema migrated at its start.
    """
    copy = work_dir / "src"
    shutil.copytree(ROOT / "src", copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return copy


def base_environment(var_dir: Path, source: Path) -> dict[str, str]:
    """Return the production environment the servers run with, importing ``source``."""
    env = {k: v for k, v in os.environ.items() if k not in INHERITED_OVERRIDES}
    env.update(
        {
            "PYTHONPATH": str(source),
            "CIVICSTACK_PROJECT_DIR": str(ROOT),
            "CIVICSTACK_VAR_DIR": str(var_dir),
            "CIVICSTACK_ENVIRONMENT": "production",
            "SECRET_KEY": "bench-only-" + os.urandom(24).hex(),
            "ALLOWED_HOSTS": HOST,
            "HTTPS": "false",
            "DEBUG": "false",
            "DJANGO_SETTINGS_MODULE": "civicstack.conf.settings",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def postgres_available() -> bool:
    """Return True when PostgreSQL answers on 127.0.0.1:5432 and psql/createdb exist."""
    if not all(shutil.which(tool) for tool in ("pg_isready", "createdb", "dropdb")):
        return False
    check = subprocess.run(
        [tool("pg_isready"), "-h", HOST, "-p", "5432", "-U", "postgres", "-t", "5"],
        capture_output=True,
        timeout=10,
        check=False,
    )
    return check.returncode == 0


def postgres_recreate(
    *, log: IO[str], drop_only: bool = False, database: str = PG_DATABASE
) -> None:
    """Drop the benchmark database and, unless ``drop_only``, create it afresh."""
    env = {**os.environ, "PGCONNECT_TIMEOUT": "10"}
    connection = ["-h", HOST, "-p", "5432", "-U", "postgres"]
    run_step([tool("dropdb"), "--if-exists", *connection, database], env=env, log=log, timeout=60)
    if not drop_only:
        run_step([tool("createdb"), *connection, database], env=env, log=log, timeout=60)


ANALYZE_CODE = "from django.db import connection; connection.cursor().execute('ANALYZE')"


def postgres_vacuum(*, database: str, env: dict[str, str], log: IO[str]) -> None:
    """Run VACUUM (ANALYZE) on a benchmark database before it is measured."""
    command = [tool("psql"), "-h", HOST, "-U", "postgres", "-d", database, "-q", "-c"]
    run_step([*command, "VACUUM (ANALYZE)"], env=env, log=log, timeout=600)


def prepare(
    db: str, var_dir: Path, *, source: Path, synthetic: int, analyze: bool, log: IO[str]
) -> dict[str, str]:
    """Fill a fresh database and var dir; return the server environment.

    The loaders already refresh planner statistics (ANALYZE); ``analyze`` runs it once
    more after everything is loaded. On PostgreSQL the tables are vacuumed before any
    measurement.

    ``demo load`` also loads demo people, which production refuses, so the loads run with
    CIVICSTACK_ENVIRONMENT=development against the same database and var dir; only the
    servers run in production mode.
    """
    env = base_environment(var_dir, source)
    if db == "postgres":
        postgres_recreate(log=log)
        env["DATABASE_URL"] = PG_URL
    load_env = {**env, "CIVICSTACK_ENVIRONMENT": "development"}
    cs = civicstack_command()
    run_step([*cs, "migrate", "--no-input"], env=env, log=log, timeout=600)
    run_step([*cs, "createcachetable"], env=env, log=log, timeout=600)
    run_step([*cs, "demo", "load"], env=load_env, log=log, timeout=600)
    run_step(
        [*cs, "demo", "synthetic", "--count", str(synthetic)], env=load_env, log=log, timeout=900
    )
    if analyze:
        run_step([*cs, "shell", "-c", ANALYZE_CODE], env=env, log=log, timeout=300)
    if db == "postgres":
        # Vacuum now, so autovacuum does not wake up for the 10,000 new rows in the middle
        # of a measurement and take one of the two cores.
        postgres_vacuum(database=PG_DATABASE, env=env, log=log)
    run_step(
        [*cs, "collectstatic", "--no-input", "--verbosity", "0"], env=env, log=log, timeout=300
    )
    return env


# --- Load generation -------------------------------------------------------------------------

_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _latency_ms(text: str, percentile: str) -> float:
    match = re.search(rf"^\s+{percentile}%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.MULTILINE)
    if match is None:
        raise BenchError(f"no {percentile}% latency in wrk output:\n{text}")
    return float(match.group(1)) * _UNIT_MS[match.group(2)]


def parse_wrk(text: str) -> LoadResult:
    """Read requests/s, p50, p99 and errors from ``wrk --latency`` output."""
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.MULTILINE)
    total = re.search(r"^\s+(\d+) requests in", text, re.MULTILINE)
    if rps is None or total is None:
        raise BenchError(f"unexpected wrk output:\n{text}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    return LoadResult(
        requests_per_second=float(rps.group(1)),
        p50_ms=_latency_ms(text, "50"),
        p99_ms=_latency_ms(text, "99"),
        requests=int(total.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in errors.groups()) if errors else 0,
    )


def wrk_command(
    url: str,
    *,
    duration: float,
    connections: int,
    threads: int,
    script: Path | None,
    script_args: Sequence[str] = (),
) -> list[str]:
    """Return the wrk command line for one bounded run (``script_args`` go to the script)."""
    command = [
        tool("wrk"),
        f"-t{min(threads, connections)}",
        f"-c{connections}",
        f"-d{duration:g}s",
        "--timeout",
        "10s",
        "--latency",
    ]
    if script is not None:
        command += ["-s", str(script)]
    return [*command, url, *(["--", *script_args] if script_args else [])]


def load(
    url: str,
    *,
    duration: float,
    connections: int,
    threads: int,
    script: Path | None = None,
    script_args: Sequence[str] = (),
    log: IO[str],
) -> LoadResult:
    """Load ``url`` with wrk for ``duration`` seconds and return what it measured."""
    if not url.startswith(f"http://{HOST}:"):
        raise BenchError(f"refusing to load {url}: only {HOST} is benchmarked")
    command = wrk_command(
        url,
        duration=duration,
        connections=connections,
        threads=threads,
        script=script,
        script_args=script_args,
    )
    log.write(f"$ {' '.join(command)}\n")
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=duration + 60, check=False
    )
    log.write(completed.stdout + completed.stderr)
    log.flush()
    if completed.returncode != 0:
        raise BenchError(f"wrk exited {completed.returncode}: {completed.stderr.strip()}")
    return parse_wrk(completed.stdout)


# --- Warm-up ----------------------------------------------------------------------------------


def warm_pages(base: str, paths: list[str], *, rounds: int = 20) -> None:
    """Request each path ``rounds`` times from 4 threads; raise unless all are 200."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        for path in paths:
            statuses = [status for status, _ in pool.map(http_get, [base + path] * rounds)]
            bad = [status for status in statuses if status != 200]
            if bad:
                raise BenchError(
                    f"{base}{path} answered {sorted(set(bad))} while warming up (see server log)"
                )


def warm_search(base: str, *, budget: float = 120.0, threshold: float = 0.5) -> str:
    """Search until every worker has built its index; return what the warm-up saw.

    Each request opens a fresh connection so the workers share them out. The first search
    in a worker builds its in-memory index (seconds); the warm-up stops after three
    consecutive rounds of 16 concurrent searches all answered within ``threshold`` s.
    """
    url = base + WARM_SEARCH_PATH
    deadline = time.monotonic() + budget
    stable = 0
    slowest: list[float] = []
    with ThreadPoolExecutor(max_workers=8) as pool:
        while stable < 3:
            if time.monotonic() > deadline:
                raise BenchError(f"search latency not stable after {budget:g} s: {slowest}")
            answers = list(pool.map(http_get, [url] * 16))
            if any(status != 200 for status, _ in answers):
                raise BenchError(f"search answered {[s for s, _ in answers]} while warming up")
            worst = max(seconds for _, seconds in answers)
            slowest.append(round(worst, 3))
            stable = stable + 1 if worst < threshold else 0
    return f"search warm-up rounds, slowest answer per round (s): {slowest}"


# --- Measurements --------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadSettings:
    """How hard and how long each target is loaded."""

    duration: float
    warmup: float
    connections: int
    threads: int
    rounds: int = 1


def measure(
    base: str,
    path: str,
    settings: LoadSettings,
    *,
    log: IO[str],
    script: Path | None = None,
    warm: bool = True,
) -> LoadResult:
    """Warm one target with a short wrk run (when ``warm``), then measure it."""
    url = base + path
    if warm and settings.warmup > 0:
        load(
            url,
            duration=settings.warmup,
            connections=settings.connections,
            threads=settings.threads,
            script=script,
            log=log,
        )
    return load(
        url,
        duration=settings.duration,
        connections=settings.connections,
        threads=settings.threads,
        script=script,
        log=log,
    )


def serve_defaults() -> tuple[int, int]:
    """Return the workers and threads ``civicstack serve`` (and so ``make run``) uses."""
    options = ServeCommand().create_parser("civicstack", "serve").parse_args([])
    return int(options.workers), int(options.threads)


def floor_command(port: int) -> list[str]:
    """Return the granian command of ``civicstack serve`` serving bench/floor_app.py."""
    workers, threads = serve_defaults()
    command = web_command(host=HOST, port=port, workers=workers, threads=threads)
    return [*command[:-1], "--working-dir", str(BENCH_DIR), "floor_app:application"]


def server_matrix(port: int) -> dict[str, list[str]]:
    """Return the web server configurations compared on the real pages."""
    gunicorn = [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"{HOST}:{port}",
        "--workers",
        "2",
        "--log-level",
        "warning",
    ]
    return {
        "granian 2w x 1t": web_command(host=HOST, port=port, workers=2, threads=1),
        "granian 2w x 2t": web_command(host=HOST, port=port, workers=2, threads=2),
        "granian 2w x 4t": web_command(host=HOST, port=port, workers=2, threads=4),
        "gunicorn 2 sync": [*gunicorn, "--worker-class", "sync", "civicstack.wsgi:application"],
        "gunicorn 2w gthread x 2t": [
            *gunicorn,
            "--worker-class",
            "gthread",
            "--threads",
            "2",
            "civicstack.wsgi:application",
        ],
        "gunicorn 2w gthread x 4t": [
            *gunicorn,
            "--worker-class",
            "gthread",
            "--threads",
            "4",
            "civicstack.wsgi:application",
        ],
    }


def bench_database(
    db: str, settings: LoadSettings, *, synthetic: int, analyze: bool, matrix: bool, keep: bool
) -> DatabaseRun:
    """Prepare ``db``, measure every target, the floor and the server matrix."""
    result = DatabaseRun(db=db)
    work_dir = Path(tempfile.mkdtemp(prefix=f"civicstack-bench-{db}-"))
    var_dir = work_dir / "var"
    var_dir.mkdir()
    log_path = work_dir / "bench.log"
    print(f"\n== {db}: work dir {work_dir} (log: {log_path})", flush=True)
    failed = False
    try:
        with log_path.open("a") as log:
            started = time.monotonic()
            source = snapshot_source(work_dir)
            env = prepare(db, var_dir, source=source, synthetic=synthetic, analyze=analyze, log=log)
            print(f"   prepared in {time.monotonic() - started:.1f} s", flush=True)

            port = free_port()
            serve = [
                *civicstack_command(),
                "serve",
                "--no-worker",
                "--no-scheduler",
                "--host",
                HOST,
                "--port",
                str(port),
            ]
            result.serve_command = serve
            with running_server(serve, env=env, port=port, log_path=work_dir / "serve.log") as base:
                warm_pages(base, ["/en/", SERVICE_PATH, GUIDE_PATH, "/static/build/civicstack.css"])
                note = warm_search(base)
                result.notes.append(note)
                print(f"   {note}", flush=True)
                for round_number in range(settings.rounds):
                    for name in TARGETS:
                        script = SCRIPTS.get(name)
                        path = "/" if script else TARGETS[name]
                        sample = measure(
                            base, path, settings, log=log, script=script, warm=round_number == 0
                        )
                        result.keep(name, sample)
                        print(f"   {name:<11} {_brief(sample)}", flush=True)

            port = free_port()
            with running_server(
                floor_command(port), env=env, port=port, log_path=work_dir / "floor.log"
            ) as base:
                warm_pages(base, ["/"])
                for round_number in range(settings.rounds):
                    sample = measure(base, "/", settings, log=log, warm=round_number == 0)
                    result.keep("floor", sample)
                    print(f"   {'floor':<8} {_brief(sample)}", flush=True)

            # Rounds go through every configuration in turn, so a burst of load from
            # elsewhere on the machine hits one round of each rather than one server.
            for _ in range(settings.rounds if matrix else 0):
                for label in server_matrix(0):
                    port = free_port()
                    try:
                        with running_server(
                            server_matrix(port)[label],
                            env=env,
                            port=port,
                            log_path=work_dir / "servers.log",
                        ) as base:
                            warm_pages(base, ["/en/", SERVICE_PATH])
                            home = measure(base, "/en/", settings, log=log)
                            service = measure(base, SERVICE_PATH, settings, log=log)
                    except BenchError as error:
                        failed = True
                        result.notes.append(f"{label} failed: {error}")
                        print(f"   {label:<26} FAILED: {error}", flush=True)
                        continue
                    result.keep_matrix(label, home=home, service=service)
                    print(
                        f"   {label:<26} home {_brief(home)}; service {_brief(service)}",
                        flush=True,
                    )
            result.notes.append(
                "load average after: " + ", ".join(f"{n:.2f}" for n in os.getloadavg())
            )
    except BenchError as error:
        failed = True
        result.notes.append(f"failed: {error}")
        print(f"   FAILED: {error}", flush=True)
    finally:
        if db == "postgres" and not keep:
            with contextlib.suppress(Exception), log_path.open("a") as log:
                postgres_recreate(log=log, drop_only=True)
        if failed:
            print(f"   kept {work_dir} for its logs", flush=True)
        elif not keep:
            shutil.rmtree(work_dir, ignore_errors=True)
    return result


def _brief(result: LoadResult) -> str:
    text = (
        f"{result.requests_per_second:.0f} req/s "
        f"p50 {result.p50_ms:.1f} ms p99 {result.p99_ms:.1f} ms"
    )
    if not result.clean:
        text += f" [non-2xx {result.non_2xx}, socket errors {result.socket_errors}]"
    return text


# --- Report --------------------------------------------------------------------------------


def verdict(name: str, result: LoadResult, floor: LoadResult | None) -> str:
    """Return pass/fail against the targets (printed beside the figures, never asserted)."""
    problems = []
    if name in PAGE_TARGETS and floor is not None:
        ratio = result.requests_per_second / floor.requests_per_second
        if ratio < MIN_FLOOR_RATIO:
            problems.append(f"{ratio:.2f}x<{MIN_FLOOR_RATIO}x")
    if result.p99_ms > MAX_P99_MS:
        problems.append(f"p99>{MAX_P99_MS:g}ms")
    if not result.clean:
        problems.append("errors")
    return "pass" if not problems else "FAIL " + ",".join(problems)


def print_report(runs: list[DatabaseRun], settings: LoadSettings) -> None:
    """Print the targets side by side per database, then the server matrix."""
    print(
        f"\nwrk -t{settings.threads} -c{settings.connections} -d{settings.duration:g}s "
        f"--latency, after a {settings.warmup:g} s warm-up run per target; best of "
        f"{settings.rounds} round(s); "
        f"targets: pages >= {MIN_FLOOR_RATIO}x floor req/s and p99 <= {MAX_P99_MS:g} ms; "
        f"search p99 <= {MAX_P99_MS:g} ms"
    )
    head = f"{'target':<11}"
    rule = "-" * 11
    for run in runs:
        head += (
            f" | {run.db + ' req/s':>14} {'p50 ms':>7} {'p99 ms':>7} {'x floor':>7} {'check':<22}"
        )
        rule += " | " + "-" * 61
    print(head)
    print(rule)
    for name in (*TARGETS, "floor"):
        line = f"{name:<11}"
        for run in runs:
            result = run.floor if name == "floor" else run.targets.get(name)
            if result is None:
                line += f" | {'-':>14} {'-':>7} {'-':>7} {'-':>7} {'':<22}"
                continue
            ratio = (
                f"{result.requests_per_second / run.floor.requests_per_second:.2f}"
                if run.floor
                else "-"
            )
            check = "" if name == "floor" else verdict(name, result, run.floor)
            line += (
                f" | {result.requests_per_second:>14.0f} {result.p50_ms:>7.1f} "
                f"{result.p99_ms:>7.1f} {ratio:>7} {check:<22}"
            )
        print(line)
    for run in runs:
        if not run.matrix:
            continue
        print(f"\nWeb servers on {run.db}, home and service page (req/s, p99 ms)")
        print(f"{'server':<26} {'home req/s':>10} {'p99':>7} {'service req/s':>13} {'p99':>7}")
        for label, row in run.matrix.items():
            print(
                f"{label:<26} {row['home'].requests_per_second:>10.0f} {row['home'].p99_ms:>7.1f}"
                f" {row['service'].requests_per_second:>13.0f} {row['service'].p99_ms:>7.1f}"
                + ("" if all(r.clean for r in row.values()) else "  (errors: see log)")
            )
        best = fastest(run.matrix)
        print(f"fastest on {run.db} (geometric mean of req/s over both pages): {best}")


def fastest(matrix: dict[str, dict[str, LoadResult]]) -> str:
    """Return the configuration with the best geometric mean of requests/s."""
    scores = {
        label: statistics.geometric_mean([r.requests_per_second for r in row.values()])
        for label, row in matrix.items()
        if all(r.clean for r in row.values())
    }
    if not scores:
        return "none ran cleanly"
    return max(scores, key=scores.__getitem__)


def machine_basics(packages: Sequence[str]) -> dict[str, Any]:
    """Describe the machine (CPUs, memory, Python, kernel, SQLite) and ``packages``' versions."""
    from importlib.metadata import version

    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    versions: dict[str, str] = {}
    for package in packages:
        with contextlib.suppress(Exception):
            versions[package] = version(package)
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory": memory,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "sqlite": sqlite3.sqlite_version,
        **versions,
    }


def machine() -> dict[str, Any]:
    """Describe the machine and the software measured."""
    described = machine_basics(("django", "granian", "gunicorn", "psycopg", "argon2-cffi"))
    wrk = subprocess.run([tool("wrk"), "-v"], capture_output=True, text=True, check=False)
    return {
        **described,
        "wrk": (wrk.stdout + wrk.stderr).splitlines()[0] if wrk.stdout or wrk.stderr else "",
        "load_average": os.getloadavg(),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measured run")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of wrk before each")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument(
        "--rounds", type=int, default=1, help="measure everything N times, keep the best"
    )
    parser.add_argument("--synthetic", type=int, default=10_000, help="synthetic services")
    parser.add_argument(
        "--analyze", action="store_true", help="run ANALYZE after loading (not what make run does)"
    )
    parser.add_argument("--no-matrix", action="store_true", help="skip the web server matrix")
    parser.add_argument("--no-passwords", action="store_true", help="skip bench/passwords.py")
    parser.add_argument("--keep", action="store_true", help="keep var dirs and the PG database")
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    args = parser.parse_args(argv)
    if not 0 < args.duration <= 300 or args.connections < 1 or not 1 <= args.rounds <= 10:
        parser.error("--duration must be in (0, 300], --connections >= 1, --rounds in 1..10")
    if shutil.which("wrk") is None:
        print("wrk is needed: apt-get install -y wrk", file=sys.stderr)
        return 2

    settings = LoadSettings(
        duration=args.duration,
        warmup=args.warmup,
        connections=args.connections,
        threads=args.threads,
        rounds=args.rounds,
    )
    about = machine()
    workers, threads = serve_defaults()
    print(
        f"Civicstack bench: {about['cpus']} CPUs ({about['cpu_model']}), {about['memory']}, "
        f"Python {about['python']}, Django {about.get('django')}, granian "
        f"{about.get('granian')}, gunicorn {about.get('gunicorn')}, SQLite {about['sqlite']}; "
        f"load average {', '.join(f'{n:.2f}' for n in about['load_average'])}"
    )
    print(f"civicstack serve defaults: {workers} workers x {threads} blocking threads")

    databases = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    runs: list[DatabaseRun] = []
    for db in databases:
        if db == "postgres" and not postgres_available():
            print(f"\n== postgres: not reachable on {HOST}:5432 as postgres; skipped")
            continue
        runs.append(
            bench_database(
                db,
                settings,
                synthetic=args.synthetic,
                analyze=args.analyze,
                matrix=not args.no_matrix,
                keep=args.keep,
            )
        )
    print_report(runs, settings)

    passwords_json = None
    if not args.no_passwords:
        print()
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
            passwords_json = Path(handle.name)
        subprocess.run(
            [sys.executable, str(BENCH_DIR / "passwords.py"), "--json", str(passwords_json)],
            cwd=ROOT,
            timeout=120,
            check=False,
        )
    if args.json is not None:
        payload: dict[str, Any] = {
            "machine": about,
            "settings": asdict(settings),
            "analyze": args.analyze,
            "serve_defaults": {"workers": workers, "threads": threads},
            "runs": [asdict(run) for run in runs],
        }
        if passwords_json is not None and passwords_json.exists():
            payload["passwords"] = json.loads(passwords_json.read_text() or "null")
        args.json.write_text(json.dumps(payload, indent=2))
    if passwords_json is not None:
        passwords_json.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
