"""Project-wide test fixtures."""

from collections.abc import Iterator

import pytest
from django.utils import translation

# The `clamd` and `document_store` fixtures, for any test that uploads documents.
pytest_plugins = ["civicstack.documents.testing"]


@pytest.fixture(autouse=True)
def _english_by_default() -> Iterator[None]:
    """Start every test in English: a request to a /cy/ page leaves Welsh active in the thread."""
    translation.activate("en")
    yield
    translation.deactivate()
