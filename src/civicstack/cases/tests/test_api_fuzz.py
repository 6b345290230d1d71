"""Schemathesis fuzzes every case API operation of the OpenAPI document: no input gets a
500, and every response matches the document (status codes, content types, bodies)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, assume, given, settings
from schemathesis import GenerationMode, checks
from schemathesis.core.parameters import ParameterLocation

from civicstack.accounts.constants import API_SCOPE_CASES_READ, API_SCOPE_CASES_WRITE
from civicstack.accounts.services import api_key_create
from civicstack.cases import services
from civicstack.cases.testing import letter_pki, letter_signing

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

__all__ = ["letter_pki", "letter_signing"]  # fixtures used by the test below


@pytest.fixture
def keep_test_connection() -> Any:
    """Stop the WSGI handler closing the test's database connection after each request.

    Schemathesis calls the WSGI application directly, whose request signals would otherwise
    close the connection the test's transaction lives on.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.usefixtures("keep_test_connection", "letter_signing")
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_case_api_keeps_to_its_document(
    open_case: Callable[..., Any], staff: dict[str, Any], mode: GenerationMode
) -> None:
    """Generated requests for every case operation, with a supervisor's key, keep the contract."""
    supervisor = staff["supervisor"]
    _key, secret = api_key_create(
        agency=supervisor.memberships.first().agency,
        name="Fuzz",
        scopes=[API_SCOPE_CASES_READ, API_SCOPE_CASES_WRITE],
        user=supervisor,
        actor=None,
    )
    cases = [open_case() for _ in range(3)]
    services.case_claim(case=cases[0], actor=staff["caseworker"])
    real_ids = [str(case.pk) for case in cases]
    document = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())
    schema = document.include(path_regex="^/api/v1/cases")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 9
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=25,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def exercise(case: Any) -> None:
            # Most requests aim at a real case, so permission, state and validation are
            # reached rather than only "not found" (unless the id is the invalid part).
            parameters = case.path_parameters or {}
            if (
                "case_id" in parameters
                and hash(str(case.body)) % 4 != 0
                and not case.meta.is_negative_at(ParameterLocation.PATH)
            ):
                parameters["case_id"] = real_ids[hash(str(case.query)) % len(real_ids)]
            # A list or object "value" of a query parameter does not survive the query
            # string (an empty list sends nothing), so it cannot be judged as invalid input.
            assume(not any(isinstance(v, list | dict) for v in (case.query or {}).values()))
            # Whether valid input succeeds depends on the case's state (claimed, waiting,
            # decided), which a schema cannot say: "valid but refused" is expected;
            # everything else (server errors, undocumented statuses or bodies) is checked.
            case.call_and_validate(
                headers={"Authorization": f"Bearer {secret}"},
                excluded_checks=[checks.positive_data_acceptance],
            )

        exercise()
