"""Service owners edit, preview and publish step-by-step guides."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from civicstack.accounts.constants import Role
from civicstack.backoffice.tests.test_service_editing import _client_for
from civicstack.catalogue.loaders import catalogue_demo_load
from civicstack.catalogue.models import Guide, GuideRevision
from civicstack.catalogue.services import edit_token
from civicstack.catalogue.tests.factories import AgencyFactory

pytestmark = pytest.mark.django_db


def _form_for(guide: Guide, **changes: str) -> dict[str, Any]:
    data: dict[str, Any] = {
        "title_en": guide.title_en,
        "title_cy": guide.title_cy,
        "summary_en": guide.summary_en,
        "summary_cy": guide.summary_cy,
    }
    steps = list(guide.steps.order_by("position"))
    data["step_count"] = str(len(steps))
    data["based_on"] = edit_token(live_version=guide.version, draft=None)
    for index, step in enumerate(steps):
        prefix = f"step-{index}-"
        data[prefix + "title_en"] = step.title_en
        data[prefix + "title_cy"] = step.title_cy
        data[prefix + "body_en"] = step.body_en
        data[prefix + "body_cy"] = step.body_cy
        data[prefix + "logic"] = step.logic
        data[prefix + "services"] = "\n".join(s.slug for s in step.linked_services)
    data.update(changes)
    return data


def test_guide_edit_preview_publish_round_trip() -> None:
    """A guide draft is saved, previewed privately, and published with its new step."""
    catalogue_demo_load()
    guide = Guide.objects.get(slug="moving-home")
    client = _client_for(AgencyFactory(), Role.SERVICE_OWNER)
    steps_before = guide.steps.count()
    data = _form_for(guide, step_count=str(steps_before + 1))
    new = f"step-{steps_before}-"
    data.update(
        {
            new + "title_en": "Tell your bank",
            new + "title_cy": "Dweud wrth eich banc",
            new + "body_en": "Update your address.",
            new + "body_cy": "Diweddarwch eich cyfeiriad.",
            new + "logic": "and",
            new + "services": "",
        }
    )
    response = client.post(f"/en/back-office/guides/{guide.slug}/edit", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert b"Tell your bank" not in Client().get(f"/en/step-by-step/{guide.slug}").content
    preview = client.get(f"/en/back-office/guides/{guide.slug}/preview")
    assert b"Tell your bank" in preview.content
    client.post(f"/en/back-office/guides/{guide.slug}/publish")
    public = Client().get(f"/en/step-by-step/{guide.slug}").content.decode()
    assert "Tell your bank" in public
    assert GuideRevision.objects.filter(guide=guide, status="superseded").exists()
    assert guide.steps.count() == steps_before + 1


def test_adding_a_step_saves_nothing_and_keeps_input() -> None:
    """'Add a step' shows one more blank step and keeps what was typed, without saving."""
    catalogue_demo_load()
    guide = Guide.objects.get(slug="moving-home")
    client = _client_for(AgencyFactory(), Role.SERVICE_OWNER)
    data = _form_for(guide, title_en="Typed but not saved", action="add-step")
    response = client.post(f"/en/back-office/guides/{guide.slug}/edit", data)
    body = response.content.decode()
    assert response.status_code == 200
    assert "Typed but not saved" in body
    assert f'name="step-{guide.steps.count()}-title_en"' in body
    assert not GuideRevision.objects.filter(guide=guide, status="draft").exists()


def test_unknown_services_and_first_step_logic_are_errors() -> None:
    """A step linking a missing service, or a first step marked 'or', is refused clearly."""
    catalogue_demo_load()
    guide = Guide.objects.get(slug="moving-home")
    client = _client_for(AgencyFactory(), Role.SERVICE_OWNER)
    data = _form_for(guide, **{"step-0-logic": "or", "step-1-services": "no-such-service"})
    response = client.post(f"/en/back-office/guides/{guide.slug}/edit", data)
    body = response.content.decode()
    assert response.status_code == 400
    assert 'href="#step-1-services"' in body
    assert "no-such-service" in body
    assert 'href="#step-0-logic"' in body


def test_caseworkers_cannot_edit_guides() -> None:
    """Editing guides needs a service owner or admin role."""
    catalogue_demo_load()
    guide = Guide.objects.get(slug="moving-home")
    client = _client_for(AgencyFactory(), Role.CASEWORKER)
    response = client.post(f"/en/back-office/guides/{guide.slug}/edit", _form_for(guide))
    assert response.status_code == 403


def test_guide_overview_and_history_pages_show() -> None:
    """The guide list, overview and each revision in the history render for staff."""
    catalogue_demo_load()
    guide = Guide.objects.get(slug="moving-home")
    client = _client_for(AgencyFactory(), Role.SERVICE_OWNER)
    assert b"moving-home" in client.get("/en/back-office/guides").content
    overview = client.get(f"/en/back-office/guides/{guide.slug}")
    assert overview.status_code == 200
    revision = GuideRevision.objects.filter(guide=guide).first()
    assert revision is not None
    assert f"/revisions/{revision.number}" in overview.content.decode()
    page = client.get(f"/en/back-office/guides/{guide.slug}/revisions/{revision.number}")
    assert page.status_code == 200
    assert guide.title_en in page.content.decode()
    assert client.get(f"/en/back-office/guides/{guide.slug}/revisions/999").status_code == 404
