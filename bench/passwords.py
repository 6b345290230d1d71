#!/usr/bin/env python3
# SPDX-License-Identifier: EUPL-1.2
"""Measure password checks per second on one core: Civicstack's hasher vs Django's default.

Run from the repository root::

    .venv/bin/python bench/passwords.py [--duration 3] [--cpu 0] [--json PATH]

Both hashers are Argon2id. ``CivicstackArgon2PasswordHasher`` uses OWASP's minimum cost
(m=19 MiB, t=2, p=1); Django's ``Argon2PasswordHasher`` uses m=100 MiB, t=2, p=8. The
process is pinned to one CPU so the figure is per core, which is what sign-in throughput
per web worker depends on. Each hasher is timed for ``--duration`` seconds (and at least
five checks) on ``check_password``, the path a sign-in takes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from django.conf import settings

if not settings.configured:
    settings.configure(
        SECRET_KEY="bench-only-passwords-not-secret",
        PASSWORD_HASHERS=[
            "civicstack.accounts.hashers.CivicstackArgon2PasswordHasher",
            "django.contrib.auth.hashers.Argon2PasswordHasher",
        ],
        INSTALLED_APPS=[],
    )

from django.contrib.auth.hashers import Argon2PasswordHasher, BasePasswordHasher

from civicstack.accounts.hashers import CivicstackArgon2PasswordHasher

PASSWORD = "correct horse battery staple 42"


@dataclass(frozen=True)
class HasherResult:
    """Checks per second for one hasher."""

    name: str
    parameters: str
    checks: int
    seconds: float

    @property
    def per_second(self) -> float:
        """Return checks per second."""
        return self.checks / self.seconds

    @property
    def ms_per_check(self) -> float:
        """Return milliseconds per check."""
        return 1000 * self.seconds / self.checks


def measure(hasher: BasePasswordHasher, *, duration: float) -> HasherResult:
    """Time ``hasher.verify`` on a correct password for ``duration`` seconds."""
    encoded = hasher.encode(PASSWORD, hasher.salt())
    assert hasher.verify(PASSWORD, encoded), "the hasher failed to verify its own hash"
    params = hasher.decode(encoded)
    parameters = (
        f"m={params['memory_cost'] // 1024} MiB, t={params['time_cost']}, p={params['parallelism']}"
    )
    checks = 0
    started = time.perf_counter()
    deadline = started + duration
    while checks < 5 or time.perf_counter() < deadline:
        hasher.verify(PASSWORD, encoded)
        checks += 1
    seconds = time.perf_counter() - started
    return HasherResult(
        name=type(hasher).__name__, parameters=parameters, checks=checks, seconds=seconds
    )


def main(argv: list[str] | None = None) -> int:
    """Measure both hashers and print checks per second."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per hasher")
    parser.add_argument("--cpu", type=int, default=None, help="CPU to pin to (default: last)")
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    args = parser.parse_args(argv)
    allowed = sorted(os.sched_getaffinity(0))
    cpu = args.cpu if args.cpu is not None else allowed[-1]
    os.sched_setaffinity(0, {cpu})
    results = [
        measure(CivicstackArgon2PasswordHasher(), duration=args.duration),
        measure(Argon2PasswordHasher(), duration=args.duration),
    ]
    print(f"Password checks on one core (CPU {cpu}), {args.duration:g} s each")
    print(f"{'hasher':<32} {'parameters':<24} {'checks/s':>9} {'ms/check':>9}")
    for result in results:
        print(
            f"{result.name:<32} {result.parameters:<24} "
            f"{result.per_second:>9.1f} {result.ms_per_check:>9.1f}"
        )
    if args.json is not None:
        payload = [
            {**asdict(r), "per_second": r.per_second, "ms_per_check": r.ms_per_check}
            for r in results
        ]
        args.json.write_text(json.dumps({"cpu": cpu, "hashers": payload}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
