"""Service owners edit, preview and publish service pages in the back office."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from civicstack.accounts.constants import Role
from civicstack.accounts.models import StaffMembership, User
from civicstack.catalogue.models import Service, ServiceRevision
from civicstack.catalogue.services import edit_token
from civicstack.catalogue.tests.factories import AgencyFactory, ServiceFactory

pytestmark = pytest.mark.django_db


def _client_for(agency: Any, role: str, *, mfa: bool = True) -> Client:
    user = User.objects.create_user(f"{role}@example.org", "a long enough password", is_staff=True)
    StaffMembership.objects.create(user=user, agency=agency, role=role)
    client = Client()
    client.force_login(user)
    if mfa:
        session = client.session
        session["civicstack_mfa_verified"] = True
        session.save()
    return client


def _form(service: Service, **changes: str) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name in ("title", "summary", "description", "eligibility", "cost", "how_to_apply"):
        for language in ("en", "cy"):
            data[f"{name}_{language}"] = getattr(service, f"{name}_{language}")
    for name in ("what_you_need", "keywords"):
        for language in ("en", "cy"):
            data[f"{name}_{language}"] = "\n".join(getattr(service, f"{name}_{language}"))
    data.update({"fee_pence": "0", "target_working_days": "5", "channels": ["online"]})
    # What the edit form carries: the editor started from the live page (no draft yet).
    data["based_on"] = edit_token(live_version=service.version, draft=None)
    data.update(changes)
    return data


def test_anonymous_people_are_sent_to_sign_in() -> None:
    """The back office asks anonymous visitors to sign in."""
    response = Client().get("/en/back-office/")
    assert response.status_code == 302
    assert "/account/sign-in" in response["Location"]


def test_staff_without_a_second_factor_are_sent_to_set_one_up() -> None:
    """Staff must verify a second factor before any back-office page."""
    client = _client_for(AgencyFactory(), Role.CASEWORKER, mfa=False)
    response = client.get("/en/back-office/")
    assert response.status_code == 302
    assert "two-factor" in response["Location"]


def test_citizens_are_refused() -> None:
    """A signed-in citizen gets a 403 page, not the back office."""
    user = User.objects.create_user("citizen@example.org", "a long enough password")
    client = Client()
    client.force_login(user)
    assert client.get("/en/back-office/").status_code == 403


def test_edit_preview_publish_round_trip() -> None:
    """A draft is saved, previewed (not public), then published to the public page."""
    service = ServiceFactory()
    client = _client_for(service.agency, Role.SERVICE_OWNER)
    response = client.post(
        f"/en/back-office/services/{service.slug}/edit",
        _form(service, title_en="Apply for a shiny thing"),
    )
    assert response.status_code == 302
    assert Client().get(f"/en/services/{service.slug}").content.count(b"shiny") == 0
    preview = client.get(f"/en/back-office/services/{service.slug}/preview")
    assert b"Apply for a shiny thing" in preview.content
    assert b"Preview of draft" in preview.content
    client.post(f"/en/back-office/services/{service.slug}/publish", {"reason": "typo"})
    assert b"Apply for a shiny thing" in Client().get(f"/en/services/{service.slug}").content
    history = client.get(f"/en/back-office/services/{service.slug}")
    assert b"Published" in history.content


def test_invalid_edit_shows_an_error_summary_and_keeps_input() -> None:
    """Errors are listed, linked to fields, and what was typed is kept."""
    service = ServiceFactory()
    client = _client_for(service.agency, Role.SERVICE_OWNER)
    response = client.post(
        f"/en/back-office/services/{service.slug}/edit",
        _form(service, title_en="", summary_cy="Cadw hwn", fee_pence="lots"),
    )
    body = response.content.decode()
    assert response.status_code == 400
    assert "govuk-error-summary" in body
    assert 'href="#title_en"' in body
    assert "Cadw hwn" in body
    assert not ServiceRevision.objects.filter(service=service).exists()


def test_other_agencies_services_are_not_found() -> None:
    """A service owner cannot open another agency's service by its slug."""
    service = ServiceFactory()
    client = _client_for(AgencyFactory(), Role.SERVICE_OWNER)
    for suffix in ("", "/edit", "/preview"):
        assert client.get(f"/en/back-office/services/{service.slug}{suffix}").status_code == 404
    response = client.post(f"/en/back-office/services/{service.slug}/publish")
    assert response.status_code == 404


def test_caseworkers_can_look_but_not_publish() -> None:
    """A caseworker sees the service but publishing is refused with a clear page."""
    service = ServiceFactory()
    client = _client_for(service.agency, Role.CASEWORKER)
    assert client.get(f"/en/back-office/services/{service.slug}").status_code == 200
    response = client.post(f"/en/back-office/services/{service.slug}/edit", _form(service))
    assert response.status_code == 403


def test_a_stale_edit_form_is_refused_with_a_clear_message() -> None:
    """Saving a form opened before someone else's save does not overwrite their work."""
    service = ServiceFactory()
    client = _client_for(service.agency, Role.SERVICE_OWNER)
    stale = _form(service, summary_en="Mine")
    client.post(
        f"/en/back-office/services/{service.slug}/edit", _form(service, summary_en="Theirs")
    )
    response = client.post(f"/en/back-office/services/{service.slug}/edit", stale, follow=True)
    assert "Someone else changed this draft" in response.content.decode()
    draft = ServiceRevision.objects.get(service=service, status="draft")
    assert draft.content["summary_en"] == "Theirs"
