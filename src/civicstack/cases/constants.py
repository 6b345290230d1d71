"""Names other apps and the default processes rely on."""

from __future__ import annotations

CASE_REFERENCE_PREFIX = "CASE"

# Lanes of a process: who works a user task in that lane.
LANE_CASEWORKER = "caseworker"
LANE_SUPERVISOR = "supervisor"
LANE_APPLICANT = "applicant"

# User tasks the back office knows how to work (element ids in the BPMN processes).
TASK_ASSESS = "assess"
TASK_AWAIT_INFORMATION = "await_information"
TASK_APPROVE = "approve_decision"

# The outcomes a service starts with; service owners can rename and add to them.
DEFAULT_OUTCOMES = (
    {"value": "approved", "kind": "approve", "label_en": "Approved", "label_cy": "Cymeradwywyd"},
    {"value": "refused", "kind": "refuse", "label_en": "Refused", "label_cy": "Gwrthodwyd"},
)

# What the applicant's dashboard says for each kind of outcome.
APPLICATION_STATUS_FOR_OUTCOME = {"approve": "approved", "refuse": "refused", "other": "decided"}

MIN_REASONS_LENGTH = 10
MAX_REASONS_LENGTH = 10_000
MAX_NOTE_LENGTH = 5_000
QUEUE_PAGE_SIZE = 50
