"""Delivery channels: a typed plugin registry with email built in here.

A channel takes notifications that a worker has claimed and says, for each, what happened:
an :class:`Outcome`. It never changes the rows itself; :mod:`civicstack.notify.delivery`
records the outcomes, so retries, receipts and failures work the same on every channel.

Text messages, web push and letters register from their own modules (``sms``, ``push``,
``letters``), imported at the bottom of this one.
"""

from __future__ import annotations

import base64
import logging
import smtplib
import threading
import time
from dataclasses import dataclass
from email import policy as email_policy
from email.header import Header
from email.message import EmailMessage as StdEmailMessage
from email.utils import formatdate, parseaddr
from typing import TYPE_CHECKING, Any, Literal, Protocol

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, mailers
from django.core.mail.backends.smtp import EmailBackend as SmtpBackend

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
    # True until the first message goes over a newly opened connection.
    fresh: bool = False


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
            local.fresh = True
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

    def _reply_to(self, notification: Notification) -> str:
        # Loaded with the batch (select_related) when the drain sends; one query otherwise.
        return str(notification.sender.email_reply_to or "")

    def _message(self, notification: Notification) -> EmailMultiAlternatives:
        """Return the message as Django builds it (folder and memory backends)."""
        headers = {"Message-ID": message_id(notification.pk)}
        if notification.reference:
            headers["X-Notification-Reference"] = _one_line(notification.reference)[:200]
        reply_to = self._reply_to(notification)
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

    def _raw(self, notification: Notification) -> bytes:
        """Return the message's bytes: text and HTML parts, base64, UTF-8.

        Built by hand because the email package's header parsing is most of the cost of
        sending at volume; every value here is already one checked line. Anything outside
        that (a non-ASCII address) goes through the email package instead.
        """
        recipient = notification.recipient
        reply_to = self._reply_to(notification)
        sender = settings.DEFAULT_FROM_EMAIL
        if not (recipient + reply_to + sender).isascii():
            return self._raw_by_email_package(notification)
        headers = [
            f"From: {_header(sender)}",
            f"To: {recipient}",
            f"Subject: {_header(_one_line(notification.subject))}",
            f"Date: {formatdate(localtime=False)}",
            f"Message-ID: {message_id(notification.pk)}",
            "MIME-Version: 1.0",
        ]
        if reply_to:
            headers.append(f"Reply-To: {reply_to}")
        if notification.reference:
            reference = _one_line(notification.reference)[:200]
            headers.append(f"X-Notification-Reference: {_header(reference)}")
        text = _part("text/plain", notification.body)
        if not notification.html:
            lines = [*headers, *text]
        else:
            boundary = f"=_civicstack_{notification.pk.hex}"
            html = _part("text/html", _email_page(notification.subject, notification.html))
            lines = [
                *headers,
                f'Content-Type: multipart/alternative; boundary="{boundary}"',
                "",
                f"--{boundary}",
                *text,
                f"--{boundary}",
                *html,
                f"--{boundary}--",
                "",
            ]
        return "\r\n".join(lines).encode("ascii")

    def _raw_by_email_package(self, notification: Notification) -> bytes:
        message = StdEmailMessage(policy=email_policy.SMTPUTF8)
        message["Subject"] = _one_line(notification.subject)
        message["From"] = settings.DEFAULT_FROM_EMAIL
        message["To"] = notification.recipient
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = message_id(notification.pk)
        reply_to = self._reply_to(notification)
        if reply_to:
            message["Reply-To"] = reply_to
        message.set_content(notification.body)
        if notification.html:
            message.add_alternative(
                _email_page(notification.subject, notification.html), subtype="html"
            )
        return message.as_bytes()

    def _send_one(self, notification: Notification) -> None:
        connection = self._connection()
        smtp = getattr(connection, "connection", None)
        if not isinstance(connection, SmtpBackend) or smtp is None:
            connection.send_messages([self._message(notification)])
            return
        raw = self._raw(notification)
        sender = parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
        fresh = self._local.fresh
        try:
            smtp.sendmail(sender, [notification.recipient], raw)
        except (smtplib.SMTPServerDisconnected, ConnectionError) as error:
            if fresh:
                raise
            # A kept-open connection the server has since dropped (a restart, an idle
            # timeout): nothing was accepted on it, so open a new one and send at once.
            logger.info("mail connection was closed by the server (%s); reconnecting", error)
            self.close()
            connection = self._connection()
            connection.connection.sendmail(sender, [notification.recipient], raw)
        finally:
            self._local.fresh = False

    def send(self, notifications: list[Notification]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for index, notification in enumerate(notifications):
            try:
                self._send_one(notification)
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
            except ValueError as error:
                # A header the message cannot carry (the email package refuses it).
                outcomes.append(Outcome("permanent", f"The message cannot be sent: {error}"))
            else:
                outcomes.append(Outcome("delivered"))
        return outcomes


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _header(value: str) -> str:
    """Return a header value as ASCII (RFC 2047 encoded words for anything else)."""
    if value.isascii():
        return value
    return Header(value, "utf-8").encode()


def _part(content_type: str, body: str) -> list[str]:
    encoded = base64.encodebytes(body.encode("utf-8")).decode("ascii")
    return [
        f'Content-Type: {content_type}; charset="utf-8"',
        "Content-Transfer-Encoding: base64",
        "",
        *encoded.rstrip("\n").split("\n"),
        "",
    ]


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
