"""Service page content: what a revision holds and the rules it must meet."""

from __future__ import annotations

import re
import secrets
from typing import Any

from django.db.models import F
from django.utils.translation import gettext_lazy as _

from civicstack.catalogue.constants import (
    GUIDE_MAX_STEPS,
    SERVICE_LIST_FIELDS,
    SERVICE_TEXT_FIELDS,
    Channel,
)
from civicstack.catalogue.models import CatalogueState, Service, Topic
from civicstack.core.errors import ValidationFailed
from civicstack.identity.constants import Level

SLUG_PATTERN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*", re.ASCII)

# Limits on each bilingual field, matching the model columns.
_TEXT_LIMITS = {
    "title": 200,
    "summary": 400,
    "description": 20000,
    "eligibility": 10000,
    "cost": 300,
    "how_to_apply": 10000,
}
_LIST_LIMIT = 30
_LIST_ITEM_LIMIT = 300


def bump_catalogue_version() -> None:
    """Record that published content changed (inside the caller's transaction)."""
    token = secrets.token_hex(16)
    updated = CatalogueState.objects.filter(pk=1).update(version=F("version") + 1, token=token)
    if not updated:
        CatalogueState.objects.get_or_create(pk=1, defaults={"version": 1, "token": token})


def service_content(service: Service) -> dict[str, Any]:
    """Return the editable content of the live service page, as a revision stores it."""
    content: dict[str, Any] = {}
    for name in (*SERVICE_TEXT_FIELDS, *SERVICE_LIST_FIELDS):
        for language in ("en", "cy"):
            content[f"{name}_{language}"] = getattr(service, f"{name}_{language}")
    content["fee_pence"] = service.fee_pence
    content["target_working_days"] = service.target_working_days
    content["channels"] = list(service.channels)
    content["assurance_level"] = service.assurance_level
    content["topics"] = sorted(service.topics.values_list("slug", flat=True))
    return content


def clean_service_content(raw: dict[str, Any]) -> dict[str, Any]:
    """Validate submitted content; raise ValidationFailed naming every bad field."""
    errors: dict[str, list[Any]] = {}
    content: dict[str, Any] = {}
    for name, limit in _TEXT_LIMITS.items():
        for language in ("en", "cy"):
            key = f"{name}_{language}"
            value = raw.get(key, "")
            if not isinstance(value, str):
                errors[key] = [_("Enter text")]
                continue
            value = value.replace("\r\n", "\n").strip()
            if "\x00" in value:
                errors[key] = [_("Remove the control characters")]
            elif name == "title" and not value:
                errors[key] = [_("Enter the title")]
            elif name == "summary" and not value:
                errors[key] = [_("Enter the summary")]
            elif len(value) > limit:
                errors[key] = [_("Must be %(limit)d characters or fewer") % {"limit": limit}]
            content[key] = value
    for name in SERVICE_LIST_FIELDS:
        for language in ("en", "cy"):
            key = f"{name}_{language}"
            value = raw.get(key, [])
            if isinstance(value, str):
                value = [line.strip() for line in value.splitlines() if line.strip()]
            if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
                errors[key] = [_("Enter one item on each line")]
                continue
            if len(value) > _LIST_LIMIT or any(len(item) > _LIST_ITEM_LIMIT for item in value):
                errors[key] = [_("Enter at most 30 items of up to 300 characters")]
            content[key] = value
    for key, maximum in (("fee_pence", 10_000_000), ("target_working_days", 365)):
        value = raw.get(key, 0)
        try:
            number = int(value)
        except (TypeError, ValueError):
            errors[key] = [_("Enter a whole number")]
            continue
        if number < 0 or number > maximum:
            errors[key] = [_("Enter a number between 0 and %(max)d") % {"max": maximum}]
        content[key] = number
    channels = raw.get("channels", [])
    valid_channels = set(Channel.values)
    if not isinstance(channels, list) or not set(channels) <= valid_channels or not channels:
        errors["channels"] = [_("Select at least one way to apply")]
    else:
        content["channels"] = [c for c in Channel.values if c in channels]
    # Older revisions have no level: they leave the service's level as it is.
    if "assurance_level" in raw:
        level = raw["assurance_level"]
        if not isinstance(level, str) or level not in {candidate.value for candidate in Level}:
            errors["assurance_level"] = [_("Select the level of assurance applicants need")]
        else:
            content["assurance_level"] = level
    topics = raw.get("topics", [])
    if not isinstance(topics, list) or not all(
        isinstance(t, str) and SLUG_PATTERN.fullmatch(t) for t in topics
    ):
        errors["topics"] = [_("Select the topics from the list")]
    else:
        known = set(Topic.objects.filter(slug__in=topics).values_list("slug", flat=True))
        if set(topics) - known:
            errors["topics"] = [_("Select the topics from the list")]
        content["topics"] = sorted(known)
    if errors:
        raise ValidationFailed(field_errors=errors)
    return content


# --- Guides -----------------------------------------------------------------------------

_GUIDE_LIMITS = {"title": 200, "summary": 400}
_STEP_LIMITS = {"title": 200, "body": 5000}
MAX_STEP_SERVICES = 10


def guide_content(guide: Any) -> dict[str, Any]:
    """Return a published guide's content and steps as a revision stores it."""
    steps = []
    for step in guide.steps.order_by("position").prefetch_related("links__service"):
        steps.append(
            {
                "title_en": step.title_en,
                "title_cy": step.title_cy,
                "body_en": step.body_en,
                "body_cy": step.body_cy,
                "logic": step.logic,
                "services": [link.service.slug for link in step.links.order_by("position")],
            }
        )
    return {
        "title_en": guide.title_en,
        "title_cy": guide.title_cy,
        "summary_en": guide.summary_en,
        "summary_cy": guide.summary_cy,
        "steps": steps,
    }


def _clean_text(
    value: Any, *, key: str, limit: int, required: bool, errors: dict[str, list[Any]]
) -> str:
    if not isinstance(value, str):
        errors[key] = [_("Enter text")]
        return ""
    cleaned = value.replace("\r\n", "\n").strip()
    if "\x00" in cleaned:
        errors[key] = [_("Remove the control characters")]
    elif required and not cleaned:
        errors[key] = [_("Enter this field in both languages")]
    elif len(cleaned) > limit:
        errors[key] = [_("Must be %(limit)d characters or fewer") % {"limit": limit}]
    return cleaned


def clean_guide_content(raw: dict[str, Any]) -> dict[str, Any]:
    """Validate a guide's content; raise ValidationFailed naming every bad field.

    Step service links are service slugs; each must be a published service.
    """
    errors: dict[str, list[Any]] = {}
    content: dict[str, Any] = {}
    for name, limit in _GUIDE_LIMITS.items():
        for language in ("en", "cy"):
            key = f"{name}_{language}"
            content[key] = _clean_text(
                raw.get(key, ""), key=key, limit=limit, required=True, errors=errors
            )
    raw_steps = raw.get("steps", [])
    if not isinstance(raw_steps, list) or not raw_steps:
        errors["steps"] = [_("Add at least one step")]
        raw_steps = []
    elif len(raw_steps) > GUIDE_MAX_STEPS:
        errors["steps"] = [_("A guide can have at most %(max)d steps") % {"max": GUIDE_MAX_STEPS}]
        raw_steps = raw_steps[:GUIDE_MAX_STEPS]
    wanted_slugs: set[str] = set()
    steps = []
    for index, raw_step in enumerate(raw_steps):
        if not isinstance(raw_step, dict):
            errors[f"step-{index}-title_en"] = [_("Enter the step")]
            continue
        step: dict[str, Any] = {}
        for name, limit in _STEP_LIMITS.items():
            for language in ("en", "cy"):
                key = f"{name}_{language}"
                step[key] = _clean_text(
                    raw_step.get(key, ""),
                    key=f"step-{index}-{key}",
                    limit=limit,
                    required=name == "title",
                    errors=errors,
                )
        logic = raw_step.get("logic", "")
        if logic not in ("", "and", "or") or (logic and index == 0):
            errors[f"step-{index}-logic"] = [_("The first step cannot be 'and' or 'or'")]
            logic = ""
        step["logic"] = logic
        links = raw_step.get("services", [])
        if isinstance(links, str):
            links = [slug.strip() for slug in links.replace(",", "\n").splitlines() if slug.strip()]
        if not isinstance(links, list) or not all(isinstance(slug, str) for slug in links):
            errors[f"step-{index}-services"] = [_("Enter service addresses, one on each line")]
            links = []
        if len(links) > MAX_STEP_SERVICES:
            errors[f"step-{index}-services"] = [
                _("Link at most %(max)d services from one step") % {"max": MAX_STEP_SERVICES}
            ]
        step["services"] = links[:MAX_STEP_SERVICES]
        wanted_slugs.update(step["services"])
        steps.append(step)
    # Only well-formed slugs reach the database (PostgreSQL refuses NUL characters, and
    # anything else could not name a service anyway).
    queryable = {slug for slug in wanted_slugs if SLUG_PATTERN.fullmatch(slug)}
    known = set(
        Service.objects.published().filter(slug__in=queryable).values_list("slug", flat=True)
    )
    for index, step in enumerate(steps):
        unknown = [slug for slug in step["services"] if slug not in known]
        if unknown:
            errors[f"step-{index}-services"] = [
                _("These are not published services: %(slugs)s") % {"slugs": ", ".join(unknown)}
            ]
    content["steps"] = steps
    if errors:
        raise ValidationFailed(field_errors=errors)
    return content


def number_steps(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return the steps with positions and numbers: "and"/"or" steps share the number before."""
    numbered = []
    number = 0
    for position, step in enumerate(steps):
        logic = step.get("logic", "") or ""
        if not logic or number == 0:
            number += 1
            logic = ""
        numbered.append({**step, "position": position, "number": number, "logic": logic})
    return numbered


def edit_token(*, live_version: int, draft: Any | None) -> str:
    """Return a token naming what an editor started from: the open draft as last saved,
    or the live version when there is no draft.

    Saving with a token that no longer matches is refused, so two editors never silently
    overwrite each other, and nobody edits a live page that changed under them.
    """
    if draft is None:
        return f"live-{live_version}"
    return f"draft-{draft.number}-{int(draft.updated_at.timestamp() * 1_000_000)}"


_CONTROL = {code: None for code in range(32) if chr(code) not in "\n\t"}
_CONTROL[127] = None
REASON_LIMIT = 500


def clean_reason(reason: str) -> str:
    """Return a reason for the audit log without control characters, at most 500 long."""
    return str(reason).translate(_CONTROL).strip()[:REASON_LIMIT]
