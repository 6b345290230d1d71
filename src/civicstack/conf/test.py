"""Settings for the test suite: the normal settings with the test environment selected.

Everything still comes from the environment (DATABASE_URL and REDIS_URL switch the suite to
PostgreSQL and Redis); this module only sets the defaults tests need before reading it.
"""

import os
import re
import tempfile

os.environ.setdefault("CIVICSTACK_ENVIRONMENT", "test")


def _redis_url_per_worker(url: str, worker: str) -> str:
    """Give each pytest-xdist worker its own Redis database, counting down from the one set.

    The suite clears its cache between tests (a Redis FLUSHDB); two workers sharing one
    database would wipe each other's rate-limit counters and queues mid-test.
    """
    match = re.fullmatch(r"(redis://[^/]*)/?(\d*)", url)
    index = int(worker.removeprefix("gw") or 0)
    if match is None:
        return url
    database = int(match.group(2) or 0) - index
    if database < 0:
        database += 16
    return f"{match.group(1)}/{database}"


if os.environ.get("REDIS_URL") and os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["REDIS_URL"] = _redis_url_per_worker(
        os.environ["REDIS_URL"], os.environ["PYTEST_XDIST_WORKER"]
    )
os.environ.setdefault("CIVICSTACK_VAR_DIR", tempfile.mkdtemp(prefix="civicstack-test-"))

from civicstack.conf import settings as settings_module  # noqa: E402
from civicstack.conf.settings import *  # noqa: E402, F403

PASSWORD_HASHERS = [
    # Fast hashing in tests, except where a test asks for the production hasher.
    "django.contrib.auth.hashers.MD5PasswordHasher",
    "civicstack.accounts.hashers.CivicstackArgon2PasswordHasher",
]

# Tasks run as they are enqueued, so tests see their effects (emails in the outbox) at
# once; tests of the queue itself select the configured backend explicitly.
CONFIGURED_TASKS = settings_module.TASKS
CONFIGURED_TASKS_DB = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}

STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405

if DATABASES["default"]["ENGINE"] == "civicstack.core.db.sqlite":  # noqa: F405
    # In memory, as Django does for its own SQLite engine; said explicitly so pytest-xdist's
    # per-worker names are not made from the file path of our engine's database.
    DATABASES["default"]["TEST"] = {"NAME": ":memory:"}  # noqa: F405
