"""Edges of the pipeline: claims that run out, worn-out messages, unusable overrides."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from civicstack.catalogue.tests.factories import ServiceFactory
from civicstack.notify import delivery, reminders, services
from civicstack.notify.channels import Outcome
from civicstack.notify.models import Notification, Reminder, ReminderStatus, Status, Template
from civicstack.notify.recipients import RecipientError, email_normalise
from civicstack.notify.reminders import Planned, ReminderKind, reminder_kinds
from civicstack.notify.tests.test_api_v2 import Api, errors, sender_setup

pytestmark = pytest.mark.django_db

QUEUE_OFF = {"TASKS": {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}}


def _waiting(template: Template) -> Notification:
    with override_settings(**QUEUE_OFF):
        return delivery.notification_create(
            sender=template.sender,  # type: ignore[arg-type]
            kind="email",
            recipient="ann@example.org",
            template=template,
            personalisation={"reference": "R-1", "name": "Ann", "paid": "no"},
        )


def test_an_outcome_after_the_claim_was_taken_back_changes_nothing(
    email_template: Template,
) -> None:
    """A slow worker whose claim ran out must not overwrite the row another worker holds."""
    notification = _waiting(email_template)
    (claimed,) = delivery._claim([str(notification.pk)], timezone.now())
    # The sweeper takes it back and a second worker claims it.
    Notification.objects.filter(pk=notification.pk).update(
        claimed_until=timezone.now() - timedelta(seconds=1)
    )
    delivery.notifications_sweep()
    (second,) = delivery._claim([str(notification.pk)], timezone.now())
    assert delivery.outcome_record(claimed, Outcome("retry", "slow"), provider="email") is False
    notification.refresh_from_db()
    assert notification.status == Status.SENDING
    assert notification.claimed_until == second.claimed_until
    delivery.outcome_record(second, Outcome("delivered"), provider="email")
    notification.refresh_from_db()
    assert notification.status == Status.DELIVERED


def test_a_message_whose_worker_keeps_dying_is_given_up(email_template: Template) -> None:
    """Retaken after its last allowed attempt, it becomes a technical failure, not a loop."""
    notification = _waiting(email_template)
    Notification.objects.filter(pk=notification.pk).update(
        status=Status.SENDING,
        attempts=25,
        claimed_until=timezone.now() - timedelta(seconds=1),
    )
    delivery.notifications_sweep()
    notification.refresh_from_db()
    assert notification.status == Status.TECHNICAL_FAILURE
    assert "the worker stopped" in notification.failure_reason


def test_a_text_without_a_receipt_for_72_hours_is_a_temporary_failure(
    email_template: Template,
) -> None:
    """A message the gateway accepted but never reported on does not stay sending for ever."""
    notification = _waiting(email_template)
    Notification.objects.filter(pk=notification.pk).update(
        status=Status.SENDING, claimed_until=None, sent_at=timezone.now() - timedelta(hours=73)
    )
    delivery.notifications_sweep()
    notification.refresh_from_db()
    assert notification.status == Status.TEMPORARY_FAILURE
    assert notification.failure_reason == "No delivery receipt within 72 hours"


def test_a_service_wording_that_does_not_fit_falls_back_to_the_platform_message() -> None:
    """An override the values cannot fill never stops the business change."""
    service = ServiceFactory()
    sender = services.sender_for_service(service=service)
    # Made directly: the editor would refuse it (see the back-office tests).
    broken = Template.objects.create(
        sender=sender, key="cases.decided.email", name="x", kind="email"
    )
    broken.versions.create(version=1, subject_en="Hi ((nickname))", body_en="((nickname))")
    sent = services.notification_send(
        message="cases.decided",
        service=service,
        email="ann@example.org",
        idempotency_key="case:1:decided",
        personalisation={"reference": "APP-1", "service title": "Parking", "link": "https://x"},
    )
    (notification,) = sent
    assert notification.template is not None and notification.template.sender_id is None
    assert "APP-1" in notification.subject


def test_platform_messages_are_not_stopped_by_the_daily_cap() -> None:
    """Confirmations and decisions go out even when the sender's API use hit its cap."""
    service = ServiceFactory()
    sender = services.sender_for_service(service=service)
    sender.daily_limit = 1
    sender.save()
    for number in range(3):
        assert services.notification_send(
            message="cases.decided",
            service=service,
            email="ann@example.org",
            idempotency_key=f"case:{number}:decided",
            personalisation={"reference": "APP-1", "service title": "Parking", "link": "x"},
        )


def test_addresses_at_ip_literals_are_refused() -> None:
    """The mail server is never asked to deliver straight to an IP address."""
    with pytest.raises(RecipientError):
        email_normalise("a@[10.0.0.5]")


def test_nan_and_nul_in_an_api_body_are_bad_requests() -> None:
    """Values that are not JSON or cannot be stored get Notify's 400, never a 500."""
    setup = sender_setup()
    api = Api(setup.keys["normal"])
    for body in (
        '{"email_address": "a@example.org", "template_id": "%s", "personalisation": {"n": NaN}}',
        '{"email_address": "a@example.org", "template_id": "%s", "reference": "a\\u0000b"}',
    ):
        response = api.post("/v2/notifications/email", body % setup.email.pk)
        assert response.status_code == 400
        assert errors(response)[0][0] in {"BadRequestError", "ValidationError"}
    assert not Notification.objects.exists()


class _Kind:
    def __init__(self) -> None:
        self.planned: list[Planned] = []
        self.sent: list[str] = []

    def kind(self) -> ReminderKind:
        return ReminderKind(
            plan=lambda now, until: list(self.planned),
            relevant=lambda subject: True,
            send=lambda subject, key: self.sent.append(subject),
        )


@pytest.fixture
def kind() -> object:
    made = _Kind()
    reminder_kinds.register("test.edges")(made.kind())
    yield made
    reminder_kinds.unregister("test.edges")


def test_an_overdue_reminder_is_sent_late_not_cancelled_by_planning(kind: _Kind) -> None:
    """After the jobs were down overnight, yesterday's reminder still goes."""
    kind.planned = [Planned("a", date(2026, 6, 2))]
    reminders.reminders_plan(now=datetime(2026, 6, 1, 12, tzinfo=UTC))
    kind.planned = []  # the kind only plans from today on
    morning = datetime(2026, 6, 3, 7, tzinfo=UTC)
    reminders.reminders_plan(now=morning)
    assert Reminder.objects.get().status == ReminderStatus.SCHEDULED
    assert reminders.reminders_send_due(now=morning) == 1
    assert kind.sent == ["a"]


def test_a_reminder_no_longer_needed_is_planned_again_when_it_is(kind: _Kind) -> None:
    """A deadline moved away and back: the reminder is scheduled again, once."""
    now = datetime(2026, 6, 1, 12, tzinfo=UTC)
    kind.planned = [Planned("a", date(2026, 6, 5))]
    reminders.reminders_plan(now=now)
    kind.planned = []
    reminders.reminders_plan(now=now)
    assert Reminder.objects.get().status == ReminderStatus.CANCELLED
    kind.planned = [Planned("a", date(2026, 6, 5))]
    reminders.reminders_plan(now=now)
    assert Reminder.objects.get().status == ReminderStatus.SCHEDULED


def test_one_failing_reminder_does_not_hold_up_the_others() -> None:
    """A reminder whose sending raises is set aside with the reason; the next one goes."""
    sent: list[str] = []

    def send(subject: str, key: str) -> None:
        if subject == "bad":
            raise RuntimeError("boom")
        sent.append(subject)

    reminder_kinds.register("test.failing")(
        ReminderKind(
            plan=lambda now, until: [
                Planned("bad", date(2026, 6, 2)),
                Planned("good", date(2026, 6, 2)),
            ],
            relevant=lambda subject: True,
            send=send,
        )
    )
    try:
        reminders.reminders_plan(now=datetime(2026, 6, 1, 12, tzinfo=UTC))
        Reminder.objects.filter(subject="bad").update(due_at=datetime(2026, 6, 2, 7, tzinfo=UTC))
        assert reminders.reminders_send_due(now=datetime(2026, 6, 2, 10, tzinfo=UTC)) == 1
    finally:
        reminder_kinds.unregister("test.failing")
    assert sent == ["good"]
    bad = Reminder.objects.get(subject="bad")
    assert bad.status == ReminderStatus.CANCELLED
    assert bad.cancelled_reason == "Could not be sent: RuntimeError"


def test_a_burst_of_messages_asks_for_one_drain_task(email_template: Template) -> None:
    """Thirty messages queue one task between them; that task sends all thirty."""
    from django.conf import settings as django_settings
    from django.core import mail
    from django_tasks_db.models import DBTaskResult

    with override_settings(TASKS=django_settings.CONFIGURED_TASKS_DB):
        notifications: list[Notification] = []
        for number in range(30):
            notifications.append(
                delivery.notification_create(
                    sender=email_template.sender,  # type: ignore[arg-type]
                    kind="email",
                    recipient=f"person{number}@example.org",
                    template=email_template,
                    personalisation={"reference": str(number), "name": "Ann", "paid": "no"},
                )
            )
    drains = DBTaskResult.objects.filter(task_path__endswith="notifications_drain")
    assert drains.count() == 1
    mail.outbox = []
    assert delivery.notifications_drain(linger=0) == 30
    assert len(mail.outbox) == 30
    assert not Notification.objects.exclude(status=Status.DELIVERED).exists()
