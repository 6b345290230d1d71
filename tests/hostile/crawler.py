"""Send hostile requests and record every 500, and anything a rejected request created."""

from __future__ import annotations

import functools
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.apps import apps
from django.db import connection
from django.http import HttpResponse

from tests.hostile.conftest import Identity
from tests.hostile.crawl import (
    INVALID_UTF8,
    INVALID_UTF8_QUERY,
    JUNK_CONTENT_TYPES,
    JUNK_HEADERS,
    PAYLOADS,
    ConcreteUrl,
    form_field_names,
    multipart_junk_body,
)

# Rows a refused request must never create. Sign-in attempts and audit events are left out:
# recording refused attempts is their purpose. Authenticator apps are counted once
# confirmed only, since opening the set-up page starts one by design.
WATCHED_TABLES: list[tuple[str, str]] = [
    ("accounts.User", ""),
    ("accounts.TOTPDevice", "confirmed_at IS NOT NULL"),
    ("accounts.RecoveryCode", ""),
    ("accounts.Passkey", ""),
    ("accounts.StaffMembership", ""),
    ("accounts.Agency", ""),
    ("catalogue.Topic", ""),
    ("catalogue.LifeEvent", ""),
    ("catalogue.Service", ""),
    ("catalogue.ServiceRevision", ""),
    ("catalogue.Guide", ""),
]


@dataclass
class Failure:
    """A request that got a 500, or created rows although it was refused."""

    identity: str
    route: str
    method: str
    url: str
    payload: str
    status: int
    problem: str

    def line(self) -> str:
        """Return the failure on one line."""
        return (
            f"{self.identity:<14} {self.method:<7} {self.url[:110]} [{self.payload}] "
            f"-> {self.status}"
        )


@dataclass
class HostileCrawler:
    """Send each URL a set of hostile requests as one identity, collecting failures."""

    identity: Identity
    failures: list[Failure] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    requests: int = 0
    started: float = field(default_factory=time.monotonic)
    current_route: str = "(extra)"
    seconds_by_route: Counter[str] = field(default_factory=Counter)

    # --- Sending ---------------------------------------------------------------------------

    def _fail(
        self, route: str, method: str, url: str, payload: str, status: int, cause: str
    ) -> None:
        self.failures.append(
            Failure(self.identity.name, route, method, url, payload, status, cause)
        )

    def _record(
        self, method: str, url: str, payload: str, response: HttpResponse, before: tuple[int, ...]
    ) -> HttpResponse:
        route = self.current_route
        self.requests += 1
        self.statuses[response.status_code] += 1
        if response.status_code >= 500 and not (
            response.status_code == 503 and url.startswith("/health/ready")
        ):
            self._fail(
                route, method, url, payload, response.status_code, _exception_summary(response)
            )
        if before and _refused(response):
            after = _row_counts()
            if after != before:
                changed = [
                    f"{label} {b}->{a}"
                    for (label, _), b, a in zip(WATCHED_TABLES, before, after, strict=True)
                    if a != b
                ]
                self._fail(
                    route,
                    method,
                    url,
                    payload,
                    response.status_code,
                    "refused but created rows: " + ", ".join(changed),
                )
        return response

    def get(self, url: str, payload: str, **extra: Any) -> HttpResponse:
        """Send a GET and record the outcome."""
        response = self.identity.client.get(url, **extra)
        return self._record("GET", url, payload, response, ())

    def post(self, url: str, payload: str, **kwargs: Any) -> HttpResponse:
        """Send a POST, and check that nothing was created if it was refused."""
        before = _row_counts()
        if isinstance(kwargs.get("data"), bytes):
            # The test client's post() re-encodes a body to the Content-Type's charset;
            # generic() sends the bytes exactly as given.
            response = self.identity.client.generic("POST", url, **kwargs)
        else:
            response = self.identity.client.post(url, **kwargs)
        return self._record("POST", url, payload, response, before)

    def generic(self, method: str, url: str, payload: str, **kwargs: Any) -> HttpResponse:
        """Send any other method."""
        before = _row_counts() if method not in {"GET", "HEAD", "OPTIONS"} else ()
        response = self.identity.client.generic(method, url, **kwargs)
        return self._record(method, url, payload, response, before)

    # --- What to send ----------------------------------------------------------------------

    def crawl(self, target: ConcreteUrl, *, full: bool) -> None:
        """Send ``target`` hostile requests: every kind if ``full``, else a sample."""
        self.identity.ensure_signed_in()
        self.current_route = target.route.name
        started = time.monotonic()
        try:
            self._crawl(target, full=full)
        finally:
            self.seconds_by_route[target.route.name] += time.monotonic() - started
            self.current_route = "(extra)"

    def _crawl(self, target: ConcreteUrl, *, full: bool) -> None:
        url = target.url
        first = self.get(url, "plain")
        fields = form_field_names(first.content) if first.status_code == 200 else []
        fields = fields or ["q", "next", "email"]
        if not target.realistic:
            # A junk value in the path: one hostile query and one hostile form are enough.
            self.get(
                url, "template metacharacters", data={"q": PAYLOADS["template metacharacters"]}
            )
            self.post(
                url,
                "SQL metacharacters",
                data=dict.fromkeys(fields, PAYLOADS["SQL metacharacters"]),
            )
            return
        kinds = list(PAYLOADS) if full else ["template metacharacters"]
        for kind in kinds:
            self.get(url, f"query: {kind}", data=dict.fromkeys(fields, PAYLOADS[kind]))
        self.get(
            url, "query: invalid UTF-8 bytes", QUERY_STRING=INVALID_UTF8_QUERY.decode("latin-1")
        )
        post_kinds = list(PAYLOADS) if full else ["SQL metacharacters"]
        for kind in post_kinds:
            self.post(url, f"form: {kind}", data=dict.fromkeys(fields, PAYLOADS[kind]))
        if not full:
            return
        raw_body = b"&".join(name.encode() + b"=" + INVALID_UTF8 for name in fields)
        self.post(
            url,
            "form: invalid UTF-8 bytes",
            data=raw_body,
            content_type="application/x-www-form-urlencoded",
        )
        content_type, body = multipart_junk_body(fields)
        self.post(url, "multipart: junk fields and file", data=body, content_type=content_type)
        for junk_type, junk_body in JUNK_CONTENT_TYPES:
            self.post(
                url, f"Content-Type: {junk_type[:40]!r}", data=junk_body, content_type=junk_type
            )
        self.get(url, "junk headers", **JUNK_HEADERS)
        self.post(
            url,
            "junk headers",
            data=dict.fromkeys(fields, PAYLOADS["template metacharacters"]),
            **JUNK_HEADERS,
        )
        for method in ("PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "PROPFIND"):
            self.generic(
                method, url, "other method", data=urlencode({"q": PAYLOADS["SQL metacharacters"]})
            )

    def report(self) -> str:
        """Summarise the crawl, and list failures grouped by their cause."""
        seconds = time.monotonic() - self.started
        lines = [
            f"{self.identity.name}: {self.requests} requests in {seconds:.1f}s, "
            f"statuses {dict(sorted(self.statuses.items()))}, {len(self.failures)} failure(s)",
            "slowest pages: "
            + ", ".join(f"{name} {sec:.1f}s" for name, sec in self.seconds_by_route.most_common(4)),
        ]
        causes: dict[tuple[str, str], list[Failure]] = {}
        for failure in self.failures:
            causes.setdefault((failure.route, failure.problem), []).append(failure)
        for (route, problem), failures in causes.items():
            lines.append(f"\n== {len(failures)} x {route}: {problem}")
            lines.extend("   " + failure.line() for failure in failures[:15])
            if len(failures) > 15:
                lines.append(f"   ... and {len(failures) - 15} more")
        return "\n".join(lines)


def _refused(response: HttpResponse) -> bool:
    if response.status_code >= 400:
        return True
    content = getattr(response, "content", b"")
    return response.status_code == 200 and (
        b"govuk-error-summary" in content or b'class="errornote"' in content
    )


@functools.cache
def _count_sql() -> str:
    selects = []
    for label, condition in WATCHED_TABLES:
        table = connection.ops.quote_name(apps.get_model(label)._meta.db_table)
        where = f" WHERE {condition}" if condition else ""
        selects.append(f"(SELECT COUNT(*) FROM {table}{where})")  # noqa: S608 - our names
    return "SELECT " + ", ".join(selects)


def _row_counts() -> tuple[int, ...]:
    """Return the row count of each watched table, in one query."""
    with connection.cursor() as cursor:
        cursor.execute(_count_sql())
        return tuple(cursor.fetchone())


def _short(frame: traceback.FrameSummary) -> str:
    path = frame.filename
    for marker in ("/site-packages/", "/src/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{path}:{frame.lineno} {frame.name}"


def _exception_summary(response: HttpResponse) -> str:
    """Return the exception behind a 500 and the frames that raised it."""
    exc_info = getattr(response, "exc_info", None)
    if not exc_info or exc_info[1] is None:
        return "no exception recorded: " + response.content[:200].decode(errors="replace")
    _, error, tb = exc_info
    frames = traceback.extract_tb(tb)
    # Where it was raised, the code that called into the ORM or utilities to get there, and
    # the last Civicstack frame on the way (if any).
    callers = [
        frame
        for frame in frames
        if "/django/db/" not in frame.filename and "/django/utils/" not in frame.filename
    ]
    ours = [frame for frame in frames if "/src/civicstack/" in frame.filename]
    where = f"raised at {_short(frames[-1])}" if frames else ""
    if callers and callers[-1] is not frames[-1]:
        where += f", called from {_short(callers[-1])}"
    if ours and ours[-1] is not (callers or [None])[-1]:
        where += f", in {_short(ours[-1])}"
    return f"{type(error).__name__} {where}"
