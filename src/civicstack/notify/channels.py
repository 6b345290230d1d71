"""Delivery channels: a typed plugin registry with email built in here.

A channel takes notifications that a worker has claimed and says, for each, what happened:
an :class:`Outcome`. It never changes the rows itself; :mod:`civicstack.notify.delivery`
records the outcomes, so retries, receipts and failures work the same on every channel.

Text messages, web push and letters register from their own modules (``sms``, ``push``,
``letters``), imported at the bottom of this one.
"""

from __future__ import annotations

import logging
import smtplib
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, mailers

from civicstack.core.registry import Registry

if TYPE_CHECKING:
    from civicstack.notify.models import Notification

logger = logging.getLogger(__name__)

Result = Literal["delivered", "sending", "retry", "permanent", "technical"]


@dataclass(frozen=True)
class Outcome:
    """What a channel did with one notification.

    ``delivered``: accepted by the final hop we can see (mail server, push service, print
    outbox). ``sending``: accepted by a gateway that will send a receipt later. ``retry``:
    a temporary problem, try again later. ``permanent``: this recipient can never receive
    it (the reason says why). ``technical``: our side is misconfigured; a person must look.
    """

    result: Result
    reason: str = ""
    provider_reference: str | None = None
    # Letters: the citizen's copy in documents.
    document_id: str | None = None


class Channel(Protocol):
    """Sends claimed notifications of one kind."""

    @property
    def provider(self) -> str: ...

    def send(self, notifications: list[Notification]) -> list[Outcome]: ...


channels: Registry[Channel] = Registry("notification channels")


# --- Email --------------------------------------------------------------------------------

_IDLE_SECONDS = 30.0


class _Connections(threading.local):
    """One open mail connection per worker thread, reused while it stays healthy."""

    connection: Any = None
    used_at: float = 0.0
    settings_key: str = ""


def message_id(notification_id: object) -> str:
    """Return the Message-ID of a notification: the same on every attempt, so receiving
    systems can drop a copy if a crash makes us send it twice."""
    domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2].strip(">") or "civicstack.invalid"
    return f"<{notification_id}@{domain}>"


class EmailChannel:
    """Email through Django's mail backend: SMTP in production, a folder in the default."""

    provider = "email"

    def __init__(self) -> None:
        self._local = _Connections()

    def _connection(self) -> Any:
        local = self._local
        # A change of mail settings (tests, a reload) must not reuse the old server.
        settings_key = repr(getattr(settings, "MAILERS", None))
        if local.connection is not None and (
            time.monotonic() - local.used_at > _IDLE_SECONDS or local.settings_key != settings_key
        ):
            self.close()
        if local.connection is None:
            local.connection = mailers.default
            local.connection.open()
            local.settings_key = settings_key
        local.used_at = time.monotonic()
        return local.connection

    def close(self) -> None:
        """Close this thread's connection (after an error, or when idle too long)."""
        connection, self._local.connection = self._local.connection, None
        if connection is not None:
            try:
                connection.close()
            except Exception:
                logger.debug("closing a broken mail connection failed", exc_info=True)

    def _message(self, notification: Notification) -> EmailMultiAlternatives:
        from civicstack.notify.selectors import sender_reply_to

        headers = {"Message-ID": message_id(notification.pk)}
        if notification.reference:
            headers["X-Notification-Reference"] = notification.reference[:200]
        reply_to = sender_reply_to(sender_id=notification.sender_id)
        message = EmailMultiAlternatives(
            subject=notification.subject,
            body=notification.body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[notification.recipient],
            reply_to=[reply_to] if reply_to else None,
            headers=headers,
        )
        if notification.html:
            message.attach_alternative(
                _email_page(notification.subject, notification.html), "text/html"
            )
        return message

    def send(self, notifications: list[Notification]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for index, notification in enumerate(notifications):
            try:
                message = self._message(notification)
                self._connection().send_messages([message])
            except smtplib.SMTPRecipientsRefused as error:
                codes = [code for code, _ in error.recipients.values()]
                if codes and all(400 <= code < 500 for code in codes):
                    outcomes.append(Outcome("retry", f"Mail server deferred: {codes[0]}"))
                else:
                    outcomes.append(
                        Outcome("permanent", f"Mail server refused the address: {codes[:1]}")
                    )
            except smtplib.SMTPResponseException as error:
                self.close()
                if 500 <= error.smtp_code < 600 and error.smtp_code != 554:
                    outcomes.append(Outcome("permanent", f"Mail server refused: {error.smtp_code}"))
                else:
                    outcomes.append(Outcome("retry", f"Mail server answered {error.smtp_code}"))
            except (TimeoutError, OSError, smtplib.SMTPException) as error:
                # Server down or connection lost: this one and the rest of the batch wait.
                self.close()
                reason = f"Mail server unavailable: {type(error).__name__}"
                outcomes.extend(Outcome("retry", reason) for _ in notifications[index:])
                break
            else:
                outcomes.append(Outcome("delivered"))
        return outcomes


def _email_page(subject: str, html: str) -> str:
    from html import escape

    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(subject)}</title></head>"
        '<body style="font-family: Arial, sans-serif; font-size: 19px; line-height: 1.4; '
        'color: #0b0c0c; max-width: 580px; margin: 0 auto; padding: 16px">'
        f"{html}</body></html>"
    )


email_channel = EmailChannel()
channels.register("email")(email_channel)

# Further channels register themselves when imported.
from civicstack.notify import letters, push, sms  # noqa: E402,F401
