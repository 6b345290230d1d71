"""The demo catalogue: complete, bilingual, and idempotent to load."""

from __future__ import annotations

import pytest

from civicstack.accounts.models import Agency
from civicstack.catalogue.loaders import catalogue_demo_load, catalogue_synthetic_generate
from civicstack.catalogue.models import Guide, GuideStep, Service
from civicstack.core.audit import audit_log_verify
from civicstack.core.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_demo_catalogue_meets_the_content_brief() -> None:
    """At least 6 agencies (central and local), 30 services and the 5 life-event guides."""
    catalogue_demo_load()
    assert Agency.objects.count() >= 6
    assert Agency.objects.filter(kind="central").exists()
    assert Agency.objects.filter(kind="local").exists()
    assert Service.objects.published().count() >= 30
    guides = set(Guide.objects.published().values_list("slug", flat=True))
    assert {
        "having-a-baby",
        "starting-a-business",
        "moving-home",
        "learning-to-drive",
        "when-someone-dies",
    } <= guides
    for field in ("title", "summary", "description", "how_to_apply"):
        assert not Service.objects.filter(**{f"{field}_cy": ""}).exists(), field
    assert GuideStep.objects.filter(logic="or").exists()
    assert GuideStep.objects.filter(logic="and").exists()


def test_loading_twice_changes_nothing() -> None:
    """A second load creates, updates and audits nothing."""
    first = catalogue_demo_load()
    assert first.changed
    events = AuditEvent.objects.count()
    services = dict(Service.objects.values_list("slug", "updated_at"))
    second = catalogue_demo_load()
    assert not second.changed, (second.created, second.updated)
    assert AuditEvent.objects.count() == events
    assert dict(Service.objects.values_list("slug", "updated_at")) == services
    assert audit_log_verify().ok


def test_references_are_human_and_stable() -> None:
    """Services get SVC- references that do not change on reload."""
    catalogue_demo_load()
    references = dict(Service.objects.values_list("slug", "reference"))
    catalogue_demo_load()
    assert dict(Service.objects.values_list("slug", "reference")) == references
    assert all(reference.startswith("SVC-") for reference in references.values())


def test_synthetic_catalogue_is_deterministic_and_additive() -> None:
    """The generator adds N services once; running again adds none."""
    catalogue_demo_load()
    assert catalogue_synthetic_generate(count=50, seed=7) == 50
    titles = list(
        Service.objects.filter(slug__startswith="synthetic-")
        .order_by("slug")
        .values_list("title_en", flat=True)
    )
    assert catalogue_synthetic_generate(count=50, seed=7) == 0
    assert len(titles) == 50
    assert titles[0].endswith("(0)")


def test_reloading_the_demo_keeps_staff_edits_and_drafts() -> None:
    """A published staff edit and an open draft survive the next demo load (make run)."""
    from civicstack.accounts.constants import Role
    from civicstack.accounts.models import StaffMembership, User
    from civicstack.catalogue import services

    catalogue_demo_load()
    service = Service.objects.get(slug="renew-driving-licence")
    owner = User.objects.create_user("owner@example.org", "a long enough password", is_staff=True)
    StaffMembership.objects.create(user=owner, agency=service.agency, role=Role.SERVICE_OWNER)
    content = services.service_content(service)
    content["title_en"] = "Renew your licence (edited)"
    services.service_draft_save(service=service, actor=owner, content=content)
    services.service_publish(service=service, actor=owner)
    services.service_draft_save(service=service, actor=owner, content=content)
    catalogue_demo_load()
    service.refresh_from_db()
    assert service.title_en == "Renew your licence (edited)"
    assert service.revisions.filter(status="draft").count() == 1
