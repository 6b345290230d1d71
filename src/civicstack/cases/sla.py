"""Service levels in working days: weekends and each UK nation's bank holidays don't count.

Bank holidays come from the ``holidays`` package (maintained, with substitute days such
as "Boxing Day (observed)"); its UK subdivisions are England, Wales, Scotland and
Northern Ireland.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

import holidays

_SUBDIVISIONS = {
    "england": "ENG",
    "wales": "WLS",
    "scotland": "SCT",
    "northern-ireland": "NIR",
}


@lru_cache(maxsize=64)
def _bank_holidays(nation: str, year: int) -> frozenset[date]:
    subdivision = _SUBDIVISIONS.get(nation)
    if subdivision is None:
        raise ValueError(f"unknown nation {nation!r}")
    return frozenset(holidays.country_holidays("GB", subdiv=subdivision, years=year).keys())


def is_working_day(day: date, *, nation: str) -> bool:
    """Return whether ``day`` is a working day in ``nation``."""
    return day.weekday() < 5 and day not in _bank_holidays(nation, day.year)


def working_days_add(start: date, days: int, *, nation: str) -> date:
    """Return the working day that is ``days`` working days after ``start``.

    The day something arrives does not count, as in "we aim to decide within 20 working
    days": something received on a Friday with a target of 1 is due on Monday (or on
    Tuesday when Monday is a bank holiday). A target of 0 is due the next working day
    on or after ``start``.
    """
    if days < 0:
        raise ValueError("days must not be negative")
    day = start
    if days == 0:
        while not is_working_day(day, nation=nation):
            day += timedelta(days=1)
        return day
    remaining = days
    while remaining:
        day += timedelta(days=1)
        if is_working_day(day, nation=nation):
            remaining -= 1
    return day


def working_days_between(start: date, end: date, *, nation: str) -> int:
    """Return how many working days lie after ``start`` up to and including ``end``.

    Negative when ``end`` is before ``start``: a case 3 working days overdue is -3.
    """
    if end == start:
        return 0
    step = 1 if end > start else -1
    count = 0
    day = start
    while day != end:
        day += timedelta(days=step)
        if is_working_day(day, nation=nation):
            count += step
    return count
