"""Editing, publishing and withdrawing service pages, with agency isolation."""

from __future__ import annotations

from typing import Any

import pytest

from civicstack.accounts.constants import Role
from civicstack.accounts.models import StaffMembership, User
from civicstack.catalogue import selectors, services
from civicstack.catalogue.models import CatalogueState, ServiceRevision
from civicstack.catalogue.tests.factories import AgencyFactory, ServiceFactory, TopicFactory
from civicstack.core.errors import Conflict, PermissionDenied, ValidationFailed
from civicstack.core.models import AuditEvent

pytestmark = pytest.mark.django_db


def _staff(agency: Any, role: str, email: str) -> User:
    user = User.objects.create_user(email, "a long enough password", is_staff=True)
    StaffMembership.objects.create(user=user, agency=agency, role=role)
    return user


def _content(service: Any, **changes: Any) -> dict[str, Any]:
    content = services.service_content(service)
    content.update(changes)
    return content


def test_owner_saves_a_draft_without_changing_the_live_page() -> None:
    """A saved draft is not public until published."""
    service = ServiceFactory()
    owner = _staff(service.agency, Role.SERVICE_OWNER, "owner@example.org")
    draft = services.service_draft_save(
        service=service, actor=owner, content=_content(service, title_en="New title")
    )
    service.refresh_from_db()
    assert draft.status == "draft"
    assert service.title_en != "New title"
    assert AuditEvent.objects.filter(action="catalogue.service.draft_saved").count() == 1


def test_publishing_makes_the_draft_live_and_keeps_history() -> None:
    """Publishing copies the draft to the page, supersedes the old version and bumps the index."""
    service = ServiceFactory()
    topic = TopicFactory()
    owner = _staff(service.agency, Role.SERVICE_OWNER, "owner@example.org")
    version_before = CatalogueState.objects.get(pk=1).version
    services.service_draft_save(
        service=service,
        actor=owner,
        content=_content(service, title_en="Renewed title", topics=[topic.slug]),
    )
    services.service_publish(service=service, actor=owner, reason="clearer title")
    services.service_draft_save(
        service=service, actor=owner, content=_content(service, title_en="Third title")
    )
    services.service_publish(service=service, actor=owner)
    service.refresh_from_db()
    assert service.title_en == "Third title"
    assert list(service.topics.values_list("slug", flat=True)) == [topic.slug]
    statuses = dict(ServiceRevision.objects.filter(service=service).values_list("number", "status"))
    assert statuses == {1: "superseded", 2: "published"}
    assert CatalogueState.objects.get(pk=1).version == version_before + 2
    event = AuditEvent.objects.filter(action="catalogue.service.published").first()
    assert event is not None and event.reason == "clearer title"


def test_caseworkers_and_other_agencies_cannot_edit() -> None:
    """Only the owning agency's service owners and admins may change a page."""
    service = ServiceFactory()
    caseworker = _staff(service.agency, Role.CASEWORKER, "cw@example.org")
    outsider = _staff(AgencyFactory(), Role.SERVICE_OWNER, "other@example.org")
    for actor in (caseworker, outsider):
        with pytest.raises(PermissionDenied):
            services.service_draft_save(service=service, actor=actor, content=_content(service))
    assert not ServiceRevision.objects.filter(service=service).exists()


def test_invalid_content_names_every_bad_field_and_saves_nothing() -> None:
    """Missing titles, oversized text, bad numbers and unknown topics are all reported."""
    service = ServiceFactory()
    owner = _staff(service.agency, Role.SERVICE_OWNER, "owner@example.org")
    bad = _content(
        service,
        title_cy="",
        summary_en="x" * 401,
        fee_pence="ten pounds",
        target_working_days=-1,
        channels=["carrier-pigeon"],
        topics=["no-such-topic"],
        description_en="null\x00byte",
    )
    with pytest.raises(ValidationFailed) as caught:
        services.service_draft_save(service=service, actor=owner, content=bad)
    assert set(caught.value.field_errors) == {
        "title_cy",
        "summary_en",
        "fee_pence",
        "target_working_days",
        "channels",
        "topics",
        "description_en",
    }
    assert not ServiceRevision.objects.filter(service=service).exists()


def test_stale_draft_edit_is_refused() -> None:
    """Saving edits based on a draft someone else has since published is a conflict."""
    service = ServiceFactory()
    owner = _staff(service.agency, Role.SERVICE_OWNER, "owner@example.org")
    draft = services.service_draft_save(service=service, actor=owner, content=_content(service))
    token = services.edit_token(live_version=service.version, draft=draft)
    services.service_publish(service=service, actor=owner)
    with pytest.raises(Conflict):
        services.service_draft_save(
            service=service, actor=owner, content=_content(service), based_on=token
        )


def test_two_editors_starting_from_the_live_page_cannot_overwrite_each_other() -> None:
    """The second of two editors who both opened the live page gets a conflict, not a win."""
    service = ServiceFactory()
    first = _staff(service.agency, Role.SERVICE_OWNER, "first@example.org")
    second = _staff(service.agency, Role.AGENCY_ADMIN, "second@example.org")
    token = services.edit_token(live_version=service.version, draft=None)
    services.service_draft_save(
        service=service, actor=first, content=_content(service, summary_en="A"), based_on=token
    )
    with pytest.raises(Conflict):
        services.service_draft_save(
            service=service,
            actor=second,
            content=_content(service, summary_en="B"),
            based_on=token,
        )
    assert ServiceRevision.objects.get(service=service, status="draft").content["summary_en"] == "A"


def test_two_edits_of_the_same_draft_cannot_overwrite_each_other() -> None:
    """A save based on an older state of the draft is refused."""
    service = ServiceFactory()
    owner = _staff(service.agency, Role.SERVICE_OWNER, "owner@example.org")
    draft = services.service_draft_save(service=service, actor=owner, content=_content(service))
    token = services.edit_token(live_version=service.version, draft=draft)
    services.service_draft_save(
        service=service, actor=owner, content=_content(service, summary_en="A"), based_on=token
    )
    with pytest.raises(Conflict):
        services.service_draft_save(
            service=service, actor=owner, content=_content(service, summary_en="B"), based_on=token
        )


def test_publish_reasons_lose_control_characters() -> None:
    """A NUL or other control character in a reason never reaches the database."""
    service = ServiceFactory()
    owner = _staff(service.agency, Role.SERVICE_OWNER, "owner@example.org")
    services.service_draft_save(service=service, actor=owner, content=_content(service))
    services.service_publish(service=service, actor=owner, reason="fixed\x00 typo\x07")
    assert AuditEvent.objects.get(action="catalogue.service.published").reason == "fixed typo"


def test_withdrawal_needs_a_reason_and_hides_the_page() -> None:
    """A withdrawn service disappears from public selectors; the reason is audited."""
    service = ServiceFactory()
    admin = _staff(service.agency, Role.AGENCY_ADMIN, "admin@example.org")
    with pytest.raises(ValidationFailed):
        services.service_withdraw(service=service, actor=admin, reason="  ")
    services.service_withdraw(service=service, actor=admin, reason="Replaced by a new service")
    assert selectors.service_get(slug=service.slug) is None
    assert AuditEvent.objects.get(action="catalogue.service.withdrawn").reason == (
        "Replaced by a new service"
    )


def test_staff_see_only_their_agencies_services() -> None:
    """Agency isolation: another agency's service cannot be reached by its slug."""
    mine = ServiceFactory()
    theirs = ServiceFactory()
    caseworker = _staff(mine.agency, Role.CASEWORKER, "cw@example.org")
    assert list(selectors.services_for_staff(user=caseworker)) == [mine]
    assert selectors.service_for_staff(user=caseworker, slug=theirs.slug) is None
    assert selectors.service_for_staff(user=caseworker, slug=mine.slug) == mine


def test_malformed_topic_and_service_slugs_never_reach_the_database() -> None:
    """NUL characters and other junk in slugs are validation errors on every database."""
    service = ServiceFactory()
    owner = _staff(service.agency, Role.SERVICE_OWNER, "owner@example.org")
    with pytest.raises(ValidationFailed) as caught:
        services.service_draft_save(
            service=service, actor=owner, content=_content(service, topics=["bad\x00slug"])
        )
    assert "topics" in caught.value.field_errors
    with pytest.raises(ValidationFailed) as caught:
        services.clean_guide_content(
            {
                "title_en": "T",
                "title_cy": "T",
                "summary_en": "S",
                "summary_cy": "S",
                "steps": [{"title_en": "a", "title_cy": "a", "services": "x\x00y\nOK slug"}],
            }
        )
    assert "step-0-services" in caught.value.field_errors
