"""Account emails carry both languages once a translation exists."""

from __future__ import annotations

from typing import Any

import pytest

from civicstack.accounts import emails
from civicstack.core import mail


def test_both_languages_go_in_one_message_preferred_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """With different English and Welsh renderings, both are sent, the preferred one first."""

    def fake_render(name: str, context: dict[str, Any]) -> str:
        kind = "subject" if name.endswith("_subject.txt") else "body"
        return f"{kind} in {context['language']} {context.get('link', '')}"

    monkeypatch.setattr(mail, "render_to_string", fake_render)
    subject, body = emails.render_bilingual(
        "verify_email", {}, preferred="cy", link=("accounts:sign-in", {})
    )
    assert subject.startswith("subject in cy")
    assert "subject in en" in subject
    assert body.index("body in cy") < body.index("body in en")
    assert "/cy/account/sign-in" in body
    assert "/en/account/sign-in" in body


def test_identical_renderings_are_sent_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Until Welsh is translated the text is not repeated twice over."""
    monkeypatch.setattr(mail, "render_to_string", lambda name, context: "same text")
    subject, body = emails.render_bilingual("password_changed", {})
    assert subject == "same text"
    assert body == "same text\n"


def test_real_templates_render_plain_text() -> None:
    """Each account email renders with its link and without HTML escaping."""
    subject, body = emails.render_bilingual(
        "password_reset",
        {"service_name": "Civic & Stack"},
        link=("accounts:password-reset-confirm", {"token": "abc"}),
    )
    assert subject
    assert "Civic & Stack" in body
    assert "/account/reset-password/abc" in body


@pytest.mark.django_db
def test_account_emails_are_sent_by_the_task_queue(
    django_capture_on_commit_callbacks: Any,
) -> None:
    """An account email is enqueued after commit, not sent inside the request."""
    from django.conf import settings
    from django.core import mail
    from django.test import override_settings
    from django_tasks_db.models import DBTaskResult

    from civicstack.accounts import services
    from civicstack.accounts.tests.factories import UserFactory

    user = UserFactory()
    with (
        override_settings(TASKS=settings.CONFIGURED_TASKS_DB),
        django_capture_on_commit_callbacks(execute=True),
    ):
        services.password_reset_request(email=user.email)
    assert DBTaskResult.objects.filter(task_path__endswith="core.mail.email_send").exists()
    assert mail.outbox == []
