"""Rules without code: conditions are checked when saved and evaluated as data."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from civicstack.cases import rules

FACTS = {
    "answers": {"age": 70, "county": "Powys", "reference": "", "count": "3"},
    "documents_count": 2,
    "documents_present": True,
}


@pytest.mark.parametrize(
    ("condition", "passed"),
    [
        ({"field": "answers.age", "operator": "gte", "value": 65}, True),
        ({"field": "answers.age", "operator": "lt", "value": 65}, False),
        ({"field": "answers.count", "operator": "gt", "value": 2}, True),
        ({"field": "answers.county", "operator": "in", "value": ["Powys", "Gwynedd"]}, True),
        ({"field": "answers.county", "operator": "not_in", "value": ["Powys"]}, False),
        ({"field": "answers.reference", "operator": "present"}, False),
        ({"field": "answers.missing", "operator": "absent"}, True),
        ({"field": "answers.missing", "operator": "eq", "value": None}, False),
        ({"field": "documents.present", "operator": "eq", "value": True}, True),
        ({"field": "documents.count", "operator": "gte", "value": 3}, False),
        ({"field": "answers.county", "operator": "gt", "value": 1}, False),
    ],
)
def test_conditions_evaluate(condition, passed):
    """Each operator compares the named input with the value; missing answers fail."""
    clean = rules.conditions_check([condition])
    [result] = rules.conditions_evaluate(clean, FACTS)
    assert result.passed is passed


@pytest.mark.parametrize(
    "conditions",
    [
        [],
        "answers.age > 3",
        [{"field": "answers.__class__", "operator": "eq", "value": 1}],
        [{"field": "answers.age", "operator": "lambda", "value": 1}],
        [{"field": "answers.age", "operator": "gt", "value": "x"}],
        [{"field": "answers.age", "operator": "in", "value": "x"}],
        [{"field": "settings.SECRET_KEY", "operator": "eq", "value": "x"}],
        [{"field": "answers.age", "operator": "eq", "value": {"nested": 1}}],
        [{"field": "answers.age", "operator": "eq", "value": 1}] * 21,
    ],
)
def test_bad_conditions_are_refused(conditions):
    """Conditions that are not data the engine understands are refused with reasons."""
    with pytest.raises(rules.RuleInvalid) as error:
        rules.conditions_check(conditions)
    assert error.value.errors


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
        max_leaves=10,
    )
)
def test_any_input_either_checks_or_is_refused(value):
    """No input makes the checker or the evaluator raise anything else."""
    try:
        clean = rules.conditions_check(value)
    except rules.RuleInvalid:
        return
    rules.conditions_evaluate(clean, {"answers": value if isinstance(value, dict) else {}})
