"""Fixtures for the forms tests: a service with a branching form, people, API keys."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core import mail
from PIL import Image

from civicstack.accounts.services import api_key_create
from civicstack.accounts.tests.factories import UserFactory
from civicstack.catalogue.tests.factories import ServiceFactory
from civicstack.forms.services import form_import

PERMIT_FORM = """
schema: 1
title: {en: "Apply for a test permit", cy: "Gwneud cais am drwydded prawf"}
allow_anonymous: true
pages:
  - id: name
    title: {en: "What is your full name?", cy: "Beth yw eich enw llawn?"}
    questions:
      - id: full_name
        type: text
        label: {en: "What is your full name?", cy: "Beth yw eich enw llawn?"}
        prefill: full_name
  - id: vehicle_question
    title: {en: "Do you have a vehicle?", cy: "Oes gennych chi gerbyd?"}
    questions:
      - id: has_vehicle
        type: yesno
        label: {en: "Do you have a vehicle?", cy: "Oes gennych chi gerbyd?"}
  - group:
      id: vehicles
      title: {en: "Your vehicles", cy: "Eich cerbydau"}
      item_label: {en: "Vehicle", cy: "Cerbyd"}
      min: 1
      max: 3
      when: {question: has_vehicle, equals: "yes"}
      summary_question: registration
      pages:
        - id: vehicle_details
          title: {en: "Vehicle details", cy: "Manylion y cerbyd"}
          questions:
            - id: registration
              type: text
              label: {en: "Registration number", cy: "Rhif cofrestru"}
        - id: vehicle_proof
          title: {en: "Proof of ownership", cy: "Prawf perchnogaeth"}
          questions:
            - id: proof
              type: file
              label: {en: "Upload proof of ownership", cy: "Uwchlwythwch brawf perchnogaeth"}
              rules: {max_files: 2, file_types: [pdf, png, jpeg]}
  - id: contact
    title: {en: "What is your email address?", cy: "Beth yw eich cyfeiriad e-bost?"}
    questions:
      - id: email
        type: email
        label: {en: "What is your email address?", cy: "Beth yw eich cyfeiriad e-bost?"}
declaration:
  en: "I confirm that my answers are true."
  cy: "Rwy'n cadarnhau bod fy atebion yn wir."
confirmation:
  en: "We will decide within 10 working days."
  cy: "Byddwn yn penderfynu o fewn 10 diwrnod gwaith."
"""


@pytest.fixture
def permit_service(db: Any) -> Any:
    """A published service whose form branches and repeats, with uploads in the group."""
    service = ServiceFactory(slug="apply-test-permit")
    form_import(service=service, source=PERMIT_FORM, actor=None)
    return service


@pytest.fixture
def citizen(db: Any) -> Any:
    return UserFactory(full_name="Rhian Evans")


@pytest.fixture
def api_secret(permit_service: Any) -> str:
    _key, secret = api_key_create(
        agency=permit_service.agency, name="Counter", scopes=["applications:submit"], actor=None
    )
    return secret


def png_bytes(colour: str = "teal") -> bytes:
    """Return a small real PNG image."""
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def outbox() -> Any:
    mail.outbox = []
    return mail.outbox


@pytest.fixture(autouse=True)
def _fresh_form_lookups() -> Any:
    """Each test starts without the API's remembered form lookups (slugs repeat)."""
    from civicstack.forms import selectors

    selectors._form_lookups.clear()
    yield
    selectors._form_lookups.clear()
