"""Schemathesis fuzzes every operation of the OpenAPI document: no input gets a 500, and
every response matches the document (status codes, content types, bodies)."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture
def keep_test_connection() -> Any:
    """Stop the WSGI handler closing the test's database connection after each request.

    Django's own test client does the same; schemathesis calls the WSGI application
    directly, whose request signals would otherwise close the connection the test's
    transaction lives on (PostgreSQL notices).
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.usefixtures("keep_test_connection")
def test_the_api_keeps_to_its_document(permit_service: Any, api_secret: str) -> None:
    """Generated requests for every operation, with a valid key, never break the contract."""
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 4
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=30,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def exercise(case: Any) -> None:
            # Half the cases aim at a real service, so validation is reached too.
            if "slug" in (case.path_parameters or {}) and hash(str(case.body)) % 2 == 0:
                case.path_parameters["slug"] = "apply-test-permit"
            # Which answers are valid depends on each service's form, which a generic schema
            # cannot say: "valid by the schema but refused" is expected, everything else
            # (server errors, undocumented statuses or bodies) is checked.
            case.call_and_validate(
                headers={"Authorization": f"Bearer {api_secret}"},
                excluded_checks=[checks.positive_data_acceptance],
            )

        exercise()
