"""Reads of the notifications app."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from civicstack.notify.models import (
    FAILED_STATUSES,
    ApiKey,
    Notification,
    Preference,
    PushSubscription,
    Sender,
    Template,
)


def sender_reply_to(*, sender_id: Any) -> str:
    """Return the reply-to address of a sender ('' for none)."""
    return (
        Sender.objects.filter(pk=sender_id).values_list("email_reply_to", flat=True).first() or ""
    )


def senders_of_agencies(*, agency_ids: list[Any]) -> QuerySet[Sender]:
    """Return the senders of the given agencies."""
    return Sender.objects.filter(agency_id__in=agency_ids).select_related("service")


def templates_of_sender(
    *, sender: Sender | None, include_archived: bool = False
) -> QuerySet[Template]:
    """Return a sender's templates (the platform's own when ``sender`` is None)."""
    templates = Template.objects.filter(sender=sender)
    if not include_archived:
        templates = templates.filter(archived=False)
    return templates.order_by("name")


def notifications_of_sender(*, sender: Sender, failed_only: bool = False) -> QuerySet[Notification]:
    """Return a sender's notifications, newest first; only failures if asked."""
    notifications = Notification.objects.filter(sender=sender)
    if failed_only:
        notifications = notifications.filter(status__in=FAILED_STATUSES)
    return notifications.order_by("-created_at", "-id")


def notifications_of_user(*, user: Any, limit: int = 50) -> list[Notification]:
    """Return the messages sent to a person, newest first."""
    return list(Notification.objects.filter(user=user).order_by("-created_at")[:limit])


def api_keys_of_sender(*, sender: Sender) -> QuerySet[ApiKey]:
    """Return a sender's API keys, newest first (revoked ones included)."""
    return ApiKey.objects.filter(sender=sender).order_by("-created_at")


def preference_of(*, user: Any) -> Preference | None:
    """Return a person's notification preferences, if they saved any."""
    return Preference.objects.filter(user=user).first()


def push_subscriptions_of(*, user: Any) -> list[PushSubscription]:
    """Return a person's live push subscriptions."""
    return list(PushSubscription.objects.filter(user=user, expired_at__isnull=True))


def template_placeholders(*, subject: str, body: str) -> list[str]:
    """Return the placeholder names of a template (empty if the text is not valid)."""
    from civicstack.notify import templating

    try:
        return templating.template_check(subject=subject, body=body)
    except templating.TemplateError:
        return []


def template_preview(
    *, kind: str, subject: str, body: str, personalisation: dict[str, Any]
) -> dict[str, Any]:
    """Return a template rendered with sample values, for a preview page.

    Missing values are shown as the placeholder itself. ``html`` is safe to show as it is
    (every value is escaped); ``sms`` counts characters and fragments for text messages.
    """
    from civicstack.notify import templating

    result: dict[str, Any] = {
        "subject": "",
        "text": "",
        "html": "",
        "placeholders": [],
        "sms": None,
        "error": None,
    }
    try:
        names = templating.template_check(subject=subject, body=body)
    except templating.TemplateError as error:
        result["error"] = str(error)
        return result
    result["placeholders"] = names
    given = {templating.key(name): value for name, value in personalisation.items()}
    found = templating.placeholders(subject) + templating.placeholders(body)
    plain = {placeholder.key for placeholder in found if placeholder.conditional_text is None}
    values: dict[str, Any] = {}
    for name in names:
        name_key = templating.key(name)
        # A conditional shows its text in the preview unless told otherwise.
        values[name] = given.get(name_key) or (f"(({name}))" if name_key in plain else "yes")
    try:
        rendered = templating.render(subject=subject, body=body, personalisation=values, kind=kind)
    except templating.PersonalisationError as error:
        result["error"] = str(error)
        return result
    result.update(subject=rendered.subject, text=rendered.text, html=rendered.html)
    if kind == "sms":
        length = templating.sms_length(rendered.text)
        result["sms"] = {
            "characters": length.characters,
            "fragments": length.fragments,
            "unicode": length.unicode,
        }
    return result
