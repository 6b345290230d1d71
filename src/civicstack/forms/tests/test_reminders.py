"""The saved-application reminder: three days before a draft is deleted."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from django.utils import timezone

from civicstack.forms import reminders
from civicstack.forms.models import Draft
from civicstack.forms.services import draft_delete, draft_start
from civicstack.notify import reminders as notify_reminders
from civicstack.notify.models import Notification, Reminder, ReminderStatus

pytestmark = pytest.mark.django_db


def test_a_saved_application_is_reminded_three_days_before_it_is_deleted(permit_service, citizen):
    """The reminder is at 09:00 local three days before expiry, and links back to the draft."""
    draft = draft_start(service=permit_service, user=citizen, language="cy", actor=citizen)
    expiry = timezone.localdate(draft.expires_at)
    now = datetime.combine(expiry - timedelta(days=10), time(12), tzinfo=UTC)
    notify_reminders.reminders_plan(now=now)
    notify_reminders.reminders_plan(now=now)
    reminder = Reminder.objects.get(kind=reminders.DRAFT_EXPIRY_KIND)
    assert reminder.local_date == expiry - timedelta(days=3)
    assert timezone.localtime(reminder.due_at).time() == time(9)
    Draft.objects.filter(pk=draft.pk).update(expires_at=timezone.now() + timedelta(days=2))
    assert notify_reminders.reminders_send_due(now=timezone.now()) == 0  # not due yet
    Reminder.objects.filter(pk=reminder.pk).update(due_at=timezone.now() - timedelta(minutes=1))
    assert notify_reminders.reminders_send_due() == 1
    message = Notification.objects.get(idempotency_key=f"reminder:{reminder.pk}:email")
    assert message.recipient == citizen.email
    assert message.language == "cy"
    assert "yn cael ei ddileu" in message.subject
    assert f"/cy/apply/d/{draft.pk}/" in message.body


def test_a_deleted_draft_cancels_its_reminder(permit_service, citizen):
    """Once the draft is gone, its reminder is cancelled and nothing is sent."""
    draft = draft_start(service=permit_service, user=citizen, language="en", actor=citizen)
    expiry = timezone.localdate(draft.expires_at)
    notify_reminders.reminders_plan(
        now=datetime.combine(expiry - timedelta(days=10), time(12), tzinfo=UTC)
    )
    reminder = Reminder.objects.get(kind=reminders.DRAFT_EXPIRY_KIND)
    draft_delete(draft=draft, actor=citizen)
    Reminder.objects.filter(pk=reminder.pk).update(due_at=timezone.now() - timedelta(minutes=1))
    assert notify_reminders.reminders_send_due() == 0
    reminder.refresh_from_db()
    assert reminder.status == ReminderStatus.CANCELLED
    assert not Notification.objects.exists()
