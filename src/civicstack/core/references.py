"""Human references (``SVC-000123``, ``APP-2026-000123``) handed out without gaps or repeats."""

from __future__ import annotations

from django.db import connection, transaction

from civicstack.core.models import ReferenceCounter


def reference_next(*, prefix: str, year: int | None = None, width: int = 6) -> str:
    """Return the next reference for ``prefix`` (and ``year``), unique across processes.

    One UPDATE ... RETURNING takes the row lock and the number together (SQLite 3.35+ and
    PostgreSQL); the counter row is made the first time a prefix is used.
    """
    key = f"{prefix}-{year}" if year is not None else prefix
    table = connection.ops.quote_name(ReferenceCounter._meta.db_table)
    with transaction.atomic(savepoint=False):
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET last_value = last_value + 1 "  # noqa: S608 - quoted name
                "WHERE prefix = %s RETURNING last_value",
                [key],
            )
            row = cursor.fetchone()
        if row is None:
            counter, _ = ReferenceCounter.objects.select_for_update().get_or_create(prefix=key)
            counter.last_value += 1
            counter.save(update_fields=["last_value"])
            value = counter.last_value
        else:
            value = int(row[0])
        return f"{key}-{value:0{width}d}"
