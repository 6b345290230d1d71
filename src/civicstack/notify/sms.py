"""Text messages: a readable outbox folder by default, or an HTTP gateway with receipts.

``NOTIFY_SMS_BACKEND`` picks the backend each time a batch is sent:

- ``outbox`` (the embedded default) writes each text to ``NOTIFY_OUTBOX_DIR/sms/<id>.txt``
  and counts it as delivered: nothing leaves the machine.
- ``http`` posts ``{"id", "to", "from", "body", "reference"}`` as JSON to
  ``NOTIFY_SMS_URL`` with ``Authorization: Bearer NOTIFY_SMS_TOKEN``. The gateway answers
  ``{"id": <its reference>}`` and later posts a delivery receipt to
  ``/notify/receipts/sms`` (:mod:`civicstack.notify.receipts`). The notification id goes
  with every attempt, so a gateway that sees a message again after a crash or a retry
  knows it already has it and sends it once.

:mod:`civicstack.notify.standin_sms` is a gateway that speaks this protocol, for tests and
development.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests
from django.conf import settings

from civicstack.notify.channels import Outcome, channels

if TYPE_CHECKING:
    from civicstack.notify.models import Notification

logger = logging.getLogger(__name__)

# The provider name that gateway receipts are recorded under (receipts.py uses it too).
HTTP_PROVIDER = "sms-http"
OUTBOX_PROVIDER = "sms-outbox"
DEFAULT_SENDER_NAME = "Civicstack"

# (connect, read): a gateway that does not answer within seconds is treated as down, and
# the message waits for its next attempt instead of holding a worker.
TIMEOUT = (5.0, 5.0)
_IDLE_SECONDS = 60.0
_REASON_MAX = 300


def backend() -> str:
    """Return the configured backend name: ``outbox`` or ``http``."""
    return str(getattr(settings, "NOTIFY_SMS_BACKEND", "outbox") or "outbox").strip().lower()


def outbox_dir() -> Path:
    """Return the folder the outbox backend writes texts to."""
    return Path(settings.NOTIFY_OUTBOX_DIR) / "sms"


def atomic_write(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path`` so readers see the old file or the whole new one.

    The bytes go to a temporary file in the same folder, are flushed to disk, and the file
    is renamed over ``path``: a second write of the same message replaces the first.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(content)
            stream.flush()
            os.fsync(stream.fileno())
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class _Sessions(threading.local):
    """One HTTP session (a kept-alive connection pool) per worker thread."""

    session: requests.Session | None = None
    used_at: float = 0.0


class SmsChannel:
    """Text messages through the outbox folder or an HTTP gateway (see the module doc)."""

    def __init__(self) -> None:
        self._local = _Sessions()

    @property
    def provider(self) -> str:
        """Name the provider outcomes are recorded under; receipts look messages up by it."""
        return HTTP_PROVIDER if backend() == "http" else OUTBOX_PROVIDER

    def send(self, notifications: list[Notification]) -> list[Outcome]:
        """Send a batch of claimed text messages; return one outcome for each."""
        if not notifications:
            return []
        senders = _sender_names([n.sender_id for n in notifications])
        chosen = backend()
        if chosen == "outbox":
            return [self._outbox(n, senders) for n in notifications]
        if chosen == "http":
            return self._http_batch(notifications, senders)
        logger.error("NOTIFY_SMS_BACKEND %r is not a known backend", chosen[:30])
        return [Outcome("technical", "Text messages are not configured")] * len(notifications)

    # --- outbox ---------------------------------------------------------------------------

    def _outbox(self, notification: Notification, senders: dict[Any, str]) -> Outcome:
        text = (
            f"To: {notification.recipient}\n"
            f"From: {senders.get(notification.sender_id, DEFAULT_SENDER_NAME)}\n"
            f"Notification: {notification.pk}\n"
            f"Reference: {notification.reference}\n"
            "\n"
            f"{notification.body}\n"
        )
        try:
            atomic_write(outbox_dir() / f"{notification.pk}.txt", text.encode("utf-8"))
        except OSError as error:
            return Outcome("retry", f"Text message outbox unavailable: {type(error).__name__}")
        return Outcome("delivered")

    # --- http -----------------------------------------------------------------------------

    def _session(self) -> requests.Session:
        local = self._local
        if local.session is not None and time.monotonic() - local.used_at > _IDLE_SECONDS:
            self.close()
        if local.session is None:
            session = requests.Session()
            # The token is sent to this gateway only; never pick up proxies or .netrc.
            session.trust_env = False
            local.session = session
        local.used_at = time.monotonic()
        return local.session

    def close(self) -> None:
        """Close this thread's connection to the gateway."""
        session, self._local.session = self._local.session, None
        if session is not None:
            session.close()

    def _http_batch(
        self, notifications: list[Notification], senders: dict[Any, str]
    ) -> list[Outcome]:
        url = str(getattr(settings, "NOTIFY_SMS_URL", "") or "")
        token = str(getattr(settings, "NOTIFY_SMS_TOKEN", "") or "")
        if not url.startswith(("http://", "https://")) or not token:
            logger.error("NOTIFY_SMS_URL or NOTIFY_SMS_TOKEN is not set for the http backend")
            return [Outcome("technical", "Text message gateway is not configured")] * len(
                notifications
            )
        outcomes: list[Outcome] = []
        for index, notification in enumerate(notifications):
            payload = {
                "id": str(notification.pk),
                "to": notification.recipient,
                "from": senders.get(notification.sender_id, DEFAULT_SENDER_NAME),
                "body": notification.body,
                "reference": notification.reference,
            }
            try:
                response = self._session().post(
                    url,
                    json=payload,
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=TIMEOUT,
                    allow_redirects=False,
                )
            except requests.RequestException as error:
                # Gateway down or not answering: this one and the rest of the batch wait,
                # rather than each spending a timeout on a gateway that is not there.
                self.close()
                reason = f"Text message gateway unavailable: {type(error).__name__}"
                outcomes.extend(Outcome("retry", reason) for _ in notifications[index:])
                break
            outcomes.append(_http_outcome(response))
        return outcomes


def _http_outcome(response: requests.Response) -> Outcome:
    status = response.status_code
    if 200 <= status < 300:
        try:
            body = response.json()
        except ValueError:
            body = None
        reference = body.get("id") if isinstance(body, dict) else None
        if isinstance(reference, str) and 0 < len(reference) <= 200:
            return Outcome("sending", provider_reference=reference)
        # Accepted but unidentifiable: sending again is safe, the gateway knows the id.
        return Outcome("retry", "Text message gateway accepted the message without an id")
    if status in (401, 403):
        return Outcome("technical", f"Text message gateway refused our credentials ({status})")
    if status in (408, 409, 425, 429) or status >= 500:
        return Outcome("retry", f"Text message gateway answered {status}")
    if 400 <= status < 500:
        return Outcome(
            "permanent", f"Text message gateway refused the message: {_reason(response)}"
        )
    return Outcome("retry", f"Text message gateway answered {status}")


def _reason(response: requests.Response) -> str:
    """Return the gateway's own explanation of a refusal, short and on one line."""
    try:
        body = response.json()
    except ValueError:
        body = None
    text = ""
    if isinstance(body, dict):
        for name in ("message", "error", "reason", "detail"):
            if isinstance(body.get(name), str):
                text = body[name]
                break
    text = " ".join(text.split()) or f"HTTP {response.status_code}"
    return text[:_REASON_MAX]


def _sender_names(sender_ids: list[Any]) -> dict[Any, str]:
    from civicstack.notify.models import Sender

    default = str(getattr(settings, "NOTIFY_SMS_SENDER", "") or DEFAULT_SENDER_NAME)
    names = dict(Sender.objects.filter(pk__in=set(sender_ids)).values_list("pk", "sms_sender"))
    return {pk: (name or default) for pk, name in names.items()} | {
        pk: default for pk in sender_ids if pk not in names
    }


sms_channel = SmsChannel()
channels.register("sms")(sms_channel)
