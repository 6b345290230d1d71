"""Emails to people: rendered in English and Welsh, sent by the task worker after commit.

Sending from the worker keeps the mail server's time out of the response, so how long a
page takes never tells whether an address has an account.

Each message is a pair of templates, ``<app>/email/<name>_subject.txt`` and
``<name>_body.txt``, rendered once per language. Both languages go in one message, the
person's preferred language first. Until the Welsh catalogue has a translation the two
renderings are identical, and the message is sent once rather than twice over.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.tasks import task
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.formats import date_format

_LANGUAGES = ("en", "cy")
_SEPARATOR = "\n\n" + "-" * 40 + "\n\n"


def absolute_url(name: str, *, kwargs: dict[str, Any] | None = None, language: str = "en") -> str:
    """Return the full address of a page, in ``language``, for use in an email."""
    with translation.override(language):
        path = reverse(name, kwargs=kwargs)
    return settings.SITE_URL.rstrip("/") + path


def long_date(value: date, language: str) -> str:
    """Return a date as people read it in ``language`` ("3 December 2026", "3 Rhagfyr 2026")."""
    with translation.override(language):
        return date_format(value, "j F Y")


Link = tuple[str, dict[str, Any]]


def render_bilingual(
    name: str,
    context: dict[str, Any],
    *,
    template_dir: str,
    preferred: str = "en",
    link: Link | None = None,
) -> tuple[str, str]:
    """Return (subject, body) of the message ``name`` in both languages.

    ``link`` (a URL name and its kwargs) becomes ``{{ link }}``, in each section's language.
    """
    order = [preferred] + [code for code in _LANGUAGES if code != preferred]
    subjects: list[str] = []
    bodies: list[str] = []
    for language in order:
        with translation.override(language):
            language_context = {**context, "language": language}
            if link is not None:
                language_context["link"] = absolute_url(link[0], kwargs=link[1], language=language)
            subject = " ".join(
                render_to_string(f"{template_dir}/{name}_subject.txt", language_context).split()
            )
            body = render_to_string(f"{template_dir}/{name}_body.txt", language_context).strip()
        if subject not in subjects:
            subjects.append(subject)
        if body not in bodies:
            bodies.append(body)
    return " / ".join(subjects), _SEPARATOR.join(bodies) + "\n"


def email_send_on_commit(
    *,
    template_dir: str,
    name: str,
    to: str,
    context: dict[str, Any] | None = None,
    preferred: str = "en",
    link: Link | None = None,
) -> None:
    """Render the message now and send it once the current transaction commits."""
    subject, body = render_bilingual(
        name,
        {"service_name": settings.SERVICE_NAME, **(context or {})},
        template_dir=template_dir,
        preferred=preferred,
        link=link,
    )

    def deliver() -> None:
        email_send.enqueue(subject=subject, body=body, to=to)

    transaction.on_commit(deliver, robust=True)


@task()
def email_send(*, subject: str, body: str, to: str) -> None:
    """Send one rendered email (retried by the queue if the server refuses)."""
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [to], fail_silently=False)
