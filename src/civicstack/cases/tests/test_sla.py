"""Working days for each UK nation, with bank holidays and substitute days."""

from __future__ import annotations

from datetime import date

import pytest

from civicstack.cases import sla


def test_friday_plus_one_working_day_is_monday():
    """Something received on a Friday with a one-day target is due on Monday."""
    assert sla.working_days_add(date(2026, 3, 6), 1, nation="england") == date(2026, 3, 9)


def test_easter_monday_is_skipped_in_england_but_not_in_scotland():
    """Easter Monday is a bank holiday in England, not in Scotland."""
    thursday = date(2026, 4, 2)  # Good Friday is 3 April 2026 in every nation
    assert sla.working_days_add(thursday, 1, nation="england") == date(2026, 4, 7)
    assert sla.working_days_add(thursday, 1, nation="scotland") == date(2026, 4, 6)


def test_substitute_boxing_day_counts_as_a_holiday():
    """Boxing Day 2026 falls on a Saturday; the substitute Monday is not a working day."""
    assert not sla.is_working_day(date(2026, 12, 28), nation="wales")
    assert sla.working_days_add(date(2026, 12, 24), 1, nation="wales") == date(2026, 12, 29)


def test_st_patricks_day_only_in_northern_ireland():
    """17 March is a bank holiday in Northern Ireland only."""
    assert not sla.is_working_day(date(2026, 3, 17), nation="northern-ireland")
    assert sla.is_working_day(date(2026, 3, 17), nation="england")


def test_twenty_working_days_across_christmas():
    """Twenty working days from 14 December 2026 skip weekends and three holidays."""
    due = sla.working_days_add(date(2026, 12, 14), 20, nation="england")
    assert due == date(2027, 1, 14)
    assert sla.working_days_between(date(2026, 12, 14), due, nation="england") == 20


def test_between_is_negative_when_overdue():
    """A date three working days in the past counts as -3."""
    assert sla.working_days_between(date(2026, 3, 12), date(2026, 3, 9), nation="england") == -3


def test_zero_days_is_the_next_working_day():
    """A target of 0 on a Sunday falls due on Monday."""
    assert sla.working_days_add(date(2026, 3, 8), 0, nation="england") == date(2026, 3, 9)


def test_unknown_nation_and_negative_days_are_refused():
    """Only the four nations are known; negative targets are refused."""
    with pytest.raises(ValueError):
        sla.working_days_add(date(2026, 3, 6), 1, nation="atlantis")
    with pytest.raises(ValueError):
        sla.working_days_add(date(2026, 3, 6), -1, nation="england")
