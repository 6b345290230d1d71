"""Who is acting, and from where: request context that services and the audit log read."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class RepresentedParty:
    """Whom the person acting represents, under which mandate (ids only, no personal data).

    The kernel knows nothing of mandates: the app that manages them sets this on the
    request context, and the audit log records it with every event of that request.
    """

    kind: str
    party_id: str
    mandate_id: str

    def as_data(self) -> dict[str, str]:
        """Return the party as the audit log stores it."""
        return {"kind": self.kind, "id": self.party_id, "mandate": self.mandate_id}


@dataclass(frozen=True)
class RequestContext:
    """Where the current action came from, and on whose behalf (when acting for someone)."""

    request_id: str = ""
    ip_address: str = ""
    user_agent: str = ""
    channel: str = "system"
    represented: RepresentedParty | None = None


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
