"""The form engine: which pages apply, in what order, what is missing, and what to show.

Answers are plain JSON::

    {"has_vehicle": "yes", "registration_number": "KB12 ABC",
     "household": [{"member_name": "Sam", "member_income": 12000}, ...]}

Top-level questions map to their values; a repeating group maps to a list with one mapping
per item. A page applies when its ``when`` condition holds over the answers of the pages that
apply before it (so an answer left behind on a page that no longer applies never steers the
route). A group appears in the route as a "group summary" step, ``PageRef(group_id,
group_id, None)``, where the person adds items or says they have finished, followed by one
step per item page; item indexes count from 0 (``household.0.member_details``).

Every function takes answers from storage or from the API as they are: none of them raises
on malformed answers.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from civicstack.forms.conditions import answer_given, condition_evaluate, condition_questions
from civicstack.forms.definition import FormDefinition, Group, Page, Question, Section
from civicstack.forms.questions import FieldError as FieldError  # re-exported for the runner
from civicstack.forms.questions import question_check, question_clean, question_display

#: Most items of a group the engine looks at (the schema's largest ``max``).
MAX_GROUP_ITEMS: Final = 100

TaskState = Literal["not_started", "in_progress", "completed", "cannot_start"]


@dataclass(frozen=True)
class PageRef:
    """A step of the form: a page, a page of one group item, or a group's summary step."""

    page_id: str
    group_id: str | None = None
    index: int | None = None

    @property
    def key(self) -> str:
        """Return the step as text: "vehicle", "household" (summary), "household.2.details"."""
        if self.group_id is None or self.index is None:
            return self.page_id
        return f"{self.group_id}.{self.index}.{self.page_id}"

    @property
    def is_group_summary(self) -> bool:
        """Return True for a group's summary step."""
        return self.group_id is not None and self.index is None


@dataclass(frozen=True)
class SummaryRow:
    """One row of check your answers; a group item's row lists the item's answers in ``items``."""

    label: str
    value: str | list[str]
    change_ref: PageRef
    question_id: str | None = None
    items: tuple[SummaryRow, ...] = ()


@dataclass(frozen=True)
class SummarySection:
    """Rows of check your answers under a section heading (None when the form has none)."""

    title: str | None
    rows: tuple[SummaryRow, ...]
    section_id: str | None = None


@dataclass(frozen=True)
class TaskStatus:
    """A task list entry: a section, its status and the step to go to (None: nothing to do)."""

    section: Section
    status: TaskState
    first_ref: PageRef | None


@dataclass
class _Walk:
    """The applicable steps, and the answers that belong to them."""

    steps: list[tuple[PageRef, Page | None]] = field(default_factory=list)
    answers: dict[str, Any] = field(default_factory=dict)


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _applies(
    condition: object, answers: Mapping[str, Any], item: Mapping[str, Any] | None = None
) -> bool:
    return condition is None or condition_evaluate(condition, answers, item)


def _walk(definition: FormDefinition, answers: object) -> _Walk:
    source = _mapping(answers)
    walk = _Walk()
    kept = walk.answers
    for entry in definition.items:
        if isinstance(entry, Group):
            if not _applies(entry.when, kept):
                continue
            walk.steps.append((PageRef(entry.id, entry.id, None), None))
            raw_items = source.get(entry.id)
            if not isinstance(raw_items, list):
                continue
            items: list[dict[str, Any]] = []
            for index, raw_item in enumerate(raw_items[:MAX_GROUP_ITEMS]):
                item_source = _mapping(raw_item)
                item: dict[str, Any] = {}
                for page in entry.pages:
                    if not _applies(page.when, kept, item):
                        continue
                    walk.steps.append((PageRef(page.id, entry.id, index), page))
                    for question in page.questions:
                        if item_source.get(question.id) is not None:
                            item[question.id] = item_source[question.id]
                items.append(item)
            kept[entry.id] = items
        elif _applies(entry.when, kept):
            walk.steps.append((PageRef(entry.id), entry))
            for question in entry.questions:
                if source.get(question.id) is not None:
                    kept[question.id] = source[question.id]
    return walk


def route(definition: FormDefinition, answers: object) -> list[PageRef]:
    """Return the steps that apply, in order, given the answers so far."""
    return [ref for ref, _page in _walk(definition, answers).steps]


def _position(definition: FormDefinition, ref: PageRef) -> int:
    """Return the index of the top-level item (page or group) a step belongs to, or -1."""
    target = ref.group_id if ref.group_id is not None else ref.page_id
    for index, entry in enumerate(definition.items):
        if entry.id == target:
            return index
    return -1


def _top_level(refs: Iterable[PageRef]) -> list[PageRef]:
    return [ref for ref in refs if ref.index is None]


def first_step(definition: FormDefinition, answers: object) -> PageRef | None:
    """Return the first step of the form."""
    refs = route(definition, answers)
    return refs[0] if refs else None


def next_step(definition: FormDefinition, answers: object, current: PageRef) -> PageRef | None:
    """Return the step after ``current``; None means check your answers.

    After a group item's last page comes the group's summary step; after the summary comes
    whatever follows the group (the summary is where more items are added).
    """
    refs = route(definition, answers)
    if current.group_id is not None and current.index is not None:
        following = _next_in_item(definition, refs, current)
        if following is not None:
            return following
        summary = PageRef(current.group_id, current.group_id, None)
        if summary in refs:
            return summary
    top = _top_level(refs)
    if current in top:
        position = top.index(current)
        return top[position + 1] if position + 1 < len(top) else None
    here = _position(definition, current)
    return next((ref for ref in top if _position(definition, ref) > here), None)


def _next_in_item(
    definition: FormDefinition, refs: list[PageRef], current: PageRef
) -> PageRef | None:
    same = [ref for ref in refs if ref.group_id == current.group_id and ref.index == current.index]
    if current in same:
        position = same.index(current)
        return same[position + 1] if position + 1 < len(same) else None
    order = _group_page_order(definition, current.group_id)
    here = order.get(current.page_id, -1)
    return next((ref for ref in same if order.get(ref.page_id, -1) > here), None)


def _group_page_order(definition: FormDefinition, group_id: str | None) -> dict[str, int]:
    try:
        group = definition.group(group_id or "")
    except KeyError:
        return {}
    return {page.id: index for index, page in enumerate(group.pages)}


def previous_step(definition: FormDefinition, answers: object, current: PageRef) -> PageRef | None:
    """Return the step before ``current`` for a back link; None before the first step."""
    refs = route(definition, answers)
    if current.group_id is not None and current.index is not None:
        same = [
            ref for ref in refs if ref.group_id == current.group_id and ref.index == current.index
        ]
        order = _group_page_order(definition, current.group_id)
        here = order.get(current.page_id, len(order))
        earlier = [ref for ref in same if order.get(ref.page_id, -1) < here]
        if earlier:
            return earlier[-1]
        return PageRef(current.group_id, current.group_id, None)
    top = _top_level(refs)
    if current in top:
        position = top.index(current)
        return top[position - 1] if position > 0 else None
    here = _position(definition, current)
    before = [ref for ref in top if _position(definition, ref) < here]
    return before[-1] if before else None


def group_item_first_step(
    definition: FormDefinition, answers: object, group_id: str, index: int
) -> PageRef | None:
    """Return the first page of item ``index`` of a group, including a new item being added."""
    try:
        group = definition.group(group_id)
    except KeyError:
        return None
    kept = _walk(definition, answers).answers
    items = kept.get(group_id)
    item = items[index] if isinstance(items, list) and 0 <= index < len(items) else {}
    for page in group.pages:
        if _applies(page.when, kept, item):
            return PageRef(page.id, group_id, index)
    return None


def pageref_from_key(definition: FormDefinition, key: str) -> PageRef | None:
    """Return the step named by ``key`` ("vehicle", "household", "household.0.member_details").

    Returns None when the key names no page of the definition. Whether the step applies to
    the answers is a separate question: see ``route``.
    """
    if not isinstance(key, str) or len(key) > 120:
        return None
    parts = key.split(".")
    if len(parts) == 1:
        try:
            definition.group(key)
        except KeyError:
            pass
        else:
            return PageRef(key, key, None)
        try:
            definition.page(key)
        except KeyError:
            return None
        return PageRef(key) if definition.group_of_page(key) is None else None
    if len(parts) != 3 or not parts[1].isdigit() or len(parts[1]) > 3:
        return None
    group_id, index_text, page_id = parts
    group = definition.group_of_page(page_id) if _has_page(definition, page_id) else None
    if group is None or group.id != group_id or int(index_text) >= MAX_GROUP_ITEMS:
        return None
    return PageRef(page_id, group_id, int(index_text))


def _has_page(definition: FormDefinition, page_id: str) -> bool:
    try:
        definition.page(page_id)
    except KeyError:
        return False
    return True


# --- Completeness ----------------------------------------------------------------------------


def _page_complete(page: Page, values: Mapping[str, Any]) -> bool:
    return all(
        not question_check(question, values.get(question.id), "en") for question in page.questions
    )


def _incomplete(definition: FormDefinition, walk: _Walk) -> list[PageRef]:
    """Return every incomplete step in order; a group's summary follows its items' pages."""
    found: list[PageRef] = []
    pending: tuple[PageRef, Group] | None = None

    def flush() -> None:
        nonlocal pending
        if pending is not None:
            ref, group = pending
            items = walk.answers.get(group.id)
            count = len(items) if isinstance(items, list) else 0
            if not group.min <= count <= group.max:
                found.append(ref)
            pending = None

    for ref, page in walk.steps:
        if pending is not None and ref.group_id != pending[1].id:
            flush()
        if page is None:
            pending = (ref, definition.group(ref.page_id))
            continue
        if ref.index is not None and ref.group_id is not None:
            items = walk.answers.get(ref.group_id)
            values: Mapping[str, Any] = (
                items[ref.index] if isinstance(items, list) and ref.index < len(items) else {}
            )
        else:
            values = walk.answers
        if not _page_complete(page, values):
            found.append(ref)
    flush()
    return found


def first_incomplete(definition: FormDefinition, answers: object) -> PageRef | None:
    """Return the first step with a required answer missing or a stored answer not valid.

    A group whose number of items is outside min..max is incomplete at its summary step.
    Returns None when the form is complete.
    """
    found = _incomplete(definition, _walk(definition, answers))
    return found[0] if found else None


def answers_prune(definition: FormDefinition, answers: object) -> dict[str, Any]:
    """Return the answers of the steps that apply: no skipped pages' answers, no unknown keys."""
    return _walk(definition, answers).answers


# --- Validation ------------------------------------------------------------------------------


def answers_clean(
    definition: FormDefinition, answers: object, language: str
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Return (normalised answers of the steps that apply, errors by answer key).

    Keys of errors: "vehicle_make", "household[1].member_name", "household" (number of items
    or shape), "" (answers not an object). Unknown keys are errors too. Never raises.
    """
    with translation.override(language):
        return _answers_clean(definition, answers, language)


def _answers_clean(
    definition: FormDefinition, answers: object, language: str
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    errors: dict[str, list[str]] = {}
    if not isinstance(answers, Mapping):
        return {}, {"": [_("Answers must be an object of question ids and answers")]}
    known = {question.id for question in definition.questions()} | {
        entry.id for entry in definition.items if isinstance(entry, Group)
    }
    for key in answers:
        if not isinstance(key, str) or key not in known:
            errors[str(key)[:100]] = [_("There is no question with this id")]
    walk = _walk(definition, answers)
    cleaned: dict[str, Any] = {}
    for ref, page in walk.steps:
        if page is None:
            group = definition.group(ref.page_id)
            cleaned_items = _clean_group_shape(group, answers.get(group.id), errors)
            if cleaned_items is not None:
                cleaned[group.id] = cleaned_items
            continue
        if ref.group_id is not None and ref.index is not None:
            raw_items = answers.get(ref.group_id)
            raw_item = raw_items[ref.index] if isinstance(raw_items, list) else None
            if not isinstance(raw_item, Mapping):
                continue
            target = cleaned[ref.group_id][ref.index]
            for question in page.questions:
                value, found = question_clean(question, raw_item.get(question.id), language)
                key = f"{ref.group_id}[{ref.index}].{question.id}"
                _record(errors, key, found)
                if not found and value is not None:
                    target[question.id] = value
            continue
        for question in page.questions:
            value, found = question_clean(question, answers.get(question.id), language)
            _record(errors, question.id, found)
            if not found and value is not None:
                cleaned[question.id] = value
    return cleaned, errors


def _record(errors: dict[str, list[str]], key: str, found: list[Any]) -> None:
    if found:
        errors.setdefault(key, []).extend(error.message for error in found)


def _clean_group_shape(
    group: Group, raw: object, errors: dict[str, list[str]]
) -> list[dict[str, Any]] | None:
    if raw is not None and not isinstance(raw, list):
        errors.setdefault(group.id, []).append(_("Give a list of items"))
        return None
    items = raw if isinstance(raw, list) else []
    count = len(items)
    if count < group.min:
        errors.setdefault(group.id, []).append(
            ngettext("Add at least %(count)s item", "Add at least %(count)s items", group.min)
            % {"count": group.min}
        )
    elif count > group.max:
        errors.setdefault(group.id, []).append(
            ngettext(
                "You can add up to %(count)s item", "You can add up to %(count)s items", group.max
            )
            % {"count": group.max}
        )
    known = {question.id for question in group.questions()}
    cleaned: list[dict[str, Any]] = []
    for index, item in enumerate(items[:MAX_GROUP_ITEMS]):
        if not isinstance(item, Mapping):
            errors.setdefault(f"{group.id}[{index}]", []).append(_("Give each item as an object"))
        else:
            for key in item:
                if not isinstance(key, str) or key not in known:
                    errors.setdefault(f"{group.id}[{index}].{str(key)[:100]}", []).append(
                        _("There is no question with this id")
                    )
        cleaned.append({})
    return cleaned if raw is not None else None


def answers_validate(
    definition: FormDefinition, answers: object, language: str
) -> dict[str, list[str]]:
    """Return every problem with the answers, for submission and the API ({} when none)."""
    return answers_clean(definition, answers, language)[1]


# --- Check your answers and the task list ----------------------------------------------------


def answers_summary(
    definition: FormDefinition, answers: object, language: str
) -> list[SummarySection]:
    """Return check your answers: the answers of the applicable steps, by section."""
    with translation.override(language):
        walk = _walk(definition, answers)
        rows_by_section: dict[str | None, list[SummaryRow]] = {}
        for ref, page in walk.steps:
            if page is None:
                group = definition.group(ref.page_id)
                rows_by_section.setdefault(group.section, []).extend(
                    _group_rows(definition, group, walk, ref, language)
                )
            elif ref.index is None:
                rows_by_section.setdefault(page.section, []).extend(
                    _question_row(question, walk.answers.get(question.id), ref, language)
                    for question in page.questions
                )
        if not definition.sections:
            return [SummarySection(None, tuple(rows_by_section.get(None, [])))]
        return [
            SummarySection(
                section.title.get(language), tuple(rows_by_section[section.id]), section.id
            )
            for section in definition.sections
            if rows_by_section.get(section.id)
        ]


def _question_row(question: Question, value: object, ref: PageRef, language: str) -> SummaryRow:
    shown = question_display(question, value, language)
    if shown in ("", []):
        shown = _("Not provided")
    return SummaryRow(question.label.get(language), shown, ref, question.id)


def _group_rows(
    definition: FormDefinition, group: Group, walk: _Walk, summary: PageRef, language: str
) -> list[SummaryRow]:
    items = walk.answers.get(group.id)
    items = items if isinstance(items, list) else []
    if not items:
        return [SummaryRow(group.title.get(language), _("None added"), summary, group.id)]
    item_refs: dict[int, list[tuple[PageRef, Page]]] = {}
    for ref, page in walk.steps:
        if ref.group_id == group.id and ref.index is not None and page is not None:
            item_refs.setdefault(ref.index, []).append((ref, page))
    name_question = definition.question(group.summary_question)
    rows: list[SummaryRow] = []
    for index, item in enumerate(items):
        details = [
            _question_row(question, item.get(question.id), ref, language)
            for ref, page in item_refs.get(index, [])
            for question in page.questions
        ]
        change = next(
            (ref for ref, page in item_refs.get(index, []) if name_question in page.questions),
            item_refs[index][0][0] if item_refs.get(index) else summary,
        )
        name = question_display(name_question, item.get(name_question.id), language)
        label = f"{group.item_label.get(language)} {index + 1}"
        rows.append(
            SummaryRow(
                label,
                name if name not in ("", []) else _("Not provided"),
                change,
                group.id,
                tuple(details),
            )
        )
    return rows


def _section_of(definition: FormDefinition, ref: PageRef) -> str | None:
    if ref.group_id is not None:
        return definition.group(ref.group_id).section
    return definition.page(ref.page_id).section


def task_list(definition: FormDefinition, answers: object) -> list[TaskStatus]:
    """Return the task list: each section's status and where to go; [] without sections.

    A section cannot start while its pages depend on answers in an earlier section that is
    not completed. It is completed when everything in it is answered and valid, in progress
    when something is answered, and not started otherwise.
    """
    if not definition.sections:
        return []
    walk = _walk(definition, answers)
    incomplete = _incomplete(definition, walk)
    question_section: dict[str, str | None] = {}
    for entry in definition.items:
        for page in entry.pages if isinstance(entry, Group) else (entry,):
            for question in page.questions:
                question_section[question.id] = entry.section
    statuses: dict[str, TaskState] = {}
    result: list[TaskStatus] = []
    for section in definition.sections:
        entries = [entry for entry in definition.items if entry.section == section.id]
        depends_on = set()
        for entry in entries:
            conditions: list[object] = [entry.when]
            if isinstance(entry, Group):
                conditions.extend(page.when for page in entry.pages)
            for condition in conditions:
                for question_id in condition_questions(condition):
                    depends_on.add(question_section.get(question_id))
        blocked = any(
            other is not None and other != section.id and statuses.get(other) != "completed"
            for other in depends_on
        )
        refs = [ref for ref, _page in walk.steps if _section_of(definition, ref) == section.id]
        first_ref = next((ref for ref in refs if ref.index is None), refs[0] if refs else None)
        missing = next(
            (ref for ref in incomplete if _section_of(definition, ref) == section.id), None
        )
        started = _section_started(definition, walk, refs)
        status: TaskState
        if blocked:
            status, first_ref = "cannot_start", None
        elif not started:
            status = "not_started" if refs else "completed"
        elif missing is not None:
            status, first_ref = "in_progress", missing
        else:
            status = "completed"
        statuses[section.id] = status
        result.append(TaskStatus(section, status, first_ref))
    return result


def _section_started(definition: FormDefinition, walk: _Walk, refs: list[PageRef]) -> bool:
    for ref in refs:
        if ref.is_group_summary:
            if walk.answers.get(ref.page_id):
                return True
            continue
        if ref.index is not None:
            continue
        page = definition.page(ref.page_id)
        if any(answer_given(walk.answers.get(question.id)) for question in page.questions):
            return True
    return False


# --- Precheck, prefill and files -------------------------------------------------------------


def precheck_evaluate(definition: FormDefinition, answers: object) -> bool:
    """Return True when the precheck answers make the person eligible (True without a precheck)."""
    if definition.precheck is None:
        return True
    source = _mapping(answers)
    valid = {
        question.id: source.get(question.id)
        for question in definition.precheck.questions
        if not question_check(question, source.get(question.id), "en")
    }
    return condition_evaluate(definition.precheck.eligible, valid)


def precheck_validate(
    definition: FormDefinition, answers: object, language: str
) -> dict[str, list[str]]:
    """Return the problems with the precheck answers, by question id ({} when none)."""
    if definition.precheck is None:
        return {}
    source = _mapping(answers)
    errors: dict[str, list[str]] = {}
    for question in definition.precheck.questions:
        _record(errors, question.id, question_check(question, source.get(question.id), language))
    return errors


def prefill_answers(definition: FormDefinition, profile: Mapping[str, object]) -> dict[str, Any]:
    """Return answers filled in from a person's profile for questions marked ``prefill``.

    Profile keys: full_name, email, phone (any UK format) and address (a mapping with line1,
    line2, town, county, postcode). Values that would not pass the question's checks are left
    out, so the person types them instead.
    """
    source = _mapping(profile)
    answers: dict[str, Any] = {}
    for entry in definition.items:
        if isinstance(entry, Group):
            continue
        for question in entry.questions:
            if question.prefill is None or source.get(question.prefill) is None:
                continue
            value, errors = question_clean(question, source[question.prefill], "en")
            if not errors and value is not None:
                answers[question.id] = value
    return answers


def files_in_answers(definition: FormDefinition, answers: object) -> list[tuple[str, str]]:
    """Return (answer path, document id) for every document in file answers, groups included.

    Paths look like "proof_of_address" or "household[1].proof_of_income". Answers are read
    as given; prune them first to leave out pages that no longer apply.
    """
    source = _mapping(answers)
    found: list[tuple[str, str]] = []
    for entry in definition.items:
        if isinstance(entry, Group):
            items = source.get(entry.id)
            if not isinstance(items, list):
                continue
            file_ids = [question.id for question in entry.questions() if question.type == "file"]
            for index, item in enumerate(items[:MAX_GROUP_ITEMS]):
                for question_id in file_ids:
                    found.extend(
                        (f"{entry.id}[{index}].{question_id}", document)
                        for document in _document_ids(_mapping(item).get(question_id))
                    )
        else:
            for question in entry.questions:
                if question.type == "file":
                    found.extend(
                        (question.id, document)
                        for document in _document_ids(source.get(question.id))
                    )
    return found


def _document_ids(value: object) -> list[str]:
    if not isinstance(value, list):
        return []
    ids: list[str] = []
    for item in value:
        if isinstance(item, str) and len(item) <= 40:
            try:
                ids.append(str(uuid.UUID(item)))
            except ValueError:
                continue
    return ids
