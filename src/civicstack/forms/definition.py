"""Form definitions as data: parse (YAML or JSON), validate, and load into frozen objects.

A service owner writes a form as YAML or JSON in the format documented by
``schema/form-definition.schema.json``. ``definition_from_text`` turns that text into the plain
data (stored with the service) and a :class:`FormDefinition` the runner and the engine use.

Validation runs in two passes: the JSON Schema checks the shape, then the semantic checks here
check the meaning (ids unique, sections exist, conditions look only backwards at questions of a
fitting type, rules fit the question type, patterns cannot backtrack catastrophically). Every
error carries a path such as ``pages[2].questions[0].rules.min`` and, when the text is known,
the line it is on.

Nothing here touches the database: the module is pure Python plus Django's translation
functions for the messages people read.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Final

import jsonschema
import yaml
from django.utils.translation import gettext as _
from jsonschema.exceptions import ValidationError, best_match

SCHEMA_PATH: Final = Path(__file__).resolve().parent / "schema" / "form-definition.schema.json"

#: Largest definition text accepted, in bytes of UTF-8.
MAX_DEFINITION_BYTES: Final = 500_000
#: Deepest nesting of mappings and lists accepted in a definition.
MAX_DEPTH: Final = 40
#: Longest ``pattern`` rule accepted (also enforced by the schema).
MAX_PATTERN_LENGTH: Final = 200

QUESTION_TYPES: Final[tuple[str, ...]] = (
    "text",
    "textarea",
    "number",
    "money",
    "date",
    "email",
    "phone",
    "address",
    "choice",
    "checkboxes",
    "yesno",
    "nino",
    "national_id",
    "file",
)

#: Rules each question type accepts.
RULES_BY_TYPE: Final[Mapping[str, frozenset[str]]] = {
    "text": frozenset({"min_length", "max_length", "pattern", "pattern_message"}),
    "textarea": frozenset({"min_length", "max_length"}),
    "number": frozenset({"min", "max"}),
    "money": frozenset({"min", "max"}),
    "date": frozenset({"min_date", "max_date"}),
    "checkboxes": frozenset({"min_selected", "max_selected"}),
    "file": frozenset({"max_files", "max_file_mb", "file_types", "allow_archives"}),
}
#: Longest answer allowed per type when the definition says nothing, and the ceiling it may set.
DEFAULT_MAX_LENGTH: Final[Mapping[str, int]] = {"text": 500, "textarea": 5000}
MAX_MAX_LENGTH: Final[Mapping[str, int]] = {"text": 2000, "textarea": 50000}

#: Profile fields a question may be filled in from, and the question type each one fits.
PREFILL_TYPES: Final[Mapping[str, str]] = {
    "full_name": "text",
    "email": "email",
    "phone": "phone",
    "address": "address",
}
PRECHECK_TYPES: Final = frozenset({"choice", "yesno", "number", "date"})
OPTION_TYPES: Final = frozenset({"choice", "checkboxes"})
FILE_KINDS: Final = frozenset({"pdf", "jpeg", "png", "webp", "zip"})
DEFAULT_FILE_KINDS: Final = frozenset({"pdf", "jpeg", "png"})
DEFAULT_MAX_FILES: Final = 1
DEFAULT_MAX_FILE_MB: Final = 10

#: A condition is plain data (see conditions.py); it is never code.
Condition = Mapping[str, Any]


# --- The loaded form -------------------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    """A text a person reads, in English and Welsh."""

    en: str
    cy: str

    def get(self, language: str) -> str:
        """Return the text in ``language`` ("cy" or "en"), falling back to English."""
        if language.lower().startswith("cy") and self.cy:
            return self.cy
        return self.en


@dataclass(frozen=True)
class Option:
    """One choice of a choice or checkboxes question."""

    value: str
    label: Text
    hint: Text | None = None


@dataclass(frozen=True)
class FileRules:
    """What a file question accepts: kinds of file, size of each, archives, number of files."""

    kinds: frozenset[str]
    max_bytes: int
    allow_archives: bool
    max_files: int


@dataclass(frozen=True)
class Question:
    """One question of a page; ``rules`` and ``messages`` are as written in the definition."""

    id: str
    type: str
    label: Text
    hint: Text | None = None
    required: bool = True
    options: tuple[Option, ...] = ()
    rules: Mapping[str, Any] = field(default_factory=dict)
    messages: Mapping[str, Text] = field(default_factory=dict)
    prefill: str | None = None

    @property
    def file_policy(self) -> FileRules:
        """Return the file rules, with defaults, of a file question."""
        kinds = frozenset(self.rules.get("file_types") or DEFAULT_FILE_KINDS)
        allow_archives = bool(self.rules.get("allow_archives", False))
        if not allow_archives:
            kinds = kinds - {"zip"}
        return FileRules(
            kinds=kinds,
            max_bytes=int(self.rules.get("max_file_mb", DEFAULT_MAX_FILE_MB)) * 1024 * 1024,
            allow_archives=allow_archives,
            max_files=int(self.rules.get("max_files", DEFAULT_MAX_FILES)),
        )

    def option(self, value: object) -> Option | None:
        """Return the option with ``value``, or None."""
        for option in self.options:
            if option.value == value:
                return option
        return None


@dataclass(frozen=True)
class Page:
    """One page of the form: a heading and (usually one) question."""

    id: str
    title: Text
    questions: tuple[Question, ...]
    when: Condition | None = None
    section: str | None = None


@dataclass(frozen=True)
class Group:
    """A repeating group: its pages are asked once per item; answers are a list of mappings."""

    id: str
    title: Text
    item_label: Text
    min: int
    max: int
    pages: tuple[Page, ...]
    when: Condition | None = None
    section: str | None = None
    summary_question: str = ""

    def questions(self) -> Iterator[Question]:
        """Yield the questions asked for each item, in order."""
        for page in self.pages:
            yield from page.questions


@dataclass(frozen=True)
class Section:
    """A task on the task list."""

    id: str
    title: Text


@dataclass(frozen=True)
class Precheck:
    """Eligibility questions asked before an application starts."""

    questions: tuple[Question, ...]
    eligible: Condition
    ineligible_message: Text

    def question(self, question_id: str) -> Question:
        """Return the precheck question with ``question_id`` (KeyError when unknown)."""
        for question in self.questions:
            if question.id == question_id:
                return question
        raise KeyError(question_id)


@dataclass(frozen=True)
class FormDefinition:
    """A loaded, valid form definition."""

    title: Text
    allow_anonymous: bool
    precheck: Precheck | None
    sections: tuple[Section, ...]
    items: tuple[Page | Group, ...]
    declaration: Text
    confirmation: Text
    _pages: dict[str, Page] = field(init=False, repr=False, compare=False)
    _groups: dict[str, Group] = field(init=False, repr=False, compare=False)
    _questions: dict[str, Question] = field(init=False, repr=False, compare=False)
    _page_group: dict[str, Group] = field(init=False, repr=False, compare=False)
    _question_page: dict[str, Page] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pages: dict[str, Page] = {}
        groups: dict[str, Group] = {}
        questions: dict[str, Question] = {}
        page_group: dict[str, Group] = {}
        question_page: dict[str, Page] = {}
        for item in self.items:
            if isinstance(item, Group):
                groups[item.id] = item
                for page in item.pages:
                    pages[page.id] = page
                    page_group[page.id] = item
            else:
                pages[item.id] = item
        for page in pages.values():
            for question in page.questions:
                questions[question.id] = question
                question_page[question.id] = page
        # The dataclass is frozen; these indexes are derived once, here.
        object.__setattr__(self, "_pages", pages)
        object.__setattr__(self, "_groups", groups)
        object.__setattr__(self, "_questions", questions)
        object.__setattr__(self, "_page_group", page_group)
        object.__setattr__(self, "_question_page", question_page)

    def page(self, page_id: str) -> Page:
        """Return the page with ``page_id``, searching groups too (KeyError when unknown)."""
        return self._pages[page_id]

    def group(self, group_id: str) -> Group:
        """Return the group with ``group_id`` (KeyError when unknown)."""
        return self._groups[group_id]

    def question(self, question_id: str) -> Question:
        """Return the question with ``question_id``, searching groups too (KeyError when unknown).

        Precheck questions have their own namespace: see ``Precheck.question``.
        """
        return self._questions[question_id]

    def group_of_page(self, page_id: str) -> Group | None:
        """Return the group a page belongs to, or None for a top-level page."""
        return self._page_group.get(page_id)

    def page_of_question(self, question_id: str) -> Page:
        """Return the page that asks ``question_id`` (KeyError when unknown)."""
        return self._question_page[question_id]

    def group_of_question(self, question_id: str) -> Group | None:
        """Return the group that asks ``question_id``, or None for a top-level question."""
        return self._page_group.get(self._question_page[question_id].id)

    def pages(self) -> tuple[Page, ...]:
        """Return every page in order, group pages included."""
        return tuple(self._pages.values())

    def questions(self) -> tuple[Question, ...]:
        """Return every question in order, group questions included (not the precheck)."""
        return tuple(self._questions.values())

    def file_questions(self) -> tuple[Question, ...]:
        """Return the file questions in order, group questions included."""
        return tuple(q for q in self._questions.values() if q.type == "file")


# --- Errors ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DefinitionError:
    """One problem in a definition: where (path, line when known) and what."""

    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = self.path or "(definition)"
        if self.line is not None:
            return f"line {self.line}: {where}: {self.message}"
        return f"{where}: {self.message}"


class DefinitionInvalid(ValueError):
    """A definition could not be parsed or is not valid; ``errors`` lists every problem."""

    def __init__(self, errors: Sequence[DefinitionError]) -> None:
        self.errors: list[DefinitionError] = list(errors)
        super().__init__("; ".join(str(error) for error in self.errors[:5]))


# --- Parsing ---------------------------------------------------------------------------------

_STR_TAG: Final = "tag:yaml.org,2002:str"
_MAP_TAG: Final = "tag:yaml.org,2002:map"
_SEQ_TAG: Final = "tag:yaml.org,2002:seq"
_BOOL_TAG: Final = "tag:yaml.org,2002:bool"
_TIMESTAMP_TAG: Final = "tag:yaml.org,2002:timestamp"
_SCALAR_TAGS: Final = frozenset(
    {
        _STR_TAG,
        _BOOL_TAG,
        "tag:yaml.org,2002:int",
        "tag:yaml.org,2002:float",
        "tag:yaml.org,2002:null",
    }
)


class _Refused(Exception):
    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


class _DefinitionLoader(yaml.SafeLoader):
    """A safe loader that refuses anchors and aliases (no "billion laughs").

    Booleans follow YAML 1.2 (only true/false), so an option value or a condition written
    ``equals: yes`` stays the string "yes" instead of silently becoming True.
    """

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise _Refused(
                _("Anchors and aliases (& and *) are not allowed"),
                event.start_mark.line + 1,
            )
        return super().compose_node(parent, index)


_DefinitionLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _BOOL_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_DefinitionLoader.add_implicit_resolver(
    _BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _node_data(
    loader: _DefinitionLoader, node: yaml.Node, path: str, lines: dict[str, int], depth: int
) -> Any:
    if depth > MAX_DEPTH:
        raise _Refused(_("The definition is nested too deeply"), node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        if node.tag != _MAP_TAG:
            raise _Refused(_("Custom tags are not allowed"), node.start_mark.line + 1)
        mapping: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag not in _SCALAR_TAGS:
                raise _Refused(_("Keys must be plain text"), key_node.start_mark.line + 1)
            key = str(key_node.value)
            if key in mapping:
                raise _Refused(
                    _("The key “%(key)s” appears twice") % {"key": key},
                    key_node.start_mark.line + 1,
                )
            child = _join(path, key)
            lines[child] = key_node.start_mark.line + 1
            mapping[key] = _node_data(loader, value_node, child, lines, depth + 1)
        return mapping
    if isinstance(node, yaml.SequenceNode):
        if node.tag != _SEQ_TAG:
            raise _Refused(_("Custom tags are not allowed"), node.start_mark.line + 1)
        items = []
        for index, item_node in enumerate(node.value):
            child = _join(path, index)
            lines[child] = item_node.start_mark.line + 1
            items.append(_node_data(loader, item_node, child, lines, depth + 1))
        return items
    if isinstance(node, yaml.ScalarNode):
        if node.tag == _TIMESTAMP_TAG:
            # Dates stay text ("2026-03-01"): the stored definition must be plain JSON.
            return node.value
        if node.tag not in _SCALAR_TAGS:
            raise _Refused(_("Custom tags are not allowed"), node.start_mark.line + 1)
        value = loader.construct_object(node)
        if isinstance(value, float) and value != value:  # NaN
            raise _Refused(_("Numbers must be finite"), node.start_mark.line + 1)
        return value
    raise _Refused(_("Unsupported YAML"), node.start_mark.line + 1)  # pragma: no cover


def _yaml_compose(text: str) -> tuple[Any, dict[str, int]]:
    """Return the data and path→line map of a YAML text (raises _Refused or yaml errors)."""
    lines: dict[str, int] = {"": 1}
    loader = _DefinitionLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, lines
        return _node_data(loader, node, "", lines, 0), lines
    finally:
        loader.dispose()


def _size_error(text: str) -> DefinitionError | None:
    if len(text) > MAX_DEFINITION_BYTES or len(text.encode("utf-8", "replace")) > (
        MAX_DEFINITION_BYTES
    ):
        return DefinitionError(
            "",
            _("The definition is larger than %(size)s kB") % {"size": MAX_DEFINITION_BYTES // 1000},
        )
    return None


def _json_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(_("The key “%(key)s” appears twice") % {"key": key})
        result[key] = value
    return result


def _json_constant(name: str) -> Any:
    raise ValueError(_("Numbers must be finite"))


def _parse(text: str) -> tuple[Any, dict[str, int]]:
    """Parse YAML or JSON; return data and the path→line map (raises DefinitionInvalid)."""
    if not isinstance(text, str):
        raise DefinitionInvalid([DefinitionError("", _("The definition must be text"))])
    too_big = _size_error(text)
    if too_big is not None:
        raise DefinitionInvalid([too_big])
    if text.lstrip().startswith(("{", "[")):
        try:
            data = json.loads(text, object_pairs_hook=_json_pairs, parse_constant=_json_constant)
        except json.JSONDecodeError as error:
            raise DefinitionInvalid(
                [
                    DefinitionError(
                        "", _("Invalid JSON: %(problem)s") % {"problem": error.msg}, error.lineno
                    )
                ]
            ) from None
        except (ValueError, RecursionError) as error:
            message = str(error) if isinstance(error, ValueError) else _("Too deeply nested")
            raise DefinitionInvalid([DefinitionError("", message)]) from None
        try:
            _ignored, lines = _yaml_compose(text)
        except (yaml.YAMLError, _Refused, RecursionError):
            lines = {"": 1}
        return data, lines
    try:
        return _yaml_compose(text)
    except _Refused as error:
        raise DefinitionInvalid([DefinitionError("", error.message, error.line)]) from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        problem = error.problem or error.context or "syntax error"
        raise DefinitionInvalid(
            [
                DefinitionError(
                    "",
                    _("Invalid YAML: %(problem)s") % {"problem": problem},
                    mark.line + 1 if mark is not None else None,
                )
            ]
        ) from None
    except yaml.YAMLError as error:
        raise DefinitionInvalid(
            [DefinitionError("", _("Invalid YAML: %(problem)s") % {"problem": str(error)})]
        ) from None
    except RecursionError:
        raise DefinitionInvalid([DefinitionError("", _("Too deeply nested"))]) from None


def definition_parse_text(text: str) -> dict[str, Any]:
    """Parse a definition written in YAML or JSON into plain data.

    Refuses texts over 500 kB, anchors and aliases, custom tags, duplicate keys and anything
    that is not a mapping at the top. Raises DefinitionInvalid, with the line when known.
    """
    data, _lines = _parse(text)
    if not isinstance(data, dict):
        raise DefinitionInvalid(
            [DefinitionError("", _("The definition must be a mapping of keys to values"), 1)]
        )
    return data


def _line_for(path: str, lines: Mapping[str, int]) -> int | None:
    """Return the line of ``path`` or of its nearest ancestor that has one."""
    while True:
        if path in lines:
            return lines[path]
        if not path:
            return None
        cut = max(path.rfind("."), path.rfind("["))
        path = path[:cut] if cut > 0 else ""


# --- Validation ------------------------------------------------------------------------------


@cache
def definition_schema() -> dict[str, Any]:
    """Return the shipped JSON Schema (draft 2020-12) of the definition format."""
    with SCHEMA_PATH.open(encoding="utf-8") as handle:
        schema: dict[str, Any] = json.load(handle)
    return schema


@cache
def _schema_validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(definition_schema())


def _path_text(parts: Sequence[str | int]) -> str:
    path = ""
    for part in parts:
        path = _join(path, part)
    return path


def _schema_errors(data: object) -> list[DefinitionError]:
    errors: list[DefinitionError] = []
    seen: set[tuple[str, str]] = set()
    for error in _schema_validator().iter_errors(data):
        # Errors under if/then or anyOf come with their own context; report the most
        # specific one, which points at the real mistake rather than the whole branch.
        detail: ValidationError = best_match([error, *error.context]) if error.context else error
        path = _path_text(list(detail.absolute_path))
        key = (path, detail.message)
        if key not in seen:
            seen.add(key)
            errors.append(DefinitionError(path, detail.message))
    return errors


def definition_validate(data: object, *, text: str | None = None) -> list[DefinitionError]:
    """Return every problem in a parsed definition, or an empty list when it is valid.

    Checks the JSON Schema first; when the shape is right, checks the meaning too. When the
    ``text`` the data came from is given, errors carry line numbers.
    """
    lines: dict[str, int] = {}
    if text is not None:
        try:
            _ignored, lines = _parse(text)
        except DefinitionInvalid:
            lines = {}
    try:
        errors = _schema_errors(data)
        if not errors:
            errors = _SemanticCheck(data).run()  # type: ignore[arg-type]
    except RecursionError:
        errors = [DefinitionError("", _("The definition is nested too deeply"))]
    return [DefinitionError(e.path, e.message, _line_for(e.path, lines)) for e in errors]


_QUANTIFIER_AFTER = re.compile(r"[*+?]|\{\d*,?\d*\}")


def pattern_problem(pattern: str) -> str | None:
    """Return why a ``pattern`` rule is unsafe or invalid, or None when it is fine.

    Answers are short (``max_length``), but a pattern with a quantified group that itself
    contains a quantifier, such as ``(a+)+``, can still take exponential time to fail, so those
    are refused outright.
    """
    if len(pattern) > MAX_PATTERN_LENGTH:
        return _("The pattern is longer than %(max)s characters") % {"max": MAX_PATTERN_LENGTH}
    try:
        re.compile(pattern)
    except (re.error, OverflowError, RecursionError) as error:
        return _("The pattern is not a valid regular expression: %(error)s") % {"error": error}
    if re.search(r"\\[1-9]|\(\?P=|\\k<", pattern):
        return _("Back-references are not allowed in patterns")
    # Each open group records whether it contains a quantifier; a repeat (more than once)
    # applied to such a group is a nested quantifier. Deliberately conservative.
    stack: list[bool] = [False]
    index = 0
    length = len(pattern)
    while index < length:
        char = pattern[index]
        if char == "(":
            stack.append(False)
            index += 1
            if index < length and pattern[index] == "?":
                index += 1  # (?:, (?=, (?P<...>: group syntax, not a quantifier
            continue
        inner = False
        if char == "\\":
            index += 2
        elif char == "[":
            index = _class_end(pattern, index)
        elif char == ")":
            inner = stack.pop() if len(stack) > 1 else False
            index += 1
        else:
            index += 1
        size, multiple = _quantifier_at(pattern, index)
        if size and multiple and inner:
            return _("Nested quantifiers such as (a+)+ are not allowed in patterns")
        if size or inner:
            stack[-1] = True
        index += size
    return None


def _quantifier_at(pattern: str, index: int) -> tuple[int, bool]:
    """Return (length, repeats more than once) of a quantifier at ``index``; (0, False) if none."""
    match = _QUANTIFIER_AFTER.match(pattern, index)
    if match is None:
        return 0, False
    token = match.group(0)
    multiple = token in ("*", "+")
    if token.startswith("{"):
        bounds = token[1:-1].split(",")
        multiple = not (
            (len(bounds) == 1 and bounds[0] in ("", "0", "1"))
            or (len(bounds) == 2 and bounds[1] in ("0", "1"))
        )
    end = match.end()
    if end < len(pattern) and pattern[end] in "?+":  # lazy or possessive suffix
        end += 1
    return end - index, multiple


def _class_end(pattern: str, index: int) -> int:
    """Return the index just after the character class that starts at ``index``."""
    index += 1
    if index < len(pattern) and pattern[index] == "^":
        index += 1
    if index < len(pattern) and pattern[index] == "]":
        index += 1
    while index < len(pattern):
        if pattern[index] == "\\":
            index += 2
            continue
        if pattern[index] == "]":
            return index + 1
        index += 1
    return index


_RELATIVE_DATE = re.compile(
    r"^today(?:(?P<sign>[+-])P(?:(?P<y>\d+)Y)?(?:(?P<m>\d+)M)?(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?)?$"
)


@dataclass
class _Asked:
    """Questions asked so far, by id, with their type and options, for checking conditions."""

    questions: dict[str, dict[str, Any]] = field(default_factory=dict)

    def copy(self) -> _Asked:
        return _Asked(dict(self.questions))


class _SemanticCheck:
    """The checks a JSON Schema cannot express, over data the schema has accepted."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data
        self.errors: list[DefinitionError] = []

    def error(self, path: str, message: str) -> None:
        self.errors.append(DefinitionError(path, message))

    def run(self) -> list[DefinitionError]:
        data = self.data
        section_ids = self.check_sections(data.get("sections") or [])
        has_sections = bool(data.get("sections"))
        precheck = data.get("precheck")
        if precheck is not None:
            self.check_precheck(precheck)

        page_ids: dict[str, str] = {}
        question_ids: dict[str, str] = {}
        asked = _Asked()
        used_sections: set[str] = set()
        for index, item in enumerate(data["pages"]):
            path = f"pages[{index}]"
            if "group" in item:
                self.check_group(
                    item["group"],
                    f"{path}.group",
                    asked,
                    page_ids,
                    question_ids,
                    section_ids,
                    has_sections,
                    used_sections,
                )
            else:
                self.check_section_ref(item, path, section_ids, has_sections, used_sections)
                self.check_page(item, path, asked, page_ids, question_ids)
        for section_index, section in enumerate(data.get("sections") or []):
            if section["id"] not in used_sections:
                self.error(
                    f"sections[{section_index}]",
                    _("Section “%(id)s” has no pages") % {"id": section["id"]},
                )
        return self.errors

    # sections ---------------------------------------------------------------------------

    def check_sections(self, sections: Sequence[Mapping[str, Any]]) -> set[str]:
        ids: set[str] = set()
        for index, section in enumerate(sections):
            if section["id"] in ids:
                self.error(
                    f"sections[{index}].id",
                    _("Section id “%(id)s” is used more than once") % {"id": section["id"]},
                )
            ids.add(section["id"])
        return ids

    def check_section_ref(
        self,
        item: Mapping[str, Any],
        path: str,
        section_ids: set[str],
        has_sections: bool,
        used: set[str],
    ) -> None:
        section = item.get("section")
        if has_sections and section is None:
            self.error(path, _("Name the section: this form has sections"))
        elif not has_sections and section is not None:
            self.error(f"{path}.section", _("This form has no sections"))
        elif section is not None and section not in section_ids:
            self.error(f"{path}.section", _("There is no section “%(id)s”") % {"id": section})
        elif section is not None:
            used.add(section)

    # pages and groups -------------------------------------------------------------------

    def check_page(
        self,
        page: Mapping[str, Any],
        path: str,
        asked: _Asked,
        page_ids: dict[str, str],
        question_ids: dict[str, str],
    ) -> None:
        self.claim(page["id"], f"{path}.id", page_ids, _("Page id “%(id)s” is used more than once"))
        if "when" in page:
            self.check_condition(page["when"], f"{path}.when", asked)
        for q_index, question in enumerate(page["questions"]):
            q_path = f"{path}.questions[{q_index}]"
            self.claim(
                question["id"],
                f"{q_path}.id",
                question_ids,
                _("Question id “%(id)s” is used more than once"),
            )
            self.check_question(question, q_path)
        # A page's own questions become available to later pages only.
        for question in page["questions"]:
            asked.questions[question["id"]] = question

    def check_group(
        self,
        group: Mapping[str, Any],
        path: str,
        asked: _Asked,
        page_ids: dict[str, str],
        question_ids: dict[str, str],
        section_ids: set[str],
        has_sections: bool,
        used_sections: set[str],
    ) -> None:
        self.check_section_ref(group, path, section_ids, has_sections, used_sections)
        # The group's id names its list of answers and its summary step, so it shares both
        # namespaces.
        self.claim(
            group["id"], f"{path}.id", page_ids, _("Page id “%(id)s” is used more than once")
        )
        self.claim(
            group["id"],
            f"{path}.id",
            question_ids,
            _("Question id “%(id)s” is used more than once"),
        )
        minimum = group.get("min", 0)
        maximum = group.get("max", 10)
        if minimum > maximum:
            self.error(
                f"{path}.min",
                _("min (%(min)s) must not be greater than max (%(max)s)")
                % {"min": minimum, "max": maximum},
            )
        if "when" in group:
            self.check_condition(group["when"], f"{path}.when", asked)
        inner = asked.copy()
        group_questions: dict[str, Mapping[str, Any]] = {}
        for p_index, page in enumerate(group["pages"]):
            p_path = f"{path}.pages[{p_index}]"
            if "section" in page:
                self.error(
                    f"{p_path}.section",
                    _("Pages inside a group belong to the group's section"),
                )
            self.check_page(page, p_path, inner, page_ids, question_ids)
            for question in page["questions"]:
                group_questions[question["id"]] = question
        summary = group["summary_question"]
        if summary not in group_questions:
            self.error(
                f"{path}.summary_question",
                _("The summary question “%(id)s” is not a question of this group")
                % {"id": summary},
            )
        elif group_questions[summary]["type"] == "file":
            self.error(
                f"{path}.summary_question",
                _("The summary question cannot be a file question"),
            )
        # Questions inside the group are not visible to top-level pages after it: those pages
        # see one answer per question, the group has one per item.

    def claim(self, value: str, path: str, taken: dict[str, str], message: str) -> None:
        if value in taken:
            self.error(path, message % {"id": value})
        else:
            taken[value] = path

    # questions --------------------------------------------------------------------------

    def check_question(self, question: Mapping[str, Any], path: str) -> None:
        kind = question["type"]
        options = question.get("options")
        if kind in OPTION_TYPES:
            if not options:
                self.error(path, _("A %(type)s question needs options") % {"type": kind})
            else:
                values: set[str] = set()
                for o_index, option in enumerate(options):
                    if option["value"] in values:
                        self.error(
                            f"{path}.options[{o_index}].value",
                            _("Option value “%(value)s” is used more than once")
                            % {"value": option["value"]},
                        )
                    values.add(option["value"])
        elif options is not None:
            self.error(
                f"{path}.options",
                _("Only choice and checkboxes questions have options"),
            )
        prefill = question.get("prefill")
        if prefill is not None and PREFILL_TYPES[prefill] != kind:
            self.error(
                f"{path}.prefill",
                _("prefill “%(prefill)s” needs a %(type)s question")
                % {"prefill": prefill, "type": PREFILL_TYPES[prefill]},
            )
        self.check_rules(kind, question.get("rules") or {}, f"{path}.rules", len(options or []))

    def check_rules(self, kind: str, rules: Mapping[str, Any], path: str, options: int) -> None:
        allowed = RULES_BY_TYPE.get(kind, frozenset())
        for name in rules:
            if name not in allowed:
                self.error(
                    f"{path}.{name}",
                    _("Rule “%(rule)s” does not apply to a %(type)s question")
                    % {"rule": name, "type": kind},
                )
        pairs = (("min_length", "max_length"), ("min", "max"), ("min_selected", "max_selected"))
        for low, high in pairs:
            if low in rules and high in rules and rules[low] > rules[high]:
                self.error(
                    f"{path}.{low}",
                    _("%(low)s must not be greater than %(high)s") % {"low": low, "high": high},
                )
        if kind in MAX_MAX_LENGTH:
            ceiling = MAX_MAX_LENGTH[kind]
            for name in ("min_length", "max_length"):
                if rules.get(name, 0) > ceiling:
                    self.error(
                        f"{path}.{name}",
                        _("%(rule)s must be %(max)s or less") % {"rule": name, "max": ceiling},
                    )
        if "pattern" in rules and kind == "text":
            problem = pattern_problem(rules["pattern"])
            if problem is not None:
                self.error(f"{path}.pattern", problem)
        if "pattern_message" in rules and "pattern" not in rules:
            self.error(f"{path}.pattern_message", _("pattern_message needs a pattern"))
        if kind == "date":
            for name in ("min_date", "max_date"):
                if name in rules and not _relative_date_valid(rules[name]):
                    self.error(f"{path}.{name}", _("Not a real date"))
            if (
                "min_date" in rules
                and "max_date" in rules
                and _ISO_DATE.match(rules["min_date"])
                and _ISO_DATE.match(rules["max_date"])
                and rules["min_date"] > rules["max_date"]
            ):
                self.error(f"{path}.min_date", _("min_date must not be after max_date"))
        if kind == "checkboxes":
            for name in ("min_selected", "max_selected"):
                if rules.get(name, 0) > options:
                    self.error(
                        f"{path}.{name}",
                        _("%(rule)s is more than the number of options") % {"rule": name},
                    )
        if (
            kind == "file"
            and "zip" in (rules.get("file_types") or ())
            and not rules.get("allow_archives")
        ):
            self.error(f"{path}.file_types", _("zip files need allow_archives: true"))

    # conditions -------------------------------------------------------------------------

    def check_condition(self, condition: Mapping[str, Any], path: str, asked: _Asked) -> None:
        for key in ("all", "any"):
            if key in condition:
                for index, child in enumerate(condition[key]):
                    self.check_condition(child, f"{path}.{key}[{index}]", asked)
                return
        if "not" in condition:
            self.check_condition(condition["not"], f"{path}.not", asked)
            return
        question_id = condition["question"]
        question = asked.questions.get(question_id)
        if question is None:
            self.error(
                f"{path}.question",
                _(
                    "“%(id)s” is not a question asked before this point; conditions can only"
                    " use earlier answers"
                )
                % {"id": question_id},
            )
            return
        operator = next(key for key in condition if key != "question")
        self.check_operator(question, operator, condition[operator], f"{path}.{operator}")

    def check_operator(
        self, question: Mapping[str, Any], operator: str, operand: Any, path: str
    ) -> None:
        kind = question["type"]
        if operator == "answered":
            return
        if operator == "includes":
            if kind != "checkboxes":
                self.error(path, _("includes only works with checkboxes questions"))
            else:
                self.check_operand_value(question, operand, path)
            return
        if operator in ("greater_than", "less_than", "at_least", "at_most"):
            if kind not in ("number", "money"):
                self.error(
                    path,
                    _("%(operator)s only works with number and money questions")
                    % {"operator": operator},
                )
            return
        operands = operand if operator == "in" else [operand]
        if kind in ("checkboxes", "file", "address"):
            self.error(
                path,
                _("%(operator)s does not work with %(type)s questions")
                % {"operator": operator, "type": kind},
            )
            return
        for index, value in enumerate(operands):
            value_path = f"{path}[{index}]" if operator == "in" else path
            self.check_operand_value(question, value, value_path)

    def check_operand_value(self, question: Mapping[str, Any], value: Any, path: str) -> None:
        kind = question["type"]
        if kind in ("number", "money"):
            if not isinstance(value, int) or isinstance(value, bool):
                self.error(
                    path, _("Compare a %(type)s answer with a whole number") % {"type": kind}
                )
            return
        if not isinstance(value, str):
            self.error(path, _("Compare a %(type)s answer with text") % {"type": kind})
            return
        if kind in OPTION_TYPES:
            values = {option["value"] for option in question.get("options") or []}
            if value not in values:
                self.error(
                    path,
                    _("“%(value)s” is not an option of “%(id)s”")
                    % {"value": value, "id": question["id"]},
                )
        elif kind == "yesno" and value not in ("yes", "no"):
            self.error(path, _("A yes or no answer is “yes” or “no”"))
        elif kind == "date" and not _ISO_DATE.match(value):
            self.error(path, _("Compare a date answer with a date like 2026-03-01"))

    # precheck ---------------------------------------------------------------------------

    def check_precheck(self, precheck: Mapping[str, Any]) -> None:
        asked = _Asked()
        ids: dict[str, str] = {}
        for index, question in enumerate(precheck["questions"]):
            path = f"precheck.questions[{index}]"
            self.claim(
                question["id"], f"{path}.id", ids, _("Question id “%(id)s” is used more than once")
            )
            if question["type"] not in PRECHECK_TYPES:
                self.error(
                    f"{path}.type",
                    _("A precheck asks choice, yesno, number or date questions only"),
                )
            if "prefill" in question:
                self.error(f"{path}.prefill", _("Precheck questions cannot be prefilled"))
            self.check_question(question, path)
            asked.questions[question["id"]] = question
        self.check_condition(precheck["eligible"], "precheck.eligible", asked)


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _relative_date_valid(value: str) -> bool:
    if _ISO_DATE.match(value):
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            return False
        return True
    return bool(_RELATIVE_DATE.match(value))


# --- Loading ---------------------------------------------------------------------------------


def _text(value: Mapping[str, str]) -> Text:
    return Text(en=value["en"], cy=value["cy"])


def _optional_text(value: Mapping[str, str] | None) -> Text | None:
    return _text(value) if value is not None else None


def _question(data: Mapping[str, Any]) -> Question:
    rules = dict(data.get("rules") or {})
    if "pattern_message" in rules:
        rules["pattern_message"] = _text(rules["pattern_message"])
    return Question(
        id=data["id"],
        type=data["type"],
        label=_text(data["label"]),
        hint=_optional_text(data.get("hint")),
        required=bool(data.get("required", True)),
        options=tuple(
            Option(
                value=option["value"],
                label=_text(option["label"]),
                hint=_optional_text(option.get("hint")),
            )
            for option in data.get("options") or ()
        ),
        rules=rules,
        messages={key: _text(value) for key, value in (data.get("messages") or {}).items()},
        prefill=data.get("prefill"),
    )


def _page(data: Mapping[str, Any], section: str | None = None) -> Page:
    return Page(
        id=data["id"],
        title=_text(data["title"]),
        questions=tuple(_question(question) for question in data["questions"]),
        when=data.get("when"),
        section=data.get("section", section),
    )


def _group(data: Mapping[str, Any]) -> Group:
    section = data.get("section")
    return Group(
        id=data["id"],
        title=_text(data["title"]),
        item_label=_text(data["item_label"]),
        min=int(data.get("min", 0)),
        max=int(data.get("max", 10)),
        pages=tuple(_page(page, section) for page in data["pages"]),
        when=data.get("when"),
        section=section,
        summary_question=data["summary_question"],
    )


def definition_load(data: object) -> FormDefinition:
    """Validate parsed definition data and return the FormDefinition (DefinitionInvalid if not)."""
    errors = definition_validate(data)
    if errors:
        raise DefinitionInvalid(errors)
    assert isinstance(data, dict)  # the schema requires an object
    return _build(data)


def _build(data: Mapping[str, Any]) -> FormDefinition:
    """Return the FormDefinition of data that has passed validation."""
    precheck_data = data.get("precheck")
    precheck = None
    if precheck_data is not None:
        precheck = Precheck(
            questions=tuple(_question(question) for question in precheck_data["questions"]),
            eligible=precheck_data["eligible"],
            ineligible_message=_text(precheck_data["ineligible_message"]),
        )
    return FormDefinition(
        title=_text(data["title"]),
        allow_anonymous=bool(data.get("allow_anonymous", False)),
        precheck=precheck,
        sections=tuple(
            Section(id=section["id"], title=_text(section["title"]))
            for section in data.get("sections") or ()
        ),
        items=tuple(
            _group(item["group"]) if "group" in item else _page(item) for item in data["pages"]
        ),
        declaration=_text(data["declaration"]),
        confirmation=_text(data["confirmation"]),
    )


def definition_from_text(text: str) -> tuple[dict[str, Any], FormDefinition]:
    """Parse, validate and load a definition text; return (plain data, FormDefinition).

    Raises DefinitionInvalid listing every problem, with line numbers.
    """
    data, lines = _parse(text)
    if not isinstance(data, dict):
        raise DefinitionInvalid(
            [DefinitionError("", _("The definition must be a mapping of keys to values"), 1)]
        )
    try:
        errors = _schema_errors(data)
        if not errors:
            errors = _SemanticCheck(data).run()
    except RecursionError:
        errors = [DefinitionError("", _("The definition is nested too deeply"))]
    if errors:
        raise DefinitionInvalid(
            [DefinitionError(e.path, e.message, _line_for(e.path, lines)) for e in errors]
        )
    return data, _build(data)
