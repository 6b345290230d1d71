"""The form runner: start, check if you can apply, one thing per page, check answers, send.

Everything works without JavaScript: each button is a submit button whose name says what
it does (continue, upload a file, remove a file, find an address, save and come back later).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from civicstack.catalogue import selectors as catalogue
from civicstack.core.errors import (
    CivicstackError,
    NotFound,
    PermissionDenied,
    RateLimited,
    ValidationFailed,
)
from civicstack.documents import selectors as documents
from civicstack.documents.constants import HOLDERS_SESSION_KEY as SESSION_DOCUMENT_HOLDERS
from civicstack.forms import engine, selectors, services
from civicstack.forms.addresses import address_lookup
from civicstack.forms.constants import SESSION_DRAFTS, SESSION_PRECHECK
from civicstack.forms.definition import FormDefinition, Page, Question
from civicstack.forms.models import Draft
from civicstack.forms.questions import FieldError, question_types
from civicstack.identity import selectors as identity
from civicstack.identity.constants import Level

SESSION_APPLICATIONS = "forms.applications"
RETURN_TO_CHECK = "check"


def current_language() -> str:
    """Return the page's language, en or cy."""
    language = get_language() or "en"
    return "cy" if language.startswith("cy") else "en"


def _session_list(request: HttpRequest, key: str) -> list[str]:
    value = request.session.get(key, [])
    return [str(item) for item in value] if isinstance(value, list) else []


def _session_add(request: HttpRequest, key: str, value: str, *, keep: int = 20) -> None:
    items = [item for item in _session_list(request, key) if item != value]
    request.session[key] = [*items, value][-keep:]


def _holder_keys(request: HttpRequest, draft: Draft) -> set[str]:
    return {*_session_list(request, SESSION_DOCUMENT_HOLDERS), draft.holder}


def _draft(request: HttpRequest, draft_id: Any) -> Draft:
    draft = selectors.draft_for_person(
        draft_id=draft_id,
        user=request.user,
        session_drafts=_session_list(request, SESSION_DRAFTS),
    )
    if draft is None:
        raise NotFound(_("This application has already been sent, has expired or is not yours."))
    _check_mandate_covers(request, draft.service_id)
    return draft


def _service(slug: str, request: HttpRequest | None = None) -> Any:
    service = catalogue.service_get(slug=slug)
    if service is None:
        raise NotFound()
    if request is not None:
        _check_mandate_covers(request, service.pk)
    return service


def _level_needed(service: Any) -> Level:
    """Return the level of assurance the service needs to apply online (low if unset)."""
    value = getattr(service, "assurance_level", Level.LOW.value)
    return Level(value) if value in {level.value for level in Level} else Level.LOW


def _level_redirect(request: HttpRequest, service: Any) -> HttpResponse | None:
    """Return where to go first when this session is below the service's level, else None.

    Anonymous people go to sign in and signed-in people to the step-up page; both come back
    to this page. Services at low leave the sign-in rules to the form (allow_anonymous).
    """
    needed = _level_needed(service)
    if needed == Level.LOW:
        return None
    return identity.level_required(request, needed, request.get_full_path())


def _check_mandate_covers(request: HttpRequest, service_id: Any) -> None:
    """Refuse a service the mandate of whoever the person is acting for does not cover."""
    acting = identity.acting_for(request)
    if acting is not None and not acting.covers_service(str(service_id)):
        raise PermissionDenied(
            _(
                "You are acting for %(name)s, and their permission does not cover this "
                "service. To apply for yourself, stop acting for them first."
            )
            % {"name": acting.name}
        )


def _step_url(draft: Draft, ref: engine.PageRef | None, *, back_to_check: bool = False) -> str:
    if ref is None:
        return reverse("forms:check-answers", kwargs={"draft_id": draft.pk})
    url = reverse("forms:page", kwargs={"draft_id": draft.pk, "step": ref.key})
    return f"{url}?{urlencode({'return': RETURN_TO_CHECK})}" if back_to_check else url


def _parse_step(definition: FormDefinition, answers: Mapping[str, Any], key: str) -> engine.PageRef:
    """Return the step ``key`` names if it applies to these answers (else NotFound)."""
    for ref in engine.route(definition, answers):
        if ref.key == key:
            return ref
    raise NotFound(_("That question does not apply to your answers. Go back to your application."))


# --- Starting -----------------------------------------------------------------------------


def start(request: HttpRequest, slug: str) -> HttpResponse:
    """Show how to apply online, and the way in: sign in, or carry on without an account."""
    service = _service(slug, request)
    version = selectors.form_published_version(service=service)
    if version is None:
        return render(request, "forms/not_online.html", {"service": service}, status=404)
    definition = selectors.definition_of(version=version)
    signed_in = request.user.is_authenticated
    needed = _level_needed(service)
    first_url = (
        reverse("forms:precheck", kwargs={"slug": slug, "number": 1})
        if definition.precheck
        else reverse("forms:begin", kwargs={"slug": slug})
    )
    return render(
        request,
        "forms/start.html",
        {
            "service": service,
            "definition": definition,
            "language": current_language(),
            "signed_in": signed_in,
            "anonymous_allowed": definition.allow_anonymous and needed == Level.LOW,
            "level_needed": needed,
            "first_url": first_url,
            "sign_in_url": f"{reverse('accounts:sign-in')}?{urlencode({'next': request.path})}",
            "drafts": list(selectors.drafts_for_user(user=request.user).filter(service=service))
            if signed_in
            else [],
        },
    )


@require_http_methods(["GET", "POST"])
def precheck(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    """Ask one "check if you can apply" question; stop people who are not eligible."""
    service = _service(slug, request)
    version = selectors.form_published_version(service=service)
    if version is None:
        raise NotFound()
    definition = selectors.definition_of(version=version)
    if definition.precheck is None or not 1 <= number <= len(definition.precheck.questions):
        raise NotFound()
    language = current_language()
    question = definition.precheck.questions[number - 1]
    stored = request.session.get(SESSION_PRECHECK, {})
    stored = stored if isinstance(stored, dict) else {}
    answers = dict(stored.get(slug, {})) if isinstance(stored.get(slug), dict) else {}
    kind = question_types.get(question.type)
    raw: Mapping[str, Any] = kind.initial(question, answers.get(question.id))
    errors: list[Any] = []
    if request.method == "POST":
        result = kind.parse(question, dict(request.POST.lists()), language)
        raw, errors = result.raw, result.errors
        if not errors:
            answers[question.id] = result.value
            stored[slug] = answers
            request.session[SESSION_PRECHECK] = stored
            if number < len(definition.precheck.questions):
                return HttpResponseRedirect(
                    reverse("forms:precheck", kwargs={"slug": slug, "number": number + 1})
                )
            if engine.precheck_evaluate(definition, answers):
                return HttpResponseRedirect(reverse("forms:begin", kwargs={"slug": slug}))
            return HttpResponseRedirect(reverse("forms:not-eligible", kwargs={"slug": slug}))
    back = (
        reverse("forms:precheck", kwargs={"slug": slug, "number": number - 1})
        if number > 1
        else reverse("forms:start", kwargs={"slug": slug})
    )
    return render(
        request,
        "forms/precheck.html",
        {
            "service": service,
            "question": selectors.widget_context(
                question, raw=raw, errors=errors, language=language, heading=True
            ),
            "errors": errors,
            "back_url": back,
            "caption": _("Check if you can apply"),
        },
    )


def not_eligible(request: HttpRequest, slug: str) -> HttpResponse:
    """Say plainly that the person cannot apply, and why."""
    service = _service(slug, request)
    version = selectors.form_published_version(service=service)
    if version is None:
        raise NotFound()
    definition = selectors.definition_of(version=version)
    if definition.precheck is None:
        raise NotFound()
    return render(
        request,
        "forms/not_eligible.html",
        {
            "service": service,
            "message": definition.precheck.ineligible_message.get(current_language()),
        },
    )


@require_http_methods(["GET", "POST"])
def begin(request: HttpRequest, slug: str) -> HttpResponse:
    """Start a draft (after the pre-check, if the form has one) and go to its first page."""
    service = _service(slug, request)
    version = selectors.form_published_version(service=service)
    if version is None:
        raise NotFound()
    definition = selectors.definition_of(version=version)
    if definition.precheck is not None:
        stored = request.session.get(SESSION_PRECHECK, {})
        answers = stored.get(slug) if isinstance(stored, dict) else None
        if not isinstance(answers, dict) or not engine.precheck_evaluate(definition, answers):
            return HttpResponseRedirect(
                reverse("forms:precheck", kwargs={"slug": slug, "number": 1})
            )
    step_up = _level_redirect(request, service)
    if step_up is not None:
        return step_up
    if not request.user.is_authenticated and not definition.allow_anonymous:
        return HttpResponseRedirect(
            f"{reverse('accounts:sign-in')}?{urlencode({'next': request.path})}"
        )
    if request.method == "GET":
        # Starting makes a draft, so it happens on POST; the GET page is one button.
        return render(request, "forms/begin.html", {"service": service})
    draft = services.draft_start(
        service=service, user=request.user, language=current_language(), actor=request.user
    )
    if draft.user_id is None:
        _session_add(request, SESSION_DRAFTS, str(draft.pk))
        _session_add(request, SESSION_DOCUMENT_HOLDERS, draft.holder)
    return HttpResponseRedirect(reverse("forms:draft", kwargs={"draft_id": draft.pk}))


def resume(request: HttpRequest, token: str) -> HttpResponse:
    """Open an anonymous draft from its emailed save-and-return link."""
    draft = selectors.draft_from_link(token=token)
    if draft is None:
        return render(request, "forms/link_invalid.html", status=404)
    _session_add(request, SESSION_DRAFTS, str(draft.pk))
    _session_add(request, SESSION_DOCUMENT_HOLDERS, draft.holder)
    return HttpResponseRedirect(reverse("forms:draft", kwargs={"draft_id": draft.pk}))


# --- The draft ----------------------------------------------------------------------------


def overview(request: HttpRequest, draft_id: Any) -> HttpResponse:
    """Show the task list of a long form, or carry on where the person left off."""
    draft = _draft(request, draft_id)
    definition = selectors.definition_of(version=draft.form_version)
    if definition.sections:
        tasks = engine.task_list(definition, draft.answers)
        language = current_language()
        rows = [
            {
                "title": task.section.title.get(language),
                "status": task.status,
                "url": _step_url(draft, task.first_ref) if task.first_ref else None,
            }
            for task in tasks
        ]
        complete = engine.first_incomplete(definition, draft.answers) is None
        return render(
            request,
            "forms/task_list.html",
            {
                "draft": draft,
                "definition": definition,
                "title": definition.title.get(language),
                "tasks": rows,
                "done": sum(1 for row in rows if row["status"] == "completed"),
                "complete": complete,
            },
        )
    if not draft.last_step:
        return HttpResponseRedirect(_step_url(draft, engine.first_step(definition, draft.answers)))
    return HttpResponseRedirect(
        _step_url(draft, engine.first_incomplete(definition, draft.answers))
    )


def _page_values(draft: Draft, ref: engine.PageRef) -> dict[str, Any]:
    if ref.group_id is None or ref.index is None:
        return dict(draft.answers)
    items = draft.answers.get(ref.group_id)
    if (
        isinstance(items, list)
        and 0 <= ref.index < len(items)
        and isinstance(items[ref.index], dict)
    ):
        return dict(items[ref.index])
    return {}


@require_http_methods(["GET", "POST"])
def page(request: HttpRequest, draft_id: Any, step: str) -> HttpResponse:
    """One page of the form: show it, or take its answers and go on."""
    draft = _draft(request, draft_id)
    definition = selectors.definition_of(version=draft.form_version)
    ref = _parse_step(definition, draft.answers, step)
    if ref.group_id is not None and ref.index is None:
        return _group_summary(request, draft, definition, ref)
    back_to_check = request.GET.get("return") == RETURN_TO_CHECK
    language = current_language()
    page_definition = definition.page(ref.page_id)
    stored = _page_values(draft, ref)
    raws: dict[str, Mapping[str, Any]] = {
        q.id: question_types.get(q.type).initial(q, stored.get(q.id))
        for q in page_definition.questions
        if q.type != "file"
    }
    errors: list[Any] = []
    address_choices: dict[str, list[tuple[str, str]]] = {}
    if request.method == "POST":
        # A body over the upload limit never gets here: documents' UploadLimitMiddleware
        # answers it with a 413 page naming the limit, before the CSRF check reads it.
        data = dict(request.POST.lists())
        uploads = request.FILES
        action = str(data.get("action", ["continue"])[-1])
        outcome = _page_post(
            request,
            draft,
            definition,
            ref,
            page_definition,
            data,
            uploads,
            action,
            back_to_check=back_to_check,
            language=language,
        )
        if isinstance(outcome, HttpResponse):
            return outcome
        errors, parsed_raws, address_choices = outcome
        raws.update(parsed_raws)
    file_rows = _file_rows(request, draft, ref, page_definition)
    heading = len(page_definition.questions) == 1
    widgets = [
        selectors.widget_context(
            q,
            raw=raws.get(q.id, {}),
            errors=[e for e in errors if e.field == q.id or e.field.startswith(f"{q.id}-")],
            language=language,
            heading=heading,
            address_choices=address_choices.get(q.id),
            files=file_rows.get(q.id),
        )
        for q in page_definition.questions
    ]
    previous = engine.previous_step(definition, draft.answers, ref)
    return render(
        request,
        "forms/page.html",
        {
            "draft": draft,
            "title": definition.title.get(language),
            "page_title": page_definition.title.get(language),
            "heading": heading,
            "widgets": widgets,
            "errors": errors,
            "multipart": any(q.type == "file" for q in page_definition.questions),
            "has_lookup": any(q.type == "address" for q in page_definition.questions),
            "back_url": (
                reverse("forms:check-answers", kwargs={"draft_id": draft.pk})
                if back_to_check
                else (_step_url(draft, previous) if previous else _overview_url(draft))
            ),
            "item_label": _item_label(definition, ref, language),
            "action_url": request.get_full_path(),
        },
    )


def _overview_url(draft: Draft) -> str:
    return reverse("forms:draft", kwargs={"draft_id": draft.pk})


def _item_label(definition: FormDefinition, ref: engine.PageRef, language: str) -> str:
    if ref.group_id is None or ref.index is None:
        return ""
    group = definition.group(ref.group_id)
    return f"{group.item_label.get(language)} {ref.index + 1}"


def _page_post(
    request: HttpRequest,
    draft: Draft,
    definition: FormDefinition,
    ref: engine.PageRef,
    page_definition: Page,
    data: dict[str, list[str]],
    uploads: Any,
    action: str,
    *,
    back_to_check: bool,
    language: str,
) -> (
    HttpResponse | tuple[list[Any], dict[str, Mapping[str, Any]], dict[str, list[tuple[str, str]]]]
):
    questions = {q.id: q for q in page_definition.questions}
    here = request.get_full_path()
    holder_keys = _holder_keys(request, draft)
    if action.startswith("lookup:"):
        question = questions.get(action.removeprefix("lookup:"))
        if question is None or question.type != "address":
            raise ValidationFailed()
        result = question_types.get("address").parse(question, data, language)
        postcode = str(data.get(f"{question.id}-postcode", [""])[-1])
        found = address_lookup(postcode)
        choices = [(str(i), ", ".join(filter(None, a.values()))) for i, a in enumerate(found)]
        lookup_errors = (
            []
            if found
            else [
                FieldError(
                    field=f"{question.id}-postcode",
                    message=_(
                        "No addresses found for that postcode. "
                        "Check it or enter the address manually."
                    ),
                )
            ]
        )
        request.session[f"forms.lookup.{question.id}"] = found
        return lookup_errors, {question.id: result.raw}, {question.id: choices}
    if action.startswith("upload:"):
        question = questions.get(action.removeprefix("upload:"))
        if question is None or question.type != "file":
            raise ValidationFailed()
        upload = uploads.get(f"{question.id}-upload") if uploads else None
        if upload is None:
            return (
                [FieldError(field=question.id, message=_("Select a file to upload"))],
                {},
                {},
            )
        try:
            services.draft_file_add(
                draft=draft,
                step=ref,
                question_id=question.id,
                upload=upload,
                holder_keys=holder_keys,
                actor=request.user,
            )
        except CivicstackError as error:
            message = str(error.message)
            for messages in error.field_errors.values():
                message = str(messages[0]) if messages else message
            return [FieldError(field=question.id, message=message)], {}, {}
        return HttpResponseRedirect(here)
    if action.startswith("remove:"):
        question_id, _sep, document_id = action.removeprefix("remove:").partition(":")
        if question_id not in questions:
            raise ValidationFailed()
        services.draft_file_remove(
            draft=draft,
            step=ref,
            question_id=question_id,
            document_id=document_id,
            holder_keys=holder_keys,
            actor=request.user,
        )
        return HttpResponseRedirect(here)
    # Continue, or save and come back later: take the page's answers first.
    errors: list[Any] = []
    values: dict[str, Any] = {}
    raws: dict[str, Mapping[str, Any]] = {}
    stored = _page_values(draft, ref)
    for question in page_definition.questions:
        kind = question_types.get(question.type)
        if question.type == "file":
            value = stored.get(question.id) or []
            errors.extend(kind.check(question, value, language))
            continue
        picked = _picked_address(request, question, data)
        if picked is not None:
            data = {**data, **picked}
        result = kind.parse(question, data, language)
        raws[question.id] = result.raw
        if result.errors:
            errors.extend(result.errors)
        else:
            values[question.id] = result.value
    if errors:
        return errors, raws, {}
    draft = services.draft_answers_save(draft=draft, step=ref, values=values, actor=request.user)
    if action == "save":
        return HttpResponseRedirect(reverse("forms:save", kwargs={"draft_id": draft.pk}))
    if back_to_check and engine.first_incomplete(definition, draft.answers) is None:
        return HttpResponseRedirect(reverse("forms:check-answers", kwargs={"draft_id": draft.pk}))
    following = engine.next_step(definition, draft.answers, ref)
    if following is None and definition.sections:
        return HttpResponseRedirect(reverse("forms:draft", kwargs={"draft_id": draft.pk}))
    return HttpResponseRedirect(_step_url(draft, following))


def _picked_address(
    request: HttpRequest, question: Question, data: Mapping[str, list[str]]
) -> dict[str, list[str]] | None:
    """Turn an address chosen from the lookup list into the manual fields, if one was chosen."""
    if question.type != "address":
        return None
    choice = str(data.get(f"{question.id}-choice", [""])[-1])
    found = request.session.get(f"forms.lookup.{question.id}")
    if not (choice.isascii() and choice.isdecimal()) or not isinstance(found, list):
        return None
    if int(choice) >= len(found):
        return None
    address = found[int(choice)]
    if not isinstance(address, dict):
        return None
    return {
        f"{question.id}-{part}": [str(address.get(part, ""))]
        for part in ("line1", "line2", "town", "county", "postcode")
    }


def _file_rows(
    request: HttpRequest, draft: Draft, ref: engine.PageRef, page_definition: Page
) -> dict[str, list[Any]]:
    stored = _page_values(draft, ref)
    rows: dict[str, list[Any]] = {}
    for question in page_definition.questions:
        if question.type != "file":
            continue
        ids = [str(i) for i in stored.get(question.id) or [] if isinstance(i, str)]
        found = {
            str(doc.pk): doc
            for doc in documents.documents_for_holder(
                holder_keys=_holder_keys(request, draft), owner=draft.user, ids=ids
            )
        }
        rows[question.id] = [found[i] for i in ids if i in found]
    return rows


def _group_summary(
    request: HttpRequest, draft: Draft, definition: FormDefinition, ref: engine.PageRef
) -> HttpResponse:
    """The "add another" page of a repeating group: what is in it, and whether to add more."""
    assert ref.group_id is not None
    group = definition.group(ref.group_id)
    language = current_language()
    items = draft.answers.get(group.id)
    items = items if isinstance(items, list) else []
    errors: list[Any] = []
    if request.method == "POST":
        choice = request.POST.get("add-another", "")
        if len(items) >= group.max:
            choice = "no"
        if choice == "yes":
            index = services.draft_group_item_add(
                draft=draft, group_id=group.id, actor=request.user
            )
            return HttpResponseRedirect(
                _step_url(draft, engine.PageRef(group.pages[0].id, group.id, index))
            )
        if choice == "no":
            if len(items) < group.min:
                errors.append(
                    FieldError(
                        field="add-another-yes",
                        message=_("Add at least %(count)s before you continue")
                        % {"count": group.min},
                    )
                )
            else:
                draft = services.draft_answers_save(
                    draft=draft, step=ref, values={}, actor=request.user
                )
                following = engine.next_step(definition, draft.answers, ref)
                if following is None and definition.sections:
                    return HttpResponseRedirect(
                        reverse("forms:draft", kwargs={"draft_id": draft.pk})
                    )
                return HttpResponseRedirect(_step_url(draft, following))
        else:
            errors.append(
                FieldError(
                    field="add-another-yes", message=_("Select yes if you need to add another")
                )
            )
    summary_question = definition.question(group.summary_question)
    rows = []
    for index, item in enumerate(items):
        value = item.get(group.summary_question) if isinstance(item, dict) else None
        shown = (
            question_types.get(summary_question.type).display(summary_question, value, language)
            if value not in (None, "", [])
            else _("Not finished")
        )
        first = engine.PageRef(group.pages[0].id, group.id, index)
        rows.append(
            {
                "index": index,
                "label": f"{group.item_label.get(language)} {index + 1}",
                "value": shown if isinstance(shown, str) else ", ".join(shown),
                "change_url": _step_url(draft, first),
                "remove_url": reverse(
                    "forms:remove-item",
                    kwargs={"draft_id": draft.pk, "step": f"{group.id}.{index}"},
                ),
            }
        )
    previous = engine.previous_step(definition, draft.answers, ref)
    return render(
        request,
        "forms/group_summary.html",
        {
            "draft": draft,
            "title": definition.title.get(language),
            "group_title": group.title.get(language),
            "item_label": group.item_label.get(language),
            "rows": rows,
            "can_add": len(items) < group.max,
            "errors": errors,
            "back_url": _step_url(draft, previous) if previous else _overview_url(draft),
        },
    )


@require_http_methods(["GET", "POST"])
def remove_item(request: HttpRequest, draft_id: Any, step: str) -> HttpResponse:
    """Confirm, then remove one item of a repeating group (and its files)."""
    draft = _draft(request, draft_id)
    definition = selectors.definition_of(version=draft.form_version)
    group_id, _sep, index_text = step.partition(".")
    group = _group_or_404(definition, group_id)
    items = draft.answers.get(group.id)
    if not (index_text.isascii() and index_text.isdecimal()) or not isinstance(items, list):
        raise NotFound()
    if int(index_text) >= len(items):
        raise NotFound()
    index = int(index_text)
    summary_url = _step_url(draft, engine.PageRef(group.id, group.id, None))
    language = current_language()
    errors: list[Any] = []
    if request.method == "POST":
        choice = request.POST.get("confirm", "")
        if choice == "yes":
            services.draft_group_item_remove(
                draft=draft,
                group_id=group.id,
                index=index,
                holder_keys=_holder_keys(request, draft),
                actor=request.user,
            )
            return HttpResponseRedirect(summary_url)
        if choice == "no":
            return HttpResponseRedirect(summary_url)
        errors.append(
            FieldError(field="confirm-yes", message=_("Select yes if you want to remove it"))
        )
    return render(
        request,
        "forms/remove_item.html",
        {
            "draft": draft,
            "title": definition.title.get(language),
            "label": f"{group.item_label.get(language)} {index + 1}",
            "errors": errors,
            "back_url": summary_url,
        },
    )


def _group_or_404(definition: FormDefinition, group_id: str) -> Any:
    try:
        return definition.group(group_id)
    except (KeyError, LookupError) as error:
        raise NotFound() from error


def check_answers(request: HttpRequest, draft_id: Any) -> HttpResponse:
    """Check your answers, with a change link for each that returns here."""
    draft = _draft(request, draft_id)
    definition = selectors.definition_of(version=draft.form_version)
    incomplete = engine.first_incomplete(definition, draft.answers)
    if incomplete is not None:
        return HttpResponseRedirect(_step_url(draft, incomplete))
    language = current_language()
    sections = answers_sections(
        draft, definition, language, change=True, file_names=_draft_file_names(request, draft)
    )
    return render(
        request,
        "forms/check_answers.html",
        {
            "draft": draft,
            "title": definition.title.get(language),
            "sections": sections,
            "back_url": reverse("forms:draft", kwargs={"draft_id": draft.pk})
            if definition.sections
            else _step_url(draft, engine.route(definition, draft.answers)[-1]),
        },
    )


def answers_sections(
    record: Any,
    definition: FormDefinition,
    language: str,
    *,
    change: bool,
    file_names: Mapping[str, str],
) -> list[dict[str, Any]]:
    """Return check-your-answers sections as rows to render (group items flattened)."""

    def lines(row: Any) -> list[str]:
        question = None
        if row.question_id and not row.items:
            question = definition.question(row.question_id)
        if question is not None and question.type == "file":
            place = record.answers
            ref = row.change_ref
            if ref.group_id is not None and ref.index is not None:
                items = record.answers.get(ref.group_id) or []
                place = items[ref.index] if ref.index < len(items) else {}
            ids = place.get(question.id) if isinstance(place, dict) else None
            if isinstance(ids, list) and ids:
                return [file_names.get(str(i), _("File")) for i in ids]
        return list(row.value) if isinstance(row.value, list) else [str(row.value)]

    def link(row: Any) -> str | None:
        if not change or row.change_ref is None:
            return None
        return _step_url(record, row.change_ref, back_to_check=True)

    sections = []
    for section in engine.answers_summary(definition, record.answers, language):
        rows = []
        for row in section.rows:
            rows.append({"label": row.label, "lines": lines(row), "change_url": link(row)})
            for detail in row.items:
                rows.append(
                    {
                        "label": f"{row.label}: {detail.label}",
                        "lines": lines(detail),
                        "change_url": link(detail),
                    }
                )
        sections.append({"title": section.title, "rows": rows})
    return sections


def _draft_file_names(request: HttpRequest, draft: Draft) -> dict[str, str]:
    definition = selectors.definition_of(version=draft.form_version)
    ids = [doc for _path, doc in engine.files_in_answers(definition, draft.answers)]
    if not ids:
        return {}
    return {
        str(doc.pk): doc.filename
        for doc in documents.documents_for_holder(
            holder_keys=_holder_keys(request, draft), owner=draft.user, ids=ids
        )
    }


@require_http_methods(["GET", "POST"])
def declaration(request: HttpRequest, draft_id: Any) -> HttpResponse:
    """The declaration, and the button that sends the application."""
    sent = selectors.application_from_draft(
        draft_id=draft_id,
        user=request.user,
        session_applications=_session_list(request, SESSION_APPLICATIONS),
    )
    if sent is not None:
        # A double click or a retried POST: the first request already sent it.
        return HttpResponseRedirect(
            reverse("forms:confirmation", kwargs={"application_id": sent.pk})
        )
    draft = _draft(request, draft_id)
    # Checked again before sending: the session may have been stepped up at the start and
    # ended since, or the service's level raised while the draft was open.
    step_up = _level_redirect(request, draft.service)
    if step_up is not None:
        return step_up
    definition = selectors.definition_of(version=draft.form_version)
    language = current_language()
    errors: list[FieldError] = []
    if request.method == "POST":
        try:
            application = services.application_submit(
                draft=draft,
                holder_keys=_holder_keys(request, draft),
                actor=request.user,
                represented=identity.acting_for(request),
            )
        except ValidationFailed as error:
            incomplete = engine.first_incomplete(definition, draft.answers)
            if incomplete is not None:
                return HttpResponseRedirect(_step_url(draft, incomplete))
            # Complete but still refused (a file that can no longer be attached, say):
            # say why here rather than sending the person round in a circle.
            messages = [str(m) for ms in error.field_errors.values() for m in ms]
            errors = [
                FieldError(field="main-content", message=message)
                for message in (messages or [str(error.message)])
            ]
        else:
            _session_add(request, SESSION_APPLICATIONS, str(application.pk))
            return HttpResponseRedirect(
                reverse("forms:confirmation", kwargs={"application_id": application.pk})
            )
    elif engine.first_incomplete(definition, draft.answers) is not None:
        return HttpResponseRedirect(reverse("forms:check-answers", kwargs={"draft_id": draft.pk}))
    return render(
        request,
        "forms/declaration.html",
        {
            "draft": draft,
            "title": definition.title.get(language),
            "declaration": definition.declaration.get(language),
            "back_url": reverse("forms:check-answers", kwargs={"draft_id": draft.pk}),
            "errors": errors,
        },
        status=400 if errors else 200,
    )


@require_http_methods(["GET", "POST"])
def save_and_return(request: HttpRequest, draft_id: Any) -> HttpResponse:
    """Saved: signed-in people come back from their dashboard; others get a link by email."""
    draft = _draft(request, draft_id)
    definition = selectors.definition_of(version=draft.form_version)
    language = current_language()
    errors: list[Any] = []
    sent = False
    email = draft.email
    if request.method == "POST" and draft.user_id is None:
        email = request.POST.get("email", "")[:300]
        try:
            services.draft_link_send(draft=draft, email=email, actor=request.user)
            sent = True
        except (ValidationFailed, RateLimited) as error:
            messages = [str(m) for ms in error.field_errors.values() for m in ms]
            errors = [
                FieldError(field="email", message=message)
                for message in (messages or [str(error.message)])
            ]
    return render(
        request,
        "forms/saved.html",
        {
            "draft": draft,
            "title": definition.title.get(language),
            "signed_in": draft.user_id is not None,
            "sent": sent,
            "email": email,
            "errors": errors,
        },
    )


@require_http_methods(["GET", "POST"])
def delete_draft(request: HttpRequest, draft_id: Any) -> HttpResponse:
    """Confirm, then delete a draft and its uploads."""
    draft = _draft(request, draft_id)
    errors: list[Any] = []
    if request.method == "POST":
        choice = request.POST.get("confirm", "")
        if choice == "yes":
            services.draft_delete(draft=draft, actor=request.user)
            return HttpResponseRedirect(
                reverse("forms:dashboard")
                if request.user.is_authenticated
                else reverse("portal:home")
            )
        if choice == "no":
            return HttpResponseRedirect(reverse("forms:draft", kwargs={"draft_id": draft.pk}))
        errors.append(
            FieldError(field="confirm-yes", message=_("Select yes if you want to delete it"))
        )
    return render(request, "forms/delete_draft.html", {"draft": draft, "errors": errors})


def confirmation(request: HttpRequest, application_id: Any) -> HttpResponse:
    """Application complete: the reference and what happens next."""
    application = selectors.application_for_confirmation(
        application_id=application_id,
        user=request.user,
        session_applications=_session_list(request, SESSION_APPLICATIONS),
    )
    if application is None:
        raise NotFound()
    definition = selectors.definition_of(version=application.form_version)
    return render(
        request,
        "forms/confirmation.html",
        {
            "application": application,
            "title": definition.title.get(current_language()),
            "next_steps": definition.confirmation.get(current_language()),
        },
    )
