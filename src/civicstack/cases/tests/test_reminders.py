"""Reminders the cases app plans: requested information, and permits running out."""

from __future__ import annotations

import io
from datetime import UTC, datetime, time, timedelta

import pytest
from django.utils import timezone
from pypdf import PdfReader

from civicstack.cases import reminders, services
from civicstack.cases.models import CaseSettings
from civicstack.documents.models import Document
from civicstack.notify import reminders as notify_reminders
from civicstack.notify.models import Notification, Reminder, ReminderStatus

pytestmark = pytest.mark.django_db


def _link(request):
    return f"/reply/{request.pk}"


def test_requested_information_is_reminded_five_days_before_and_cancelled_by_a_reply(
    open_case, staff, applicant
):
    """A reminder is planned for 09:00 five days before the due date; a reply cancels it."""
    case = open_case()
    services.case_claim(case=case, actor=staff["caseworker"])
    request = services.case_information_request(
        case=case, question="Send a bill.", due_days=12, actor=staff["caseworker"], link_for=_link
    )
    notify_reminders.reminders_plan()
    reminder = Reminder.objects.get(kind=reminders.INFORMATION_DUE_KIND)
    assert reminder.subject == f"information_request:{request.pk}"
    assert reminder.local_date == request.due_on - timedelta(days=5)
    assert timezone.localtime(reminder.due_at).time() == time(9)
    services.information_request_answer(
        request=request, answer="Here it is", document_ids=[], holder_keys=[], actor=applicant
    )
    notify_reminders.reminders_plan()
    reminder.refresh_from_db()
    assert reminder.status == ReminderStatus.CANCELLED


def test_an_open_request_is_reminded_once_even_if_the_process_timer_also_fires(open_case, staff):
    """The planned reminder and the process's reminder share one key: one message."""
    case = open_case()
    services.case_claim(case=case, actor=staff["caseworker"])
    request = services.case_information_request(
        case=case, question="Send a bill.", due_days=12, actor=staff["caseworker"], link_for=_link
    )
    assert services.information_reminder_notify(request=request)
    notify_reminders.reminders_plan()
    reminder = Reminder.objects.get(kind=reminders.INFORMATION_DUE_KIND)
    sent = notify_reminders.reminders_send_due(now=reminder.due_at + timedelta(minutes=1))
    assert sent == 1
    messages = Notification.objects.filter(
        idempotency_key__startswith=f"case:{case.pk}:information_reminder:{request.pk}"
    )
    assert messages.count() == 1
    assert "Reply by" in messages.get().body


def test_a_permit_granted_for_a_year_says_so_and_is_reminded_thirty_days_before(
    open_case, staff, letter_signing
):
    """An outcome valid for 365 days sets the expiry, prints it and plans the reminder."""
    from civicstack.documents.selectors import document_content

    case = open_case()
    CaseSettings.objects.filter(service_id=case.service_id).update(
        outcomes=[
            {
                "value": "approved",
                "kind": "approve",
                "label_en": "Approved",
                "label_cy": "Cymeradwywyd",
                "valid_days": 365,
            },
            {"value": "refused", "kind": "refuse", "label_en": "Refused", "label_cy": "Gwrthodwyd"},
        ]
    )
    services.case_claim(case=case, actor=staff["caseworker"])
    decision = services.case_decide(
        case=case, outcome="approved", reasons="Everything is in order.", actor=staff["caseworker"]
    )
    decision.refresh_from_db()
    assert decision.valid_until == timezone.localdate() + timedelta(days=365)
    letter = Document.objects.get(pk=decision.letter_id)
    pdf = PdfReader(io.BytesIO(document_content(document=letter)))
    text = "".join(page.extract_text() for page in pdf.pages)
    assert "valid until" in text
    # Planned once the reminder date is within the horizon.
    later = datetime.combine(decision.valid_until - timedelta(days=35), time(12), tzinfo=UTC)
    notify_reminders.reminders_plan(now=later)
    reminder = Reminder.objects.get(kind=reminders.PERMIT_EXPIRY_KIND)
    assert reminder.local_date == decision.valid_until - timedelta(days=30)
    assert reminders.permit_relevant(reminder.subject)
    reminders.permit_send(reminder.subject, f"reminder:{reminder.pk}")
    message = Notification.objects.get(
        idempotency_key=f"case:{case.pk}:permit_expiring:{decision.pk}:email"
    )
    assert "runs out on" in message.subject


def test_invalid_outcome_validity_is_refused(staff, licence_service):
    """A validity on a refusing outcome, or out of range, is a clear settings error."""
    with pytest.raises(services.FieldErrors):
        services.case_settings_update(
            service=licence_service,
            target_working_days=10,
            nation="england",
            four_eyes=False,
            automation_enabled=False,
            outcomes=[
                {"value": "ok", "kind": "approve", "label_en": "OK", "valid_days": 0},
                {"value": "no", "kind": "refuse", "label_en": "No", "valid_days": 30},
            ],
            actor=staff["owner"],
        )
