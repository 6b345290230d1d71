"""A stand-in text message gateway for tests and development: never a production default.

It speaks the protocol of :mod:`civicstack.notify.sms` on loopback:

- ``POST /messages`` with ``Authorization: Bearer <token>`` and ``{"id", "to", "from",
  "body", "reference"}``: 201 ``{"id": <gateway id>}``. The same ``id`` again is answered
  200 with the same gateway id and is stored once. A number that is not in E.164 form,
  or one of ``refused_numbers``, is refused with 400.
- ``GET /messages``: the texts received, as JSON.
- ``POST /messages/<gateway id>/receipt`` with an optional ``{"status", "reason"}``: post
  that message's receipt to the callback now (development: simulate a failure by hand).

Receipts go to ``callback_url`` as ``{"id", "status", "reason"}`` with the same bearer
token: at once (``receipts="immediate"``, retried while Civicstack answers 404 because it
has not yet stored the gateway id) or only when asked (``receipts="manual"``). Like
GOV.UK Notify's test numbers, numbers ending in ``900002`` fail permanently and numbers
ending in ``900003`` fail temporarily; every other number is delivered.

In tests::

    with SmsGateway(token="t", callback_url=url) as gateway:
        settings.NOTIFY_SMS_URL = gateway.url
        ...
        gateway.messages  # what arrived
"""

from __future__ import annotations

import hmac
import json
import logging
import queue
import re
import threading
import time
import uuid
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import requests

logger = logging.getLogger(__name__)

E164 = re.compile(r"\+[1-9][0-9]{7,14}")
MAX_BODY_BYTES = 64 * 1024
DEFAULT_OUTCOMES: Mapping[str, tuple[str, str]] = {
    "900002": ("permanent-failure", "The number does not exist"),
    "900003": ("temporary-failure", "The phone was switched off until the message expired"),
}
_RECEIPT_PATH = re.compile(r"/messages/([A-Za-z0-9-]{1,100})/receipt")
_CALLBACK_ATTEMPTS = 8


@dataclass
class ReceivedText:
    """A text message the gateway accepted, and what became of its receipt."""

    id: str
    provider_id: str
    to: str
    sender: str
    body: str
    reference: str
    received_at: str
    receipt_status: str | None = None
    receipt_reason: str = ""
    # The HTTP status the callback answered the last receipt with (None: not posted yet).
    receipt_answer: int | None = None


class SmsGateway:
    """The stand-in gateway: a threaded HTTP server on loopback (see the module doc)."""

    def __init__(
        self,
        *,
        token: str,
        callback_url: str | None = None,
        callback_token: str | None = None,
        receipts: Literal["immediate", "manual"] = "immediate",
        host: str = "127.0.0.1",
        port: int = 0,
        store: Path | None = None,
        refused_numbers: Collection[str] = (),
        outcomes: Mapping[str, tuple[str, str]] = DEFAULT_OUTCOMES,
        receipt_delay: float = 0.05,
    ) -> None:
        if not token:
            raise ValueError("the gateway needs a token")
        self.token = token
        self.callback_url = callback_url
        self.callback_token = callback_token or token
        self.receipts = receipts
        self.host = host
        self.port = port
        self.store = store
        self.refused_numbers = set(refused_numbers)
        self.outcomes = dict(outcomes)
        self.receipt_delay = receipt_delay
        # Set to an HTTP status (503) to answer every message with it: a gateway outage.
        self.outage: int | None = None
        self.posts = 0
        self._lock = threading.Lock()
        self._by_id: dict[str, ReceivedText] = {}
        self._by_provider_id: dict[str, ReceivedText] = {}
        self._server: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self._pending: queue.Queue[str | None] = queue.Queue()
        self._stopping = threading.Event()
        self._session = requests.Session()
        self._session.trust_env = False

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> SmsGateway:
        """Start serving (and posting receipts) in background threads."""
        server = _Server((self.host, self.port), _Handler)
        server.gateway = self
        self._server = server
        self.port = server.server_address[1]
        serving = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="sms-gateway",
            daemon=True,
        )
        posting = threading.Thread(target=self._post_receipts, name="sms-receipts", daemon=True)
        self._threads = [serving, posting]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and posting; receipts not yet posted are dropped."""
        self._stopping.set()
        self._pending.put(None)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=10)
        self._session.close()

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds; return True once the gateway is stopping."""
        return self._stopping.wait(timeout)

    def __enter__(self) -> SmsGateway:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Return the URL the channel posts messages to (``NOTIFY_SMS_URL``)."""
        return f"http://{self.host}:{self.port}/messages"

    @property
    def messages(self) -> list[ReceivedText]:
        """Return the texts received so far, each once, oldest first."""
        with self._lock:
            return list(self._by_id.values())

    # --- messages ---------------------------------------------------------------------------

    def accept(self, data: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        """Take one message as the HTTP handler received it; return (status, JSON answer)."""
        if self.outage is not None:
            return self.outage, {"error": "unavailable", "message": "Gateway unavailable"}
        message_id, to, body = data.get("id"), data.get("to"), data.get("body")
        sender, reference = data.get("from") or "", data.get("reference") or ""
        if not isinstance(message_id, str) or not 0 < len(message_id) <= 100:
            return 400, {"error": "bad-request", "message": "id must be a string"}
        if not isinstance(body, str) or not body.strip():
            return 400, {"error": "bad-request", "message": "body must be text"}
        if not isinstance(sender, str) or not isinstance(reference, str):
            return 400, {"error": "bad-request", "message": "from and reference must be text"}
        if not isinstance(to, str) or not E164.fullmatch(to) or to in self.refused_numbers:
            return 400, {"error": "invalid-number", "message": "Not a valid mobile number"}
        with self._lock:
            self.posts += 1
            known = self._by_id.get(message_id)
            if known is not None:
                return 200, {"id": known.provider_id, "duplicate": True}
            text = ReceivedText(
                id=message_id,
                provider_id=str(uuid.uuid4()),
                to=to,
                sender=sender,
                body=body,
                reference=reference,
                received_at=datetime.now(UTC).isoformat(),
            )
            self._by_id[message_id] = text
            self._by_provider_id[text.provider_id] = text
            self._record({"event": "message", **asdict(text)})
        if self.receipts == "immediate" and self.callback_url:
            self._pending.put(text.provider_id)
        return 201, {"id": text.provider_id}

    def _record(self, entry: dict[str, Any]) -> None:
        if self.store is None:
            return
        self.store.parent.mkdir(parents=True, exist_ok=True)
        with self.store.open("a", encoding="utf-8") as stream:
            stream.write(json.dumps(entry, ensure_ascii=False) + "\n")

    # --- receipts ---------------------------------------------------------------------------

    def receipt_for(self, provider_id: str) -> dict[str, str]:
        """Return the receipt the gateway would post for a message: by its number's ending."""
        with self._lock:
            text = self._by_provider_id[provider_id]
        status, reason = "delivered", ""
        for ending, (failure, why) in self.outcomes.items():
            if text.to.endswith(ending):
                status, reason = failure, why
                break
        return {"id": provider_id, "status": status, "reason": reason}

    def receipt_send(
        self, provider_id: str, *, status: str | None = None, reason: str | None = None
    ) -> int:
        """Post one message's receipt to the callback now; return the HTTP status answered."""
        if not self.callback_url:
            raise RuntimeError("the gateway has no callback URL")
        payload = self.receipt_for(provider_id)
        if status is not None:
            payload["status"] = status
        if reason is not None:
            payload["reason"] = reason
        response = self._session.post(
            self.callback_url,
            json=payload,
            headers={"Authorization": f"Bearer {self.callback_token}"},
            timeout=(5, 10),
            allow_redirects=False,
        )
        with self._lock:
            text = self._by_provider_id[provider_id]
            text.receipt_status = payload["status"]
            text.receipt_reason = payload["reason"]
            text.receipt_answer = response.status_code
            self._record({"event": "receipt", "answer": response.status_code, **payload})
        return response.status_code

    def receipts_send_pending(self) -> list[int]:
        """Post the receipt of every message that has none yet; return the answers."""
        with self._lock:
            waiting = [t.provider_id for t in self._by_id.values() if t.receipt_answer is None]
        return [self.receipt_send(provider_id) for provider_id in waiting]

    def receipts_wait(self, count: int, *, timeout: float = 10.0) -> bool:
        """Wait until ``count`` receipts were answered 2xx; return whether they were."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                done = sum(
                    1
                    for t in self._by_id.values()
                    if t.receipt_answer is not None and 200 <= t.receipt_answer < 300
                )
            if done >= count:
                return True
            time.sleep(0.05)
        return False

    def _post_receipts(self) -> None:
        # One poster thread: receipts go out in order, each retried while Civicstack has
        # not yet stored the gateway id (404) or is briefly unavailable.
        while not self._stopping.is_set():
            provider_id = self._pending.get()
            if provider_id is None:
                return
            delay = self.receipt_delay
            for _attempt in range(_CALLBACK_ATTEMPTS):
                if self._stopping.wait(delay):
                    return
                try:
                    answer = self.receipt_send(provider_id)
                except requests.RequestException as error:
                    logger.info("receipt callback failed: %s", type(error).__name__)
                    answer = None
                if answer is not None and answer < 500 and answer != 404:
                    break
                delay = min(max(delay, 0.05) * 2, 2.0)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    gateway: SmsGateway


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("sms gateway: " + format, *args)

    def _answer(self, status: int, body: Any) -> None:
        content = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    def _authorised(self) -> bool:
        scheme, _space, given = self.headers.get("Authorization", "").partition(" ")
        expected = self.server.gateway.token.encode("utf-8")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode("utf-8"), expected
        )

    def _json(self) -> Any:
        length = self.headers.get("Content-Length", "")
        if not length.isdigit() or int(length) > MAX_BODY_BYTES:
            # The body is left unread, so this connection cannot carry another request.
            self.close_connection = True
            return None
        raw = self.rfile.read(int(length))
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None

    def do_GET(self) -> None:
        if not self._authorised():
            self._answer(401, {"error": "unauthorised", "message": "Wrong or missing token"})
        elif self.path.rstrip("/") == "/messages":
            self._answer(200, [asdict(text) for text in self.server.gateway.messages])
        else:
            self._answer(404, {"error": "not-found", "message": "No such path"})

    def do_POST(self) -> None:
        data = self._json()
        if not self._authorised():
            self._answer(401, {"error": "unauthorised", "message": "Wrong or missing token"})
            return
        gateway = self.server.gateway
        path = self.path.rstrip("/")
        receipt = _RECEIPT_PATH.fullmatch(path)
        if path == "/messages":
            if not isinstance(data, dict):
                self._answer(400, {"error": "bad-request", "message": "Send a JSON object"})
                return
            self._answer(*gateway.accept(data))
        elif receipt is not None:
            self._receipt(gateway, receipt.group(1), data if isinstance(data, dict) else {})
        else:
            self._answer(404, {"error": "not-found", "message": "No such path"})

    def _receipt(self, gateway: SmsGateway, provider_id: str, data: dict[str, Any]) -> None:
        status, reason = data.get("status"), data.get("reason")
        if provider_id not in {t.provider_id for t in gateway.messages}:
            self._answer(404, {"error": "not-found", "message": "No such message"})
            return
        try:
            answer = gateway.receipt_send(
                provider_id,
                status=status if isinstance(status, str) else None,
                reason=reason if isinstance(reason, str) else None,
            )
        except (RuntimeError, requests.RequestException) as error:
            self._answer(502, {"error": "callback-failed", "message": str(error)[:200]})
            return
        self._answer(200, {"callback_answer": answer})
