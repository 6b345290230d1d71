"""The demo forms: valid, bilingual, and answerable from start to end through the engine.

Each form is walked many times with generated answers (different choices, group sizes and
amounts each time), the way the runner does it: show a page, take its answers through the
widgets' inputs (initial → parse), save, go to the next step. Across the walks every page of
every form must be reached, so no branch is unreachable.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from civicstack.forms import engine, questions
from civicstack.forms.addresses import address_lookup
from civicstack.forms.definition import FormDefinition, Group, Question, definition_from_text
from civicstack.forms.engine import PageRef
from civicstack.forms.questions import (
    date_bound,
    national_id_check_digit,
    question_check,
    question_initial,
    question_parse,
)

DEMO_DIR = Path(questions.__file__).resolve().parent / "demo"
CATALOGUE = Path(questions.__file__).resolve().parents[1] / "catalogue" / "demo" / "catalogue.yaml"
EXPECTED = {
    "apply-residents-parking-permit",
    "apply-housing-benefit",
    "register-company",
    "apply-blue-badge",
    "report-pothole",
    "buy-rod-fishing-licence",
    "book-bulky-waste-collection",
    "give-notice-of-marriage",
}
WALKS = 40
TODAY = dt.date(2026, 3, 15)


@pytest.fixture(autouse=True)
def _fixed_today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(questions, "_today", lambda: TODAY)


def load(slug: str) -> FormDefinition:
    return definition_from_text((DEMO_DIR / f"{slug}.yaml").read_text(encoding="utf-8"))[1]


def test_every_demo_service_has_a_valid_form() -> None:
    """The eight demo services have forms, and their slugs exist in the demo catalogue."""
    slugs = {path.stem for path in DEMO_DIR.glob("*.yaml")}
    assert slugs == EXPECTED
    catalogue = yaml.safe_load(CATALOGUE.read_text(encoding="utf-8"))
    catalogue_slugs = {service["slug"] for service in catalogue["services"]}
    assert slugs <= catalogue_slugs
    for slug in slugs:
        load(slug)


def _texts(node: Any) -> list[dict[str, str]]:
    found: list[dict[str, str]] = []
    if isinstance(node, dict):
        if set(node) == {"en", "cy"}:
            found.append(node)
        for value in node.values():
            found.extend(_texts(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_texts(value))
    return found


@pytest.mark.parametrize("slug", sorted(EXPECTED))
def test_demo_forms_are_really_bilingual(slug: str) -> None:
    """Welsh texts are written, not copies of the English (short shared words aside)."""
    data = definition_from_text((DEMO_DIR / f"{slug}.yaml").read_text(encoding="utf-8"))[0]
    texts = _texts(data)
    assert len(texts) > 20
    copied = [t["en"] for t in texts if t["en"] == t["cy"] and len(t["en"]) > 12]
    assert copied == []


# --- Answer generation -----------------------------------------------------------------------

TEXT_CANDIDATES = (
    "Sam Jones",
    "KB12 ABC",
    "Acme Widgets Ltd",
    "Blue",
    "Kingsbridge Register Office",
    "AB12 3456",
)


def generate(question: Question, rng: random.Random) -> Any:
    """Return a valid value for ``question``, varied by ``rng``."""
    rules = question.rules
    kind = question.type
    if kind == "text":
        candidates = [text for text in TEXT_CANDIDATES if not question_check(question, text, "en")]
        assert candidates, f"no sample text fits {question.id}"
        return rng.choice(candidates)
    if kind == "textarea":
        return rng.choice(["A clear description of at least ten characters.", "Line one\nLine two"])
    if kind in ("number", "money"):
        low = int(rules.get("min", 0))
        high = int(rules.get("max", low + 10_000_000))
        return rng.choice([low, min(high, low + 1), min(high, 2_000_000), high])
    if kind == "date":
        earliest = date_bound(rules.get("min_date")) or dt.date(1950, 1, 1)
        latest = date_bound(rules.get("max_date")) or dt.date(2030, 12, 31)
        span = (latest - earliest).days
        return (earliest + dt.timedelta(days=rng.randint(0, span))).isoformat()
    if kind == "email":
        return rng.choice(["sam@example.com", "rhys.evans@example.org"])
    if kind == "phone":
        return rng.choice(["+447700900982", "+441632960001"])
    if kind == "address":
        return rng.choice(address_lookup(rng.choice(["KB1 2AB", "AH3 4CD", "NM5 6EF"])))
    if kind == "choice":
        return rng.choice(question.options).value
    if kind == "yesno":
        return rng.choice(["yes", "no"])
    if kind == "checkboxes":
        values = [option.value for option in question.options]
        low = max(1, int(rules.get("min_selected", 1)))
        high = int(rules.get("max_selected", len(values)))
        chosen = set(rng.sample(values, rng.randint(low, high)))
        return [value for value in values if value in chosen]
    if kind == "nino":
        return rng.choice(["AB123456C", "JG103792D"])
    if kind == "national_id":
        body = "".join(rng.choice("0123456789") for _ in range(9))
        return body + str(national_id_check_digit(body))
    if kind == "file":
        count = rng.randint(0 if not question.required else 1, question.file_policy.max_files)
        return [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(count)]
    raise AssertionError(kind)


def answer_page(questions_: tuple[Question, ...], rng: random.Random) -> dict[str, Any]:
    """Answer a page the way the runner does: values shown in inputs, then parsed back."""
    values: dict[str, Any] = {}
    for question in questions_:
        value = generate(question, rng)
        assert question_check(question, value, "en") == [], (question.id, value)
        if question.type == "file":
            values[question.id] = value
            continue
        shown = question_initial(question, value)
        data = {name: raw if isinstance(raw, list) else [raw] for name, raw in shown.items()}
        result = question_parse(question, data, rng.choice(["en", "cy"]))
        assert result.errors == [], (question.id, value, result.errors)
        assert result.value == value, (question.id, value, result.value)
        values[question.id] = value
    return values


def walk(definition: FormDefinition, rng: random.Random) -> tuple[dict[str, Any], list[PageRef]]:
    """Answer the form from its first step until check your answers; return answers and steps."""
    answers: dict[str, Any] = {}
    visited: list[PageRef] = []
    targets: dict[str, int] = {}
    ref = engine.first_step(definition, answers)
    for _ in range(500):
        if ref is None:
            return answers, visited
        assert ref in engine.route(definition, answers), ref
        visited.append(ref)
        if ref.is_group_summary:
            group = definition.group(ref.page_id)
            target = targets.setdefault(group.id, rng.randint(group.min, min(group.max, 3)))
            items = answers.setdefault(group.id, [])
            if len(items) < target:
                items.append({})
                ref = engine.group_item_first_step(definition, answers, group.id, len(items) - 1)
                continue
        elif ref.index is not None:
            assert ref.group_id is not None
            item = answers[ref.group_id][ref.index]
            item.update(answer_page(definition.page(ref.page_id).questions, rng))
        else:
            answers.update(answer_page(definition.page(ref.page_id).questions, rng))
        answers = engine.answers_prune(definition, answers)
        ref = engine.next_step(definition, answers, ref)
    raise AssertionError("the walk did not reach check your answers")


@pytest.mark.parametrize("slug", sorted(EXPECTED))
def test_demo_form_walks_from_start_to_end(slug: str) -> None:
    """Walks with varied answers finish complete and valid, and reach every page."""
    definition = load(slug)
    reached: set[str] = set()
    for seed in range(WALKS):
        rng = random.Random(f"{slug}-{seed}")
        answers, visited = walk(definition, rng)
        assert engine.first_incomplete(definition, answers) is None, (seed, answers)
        assert engine.answers_validate(definition, answers, "en") == {}, seed
        assert engine.answers_validate(definition, answers, "cy") == {}, seed
        assert engine.answers_prune(definition, answers) == answers
        summary = engine.answers_summary(definition, answers, rng.choice(["en", "cy"]))
        assert sum(len(section.rows) for section in summary) > 0
        for section in summary:
            for row in section.rows:
                assert row.change_ref in engine.route(definition, answers)
        if definition.sections:
            assert {task.status for task in engine.task_list(definition, answers)} == {"completed"}
        for path, document in engine.files_in_answers(definition, answers):
            assert uuid.UUID(document) and path
        reached.update(ref.page_id for ref in visited)
    every_page = {page.id for page in definition.pages()} | {
        item.id for item in definition.items if isinstance(item, Group)
    }
    assert every_page - reached == set(), "pages never reached"


@pytest.mark.parametrize("slug", sorted(EXPECTED))
def test_task_list_starts_not_started(slug: str) -> None:
    """Before any answer, the first section can start and none is completed."""
    definition = load(slug)
    tasks = engine.task_list(definition, {})
    if not definition.sections:
        assert tasks == []
        return
    assert tasks[0].status == "not_started"
    assert tasks[0].first_ref == engine.first_step(definition, {})
    assert all(task.status in ("not_started", "cannot_start") for task in tasks)


@pytest.mark.parametrize("slug", sorted(EXPECTED))
def test_prechecks_let_some_people_in_and_keep_others_out(slug: str) -> None:
    """Every precheck has an eligible and an ineligible set of answers."""
    definition = load(slug)
    if definition.precheck is None:
        assert engine.precheck_evaluate(definition, {})
        return
    outcomes = set()
    for seed in range(60):
        rng = random.Random(seed)
        answers = {q.id: generate(q, rng) for q in definition.precheck.questions}
        for q in definition.precheck.questions:
            if q.type == "number":
                answers[q.id] = rng.choice([0, 3, 7, 30])
        outcomes.add(engine.precheck_evaluate(definition, answers))
    assert outcomes == {True, False}


def test_housing_benefit_branches() -> None:
    """Housing Benefit: household members without income skip the proof of income page."""
    definition = load("apply-housing-benefit")
    answers = {
        "lives_with_others": "yes",
        "household": [
            {"member_name": "Alex", "member_relationship": "child"},
            {"member_name": "Kim", "member_relationship": "partner", "member_has_income": "yes"},
        ],
        "income_sources": ["employment"],
        "savings": 2_000_000,
    }
    keys = [ref.key for ref in engine.route(definition, answers)]
    assert "household.0.member_income_page" not in keys
    assert "household.1.member_income_amount" in keys
    assert "earnings" in keys and "payslip_documents" in keys
    assert "benefits_received" not in keys
    assert "savings_over_limit" in keys
