"""Civicstack's own services declare a level of assurance; the form runner enforces it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from civicstack.accounts.constants import AUTH_METHODS_KEY, MFA_VERIFIED_KEY, Role
from civicstack.accounts.models import StaffMembership, User
from civicstack.accounts.tests.factories import UserFactory
from civicstack.catalogue.content import clean_service_content, service_content
from civicstack.catalogue.loaders import catalogue_demo_load
from civicstack.catalogue.models import Service
from civicstack.catalogue.services import edit_token, service_draft_save, service_publish
from civicstack.catalogue.tests.factories import ServiceFactory
from civicstack.core.errors import PermissionDenied, ValidationFailed
from civicstack.forms.models import Application, Draft
from civicstack.forms.services import draft_start, form_import
from civicstack.identity import services as identity_services
from civicstack.identity.tests.helpers import (
    PASSWORD_ONLY,
    WITH_CODE,
    WITH_PASSKEY,
    client_with,
    standin_data,
)

pytestmark = pytest.mark.django_db

SIMPLE_FORM = """
schema: 1
title: {en: "Apply for a test grant", cy: "Gwneud cais am grant prawf"}
allow_anonymous: true
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
  en: "We will decide soon."
  cy: "Byddwn yn penderfynu cyn bo hir."
"""


def _service(level: str) -> Service:
    service = ServiceFactory(slug=f"apply-test-grant-{level}", assurance_level=level)
    form_import(service=service, source=SIMPLE_FORM, actor=None)
    return service


def _begin(service: Service) -> str:
    return reverse("forms:begin", kwargs={"slug": service.slug})


def _assert_step_up(response: Any, level: str, next_url: str) -> None:
    assert response.status_code == 302
    parts = urlsplit(response["Location"])
    assert parts.path == reverse("identity:step-up")
    assert parse_qs(parts.query) == {"level": [level], "next": [next_url]}


def _fill_and_check(client: Client, draft: Draft) -> str:
    page = reverse("forms:page", kwargs={"draft_id": draft.pk, "step": "name"})
    assert client.post(page, {"full_name": "Rhian Evans"}).status_code == 302
    return reverse("forms:declaration", kwargs={"draft_id": draft.pk})


def test_a_low_service_keeps_its_sign_in_rules() -> None:
    """At low, a form open to everyone still starts without an account."""
    service = _service("low")
    response = Client().post(_begin(service))
    assert response.status_code == 302
    assert Draft.objects.get().user is None


def test_a_substantial_service_sends_anonymous_people_to_sign_in() -> None:
    """Even a form open to everyone needs a signed-in session at substantial."""
    service = _service("substantial")
    response = Client().post(_begin(service))
    assert response.status_code == 302
    parts = urlsplit(response["Location"])
    assert parts.path == reverse("accounts:sign-in")
    assert parse_qs(parts.query) == {"next": [_begin(service)]}
    assert not Draft.objects.exists()
    with pytest.raises(PermissionDenied):
        draft_start(service=service, user=None, language="en", actor=None)


def test_a_password_session_is_stepped_up_before_starting() -> None:
    """Signed in with a password only, the person is sent to the step-up page and back."""
    service = _service("substantial")
    client = client_with(UserFactory(), PASSWORD_ONLY)
    for method in ("get", "post"):
        response = getattr(client, method)(_begin(service))
        _assert_step_up(response, "substantial", _begin(service))
    assert not Draft.objects.exists()


def test_a_second_factor_starts_and_sends_a_substantial_application() -> None:
    """With a second factor in the session the person starts and sends."""
    service = _service("substantial")
    person = UserFactory()
    client = client_with(person, WITH_CODE)
    assert client.get(_begin(service)).status_code == 200
    assert client.post(_begin(service)).status_code == 302
    draft = Draft.objects.get(user=person)
    declaration = _fill_and_check(client, draft)
    response = client.post(declaration)
    assert response.status_code == 302
    assert Application.objects.get().applicant == person


def test_sending_checks_the_level_again() -> None:
    """A session that lost its second factor since starting is stepped up before sending."""
    service = _service("substantial")
    person = UserFactory()
    client = client_with(person, WITH_CODE)
    client.post(_begin(service))
    draft = Draft.objects.get(user=person)
    declaration = _fill_and_check(client, draft)
    session = client.session
    session[AUTH_METHODS_KEY] = ["pwd"]
    session[MFA_VERIFIED_KEY] = False
    session.save()
    for method in ("get", "post"):
        _assert_step_up(getattr(client, method)(declaration), "substantial", declaration)
    assert not Application.objects.exists()
    session = client.session
    session[AUTH_METHODS_KEY] = WITH_CODE
    session[MFA_VERIFIED_KEY] = True
    session.save()
    assert client.post(declaration).status_code == 302
    assert Application.objects.count() == 1


def test_a_high_service_needs_a_passkey_and_a_verified_identity() -> None:
    """An app code is not enough for high; a passkey with a verified identity is."""
    service = _service("high")
    person = UserFactory()
    _assert_step_up(client_with(person, WITH_CODE).post(_begin(service)), "high", _begin(service))
    _assert_step_up(
        client_with(person, WITH_PASSKEY).post(_begin(service)), "high", _begin(service)
    )
    identity_services.identity_verification_record(
        user=person,
        method="document_check_standin",
        data=standin_data(expires=timezone.localdate() + dt.timedelta(days=400)),
        actor=person,
    )
    assert client_with(person, WITH_PASSKEY).post(_begin(service)).status_code == 302
    assert Draft.objects.filter(user=person).count() == 1


def test_the_start_page_says_what_is_needed_and_offers_no_anonymous_route() -> None:
    """At substantial the start page explains the second step and drops "without an account"."""
    service = _service("substantial")
    body = Client().get(reverse("forms:start", kwargs={"slug": service.slug})).content.decode()
    assert "with a second step" in body
    assert "Continue without an account" not in body
    low = _service("low")
    body = Client().get(reverse("forms:start", kwargs={"slug": low.slug})).content.decode()
    assert "Continue without an account" in body
    assert "with a second step" not in body


def test_the_service_page_tells_people_what_signing_in_needs() -> None:
    """The public service page has a "Signing in" row above low only."""
    service = _service("high")
    body = Client().get(f"/en/services/{service.slug}").content.decode()
    assert "passkey and an identity that has been checked" in body
    low = _service("low")
    assert "Signing in" not in Client().get(f"/en/services/{low.slug}").content.decode()


# --- The catalogue carries the level ----------------------------------------------------------


def test_service_content_carries_and_validates_the_level() -> None:
    """The level is part of a revision's content; unknown levels are refused by name."""
    service = ServiceFactory(assurance_level="substantial")
    content = service_content(service)
    assert content["assurance_level"] == "substantial"
    assert clean_service_content(content)["assurance_level"] == "substantial"
    for bad in ("medium", "", None, ["low"], "LOW"):
        with pytest.raises(ValidationFailed) as caught:
            clean_service_content({**content, "assurance_level": bad})
        assert "assurance_level" in caught.value.field_errors
    older = {key: value for key, value in content.items() if key != "assurance_level"}
    assert "assurance_level" not in clean_service_content(older)


def test_publishing_applies_the_level_and_an_older_draft_keeps_it() -> None:
    """A published draft sets the level; a draft from before levels leaves it alone."""
    service = ServiceFactory()
    owner = User.objects.create_user("owner@example.org", "a long enough password", is_staff=True)
    StaffMembership.objects.create(user=owner, agency=service.agency, role=Role.SERVICE_OWNER)
    content = {**service_content(service), "assurance_level": "high"}
    service_draft_save(service=service, actor=owner, content=content)
    service_publish(service=service, actor=owner)
    service.refresh_from_db()
    assert service.assurance_level == "high"
    older = {key: value for key, value in content.items() if key != "assurance_level"}
    service_draft_save(service=service, actor=owner, content=older)
    service_publish(service=service, actor=owner)
    service.refresh_from_db()
    assert service.assurance_level == "high"


def test_the_back_office_edits_the_level() -> None:
    """Service owners choose the level on the edit page; a bad value is a form error."""
    service = ServiceFactory()
    owner = User.objects.create_user("owner@example.org", "a long enough password", is_staff=True)
    StaffMembership.objects.create(user=owner, agency=service.agency, role=Role.SERVICE_OWNER)
    client = client_with(owner, WITH_CODE)
    url = f"/en/back-office/services/{service.slug}/edit"
    page = client.get(url).content.decode()
    assert 'name="assurance_level"' in page
    form: dict[str, Any] = {}
    for name in ("title", "summary", "description", "eligibility", "cost", "how_to_apply"):
        for language in ("en", "cy"):
            form[f"{name}_{language}"] = getattr(service, f"{name}_{language}")
    form.update(
        {
            "fee_pence": "0",
            "target_working_days": "5",
            "channels": ["online"],
            "based_on": edit_token(live_version=service.version, draft=None),
        }
    )
    bad = client.post(url, {**form, "assurance_level": "extreme"})
    assert bad.status_code == 400
    assert "Select the level of assurance applicants need" in bad.content.decode()
    assert client.post(url, {**form, "assurance_level": "substantial"}).status_code == 302
    assert client.post(f"/en/back-office/services/{service.slug}/publish").status_code == 302
    service.refresh_from_db()
    assert service.assurance_level == "substantial"


def test_the_demo_catalogue_loads_levels_and_keeps_them_valid() -> None:
    """Every demo service's level is valid; the loader carries it to the service."""
    path = Path(__file__).resolve().parents[2] / "catalogue" / "demo" / "catalogue.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    catalogue_demo_load()
    for item in data["services"]:
        wanted = item.get("assurance_level", "low")
        assert Service.objects.get(slug=item["slug"]).assurance_level == wanted
