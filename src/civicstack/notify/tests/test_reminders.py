"""Reminders: planned once, sent once, cancelled when stale, right across clock changes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta

import pytest

from civicstack.notify import reminders
from civicstack.notify.models import Reminder, ReminderStatus
from civicstack.notify.reminders import Planned, ReminderKind, local_instant, reminder_kinds

pytestmark = pytest.mark.django_db

# Europe/London: clocks go forward at 01:00 UTC on 29 March 2026 and back at 01:00 UTC on
# 25 October 2026.
SPRING = date(2026, 3, 29)
AUTUMN = date(2026, 10, 25)


class Subjects:
    """A reminder kind over a set of subjects the test controls."""

    def __init__(self) -> None:
        self.planned: list[Planned] = []
        self.stale: set[str] = set()
        self.sent: list[tuple[str, str, datetime]] = []
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def kind(self) -> ReminderKind:
        return ReminderKind(
            plan=lambda now, until: list(self.planned),
            relevant=lambda subject: subject not in self.stale,
            send=lambda subject, key: self.sent.append((subject, key, self.now)),
        )


@pytest.fixture
def subjects() -> Iterator[Subjects]:
    kind = Subjects()
    reminder_kinds.register("test.kind")(kind.kind())
    try:
        yield kind
    finally:
        reminder_kinds.unregister("test.kind")


@pytest.mark.parametrize(
    ("day", "clock", "expected_utc"),
    [
        # 09:00 is 09:00 GMT before the spring change and 08:00 UTC after it.
        (date(2026, 3, 28), time(9), datetime(2026, 3, 28, 9, tzinfo=UTC)),
        (SPRING, time(9), datetime(2026, 3, 29, 8, tzinfo=UTC)),
        # 01:30 does not exist on the spring day: it moves on to 02:30 BST (01:30 UTC).
        (SPRING, time(1, 30), datetime(2026, 3, 29, 1, 30, tzinfo=UTC)),
        # 01:30 happens twice on the autumn day: the first one (BST) is taken.
        (AUTUMN, time(1, 30), datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
        (AUTUMN, time(9), datetime(2026, 10, 25, 9, tzinfo=UTC)),
        (date(2026, 10, 24), time(9), datetime(2026, 10, 24, 8, tzinfo=UTC)),
    ],
)
def test_local_times_become_the_right_instants(
    day: date, clock: time, expected_utc: datetime
) -> None:
    """A local wall-clock time maps to one instant, including on the days the clocks change."""
    assert local_instant(day, clock, "Europe/London") == expected_utc


def _run_minute_by_minute(subjects: Subjects, start: datetime, end: datetime) -> None:
    now = start
    while now <= end:
        subjects.now = now
        if now.minute % 15 == 0:
            reminders.reminders_plan(now=now)
        reminders.reminders_send_due(now=now)
        now += timedelta(minutes=1)


@pytest.mark.parametrize("change_day", [SPRING, AUTUMN], ids=["spring", "autumn"])
def test_no_reminder_is_missed_or_doubled_across_a_clock_change(
    subjects: Subjects, change_day: date
) -> None:
    """The jobs run every minute through the change; each reminder goes once, on time."""
    subjects.planned = [
        Planned("before", change_day - timedelta(days=1), time(9)),
        Planned("in-the-gap-or-fold", change_day, time(1, 30)),
        Planned("on-the-day", change_day, time(9)),
        Planned("after", change_day + timedelta(days=1), time(9)),
    ]
    start = datetime.combine(change_day - timedelta(days=1), time(0), tzinfo=UTC)
    end = start + timedelta(days=3)
    _run_minute_by_minute(subjects, start, end)
    sent_at = {subject: at for subject, _, at in subjects.sent}
    assert len(subjects.sent) == 4 == len(sent_at)
    for planned in subjects.planned:
        expected = local_instant(planned.local_date, planned.local_time, "Europe/London")
        assert sent_at[planned.subject] == expected
    assert Reminder.objects.filter(status=ReminderStatus.SENT).count() == 4


def test_planning_twice_plans_once_and_stale_reminders_are_cancelled(subjects: Subjects) -> None:
    """Re-planning adds nothing; a reminder no longer wanted is cancelled, not sent."""
    now = datetime(2026, 5, 1, 12, tzinfo=UTC)
    subjects.planned = [Planned("a", date(2026, 5, 3)), Planned("b", date(2026, 5, 4))]
    reminders.reminders_plan(now=now)
    reminders.reminders_plan(now=now)
    assert Reminder.objects.count() == 2
    subjects.planned = [Planned("a", date(2026, 5, 3))]
    reminders.reminders_plan(now=now)
    assert Reminder.objects.get(subject="b").status == ReminderStatus.CANCELLED
    subjects.stale = {"a"}
    subjects.now = datetime(2026, 5, 5, tzinfo=UTC)
    assert reminders.reminders_send_due(now=subjects.now) == 0
    assert subjects.sent == []
    reminder = Reminder.objects.get(subject="a")
    assert reminder.status == ReminderStatus.CANCELLED
    assert reminder.cancelled_reason == "No longer relevant"


def test_a_reminder_sent_twice_by_two_schedulers_goes_once(subjects: Subjects) -> None:
    """Running the due job twice for the same minute sends each reminder once."""
    now = datetime(2026, 6, 1, 12, tzinfo=UTC)
    subjects.planned = [Planned("a", date(2026, 6, 2))]
    reminders.reminders_plan(now=now)
    later = datetime(2026, 6, 2, 9, tzinfo=UTC)
    subjects.now = later
    assert reminders.reminders_send_due(now=later) == 1
    assert reminders.reminders_send_due(now=later) == 0
    assert [subject for subject, _, _ in subjects.sent] == ["a"]
    (key,) = {key for _, key, _ in subjects.sent}
    assert key == f"reminder:{Reminder.objects.get().pk}"
