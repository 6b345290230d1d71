"""Reads of the forms app: definitions, drafts a person may open, applications, forms for staff."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Collection, Mapping
from functools import lru_cache
from typing import Any
from uuid import UUID

from django.core import signing
from django.db.models import F, QuerySet
from django.utils import timezone

from civicstack.accounts.constants import Role
from civicstack.accounts.selectors import roles_in_agency, user_is_platform_admin
from civicstack.catalogue.constants import ContentStatus
from civicstack.catalogue.selectors import services_for_staff
from civicstack.forms.definition import (
    DefinitionError,
    DefinitionInvalid,
    FormDefinition,
    Group,
    Question,
    definition_from_text,
    definition_load,
)
from civicstack.forms.engine import files_in_answers
from civicstack.forms.models import (
    Application,
    ApplicationEntry,
    ApplicationStatus,
    Draft,
    Form,
    FormVersion,
    TimelineKind,
    VersionStatus,
)
from civicstack.forms.questions import question_widget_context, question_widget_template

_LINK_SALT = "civicstack.forms.draft-link"
# Roles that may change a service's form (the same people who edit its catalogue entry).
FORM_EDITOR_ROLES = {Role.SERVICE_OWNER, Role.AGENCY_ADMIN}
Service = Any  # catalogue's Service, reached only through catalogue.selectors


@lru_cache(maxsize=512)
def _definition(version_id: str, updated_at: str) -> FormDefinition:
    version = FormVersion.objects.get(pk=version_id)
    return definition_load(version.definition)


def definition_of(*, version: FormVersion) -> FormDefinition:
    """Return the parsed definition of ``version`` (parsed once per process and change)."""
    return _definition(str(version.pk), version.updated_at.isoformat())


def form_published_version(*, service: Service) -> FormVersion | None:
    """Return the version new applications for ``service`` use, or None if it has no form."""
    form = Form.objects.filter(service=service).select_related("published_version").first()
    return form.published_version if form else None


# The API looks up the same few forms on every submission: each process keeps what it
# found for a few seconds. Publishing a new version (or withdrawing a service) reaches the
# API within this time; applications always record the version they were checked against.
FORM_LOOKUP_SECONDS = 5.0
_form_lookups: dict[str, tuple[float, FormVersion | None]] = {}


def form_for_submission(*, slug: str) -> FormVersion | None:
    """Return the published form version of the published service ``slug``.

    The version comes with its form and service loaded, as the API needs on every request;
    a lookup is reused for FORM_LOOKUP_SECONDS within a process.
    """
    now = time.monotonic()
    cached = _form_lookups.get(slug)
    if cached is not None and cached[0] > now:
        return cached[1]
    version = _form_for_submission(slug)
    if len(_form_lookups) > 1000:
        _form_lookups.clear()
    _form_lookups[slug] = (now + FORM_LOOKUP_SECONDS, version)
    return version


def form_lookups_forget(*, slug: str) -> None:
    """Forget this process's lookup of ``slug`` (a new version was just published here)."""
    _form_lookups.pop(slug, None)


def _form_for_submission(slug: str) -> FormVersion | None:
    return (
        FormVersion.objects.select_related("form__service")
        .only(
            "id",
            "number",
            "updated_at",
            "form__id",
            "form__service__id",
            "form__service__slug",
            "form__service__agency_id",
        )
        .filter(
            form__service__slug=slug,
            form__service__status=ContentStatus.PUBLISHED,
            form__published_version=F("pk"),
        )
        .first()
    )


def services_with_forms() -> set[str]:
    """Return the slugs of services that can be applied for online."""
    return set(
        Form.objects.filter(published_version__isnull=False).values_list("service__slug", flat=True)
    )


def draft_for_person(*, draft_id: Any, user: Any, session_drafts: Collection[str]) -> Draft | None:
    """Return the draft if this person may open it: theirs, or held by their browser session."""
    draft = (
        Draft.objects.select_related("form_version", "service", "service__agency")
        .filter(pk=draft_id, expires_at__gt=timezone.now())
        .first()
    )
    if draft is None:
        return None
    if draft.user_id is not None:
        return draft if getattr(user, "pk", None) == draft.user_id else None
    return draft if str(draft.pk) in session_drafts else None


def _email_digest(email: str) -> str:
    # The link carries a digest of the address it was sent to, never the address itself
    # (signed tokens are readable, and links end up in logs).
    return hashlib.sha256(f"{_LINK_SALT}:{email.lower()}".encode()).hexdigest()[:24]


def draft_link_token(*, draft: Draft) -> str:
    """Return the signed token of the save-and-return link for an anonymous draft."""
    return signing.dumps(
        {"draft": str(draft.pk), "to": _email_digest(draft.email)}, salt=_LINK_SALT
    )


def draft_from_link(*, token: str) -> Draft | None:
    """Return the draft a save-and-return link points at, if the link is genuine and current."""
    if len(token) > 500:
        return None
    try:
        content = signing.loads(token, salt=_LINK_SALT)
    except signing.BadSignature:
        return None
    if not isinstance(content, dict):
        return None
    draft_id = content.get("draft")
    draft = (
        Draft.objects.filter(pk=str(draft_id), expires_at__gt=timezone.now())
        .select_related("service")
        .first()
        if _is_uuid(draft_id)
        else None
    )
    # A link stops working if the email on the draft changed since it was sent.
    if (
        draft is None
        or draft.user_id is not None
        or not draft.email
        or _email_digest(draft.email) != content.get("to")
    ):
        return None
    return draft


def _is_uuid(value: object) -> bool:
    """Return True for a UUID in text (a signed link's content is only checked here)."""
    if not isinstance(value, str):
        return False
    try:
        UUID(value)
    except ValueError:
        return False
    return True


def drafts_for_user(*, user: Any) -> QuerySet[Draft]:
    """Return the person's drafts in progress, most recently changed first."""
    return (
        Draft.objects.filter(user=user, expires_at__gt=timezone.now())
        .select_related("service")
        .order_by("-updated_at")
    )


def applications_for_user(*, user: Any) -> QuerySet[Application]:
    """Return the person's applications, newest first."""
    return (
        Application.objects.filter(applicant=user)
        .select_related("service")
        .order_by("-submitted_at")
    )


def applications_made_for(*, user: Any) -> QuerySet[Application]:
    """Return applications other people sent on ``user``'s behalf (under a mandate), newest
    first: the person they were made for sees them too."""
    if not getattr(user, "is_authenticated", False):
        return Application.objects.none()
    return (
        Application.objects.filter(represented_kind="person", represented_id=str(user.pk))
        .select_related("service", "applicant")
        .order_by("-submitted_at")
    )


def application_for_user(*, application_id: UUID, user: Any) -> Application | None:
    """Return one of the person's applications (None for anyone else's)."""
    return (
        Application.objects.filter(pk=application_id, applicant=user)
        .select_related("service", "service__agency", "form_version")
        .first()
    )


def application_for_confirmation(
    *, application_id: UUID, user: Any, session_applications: Collection[str]
) -> Application | None:
    """Return the application for its confirmation page: the applicant's or this session's."""
    application = Application.objects.filter(pk=application_id).select_related("service").first()
    return _visible_to(application, user=user, session_applications=session_applications)


def application_from_draft(
    *, draft_id: UUID, user: Any, session_applications: Collection[str]
) -> Application | None:
    """Return the application a draft became, if this person may see it (a repeated send)."""
    application = Application.objects.filter(draft_id=draft_id).only("pk", "applicant_id").first()
    return _visible_to(application, user=user, session_applications=session_applications)


def _visible_to(
    application: Application | None, *, user: Any, session_applications: Collection[str]
) -> Application | None:
    """Return ``application`` if it is the signed-in person's or was sent in this session."""
    if application is None:
        return None
    if application.applicant_id is not None and application.applicant_id == getattr(
        user, "pk", None
    ):
        return application
    return application if str(application.pk) in session_applications else None


def application_timeline(*, application: Application) -> list[ApplicationEntry]:
    """Return the application's timeline, oldest first, starting with its submission.

    The submission itself is not stored as an entry (the application row records it).
    """
    sent = ApplicationEntry(
        application=application,
        kind=TimelineKind.SUBMITTED,
        status=ApplicationStatus.SUBMITTED,
        created_at=application.submitted_at,
    )
    return [sent, *application.timeline.order_by("created_at")]


def application_for_case(*, application_id: UUID) -> Application | None:
    """Return a submitted application with its service and agency, for opening its case."""
    return (
        Application.objects.select_related("service__agency", "applicant", "form_version")
        .filter(pk=application_id)
        .first()
    )


def applications_submitted_between(*, start: Any, end: Any, limit: int = 5000) -> list[UUID]:
    """Return the ids of applications sent between ``start`` and ``end`` and not withdrawn."""
    return list(
        Application.objects.filter(submitted_at__gte=start, submitted_at__lt=end)
        .exclude(status=ApplicationStatus.WITHDRAWN)
        .order_by("submitted_at")
        .values_list("pk", flat=True)[:limit]
    )


def application_file_ids(*, application: Application) -> list[str]:
    """Return the ids of every file the applicant gave, in the order of their answers."""
    definition = definition_of(version=application.form_version)
    return [document for _path, document in files_in_answers(definition, application.answers)]


def application_for_api(*, application_id: UUID, agency_id: Any) -> Application | None:
    """Return an application the agency's keys submitted (and only those: applications
    people made online are for caseworkers, not for every system holding a key)."""
    return (
        Application.objects.filter(pk=application_id, submitted_by_agency_id=agency_id)
        .select_related("service")
        .first()
    )


def staff_may_edit_form(*, user: Any, service: Service) -> bool:
    """Return True if ``user`` may change the online form of ``service``."""
    if not getattr(user, "is_authenticated", False) or not (user.is_active and user.is_staff):
        return False
    if user_is_platform_admin(user=user):
        return True
    return bool(roles_in_agency(user=user, agency=service.agency) & FORM_EDITOR_ROLES)


def forms_for_staff(*, user: Any) -> QuerySet[Any]:
    """Return the services whose forms ``user`` may see in the back office."""
    return services_for_staff(user=user).select_related(
        "online_form", "online_form__published_version"
    )


def form_versions(*, service: Service) -> QuerySet[FormVersion]:
    """Return every version of the service's form, newest first."""
    return FormVersion.objects.filter(form__service=service).order_by("-number")


def form_draft_version(*, service: Service) -> FormVersion | None:
    """Return the version being edited, if any."""
    return FormVersion.objects.filter(form__service=service, status=VersionStatus.DRAFT).first()


def widget_context(
    question: Question,
    *,
    raw: Mapping[str, Any],
    errors: list[Any],
    language: str,
    heading: bool,
    address_choices: list[tuple[str, str]] | None = None,
    files: list[Any] | None = None,
) -> dict[str, Any]:
    """Return what a question's widget template needs to render it."""
    return {
        **question_widget_context(
            question,
            language,
            raw=raw,
            errors=errors,
            is_heading=heading,
            address_choices=address_choices or [],
            files=files or [],
        ),
        "template": question_widget_template(question),
    }


def form_preview(*, definition: FormDefinition, language: str) -> list[dict[str, Any]]:
    """Return every page of a definition with its empty widgets, for the editor's preview."""
    pages: list[dict[str, Any]] = []
    if definition.precheck is not None:
        for question in definition.precheck.questions:
            pages.append(
                {
                    "title": question.label.get(language),
                    "kind": "precheck",
                    "widgets": [
                        widget_context(
                            question, raw={}, errors=[], language=language, heading=False
                        )
                    ],
                }
            )
    for item in definition.items:
        group_pages = item.pages if isinstance(item, Group) else (item,)
        for page in group_pages:
            pages.append(
                {
                    "title": page.title.get(language),
                    "kind": "group" if isinstance(item, Group) else "page",
                    "group": item.title.get(language) if isinstance(item, Group) else "",
                    "conditional": page.when is not None or getattr(item, "when", None) is not None,
                    "widgets": [
                        widget_context(q, raw={}, errors=[], language=language, heading=False)
                        for q in page.questions
                    ],
                }
            )
    return pages


def definition_check(*, source: str) -> tuple[FormDefinition | None, list[DefinitionError]]:
    """Parse and validate a definition written in the editor: (definition, []) or (None, errors)."""
    try:
        _data, definition = definition_from_text(source)
    except DefinitionInvalid as error:
        return None, list(error.errors)
    return definition, []
