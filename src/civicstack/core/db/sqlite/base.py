"""SQLite with writers that queue in the kernel instead of sleeping and polling.

With several threads and processes writing to one SQLite database, each ``BEGIN
IMMEDIATE`` that finds the write lock taken falls into SQLite's busy handler, which sleeps
in growing steps (1, 2, 5, 10 ... 100 ms) and tries again. Under load most of that time is
spent asleep after the lock was already free, which shows as idle CPU and long tail
latency. Here each write transaction first takes an exclusive ``flock`` on a lock file
next to the database (and a thread lock within the process): the kernel wakes the next
writer the moment the previous one commits. SQLite's own locking is unchanged underneath,
so a process that does not use this backend is still safe, only slower to get its turn.
"""

from __future__ import annotations

import fcntl
import os
import threading
from typing import Any

from django.db.backends.sqlite3 import base


class _WriterQueue:
    """One database file's write turn: a thread lock plus a file lock shared by processes."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.thread_lock = threading.Lock()
        self.fd: int | None = None
        self.pid = os.getpid()

    def acquire(self) -> None:
        self.thread_lock.acquire()
        try:
            if self.fd is None or self.pid != os.getpid():
                # A forked child must not share its parent's open file description.
                self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
                self.pid = os.getpid()
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except BaseException:
            self.thread_lock.release()
            raise

    def release(self) -> None:
        try:
            if self.fd is not None:
                fcntl.flock(self.fd, fcntl.LOCK_UN)
        finally:
            self.thread_lock.release()


_queues: dict[str, _WriterQueue] = {}
_queues_lock = threading.Lock()


def _queue_for(name: str) -> _WriterQueue | None:
    if not name or name == ":memory:" or name.startswith("file:"):
        return None
    with _queues_lock:
        queue = _queues.get(name)
        if queue is None:
            queue = _queues[name] = _WriterQueue(f"{name}.write-lock")
        return queue


class DatabaseWrapper(base.DatabaseWrapper):
    """Django's SQLite backend, taking the write turn around each transaction."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._holding_turn = False

    def _take_turn(self) -> None:
        queue = _queue_for(str(self.settings_dict.get("NAME") or ""))
        if queue is not None and not self._holding_turn:
            queue.acquire()
            self._holding_turn = True

    def _give_turn(self) -> None:
        if self._holding_turn:
            self._holding_turn = False
            queue = _queue_for(str(self.settings_dict.get("NAME") or ""))
            if queue is not None:
                queue.release()

    def _start_transaction_under_autocommit(self) -> None:  # type: ignore[misc]
        self._take_turn()
        try:
            super()._start_transaction_under_autocommit()  # type: ignore[misc]
        except BaseException:
            self._give_turn()
            raise

    def _commit(self) -> None:  # type: ignore[misc]
        try:
            super()._commit()  # type: ignore[misc]
        finally:
            self._give_turn()

    def _rollback(self) -> None:  # type: ignore[misc]
        try:
            super()._rollback()  # type: ignore[misc]
        finally:
            self._give_turn()

    def _close(self) -> None:  # type: ignore[misc]
        try:
            super()._close()  # type: ignore[misc]
        finally:
            self._give_turn()
