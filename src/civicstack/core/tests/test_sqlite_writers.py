"""Writers to a SQLite file take turns through a lock the kernel hands over."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connections

from civicstack.core.db.sqlite.base import DatabaseWrapper


@pytest.fixture(autouse=True)
def _own_connections(django_db_blocker: pytest.FixtureRequest) -> Iterator[None]:
    """These tests open their own connections to files of their own."""
    with django_db_blocker.unblock():  # type: ignore[attr-defined]
        yield


def _wrapper(path: Path) -> DatabaseWrapper:
    settings = {**connections["default"].settings_dict, "NAME": str(path)}
    settings["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 20}
    return DatabaseWrapper(settings, alias="writers-test")


def test_write_transactions_take_turns(tmp_path: Path) -> None:
    """A second writer waits for the first to commit, then goes; nothing is lost."""
    path = tmp_path / "turns.sqlite3"
    setup = _wrapper(path)
    with setup.cursor() as cursor:
        cursor.execute("CREATE TABLE log (who TEXT, at REAL)")
    setup.close()
    order: list[str] = []

    def write(who: str, hold: float) -> None:
        db = _wrapper(path)
        db.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)
        with db.cursor() as cursor:
            order.append(f"{who} began")
            cursor.execute("INSERT INTO log VALUES (%s, %s)", [who, time.monotonic()])
            time.sleep(hold)
        order.append(f"{who} committing")
        db.commit()
        db.set_autocommit(True)
        db.close()

    first = threading.Thread(target=write, args=("first", 0.3))
    first.start()
    time.sleep(0.05)
    second = threading.Thread(target=write, args=("second", 0.0))
    second.start()
    first.join(5)
    second.join(5)
    assert order == ["first began", "first committing", "second began", "second committing"]
    check = _wrapper(path)
    with check.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM log")
        assert cursor.fetchone()[0] == 2
    check.close()
    assert (tmp_path / "turns.sqlite3.write-lock").exists()


def test_a_failed_transaction_gives_its_turn_back(tmp_path: Path) -> None:
    """A rolled-back writer releases the lock; the next one is not stuck."""
    path = tmp_path / "rollback.sqlite3"
    db = _wrapper(path)
    db.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)
    with db.cursor() as cursor:
        cursor.execute("CREATE TABLE t (x INTEGER)")
    db.rollback()
    db.set_autocommit(True)
    done = threading.Event()

    def write() -> None:
        other = _wrapper(path)
        other.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)
        with other.cursor() as cursor:
            cursor.execute("CREATE TABLE u (x INTEGER)")
        other.commit()
        other.set_autocommit(True)
        other.close()
        done.set()

    thread = threading.Thread(target=write)
    thread.start()
    assert done.wait(5)
    db.close()
