"""Form definitions: parsing YAML and JSON safely, the schema, and the semantic checks."""

from __future__ import annotations

import json
import textwrap
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from civicstack.forms.definition import (
    DefinitionError,
    DefinitionInvalid,
    FormDefinition,
    Group,
    Page,
    Text,
    definition_from_text,
    definition_load,
    definition_parse_text,
    definition_schema,
    definition_validate,
    pattern_problem,
)

MINIMAL = textwrap.dedent(
    """\
    schema: 1
    title: {en: "Apply", cy: "Gwneud cais"}
    pages:
      - id: name
        title: {en: "Name", cy: "Enw"}
        questions:
          - id: full_name
            type: text
            label: {en: "Full name", cy: "Enw llawn"}
    declaration: {en: "True", cy: "Gwir"}
    confirmation: {en: "Thanks", cy: "Diolch"}
    """
)


def _text(en: str) -> dict[str, str]:
    return {"en": en, "cy": en + " (cy)"}


def _question(qid: str, kind: str = "text", **extra: Any) -> dict[str, Any]:
    return {"id": qid, "type": kind, "label": _text(qid.replace("_", " ").title()), **extra}


def _page(pid: str, *questions: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"id": pid, "title": _text(pid), "questions": list(questions), **extra}


def _form(*items: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "schema": 1,
        "title": _text("Form"),
        "pages": list(items),
        "declaration": _text("Declaration"),
        "confirmation": _text("Confirmation"),
        **extra,
    }


def _messages(errors: list[DefinitionError]) -> list[str]:
    return [f"{error.path}: {error.message}" for error in errors]


# --- Parsing ---------------------------------------------------------------------------------


def test_minimal_yaml_loads_into_frozen_objects() -> None:
    """A minimal form gives a FormDefinition with the defaults filled in."""
    data, definition = definition_from_text(MINIMAL)
    assert data["pages"][0]["id"] == "name"
    assert isinstance(definition, FormDefinition)
    assert definition.allow_anonymous is False
    assert definition.precheck is None
    page = definition.page("name")
    assert isinstance(page, Page)
    question = definition.question("full_name")
    assert question.required is True
    assert question.label == Text("Full name", "Enw llawn")
    assert question.label.get("cy") == "Enw llawn"
    assert question.label.get("fr") == "Full name"


def test_json_is_accepted_too() -> None:
    """The same form written as JSON loads to the same data."""
    data, _definition = definition_from_text(MINIMAL)
    json_data, json_definition = definition_from_text(json.dumps(data, indent=2))
    assert json_data == data
    assert json_definition == _definition


def test_yes_and_no_stay_text_in_yaml() -> None:
    """YAML 1.1 would turn ``equals: yes`` into True; definitions keep the string."""
    data = definition_parse_text("a: yes\nb: no\nc: on\nd: true\n")
    assert data == {"a": "yes", "b": "no", "c": "on", "d": True}


def test_yaml_dates_stay_text() -> None:
    """An unquoted date stays the ISO string, so the stored definition is plain JSON."""
    assert definition_parse_text("min_date: 2026-03-01\n") == {"min_date": "2026-03-01"}


def test_yaml_syntax_error_carries_the_line() -> None:
    """A YAML syntax error becomes DefinitionInvalid with the line it is on."""
    text = "schema: 1\ntitle: {en: x, cy: y\npages: []\n"
    with pytest.raises(DefinitionInvalid) as caught:
        definition_parse_text(text)
    error = caught.value.errors[0]
    assert error.line in (2, 3)
    assert "YAML" in error.message


def test_json_syntax_error_carries_the_line() -> None:
    """A JSON syntax error carries its line too."""
    with pytest.raises(DefinitionInvalid) as caught:
        definition_parse_text('{\n  "schema": 1,\n  "title": }\n')
    assert caught.value.errors[0].line == 3


@pytest.mark.parametrize(
    "text",
    [
        "a: &anchor {x: 1}\nb: *anchor\n",
        'a: &a ["lol","lol"]\nb: &b [*a,*a]\nc: [*b,*b]\n',
        "a: !!python/object:os.system {}\n",
        "a: !custom 1\n",
        "a: !!binary aGVsbG8=\n",
        "a: 1\na: 2\n",
    ],
)
def test_dangerous_or_ambiguous_yaml_is_refused(text: str) -> None:
    """Anchors/aliases (billion laughs), custom or Python tags and duplicate keys are refused."""
    with pytest.raises(DefinitionInvalid) as caught:
        definition_parse_text(text)
    assert caught.value.errors[0].line is not None


def test_duplicate_json_keys_are_refused() -> None:
    """JSON objects with a key twice are refused rather than silently keeping the last."""
    with pytest.raises(DefinitionInvalid):
        definition_parse_text('{"a": 1, "a": 2}')


def test_oversized_text_is_refused() -> None:
    """Texts over 500 kB are refused before parsing."""
    with pytest.raises(DefinitionInvalid) as caught:
        definition_parse_text("a: " + "x" * 500_001)
    assert "500" in caught.value.errors[0].message


@pytest.mark.parametrize(
    "text", ["[" * 5000, "a:\n" + "".join(" " * i + "- \n" for i in range(80))]
)
def test_deep_nesting_is_refused(text: str) -> None:
    """Very deep nesting is refused with an error, never a RecursionError."""
    with pytest.raises(DefinitionInvalid):
        definition_parse_text(text)


@pytest.mark.parametrize("text", ["- 1\n- 2\n", "just text", "", "42"])
def test_top_level_must_be_a_mapping(text: str) -> None:
    """A list, scalar or empty document is not a definition."""
    with pytest.raises(DefinitionInvalid):
        definition_parse_text(text)


@given(st.text(max_size=300))
@settings(max_examples=150, deadline=None)
def test_parsing_any_text_raises_only_definition_invalid(text: str) -> None:
    """Whatever the text, parsing returns a dict or raises DefinitionInvalid."""
    try:
        result = definition_from_text(text)
    except DefinitionInvalid as error:
        assert error.errors
    else:
        assert isinstance(result[1], FormDefinition)


# --- Schema errors ---------------------------------------------------------------------------


def test_the_shipped_schema_is_draft_2020_12_with_descriptions() -> None:
    """The schema file declares draft 2020-12 and documents the format."""
    schema = definition_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["description"]
    assert schema["$defs"]["question"]["properties"]["type"]["$ref"] == "#/$defs/question_type"
    assert "description" in schema["$defs"]["condition"]


def test_schema_errors_carry_paths_and_lines() -> None:
    """A wrong value deep in the document is reported at its path and line."""
    text = MINIMAL.replace("type: text", "type: txt")
    with pytest.raises(DefinitionInvalid) as caught:
        definition_from_text(text)
    [error] = caught.value.errors
    assert error.path == "pages[0].questions[0].type"
    assert error.line == 8
    assert "txt" in error.message


def test_missing_welsh_is_a_schema_error() -> None:
    """Every text needs both languages."""
    data = _form(_page("p", _question("q")))
    data["pages"][0]["questions"][0]["label"] = {"en": "Only English"}
    errors = definition_validate(data)
    assert _messages(errors) == ["pages[0].questions[0].label: 'cy' is a required property"]


def test_validate_with_text_adds_line_numbers() -> None:
    """definition_validate(data, text=...) gives lines for errors."""
    text = MINIMAL.replace("id: full_name", "id: Full-Name")
    errors = definition_validate(definition_parse_text(text), text=text)
    assert [(e.path, e.line) for e in errors] == [("pages[0].questions[0].id", 7)]


def test_unknown_keys_and_bad_ids_are_schema_errors() -> None:
    """Typos in keys and ids that are not lowercase identifiers are caught."""
    data = _form(_page("p", _question("q", lable=_text("x"))), titel="x")
    paths = {error.path for error in definition_validate(data)}
    assert "" in paths  # titel at the top
    assert "pages[0].questions[0]" in paths


def test_a_group_item_is_checked_as_a_group() -> None:
    """An item with ``group`` is validated against the group schema, not the page schema."""
    data = _form({"group": {"id": "g", "title": _text("G"), "pages": []}})
    messages = _messages(definition_validate(data))
    assert any(m.startswith("pages[0].group:") and "item_label" in m for m in messages)


def test_conditions_must_have_exactly_one_operator() -> None:
    """{question, equals, in} is ambiguous and refused."""
    data = _form(
        _page("a", _question("x", "yesno")),
        _page("b", _question("y"), when={"question": "x", "equals": "yes", "in": ["no"]}),
    )
    assert any(e.path == "pages[1].when" for e in definition_validate(data))


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=10),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=8), children, max_size=4)
        ),
        max_leaves=30,
    )
)
@settings(max_examples=200, deadline=None)
def test_validating_any_json_never_raises(data: object) -> None:
    """definition_validate returns errors for any JSON value; it never raises."""
    errors = definition_validate(data)
    assert isinstance(errors, list)


# --- Semantic errors -------------------------------------------------------------------------


def test_duplicate_ids_are_reported() -> None:
    """Page, question and section ids must be unique; group ids share both namespaces."""
    group = {
        "group": {
            "id": "b",
            "title": _text("G"),
            "item_label": _text("Item"),
            "summary_question": "name",
            "pages": [_page("a", _question("name"))],
        }
    }
    data = _form(_page("a", _question("x"), _question("x")), _page("b", _question("y")), group)
    messages = _messages(definition_validate(data))
    assert "pages[0].questions[1].id: Question id “x” is used more than once" in messages
    assert "pages[2].group.id: Page id “b” is used more than once" in messages
    assert "pages[2].group.pages[0].id: Page id “a” is used more than once" in messages


def test_condition_on_a_later_question_is_reported() -> None:
    """A page may only depend on questions asked before it."""
    data = _form(
        _page("first", _question("a"), when={"question": "b", "answered": True}),
        _page("second", _question("b")),
    )
    errors = definition_validate(data)
    assert [e.path for e in errors] == ["pages[0].when.question"]
    assert "earlier" in errors[0].message


def test_condition_on_the_same_page_is_reported() -> None:
    """A page cannot depend on its own questions."""
    data = _form(_page("only", _question("a", "yesno"), when={"question": "a", "equals": "yes"}))
    assert [e.path for e in definition_validate(data)] == ["pages[0].when.question"]


def test_condition_with_unknown_option_value_is_reported_with_its_line() -> None:
    """Comparing a choice answer with a value that is not an option is an error."""
    text = textwrap.dedent(
        """\
        schema: 1
        title: {en: F, cy: F}
        pages:
          - id: colour_page
            title: {en: C, cy: C}
            questions:
              - id: colour
                type: choice
                label: {en: Colour, cy: Lliw}
                options:
                  - {value: red, label: {en: Red, cy: Coch}}
          - id: next
            title: {en: N, cy: N}
            when:
              any:
                - {question: colour, equals: red}
                - {question: colour, in: [red, blue]}
            questions:
              - {id: other, type: text, label: {en: O, cy: A}}
        declaration: {en: D, cy: D}
        confirmation: {en: C, cy: C}
        """
    )
    with pytest.raises(DefinitionInvalid) as caught:
        definition_from_text(text)
    [error] = caught.value.errors
    assert error.path == "pages[1].when.any[1].in[1]"
    assert "blue" in error.message
    assert error.line == 17


@pytest.mark.parametrize(
    ("question", "condition", "path_end"),
    [
        (_question("n", "number"), {"question": "n", "equals": "5"}, "when.equals"),
        (_question("t"), {"question": "t", "greater_than": 5}, "when.greater_than"),
        (_question("t"), {"question": "t", "includes": "x"}, "when.includes"),
        (_question("y", "yesno"), {"question": "y", "equals": "maybe"}, "when.equals"),
        (_question("y", "yesno"), {"question": "y", "equals": True}, "when.equals"),
        (
            _question("c", "checkboxes", options=[{"value": "a", "label": _text("A")}]),
            {"question": "c", "includes": "b"},
            "when.includes",
        ),
        (
            _question("c", "checkboxes", options=[{"value": "a", "label": _text("A")}]),
            {"question": "c", "equals": "a"},
            "when.equals",
        ),
    ],
)
def test_condition_type_mismatches_are_reported(
    question: dict[str, Any], condition: dict[str, Any], path_end: str
) -> None:
    """Operators must fit the type of the question they test."""
    data = _form(_page("a", question), _page("b", _question("z"), when=condition))
    errors = definition_validate(data)
    assert [e.path for e in errors] == [f"pages[1].{path_end}"]


def test_group_pages_see_item_answers_but_later_pages_do_not() -> None:
    """Inside a group a page may use the item's earlier answers; after the group it may not."""
    group = {
        "group": {
            "id": "people",
            "title": _text("People"),
            "item_label": _text("Person"),
            "summary_question": "name",
            "pages": [
                _page("person", _question("name"), _question("works", "yesno")),
                _page("job", _question("employer"), when={"question": "works", "equals": "yes"}),
            ],
        }
    }
    ok = _form(_page("start", _question("intro")), group)
    assert definition_validate(ok) == []
    after = _form(
        _page("start", _question("intro")),
        group,
        _page("end", _question("more"), when={"question": "works", "equals": "yes"}),
    )
    assert [e.path for e in definition_validate(after)] == ["pages[2].when.question"]


def test_options_rules_and_prefill_must_fit_the_type() -> None:
    """Options only on choices; rules and prefill only where they make sense."""
    data = _form(
        _page(
            "p",
            _question("a", options=[{"value": "x", "label": _text("X")}]),
            _question("b", "choice"),
            _question("c", "number", rules={"max_length": 5}),
            _question("d", "date", rules={"min_date": "2026-02-30"}),
            _question("e", "email", prefill="phone"),
            _question("f", "number", rules={"min": 10, "max": 1}),
            _question("g", "text", rules={"pattern_message": _text("Nope")}),
            _question("h", "file", rules={"file_types": ["zip"]}),
            _question(
                "i",
                "checkboxes",
                options=[{"value": "x", "label": _text("X")}],
                rules={"max_selected": 3},
            ),
        )
    )
    paths = [e.path for e in definition_validate(data)]
    assert paths == [
        "pages[0].questions[0].options",
        "pages[0].questions[1]",
        "pages[0].questions[2].rules.max_length",
        "pages[0].questions[3].rules.min_date",
        "pages[0].questions[4].prefill",
        "pages[0].questions[5].rules.min",
        "pages[0].questions[6].rules.pattern_message",
        "pages[0].questions[7].rules.file_types",
        "pages[0].questions[8].rules.max_selected",
    ]


def test_sections_must_exist_and_be_used() -> None:
    """With sections, every top-level item names an existing section, and sections are used."""
    data = _form(
        _page("a", _question("x"), section="one"),
        _page("b", _question("y")),
        _page("c", _question("z"), section="nowhere"),
        sections=[
            {"id": "one", "title": _text("One")},
            {"id": "two", "title": _text("Two")},
        ],
    )
    messages = _messages(definition_validate(data))
    assert messages == [
        "pages[1]: Name the section: this form has sections",
        "pages[2].section: There is no section “nowhere”",
        "sections[1]: Section “two” has no pages",
    ]
    no_sections = _form(_page("a", _question("x"), section="one"))
    assert _messages(definition_validate(no_sections)) == [
        "pages[0].section: This form has no sections"
    ]


def test_group_limits_and_summary_question_are_checked() -> None:
    """min must not exceed max, and the summary question must belong to the group."""
    data = _form(
        _page("before", _question("outside")),
        {
            "group": {
                "id": "g",
                "title": _text("G"),
                "item_label": _text("Item"),
                "min": 5,
                "max": 2,
                "summary_question": "outside",
                "pages": [_page("inside", _question("name"))],
            }
        },
    )
    assert [e.path for e in definition_validate(data)] == [
        "pages[1].group.min",
        "pages[1].group.summary_question",
    ]


def test_precheck_only_asks_simple_types_over_its_own_answers() -> None:
    """Precheck questions are choice, yesno, number or date, and eligible uses only them."""
    data = _form(
        _page("a", _question("main")),
        precheck={
            "questions": [_question("pre", "yesno"), _question("free", "text")],
            "eligible": {
                "all": [
                    {"question": "pre", "equals": "yes"},
                    {"question": "main", "answered": True},
                ]
            },
            "ineligible_message": _text("Sorry"),
        },
    )
    assert [e.path for e in definition_validate(data)] == [
        "precheck.questions[1].type",
        "precheck.eligible.all[1].question",
    ]


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("[A-Z]{2}[0-9]{6}[A-D]", None),
        ("(?i).+ (limited|ltd)\\.?", None),
        ("(?:ab)+c", None),
        ("(a+)+$", "Nested"),
        ("(a*)*b", "Nested"),
        ("((ab)*c)+", "Nested"),
        ("(\\d{2,}-?)+", "Nested"),
        ("(x)\\1", "Back-references"),
        ("[", "not a valid"),
        ("a" * 201, "longer"),
    ],
)
def test_patterns_that_could_backtrack_catastrophically_are_refused(
    pattern: str, problem: str | None
) -> None:
    """Patterns must compile, be short, and not nest quantifiers."""
    found = pattern_problem(pattern)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


def test_unsafe_pattern_in_a_definition_is_reported() -> None:
    """The pattern rule of a text question goes through the same check."""
    data = _form(_page("p", _question("t", rules={"pattern": "(a+)+"})))
    assert [e.path for e in definition_validate(data)] == ["pages[0].questions[0].rules.pattern"]


def test_definition_load_raises_with_every_error() -> None:
    """definition_load refuses invalid data and lists all problems."""
    data = _form(_page("p", _question("x"), _question("x")), _page("p", _question("y")))
    with pytest.raises(DefinitionInvalid) as caught:
        definition_load(data)
    assert len(caught.value.errors) == 2
    assert isinstance(caught.value, ValueError)


# --- The loaded objects ----------------------------------------------------------------------


def test_helpers_find_pages_groups_questions_and_files() -> None:
    """FormDefinition finds pages and questions inside groups, and lists file questions."""
    data = _form(
        _page("upload", _question("proof", "file", rules={"max_files": 3, "max_file_mb": 2})),
        {
            "group": {
                "id": "people",
                "title": _text("People"),
                "item_label": _text("Person"),
                "summary_question": "name",
                "pages": [_page("person", _question("name"), _question("payslip", "file"))],
            }
        },
    )
    definition = definition_load(data)
    assert definition.page("person").id == "person"
    assert isinstance(definition.group("people"), Group)
    assert definition.group_of_page("person") is definition.group("people")
    assert definition.group_of_page("upload") is None
    assert definition.question("payslip").type == "file"
    assert definition.page_of_question("name").id == "person"
    assert [q.id for q in definition.file_questions()] == ["proof", "payslip"]
    with pytest.raises(KeyError):
        definition.page("nope")
    policy = definition.question("proof").file_policy
    assert policy.max_files == 3
    assert policy.max_bytes == 2 * 1024 * 1024
    assert policy.kinds == frozenset({"pdf", "jpeg", "png"})
    assert policy.allow_archives is False
    default = definition.question("payslip").file_policy
    assert (default.max_files, default.max_bytes) == (1, 10 * 1024 * 1024)


def test_archives_are_only_accepted_when_allowed() -> None:
    """zip is a file kind only with allow_archives: true."""
    data = _form(
        _page(
            "p",
            _question(
                "bundle", "file", rules={"file_types": ["pdf", "zip"], "allow_archives": True}
            ),
        )
    )
    policy = definition_load(data).question("bundle").file_policy
    assert policy.kinds == frozenset({"pdf", "zip"})
    assert policy.allow_archives is True


def test_group_pages_inherit_the_group_section() -> None:
    """Pages in a group belong to the group's section."""
    data = _form(
        {
            "group": {
                "id": "g",
                "section": "s",
                "title": _text("G"),
                "item_label": _text("Item"),
                "summary_question": "name",
                "pages": [_page("inner", _question("name"))],
            }
        },
        sections=[{"id": "s", "title": _text("S")}],
    )
    definition = definition_load(data)
    assert definition.page("inner").section == "s"
    assert definition.group("g").min == 0
    assert definition.group("g").max == 10
