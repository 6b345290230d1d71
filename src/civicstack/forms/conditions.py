"""Evaluate the conditions of a form definition (``when`` and ``eligible``) over answers.

Conditions are data, never code::

    {question: has_vehicle, equals: "yes"}
    {question: reason, in: [blind, mobility_benefit]}
    {question: items, includes: fridge}                  # checkboxes
    {question: income, at_least: 10000}                 # number, money (pence)
    {question: partner_name, answered: true}
    {all: [...]} / {any: [...]} / {not: {...}}

A missing answer makes every test false except ``answered: false``; ``not_equals`` is false
for a missing answer too ("the answer is given and differs"). Evaluation never raises: odd
values and malformed conditions are simply false.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

_MAX_DEPTH: Final = 50
_COMPARISONS: Final = ("greater_than", "less_than", "at_least", "at_most")


def answer_given(value: object) -> bool:
    """Return True when ``value`` counts as an answer (not None, "", [] or {})."""
    if value is None:
        return False
    if isinstance(value, str):
        return value.strip() != ""
    if isinstance(value, list | tuple | dict):
        return len(value) > 0
    return True


def _same(left: object, right: object) -> bool:
    # JSON true is not 1: compare booleans only with booleans.
    if isinstance(left, bool) != isinstance(right, bool):
        return False
    try:
        return bool(left == right)
    except Exception:
        return False


def _number(value: object) -> int | float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and value != value:  # NaN
        return None
    return value


def _lookup(question_id: object, answers: Mapping[str, Any], item: Mapping[str, Any] | None) -> Any:
    if not isinstance(question_id, str):
        return None
    if item is not None and isinstance(item, Mapping) and question_id in item:
        return item.get(question_id)
    if isinstance(answers, Mapping):
        return answers.get(question_id)
    return None


def condition_evaluate(
    condition: object, answers: Mapping[str, Any], item: Mapping[str, Any] | None = None
) -> bool:
    """Return whether ``condition`` holds for ``answers`` (and a group ``item``'s answers).

    Inside a repeating group, a question id is looked up in the item's answers first, then in
    the top-level answers.
    """
    return _evaluate(condition, answers, item, 0)


def _evaluate(
    condition: object, answers: Mapping[str, Any], item: Mapping[str, Any] | None, depth: int
) -> bool:
    if not isinstance(condition, Mapping) or depth > _MAX_DEPTH:
        return False
    if "all" in condition:
        children = condition["all"]
        return isinstance(children, list) and all(
            _evaluate(child, answers, item, depth + 1) for child in children
        )
    if "any" in condition:
        children = condition["any"]
        return isinstance(children, list) and any(
            _evaluate(child, answers, item, depth + 1) for child in children
        )
    if "not" in condition:
        return not _evaluate(condition["not"], answers, item, depth + 1)
    value = _lookup(condition.get("question"), answers, item)
    given = answer_given(value)
    if "answered" in condition:
        return given == (condition["answered"] is True)
    if not given:
        return False
    if "equals" in condition:
        return _same(value, condition["equals"])
    if "not_equals" in condition:
        return not _same(value, condition["not_equals"])
    if "in" in condition:
        options = condition["in"]
        return isinstance(options, list) and any(_same(value, option) for option in options)
    if "includes" in condition:
        return isinstance(value, list) and any(
            _same(selected, condition["includes"]) for selected in value
        )
    for operator in _COMPARISONS:
        if operator in condition:
            number = _number(value)
            limit = _number(condition[operator])
            if number is None or limit is None:
                return False
            if operator == "greater_than":
                return number > limit
            if operator == "less_than":
                return number < limit
            if operator == "at_least":
                return number >= limit
            return number <= limit
    return False


def condition_questions(condition: object) -> set[str]:
    """Return the ids of the questions a condition refers to."""
    found: set[str] = set()
    _collect(condition, found, 0)
    return found


def _collect(condition: object, found: set[str], depth: int) -> None:
    if not isinstance(condition, Mapping) or depth > _MAX_DEPTH:
        return
    for key in ("all", "any"):
        children = condition.get(key)
        if isinstance(children, list):
            for child in children:
                _collect(child, found, depth + 1)
    if "not" in condition:
        _collect(condition["not"], found, depth + 1)
    question = condition.get("question")
    if isinstance(question, str):
        found.add(question)
