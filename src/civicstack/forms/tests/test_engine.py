"""The form engine: routing, groups, pruning, validation, summary, task list and conditions."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from civicstack.forms import engine
from civicstack.forms.conditions import condition_evaluate, condition_questions
from civicstack.forms.definition import FormDefinition, definition_from_text
from civicstack.forms.engine import PageRef

FORM = """
schema: 1
title: {en: "Benefit", cy: "Budd-dal"}
precheck:
  questions:
    - {id: pays_rent, type: yesno, label: {en: "Do you pay rent?", cy: "Ydych chi'n talu rhent?"}}
    - {id: savings_band, type: number, label: {en: "Savings", cy: "Cynilion"}}
  eligible:
    all:
      - {question: pays_rent, equals: "yes"}
      - {question: savings_band, at_most: 16000}
  ineligible_message: {en: "You cannot apply", cy: "Allwch chi ddim gwneud cais"}
sections:
  - {id: you, title: {en: "About you", cy: "Amdanoch chi"}}
  - {id: home, title: {en: "Your home", cy: "Eich cartref"}}
  - {id: people, title: {en: "Your household", cy: "Eich aelwyd"}}
pages:
  - id: name
    section: you
    title: {en: "Name", cy: "Enw"}
    questions:
      - {id: full_name, type: text, prefill: full_name, label: {en: "Full name", cy: "Enw llawn"}}
  - id: contact
    section: you
    title: {en: "Contact", cy: "Cyswllt"}
    questions:
      - {id: email, type: email, prefill: email, label: {en: "Email", cy: "E-bost"}}
      - {id: phone, type: phone, prefill: phone, required: false, label: {en: "Phone", cy: "Ffôn"}}
  - id: has_car_page
    section: home
    title: {en: "Car", cy: "Car"}
    questions:
      - {id: has_car, type: yesno, label: {en: "Do you have a car?", cy: "Oes gennych chi gar?"}}
  - id: car
    section: home
    title: {en: "Car details", cy: "Manylion y car"}
    when: {question: has_car, equals: "yes"}
    questions:
      - {id: car_make, type: text, label: {en: "Make", cy: "Gwneuthuriad"}}
      - id: car_value
        type: money
        label: {en: "Value", cy: "Gwerth"}
  - id: expensive_car
    section: home
    title: {en: "Expensive car", cy: "Car drud"}
    when: {question: car_value, greater_than: 1000000}
    questions:
      - {id: car_reason, type: textarea, label: {en: "Why?", cy: "Pam?"}}
  - id: address_page
    section: home
    title: {en: "Address", cy: "Cyfeiriad"}
    questions:
      - {id: address, type: address, prefill: address, label: {en: "Address", cy: "Cyfeiriad"}}
  - id: lives_with_others_page
    section: people
    title: {en: "Others", cy: "Eraill"}
    when: {question: has_car, answered: true}
    questions:
      - {id: lives_with_others, type: yesno, label: {en: "Anyone else?", cy: "Unrhyw un arall?"}}
  - group:
      id: household
      section: people
      when: {question: lives_with_others, equals: "yes"}
      title: {en: "People", cy: "Pobl"}
      item_label: {en: "Person", cy: "Person"}
      min: 1
      max: 3
      summary_question: member_name
      pages:
        - id: member
          title: {en: "Person", cy: "Person"}
          questions:
            - {id: member_name, type: text, label: {en: "Name", cy: "Enw"}}
            - {id: member_works, type: yesno, label: {en: "Works?", cy: "Gweithio?"}}
        - id: member_job
          title: {en: "Job", cy: "Swydd"}
          when:
            all:
              - {question: member_works, equals: "yes"}
              - {question: has_car, equals: "yes"}
          questions:
            - id: member_payslip
              type: file
              label: {en: "Payslip", cy: "Slip cyflog"}
              rules: {max_files: 2}
  - id: proof
    section: people
    title: {en: "Proof", cy: "Prawf"}
    questions:
      - {id: proof_of_rent, type: file, label: {en: "Proof of rent", cy: "Prawf o rent"}}
declaration: {en: "True", cy: "Gwir"}
confirmation: {en: "Thanks", cy: "Diolch"}
"""

DOC1 = str(uuid.UUID(int=1))
DOC2 = str(uuid.UUID(int=2))
DOC3 = str(uuid.UUID(int=3))
ADDRESS = {
    "line1": "4 Abbey Road",
    "line2": "",
    "town": "Kingsbridge",
    "county": "",
    "postcode": "KB1 2AB",
}


@pytest.fixture(scope="module")
def form() -> FormDefinition:
    return definition_from_text(FORM)[1]


def complete_answers() -> dict[str, Any]:
    return {
        "full_name": "Sam Jones",
        "email": "sam@example.com",
        "has_car": "yes",
        "car_make": "Ford",
        "car_value": 500000,
        "address": dict(ADDRESS),
        "lives_with_others": "yes",
        "household": [
            {"member_name": "Alex", "member_works": "yes", "member_payslip": [DOC1, DOC2]},
            {"member_name": "Kim", "member_works": "no"},
        ],
        "proof_of_rent": [DOC3],
    }


def keys(refs: list[PageRef]) -> list[str]:
    return [ref.key for ref in refs]


# --- PageRef ---------------------------------------------------------------------------------


def test_page_ref_keys() -> None:
    """Keys name top-level pages, group summaries and item pages."""
    assert PageRef("vehicle").key == "vehicle"
    assert PageRef("household", "household").key == "household"
    assert PageRef("member_details", "household", 2).key == "household.2.member_details"
    assert PageRef("household", "household").is_group_summary
    assert not PageRef("member", "household", 0).is_group_summary


def test_keys_parse_back_to_refs(form: FormDefinition) -> None:
    """pageref_from_key accepts only steps of the definition."""
    assert engine.pageref_from_key(form, "car") == PageRef("car")
    assert engine.pageref_from_key(form, "household") == PageRef("household", "household")
    assert engine.pageref_from_key(form, "household.1.member") == PageRef("member", "household", 1)
    for bad in ("nope", "member", "household.x.member", "household.1.car", "other.1.member", ""):
        assert engine.pageref_from_key(form, bad) is None, bad


# --- Routing ---------------------------------------------------------------------------------


def test_route_follows_conditions(form: FormDefinition) -> None:
    """Pages whose conditions fail are left out; answered:true waits for an answer."""
    assert keys(engine.route(form, {})) == [
        "name",
        "contact",
        "has_car_page",
        "address_page",
        "proof",
    ]
    assert keys(engine.route(form, {"has_car": "no"})) == [
        "name",
        "contact",
        "has_car_page",
        "address_page",
        "lives_with_others_page",
        "proof",
    ]
    routed = keys(engine.route(form, {"has_car": "yes", "car_value": 2000000}))
    assert routed[3:6] == ["car", "expensive_car", "address_page"]


def test_groups_expand_into_a_summary_step_and_item_pages(form: FormDefinition) -> None:
    """A group is a summary step, then each item's pages; item conditions see the item."""
    answers = complete_answers()
    assert keys(engine.route(form, answers)) == [
        "name",
        "contact",
        "has_car_page",
        "car",
        "address_page",
        "lives_with_others_page",
        "household",
        "household.0.member",
        "household.0.member_job",
        "household.1.member",
        "proof",
    ]


def test_answers_on_skipped_pages_do_not_steer_the_route(form: FormDefinition) -> None:
    """A car value left behind after answering "no" does not bring back a page."""
    answers = {"has_car": "no", "car_value": 2000000}
    assert "expensive_car" not in keys(engine.route(form, answers))


def test_next_and_previous_steps(form: FormDefinition) -> None:
    """Steps go forward and back; group items return to the group's summary step."""
    answers = complete_answers()
    assert engine.first_step(form, answers) == PageRef("name")
    assert engine.next_step(form, answers, PageRef("name")) == PageRef("contact")
    assert engine.next_step(form, answers, PageRef("lives_with_others_page")) == PageRef(
        "household", "household"
    )
    # From the summary the person goes on past the group (they add items from there).
    assert engine.next_step(form, answers, PageRef("household", "household")) == PageRef("proof")
    assert engine.next_step(form, answers, PageRef("member", "household", 0)) == PageRef(
        "member_job", "household", 0
    )
    assert engine.next_step(form, answers, PageRef("member_job", "household", 0)) == PageRef(
        "household", "household"
    )
    assert engine.next_step(form, answers, PageRef("member", "household", 1)) == PageRef(
        "household", "household"
    )
    assert engine.next_step(form, answers, PageRef("proof")) is None
    assert engine.previous_step(form, answers, PageRef("name")) is None
    assert engine.previous_step(form, answers, PageRef("proof")) == PageRef(
        "household", "household"
    )
    assert engine.previous_step(form, answers, PageRef("member_job", "household", 0)) == PageRef(
        "member", "household", 0
    )
    assert engine.previous_step(form, answers, PageRef("member", "household", 0)) == PageRef(
        "household", "household"
    )
    assert engine.previous_step(form, answers, PageRef("household", "household")) == PageRef(
        "lives_with_others_page"
    )


def test_next_step_from_a_page_that_no_longer_applies(form: FormDefinition) -> None:
    """If the current page has just stopped applying, the next applicable page follows it."""
    answers = {"has_car": "no"}
    assert engine.next_step(form, answers, PageRef("car")) == PageRef("address_page")
    assert engine.previous_step(form, answers, PageRef("car")) == PageRef("has_car_page")


def test_first_page_of_a_new_group_item(form: FormDefinition) -> None:
    """Adding an item starts at its first applicable page, even before it has answers."""
    answers = complete_answers()
    assert engine.group_item_first_step(form, answers, "household", 2) == PageRef(
        "member", "household", 2
    )
    assert engine.group_item_first_step(form, answers, "nope", 0) is None


# --- Completeness and pruning ----------------------------------------------------------------


def test_first_incomplete_walks_required_answers(form: FormDefinition) -> None:
    """The first page with a missing or invalid required answer; None when complete."""
    answers = complete_answers()
    assert engine.first_incomplete(form, answers) is None
    assert engine.first_incomplete(form, {}) == PageRef("name")
    broken = complete_answers()
    broken["email"] = "not an email"
    assert engine.first_incomplete(form, broken) == PageRef("contact")
    no_payslip = complete_answers()
    del no_payslip["household"][0]["member_payslip"]
    assert engine.first_incomplete(form, no_payslip) == PageRef("member_job", "household", 0)


def test_group_count_outside_limits_is_incomplete_at_the_summary(form: FormDefinition) -> None:
    """min and max are checked at the group's summary step, after its items' pages."""
    answers = complete_answers()
    answers["household"] = []
    assert engine.first_incomplete(form, answers) == PageRef("household", "household")
    answers["household"] = [{"member_name": f"P{i}", "member_works": "no"} for i in range(4)]
    assert engine.first_incomplete(form, answers) == PageRef("household", "household")
    answers["household"] = [{"member_works": "no"}]
    assert engine.first_incomplete(form, answers) == PageRef("member", "household", 0)


def test_prune_removes_answers_of_skipped_pages_and_unknown_keys(form: FormDefinition) -> None:
    """Changing an answer so pages no longer apply drops their answers (groups too)."""
    answers = complete_answers()
    answers["unknown"] = "x"
    answers["car_reason"] = "left over"
    answers["household"][1]["member_payslip"] = [DOC1]
    answers["household"][1]["junk"] = 1
    pruned = engine.answers_prune(form, answers)
    assert "unknown" not in pruned
    assert "car_reason" not in pruned
    assert pruned["household"][1] == {"member_name": "Kim", "member_works": "no"}
    assert pruned["household"][0]["member_payslip"] == [DOC1, DOC2]

    answers["has_car"] = "no"
    pruned = engine.answers_prune(form, answers)
    assert "car_make" not in pruned and "car_value" not in pruned
    assert "member_payslip" not in pruned["household"][0]  # item page needs has_car == yes

    answers["lives_with_others"] = "no"
    assert "household" not in engine.answers_prune(form, answers)


def test_prune_is_idempotent_and_does_not_change_its_input(form: FormDefinition) -> None:
    """Pruning twice gives the same result; the given answers are left alone."""
    answers = complete_answers()
    answers["extra"] = 1
    before = repr(answers)
    once = engine.answers_prune(form, answers)
    assert engine.answers_prune(form, once) == once
    assert repr(answers) == before


# --- Validation ------------------------------------------------------------------------------


def test_complete_answers_validate(form: FormDefinition) -> None:
    """Complete answers give no errors."""
    assert engine.answers_validate(form, complete_answers(), "en") == {}


def test_validation_keys_name_questions_items_and_groups(form: FormDefinition) -> None:
    """Errors use question ids, "group[index].question" and the group id for counts."""
    answers = complete_answers()
    answers["email"] = "nope"
    answers["household"][1]["member_name"] = ""
    answers["household"][0]["member_payslip"] = ["not-a-uuid"]
    answers["surprise"] = 1
    errors = engine.answers_validate(form, answers, "en")
    assert set(errors) == {
        "email",
        "household[1].member_name",
        "household[0].member_payslip",
        "surprise",
    }
    assert errors["email"] == [
        "Enter an email address in the correct format, like name@example.com"
    ]
    too_many = complete_answers()
    too_many["household"] = [{"member_name": "A", "member_works": "no"}] * 4
    assert engine.answers_validate(form, too_many, "en") == {
        "household": ["You can add up to 3 items"]
    }


def test_validation_ignores_pages_that_do_not_apply(form: FormDefinition) -> None:
    """A wrong value on a skipped page is not an error (it will be pruned)."""
    answers = complete_answers()
    answers["has_car"] = "no"
    answers["car_value"] = "a lot"
    assert "car_value" not in engine.answers_validate(form, answers, "en")


def test_answers_clean_normalises(form: FormDefinition) -> None:
    """answers_clean returns normalised values of applicable questions for the API."""
    answers = complete_answers()
    answers["email"] = "  Sam@Example.COM "
    answers["phone"] = "07700 900982"
    answers["address"] = {**ADDRESS, "postcode": "kb12ab"}
    cleaned, errors = engine.answers_clean(form, answers, "en")
    assert errors == {}
    assert cleaned["email"] == "sam@example.com"
    assert cleaned["phone"] == "+447700900982"
    assert cleaned["address"]["postcode"] == "KB1 2AB"
    assert cleaned["household"][0]["member_payslip"] == [DOC1, DOC2]


@pytest.mark.parametrize(
    "answers", [None, [], "x", 5, {"household": "x"}, {"household": [1, None]}]
)
def test_validation_of_odd_shapes(form: FormDefinition, answers: Any) -> None:
    """Odd shapes give errors, not exceptions."""
    errors = engine.answers_validate(form, answers, "cy")
    assert errors


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)
KNOWN_KEYS = [
    "full_name",
    "email",
    "phone",
    "has_car",
    "car_make",
    "car_value",
    "car_reason",
    "address",
    "lives_with_others",
    "household",
    "proof_of_rent",
]
ITEM = st.dictionaries(
    st.sampled_from(["member_name", "member_works", "member_payslip", "other"]),
    JSON | st.sampled_from(["yes", "no"]),
    max_size=4,
)
ANSWERS = st.dictionaries(
    st.sampled_from(KNOWN_KEYS) | st.text(max_size=5),
    JSON | st.sampled_from(["yes", "no", 2000000]) | st.lists(ITEM | JSON, max_size=5),
    max_size=12,
)


FUZZ_FORM = definition_from_text(FORM)[1]


@given(ANSWERS | JSON)
@settings(max_examples=200, deadline=None)
def test_the_engine_never_raises_on_any_json(answers: Any) -> None:
    """Every engine function takes any JSON as answers without raising."""
    form = FUZZ_FORM
    errors = engine.answers_validate(form, answers, "en")
    assert isinstance(errors, dict)
    assert all(
        isinstance(k, str) and v and all(isinstance(m, str) for m in v) for k, v in errors.items()
    )
    refs = engine.route(form, answers)
    pruned = engine.answers_prune(form, answers)
    assert engine.answers_prune(form, pruned) == pruned
    assert engine.route(form, pruned) == refs
    engine.first_incomplete(form, answers)
    engine.answers_summary(form, answers, "cy")
    engine.task_list(form, answers)
    engine.files_in_answers(form, answers)
    engine.precheck_evaluate(form, answers)
    for ref in refs:
        engine.next_step(form, answers, ref)
        engine.previous_step(form, answers, ref)
    if not errors and isinstance(answers, dict):
        assert engine.first_incomplete(form, answers) is None


# --- Summary, task list ----------------------------------------------------------------------


def test_summary_lists_answers_by_section_with_change_links(form: FormDefinition) -> None:
    """Check your answers groups rows by section; group items use their summary question."""
    sections = engine.answers_summary(form, complete_answers(), "en")
    assert [section.title for section in sections] == ["About you", "Your home", "Your household"]
    you = sections[0]
    assert [(row.label, row.value) for row in you.rows] == [
        ("Full name", "Sam Jones"),
        ("Email", "sam@example.com"),
        ("Phone", "Not provided"),
    ]
    assert you.rows[1].change_ref == PageRef("contact")
    home = {row.label: row for row in sections[1].rows}
    assert home["Value"].value == "£5,000"
    assert home["Address"].value == ["4 Abbey Road", "Kingsbridge", "KB1 2AB"]
    people = sections[2].rows
    assert [(row.label, row.value) for row in people] == [
        ("Anyone else?", "Yes"),
        ("Person 1", "Alex"),
        ("Person 2", "Kim"),
        ("Proof of rent", "1 file uploaded"),
    ]
    assert people[1].change_ref == PageRef("member", "household", 0)
    assert [(row.label, row.value) for row in people[1].items] == [
        ("Name", "Alex"),
        ("Works?", "Yes"),
        ("Payslip", "2 files uploaded"),
    ]


def test_summary_in_welsh(form: FormDefinition) -> None:
    """Labels and section titles come in the person's language."""
    sections = engine.answers_summary(form, complete_answers(), "cy")
    assert sections[0].title == "Amdanoch chi"
    assert sections[0].rows[0].label == "Enw llawn"


def test_summary_without_sections_has_one_unnamed_section() -> None:
    """A form without sections gives one section with no title."""
    definition = definition_from_text(
        """
schema: 1
title: {en: F, cy: F}
pages:
  - id: p
    title: {en: P, cy: P}
    questions:
      - {id: a, type: number, label: {en: A, cy: A}}
declaration: {en: D, cy: D}
confirmation: {en: C, cy: C}
"""
    )[1]
    [section] = engine.answers_summary(definition, {"a": 1200}, "en")
    assert section.title is None
    assert [(row.label, row.value) for row in section.rows] == [("A", "1,200")]
    assert engine.task_list(definition, {}) == []


def test_task_list_statuses(form: FormDefinition) -> None:
    """Sections move from not started to in progress to completed; dependants wait."""
    statuses = {t.section.id: (t.status, t.first_ref) for t in engine.task_list(form, {})}
    assert statuses["you"] == ("not_started", PageRef("name"))
    assert statuses["home"] == ("not_started", PageRef("has_car_page"))
    # "people" depends on has_car (in "home"), which is not completed.
    assert statuses["people"] == ("cannot_start", None)

    partial = {"full_name": "Sam", "has_car": "yes"}
    statuses = {t.section.id: (t.status, t.first_ref) for t in engine.task_list(form, partial)}
    assert statuses["you"] == ("in_progress", PageRef("contact"))
    assert statuses["home"] == ("in_progress", PageRef("car"))
    assert statuses["people"][0] == "cannot_start"

    done = complete_answers()
    statuses = {t.section.id: t.status for t in engine.task_list(form, done)}
    assert statuses == {"you": "completed", "home": "completed", "people": "completed"}


# --- Precheck, prefill, files ----------------------------------------------------------------


def test_precheck(form: FormDefinition) -> None:
    """Eligibility needs every precheck answer to be valid and the condition to hold."""
    assert engine.precheck_evaluate(form, {"pays_rent": "yes", "savings_band": 100})
    assert not engine.precheck_evaluate(form, {"pays_rent": "no", "savings_band": 100})
    assert not engine.precheck_evaluate(form, {"pays_rent": "yes", "savings_band": 20000})
    assert not engine.precheck_evaluate(form, {"pays_rent": "yes"})
    assert not engine.precheck_evaluate(form, {"pays_rent": "yes", "savings_band": "100"})
    assert not engine.precheck_evaluate(form, "junk")
    assert engine.precheck_validate(form, {"pays_rent": "maybe"}, "en") == {
        "pays_rent": ["Select one of the options"],
        "savings_band": ["Enter savings"],
    }


def test_prefill_from_profile(form: FormDefinition) -> None:
    """Profile values fill prefill questions, normalised; invalid ones are left out."""
    answers = engine.prefill_answers(
        form,
        {
            "full_name": "Sam Jones",
            "email": "Sam@Example.com",
            "phone": "07700 900982",
            "address": {**ADDRESS, "postcode": "kb1 2ab"},
        },
    )
    assert answers == {
        "full_name": "Sam Jones",
        "email": "sam@example.com",
        "phone": "+447700900982",
        "address": ADDRESS,
    }
    assert engine.prefill_answers(form, {"email": "broken", "phone": None}) == {}


def test_files_in_answers_includes_group_items(form: FormDefinition) -> None:
    """Every document id with its answer path, groups included."""
    assert engine.files_in_answers(form, complete_answers()) == [
        ("household[0].member_payslip", DOC1),
        ("household[0].member_payslip", DOC2),
        ("proof_of_rent", DOC3),
    ]
    assert engine.files_in_answers(form, {"proof_of_rent": ["junk", 5]}) == []


# --- Conditions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "answers", "expected"),
    [
        ({"question": "a", "equals": "yes"}, {"a": "yes"}, True),
        ({"question": "a", "equals": "yes"}, {}, False),
        ({"question": "a", "equals": 1}, {"a": True}, False),
        ({"question": "a", "not_equals": "yes"}, {"a": "no"}, True),
        ({"question": "a", "not_equals": "yes"}, {}, False),
        ({"question": "a", "in": ["x", "y"]}, {"a": "y"}, True),
        ({"question": "a", "in": ["x", "y"]}, {"a": ["y"]}, False),
        ({"question": "a", "includes": "x"}, {"a": ["x", "z"]}, True),
        ({"question": "a", "includes": "x"}, {"a": "x"}, False),
        ({"question": "n", "greater_than": 5}, {"n": 6}, True),
        ({"question": "n", "greater_than": 5}, {"n": 5}, False),
        ({"question": "n", "at_least": 5}, {"n": 5}, True),
        ({"question": "n", "less_than": 5}, {"n": "4"}, False),
        ({"question": "n", "at_most": 5}, {"n": True}, False),
        ({"question": "a", "answered": True}, {"a": ""}, False),
        ({"question": "a", "answered": False}, {}, True),
        ({"question": "a", "answered": False}, {"a": []}, True),
        (
            {"all": [{"question": "a", "equals": 1}, {"question": "b", "equals": 2}]},
            {"a": 1, "b": 2},
            True,
        ),
        ({"any": [{"question": "a", "equals": 1}, {"question": "b", "equals": 2}]}, {"b": 2}, True),
        ({"not": {"question": "a", "equals": 1}}, {"a": 2}, True),
        ({"not": {"question": "a", "equals": 1}}, {}, True),
        ({"question": "a"}, {"a": 1}, False),
        ("junk", {"a": 1}, False),
        ({"all": "junk"}, {}, False),
    ],
)
def test_conditions(condition: Any, answers: dict[str, Any], expected: bool) -> None:
    """Each operator, and missing answers making tests false except answered: false."""
    assert condition_evaluate(condition, answers) is expected


def test_item_answers_come_first_inside_a_group() -> None:
    """Inside a group item, the item's answer shadows a top-level one."""
    condition = {"question": "works", "equals": "yes"}
    assert condition_evaluate(condition, {"works": "no"}, {"works": "yes"})
    assert condition_evaluate(condition, {"works": "yes"}, {})
    assert condition_questions(
        {"all": [condition, {"not": {"question": "x", "answered": True}}]}
    ) == {
        "works",
        "x",
    }


@given(JSON, JSON, JSON)
@settings(max_examples=300, deadline=None)
def test_conditions_never_raise(condition: Any, answers: Any, item: Any) -> None:
    """Any JSON condition over any answers evaluates to a bool."""
    result = condition_evaluate(condition, answers, item)
    assert result is True or result is False
