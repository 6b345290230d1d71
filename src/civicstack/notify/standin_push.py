"""A local stand-in for a browser push service, for tests and the demo (never production).

It plays the part of Mozilla's or Google's push service on a loopback port: it hands out
subscriptions as a browser would (``subscribe()`` makes the subscriber's P-256 key pair and
auth secret), accepts ``POST /push/<token>`` as RFC 8030 describes, checks the VAPID
``Authorization`` header (RFC 8292: an ES256 token signed by the key ``k``, for this
origin, not expired), decrypts the ``aes128gcm`` body (RFC 8291) with the subscriber's keys
and keeps what it read. It can be told to answer a subscription with 410 (the browser
unsubscribed) or to fail with 500 or 429.

    with PushStandin() as standin:
        subscription = standin.subscribe()
        ...  # store it, send a push message
        standin.messages(subscription["endpoint"])  # -> [{"title": ..., "body": ...}]
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import http_ece
import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from civicstack.notify.push import b64url_decode, b64url_encode, public_key_raw

MAX_BODY_BYTES = 4096
# RFC 8292 section 2: a token may not claim to be valid for more than 24 hours.
MAX_TOKEN_LIFETIME_SECONDS = 24 * 3600


@dataclass
class _Subscriber:
    token: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes
    application_server_key: str | None
    messages: list[Any] = field(default_factory=list)
    answer: int | None = None


@dataclass(frozen=True)
class Refusal:
    """A request the stand-in refused, and why (for tests to assert on)."""

    token: str
    status: int
    reason: str


class PushStandin:
    """A threaded push service on 127.0.0.1; use it as a context manager."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[str, _Subscriber] = {}
        self.refusals: list[Refusal] = []
        self.requests: list[dict[str, str]] = []
        self.fail_status: int | None = None
        self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def origin(self) -> str:
        """Return the origin VAPID tokens must name as their audience."""
        host, port = self._server.server_address[:2]
        host_text = host.decode() if isinstance(host, bytes) else str(host)
        return f"http://{host_text}:{port}"

    def start(self) -> PushStandin:
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the port."""
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> PushStandin:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # --- What a browser does ---------------------------------------------------------------

    def subscribe(self, application_server_key: str | None = None) -> dict[str, Any]:
        """Make a subscription, as ``PushManager.subscribe()`` returns it in JSON.

        With ``application_server_key`` the subscription is restricted (RFC 8292 section
        4): messages signed with any other VAPID key are refused with 403.
        """
        token = secrets.token_urlsafe(24)
        private_key = ec.generate_private_key(ec.SECP256R1())
        auth = secrets.token_bytes(16)
        with self._lock:
            self._subscribers[token] = _Subscriber(
                token=token,
                private_key=private_key,
                auth=auth,
                application_server_key=application_server_key,
            )
        return {
            "endpoint": f"{self.origin}/push/{token}",
            "keys": {
                "p256dh": b64url_encode(public_key_raw(private_key.public_key())),
                "auth": b64url_encode(auth),
            },
        }

    # --- What tests look at and steer ------------------------------------------------------

    def _token(self, endpoint_or_token: str) -> str:
        return endpoint_or_token.rstrip("/").rpartition("/")[2]

    def messages(self, endpoint_or_token: str) -> list[Any]:
        """Return the decrypted messages a subscription received (JSON-decoded if JSON)."""
        with self._lock:
            subscriber = self._subscribers.get(self._token(endpoint_or_token))
            return list(subscriber.messages) if subscriber else []

    def answer(self, endpoint_or_token: str, status: int | None) -> None:
        """Answer every message to this subscription with ``status`` (None: accept)."""
        with self._lock:
            self._subscribers[self._token(endpoint_or_token)].answer = status

    def unsubscribe(self, endpoint_or_token: str) -> None:
        """Forget a subscription, as when the browser's person turns notifications off."""
        self.answer(endpoint_or_token, 410)

    # --- The push service --------------------------------------------------------------------

    def _refuse(self, token: str, status: int, reason: str) -> tuple[int, str]:
        with self._lock:
            self.refusals.append(Refusal(token=token, status=status, reason=reason))
        return status, reason

    def _vapid_check(self, authorization: str, subscriber: _Subscriber) -> str | None:
        """Return why the VAPID header is unacceptable, or None if it is good."""
        scheme, _, params = authorization.partition(" ")
        if scheme.lower() != "vapid":
            return "Authorization scheme is not vapid"
        values: dict[str, str] = {}
        for part in params.split(","):
            name, _, value = part.strip().partition("=")
            values[name.strip()] = value.strip()
        token, key_text = values.get("t", ""), values.get("k", "")
        if not token or not key_text:
            return "Authorization lacks t or k"
        try:
            raw = b64url_decode(key_text)
            key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
        except ValueError:
            return "k is not a P-256 public key"
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=["ES256"],
                audience=self.origin,
                options={"require": ["aud", "exp", "sub"]},
            )
        except jwt.PyJWTError as error:
            return f"VAPID token rejected: {type(error).__name__}: {error}"
        if int(claims["exp"]) > time.time() + MAX_TOKEN_LIFETIME_SECONDS:
            return "VAPID token expires more than 24 hours from now"
        sub = str(claims["sub"])
        if not (sub.startswith("mailto:") or sub.startswith("https:")):
            return "VAPID sub is not a mailto: or https: URI"
        if subscriber.application_server_key is not None:
            expected = b64url_decode(subscriber.application_server_key)
            if expected != raw:
                return "403:VAPID key does not match the subscription's application server key"
        return None

    def receive(self, path: str, headers: Any, body: bytes) -> tuple[int, str]:
        """Handle one push request; return the status and reason (or Location)."""
        with self._lock:
            self.requests.append({name.lower(): value for name, value in headers.items()})
        if not path.startswith("/push/"):
            return 404, "Not found"
        token = path[len("/push/") :]
        with self._lock:
            subscriber = self._subscribers.get(token)
            forced = subscriber.answer if subscriber else None
            fail = self.fail_status
        if subscriber is None:
            return self._refuse(token, 404, "No such subscription")
        if fail is not None:
            return self._refuse(token, fail, "Failing on request")
        if forced is not None:
            return self._refuse(token, forced, "Answering on request")
        problem = self._vapid_check(headers.get("Authorization", ""), subscriber)
        if problem is not None:
            status = 403 if problem.startswith("403:") else 401
            return self._refuse(token, status, problem.removeprefix("403:"))
        ttl = headers.get("TTL", "")
        if not ttl.isdigit():
            return self._refuse(token, 400, "TTL header missing or not a number")
        if len(body) > MAX_BODY_BYTES:
            return self._refuse(token, 413, "Payload too large")
        if body:
            if headers.get("Content-Encoding", "").lower() != "aes128gcm":
                return self._refuse(token, 415, "Content-Encoding must be aes128gcm")
            try:
                plain = http_ece.decrypt(
                    body,
                    private_key=subscriber.private_key,
                    auth_secret=subscriber.auth,
                    version="aes128gcm",
                )
            except Exception as error:  # any decryption failure is a 400
                return self._refuse(token, 400, f"Cannot decrypt: {type(error).__name__}")
            message: Any
            try:
                message = json.loads(plain)
            except ValueError:
                message = plain
        else:
            message = None
        with self._lock:
            subscriber.messages.append(message)
        return 201, f"{self.origin}/message/{uuid.uuid4()}"


def _handler_for(standin: PushStandin) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            try:
                length = int(self.headers.get("Content-Length", "0"))
            except ValueError:
                length = -1
            if length < 0 or length > 1_000_000:
                self._reply(400, "Bad Content-Length")
                return
            body = self.rfile.read(length) if length else b""
            status, text = standin.receive(self.path, self.headers, body)
            self._reply(status, text)

        def _reply(self, status: int, text: str) -> None:
            self.send_response(status)
            if status == 201:
                self.send_header("Location", text)
                content = b""
            else:
                content = text.encode()
                self.send_header("Content-Type", "text/plain; charset=utf-8")
            if status == 429:
                self.send_header("Retry-After", "30")
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
