"""Read-only queries of the kernel."""

from __future__ import annotations

import logging

from django.conf import settings

logger = logging.getLogger(__name__)


def task_queue_check() -> bool:
    """Return True when the configured task backend can take work."""
    backend = str(settings.TASKS["default"]["BACKEND"])
    try:
        if backend.startswith("django_tasks_db"):
            from django_tasks_db.models import DBTaskResult

            DBTaskResult.objects.exists()
            return True
        if backend.startswith("django_tasks_rq"):
            import redis

            client = redis.Redis.from_url(str(settings.REDIS_URL), socket_timeout=2)
            return bool(client.ping())
    except Exception:
        logger.warning("readiness: task queue check failed", exc_info=True)
        return False
    return True
