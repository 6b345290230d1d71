"""Shared set-up for the representation tests (plain helpers, so no conftest is shared)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.test import Client
from django.utils import timezone

from civicstack.accounts.constants import Role
from civicstack.accounts.tests.factories import AgencyFactory, staff_create
from civicstack.catalogue.tests.factories import ServiceFactory
from civicstack.forms.services import form_import

SHORT_FORM = """
schema: 1
title: {en: "Apply for a test licence", cy: "Gwneud cais am drwydded prawf"}
pages:
  - id: name
    title: {en: "What is your full name?", cy: "Beth yw eich enw llawn?"}
    questions:
      - id: full_name
        type: text
        label: {en: "What is your full name?", cy: "Beth yw eich enw llawn?"}
declaration:
  en: "I confirm that my answers are true."
  cy: "Rwy'n cadarnhau bod fy atebion yn wir."
confirmation:
  en: "We will decide within 20 working days."
  cy: "Byddwn yn penderfynu o fewn 20 diwrnod gwaith."
"""


def service_with_form(slug: str) -> Any:
    """Return a published service with a one-page form."""
    service = ServiceFactory(slug=slug)
    form_import(service=service, source=SHORT_FORM, actor=None)
    return service


def in_days(days: int) -> Any:
    """Return the local date ``days`` from today."""
    return timezone.localdate() + timedelta(days=days)


def signed_in(user: Any) -> Client:
    """Return a client signed in as ``user`` (with the second factor, for staff)."""
    client = Client()
    client.force_login(user)
    if user.is_staff:
        session = client.session
        session["civicstack_mfa_verified"] = True
        session.save()
    return client


def platform_admin() -> Any:
    """Return a platform admin with an authenticator app."""
    return staff_create(role=Role.PLATFORM_ADMIN, agency=AgencyFactory())


def body(response: Any) -> str:
    """Return a response's HTML as text."""
    return str(response.content.decode())
