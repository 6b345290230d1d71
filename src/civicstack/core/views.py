"""Health endpoints and the error pages Django falls back to."""

from __future__ import annotations

import logging
import time

from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from civicstack.core.middleware import error_response, wants_json
from civicstack.core.selectors import task_queue_check

logger = logging.getLogger(__name__)


@never_cache
@require_safe
def liveness(request: HttpRequest) -> HttpResponse:
    """Say the process is up; checks nothing else so a slow database never restarts it."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def readiness(request: HttpRequest) -> HttpResponse:
    """Check the database, the cache and the task queue; 503 if any is not ready."""
    checks: dict[str, str] = {}
    started = time.monotonic()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        checks["database"] = "ok"
    except Exception:
        logger.warning("readiness: database check failed", exc_info=True)
        checks["database"] = "failing"
    try:
        key = "civicstack:readiness"
        cache.set(key, "1", 10)
        checks["cache"] = "ok" if cache.get(key) == "1" else "failing"
    except Exception:
        logger.warning("readiness: cache check failed", exc_info=True)
        checks["cache"] = "failing"
    checks["tasks"] = "ok" if task_queue_check() else "failing"
    ready = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {
            "status": "ok" if ready else "failing",
            "checks": checks,
            "duration_ms": round((time.monotonic() - started) * 1000, 1),
        },
        status=200 if ready else 503,
    )


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Render the 400 page."""
    return error_response(request, 400, "bad_request")


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Render the 403 page."""
    return error_response(request, 403, "permission_denied")


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Render the 404 page."""
    return error_response(request, 404, "not_found")


def server_error(request: HttpRequest) -> HttpResponse:
    """Render the 500 page without touching the database or the session."""
    if wants_json(request):
        return JsonResponse(
            {"status": 500, "code": "server_error", "message": "server error"}, status=500
        )
    return render(request, "errors/500.html", status=500)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """Explain an expired or missing form token as a clear page, not a bare 403."""
    return error_response(request, 403, "csrf_failed")
