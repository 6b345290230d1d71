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
