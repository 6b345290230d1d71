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
def _redis() -> Any:
    import redis

    return redis.Redis.from_url(str(settings.REDIS_URL))


def counter_raise(key: str, *, window_seconds: int, now: datetime | None = None) -> int:
    """Add one to the counter ``key`` for the current window; return the new count."""
    now = now or timezone.now()
    window = int(now.timestamp()) // window_seconds
    full_key = f"notify:{key}:{window}"
    if getattr(settings, "REDIS_URL", None):
        pipe = _redis().pipeline()
        pipe.incr(full_key)
        pipe.expire(full_key, window_seconds * 2)
        count, _ = pipe.execute()
        return int(count)
    from civicstack.notify.models import RateCounter

    expires = now + timedelta(seconds=window_seconds * 2)
    table = RateCounter._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (key, count, expires_at) VALUES (%s, 1, %s) "  # noqa: S608
            f"ON CONFLICT (key) DO UPDATE SET count = {table}.count + 1 RETURNING count",
            [full_key, expires],
        )
        row = cursor.fetchone()
    return int(row[0]) if row else 1


def counter_lower(key: str, *, window_seconds: int, now: datetime | None = None) -> None:
    """Take one back from the counter (a request refused after it was counted)."""
    now = now or timezone.now()
    window = int(now.timestamp()) // window_seconds
    full_key = f"notify:{key}:{window}"
    if getattr(settings, "REDIS_URL", None):
        _redis().decr(full_key)
        return
    from django.db.models import F

    from civicstack.notify.models import RateCounter

    RateCounter.objects.filter(key=full_key, count__gt=0).update(count=F("count") - 1)


def counters_expire(*, now: datetime | None = None) -> int:
    """Delete database counters whose window has passed; return how many."""
    from civicstack.notify.models import RateCounter

    deleted, _ = RateCounter.objects.filter(expires_at__lt=now or timezone.now()).delete()
    return deleted
