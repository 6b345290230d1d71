"""A case's process survives its worker: kill the worker mid-process, start another, and the
case goes on, its timers firing after the restart.

Everything runs in real processes on a SQLite file: a task worker (``db_worker``) opens the
case from the submitted application; the caseworker asks for information; the worker is
killed with SIGKILL; a new worker and the scheduler start, and the request's deadline
(a five-second timer in this test's process) brings the case back to the caseworker.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import manage, start, stop, wait_for

pytestmark = [
    pytest.mark.slow,
    # The processes here always run the embedded default (a SQLite file, the database task
    # queue), whatever the suite runs on: the PostgreSQL run would only repeat it.
    pytest.mark.skipif(
        bool(os.environ.get("DATABASE_URL")), reason="runs once, on the embedded default"
    ),
]

SETUP = """
from civicstack.accounts.constants import Role
from civicstack.accounts.tests.factories import staff_create, UserFactory
from civicstack.cases import services
from civicstack.cases.tests.conftest import CASE_FORM
from civicstack.catalogue.tests.factories import ServiceFactory
from civicstack.forms.models import Draft
from civicstack.forms.services import application_submit, draft_start, form_import

service = ServiceFactory(slug="apply-restart-test")
form_import(service=service, source=CASE_FORM, actor=None)
owner = staff_create(role=Role.SERVICE_OWNER, agency=service.agency, email="owner@example.org")
staff_create(role=Role.CASEWORKER, agency=service.agency, email="worker@example.org")
xml = (services.PROCESS_DIR / "information-loop.bpmn").read_text()
xml = xml.replace(">information_period<", ">PT5S<").replace(">reminder_period<", ">PT2S<")
version = services.process_version_save(service=service, xml=xml, actor=owner)
services.process_version_publish(version=version, actor=owner)
citizen = UserFactory(email="applicant@example.org", full_name="Rhian Evans")
draft = draft_start(service=service, user=citizen, language="en", actor=citizen)
Draft.objects.filter(pk=draft.pk).update(
    answers={"full_name": "Rhian Evans", "household_size": 2, "email": citizen.email}
)
draft.refresh_from_db()
application_submit(draft=draft, holder_keys=[], actor=citizen)
"""

ASK = """
from civicstack.accounts.models import User
from civicstack.cases import services
from civicstack.cases.models import Case

worker = User.objects.get(email="worker@example.org")
case = Case.objects.get()
services.case_claim(case=case, actor=worker)
services.case_information_request(
    case=case, question="Proof of address, please.", due_days=10, actor=worker,
    link_for=lambda request: "/reply",
)
"""


@pytest.fixture
def environment(tmp_path: Path) -> Iterator[dict[str, str]]:
    """An isolated development site on a SQLite file, migrated."""
    env = {
        **os.environ,
        "CIVICSTACK_VAR_DIR": str(tmp_path / "var"),
        "CIVICSTACK_ENVIRONMENT": "development",
        "DJANGO_SETTINGS_MODULE": "civicstack.conf.settings",
    }
    for name in ("DATABASE_URL", "REDIS_URL"):
        env.pop(name, None)
    manage(env, "migrate", "--verbosity", "0")
    manage(env, "createcachetable")
    yield env


def _case(env: dict[str, str]) -> tuple[str, str, int] | None:
    database = Path(env["CIVICSTACK_VAR_DIR"]) / "civicstack.sqlite3"
    with sqlite3.connect(database, timeout=10) as connection:
        row = connection.execute(
            "SELECT id, waiting_on, (SELECT count(*) FROM cases_caseentry e "
            "WHERE e.case_id = c.id AND e.kind = 'automation' "
            "AND e.data LIKE '%notify.information_reminder%') FROM cases_case c"
        ).fetchone()
    return (str(row[0]), str(row[1]), int(row[2])) if row else None


def test_killed_worker_is_replaced_and_the_process_goes_on(environment: dict[str, str]) -> None:
    """The case opens in worker one; after SIGKILL, worker two fires the deadline timer."""
    database = Path(environment["CIVICSTACK_VAR_DIR"]) / "civicstack.sqlite3"
    assert database.exists()
    first = start(environment, "db_worker", "--interval", "0.5")
    processes = [first]
    try:
        manage(environment, "shell", "-c", SETUP)
        # The submission queued the case's opening; the worker opens it.
        wait_for(lambda: _case(environment) is not None, seconds=60)
        case = _case(environment)
        assert case is not None and case[1] == "caseworker"
        manage(environment, "shell", "-c", ASK)
        asked = _case(environment)
        assert asked is not None and asked[1] == "applicant"
        # The worker dies mid-process, and stays dead past both timers' due times.
        stop(first, signal.SIGKILL)
        time.sleep(6)
        waiting = _case(environment)
        assert waiting is not None and waiting[1] == "applicant", "nothing moved while down"

        second = start(environment, "db_worker", "--interval", "0.5")
        scheduler = start(environment, "scheduler")
        processes += [second, scheduler]
        wait_for(lambda: (_case(environment) or ("", "", 0))[1] == "caseworker", seconds=90)
        resumed = _case(environment)
        assert resumed is not None
        assert resumed[2] == 1, "the reminder fired once, before the deadline"
    finally:
        for process in processes:
            stop(process)
