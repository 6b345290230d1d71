"""Helpers for tests that run Civicstack as real processes on an isolated SQLite site."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable


def manage(env: dict[str, str], *args: str) -> None:
    """Run a management command to completion in its own process."""
    subprocess.run([sys.executable, "-m", "civicstack", *args], env=env, check=True, timeout=180)


def start(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    """Start a long-running command (worker, scheduler) in its own process group."""
    return subprocess.Popen(
        [sys.executable, "-m", "civicstack", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    """Stop a started command and everything it started."""
    if process.poll() is None:
        os.killpg(process.pid, sig)
        process.wait(timeout=30)


def wait_for(check: Callable[[], object], *, seconds: float, every: float = 0.3) -> None:
    """Wait until ``check()`` is true; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(every)
    raise AssertionError("timed out")
