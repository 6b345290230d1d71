# SPDX-License-Identifier: EUPL-1.2
"""The insert floor for ``bench/submissions.py``: one row written per request, nothing else.

One view that reads the request body and inserts one row (its ``Idempotency-Key`` header,
unique, and the body) into a table of its own, in one transaction. No middleware, no
templates, no authentication, no validation. It uses Civicstack's own ``DATABASES`` (the
same engine, SQLite pragmas or PostgreSQL URL, ``CONN_MAX_AGE`` and health checks) from
the environment the server runs with, so it measures what committing one row over the
same web server flags and the same database connections costs on this machine::

    PYTHONPATH=bench:<src> .venv/bin/python -m granian --interface wsgi ... \\
        insert_floor_app:application

``python bench/insert_floor_app.py`` creates the table once before the server starts
(two workers creating it at the same moment could race on PostgreSQL).
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.wsgi import get_wsgi_application
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

TABLE = "bench_insert_floor"

if not settings.configured:
    # The same database settings as the server (read from the same environment).
    from civicstack.conf import settings as civicstack_settings

    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench-only-insert-floor-not-secret",
        ALLOWED_HOSTS=["127.0.0.1"],
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=[],
        MIDDLEWARE=[],
        DATABASES=civicstack_settings.DATABASES,
        TEMPLATES=[],
        USE_I18N=False,
        USE_TZ=True,
        LOGGING_CONFIG=None,
    )


def table_create() -> None:
    """Create the floor's table if it is not there yet."""
    serial = "BIGSERIAL" if connection.vendor == "postgresql" else "INTEGER"
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} ("
            f"id {serial} PRIMARY KEY, idempotency_key VARCHAR(255) NOT NULL UNIQUE, "
            "body TEXT NOT NULL, created_at TIMESTAMP WITH TIME ZONE NOT NULL)"
        )
    connection.close()


@csrf_exempt
def insert(request: HttpRequest) -> HttpResponse:
    """Insert one row for this request and answer 201 with its id."""
    key = request.headers.get("Idempotency-Key", "")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {TABLE} (idempotency_key, body, created_at) "  # noqa: S608
            "VALUES (%s, %s, %s) RETURNING id",
            [key, request.body.decode("utf-8"), dt.datetime.now(dt.UTC)],
        )
        row_id = cursor.fetchone()[0]
    return JsonResponse({"id": row_id}, status=201)


def live(request: HttpRequest) -> HttpResponse:
    """Answer the readiness probe the benchmark waits for."""
    return HttpResponse(b"ok\n", content_type="text/plain")


urlpatterns = [path("insert", insert), path("health/live", live)]

application = get_wsgi_application()

if __name__ == "__main__":
    table_create()
