"""Events of the notifications app."""

from __future__ import annotations

from dataclasses import dataclass

from civicstack.core.events import Event


@dataclass(frozen=True)
class NotificationFailed(Event):
    """A notification reached a failed status; the sender's owners see it in the back office."""

    notification_id: str
    sender_id: str
    kind: str
    status: str
