"""Who is acting, and from where: request context that services and the audit log read."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    """Where the current action came from."""

    request_id: str = ""
    ip_address: str = ""
    user_agent: str = ""
    channel: str = "system"


_SYSTEM = RequestContext()
# RequestContext is frozen, so sharing one default instance is safe.
_current: contextvars.ContextVar[RequestContext] = contextvars.ContextVar(
    "civicstack_request_context", default=_SYSTEM
)


def current_context() -> RequestContext:
    """Return the context of the action being handled (empty for system jobs)."""
    return _current.get()


@contextmanager
def use_context(context: RequestContext) -> Iterator[RequestContext]:
    """Set the request context for the duration of a block."""
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)
