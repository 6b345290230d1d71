"""Fixtures for the cases tests: a service, its staff, and applications made for real."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from civicstack.accounts.constants import Role
from civicstack.accounts.tests.factories import AgencyFactory, UserFactory, staff_create
from civicstack.cases import services
from civicstack.cases.models import Case
from civicstack.catalogue.tests.factories import ServiceFactory
from civicstack.forms.models import Draft
from civicstack.forms.services import application_submit, draft_start, form_import

CASE_FORM = """
schema: 1
title: {en: "Apply for a test licence", cy: "Gwneud cais am drwydded prawf"}
pages:
  - id: name
    title: {en: "What is your full name?", cy: "Beth yw eich enw llawn?"}
    questions:
      - id: full_name
        type: text
        label: {en: "What is your full name?", cy: "Beth yw eich enw llawn?"}
        prefill: full_name
  - id: household
    title: {en: "How many people live with you?", cy: "Faint o bobl sy'n byw gyda chi?"}
    questions:
      - id: household_size
        type: number
        label: {en: "How many people live with you?", cy: "Faint o bobl sy'n byw gyda chi?"}
  - id: contact
    title: {en: "What is your email address?", cy: "Beth yw eich cyfeiriad e-bost?"}
    questions:
      - id: email
        type: email
        label: {en: "What is your email address?", cy: "Beth yw eich cyfeiriad e-bost?"}
        prefill: email
declaration:
  en: "I confirm that my answers are true."
  cy: "Rwy'n cadarnhau bod fy atebion yn wir."
confirmation:
  en: "We will decide within 20 working days."
  cy: "Byddwn yn penderfynu o fewn 20 diwrnod gwaith."
"""


@pytest.fixture
def licence_service(db: Any) -> Any:
    """A published service of its own agency, with a short form and default case settings."""
    service = ServiceFactory(slug="apply-test-licence")
    form_import(service=service, source=CASE_FORM, actor=None)
    return service


@pytest.fixture
def staff(licence_service: Any) -> dict[str, Any]:
    """Staff of the service's agency by role, and a caseworker of another agency."""
    agency = licence_service.agency
    return {
        "caseworker": staff_create(role=Role.CASEWORKER, agency=agency, full_name="Cai Worker"),
        "caseworker2": staff_create(role=Role.CASEWORKER, agency=agency, full_name="Ceri Two"),
        "supervisor": staff_create(role=Role.SUPERVISOR, agency=agency, full_name="Sian Super"),
        "supervisor2": staff_create(role=Role.SUPERVISOR, agency=agency, full_name="Sam Second"),
        "owner": staff_create(role=Role.SERVICE_OWNER, agency=agency, full_name="Owen Owner"),
        "outsider": staff_create(
            role=Role.CASEWORKER, agency=AgencyFactory(), full_name="Olwen Outside"
        ),
    }


@pytest.fixture
def applicant(db: Any) -> Any:
    return UserFactory(full_name="Rhian Evans", email="rhian@example.org")


@pytest.fixture
def apply(licence_service: Any, applicant: Any) -> Callable[..., Any]:
    """Return a function that submits an application through the forms services."""

    def submit(*, household_size: int = 2, language: str = "en", person: Any = None) -> Any:
        person = person or applicant
        draft = draft_start(service=licence_service, user=person, language=language, actor=person)
        Draft.objects.filter(pk=draft.pk).update(
            answers={
                "full_name": person.full_name,
                "household_size": household_size,
                "email": person.email,
            }
        )
        draft.refresh_from_db()
        return application_submit(draft=draft, holder_keys=[], actor=person)

    return submit


@pytest.fixture
def open_case(apply: Callable[..., Any]) -> Callable[..., Case]:
    """Return a function that submits an application and opens its case."""

    def make(**kwargs: Any) -> Case:
        application = apply(**kwargs)
        case = services.case_open_for_application(application_id=application.pk)
        assert case is not None
        return case

    return make
