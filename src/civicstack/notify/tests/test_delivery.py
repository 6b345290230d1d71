"""The delivery pipeline against a real SMTP server on loopback."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from civicstack.notify import delivery
from civicstack.notify.channels import email_channel, message_id
from civicstack.notify.models import KeyType, Notification, Status, Template
from civicstack.notify.templating import PersonalisationError
from civicstack.notify.tests.conftest import SmtpServer

pytestmark = pytest.mark.django_db(transaction=True)


def _create(template: Template, **kwargs: object) -> Notification:
    values = {
        "sender": template.sender,
        "kind": "email",
        "recipient": "ann@example.org",
        "template": template,
        "personalisation": {"reference": "PERMIT-1", "name": "Ann <b>", "paid": "yes"},
    }
    values.update(kwargs)
    return delivery.notification_create(**values)  # type: ignore[arg-type]


def _age(notification: Notification, **fields: object) -> None:
    """Move a waiting message's next attempt (or a claim) into the past."""
    values = {"next_attempt_at": timezone.now() - timedelta(seconds=1), **fields}
    Notification.objects.filter(pk=notification.pk).update(**values)


def test_an_email_reaches_the_smtp_server_with_its_content(
    smtp_server: SmtpServer, email_template: Template
) -> None:
    """The mail server gets the personalised message, in text and HTML, with its Message-ID."""
    notification = _create(email_template)
    notification.refresh_from_db()
    assert notification.status == Status.DELIVERED
    assert notification.attempts == 1
    assert notification.template_version == 1
    (received,) = smtp_server.received
    assert received.envelope_to == ["ann@example.org"]
    message = received.message
    assert message["Subject"] == "Your permit PERMIT-1 is ready"
    assert message["Message-ID"] == message_id(notification.pk)
    parts = {part.get_content_type(): part.get_payload(decode=True) for part in message.walk()}
    text = parts["text/plain"].decode()
    html = parts["text/html"].decode()
    assert "Dear Ann <b>," in text and "You have paid." in text
    assert "<h2>Permit</h2>" in html and "Ann &lt;b&gt;" in html and "<b>" not in html


def test_welsh_wording_is_used_for_welsh_readers(
    smtp_server: SmtpServer, email_template: Template
) -> None:
    """A notification in Welsh uses the template's Welsh version."""
    _create(email_template, language="cy")
    (received,) = smtp_server.received
    assert received.message["Subject"] == "Mae eich trwydded PERMIT-1 yn barod"


def test_a_task_delivered_twice_reaches_the_smtp_server_once(
    smtp_server: SmtpServer, email_template: Template
) -> None:
    """Processing the same message again (a duplicated queue delivery) sends nothing more."""
    notification = _create(email_template)
    assert delivery.notifications_send([str(notification.pk)]) == 0
    assert delivery.notifications_send([str(notification.pk)]) == 0
    assert len(smtp_server.received) == 1


def test_two_workers_racing_for_one_message_send_it_once(
    smtp_server: SmtpServer, email_template: Template
) -> None:
    """Two workers claiming the same message at the same moment: one sends, one skips."""
    if connection.vendor == "sqlite":
        pytest.skip("the in-memory test database is shared by threads only on PostgreSQL")
    with override_settings(
        TASKS={"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
    ):
        notification = _create(email_template)
    results: list[int] = []
    barrier = threading.Barrier(2)

    def worker() -> None:
        barrier.wait()
        try:
            results.append(delivery.notifications_send([str(notification.pk)]))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [0, 1]
    assert smtp_server.message_ids() == [message_id(notification.pk)]


def test_a_second_claim_of_a_claimed_message_wins_nothing(email_template: Template) -> None:
    """Only one claim of a message can succeed, whatever order the workers come in."""
    with override_settings(
        TASKS={"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
    ):
        notification = _create(email_template)
    now = timezone.now()
    assert len(delivery._claim([str(notification.pk)], now)) == 1
    assert delivery._claim([str(notification.pk)], now) == []


def test_a_worker_killed_while_sending_is_taken_back_and_sent_once(
    smtp_server: SmtpServer, email_template: Template
) -> None:
    """A claim that runs out (the worker died mid-send) is requeued; the message arrives once."""
    with override_settings(
        TASKS={"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
    ):
        notification = _create(email_template)
    # The worker claimed it and died before the mail server accepted anything.
    claimed = delivery._claim([str(notification.pk)], timezone.now())
    assert [n.pk for n in claimed] == [notification.pk]
    notification.refresh_from_db()
    assert notification.status == Status.SENDING
    assert smtp_server.received == []
    # Nothing happens while the claim holds ...
    assert delivery.notifications_sweep() == 0
    # ... and once it has run out the sweeper requeues it, and the immediate backend sends.
    _age(notification, claimed_until=timezone.now() - timedelta(seconds=1))
    assert delivery.notifications_sweep() == 1
    notification.refresh_from_db()
    assert notification.status == Status.DELIVERED
    assert notification.attempts == 2
    assert smtp_server.message_ids() == [message_id(notification.pk)]
    assert delivery.notifications_sweep() == 0
    assert len(smtp_server.received) == 1


def test_a_mail_server_outage_is_retried_with_backoff_and_nothing_is_lost(
    smtp_server: SmtpServer, email_template: Template
) -> None:
    """With the server down the message waits; once the server is back it is sent once."""
    with override_settings(
        MAILERS={
            "default": {
                "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                "OPTIONS": {"host": "127.0.0.1", "port": 1, "timeout": 2},
            }
        }
    ):
        notification = _create(email_template)
        notification.refresh_from_db()
        assert notification.status == Status.CREATED
        assert notification.attempts == 1
        assert "unavailable" in notification.failure_reason
        wait = notification.next_attempt_at - timezone.now()
        assert timedelta(seconds=5) < wait < timedelta(seconds=30)
        # Not due yet, but the sweeper probes the server with it; still down, so the
        # next wait is longer.
        first_wait = wait
        assert delivery.notifications_sweep() == 1
        notification.refresh_from_db()
        assert notification.attempts == 2
        assert notification.status == Status.CREATED
        assert notification.next_attempt_at - timezone.now() > first_wait
    # The server is back.
    _age(notification)
    delivery.notifications_sweep()
    notification.refresh_from_db()
    assert notification.status == Status.DELIVERED
    assert notification.attempts == 3
    assert smtp_server.message_ids() == [message_id(notification.pk)]


def test_a_refused_address_is_a_permanent_failure_with_the_reason(
    smtp_server: SmtpServer, email_template: Template
) -> None:
    """A 5xx answer is not retried; the service owner sees why."""
    smtp_server.refuse_with = "550 5.1.1 Mailbox does not exist"
    notification = _create(email_template)
    notification.refresh_from_db()
    assert notification.status == Status.PERMANENT_FAILURE
    assert "550" in notification.failure_reason
    assert notification.completed_at is not None
    assert delivery.notifications_sweep(now=timezone.now() + timedelta(hours=1)) == 0


def test_a_message_is_given_up_after_the_last_attempt(
    smtp_server: SmtpServer, email_template: Template
) -> None:
    """After the last attempt the message is a technical failure, not retried for ever."""
    smtp_server.refuse_with = "451 4.3.0 Try later"
    with override_settings(NOTIFY_MAX_ATTEMPTS=2):
        notification = _create(email_template)
        notification.refresh_from_db()
        assert notification.status == Status.CREATED
        _age(notification)
        delivery.notifications_sweep()
    notification.refresh_from_db()
    assert notification.status == Status.TECHNICAL_FAILURE
    assert "Gave up after 2 attempts" in notification.failure_reason


def test_the_same_idempotency_key_makes_one_notification(
    smtp_server: SmtpServer, email_template: Template
) -> None:
    """A repeated business step with the same key returns the first notification."""
    first = _create(email_template, idempotency_key="case:1:decided")
    second = _create(email_template, idempotency_key="case:1:decided")
    assert first.pk == second.pk
    assert len(smtp_server.received) == 1


def test_test_keys_send_nothing(smtp_server: SmtpServer, email_template: Template) -> None:
    """A notification made with a test key is recorded as delivered and never sent."""
    notification = _create(email_template, key_type=KeyType.TEST)
    assert notification.status == Status.DELIVERED
    assert smtp_server.received == []


def test_missing_personalisation_writes_nothing(email_template: Template) -> None:
    """A message that cannot be rendered is refused before anything is written."""
    with pytest.raises(PersonalisationError, match="Missing personalisation: name"):
        _create(email_template, personalisation={"reference": "X"})
    assert not Notification.objects.exists()


def test_an_invalid_address_is_refused(email_template: Template) -> None:
    """An address that is not an email address is refused with Notify's message."""
    with pytest.raises(delivery.RecipientInvalid) as error:
        _create(email_template, recipient="not an address")
    assert str(error.value) == "email_address Not a valid email address"


def test_the_daily_limit_holds_and_counts_only_real_sends(email_template: Template) -> None:
    """Messages beyond the sender's daily limit are refused; test keys don't count."""
    sender = email_template.sender
    assert sender is not None
    sender.daily_limit = 2
    sender.save()
    with override_settings(
        TASKS={"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
    ):
        _create(email_template)
        _create(email_template, key_type=KeyType.TEST)
        _create(email_template)
        with pytest.raises(delivery.DailyLimitExceeded):
            _create(email_template)
    assert Notification.objects.count() == 3


def test_a_rolled_back_change_leaves_no_notification(
    smtp_server: SmtpServer, email_template: Template
) -> None:
    """The notification commits with the change that caused it, or not at all."""
    from django.db import transaction

    with pytest.raises(RuntimeError), transaction.atomic():
        _create(email_template)
        raise RuntimeError("the business change failed")
    assert not Notification.objects.exists()
    assert smtp_server.received == []
    email_channel.close()


def test_once_the_mail_server_is_back_the_waiting_messages_go_at_once(
    smtp_server: SmtpServer, email_template: Template
) -> None:
    """Messages backing off after an outage are sent as soon as one message gets through."""
    down = {
        "MAILERS": {
            "default": {
                "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                "OPTIONS": {"host": "127.0.0.1", "port": 1, "timeout": 2},
            }
        }
    }
    with override_settings(**down):
        waiting = [_create(email_template, recipient=f"p{n}@example.org") for n in range(3)]
    for notification in waiting:
        notification.refresh_from_db()
        assert notification.status == Status.CREATED
        assert notification.next_attempt_at > timezone.now()
    delivery._last_recovery_check = 0.0
    # The server is back: the next message goes, and takes the waiting ones with it.
    _create(email_template, recipient="new@example.org")
    assert len(smtp_server.received) == 4
    for notification in waiting:
        notification.refresh_from_db()
        assert notification.status == Status.DELIVERED
