"""Events of the cases app, for the apps that react to decisions (notify, KPIs, feedback)."""

from __future__ import annotations

from dataclasses import dataclass

from civicstack.core.events import Event


@dataclass(frozen=True)
class CaseDecided(Event):
    """A case was decided and its signed letter issued."""

    case_id: str
    reference: str
    application_id: str
    service_id: str
    agency_id: str
    outcome: str
    outcome_kind: str
    automated: bool
