"""Writes of the forms app: form versions, drafts, uploads into drafts, submission, withdrawal.

A draft stays on the form version it was started with, so publishing a new version never
breaks anyone's application in progress. Submission is one transaction: the application,
its answers, the files it attaches and the ``ApplicationSubmitted`` event commit together
or not at all.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.files.uploadedfile import UploadedFile
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from civicstack.catalogue.selectors import service_get
from civicstack.core.audit import audit_event_record
from civicstack.core.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    RateLimited,
    ValidationFailed,
)
from civicstack.core.events import publish_durable
from civicstack.core.mail import absolute_url, email_send_on_commit
from civicstack.core.references import reference_next
from civicstack.documents import selectors as documents_selectors
from civicstack.documents import services as documents_services
from civicstack.documents.constants import UploadPolicy
from civicstack.forms import engine
from civicstack.forms.constants import (
    APPLICATION_REFERENCE_PREFIX,
    MAX_ANSWERS_BYTES,
    MAX_FILES_PER_DRAFT,
)
from civicstack.forms.definition import (
    DefinitionInvalid,
    FormDefinition,
    Page,
    definition_from_text,
)
from civicstack.forms.events import ApplicationSubmitted, ApplicationWithdrawn
from civicstack.forms.models import (
    OPEN_STATUSES,
    Application,
    ApplicationEntry,
    ApplicationStatus,
    Channel,
    Draft,
    Form,
    FormVersion,
    TimelineKind,
    VersionStatus,
)
from civicstack.forms.selectors import (
    definition_of,
    draft_link_token,
    form_lookups_forget,
    staff_may_edit_form,
)
from civicstack.identity.constants import Level
from civicstack.identity.selectors import ActingFor
from civicstack.notify.services import notification_send

Service = Any  # catalogue's Service, reached only through catalogue.selectors
EMAIL_TEMPLATES = "forms/email"
DRAFT_LINKS_PER_HOUR = 5


def _expiry() -> Any:
    return timezone.now() + timedelta(days=settings.FORM_DRAFT_RETENTION_DAYS)


def _check_size(answers: Mapping[str, Any]) -> None:
    if len(json.dumps(answers, default=str)) > MAX_ANSWERS_BYTES:
        raise ValidationFailed(_("Your answers are too long to save. Shorten them and try again."))


# --- Form versions (back office) -------------------------------------------------------------


def form_version_save(*, service: Service, source: str, actor: Any) -> FormVersion:
    """Save ``source`` as the draft version of the service's form (made if missing).

    Raises ValidationFailed if the text is not a valid definition; nothing is saved then
    (``selectors.definition_check`` gives every error with its path and line).
    """
    if not staff_may_edit_form(user=actor, service=service):
        raise PermissionDenied()
    try:
        data, _definition = definition_from_text(source)
    except DefinitionInvalid as error:
        raise ValidationFailed(
            _("The form definition has errors."),
            field_errors={"source": [e.message for e in error.errors]},
        ) from error
    with transaction.atomic():
        form, _created = Form.objects.get_or_create(service=service)
        version = (
            FormVersion.objects.select_for_update()
            .filter(form=form, status=VersionStatus.DRAFT)
            .first()
        )
        if version is None:
            last = FormVersion.objects.filter(form=form).order_by("-number").first()
            version = FormVersion(
                form=form,
                number=(last.number + 1) if last else 1,
                status=VersionStatus.DRAFT,
                created_by=actor if getattr(actor, "is_authenticated", False) else None,
            )
        version.source = source
        version.definition = data
        version.save()
        audit_event_record(
            action="forms.version_saved", actor=actor, obj=version, data={"number": version.number}
        )
    return version


def form_version_publish(*, version: FormVersion, actor: Any) -> FormVersion:
    """Publish a draft version: new applications use it; drafts in progress keep theirs."""
    form = version.form
    if not staff_may_edit_form(user=actor, service=form.service):
        raise PermissionDenied()
    if version.status != VersionStatus.DRAFT:
        raise Conflict(_("Only a draft version can be published."))
    try:
        definition_from_text(version.source)
    except DefinitionInvalid as error:
        raise ValidationFailed(_("Fix the errors in the form before publishing it.")) from error
    with transaction.atomic():
        FormVersion.objects.filter(form=form, status=VersionStatus.PUBLISHED).update(
            status=VersionStatus.SUPERSEDED
        )
        version.status = VersionStatus.PUBLISHED
        version.published_at = timezone.now()
        version.published_by = actor if getattr(actor, "is_authenticated", False) else None
        version.save(update_fields=["status", "published_at", "published_by", "updated_at"])
        Form.objects.filter(pk=form.pk).update(published_version=version)
        transaction.on_commit(lambda: form_lookups_forget(slug=form.service.slug))
        audit_event_record(
            action="forms.version_published",
            actor=actor,
            obj=version,
            data={"number": version.number, "service": str(form.service_id)},
        )
    return version


def form_import(*, service: Service, source: str, actor: Any) -> FormVersion:
    """Save and publish ``source`` as the service's form unless it is already the current one.

    Used by the demo loader and deployments that keep forms in files; idempotent.
    """
    form = Form.objects.filter(service=service).select_related("published_version").first()
    if form and form.published_version and form.published_version.source == source:
        return form.published_version
    with transaction.atomic():
        FormVersion.objects.filter(form__service=service, status=VersionStatus.DRAFT).delete()
        data, _definition = definition_from_text(source)
        form, _created = Form.objects.get_or_create(service=service)
        last = FormVersion.objects.filter(form=form).order_by("-number").first()
        FormVersion.objects.filter(form=form, status=VersionStatus.PUBLISHED).update(
            status=VersionStatus.SUPERSEDED
        )
        version = FormVersion.objects.create(
            form=form,
            number=(last.number + 1) if last else 1,
            status=VersionStatus.PUBLISHED,
            source=source,
            definition=data,
            published_at=timezone.now(),
        )
        Form.objects.filter(pk=form.pk).update(published_version=version)
        transaction.on_commit(lambda: form_lookups_forget(slug=service.slug))
        audit_event_record(
            action="forms.version_imported",
            actor=actor,
            obj=version,
            data={"number": version.number, "service": str(service.pk)},
        )
    return version


DEMO_DIR = Path(__file__).resolve().parent / "demo"


def forms_demo_load() -> int:
    """Publish the demo forms (``forms/demo/<service slug>.yaml``); return how many.

    Idempotent: a form whose published source is unchanged gets no new version.
    """
    count = 0
    for path in sorted(DEMO_DIR.glob("*.yaml")):
        service = service_get(slug=path.stem)
        if service is None:
            continue
        form_import(service=service, source=path.read_text(encoding="utf-8"), actor=None)
        count += 1
    if not count:
        audit_event_record(action="forms.demo_load_empty", actor=None)
    return count


# --- Drafts -------------------------------------------------------------------------------


def draft_start(
    *, service: Service, user: Any, language: str, actor: Any, email: str = ""
) -> Draft:
    """Start a draft on the service's published form, prefilled from the person's profile."""
    form = Form.objects.filter(service=service).select_related("published_version").first()
    if form is None or form.published_version is None:
        raise NotFound(_("This service cannot be applied for online."))
    version = form.published_version
    definition = definition_of(version=version)
    signed_in = getattr(user, "is_authenticated", False)
    if not signed_in and (
        not definition.allow_anonymous or service.assurance_level != Level.LOW.value
    ):
        raise PermissionDenied(_("Sign in to apply for this service."))
    answers: dict[str, Any] = {}
    if signed_in:
        profile = {"full_name": user.full_name, "email": user.email}
        answers = engine.prefill_answers(definition, profile)
    with transaction.atomic():
        draft = Draft.objects.create(
            form_version=version,
            service=service,
            user=user if signed_in else None,
            email=email,
            language=language if language in {"en", "cy"} else "en",
            answers=answers,
            expires_at=_expiry(),
        )
        audit_event_record(
            action="forms.draft_started",
            actor=actor,
            obj=draft,
            data={"service": str(service.pk), "version": version.number},
        )
    return draft


def _locked(draft: Draft) -> Draft:
    locked = Draft.objects.select_for_update().filter(pk=draft.pk).first()
    if locked is None:
        raise NotFound(_("This application has already been sent or has expired."))
    return locked


def _store(draft: Draft, answers: dict[str, Any], *, step: engine.PageRef | None = None) -> None:
    """Save new answers (and where the person was); every change restarts the retention."""
    draft.answers = answers
    draft.expires_at = _expiry()
    fields = ["answers", "expires_at", "updated_at"]
    if step is not None:
        draft.last_step = step.key
        fields.append("last_step")
    draft.save(update_fields=fields)


def _place(answers: dict[str, Any], step: engine.PageRef) -> dict[str, Any]:
    """Return the dict the answers of ``step`` live in (the top level or one group item)."""
    if step.group_id is None or step.index is None:
        return answers
    items = answers.get(step.group_id)
    if not isinstance(items, list) or not 0 <= step.index < len(items):
        raise NotFound(_("That part of the form does not exist any more."))
    item = items[step.index]
    if not isinstance(item, dict):
        item = {}
        items[step.index] = item
    return item


def draft_answers_save(
    *, draft: Draft, step: engine.PageRef, values: Mapping[str, Any], actor: Any
) -> Draft:
    """Store the answers given on one page and drop answers of pages that no longer apply."""
    definition = definition_of(version=draft.form_version)
    with transaction.atomic():
        draft = _locked(draft)
        answers = dict(draft.answers)
        _place(answers, step).update(values)
        answers = engine.answers_prune(definition, answers)
        _check_size(answers)
        _store(draft, answers, step=step)
        audit_event_record(
            action="forms.draft_answers_saved",
            actor=actor,
            obj=draft,
            data={"step": step.key, "questions": sorted(values)},
        )
    return draft


def draft_group_item_add(*, draft: Draft, group_id: str, actor: Any) -> int:
    """Add an empty item to a repeating group; return its index."""
    definition = definition_of(version=draft.form_version)
    group = definition.group(group_id)
    with transaction.atomic():
        draft = _locked(draft)
        answers = dict(draft.answers)
        items = answers.get(group_id)
        items = list(items) if isinstance(items, list) else []
        if len(items) >= group.max:
            raise ValidationFailed(
                field_errors={group_id: [_("You cannot add any more to this list.")]}
            )
        items.append({})
        answers[group_id] = items
        _store(draft, answers)
        audit_event_record(
            action="forms.draft_item_added", actor=actor, obj=draft, data={"group": group_id}
        )
    return len(items) - 1


def draft_group_item_remove(
    *, draft: Draft, group_id: str, index: int, holder_keys: Collection[str], actor: Any
) -> Draft:
    """Remove one item of a repeating group, with the files uploaded for it."""
    definition = definition_of(version=draft.form_version)
    definition.group(group_id)
    with transaction.atomic():
        draft = _locked(draft)
        answers = dict(draft.answers)
        items = answers.get(group_id)
        if not isinstance(items, list) or not 0 <= index < len(items):
            raise NotFound(_("That part of the form does not exist any more."))
        removed = items[index]
        answers[group_id] = items[:index] + items[index + 1 :]
        _store(draft, engine.answers_prune(definition, answers))
        _release_files(
            definition=definition,
            before={group_id: [removed]},
            holder_keys=holder_keys,
            draft=draft,
            actor=actor,
        )
        audit_event_record(
            action="forms.draft_item_removed",
            actor=actor,
            obj=draft,
            data={"group": group_id, "index": index},
        )
    return draft


def _release_files(
    *,
    definition: FormDefinition,
    before: Mapping[str, Any],
    holder_keys: Collection[str],
    draft: Draft,
    actor: Any,
) -> None:
    """Remove uploads that were in ``before`` and are no longer in the draft's answers."""
    kept = {doc for _path, doc in engine.files_in_answers(definition, draft.answers)}
    gone = {doc for _path, doc in engine.files_in_answers(definition, dict(before))} - kept
    if not gone:
        return
    for document in documents_selectors.documents_for_holder(
        holder_keys=holder_keys, owner=draft.user, ids=sorted(gone)
    ):
        documents_services.document_remove(document=document, holder_keys=holder_keys, actor=actor)


def draft_file_add(
    *,
    draft: Draft,
    step: engine.PageRef,
    question_id: str,
    upload: UploadedFile,
    holder_keys: Collection[str],
    actor: Any,
) -> Draft:
    """Check, scan, encrypt and store an upload, then list it as an answer to ``question_id``.

    Refusals (wrong type, too big, a virus, the scanner down) raise and change nothing.
    """
    definition = definition_of(version=draft.form_version)
    question = definition.question(question_id)
    rules = question.file_policy
    current = _place(dict(draft.answers), step).get(question_id)
    current_ids = [str(i) for i in current] if isinstance(current, list) else []
    if len(current_ids) >= rules.max_files:
        raise ValidationFailed(
            field_errors={question_id: [_("You have uploaded the most files you can here.")]}
        )
    policy = UploadPolicy(
        kinds=rules.kinds,
        max_bytes=rules.max_bytes,
        allow_archives=rules.allow_archives,
        max_files=MAX_FILES_PER_DRAFT,
    )
    document = documents_services.document_upload(
        upload=upload, policy=policy, owner=draft.user, holder=draft.holder, actor=actor
    )
    try:
        return _draft_file_record(
            draft=draft, step=step, question_id=question_id, document=document, actor=actor
        )
    except Exception:
        # The draft went (sent, deleted, expired) or changed shape while the file was
        # checked: the file must not stay behind, held by a draft that no job will expire.
        documents_services.document_remove(
            document=document, holder_keys={draft.holder}, actor=actor
        )
        raise


def _draft_file_record(
    *, draft: Draft, step: engine.PageRef, question_id: str, document: Any, actor: Any
) -> Draft:
    with transaction.atomic():
        draft = _locked(draft)
        answers = dict(draft.answers)
        place = _place(answers, step)
        existing = place.get(question_id)
        ids = [str(i) for i in existing] if isinstance(existing, list) else []
        ids.append(str(document.pk))
        place[question_id] = ids
        _store(draft, answers, step=step)
        audit_event_record(
            action="forms.draft_file_added",
            actor=actor,
            obj=draft,
            data={"step": step.key, "question": question_id, "document": str(document.pk)},
        )
    return draft


def draft_file_remove(
    *,
    draft: Draft,
    step: engine.PageRef,
    question_id: str,
    document_id: str,
    holder_keys: Collection[str],
    actor: Any,
) -> Draft:
    """Take one uploaded file off the draft and delete it."""
    definition = definition_of(version=draft.form_version)
    with transaction.atomic():
        draft = _locked(draft)
        answers = dict(draft.answers)
        place = _place(answers, step)
        existing = place.get(question_id)
        ids = [str(i) for i in existing] if isinstance(existing, list) else []
        if document_id not in ids:
            raise NotFound(_("That file is not part of this application."))
        before: dict[str, Any] = {question_id: list(ids)}
        if step.group_id is not None:
            before = {step.group_id: [{question_id: list(ids)}]}
        ids.remove(document_id)
        place[question_id] = ids
        _store(draft, answers)
        _release_files(
            definition=definition, before=before, holder_keys=holder_keys, draft=draft, actor=actor
        )
        audit_event_record(
            action="forms.draft_file_removed",
            actor=actor,
            obj=draft,
            data={"question": question_id, "document": document_id},
        )
    return draft


def draft_link_send(*, draft: Draft, email: str, actor: Any) -> None:
    """Email a link that brings the person back to their draft (applying without an account).

    A draft may send DRAFT_LINKS_PER_HOUR links an hour, so nobody can use it to send
    Civicstack's emails to an address over and over.
    """
    email = email.strip()
    try:
        validate_email(email)
    except DjangoValidationError:
        email = ""
    if not email or len(email) > 254:
        raise ValidationFailed(
            field_errors={
                "email": [_("Enter an email address in the correct format, like name@example.com")]
            }
        )
    sent_key = f"forms.draft-links:{draft.pk}"
    cache.add(sent_key, 0, timeout=3600)
    if cache.incr(sent_key) > DRAFT_LINKS_PER_HOUR:
        raise RateLimited(_("You have asked for several links already. Try again in an hour."))
    with transaction.atomic():
        draft = _locked(draft)
        draft.email = email
        draft.expires_at = _expiry()
        draft.save(update_fields=["email", "expires_at", "updated_at"])
        email_send_on_commit(
            template_dir=EMAIL_TEMPLATES,
            name="draft_link",
            to=email,
            preferred=draft.language,
            context={
                "service_title_en": draft.service.title_en,
                "service_title_cy": draft.service.title_cy,
                "expires_at": draft.expires_at,
            },
            link=("forms:resume", {"token": draft_link_token(draft=draft)}),
        )
        audit_event_record(action="forms.draft_link_sent", actor=actor, obj=draft)


def draft_delete(*, draft: Draft, actor: Any) -> None:
    """Delete a draft and the files uploaded to it (the person chose to, or it expired)."""
    with transaction.atomic():
        documents_services.documents_release(holder=draft.holder, actor=actor)
        audit_event_record(
            action="forms.draft_deleted",
            actor=actor,
            obj=draft,
            data={"expired": draft.expires_at <= timezone.now()},
        )
        Draft.objects.filter(pk=draft.pk).delete()


def drafts_expire(*, limit: int = 500) -> int:
    """Delete drafts past their retention date, with their files; return how many."""
    expired = list(
        Draft.objects.filter(expires_at__lte=timezone.now()).order_by("expires_at")[:limit]
    )
    for draft in expired:
        # Each deletion is audited by draft_delete; a run that finds nothing records nothing.
        draft_delete(draft=draft, actor=None)
    return len(expired)


# --- Submission ---------------------------------------------------------------------------


def _contact(definition: FormDefinition, answers: Mapping[str, Any]) -> str:
    """Return the first email address answered outside repeating groups (or "")."""
    for item in definition.items:
        if not isinstance(item, Page):
            continue
        for question in item.questions:
            if question.type == "email" and isinstance(answers.get(question.id), str):
                return str(answers[question.id])
    return ""


def _create_application(
    *,
    service: Service,
    version: FormVersion,
    definition: FormDefinition,
    answers: dict[str, Any],
    applicant: Any,
    contact_name: str,
    contact_email: str,
    language: str,
    channel: str,
    agency_id: Any,
    draft_id: Any,
    holder_keys: Collection[str],
    actor: Any,
    idempotency: tuple[str, str, str] | None = None,
    represented: ActingFor | None = None,
) -> Application:
    """Create the application, attach its files and record the event (caller's transaction).

    ``idempotency`` is the API's (scope, key, request hash), kept on the application;
    ``represented`` the party the applicant acted for, if any.
    """
    now = timezone.now()
    application_id = uuid4()
    reference = reference_next(prefix=APPLICATION_REFERENCE_PREFIX, year=now.year)
    application = Application.objects.create(
        id=application_id,
        reference=reference,
        service=service,
        form_version=version,
        applicant=applicant,
        contact_name=contact_name[:200],
        contact_email=contact_email[:254],
        language=language,
        answers=answers,
        channel=channel,
        submitted_by_agency_id=agency_id if channel == Channel.API else None,
        submitted_at=now,
        draft_id=draft_id,
        idempotency_scope=idempotency[0] if idempotency else "",
        idempotency_key=idempotency[1] if idempotency else None,
        request_hash=idempotency[2] if idempotency else "",
        represented_kind=represented.kind if represented else "",
        represented_id=represented.party_id if represented else "",
        represented_name=represented.name[:200] if represented else "",
        represented_mandate_id=represented.mandate_id if represented else "",
    )
    document_ids = [doc for _path, doc in engine.files_in_answers(definition, answers)]
    if document_ids:
        documents_services.documents_attach(
            document_ids=document_ids,
            holder_keys=holder_keys,
            owner=applicant,
            agency_id=service.agency_id,
            attached_to=reference,
            actor=actor,
        )
    if contact_email or applicant is not None:
        # The confirmation is written with the application: both commit, or neither.
        application_confirmation_notify(application=application, definition=definition)
    audit_event_record(
        action="forms.application_submitted",
        actor=actor,
        obj=application,
        data={
            "reference": reference,
            "service": str(service.pk),
            "version": version.number,
            "channel": channel,
            "documents": len(document_ids),
            **({"represented": represented.kind} if represented else {}),
        },
    )
    publish_durable(
        ApplicationSubmitted(
            application_id=str(application.pk),
            reference=reference,
            service_id=str(service.pk),
            agency_id=str(service.agency_id),
            applicant_id=str(applicant.pk) if applicant is not None else "",
            channel=channel,
            language=language,
        )
    )
    return application


def application_confirmation_notify(
    *, application: Application, definition: FormDefinition | None = None
) -> None:
    """Queue the confirmation of a submitted application (once per application).

    Runs in the caller's transaction; the notifications app sends it after commit, by
    email and on the other channels the applicant chose.
    """
    definition = definition or definition_of(version=application.form_version)
    service = application.service
    link = ("forms:application", {"application_id": application.pk})
    sent = notification_send(
        message="forms.application_submitted",
        service=service,
        user=application.applicant,
        email=application.contact_email,
        language=application.language if application.language in ("en", "cy") else "en",
        idempotency_key=f"application:{application.pk}:submitted",
        personalisation={
            "reference": application.reference,
            "service title": service.title_en,
            "what happens next": definition.confirmation.get("en") or "",
            "dashboard link": absolute_url(link[0], kwargs=link[1], language="en"),
        },
        personalisation_cy={
            "service title": service.title_cy or service.title_en,
            "what happens next": definition.confirmation.get("cy")
            or definition.confirmation.get("en")
            or "",
            "dashboard link": absolute_url(link[0], kwargs=link[1], language="cy"),
        },
    )
    audit_event_record(
        action="forms.application_confirmation_queued",
        actor=None,
        obj=application,
        data={"reference": application.reference, "notifications": len(sent)},
    )


def application_submit(
    *,
    draft: Draft,
    holder_keys: Collection[str],
    actor: Any,
    represented: ActingFor | None = None,
) -> Application:
    """Turn a complete draft into an application; a repeated call returns the same one.

    The draft id is the idempotency key of the online form: a double click or a browser
    retry finds the application the first request made. ``represented`` is whom the
    applicant is acting for (identity's ``acting_for``); a mandate that does not cover the
    service is refused.
    """
    if represented is not None and not represented.covers_service(str(draft.service_id)):
        raise PermissionDenied(
            _("Your permission to act for %(name)s does not cover this service.")
            % {"name": represented.name}
        )
    existing = Application.objects.filter(draft_id=draft.pk).first()
    if existing is not None:
        return existing
    definition = definition_of(version=draft.form_version)
    try:
        with transaction.atomic():
            locked = Draft.objects.select_for_update().filter(pk=draft.pk).first()
            if locked is None:
                existing = Application.objects.filter(draft_id=draft.pk).first()
                if existing is not None:
                    return existing
                raise NotFound(_("This application has expired. Start again."))
            answers, errors = engine.answers_clean(
                definition, engine.answers_prune(definition, locked.answers), locked.language
            )
            if errors:
                raise ValidationFailed(field_errors=_messages(errors))
            applicant = locked.user
            application = _create_application(
                service=locked.service,
                version=locked.form_version,
                definition=definition,
                answers=answers,
                applicant=applicant,
                contact_name=applicant.full_name if applicant else "",
                contact_email=applicant.email
                if applicant
                else (locked.email or _contact(definition, answers)),
                language=locked.language,
                channel=Channel.ONLINE,
                agency_id=None,
                draft_id=locked.pk,
                holder_keys={*holder_keys, locked.holder},
                actor=actor,
                represented=represented,
            )
            # Files uploaded to the draft but no longer in its answers go with the draft.
            documents_services.documents_release(holder=locked.holder, actor=actor)
            locked.delete()
    except IntegrityError:
        # Another request submitted the same draft at the same moment and won.
        existing = Application.objects.filter(draft_id=draft.pk).first()
        if existing is None:
            raise
        return existing
    return application


def _messages(errors: Mapping[str, list[str]]) -> dict[str, list[str | Promise]]:
    return {key: list[str | Promise](value) for key, value in errors.items()}


def request_fingerprint(body: Mapping[str, Any]) -> str:
    """Return a stable hash of an API request body (keys sorted, no whitespace)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def application_submit_api(
    *,
    version: FormVersion,
    body: Mapping[str, Any],
    api_key: Any,
    idempotency_key: str,
    actor: Any,
) -> tuple[Application, bool]:
    """Submit an application through the API; return it and whether it was a replay.

    ``version`` is the service's published form version (with ``form.service`` loaded);
    ``body`` holds ``answers``, ``applicant`` (name, email) and ``language``. The same
    Idempotency-Key with the same body within IDEMPOTENCY_KEY_HOURS returns the first
    application; with a different body it is a :class:`Conflict`.
    """
    service = version.form.service
    if api_key.agency_id != service.agency_id:
        raise PermissionDenied(_("This key cannot submit applications for that service."))
    scope = f"api:{api_key.pk}"
    # The service is part of what the key stands for: the same body sent to another
    # service with the same key is a different request.
    fingerprint = request_fingerprint({"service": service.slug, "body": body})
    definition = definition_of(version=version)
    given, applicant, language = _api_input(body)
    answers, errors = engine.answers_clean(definition, given, language)
    if errors:
        # A retry of a request that succeeded on an older version of the form may no
        # longer be valid: it still gets its application back.
        previous = _idempotent_replay(scope=scope, key=idempotency_key, fingerprint=fingerprint)
        if previous is not None:
            return previous, True
        raise ValidationFailed(
            field_errors={f"answers.{key}": value for key, value in _messages(errors).items()}
        )
    for _attempt in range(2):
        try:
            with transaction.atomic():
                application = _create_application(
                    service=service,
                    version=version,
                    definition=definition,
                    answers=answers,
                    applicant=None,
                    contact_name=applicant["name"],
                    contact_email=applicant["email"],
                    language=language,
                    channel=Channel.API,
                    agency_id=api_key.agency_id,
                    draft_id=None,
                    holder_keys={f"api:{api_key.agency_id}"},
                    actor=actor,
                    # Most keys are new, so the key is checked by the unique constraint
                    # rather than by a query before every submission.
                    idempotency=(scope, idempotency_key, fingerprint),
                )
            return application, False
        except IntegrityError:
            previous = _idempotent_replay(scope=scope, key=idempotency_key, fingerprint=fingerprint)
            if previous is not None:
                return previous, True
            # The key was used more than the replay window ago: forget it and go again.
            _idempotency_forget_stale(scope=scope, key=idempotency_key)
    raise Conflict(_("This Idempotency-Key is being used by another request. Try again."))


def _idempotent_replay(*, scope: str, key: str, fingerprint: str) -> Application | None:
    """Return the application an earlier request with this key made (Conflict if the body
    differed), or None when there is no record within the replay window."""
    window = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_HOURS)
    earlier = (
        Application.objects.select_related("service", "form_version")
        .filter(idempotency_scope=scope, idempotency_key=key, submitted_at__gte=window)
        .first()
    )
    if earlier is None:
        return None
    if earlier.request_hash != fingerprint:
        raise Conflict(_("This Idempotency-Key was already used with a different request body."))
    return earlier


def _idempotency_forget_stale(*, scope: str, key: str) -> None:
    window = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_HOURS)
    Application.objects.filter(
        idempotency_scope=scope, idempotency_key=key, submitted_at__lt=window
    ).update(idempotency_key=None)


def _api_input(body: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str], str]:
    errors: dict[str, list[Any]] = {}
    answers = body.get("answers")
    if not isinstance(answers, dict):
        errors["answers"] = [_("answers must be an object of question ids and values")]
    applicant = body.get("applicant")
    name = email = ""
    if not isinstance(applicant, dict):
        errors["applicant"] = [_("applicant must be an object with name and email")]
    else:
        raw_name, raw_email = applicant.get("name"), applicant.get("email")
        if (
            not isinstance(raw_name, str)
            or not raw_name.strip()
            or len(raw_name) > 200
            or not raw_name.isprintable()
        ):
            errors["applicant.name"] = [_("Enter the applicant's name (up to 200 characters)")]
        else:
            name = raw_name.strip()
        if (
            not isinstance(raw_email, str)
            or "@" not in raw_email
            or len(raw_email) > 254
            or any(c.isspace() for c in raw_email.strip())
            or not raw_email.isprintable()
        ):
            errors["applicant.email"] = [
                _("Enter an email address in the correct format, like name@example.com")
            ]
        else:
            email = raw_email.strip()
    language = body.get("language", "en")
    if not isinstance(language, str) or language not in {"en", "cy"}:
        errors["language"] = [_("language must be en or cy")]
        language = "en"
    unknown = sorted(set(body) - {"answers", "applicant", "language"})
    if unknown:
        errors["body"] = [_("Unknown fields in the request body")]
    if errors:
        raise ValidationFailed(field_errors=errors)
    _check_size(answers if isinstance(answers, dict) else {})
    return (
        dict(answers) if isinstance(answers, dict) else {},
        {"name": name, "email": email},
        language,
    )


def application_withdraw(*, application: Application, actor: Any) -> Application:
    """Withdraw an application the actor made, while it is still open."""
    if application.applicant_id is None or application.applicant_id != getattr(actor, "pk", None):
        raise NotFound()
    with transaction.atomic():
        locked = Application.objects.select_for_update().get(pk=application.pk)
        if locked.status not in OPEN_STATUSES:
            raise Conflict(_("This application has been decided and cannot be withdrawn."))
        locked.status = ApplicationStatus.WITHDRAWN
        locked.withdrawn_at = timezone.now()
        locked.save(update_fields=["status", "withdrawn_at", "updated_at"])
        ApplicationEntry.objects.create(
            application=locked, kind=TimelineKind.WITHDRAWN, status=ApplicationStatus.WITHDRAWN
        )
        audit_event_record(action="forms.application_withdrawn", actor=actor, obj=locked)
        publish_durable(
            ApplicationWithdrawn(
                application_id=str(locked.pk),
                reference=locked.reference,
                service_id=str(locked.service_id),
                agency_id=str(locked.service.agency_id),
            )
        )
    return locked


def application_progress(
    *,
    application_id: UUID,
    status: str,
    actor: Any,
    kind: str = TimelineKind.STATUS,
    text: str = "",
    link_url: str = "",
    link_text: str = "",
) -> None:
    """Record the agency's progress on an application: its status and a timeline line.

    Called by the cases app (in its own transaction) when a case is claimed, asks for
    information, gets a reply or is decided. A withdrawn application keeps its status.
    """
    if status not in ApplicationStatus.values or kind not in TimelineKind.values:
        raise ValueError("unknown application status or timeline kind")
    with transaction.atomic():
        application = Application.objects.select_for_update().get(pk=application_id)
        if application.status == ApplicationStatus.WITHDRAWN:
            return
        changed = application.status != status
        if changed:
            application.status = status
            application.save(update_fields=["status", "updated_at"])
        if changed or text or link_url:
            ApplicationEntry.objects.create(
                application=application,
                kind=kind,
                status=status if changed else "",
                text=text,
                from_agency=kind != TimelineKind.REPLY,
                link_url=link_url,
                link_text=link_text,
            )
        audit_event_record(
            action="forms.application_progressed",
            actor=actor,
            obj=application,
            data={"status": status, "kind": kind},
        )


def idempotency_keys_forget() -> int:
    """Forget Idempotency-Keys older than the replay window, so they may be used again."""
    cutoff = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_HOURS)
    with transaction.atomic():
        forgotten = Application.objects.filter(
            idempotency_key__isnull=False, submitted_at__lt=cutoff
        ).update(idempotency_key=None)
        if forgotten:
            audit_event_record(
                action="forms.idempotency_keys_forgotten",
                actor=None,
                data={"forgotten": forgotten},
            )
    return forgotten
