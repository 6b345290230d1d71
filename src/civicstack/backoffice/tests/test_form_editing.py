"""Service owners edit a form's definition, see errors in place, preview it and publish it."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from civicstack.accounts.constants import Role
from civicstack.backoffice.tests.test_service_editing import _client_for
from civicstack.catalogue.tests.factories import AgencyFactory, ServiceFactory
from civicstack.forms.models import FormVersion
from civicstack.forms.services import form_import
from civicstack.forms.tests.conftest import PERMIT_FORM

pytestmark = pytest.mark.django_db


@pytest.fixture
def service() -> Any:
    service = ServiceFactory(slug="apply-test-permit")
    form_import(service=service, source=PERMIT_FORM, actor=None)
    return service


def test_an_owner_edits_previews_and_publishes_a_new_version(service: Any) -> None:
    """Saving makes a draft version; publishing makes it live, the old one superseded."""
    client = _client_for(service.agency, Role.SERVICE_OWNER)
    page = client.get(f"/en/back-office/forms/{service.slug}/edit")
    assert page.status_code == 200
    assert "What is your full name?" in page.content.decode()
    changed = PERMIT_FORM.replace("What is your full name?", "Your name, please")
    preview = client.post(f"/en/back-office/forms/{service.slug}/preview", {"source": changed})
    assert "Your name, please" in preview.content.decode()
    response = client.post(
        f"/en/back-office/forms/{service.slug}/edit", {"source": changed, "action": "save"}
    )
    assert response.status_code == 302
    draft = FormVersion.objects.get(form__service=service, status="draft")
    assert draft.number == 2
    client.post(f"/en/back-office/forms/{service.slug}/publish")
    statuses = dict(
        FormVersion.objects.filter(form__service=service).values_list("number", "status")
    )
    assert statuses == {1: "superseded", 2: "published"}


def test_errors_are_shown_beside_their_lines_and_nothing_is_saved(service: Any) -> None:
    """An invalid definition is explained with its line numbers; no version is made."""
    client = _client_for(service.agency, Role.SERVICE_OWNER)
    broken = PERMIT_FORM.replace("type: yesno", "type: telepathy")
    response = client.post(
        f"/en/back-office/forms/{service.slug}/edit", {"source": broken, "action": "save"}
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "govuk-error-summary" in body
    assert "civicstack-source__line--error" in body
    assert "Line " in body
    assert FormVersion.objects.filter(form__service=service).count() == 1
    for junk in ("{{{{", "- - -\n  ::", "a: &x [*x, *x]", "\x00", "x" * 600_000):
        response = client.post(
            f"/en/back-office/forms/{service.slug}/edit", {"source": junk, "action": "save"}
        )
        assert response.status_code in {200, 400}
    assert FormVersion.objects.filter(form__service=service).count() == 1


def test_other_agencies_and_citizens_cannot_edit(service: Any) -> None:
    """Staff of another agency see nothing; caseworkers may look but not edit."""
    other = _client_for(AgencyFactory(), Role.SERVICE_OWNER)
    assert other.get(f"/en/back-office/forms/{service.slug}").status_code == 404
    assert other.get(f"/en/back-office/forms/{service.slug}/edit").status_code == 404
    caseworker = _client_for(service.agency, Role.CASEWORKER)
    assert caseworker.get(f"/en/back-office/forms/{service.slug}").status_code == 200
    assert caseworker.get(f"/en/back-office/forms/{service.slug}/edit").status_code == 403
    response = caseworker.post(
        f"/en/back-office/forms/{service.slug}/edit", {"source": PERMIT_FORM, "action": "save"}
    )
    assert response.status_code == 403
    citizen = Client()
    from civicstack.accounts.tests.factories import UserFactory

    citizen.force_login(UserFactory())
    assert citizen.get(f"/en/back-office/forms/{service.slug}/edit").status_code == 403
    assert FormVersion.objects.filter(form__service=service).count() == 1
