"""Counters for rate limits and daily caps, correct with any number of processes.

With Redis (``REDIS_URL``) a counter is one ``INCR`` with an expiry; in the embedded default
it is one ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` on the database, which SQLite
and PostgreSQL both run atomically.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone


@cache
def _redis_for(url: str) -> Any:
    import redis

    return redis.Redis.from_url(url)


def redis_client() -> Any:
    """Return this process's Redis client for ``settings.REDIS_URL``."""
    return _redis_for(str(settings.REDIS_URL))


_redis = redis_client


def counter_raise(key: str, *, window_seconds: int, now: datetime | None = None) -> int:
    """Add one to the counter ``key`` for the current window; return the new count."""
    return counters_raise({key: window_seconds}, now=now)[key]


def counters_raise(windows: dict[str, int], *, now: datetime | None = None) -> dict[str, int]:
    """Add one to each counter (key: window in seconds) in one round trip; return the counts."""
    now = now or timezone.now()
    full = {key: _window_key(key, seconds, now) for key, seconds in windows.items()}
    if getattr(settings, "REDIS_URL", None):
        pipe = redis_client().pipeline()
        for key, seconds in windows.items():
            pipe.incr(full[key])
            pipe.expire(full[key], seconds * 2)
        results = pipe.execute()
        return {key: int(results[index * 2]) for index, key in enumerate(windows)}
    from civicstack.notify.models import RateCounter

    table = RateCounter._meta.db_table
    rows = ", ".join("(%s, 1, %s)" for _ in windows)
    params: list[Any] = []
    for key, seconds in windows.items():
        expires = now + timedelta(seconds=seconds * 2)
        params += [full[key], connection.ops.adapt_datetimefield_value(expires)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (key, count, expires_at) VALUES {rows} "  # noqa: S608
            f"ON CONFLICT (key) DO UPDATE SET count = {table}.count + 1 RETURNING key, count",
            params,
        )
        counts = dict(cursor.fetchall())
    return {key: int(counts[full[key]]) for key in windows}


def _window_key(key: str, window_seconds: int, now: datetime) -> str:
    return f"notify:{key}:{int(now.timestamp()) // window_seconds}"


def counter_lower(key: str, *, window_seconds: int, now: datetime | None = None) -> None:
    """Take one back from the counter (a request refused after it was counted)."""
    now = now or timezone.now()
    full_key = _window_key(key, window_seconds, now)
    if getattr(settings, "REDIS_URL", None):
        redis_client().decr(full_key)
        return
    from django.db.models import F

    from civicstack.notify.models import RateCounter

    RateCounter.objects.filter(key=full_key, count__gt=0).update(count=F("count") - 1)


def counters_expire(*, now: datetime | None = None) -> int:
    """Delete database counters whose window has passed; return how many."""
    from civicstack.notify.models import RateCounter

    deleted, _ = RateCounter.objects.filter(expires_at__lt=now or timezone.now()).delete()
    return deleted
