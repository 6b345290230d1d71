"""Automation rules without code: conditions a service owner sets in the back office.

A condition compares one input with a value::

    {"field": "answers.vehicle_count", "operator": "lte", "value": 2}
    {"field": "documents.present", "operator": "eq", "value": true}

Fields are ``answers.<question id>`` (a top-level answer), ``documents.count`` and
``documents.present`` (every file the applicant gave is stored and clean). There is no
expression language and nothing is evaluated as code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

OPERATORS: dict[str, Promise] = {
    "eq": _("is"),
    "ne": _("is not"),
    "gt": _("is more than"),
    "gte": _("is at least"),
    "lt": _("is less than"),
    "lte": _("is at most"),
    "in": _("is one of"),
    "not_in": _("is none of"),
    "present": _("is answered"),
    "absent": _("is not answered"),
}
_NO_VALUE = frozenset({"present", "absent"})
_ORDERED = frozenset({"gt", "gte", "lt", "lte"})
MAX_CONDITIONS = 20
_MISSING = object()
# Question ids as forms write them: a letter, then letters, digits and underscores.
_ANSWER_ID = re.compile(r"[a-z][a-z0-9_]{0,99}")


class RuleInvalid(ValueError):
    """A rule's conditions cannot be used; ``errors`` says why, one line per problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class ConditionResult:
    field: str
    operator: str
    expected: Any
    actual: Any
    passed: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "operator": self.operator,
            "expected": self.expected,
            "actual": self.actual,
            "passed": self.passed,
        }


def conditions_check(conditions: object) -> list[dict[str, Any]]:
    """Return ``conditions`` in their stored form, or raise ``RuleInvalid``."""
    if not isinstance(conditions, list) or not conditions:
        raise RuleInvalid([str(_("Add at least one condition."))])
    if len(conditions) > MAX_CONDITIONS:
        raise RuleInvalid([str(_("A rule can have at most 20 conditions."))])
    errors: list[str] = []
    clean: list[dict[str, Any]] = []
    for number, condition in enumerate(conditions, start=1):
        if not isinstance(condition, Mapping):
            errors.append(str(_("Condition %(n)s is not a condition.") % {"n": number}))
            continue
        field = condition.get("field")
        operator = condition.get("operator")
        value = condition.get("value")
        if not isinstance(field, str) or not _field_valid(field):
            errors.append(
                str(
                    _("Condition %(n)s: choose what to check (an answer, or the documents).")
                    % {"n": number}
                )
            )
            continue
        if operator not in OPERATORS:
            errors.append(str(_("Condition %(n)s: choose a comparison.") % {"n": number}))
            continue
        if operator in _NO_VALUE:
            clean.append({"field": field, "operator": operator})
            continue
        if operator in ("in", "not_in"):
            if not isinstance(value, list) or not value or not all(_scalar(v) for v in value):
                errors.append(str(_("Condition %(n)s: give a list of values.") % {"n": number}))
                continue
        elif operator in _ORDERED:
            if isinstance(value, bool) or not isinstance(value, int | float):
                errors.append(str(_("Condition %(n)s: give a number.") % {"n": number}))
                continue
        elif not _scalar(value):
            errors.append(str(_("Condition %(n)s: give a value.") % {"n": number}))
            continue
        clean.append({"field": field, "operator": operator, "value": value})
    if errors:
        raise RuleInvalid(errors)
    return clean


def _scalar(value: object) -> bool:
    return value is None or (isinstance(value, str | int | float | bool) and len(str(value)) <= 200)


def _field_valid(field: str) -> bool:
    if field in ("documents.count", "documents.present"):
        return True
    prefix, _dot, name = field.partition(".")
    return prefix == "answers" and _ANSWER_ID.fullmatch(name) is not None


def _lookup(field: str, facts: Mapping[str, Any]) -> Any:
    if field == "documents.count":
        return facts.get("documents_count", 0)
    if field == "documents.present":
        return facts.get("documents_present", False)
    answers = facts.get("answers") or {}
    name = field.partition(".")[2]
    return answers.get(name, _MISSING) if isinstance(answers, Mapping) else _MISSING


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _compare(operator: str, actual: Any, expected: Any) -> bool:
    if operator == "present":
        return actual is not _MISSING and actual not in (None, "", [], {})
    if operator == "absent":
        return actual is _MISSING or actual in (None, "", [], {})
    if actual is _MISSING:
        return False
    if operator == "eq":
        return bool(actual == expected)
    if operator == "ne":
        return bool(actual != expected)
    if operator == "in":
        return bool(actual in expected)
    if operator == "not_in":
        return bool(actual not in expected)
    left = _number(actual)
    right = _number(expected)
    if left is None or right is None:
        return False
    return {
        "gt": left > right,
        "gte": left >= right,
        "lt": left < right,
        "lte": left <= right,
    }[operator]


def conditions_evaluate(
    conditions: Sequence[Mapping[str, Any]], facts: Mapping[str, Any]
) -> list[ConditionResult]:
    """Evaluate each stored condition against ``facts`` (answers and document checks)."""
    results = []
    for condition in conditions:
        field = str(condition.get("field", ""))
        operator = str(condition.get("operator", ""))
        expected = condition.get("value")
        actual = _lookup(field, facts)
        passed = operator in OPERATORS and _compare(operator, actual, expected)
        results.append(
            ConditionResult(
                field=field,
                operator=operator,
                expected=expected,
                actual=None if actual is _MISSING else _shown(actual),
                passed=passed,
            )
        )
    return results


def _shown(value: Any) -> Any:
    # Inputs are recorded on the timeline; keep them small.
    if isinstance(value, str) and len(value) > 200:
        return value[:200] + "…"
    if isinstance(value, list | dict):
        text = str(value)
        return text if len(text) <= 200 else text[:200] + "…"
    return value
