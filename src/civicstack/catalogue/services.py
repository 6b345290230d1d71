"""Changes to the catalogue: editing drafts, publishing, withdrawing, loading content.

Every function here checks who may act, changes data in one transaction, records an audit
event and bumps the catalogue version so each process rebuilds its search index.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from civicstack.accounts import selectors as accounts
from civicstack.accounts.constants import Role
from civicstack.catalogue.constants import (
    SERVICE_LIST_FIELDS,
    SERVICE_TEXT_FIELDS,
    ContentStatus,
    RevisionStatus,
)
from civicstack.catalogue.content import (
    bump_catalogue_version,
    clean_guide_content,
    clean_reason,
    clean_service_content,
    edit_token,
    guide_content,
    number_steps,
    service_content,
)
from civicstack.catalogue.events import ServicePublished, ServiceWithdrawn
from civicstack.catalogue.loaders import catalogue_demo_load, catalogue_synthetic_generate
from civicstack.catalogue.models import (
    Guide,
    GuideRevision,
    GuideStep,
    GuideStepService,
    Service,
    ServiceRevision,
    Topic,
)
from civicstack.core.audit import audit_event_record
from civicstack.core.errors import Conflict, PermissionDenied, ValidationFailed

__all__ = [
    "catalogue_demo_load",
    "catalogue_synthetic_generate",
    "clean_guide_content",
    "clean_service_content",
    "edit_token",
    "guide_content",
    "guide_draft_discard",
    "guide_draft_save",
    "guide_publish",
    "service_content",
    "service_draft_discard",
    "service_draft_save",
    "service_publish",
    "service_withdraw",
]
from civicstack.core.events import publish

EDITOR_ROLES = {Role.SERVICE_OWNER, Role.AGENCY_ADMIN}


def _check_can_edit(*, service: Service, actor: Any) -> None:
    if accounts.user_is_platform_admin(user=actor):
        return
    roles = accounts.roles_in_agency(user=actor, agency=service.agency)
    if not roles & EDITOR_ROLES:
        raise PermissionDenied(_("Only the service's owners can change its page."))


def service_draft_save(
    *, service: Service, actor: Any, content: dict[str, Any], based_on: str | None = None
) -> ServiceRevision:
    """Save edits to the service's draft (starting one if needed); nothing goes live.

    ``based_on`` is the edit token the editor started from (``content.edit_token``): if
    someone else has since saved, published or discarded, the save is refused rather than
    silently overwriting their work.
    """
    _check_can_edit(service=service, actor=actor)
    cleaned = clean_service_content(content)
    with transaction.atomic():
        locked = Service.objects.select_for_update().get(pk=service.pk)
        draft = locked.revisions.filter(status=RevisionStatus.DRAFT).first()
        if based_on is not None and based_on != edit_token(
            live_version=locked.version, draft=draft
        ):
            raise Conflict()
        if draft is None:
            last = locked.revisions.order_by("-number").values_list("number", flat=True).first()
            draft = ServiceRevision.objects.create(
                service=locked,
                number=(last or 0) + 1,
                status=RevisionStatus.DRAFT,
                content=cleaned,
                created_by=actor,
            )
        else:
            draft.content = cleaned
            draft.save(update_fields=["content", "updated_at"])
        audit_event_record(
            action="catalogue.service.draft_saved",
            actor=actor,
            obj=locked,
            data={"revision": draft.number},
        )
    return draft


def _apply_content(service: Service, content: dict[str, Any]) -> None:
    for name in (*SERVICE_TEXT_FIELDS, *SERVICE_LIST_FIELDS):
        for language in ("en", "cy"):
            setattr(service, f"{name}_{language}", content[f"{name}_{language}"])
    service.fee_pence = content["fee_pence"]
    service.target_working_days = content["target_working_days"]
    service.channels = content["channels"]
    service.assurance_level = content.get("assurance_level", service.assurance_level)


def service_publish(*, service: Service, actor: Any, reason: str = "") -> Service:
    """Make the service's draft the live page; the previous version stays in history."""
    _check_can_edit(service=service, actor=actor)
    with transaction.atomic():
        locked = Service.objects.select_for_update().get(pk=service.pk)
        draft = locked.revisions.filter(status=RevisionStatus.DRAFT).first()
        if draft is None:
            raise Conflict(_("There is no draft to publish."))
        clean_service_content(draft.content)
        locked.revisions.filter(status=RevisionStatus.PUBLISHED).update(
            status=RevisionStatus.SUPERSEDED
        )
        now = timezone.now()
        draft.status = RevisionStatus.PUBLISHED
        draft.published_by = actor
        draft.published_at = now
        draft.save(update_fields=["status", "published_by", "published_at", "updated_at"])
        _apply_content(locked, draft.content)
        locked.topics.set(Topic.objects.filter(slug__in=draft.content["topics"]))
        locked.status = ContentStatus.PUBLISHED
        locked.published_at = now
        locked.version = draft.number
        locked.save()
        bump_catalogue_version()
        audit_event_record(
            action="catalogue.service.published",
            actor=actor,
            obj=locked,
            reason=clean_reason(reason),
            data={"revision": draft.number},
        )
        publish(ServicePublished(service_id=str(locked.pk), slug=locked.slug, version=draft.number))
    return locked


def service_draft_discard(*, service: Service, actor: Any) -> None:
    """Throw away the open draft; the live page is unchanged."""
    _check_can_edit(service=service, actor=actor)
    with transaction.atomic():
        Service.objects.select_for_update().get(pk=service.pk)
        updated = service.revisions.filter(status=RevisionStatus.DRAFT).update(
            status=RevisionStatus.DISCARDED
        )
        if not updated:
            raise Conflict(_("There is no draft to discard."))
        audit_event_record(action="catalogue.service.draft_discarded", actor=actor, obj=service)


def service_withdraw(*, service: Service, actor: Any, reason: str) -> Service:
    """Take a service page down; a reason is required and kept in the audit log."""
    _check_can_edit(service=service, actor=actor)
    reason = clean_reason(reason)
    if not reason:
        raise ValidationFailed(field_errors={"reason": [_("Enter why the service is withdrawn")]})
    with transaction.atomic():
        locked = Service.objects.select_for_update().get(pk=service.pk)
        locked.status = ContentStatus.WITHDRAWN
        locked.save(update_fields=["status", "updated_at"])
        bump_catalogue_version()
        audit_event_record(
            action="catalogue.service.withdrawn", actor=actor, obj=locked, reason=reason
        )
        publish(ServiceWithdrawn(service_id=str(locked.pk), slug=locked.slug))
    return locked


# --- Guides -----------------------------------------------------------------------------

GUIDE_EDITOR_ROLES = {Role.SERVICE_OWNER, Role.AGENCY_ADMIN}


def _check_can_edit_guides(*, actor: Any) -> None:
    # Guides cross agencies, so any agency's service owners and admins may edit them.
    if accounts.user_is_platform_admin(user=actor):
        return
    agencies = accounts.agencies_for_staff(user=actor)
    if not any(
        accounts.roles_in_agency(user=actor, agency=a) & GUIDE_EDITOR_ROLES for a in agencies
    ):
        raise PermissionDenied(_("Only service owners can change step-by-step guides."))


def guide_draft_save(
    *, guide: Guide, actor: Any, content: dict[str, Any], based_on: str | None = None
) -> GuideRevision:
    """Save edits to the guide's draft (starting one if needed); nothing goes live."""
    _check_can_edit_guides(actor=actor)
    cleaned = clean_guide_content(content)
    with transaction.atomic():
        locked = Guide.objects.select_for_update().get(pk=guide.pk)
        draft = locked.revisions.filter(status=RevisionStatus.DRAFT).first()
        if based_on is not None and based_on != edit_token(
            live_version=locked.version, draft=draft
        ):
            raise Conflict()
        if draft is None:
            last = locked.revisions.order_by("-number").values_list("number", flat=True).first()
            draft = GuideRevision.objects.create(
                guide=locked,
                number=max(last or 0, locked.version) + 1,
                status=RevisionStatus.DRAFT,
                content=cleaned,
                created_by=actor,
            )
        else:
            draft.content = cleaned
            draft.save(update_fields=["content", "updated_at"])
        audit_event_record(
            action="catalogue.guide.draft_saved",
            actor=actor,
            obj=locked,
            data={"revision": draft.number},
        )
    return draft


def _replace_steps(guide: Guide, steps: list[dict[str, Any]]) -> None:
    guide.steps.all().delete()
    services = {
        s.slug: s
        for s in Service.objects.filter(slug__in={slug for st in steps for slug in st["services"]})
    }
    for step in number_steps(steps):
        created = GuideStep.objects.create(
            guide=guide,
            position=step["position"],
            number=step["number"],
            logic=step["logic"],
            title_en=step["title_en"],
            title_cy=step["title_cy"],
            body_en=step["body_en"],
            body_cy=step["body_cy"],
        )
        GuideStepService.objects.bulk_create(
            GuideStepService(step=created, service=services[slug], position=position)
            for position, slug in enumerate(step["services"])
        )


def guide_publish(*, guide: Guide, actor: Any, reason: str = "") -> Guide:
    """Make the guide's draft live; the previous version stays in history."""
    _check_can_edit_guides(actor=actor)
    with transaction.atomic():
        locked = Guide.objects.select_for_update().get(pk=guide.pk)
        draft = locked.revisions.filter(status=RevisionStatus.DRAFT).first()
        if draft is None:
            raise Conflict(_("There is no draft to publish."))
        content = clean_guide_content(draft.content)
        locked.revisions.filter(status=RevisionStatus.PUBLISHED).update(
            status=RevisionStatus.SUPERSEDED
        )
        now = timezone.now()
        draft.status = RevisionStatus.PUBLISHED
        draft.published_by = actor
        draft.published_at = now
        draft.save(update_fields=["status", "published_by", "published_at", "updated_at"])
        for name in ("title_en", "title_cy", "summary_en", "summary_cy"):
            setattr(locked, name, content[name])
        locked.status = ContentStatus.PUBLISHED
        locked.published_at = now
        locked.version = draft.number
        locked.save()
        _replace_steps(locked, content["steps"])
        bump_catalogue_version()
        audit_event_record(
            action="catalogue.guide.published",
            actor=actor,
            obj=locked,
            reason=clean_reason(reason),
            data={"revision": draft.number},
        )
    return locked


def guide_draft_discard(*, guide: Guide, actor: Any) -> None:
    """Throw away the guide's open draft; the live guide is unchanged."""
    _check_can_edit_guides(actor=actor)
    with transaction.atomic():
        Guide.objects.select_for_update().get(pk=guide.pk)
        updated = guide.revisions.filter(status=RevisionStatus.DRAFT).update(
            status=RevisionStatus.DISCARDED
        )
        if not updated:
            raise Conflict(_("There is no draft to discard."))
        audit_event_record(action="catalogue.guide.draft_discarded", actor=actor, obj=guide)
