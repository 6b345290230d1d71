"""Events the catalogue publishes."""

from __future__ import annotations

from dataclasses import dataclass

from civicstack.core.events import Event


@dataclass(frozen=True)
class ServicePublished(Event):
    """A new version of a service page went live."""

    service_id: str
    slug: str
    version: int


@dataclass(frozen=True)
class ServiceWithdrawn(Event):
    """A service page was taken down."""

    service_id: str
    slug: str
