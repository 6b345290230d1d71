"""Project-wide test fixtures."""

from collections.abc import Iterator

import pytest
from django.utils import translation

# The `clamd` and `document_store` fixtures, for any test that uploads documents, and the
# test PKI that signs decision letters (`letter_pki`, `letter_signing`).
pytest_plugins = ["civicstack.documents.testing", "civicstack.cases.testing"]


@pytest.fixture(autouse=True)
def _english_by_default() -> Iterator[None]:
    """Start every test in English: a request to a /cy/ page leaves Welsh active in the thread."""
    translation.activate("en")
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _notification_state_per_test() -> Iterator[None]:
    """Start every test without the notifications app's per-process and Redis state.

    The API's one-second copies of senders and templates live in the process, and the
    "a drain is on its way" flag lives in Redis when the suite runs against it; neither
    is rolled back with a test's database changes.
    """
    from django.conf import settings

    from civicstack.notify import caches
    from civicstack.notify.limits import redis_client

    def clear() -> None:
        caches.forget()
        if getattr(settings, "REDIS_URL", None):
            redis_client().delete("notify:drain")

    clear()
    yield
    clear()
