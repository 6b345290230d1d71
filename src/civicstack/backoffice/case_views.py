"""Back-office case pages: the work queue, the whole case on one screen and what can be done
with it, the supervisor's figures, and each service's case settings, rules and process.

Every page works without JavaScript. Each action is its own POST that carries the case's
version, so a form posted from a page someone else has since changed is refused and the
case is shown again with what changed; errors re-show the case with the GOV.UK error
summary, and nothing is changed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from civicstack.accounts import selectors as accounts
from civicstack.backoffice.access import staff_required
from civicstack.cases import selectors as cases
from civicstack.cases import services as case_services
from civicstack.cases.constants import (
    LANE_APPLICANT,
    LANE_CASEWORKER,
    LANE_SUPERVISOR,
    MAX_REASONS_LENGTH,
    TASK_APPROVE,
    TASK_ASSESS,
)
from civicstack.catalogue import selectors as catalogue
from civicstack.core.errors import (
    CivicstackError,
    Conflict,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from civicstack.documents.constants import IMAGE_KINDS
from civicstack.forms import selectors as forms

# Query parameters of the queue; anything else in the address is ignored.
QUEUE_PARAMETERS = ("service", "status", "waiting_on", "assigned", "overdue", "sort")
MAX_CURSOR_LENGTH = 400
MAX_BULK_CASES = 200
MAX_PROCESS_BYTES = 1024 * 1024
MAX_RULE_ROWS = 20
MAX_ANSWER_DEPTH = 6
_SLUG = re.compile(r"^[-a-zA-Z0-9_]{1,100}$")
_INTEGER = re.compile(r"^-?\d{1,15}$")
_DECIMAL = re.compile(r"^-?\d{1,15}\.\d{1,15}$")

LANE_LABELS = {
    LANE_CASEWORKER: gettext_lazy("Caseworker"),
    LANE_SUPERVISOR: gettext_lazy("Supervisor"),
    LANE_APPLICANT: gettext_lazy("Applicant"),
}
SORT_LABELS = {
    "due": gettext_lazy("Due date"),
    "received": gettext_lazy("Date received"),
    "priority": gettext_lazy("Priority"),
}
ASSIGNED_LABELS = {
    "any": gettext_lazy("Anyone or no one"),
    "me": gettext_lazy("Me"),
    "unassigned": gettext_lazy("No one yet"),
}
DOCUMENT_FIELDS = {
    "documents.count": gettext_lazy("Number of files the applicant sent"),
    "documents.present": gettext_lazy("Every file is stored and clean"),
}


def _language() -> str:
    return "cy" if (translation.get_language() or "en").startswith("cy") else "en"


def _person(user: Any) -> str:
    if user is None:
        return ""
    return str(user.full_name or user.email)


def _error_list(errors: Mapping[str, str]) -> list[dict[str, str]]:
    # Keys are written with underscores so templates can read them (errors.decide_reasons);
    # the inputs' ids use hyphens (decide-reasons), which the summary links to.
    return [{"field": key.replace("_", "-"), "message": text} for key, text in errors.items()]


def _clean_text(value: str, *, limit: int) -> str:
    """Return a posted text cut to a length the page can show again (the service judges it)."""
    return value[: limit + 1]


# --- The queue ------------------------------------------------------------------------------


def _queue_query(data: QueryDict | Mapping[str, str]) -> dict[str, str]:
    """Return the queue's own parameters from a query string, as given (cut short)."""
    return {name: str(data.get(name, ""))[:100] for name in QUEUE_PARAMETERS if data.get(name)}


def _queue_filters(query: Mapping[str, str]) -> tuple[cases.QueueFilters, dict[str, str]]:
    choices = cases.case_choices()
    errors: dict[str, str] = {}
    service = query.get("service", "")
    if service and not _SLUG.match(service):
        errors["filter_service"] = _("Choose a service from the list.")
    status = query.get("status", "")
    if status and status not in {value for value, _label in choices.statuses}:
        errors["filter_status"] = _("Choose a status from the list.")
    waiting_on = query.get("waiting_on", "")
    if waiting_on and waiting_on not in LANE_LABELS:
        errors["filter_waiting_on"] = _("Choose who the case is waiting on from the list.")
    assigned = query.get("assigned", "")
    if assigned and assigned not in ASSIGNED_LABELS:
        try:
            assigned = str(UUID(assigned))
        except ValueError:
            errors["filter_assigned"] = _("Choose who the cases are assigned to from the list.")
    overdue = query.get("overdue", "")
    if overdue not in ("", "1"):
        errors["filter_overdue"] = _("Tick the box to see only overdue cases, or leave it.")
    sort = query.get("sort", "") or "due"
    if sort not in SORT_LABELS:
        errors["filter_sort"] = _("Choose an order from the list.")
    if errors:
        return cases.QueueFilters(), errors
    return (
        cases.QueueFilters(
            service=service,
            status=status,
            waiting_on=waiting_on,
            assigned=assigned,
            breached=overdue == "1",
            sort=sort,
        ),
        {},
    )


def _supervised(user: Any) -> list[Any]:
    return [
        agency_id
        for agency_id, roles in cases.case_roles_by_agency(user=user).items()
        if cases.roles_may_supervise(roles)
    ]


def _queue_page(
    request: HttpRequest,
    query: dict[str, str],
    cursor: str,
    *,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    errors = dict(errors or {})
    filters, filter_errors = _queue_filters(query)
    errors.update(filter_errors)
    page = None
    if not filter_errors:
        try:
            if len(cursor) > MAX_CURSOR_LENGTH or "\x00" in cursor:
                raise cases.CursorInvalid()
            page = cases.case_queue(user=request.user, filters=filters, cursor=cursor)
        except cases.CursorInvalid:
            errors["first_page"] = _("This page link is not valid. Go back to the first page.")
    if errors and status == 200:
        status = 400
    today = timezone.localdate()
    supervised = _supervised(request.user)
    caseworkers = cases.caseworkers_for(agency_ids=supervised) if supervised else []
    choices = cases.case_choices()
    return render(
        request,
        "backoffice/cases/queue.html",
        {
            "page": page,
            "rows": [
                {"case": case, "overdue": case.due_on < today}
                for case in (page.cases if page else [])
            ],
            "query": query,
            "query_string": urlencode(query),
            "next_query": urlencode({**query, "cursor": page.next_cursor})
            if page and page.next_cursor
            else "",
            "is_later_page": bool(cursor),
            "services": list(catalogue.services_for_staff(user=request.user)[:200]),
            "statuses": [c for c in choices.statuses if c[0] not in ("decided", "withdrawn")],
            "lanes": list(LANE_LABELS.items()),
            "assigned_choices": list(ASSIGNED_LABELS.items()),
            "sorts": list(SORT_LABELS.items()),
            "is_supervisor": bool(supervised),
            "caseworkers": caseworkers,
            "assigned_person": _assigned_person(filters.assigned, caseworkers),
            "errors": errors,
            "error_list": _error_list(errors),
        },
        status=status,
    )


def _assigned_person(assigned: str, caseworkers: list[Any]) -> str:
    if assigned in ("", *ASSIGNED_LABELS):
        return ""
    for person in caseworkers:
        if str(person.pk) == assigned:
            return _person(person)
    return _("Someone else")


@require_safe
@staff_required
def case_queue(request: HttpRequest) -> HttpResponse:
    """Show one page of open cases with filters, an order and a link to the next page."""
    return _queue_page(
        request, _queue_query(request.GET), str(request.GET.get("cursor", ""))[:1000]
    )


def _uuid_list(values: list[str]) -> list[UUID] | None:
    parsed = []
    for value in values:
        try:
            parsed.append(UUID(value))
        except ValueError:
            return None
    return parsed


@require_POST
@staff_required
def cases_assign_bulk(request: HttpRequest) -> HttpResponse:
    """Give the ticked cases to one caseworker (supervisors), then show the queue again."""
    query = _queue_query(QueryDict(str(request.POST.get("query", ""))[:1000]))
    ids = _uuid_list(request.POST.getlist("cases")[: MAX_BULK_CASES + 1])
    assignee = _uuid_list([str(request.POST.get("assignee", ""))])
    errors: dict[str, str] = {}
    if not ids:
        errors["bulk_cases"] = _("Tick the cases you want to assign.")
    elif len(ids) > MAX_BULK_CASES:
        errors["bulk_cases"] = _("Choose between 1 and 200 cases.")
    if not assignee:
        errors["bulk_assignee"] = _("Choose who to give the cases to.")
    if ids and assignee and not errors:
        try:
            count = case_services.cases_assign_bulk(
                case_ids=ids, assignee_id=assignee[0], actor=request.user
            )
        except case_services.FieldErrors as error:
            errors = {
                "bulk_assignee" if name == "assignee" else "bulk_cases": message
                for name, message in error.errors.items()
            }
        except (Conflict, PermissionDenied) as error:
            errors["bulk_cases"] = str(error.message)
        else:
            messages.success(
                request,
                translation.ngettext("%(count)s case assigned.", "%(count)s cases assigned.", count)
                % {"count": count},
            )
            return HttpResponseRedirect(f"{reverse('backoffice:cases')}?{urlencode(query)}")
    return _queue_page(request, query, "", errors=errors, status=400)


# --- The case on one screen ------------------------------------------------------------------


def _answer_html(value: Any, documents: Mapping[str, Any], depth: int = 0) -> SafeString:
    """Render an answer (text, a number, a list, an item of a repeating group) as HTML."""
    if depth > MAX_ANSWER_DEPTH:
        return format_html("{}", "…")
    if value is None or value == "" or value == [] or value == {}:
        return format_html('<span class="govuk-hint">{}</span>', _("Not answered"))
    if isinstance(value, bool):
        return format_html("{}", _("Yes") if value else _("No"))
    if isinstance(value, str):
        document = documents.get(value)
        if document is not None:
            return format_html(
                '<a class="govuk-link" href="{}">{}</a>',
                reverse("documents:download", kwargs={"document_id": document.pk}),
                document.filename,
            )
        return format_html("{}", value)
    if isinstance(value, int | float):
        return format_html("{}", value)
    if isinstance(value, list):
        if all(not isinstance(item, dict) for item in value):
            return format_html(
                '<ul class="govuk-list">{}</ul>',
                format_html_join(
                    "", "<li>{}</li>", ((_answer_html(i, documents, depth + 1),) for i in value)
                ),
            )
        return format_html_join(
            "",
            '<div class="govuk-!-margin-bottom-3"><p class="govuk-body govuk-!-font-weight-bold'
            ' govuk-!-margin-bottom-1">{}</p>{}</div>',
            (
                (
                    _("Item %(number)s") % {"number": number},
                    _answer_html(item, documents, depth + 1),
                )
                for number, item in enumerate(value, start=1)
            ),
        )
    if isinstance(value, dict):
        return format_html(
            '<dl class="govuk-summary-list govuk-summary-list--no-border">{}</dl>',
            format_html_join(
                "",
                '<div class="govuk-summary-list__row"><dt class="govuk-summary-list__key">{}</dt>'
                '<dd class="govuk-summary-list__value">{}</dd></div>',
                (
                    (_humanised(str(key)), _answer_html(item, documents, depth + 1))
                    for key, item in value.items()
                ),
            ),
        )
    return format_html("{}", str(value))


def _humanised(key: str) -> str:
    text = key.replace("_", " ").replace("-", " ").strip()
    return text[:1].upper() + text[1:] if text else key


def _question_labels(service: Any, language: str) -> dict[str, str]:
    """Return the labels of the service's published form questions (and groups), by id."""
    version = forms.form_published_version(service=service)
    if version is None:
        return {}
    definition = forms.definition_of(version=version)
    labels = {question.id: question.label.get(language) for question in definition.questions()}
    for item in definition.items:
        title = getattr(item, "title", None)
        if getattr(item, "item_label", None) is not None and title is not None:
            labels[item.id] = title.get(language)
    return labels


def _top_level_questions(service: Any, language: str) -> list[tuple[str, str]]:
    """Return (id, label) of the published form's questions outside repeating groups."""
    version = forms.form_published_version(service=service)
    if version is None:
        return []
    definition = forms.definition_of(version=version)
    return [
        (question.id, question.label.get(language))
        for question in definition.questions()
        if definition.group_of_question(question.id) is None
    ]


def _findings(raw: object, operators: Mapping[str, Any]) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        return []
    findings = []
    for finding in raw[:50]:
        if not isinstance(finding, dict):
            continue
        conditions = finding.get("conditions")
        findings.append(
            {
                "rule": str(finding.get("rule", "")),
                "passed": bool(finding.get("passed")),
                "action": str(finding.get("action", "")),
                "conditions": [
                    {
                        "field": str(c.get("field", "")),
                        "operator": operators.get(str(c.get("operator", "")), c.get("operator")),
                        "expected": _shown(c.get("expected")),
                        "actual": _shown(c.get("actual")),
                        "passed": bool(c.get("passed")),
                    }
                    for c in (conditions if isinstance(conditions, list) else [])[:50]
                    if isinstance(c, dict)
                ],
            }
        )
    return findings


def _shown(value: object) -> str:
    if value is None:
        return _("nothing")
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)


def _outcome_label(outcomes: list[Mapping[str, str]], value: str, language: str) -> str:
    for outcome in outcomes:
        if outcome.get("value") == value:
            return str(outcome.get(f"label_{language}") or outcome.get("label_en") or value)
    return value


def _entry_row(entry: Any, view: Any, language: str, operators: Mapping[str, Any]) -> dict:
    data = entry.data if isinstance(entry.data, dict) else {}
    case = view.case
    if entry.actor_id is None:
        who = _("Automatic")
    elif entry.actor_id == case.applicant_id:
        who = _("The applicant")
    else:
        who = _person(entry.actor)
    details: list[str] = []
    findings: list[dict[str, Any]] = []
    link = None
    if entry.kind == "status" and entry.status:
        details.append(_("Now: %(status)s") % {"status": entry.get_status_display()})
    elif entry.kind == "assigned":
        if data.get("name"):
            details.append(_("Assigned to %(name)s") % {"name": data["name"]})
        else:
            details.append(_("Put back in the queue"))
    elif entry.kind == "linked" and data.get("other"):
        details.append(_("Linked to %(reference)s") % {"reference": data["other"]})
    elif entry.kind == "information_requested" and data.get("due_on"):
        details.append(_("Reply due by %(date)s") % {"date": data["due_on"]})
    elif entry.kind == "information_received":
        documents = data.get("documents")
        if isinstance(documents, list) and documents:
            details.append(_("%(count)s files sent") % {"count": len(documents)})
    elif entry.kind in ("decided", "decision_proposed") and data.get("outcome"):
        details.append(_outcome_label(view.outcomes, str(data["outcome"]), language))
    elif entry.kind == "letter" and data.get("document"):
        link = reverse("documents:download", kwargs={"document_id": data["document"]})
    elif entry.kind == "sla":
        if data.get("event") == "breach":
            details.append(_("The case is past its due date and was escalated."))
        elif data.get("event") == "warning":
            details.append(_("The case is due soon."))
    elif entry.kind == "automation":
        result = data.get("result")
        result = result if isinstance(result, dict) else {}
        findings = _findings(result.get("rule_findings"), operators)
        for key, value in result.items():
            if key != "rule_findings" and not isinstance(value, list | dict):
                details.append(f"{_humanised(str(key))}: {_shown(value)}")
    return {
        "kind": entry.get_kind_display(),
        "kind_value": entry.kind,
        "who": who,
        "at": entry.created_at,
        "text": entry.text,
        "details": details[:20],
        "findings": findings,
        "link": link,
    }


def _case_context(request: HttpRequest, view: Any) -> dict[str, Any]:
    case = view.case
    language = _language()
    choices = cases.case_choices()
    operators = dict(choices.operators)
    documents = {str(document.pk): document for document in view.documents}
    supervisor = cases.roles_may_supervise(view.roles)
    mine = case.assignee_id == request.user.pk
    may_work = case.is_open and (mine or supervisor)
    labels = _question_labels(case.service, language)
    settings = view.settings
    nation = settings.nation if settings is not None else "england"
    open_items = [item for item in view.work_items if item.status == "open"]
    proposed = next((d for d in reversed(view.decisions) if d.status == "proposed"), None)
    days_left = cases.working_days_left(due_on=case.due_on, nation=nation)
    return {
        "view": view,
        "case": case,
        "answers": [
            {
                "key": key,
                "label": labels.get(key) or _humanised(key),
                "html": _answer_html(v, documents),
            }
            for key, v in (case.answers.items() if isinstance(case.answers, dict) else [])
        ],
        "documents": view.documents,
        "entries": [_entry_row(entry, view, language, operators) for entry in view.entries],
        "requests": [
            {
                "request": item,
                "documents": [documents[i] for i in item.document_ids if i in documents],
            }
            for item in view.requests
        ],
        "decisions": [
            {
                "decision": decision,
                "outcome": _outcome_label(view.outcomes, decision.outcome, language),
                "decided_by": _("Automated, under the service's rules")
                if decision.automated
                else _person(decision.decided_by),
                "reviewed_by": _person(decision.reviewed_by),
                "findings": _findings(decision.rule_findings, operators),
            }
            for decision in view.decisions
        ],
        "outcomes": [
            {
                "value": outcome.get("value", ""),
                "label": outcome.get(f"label_{language}") or outcome.get("label_en", ""),
            }
            for outcome in view.outcomes
        ],
        "steps_done": [
            {"name": entry.text or entry.get_kind_display(), "at": entry.created_at}
            for entry in view.entries
            if entry.kind in ("automation", "task")
        ],
        "steps_current": [item.name for item in open_items],
        "active_elements": " ".join(item.element_id for item in open_items) or case.current_task,
        "done_elements": ",".join(
            str(entry.data.get("element", ""))
            for entry in view.entries
            if entry.kind in ("automation", "task") and isinstance(entry.data, dict)
        ),
        "lane_labels": LANE_LABELS,
        "waiting_on": LANE_LABELS.get(case.waiting_on, ""),
        "working_days_left": days_left,
        "working_days_late": max(-days_left, 0),
        "overdue": case.is_open and case.due_on < timezone.localdate(),
        "is_supervisor": supervisor,
        "is_mine": mine,
        "may_claim": case.is_open and case.assignee_id is None,
        "may_release": case.is_open and case.assignee_id is not None and (mine or supervisor),
        "may_assess": may_work and case.current_task == TASK_ASSESS,
        "must_claim_first": case.is_open and case.current_task == TASK_ASSESS and not may_work,
        "proposed": proposed,
        "may_review": case.is_open
        and supervisor
        and case.current_task == TASK_APPROVE
        and proposed is not None
        and proposed.decided_by_id != request.user.pk,
        "is_author_of_proposal": proposed is not None and proposed.decided_by_id == request.user.pk,
        "four_eyes": cases.process_needs_approval(version=case.process_version),
        "image_kinds": IMAGE_KINDS,
        "caseworkers": cases.caseworkers_for(agency_ids=[case.agency_id])
        if supervisor and case.is_open
        else [],
        "priorities": choices.priorities,
    }


def _case_page(
    request: HttpRequest,
    case_id: UUID,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    view = cases.case_for_staff(case_id=case_id, user=request.user, purpose="view")
    context = _case_context(request, view)
    context.update(
        {
            "errors": errors or {},
            "error_list": _error_list(errors or {}),
            "values": values or {},
            "diagram_url": reverse("backoffice:case-process", kwargs={"case_id": view.case.pk}),
        }
    )
    return render(request, "backoffice/cases/case.html", context, status=status)


@require_safe
@staff_required
def case_detail(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Show the whole case on one screen: applicant, answers, documents, history, decisions."""
    return _case_page(request, case_id)


@require_safe
@staff_required
def case_process(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Send the BPMN XML of the process the case runs on, for its diagram."""
    version = cases.process_diagram_for_staff(case_id=case_id, user=request.user)
    return _xml_response(version.xml)


def _xml_response(xml: str) -> HttpResponse:
    response = HttpResponse(xml, content_type="application/xml; charset=utf-8")
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "no-store, private"
    # The XML was uploaded by a person: should a browser render it, it runs nothing.
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    return response


class _FormInvalid(Exception):
    """A posted value that cannot even be given to the service (not a number, no version)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(next(iter(errors.values())))
        self.errors = errors


def _version(request: HttpRequest) -> int:
    raw = str(request.POST.get("version", ""))
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9):
        raise _FormInvalid(
            {"case_actions": _("This form is out of date. Reload the case and try again.")}
        )
    return int(raw)


def _number(request: HttpRequest, name: str, field: str, message: str) -> int:
    raw = str(request.POST.get(name, "")).strip()
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 4):
        raise _FormInvalid({field: message})
    return int(raw)


def _case_action(
    request: HttpRequest,
    case_id: UUID,
    prefix: str,
    fields: tuple[str, ...],
    act: Callable[[Any], str],
) -> HttpResponse:
    """Run one action on a case; on success go back to the case with a banner.

    ``prefix`` names the action's form on the page: an error on the service's field
    ``reasons`` is shown beside the input ``decide-reasons``.
    """
    case = cases.case_get_for_staff(case_id=case_id, user=request.user)
    values = {
        f"{prefix}_{name}": _clean_text(str(request.POST.get(name, "")), limit=MAX_REASONS_LENGTH)
        for name in fields
    }
    try:
        message = act(case)
    except _FormInvalid as error:
        return _case_page(request, case_id, errors=error.errors, values=values, status=400)
    except case_services.FieldErrors as error:
        errors = {f"{prefix}_{name}": text for name, text in error.errors.items()}
        return _case_page(request, case_id, errors=errors, values=values, status=400)
    except Conflict as error:
        return _case_page(
            request, case_id, errors={"case_actions": str(error.message)}, values=values, status=409
        )
    except PermissionDenied as error:
        return _case_page(
            request, case_id, errors={"case_actions": str(error.message)}, values=values, status=403
        )
    except NotFound:
        raise
    except CivicstackError as error:
        return _case_page(
            request,
            case_id,
            errors={"case_actions": str(error.message)},
            values=values,
            status=error.status,
        )
    messages.success(request, message)
    return HttpResponseRedirect(reverse("backoffice:case", kwargs={"case_id": case.pk}))


@require_POST
@staff_required
def case_claim(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Take the case as your own."""

    def act(case: Any) -> str:
        case_services.case_claim(case=case, actor=request.user, expected_version=_version(request))
        return _("You have taken this case.")

    return _case_action(request, case_id, "claim", (), act)


@require_POST
@staff_required
def case_release(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Put the case back in the queue."""

    def act(case: Any) -> str:
        case_services.case_release(
            case=case, actor=request.user, expected_version=_version(request)
        )
        return _("The case is back in the queue.")

    return _case_action(request, case_id, "release", (), act)


@require_POST
@staff_required
def case_assign(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Give the case to a caseworker of its agency (supervisors)."""

    def act(case: Any) -> str:
        version = _version(request)
        assignee = _uuid_list([str(request.POST.get("assignee", ""))])
        if not assignee:
            raise _FormInvalid({"assign_assignee": _("Choose who to give the case to.")})
        case_services.case_assign(
            case=case, assignee_id=assignee[0], actor=request.user, expected_version=version
        )
        return _("The case has been assigned.")

    return _case_action(request, case_id, "assign", ("assignee",), act)


@require_POST
@staff_required
def case_priority(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Change the case's priority (supervisors)."""

    def act(case: Any) -> str:
        priority = _number(request, "priority", "priority_priority", _("Choose a priority."))
        case_services.case_priority_set(
            case=case,
            priority=priority,
            actor=request.user,
            expected_version=_version(request),
        )
        return _("The priority has been changed.")

    return _case_action(request, case_id, "priority", ("priority",), act)


@require_POST
@staff_required
def case_note(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Add an internal note to the case's timeline."""

    def act(case: Any) -> str:
        case_services.case_note_add(
            case=case, text=str(request.POST.get("text", "")), actor=request.user
        )
        return _("Note added.")

    return _case_action(request, case_id, "note", ("text",), act)


@require_POST
@staff_required
def case_link(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Link the case with another case of the agency."""

    def act(case: Any) -> str:
        other = str(request.POST.get("other", ""))
        if "\x00" in other or len(other) > 40:
            raise _FormInvalid({"link_other": _("Enter the reference of another case.")})
        case_services.case_link(
            case=case,
            other_reference=other,
            reason=str(request.POST.get("reason", "")),
            actor=request.user,
        )
        return _("The cases are linked.")

    return _case_action(request, case_id, "link", ("other", "reason"), act)


@require_POST
@staff_required
def case_request_information(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Ask the applicant for more information; the case waits for their reply."""

    def act(case: Any) -> str:
        version = _version(request)
        due_days = _number(
            request,
            "due_days",
            "request_due_days",
            _("Enter the number of days the applicant has to reply, from 1 to 60."),
        )
        case_services.case_information_request(
            case=case,
            question=str(request.POST.get("question", "")),
            due_days=due_days,
            actor=request.user,
            expected_version=version,
        )
        return _("Your request has been sent to the applicant.")

    return _case_action(request, case_id, "request", ("question", "due_days"), act)


@require_POST
@staff_required
def case_decide(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Decide the case with reasons (under four-eyes, propose it to a supervisor)."""

    def act(case: Any) -> str:
        decision = case_services.case_decide(
            case=case,
            outcome=str(request.POST.get("outcome", ""))[:100],
            reasons=str(request.POST.get("reasons", "")),
            actor=request.user,
            expected_version=_version(request),
        )
        if decision.status == "proposed":
            return _("Your decision has been sent to a supervisor for approval.")
        return _(
            "The case is decided. The signed letter is on the applicant's dashboard and "
            "they have been told by email."
        )

    return _case_action(request, case_id, "decide", ("outcome", "reasons"), act)


@require_POST
@staff_required
def case_review(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Approve or return a proposed decision (a supervisor other than its author)."""

    def act(case: Any) -> str:
        version = _version(request)
        choice = str(request.POST.get("review", ""))
        if choice not in ("approve", "return"):
            raise _FormInvalid({"review_review": _("Choose to approve or return the decision.")})
        case_services.case_decision_review(
            case=case,
            approve=choice == "approve",
            note=str(request.POST.get("note", "")),
            actor=request.user,
            expected_version=version,
        )
        if choice == "approve":
            return _("The decision is approved and the applicant has been sent the letter.")
        return _("The decision has been returned to its author.")

    return _case_action(request, case_id, "review", ("review", "note"), act)


# --- Supervision ---------------------------------------------------------------------------------


@require_safe
@staff_required
def supervision(request: HttpRequest) -> HttpResponse:
    """Show supervisors their agencies' workload, ageing, breaches and throughput."""
    if not _supervised(request.user):
        raise PermissionDenied(_("Only supervisors can see these figures."))
    figures = cases.supervisor_figures(user=request.user)
    today = timezone.localdate()
    return render(
        request,
        "backoffice/cases/supervision.html",
        {
            "figures": figures,
            "workload": [
                {
                    **row,
                    "name": row.get("assignee__full_name") or row.get("assignee__email") or "",
                    "query": urlencode(
                        {
                            "assigned": str(row["assignee_id"])
                            if row["assignee_id"]
                            else "unassigned"
                        }
                    ),
                }
                for row in figures.workload
            ],
            "ageing": figures.ageing,
            "breaches": [
                {"case": case, "days_late": (today - case.due_on).days} for case in figures.breaches
            ],
        },
    )


# --- A service's case settings, rules and process --------------------------------------------


def _service_to_configure(request: HttpRequest, slug: str) -> Any:
    service = catalogue.service_for_staff(user=request.user, slug=slug)
    if service is None:
        raise Http404
    roles = accounts.staff_roles_by_agency(user=request.user).get(service.agency_id, set())
    if not cases.roles_may_configure(roles):
        raise PermissionDenied(
            _("Only the service's owners and agency admins can change how its cases are worked.")
        )
    return service


def _settings_page(
    request: HttpRequest,
    service: Any,
    *,
    errors: dict[str, str] | None = None,
    values: Mapping[str, Any] | None = None,
    process_errors: list[str] | None = None,
    process_xml: str = "",
    status: int = 200,
) -> HttpResponse:
    settings = cases.case_settings_for(service=service)
    versions = list(cases.process_versions_for(service=service)[:50])
    published = next((v for v in versions if v.status == "published"), None)
    current = {
        "target_working_days": settings.target_working_days if settings else 20,
        "nation": settings.nation if settings else "england",
        "four_eyes": settings.four_eyes if settings else False,
        "automation_enabled": settings.automation_enabled if settings else False,
    }
    language = _language()
    choices = cases.case_choices()
    all_errors = dict(errors or {})
    if process_errors:
        all_errors["process_xml"] = process_errors[0]
    return render(
        request,
        "backoffice/cases/service_settings.html",
        {
            "service": service,
            "settings": settings,
            "values": {**current, **(values or {})},
            "outcomes": [
                {
                    **outcome,
                    "label": outcome.get(f"label_{language}") or outcome.get("label_en", ""),
                }
                for outcome in (settings.outcomes if settings else [])
            ],
            "nations": choices.nations,
            "rules": list(cases.automation_rules_for(service=service)),
            "versions": versions,
            "published": published,
            "process_errors": process_errors or [],
            "process_xml": process_xml,
            "errors": all_errors,
            "error_list": _error_list(all_errors),
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
@staff_required
def service_case_settings(request: HttpRequest, slug: str) -> HttpResponse:
    """Show and change how a service's cases are worked."""
    service = _service_to_configure(request, slug)
    if request.method == "GET":
        return _settings_page(request, service)
    raw_days = str(request.POST.get("target_working_days", "")).strip()
    nation = str(request.POST.get("nation", ""))[:40]
    four_eyes = request.POST.get("four_eyes") == "yes"
    automation_enabled = request.POST.get("automation_enabled") == "yes"
    values = {
        "target_working_days": raw_days[:10],
        "nation": nation,
        "four_eyes": four_eyes,
        "automation_enabled": automation_enabled,
    }
    if not (raw_days.isascii() and raw_days.isdigit() and len(raw_days) <= 4):
        return _settings_page(
            request,
            service,
            errors={"target_working_days": _("Enter a target between 1 and 365 working days.")},
            values=values,
            status=400,
        )
    try:
        case_services.case_settings_update(
            service=service,
            target_working_days=int(raw_days),
            nation=nation,
            four_eyes=four_eyes,
            automation_enabled=automation_enabled,
            actor=request.user,
        )
    except case_services.FieldErrors as error:
        errors = dict(error.errors)
        return _settings_page(request, service, errors=errors, values=values, status=400)
    messages.success(request, _("Case settings saved. They apply to new cases."))
    return HttpResponseRedirect(reverse("backoffice:service-cases", kwargs={"slug": service.slug}))


def _rule_value_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(_rule_value_text(item) for item in value)
    return str(value)


def _rule_scalar(text: str) -> Any:
    """Read one value as typed: numbers and true/false become themselves, "quoted" stays text."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if _INTEGER.match(text):
        return int(text)
    if _DECIMAL.match(text):
        return float(text)
    return text


def _rule_value(text: str, operator: str, no_value: frozenset[str]) -> Any:
    if operator in no_value:
        return None
    if operator in ("in", "not_in"):
        return [_rule_scalar(part) for part in text.split(",") if part.strip()]
    return _rule_scalar(text)


def _rule_rows_from_post(request: HttpRequest) -> list[dict[str, str]]:
    raw = str(request.POST.get("row_count", "0"))
    usable = raw.isascii() and raw.isdigit() and len(raw) <= 3
    count = min(int(raw), MAX_RULE_ROWS + 1) if usable else 0
    rows = []
    for index in range(count):
        prefix = f"condition-{index}-"
        if request.POST.get(prefix + "remove"):
            continue
        rows.append(
            {
                "field": str(request.POST.get(prefix + "field", ""))[:120],
                "operator": str(request.POST.get(prefix + "operator", ""))[:20],
                "value": str(request.POST.get(prefix + "value", ""))[:1000],
            }
        )
    return rows


def _rule_page(
    request: HttpRequest,
    service: Any,
    rule: Any,
    *,
    name: str,
    action: str,
    enabled: bool,
    rows: list[dict[str, str]],
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    choices = cases.case_choices()
    questions = _top_level_questions(service, _language())
    fields: list[tuple[str, str]] = [(f"answers.{qid}", label) for qid, label in questions]
    fields += [(key, str(label)) for key, label in DOCUMENT_FIELDS.items()]
    known = {key for key, _label in fields}
    for row in rows:
        if row["field"] and row["field"] not in known:
            # A field the form no longer asks (or typed by hand): keep it, so nothing is lost.
            fields.append((row["field"], row["field"]))
            known.add(row["field"])
    return render(
        request,
        "backoffice/cases/rule_edit.html",
        {
            "service": service,
            "rule": rule,
            "name": name,
            "action": action,
            "enabled": enabled,
            "rows": [{**row, "index": index} for index, row in enumerate(rows)],
            "row_count": len(rows),
            "fields": fields,
            "free_text_fields": not questions,
            "operators": choices.operators,
            "rule_actions": choices.rule_actions,
            "errors": errors or {},
            "error_list": _error_list(errors or {}),
        },
        status=status,
    )


def _rule_or_404(service: Any, rule_id: UUID) -> Any:
    rule = cases.automation_rules_for(service=service).filter(pk=rule_id).first()
    if rule is None:
        raise Http404
    return rule


@require_http_methods(["GET", "POST"])
@staff_required
def service_rule_edit(request: HttpRequest, slug: str, rule_id: UUID | None = None) -> HttpResponse:
    """Add or change an automation rule: a name, what passing means, and its conditions.

    "Add another condition" shows the form again with a blank row and saves nothing, so no
    JavaScript is needed and nothing typed is lost.
    """
    service = _service_to_configure(request, slug)
    rule = _rule_or_404(service, rule_id) if rule_id is not None else None
    blank = {"field": "", "operator": "eq", "value": ""}
    if request.method == "GET":
        if rule is None:
            return _rule_page(
                request, service, None, name="", action="check", enabled=True, rows=[blank]
            )
        rows = [
            {
                "field": str(c.get("field", "")),
                "operator": str(c.get("operator", "")),
                "value": _rule_value_text(c.get("value")),
            }
            for c in rule.conditions
        ]
        return _rule_page(
            request,
            service,
            rule,
            name=rule.name,
            action=rule.action,
            enabled=rule.enabled,
            rows=rows or [blank],
        )
    name = str(request.POST.get("name", ""))[:300]
    action = str(request.POST.get("action", ""))[:20]
    enabled = request.POST.get("enabled") == "yes"
    rows = _rule_rows_from_post(request)
    if request.POST.get("step") == "add-row":
        if len(rows) < MAX_RULE_ROWS:
            rows.append(blank)
        return _rule_page(
            request, service, rule, name=name, action=action, enabled=enabled, rows=rows
        )
    no_value = cases.case_choices().operators_without_value
    conditions = [
        {
            "field": row["field"],
            "operator": row["operator"],
            "value": _rule_value(row["value"], row["operator"], no_value),
        }
        for row in rows
        if row["field"] or row["value"].strip()
    ]
    for condition in conditions:
        if condition["operator"] in no_value:
            del condition["value"]
    try:
        saved = case_services.automation_rule_save(
            service=service,
            name=name,
            action=action,
            conditions=conditions,
            enabled=enabled,
            actor=request.user,
            rule=rule,
        )
    except case_services.FieldErrors as error:
        errors = {f"rule_{field}": text for field, text in error.errors.items()}
        return _rule_page(
            request,
            service,
            rule,
            name=name,
            action=action,
            enabled=enabled,
            rows=rows or [blank],
            errors=errors,
            status=400,
        )
    messages.success(request, _("Rule “%(name)s” saved.") % {"name": saved.name})
    return HttpResponseRedirect(reverse("backoffice:service-cases", kwargs={"slug": service.slug}))


@require_POST
@staff_required
def service_rule_delete(request: HttpRequest, slug: str, rule_id: UUID) -> HttpResponse:
    """Delete an automation rule."""
    service = _service_to_configure(request, slug)
    rule = _rule_or_404(service, rule_id)
    case_services.automation_rule_delete(rule=rule, actor=request.user)
    messages.success(request, _("Rule deleted."))
    return HttpResponseRedirect(reverse("backoffice:service-cases", kwargs={"slug": service.slug}))


def _process_source(request: HttpRequest) -> str:
    upload = request.FILES.get("process_file")
    if upload is not None:
        if upload.size is not None and upload.size > MAX_PROCESS_BYTES:
            raise ValidationFailed(_("The process file must be 1 MB or smaller."))
        content = upload.read(MAX_PROCESS_BYTES + 1)
        if len(content) > MAX_PROCESS_BYTES:
            raise ValidationFailed(_("The process file must be 1 MB or smaller."))
        try:
            return content.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ValidationFailed(_("The process file must be BPMN XML in UTF-8.")) from None
    xml = str(request.POST.get("process_xml", ""))
    if len(xml) > MAX_PROCESS_BYTES:
        raise ValidationFailed(_("The process must be 1 MB or smaller."))
    return xml.replace("\r\n", "\n")


@require_POST
@staff_required
def service_process_save(request: HttpRequest, slug: str) -> HttpResponse:
    """Check an uploaded (or pasted) BPMN process and keep it as the draft process."""
    service = _service_to_configure(request, slug)
    try:
        xml = _process_source(request)
    except ValidationFailed as error:
        return _settings_page(request, service, process_errors=[str(error.message)], status=400)
    if not xml.strip():
        return _settings_page(
            request,
            service,
            process_errors=[_("Choose a BPMN file or paste the process XML.")],
            status=400,
        )
    if "\x00" in xml:
        return _settings_page(
            request, service, process_errors=[_("The process must be BPMN XML.")], status=400
        )
    try:
        version = case_services.process_version_save(service=service, xml=xml, actor=request.user)
    except ValidationFailed as error:
        # An invalid process (workflow.ProcessInvalid) lists one problem per line.
        lines = error.field_errors.get("process") or [error.message]
        return _settings_page(
            request,
            service,
            process_errors=[str(line) for line in lines][:50],
            process_xml=xml if request.FILES.get("process_file") is None else "",
            status=400,
        )
    messages.success(
        request,
        _("Process version %(number)s saved as a draft. Publish it to use it for new cases.")
        % {"number": version.number},
    )
    return HttpResponseRedirect(reverse("backoffice:service-cases", kwargs={"slug": service.slug}))


def _process_or_404(service: Any, number: int) -> Any:
    version = cases.process_versions_for(service=service).filter(number=number).first()
    if version is None:
        raise Http404
    return version


@require_POST
@staff_required
def service_process_publish(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    """Publish a draft process: new cases use it, running cases stay on their version."""
    service = _service_to_configure(request, slug)
    version = _process_or_404(service, number)
    try:
        case_services.process_version_publish(version=version, actor=request.user)
    except Conflict as error:
        messages.error(request, str(error.message))
    else:
        messages.success(
            request, _("Process version %(number)s is live.") % {"number": version.number}
        )
    return HttpResponseRedirect(reverse("backoffice:service-cases", kwargs={"slug": service.slug}))


@require_safe
@staff_required
def service_process_xml(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    """Send the BPMN XML of one of the service's process versions, for its diagram."""
    service = _service_to_configure(request, slug)
    return _xml_response(_process_or_404(service, number).xml)
