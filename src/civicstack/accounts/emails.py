"""Account emails: the templates under ``accounts/email/``, sent through ``core.mail``."""

from __future__ import annotations

from typing import Any

from django.tasks import task

from civicstack.core import mail
from civicstack.core.mail import Link

TEMPLATE_DIR = "accounts/email"


def render_bilingual(
    name: str, context: dict[str, Any], *, preferred: str = "en", link: Link | None = None
) -> tuple[str, str]:
    """Return (subject, body) of the account message ``name`` in both languages."""
    return mail.render_bilingual(
        name, context, template_dir=TEMPLATE_DIR, preferred=preferred, link=link
    )


def email_send_on_commit(
    *,
    name: str,
    to: str,
    context: dict[str, Any] | None = None,
    preferred: str = "en",
    link: Link | None = None,
) -> None:
    """Render the account message now and send it once the current transaction commits."""
    mail.email_send_on_commit(
        template_dir=TEMPLATE_DIR, name=name, to=to, context=context, preferred=preferred, link=link
    )


@task()
def account_email_send(*, subject: str, body: str, to: str) -> None:
    """Send one rendered account email queued before emails moved to ``core.mail``."""
    mail.email_send.call(subject=subject, body=body, to=to)
