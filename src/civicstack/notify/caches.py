"""Short-lived per-process copies of what every Notify API request reads.

A sender with its keys, and a template, are read on every send; at hundreds of requests a
second those reads are most of the cost of a request. Each process keeps them for
``SECONDS``; a change made in this process (a key revoked, a template saved) clears them at
once, and other processes see it within ``SECONDS``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

SECONDS = 1.0
_MAX_ENTRIES = 1000

T = TypeVar("T")

_lock = threading.Lock()
_entries: dict[tuple[str, Any], tuple[float, Any]] = {}


def cached[T](kind: str, key: Any, load: Callable[[], T]) -> T:
    """Return the cached value of (kind, key), loading it if missing or older than SECONDS."""
    now = time.monotonic()
    entry = _entries.get((kind, key))
    if entry is not None and now - entry[0] < SECONDS:
        return entry[1]  # type: ignore[no-any-return]
    value = load()
    with _lock:
        if len(_entries) >= _MAX_ENTRIES:
            _entries.clear()
        _entries[(kind, key)] = (now, value)
    return value


def forget() -> None:
    """Drop every cached value (after a change to senders, keys or templates)."""
    with _lock:
        _entries.clear()
