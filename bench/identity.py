#!/usr/bin/env python3
# SPDX-License-Identifier: EUPL-1.2
"""Measure sign-in and tokens: the OpenID Connect provider under load, beside a floor.

Run from the repository root (``make bench-identity`` runs it with the defaults)::

    .venv/bin/python bench/identity.py [--duration 10] [--warmup 2] [--connections 32]
                                       [--signin-connections 16] [--rounds 1]
                                       [--only NAME[,NAME]] [--db sqlite|postgres]
                                       [--pg-database NAME] [--keep] [--json FILE]

``--only refresh`` measures only the scenarios whose names contain one of the given words
(here both refresh rows; ``--only floor,refresh`` adds the floors). ``--db postgres`` runs
the server on a fresh PostgreSQL database (``--pg-database``, default
``civicstack_bench_identity``, dropped afterwards) on 127.0.0.1:5432 as user postgres.

It:

1. copies ``src/`` into a work dir under /tmp and prepares an isolated var dir there (a
   fresh SQLite database, or PostgreSQL with ``--db postgres``): migrate, ``demo load``
   (the demo citizen and platform admin), then, with ``civicstack shell -c``, makes the
   signing keys and registers three clients through ``identity.services.client_register``:
   a machine client (client_credentials) and two web clients (code flow + refresh
   tokens) whose ID tokens are RS256 and ES256;
2. starts ``civicstack serve --no-worker --no-scheduler`` in production mode on a free
   port on 127.0.0.1 (the web server ``make run`` starts, its default workers and
   threads), with ``OIDC_ISSUER`` pointing at it; signs the demo citizen in through the
   sign-in form and approves both web clients once on the consent page;
3. measures, each for ``--duration`` seconds after a ``--warmup`` run, with concurrent
   keep-alive clients (aiohttp, in this process):

   * ``floor: health`` and ``floor: discovery``: ``GET /health/live`` and the discovery
     document on the same server (a trivial view through the whole middleware stack);
   * ``client_credentials``: ``POST /oidc/token`` (client_secret_basic);
   * ``refresh RS256`` / ``refresh ES256``: ``POST /oidc/token`` with
     ``grant_type=refresh_token``; each client holds its own refresh-token chain and uses
     the rotated token the previous answer gave (a new ID token each time);
   * ``round trip``: ``GET /oidc/authorize`` (signed-in session, PKCE S256, consent already
     given) then ``POST /oidc/token`` with the code and verifier, timed together; at 1
     client (latency) and at ``--connections``;
   * ``password sign-in``: ``POST /en/account/sign-in`` with the demo citizen's password
     (a fixed CSRF cookie and token, so each request is one sign-in and nothing else);

4. serves ``bench/floor_app.py`` (one Django view, no middleware, no database) with the
   same granian flags, as the bare-Django floor of ``bench/run.py``;
5. times ID token signing (the claims of a real ID token, RS256 with RSA 2048 and ES256 with
   P-256) in this process: the provider's own signer, and jwcrypto's JWS for comparison.

It prints the machine, the load average before and after, the CPU seconds the server and
this client used, each figure with its ratio to the floors, and the targets' pass/fail
(printed, never asserted): >= 240 token grants/s, >= 15 password sign-ins/s per core.
Every server is stopped in a ``finally`` block, every run is bounded in time, and only
127.0.0.1 is used.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qs, urlencode, urlsplit

from run import (  # type: ignore[import-not-found]
    HOST,
    ROOT,
    BenchError,
    base_environment,
    civicstack_command,
    floor_command,
    free_port,
    machine_basics,
    postgres_available,
    postgres_recreate,
    postgres_vacuum,
    run_step,
    snapshot_source,
    stop_process_group,
)

# Targets from the issue, printed beside the figures (never asserted).
MIN_TOKEN_GRANTS_PER_SECOND = 240.0
MIN_SIGN_INS_PER_SECOND_PER_CORE = 15.0

DEMO_CITIZEN = "citizen@example.org"
DEMO_PASSWORD = "civicstack-demo-password"
REDIRECT_URI = "http://127.0.0.1:9/callback"
# Django accepts the unmasked 32-character secret as the form token; the cookie holds it.
CSRF_SECRET = "benchCsrfSecret0123456789abcdefX"
CSRF_COOKIE = "civicstack_csrftoken"
SESSION_COOKIE = "civicstack_session"

SETUP_CODE = """
import json
from civicstack.accounts.models import User
from civicstack.identity import services
services.signing_keys_ensure()
admin = User.objects.get(email="platform-admin@example.org")
clients = {}
client, secret = services.client_register(
    actor=admin, name="Bench machine client", redirect_uris=[REDIRECT],
    scopes=["openid"], grant_types=["client_credentials"], post_logout_redirect_uris=[],
)
clients["machine"] = [client.client_id, secret]
for alg in ("RS256", "ES256"):
    client, secret = services.client_register(
        actor=admin, name="Bench web client " + alg, redirect_uris=[REDIRECT],
        scopes=["openid", "email", "profile"], id_token_alg=alg, post_logout_redirect_uris=[],
    )
    clients[alg] = [client.client_id, secret]
with open(OUT, "w") as handle:
    json.dump(clients, handle)
"""


# --- Results ---------------------------------------------------------------------------------


@dataclass
class LoadResult:
    """What one load run measured."""

    name: str
    connections: int
    seconds: float
    ok: int
    errors: int
    latencies_ms: list[float] = field(default_factory=list, repr=False)
    server_cpu_seconds: float = 0.0
    client_cpu_seconds: float = 0.0
    first_error: str = ""

    @property
    def per_second(self) -> float:
        """Return successful operations per second."""
        return self.ok / self.seconds if self.seconds else 0.0

    @property
    def per_server_cpu_second(self) -> float:
        """Return successful operations per CPU second the server used.

        On a shared machine the wall-clock rate depends on what else runs; this does much
        less, so ``cores`` times it estimates what the server would do on idle cores.
        """
        return self.ok / self.server_cpu_seconds if self.server_cpu_seconds else 0.0

    def percentile(self, share: float) -> float:
        """Return the latency (ms) at ``share`` (0..1) of the successful operations."""
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        index = min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))
        return ordered[index]

    def summary(self) -> dict[str, Any]:
        """Return the figures without the raw latencies."""
        data = {k: v for k, v in asdict(self).items() if k != "latencies_ms"}
        data.update(
            per_second=self.per_second,
            per_server_cpu_second=self.per_server_cpu_second,
            p50_ms=self.percentile(0.5),
            p99_ms=self.percentile(0.99),
        )
        return data


def better(current: LoadResult | None, sample: LoadResult) -> LoadResult:
    """Keep the faster of two rounds (error-free first): other work only slows a run."""
    if current is None:
        return sample
    if (current.errors == 0) != (sample.errors == 0):
        return current if current.errors == 0 else sample
    return sample if sample.per_second > current.per_second else current


# --- Processes ------------------------------------------------------------------------------------


def session_cpu_seconds(session_id: int) -> float:
    """Return the CPU seconds (user + system) of every live process in a session."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            # After the command: state, ppid, pgrp, session, ..., utime (14th), stime (15th).
            if int(fields[3]) == session_id:
                total += int(fields[11]) + int(fields[12])
    return total / ticks


def http_status(url: str, *, timeout: float = 2.0) -> int:
    """GET ``url``; return its status (only 127.0.0.1 is ever asked)."""
    if not url.startswith(f"http://{HOST}:"):
        raise BenchError(f"refusing to request {url}")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


@contextlib.contextmanager
def server(
    command: list[str], *, env: dict[str, str], port: int, log_path: Path, ready: str
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Start a web server in its own session; yield its base URL and process; always stop it."""
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
            deadline = time.monotonic() + 90
            while True:
                if process.poll() is not None:
                    raise BenchError(f"server exited {process.returncode} (see {log_path})")
                with contextlib.suppress(OSError):
                    if http_status(base + ready) == 200:
                        break
                if time.monotonic() > deadline:
                    raise BenchError(f"server not live after 90 s (see {log_path})")
                time.sleep(0.25)
            yield base, process
        finally:
            stop_process_group(process)


# --- Preparation -------------------------------------------------------------------------------


def prepare(
    work_dir: Path, *, log: IO[str], pg_database: str | None = None
) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Fill a fresh database; register the clients; return the env and the clients.

    SQLite in the work dir, or the PostgreSQL database ``pg_database`` (made afresh).
    """
    var_dir = work_dir / "var"
    var_dir.mkdir()
    source = snapshot_source(work_dir)
    env = base_environment(var_dir, source)
    if pg_database is not None:
        postgres_recreate(log=log, database=pg_database)
        env["DATABASE_URL"] = f"postgres://postgres@{HOST}:5432/{pg_database}"
    load_env = {**env, "CIVICSTACK_ENVIRONMENT": "development"}
    cs = civicstack_command()
    run_step([*cs, "migrate", "--no-input"], env=env, log=log, timeout=600)
    run_step([*cs, "createcachetable"], env=env, log=log, timeout=300)
    run_step([*cs, "demo", "load"], env=load_env, log=log, timeout=600)
    out = work_dir / "clients.json"
    code = SETUP_CODE.replace("REDIRECT", repr(REDIRECT_URI)).replace("OUT", repr(str(out)))
    run_step([*cs, "shell", "-c", code], env=env, log=log, timeout=300)
    if pg_database is not None:
        postgres_vacuum(database=pg_database, env=env, log=log)
    run_step(
        [*cs, "collectstatic", "--no-input", "--verbosity", "0"], env=env, log=log, timeout=300
    )
    return env, json.loads(out.read_text())


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.forms.append(
                {
                    "method": values.get("method", "get").lower(),
                    "action": values.get("action", ""),
                    "fields": [],
                    "buttons": [],
                }
            )
        elif tag in ("input", "button") and self.forms:
            kind = values.get("type", "submit" if tag == "button" else "text").lower()
            entry = (values.get("name", ""), values.get("value", ""))
            if kind == "submit":
                self.forms[-1]["buttons"].append(entry)
            elif kind in ("checkbox", "radio"):
                if "checked" in values:
                    self.forms[-1]["fields"].append(entry)
            elif entry[0]:
                self.forms[-1]["fields"].append(entry)


def pkce_pair() -> tuple[str, str]:
    """Return a PKCE verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize_url(base: str, client_id: str, challenge: str) -> str:
    """Return an authorization request URL for a web client."""
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid email profile",
        "state": secrets.token_urlsafe(16),
        "nonce": secrets.token_urlsafe(16),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    return f"{base}/oidc/authorize?{urlencode(query)}"


def sign_in_and_consent(base: str, clients: dict[str, list[str]]) -> str:
    """Sign the demo citizen in; approve both web clients once; return the session cookie."""
    import requests

    browser = requests.Session()
    page = browser.get(f"{base}/en/account/sign-in", timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    if token is None:
        raise BenchError("no CSRF token on the sign-in page")
    response = browser.post(
        f"{base}/en/account/sign-in",
        data={
            "email": DEMO_CITIZEN,
            "password": DEMO_PASSWORD,
            "csrfmiddlewaretoken": token.group(1),
        },
        allow_redirects=False,
        timeout=30,
    )
    if response.status_code != 302 or SESSION_COOKIE not in browser.cookies:
        raise BenchError(f"the demo citizen could not sign in ({response.status_code})")
    for alg in ("RS256", "ES256"):
        _verifier, challenge = pkce_pair()
        response = browser.get(
            authorize_url(base, clients[alg][0], challenge), allow_redirects=False, timeout=30
        )
        for _hop in range(5):
            location = response.headers.get("Location", "")
            if location.startswith(REDIRECT_URI):
                break
            if response.is_redirect:
                response = browser.get(
                    base + location if location.startswith("/") else location,
                    allow_redirects=False,
                    timeout=30,
                )
                continue
            parser = _Forms()
            parser.feed(response.text)
            forms = [
                form
                for form in parser.forms
                if form["method"] == "post"
                and any(name == "csrfmiddlewaretoken" for name, _ in form["fields"])
                and not any(
                    value.lower().startswith("sign out") for _name, value in form["buttons"]
                )
            ]
            if response.status_code != 200 or not forms:
                raise BenchError(f"no consent page for {alg}: {response.status_code}")
            form = forms[-1]
            fields = list(form["fields"])
            allow = [
                b
                for b in form["buttons"]
                if b[0]
                and re.search(r"allow|agree|accept|continue|yes", f"{b[0]} {b[1]}", re.IGNORECASE)
            ]
            fields.extend(allow[:1])
            action = form["action"] or response.url
            response = browser.post(
                base + action if action.startswith("/") else action,
                data=fields,
                allow_redirects=False,
                timeout=30,
            )
        if "code=" not in response.headers.get("Location", ""):
            raise BenchError(f"no code for the {alg} client after consent")
    return str(browser.cookies[SESSION_COOKIE])


# --- Load -----------------------------------------------------------------------------------------

Operation = Callable[[Any, int], Awaitable[bool]]


async def load(
    name: str, operation: Operation, *, connections: int, duration: float, session_id: int
) -> LoadResult:
    """Run ``operation`` from ``connections`` concurrent clients for ``duration`` seconds."""
    import aiohttp

    latencies: list[float] = []
    counts = {"ok": 0, "errors": 0}
    first_error: list[str] = []
    connector = aiohttp.TCPConnector(limit=connections, force_close=False)
    timeout = aiohttp.ClientTimeout(total=30)
    server_before = session_cpu_seconds(session_id) if session_id else 0.0
    client_before = time.process_time()
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, cookie_jar=aiohttp.DummyCookieJar()
    ) as http:
        started = time.perf_counter()
        deadline = started + duration

        async def worker(index: int) -> None:
            while time.perf_counter() < deadline:
                begun = time.perf_counter()
                try:
                    ok = await operation(http, index)
                except Exception as error:
                    ok = False
                    if not first_error:
                        first_error.append(repr(error))
                if ok:
                    counts["ok"] += 1
                    latencies.append(1000 * (time.perf_counter() - begun))
                else:
                    counts["errors"] += 1

        await asyncio.gather(*(worker(index) for index in range(connections)))
        seconds = time.perf_counter() - started
    return LoadResult(
        name=name,
        connections=connections,
        seconds=seconds,
        ok=counts["ok"],
        errors=counts["errors"],
        latencies_ms=latencies,
        server_cpu_seconds=(session_cpu_seconds(session_id) - server_before) if session_id else 0,
        client_cpu_seconds=time.process_time() - client_before,
        first_error=first_error[0] if first_error else "",
    )


def basic_auth(client: list[str]) -> str:
    """Return the Authorization header value of client_secret_basic."""
    from urllib.parse import quote

    pair = f"{quote(client[0], safe='')}:{quote(client[1], safe='')}".encode()
    return "Basic " + base64.b64encode(pair).decode()


class Scenarios:
    """The operations measured against one running Civicstack."""

    def __init__(self, base: str, clients: dict[str, list[str]], session_cookie: str) -> None:
        self.base = base
        self.clients = clients
        self.cookie = f"{SESSION_COOKIE}={session_cookie}"
        self.token_url = f"{base}/oidc/token"
        self.chains: dict[str, dict[int, str]] = {"RS256": {}, "ES256": {}}
        self.errors: list[str] = []

    def get(self, path: str) -> Operation:
        """Return a plain GET of ``path`` expecting 200."""
        url = self.base + path

        async def operation(http: Any, index: int) -> bool:
            async with http.get(url) as response:
                await response.read()
                return bool(response.status == 200)

        return operation

    async def client_credentials(self, http: Any, index: int) -> bool:
        """One client_credentials grant."""
        headers = {"Authorization": basic_auth(self.clients["machine"])}
        async with http.post(
            self.token_url, data={"grant_type": "client_credentials"}, headers=headers
        ) as response:
            body = await response.json(content_type=None)
            return bool(response.status == 200 and body.get("access_token"))

    async def code_grant(self, http: Any, alg: str) -> dict[str, Any] | None:
        """Authorize (signed-in session, consent given) and exchange the code; return tokens."""
        verifier, challenge = pkce_pair()
        url = authorize_url(self.base, self.clients[alg][0], challenge)
        async with http.get(url, headers={"Cookie": self.cookie}, allow_redirects=False) as reply:
            await reply.read()
            location = reply.headers.get("Location", "")
        if reply.status != 302 or not location.startswith(REDIRECT_URI):
            self._note(f"authorize answered {reply.status} {location[:120]}")
            return None
        code = parse_qs(urlsplit(location).query).get("code", [""])[0]
        async with http.post(
            self.token_url,
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT_URI,
                "code_verifier": verifier,
            },
            headers={"Authorization": basic_auth(self.clients[alg])},
        ) as response:
            body = await response.json(content_type=None)
        if response.status != 200 or "id_token" not in body:
            self._note(f"token answered {response.status} {str(body)[:200]}")
            return None
        return dict(body)

    def round_trip(self, alg: str) -> Operation:
        """Return the authorize-plus-token round trip for the ``alg`` web client."""

        async def operation(http: Any, index: int) -> bool:
            return await self.code_grant(http, alg) is not None

        return operation

    async def seed_chains(self, alg: str, connections: int) -> None:
        """Give each client its own refresh token (one code flow each)."""
        import aiohttp

        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
            for index in range(connections):
                tokens = await self.code_grant(http, alg)
                if tokens is None or not tokens.get("refresh_token"):
                    raise BenchError(f"could not get a refresh token for {alg}: {self.errors[-1:]}")
                self.chains[alg][index] = str(tokens["refresh_token"])

    def refresh(self, alg: str) -> Operation:
        """Return one refresh grant, continuing this client's chain with the rotated token."""
        headers = {"Authorization": basic_auth(self.clients[alg])}

        async def operation(http: Any, index: int) -> bool:
            current = self.chains[alg].get(index)
            if current is None:
                tokens = await self.code_grant(http, alg)
                if tokens is None:
                    return False
                current = self.chains[alg][index] = str(tokens["refresh_token"])
            async with http.post(
                self.token_url,
                data={"grant_type": "refresh_token", "refresh_token": current},
                headers=headers,
            ) as response:
                body = await response.json(content_type=None)
            if response.status != 200 or not body.get("refresh_token"):
                self._note(f"refresh answered {response.status} {str(body)[:200]}")
                self.chains[alg].pop(index, None)
                return False
            self.chains[alg][index] = str(body["refresh_token"])
            return True

        return operation

    async def sign_in(self, http: Any, index: int) -> bool:
        """One password sign-in: the POST of the sign-in form."""
        async with http.post(
            f"{self.base}/en/account/sign-in",
            data={
                "email": DEMO_CITIZEN,
                "password": DEMO_PASSWORD,
                "csrfmiddlewaretoken": CSRF_SECRET,
            },
            headers={"Cookie": f"{CSRF_COOKIE}={CSRF_SECRET}"},
            allow_redirects=False,
        ) as response:
            await response.read()
            ok = response.status == 302 and SESSION_COOKIE in response.cookies
            if not ok:
                self._note(f"sign-in answered {response.status}")
            return bool(ok)

    def _note(self, text: str) -> None:
        if len(self.errors) < 20:
            self.errors.append(text)


async def measure(
    name: str,
    operation: Operation,
    *,
    connections: int,
    duration: float,
    warmup: float,
    session_id: int,
) -> LoadResult:
    """Warm up, then measure."""
    if warmup > 0:
        await load(name, operation, connections=connections, duration=warmup, session_id=0)
    result = await load(
        name, operation, connections=connections, duration=duration, session_id=session_id
    )
    print(f"   {_brief(result)}", flush=True)
    return result


def _brief(result: LoadResult) -> str:
    text = (
        f"{result.name:<26} c={result.connections:<3} {result.per_second:8.1f}/s "
        f"p50 {result.percentile(0.5):7.1f} ms p99 {result.percentile(0.99):7.1f} ms "
        f"server CPU {result.server_cpu_seconds:5.1f} s "
        f"client CPU {result.client_cpu_seconds:5.1f} s"
    )
    if result.errors:
        text += f" [errors {result.errors}: {result.first_error[:80]}]"
    return text


# --- Signing in process ---------------------------------------------------------------------------


@dataclass
class SigningResult:
    """Time to sign (and verify) one ID token with one algorithm and signer, in this process."""

    alg: str
    key: str
    signer: str
    sign_us: float
    verify_us: float
    signatures: int


def _timed(seconds: float, step: Callable[[], object]) -> tuple[float, int]:
    """Return the mean seconds per call of ``step`` over at least 20 calls and ``seconds``."""
    count = 0
    started = time.perf_counter()
    while count < 20 or time.perf_counter() - started < seconds:
        step()
        count += 1
    return (time.perf_counter() - started) / count, count


def signing_times(seconds: float) -> list[SigningResult]:
    """Time signing a typical ID token with RS256 and ES256 keys, by two signers.

    ``civicstack`` is the provider's own signer (``identity.oidc.jose.sign_compact``, the
    code the token endpoint runs on a cached key object); ``jwcrypto`` is the same token
    through jwcrypto's JWK and JWS objects, which the provider used before, for comparison.
    Both tokens are verified with jwcrypto, as relying parties' libraries would.
    """
    from cryptography.hazmat.primitives import serialization
    from jwcrypto import jwk, jws
    from jwcrypto.common import json_encode

    from civicstack.identity.oidc.jose import sign_compact  # src/ is on the path (run.py)

    now = int(time.time())
    claims = {
        "iss": "https://civicstack.example/oidc",
        "sub": "5b1c0d6e-8f5e-4b5a-9c1e-0c8d2f3a4b5c",
        "aud": "0f9d8c7b6a5948372615",
        "exp": now + 600,
        "iat": now,
        "auth_time": now - 30,
        "nonce": secrets.token_urlsafe(24),
        "acr": "http://eidas.europa.eu/LoA/low",
        "amr": ["pwd"],
        "at_hash": secrets.token_urlsafe(16),
        "sid": secrets.token_urlsafe(16),
    }
    results = []
    for alg, key, label in (
        ("RS256", jwk.JWK.generate(kty="RSA", size=2048), "RSA 2048"),
        ("ES256", jwk.JWK.generate(kty="EC", crv="P-256"), "P-256"),
    ):
        private = serialization.load_pem_private_key(
            key.export_to_pem(private_key=True, password=None), password=None
        )
        header = json_encode({"alg": alg, "kid": "bench", "typ": "JWT"})
        public = jwk.JWK(**key.export_public(as_dict=True))

        def by_jwcrypto(alg: str = alg, key: Any = key, header: str = header) -> str:
            # As the provider did: the claims are encoded on every call, by both signers.
            signer = jws.JWS(json.dumps(claims, separators=(",", ":")).encode())
            signer.add_signature(key, alg=alg, protected=header)
            return str(signer.serialize(compact=True))

        def by_civicstack(alg: str = alg, private: Any = private) -> str:
            return sign_compact(claims, alg=alg, kid="bench", key=private)

        for name, sign in (("civicstack", by_civicstack), ("jwcrypto", by_jwcrypto)):
            token = sign()
            sign_seconds, count = _timed(seconds, sign)

            def verify(token: str = token, public: Any = public, alg: str = alg) -> None:
                checker = jws.JWS()
                checker.deserialize(token)
                checker.verify(public, alg=alg)

            verify_seconds, _ = _timed(seconds, verify)
            results.append(
                SigningResult(
                    alg=alg,
                    key=label,
                    signer=name,
                    sign_us=sign_seconds * 1e6,
                    verify_us=verify_seconds * 1e6,
                    signatures=count,
                )
            )
    return results


# --- Report ---------------------------------------------------------------------------------------


# The packages whose versions are printed with the figures.
PACKAGES = (
    "django",
    "django-oauth-toolkit",
    "oauthlib",
    "jwcrypto",
    "granian",
    "argon2-cffi",
    "aiohttp",
)


def machine() -> dict[str, Any]:
    """Describe the machine and the software measured."""
    described: dict[str, Any] = machine_basics(PACKAGES)
    return described


def load_average() -> str:
    """Return the 1, 5 and 15 minute load averages."""
    return ", ".join(f"{n:.2f}" for n in os.getloadavg())


def ratio(result: LoadResult | None, floor: LoadResult | None) -> str:
    """Return result/floor requests per second."""
    if result is None or floor is None or not floor.per_second:
        return "-"
    return f"{result.per_second / floor.per_second:.3f}"


def verdict(name: str, result: LoadResult, cores: int) -> str:
    """Return the target check for ``name`` (printed, never asserted)."""
    problems = []
    if result.errors:
        problems.append("errors")
    if name.startswith(("client_credentials", "refresh")):
        if result.per_second < MIN_TOKEN_GRANTS_PER_SECOND:
            problems.append(f"<{MIN_TOKEN_GRANTS_PER_SECOND:g}/s")
    elif name.startswith("password sign-in"):
        if result.per_second / cores < MIN_SIGN_INS_PER_SECOND_PER_CORE:
            problems.append(f"<{MIN_SIGN_INS_PER_SECOND_PER_CORE:g}/s/core")
    else:
        return ""
    return "pass" if not problems else "FAIL " + ",".join(problems)


def print_report(results: dict[str, LoadResult], signing: list[SigningResult], cores: int) -> None:
    """Print every figure with its ratios to the floors and the targets' verdicts."""
    app_floor = results.get("floor: bare Django app")
    health = results.get("floor: health")
    print(
        f"\n{'measured':<30} {'conn':>4} {'ops/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'x app floor':>11} {'x health':>8} {'ops/server CPU s':>16} {'check':<14}"
    )
    print("-" * 116)
    for name, result in results.items():
        extra = ""
        if name.startswith("password sign-in"):
            extra = f" ({result.per_second / cores:.1f}/s per core)"
        print(
            f"{name:<30} {result.connections:>4} {result.per_second:>8.1f} "
            f"{result.percentile(0.5):>8.1f} {result.percentile(0.99):>8.1f} "
            f"{ratio(result, app_floor):>11} {ratio(result, health):>8} "
            f"{result.per_server_cpu_second:>16.1f} {verdict(name, result, cores):<14}{extra}"
        )
    print(
        "\nops/server CPU s: operations per CPU second of every server process; on a shared "
        f"machine, {cores} x that estimates the rate on {cores} idle cores"
    )
    print(
        f"targets: token grants >= {MIN_TOKEN_GRANTS_PER_SECOND:g}/s (client_credentials and "
        f"refresh); password sign-ins >= {MIN_SIGN_INS_PER_SECOND_PER_CORE:g}/s per core "
        f"({cores} cores)"
    )
    print("\nID token signing in process (civicstack: the provider's signer; jwcrypto: before)")
    print(
        f"{'alg':<6} {'key':<9} {'signer':<11} {'sign us':>9} {'verify us':>10} {'signatures':>10}"
    )
    for item in signing:
        print(
            f"{item.alg:<6} {item.key:<9} {item.signer:<11} {item.sign_us:>9.0f} "
            f"{item.verify_us:>10.0f} {item.signatures:>10}"
        )


def selected(name: str, only: str) -> bool:
    """Return True when scenario ``name`` is measured under ``--only`` (empty: every one)."""
    words = [word.strip() for word in only.split(",") if word.strip()]
    return not words or any(word in name for word in words)


async def run_scenarios(
    base: str,
    clients: dict[str, list[str]],
    cookie: str,
    args: argparse.Namespace,
    session_id: int,
) -> dict[str, LoadResult]:
    """Measure every scenario against the running server, best of ``--rounds``."""
    scenarios = Scenarios(base, clients, cookie)
    connections = args.connections
    for alg in ("RS256", "ES256"):
        if selected(f"refresh {alg}", args.only):
            await scenarios.seed_chains(alg, connections)
    plan: list[tuple[str, Operation, int]] = [
        ("floor: health", scenarios.get("/health/live"), connections),
        ("floor: discovery", scenarios.get("/oidc/.well-known/openid-configuration"), connections),
        ("client_credentials", scenarios.client_credentials, connections),
        ("refresh RS256", scenarios.refresh("RS256"), connections),
        ("refresh ES256", scenarios.refresh("ES256"), connections),
        ("round trip RS256, 1 client", scenarios.round_trip("RS256"), 1),
        ("round trip RS256", scenarios.round_trip("RS256"), connections),
        ("round trip ES256", scenarios.round_trip("ES256"), connections),
        ("password sign-in", scenarios.sign_in, args.signin_connections),
    ]
    plan = [step for step in plan if selected(step[0], args.only)]
    results: dict[str, LoadResult] = {}
    for round_number in range(args.rounds):
        print(f"   round {round_number + 1} of {args.rounds}", flush=True)
        for name, operation, count in plan:
            sample = await measure(
                name,
                operation,
                connections=count,
                duration=args.duration,
                warmup=args.warmup,
                session_id=session_id,
            )
            results[name] = better(results.get(name), sample)
    if scenarios.errors:
        print("   first errors: " + "; ".join(scenarios.errors[:5]), flush=True)
    return results


async def measure_floor_app(
    args: argparse.Namespace, env: dict[str, str], work_dir: Path
) -> LoadResult:
    """Serve bench/floor_app.py with the same granian flags and measure it."""
    port = free_port()
    best: LoadResult | None = None
    with server(
        floor_command(port), env=env, port=port, log_path=work_dir / "floor.log", ready="/"
    ) as (base, process):
        scenarios = Scenarios(base, {}, "")
        for _ in range(args.rounds):
            sample = await measure(
                "floor: bare Django app",
                scenarios.get("/"),
                connections=args.connections,
                duration=args.duration,
                warmup=args.warmup,
                session_id=process.pid,
            )
            best = better(best, sample)
    assert best is not None
    return best


def main(argv: list[str] | None = None) -> int:
    """Prepare, measure and report."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measured run")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before each run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--signin-connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=1, help="measure N times, keep the best")
    parser.add_argument("--signing-seconds", type=float, default=2.0)
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated words: measure only the scenarios whose names contain one",
    )
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--pg-database", default="civicstack_bench_identity")
    parser.add_argument("--keep", action="store_true", help="keep the work dir")
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    args = parser.parse_args(argv)
    if not 0 < args.duration <= 120 or not 1 <= args.rounds <= 5 or args.connections < 1:
        parser.error("--duration in (0, 120], --rounds in 1..5, --connections >= 1")
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", args.pg_database):
        parser.error("--pg-database: lower-case letters, digits and _ only")
    pg_database = args.pg_database if args.db == "postgres" else None
    if pg_database is not None and not postgres_available():
        parser.error("--db postgres: no PostgreSQL on 127.0.0.1:5432")

    about = machine()
    cores = int(about["cpus"] or 1)
    print(
        f"Civicstack identity bench: {cores} CPUs ({about['cpu_model']}), {about['memory']}, "
        f"Python {about['python']}, Django {about.get('django')}, django-oauth-toolkit "
        f"{about.get('django-oauth-toolkit')}, jwcrypto {about.get('jwcrypto')}, granian "
        f"{about.get('granian')}, SQLite {about['sqlite']}; load average {load_average()}",
        flush=True,
    )
    work_dir = Path(tempfile.mkdtemp(prefix="civicstack-bench-identity-"))
    log_path = work_dir / "bench.log"
    print(f"work dir {work_dir} (log: {log_path})", flush=True)
    results: dict[str, LoadResult] = {}
    failed = False
    notes: list[str] = [
        f"load average before: {load_average()}",
        f"database: {'PostgreSQL ' + pg_database if pg_database else 'SQLite'}",
    ]
    started = time.monotonic()
    try:
        with log_path.open("a") as log:
            env, clients = prepare(work_dir, log=log, pg_database=pg_database)
        print(f"prepared in {time.monotonic() - started:.1f} s", flush=True)
        port = free_port()
        env = {
            **env,
            "OIDC_ISSUER": f"http://{HOST}:{port}/oidc",
            "SITE_URL": f"http://{HOST}:{port}",
        }
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
        notes.append("server: " + " ".join(serve[1:]))
        with server(
            serve, env=env, port=port, log_path=work_dir / "serve.log", ready="/health/live"
        ) as (base, process):
            cookie = sign_in_and_consent(base, clients)
            results = asyncio.run(run_scenarios(base, clients, cookie, args, process.pid))
        if selected("floor: bare Django app", args.only):
            results = {
                "floor: bare Django app": asyncio.run(measure_floor_app(args, env, work_dir)),
                **results,
            }
    except BenchError as error:
        failed = True
        notes.append(f"failed: {error}")
        print(f"FAILED: {error}", flush=True)
    finally:
        if pg_database is not None and not args.keep:
            with log_path.open("a") as log, contextlib.suppress(BenchError):
                postgres_recreate(log=log, drop_only=True, database=pg_database)
        if failed or args.keep:
            print(f"kept {work_dir} for its logs", flush=True)
        else:
            shutil.rmtree(work_dir, ignore_errors=True)
    signing = signing_times(args.signing_seconds) if args.signing_seconds > 0 else []
    notes.append(f"load average after: {load_average()}")
    print_report(results, signing, cores)
    for note in notes:
        print(note)
    if args.json is not None:
        payload = {
            "machine": about,
            "settings": vars(args) | {"json": str(args.json)},
            "results": {name: result.summary() for name, result in results.items()},
            "signing": [asdict(item) for item in signing],
            "notes": notes,
        }
        args.json.write_text(json.dumps(payload, indent=2, default=str))
    return 1 if failed else 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    raise SystemExit(main())
