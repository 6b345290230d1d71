"""Settings come from the environment: embedded defaults, HTTPS hardening, production."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = (
    "import json\n"
    "from civicstack.conf import settings as s\n"
    "print(json.dumps({\n"
    "  'engine': s.DATABASES['default']['ENGINE'],\n"
    "  'tasks': s.TASKS['default']['BACKEND'],\n"
    "  'cache': s.CACHES['default']['BACKEND'],\n"
    "  'hsts': getattr(s, 'SECURE_HSTS_SECONDS', 0),\n"
    "  'session_cookie': s.SESSION_COOKIE_NAME,\n"
    "  'csrf_cookie': s.CSRF_COOKIE_NAME,\n"
    "  'secure': getattr(s, 'SESSION_COOKIE_SECURE', False),\n"
    "  'init': s.DATABASES['default'].get('OPTIONS', {}).get('init_command', ''),\n"
    "}))\n"
)


def _settings_with(env: dict[str, str], tmp_path: Path) -> dict[str, object]:
    clean = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "HTTPS", "CIVICSTACK_ENVIRONMENT"}
    }
    clean.update({"CIVICSTACK_VAR_DIR": str(tmp_path), **env})
    result = subprocess.run(
        [sys.executable, "-c", PROBE], env=clean, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_embedded_defaults_need_no_services(tmp_path: Path) -> None:
    """With nothing set: SQLite in WAL mode, the database task queue and the database cache."""
    values = _settings_with({}, tmp_path)
    assert values["engine"] == "civicstack.core.db.sqlite"
    assert "journal_mode=WAL" in str(values["init"])
    assert values["tasks"] == "django_tasks_db.DatabaseBackend"
    assert values["cache"].endswith("DatabaseCache")  # type: ignore[union-attr]


def test_urls_switch_to_postgresql_and_redis(tmp_path: Path) -> None:
    """DATABASE_URL and REDIS_URL switch the database, cache and task queue."""
    values = _settings_with(
        {"DATABASE_URL": "postgres://u@db.invalid:5432/x", "REDIS_URL": "redis://r.invalid:6379/0"},
        tmp_path,
    )
    assert values["engine"] == "django.db.backends.postgresql"
    assert values["tasks"] == "django_tasks_rq.RQBackend"
    assert values["cache"].endswith("RedisCache")  # type: ignore[union-attr]


def test_https_turns_on_hsts_and_host_prefixed_secure_cookies(tmp_path: Path) -> None:
    """Over HTTPS: HSTS, and __Host- cookies that are Secure (ASVS 3.3.1, 3.4.1)."""
    values = _settings_with({"HTTPS": "true"}, tmp_path)
    assert values["hsts"] >= 31536000  # type: ignore[operator]
    assert values["session_cookie"] == "__Host-session"
    assert values["csrf_cookie"] == "__Host-csrftoken"
    assert values["secure"] is True


def _start_up_error(env: dict[str, str], *, drop: str = "") -> str:
    clean = {key: value for key, value in os.environ.items() if key != drop}
    clean.update(env)
    result = subprocess.run(
        [sys.executable, "-c", "import civicstack.conf.settings"],
        env=clean,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    return result.stderr


def test_production_refuses_to_start_without_a_secret_key(tmp_path: Path) -> None:
    """Production never falls back to a generated key."""
    error = _start_up_error(
        {"CIVICSTACK_ENVIRONMENT": "production", "CIVICSTACK_VAR_DIR": str(tmp_path)},
        drop="SECRET_KEY",
    )
    assert "SECRET_KEY must be set in production" in error


@pytest.mark.parametrize("value", ["maybe", "2x"])
def test_malformed_values_are_reported_by_name(tmp_path: Path, value: str) -> None:
    """A malformed variable stops start-up with a message naming it."""
    error = _start_up_error({"HTTPS": value, "CIVICSTACK_VAR_DIR": str(tmp_path)})
    assert "HTTPS must be a boolean" in error
