"""Health endpoints, error pages and security headers."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_liveness_says_ok() -> None:
    """The liveness probe answers without checking dependencies."""
    response = Client().get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readiness_checks_database_cache_and_tasks() -> None:
    """The readiness probe reports each dependency."""
    response = Client().get("/health/ready")
    body = response.json()
    assert response.status_code == 200, body
    assert body["checks"] == {"database": "ok", "cache": "ok", "tasks": "ok"}


def test_unknown_page_gets_the_designed_404() -> None:
    """A missing page shows the 'Page not found' page in the service's design."""
    response = Client().get("/en/no-such-page")
    assert response.status_code == 404
    assert b"Page not found" in response.content
    assert b"govuk-template" in response.content


def test_unknown_api_path_gets_a_json_error() -> None:
    """API clients get a JSON error body, not a page."""
    response = Client().get("/api/no-such-thing", HTTP_ACCEPT="application/json")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_security_headers_are_set() -> None:
    """Pages carry a nonce-based CSP with no unsafe-inline, nosniff, referrer and frame rules."""
    response = Client().get("/en/")
    csp = response["Content-Security-Policy"]
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert "'nonce-" in csp
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert response["X-Frame-Options"] == "DENY"


def test_root_redirects_to_a_language() -> None:
    """The bare address sends people to the English pages."""
    response = Client().get("/")
    assert response.status_code == 302
    assert response["Location"] == "/en/"


def test_welsh_pages_are_in_welsh() -> None:
    """The /cy/ pages declare Welsh and link back to English."""
    response = Client().get("/cy/")
    assert response.status_code == 200
    assert b'<html lang="cy"' in response.content
    assert b'hreflang="en"' in response.content


def test_readiness_checks_the_configured_task_queue() -> None:
    """With the configured backend (database, or Redis at scale) the queue is reachable."""
    from django.conf import settings
    from django.test import override_settings

    from civicstack.core.selectors import task_queue_check

    with override_settings(TASKS=settings.CONFIGURED_TASKS):
        assert task_queue_check()
    broken = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
    with override_settings(TASKS=broken, REDIS_URL="redis://127.0.0.1:1/0"):
        assert not task_queue_check()
