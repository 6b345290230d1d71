"""Automations that BPMN service tasks call, by id, from a typed plugin registry.

A process names an automation (``civicstack:checks.documents_present``); the engine calls
it with the case and the workflow data and merges the dict it returns into that data.
Automations check and record; none of them can refuse an application.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from civicstack.cases import rules
from civicstack.cases.models import (
    AutomationRule,
    Case,
    CaseSettings,
    InformationRequest,
    RuleAction,
)
from civicstack.core.registry import Registry
from civicstack.documents.selectors import documents_attached_to
from civicstack.forms.selectors import application_file_ids, application_for_case


@dataclass
class AutomationContext:
    """What an automation sees: the case, the workflow data, and a place for findings."""

    case: Case
    data: dict[str, Any]
    notes: list[str] = field(default_factory=list)


Automation = Callable[[AutomationContext], dict[str, Any]]
automations: Registry[Automation] = Registry("case automations")


@automations.register("checks.documents_present")
def documents_present(context: AutomationContext) -> dict[str, Any]:
    """Check that every file the applicant gave is stored, clean and attached."""
    application = application_for_case(application_id=context.case.application_id)
    if application is None:
        return {"documents_present": False, "documents_count": 0}
    wanted = set(application_file_ids(application=application))
    stored = {
        str(pk)
        for pk in documents_attached_to(attached_to=context.case.application_reference).values_list(
            "pk", flat=True
        )
    }
    return {
        "documents_present": wanted <= stored,
        "documents_count": len(wanted),
        "documents_missing": len(wanted - stored),
    }


@automations.register("rules.evaluate")
def rules_evaluate(context: AutomationContext) -> dict[str, Any]:
    """Run the service's rules; approve only when every approving rule passes.

    A failing rule never refuses: ``auto_approved`` stays false and the findings go to
    the caseworker. Under four-eyes approval nothing is approved automatically.
    """
    case = context.case
    case_settings = CaseSettings.objects.filter(service_id=case.service_id).first()
    facts = {
        "answers": case.answers,
        "documents_count": context.data.get("documents_count", 0),
        "documents_present": context.data.get("documents_present", False),
    }
    findings: list[dict[str, Any]] = []
    approving = 0
    all_pass = True
    for rule in AutomationRule.objects.filter(service_id=case.service_id, enabled=True):
        results = rules.conditions_evaluate(rule.conditions, facts)
        passed = all(result.passed for result in results)
        findings.append(
            {
                "rule": rule.name,
                "rule_id": str(rule.pk),
                "action": rule.action,
                "passed": passed,
                "conditions": [result.as_dict() for result in results],
            }
        )
        if rule.action == RuleAction.APPROVE:
            approving += 1
            all_pass = all_pass and passed
    auto_approved = bool(
        case_settings is not None
        and case_settings.automation_enabled
        and not case_settings.four_eyes
        and approving
        and all_pass
        and facts["documents_present"]
    )
    return {"auto_approved": auto_approved, "rule_findings": findings}


@automations.register("notify.information_reminder")
def information_reminder(context: AutomationContext) -> dict[str, Any]:
    """Remind the applicant of the open request for information (once per request)."""
    from civicstack.cases.services import information_reminder_notify

    case = context.case
    request = (
        InformationRequest.objects.filter(
            case=case, answered_at__isnull=True, expired_at__isnull=True
        )
        .order_by("-created_at")
        .first()
    )
    if request is None:
        return {"information_reminded": False}
    return {"information_reminded": information_reminder_notify(request=request)}
