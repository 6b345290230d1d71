"""Events of the forms app, for the apps that react to applications (cases, notify)."""

from __future__ import annotations

from dataclasses import dataclass

from civicstack.core.events import Event, durable


@durable
@dataclass(frozen=True)
class ApplicationSubmitted(Event):
    """An application was submitted; it committed with this event (durable: at least once)."""

    application_id: str
    reference: str
    service_id: str
    agency_id: str
    applicant_id: str
    channel: str
    language: str


@durable
@dataclass(frozen=True)
class ApplicationWithdrawn(Event):
    """The applicant withdrew an application."""

    application_id: str
    reference: str
    service_id: str
    agency_id: str
