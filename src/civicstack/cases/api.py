"""The case API: a caseworker's tools (queue, case, claim, notes, requests, decisions).

Every call acts as one person, through their personal API key: the permission checks are
the services', exactly as on the back-office pages. An agency key (one without a person)
cannot work cases. Bodies are JSON objects; unknown fields are refused, as in the
applications API, so a typo is never silently ignored.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any
from uuid import UUID

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from civicstack.accounts.constants import API_SCOPE_CASES_READ, API_SCOPE_CASES_WRITE
from civicstack.accounts.selectors import api_key_authenticate
from civicstack.cases import selectors, services
from civicstack.cases.constants import (
    LANE_APPLICANT,
    LANE_CASEWORKER,
    LANE_SUPERVISOR,
    QUEUE_PAGE_SIZE,
)
from civicstack.cases.models import (
    OPEN_CASE_STATUSES,
    Case,
    CaseEntry,
    CaseLink,
    CaseStatus,
    Decision,
    InformationRequest,
    WorkItem,
)
from civicstack.core.api import api_endpoint, json_body, openapi_parts
from civicstack.core.errors import (
    NotAuthenticated,
    PermissionDenied,
    ValidationFailed,
)

MAX_QUEUE_LIMIT = 100
MAX_CURSOR_LENGTH = 500
_SLUG = re.compile(r"[-a-zA-Z0-9_]{1,100}")
_CURSOR = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_CURSOR_LENGTH}}}")
_PURPOSE = re.compile(r"[a-z0-9_.:-]{1,40}")
SORTS = ("due", "received", "priority")
LANES = (LANE_CASEWORKER, LANE_SUPERVISOR, LANE_APPLICANT)
BOOLEANS = {"true": True, "false": False}
# The services name a few fields differently from the API bodies.
_SERVICE_FIELDS = {"assignee": "assignee_id"}


# --- Authentication ------------------------------------------------------------------------


def _acting_user(request: HttpRequest, scope: str) -> Any:
    """Return the person a personal key acts for, or raise 401/403.

    The key's agency is kept on the request: a person with roles in several agencies
    reaches, with this key, only the cases of the agency the key was made for.
    """
    header = request.headers.get("Authorization", "")
    scheme, _sep, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise NotAuthenticated(_("Send a personal API key as Authorization: Bearer <key>."))
    key = api_key_authenticate(secret=secret.strip())
    if key is None:
        raise NotAuthenticated(
            _(
                "The API key is not valid, has been revoked, or its person "
                "is no longer staff of its agency."
            )
        )
    if key.user_id is None:
        raise PermissionDenied(
            _(
                "This is an agency key. The case API acts as a person: use a personal key, "
                "made with civicstack api_keys create --user."
            )
        )
    if scope not in key.scopes:
        raise PermissionDenied(
            _("This API key does not have the scope %(scope)s.") % {"scope": scope}
        )
    request.civicstack_key_agency = key.agency_id  # type: ignore[attr-defined]
    return key.user


def _key_agency(request: HttpRequest) -> Any:
    return getattr(request, "civicstack_key_agency", None)


# --- Input ---------------------------------------------------------------------------------


class _Field:
    """One body field: its JSON type, and whether it must be there."""

    def __init__(self, kind: type, *, required: bool = False) -> None:
        self.kind = kind
        self.required = required

    def accepts(self, value: Any) -> bool:
        # JSON true is a Python int too: an integer field takes only real integers.
        if self.kind is int:
            return isinstance(value, int) and not isinstance(value, bool)
        return isinstance(value, self.kind)


_TYPE_NAMES = {str: _("a string"), int: _("an integer"), bool: _("true or false")}


def _body(request: HttpRequest, fields: Mapping[str, _Field]) -> dict[str, Any]:
    """Return the body's fields checked against ``fields``; raise 400 with errors by field.

    An empty body is an empty object, so actions without fields need no body at all.
    """
    # Read the length, not the body: json_body refuses an oversized body before reading it.
    empty = str(request.META.get("CONTENT_LENGTH") or "0") == "0"
    data = {} if empty else json_body(request)
    errors: dict[str, list[Any]] = {}
    for name in sorted(set(data) - set(fields)):
        errors[name[:100]] = [_("Unknown field")]
    for name, field in fields.items():
        if name not in data:
            if field.required:
                errors[name] = [_("This field is required")]
            continue
        if not field.accepts(data[name]):
            errors[name] = [
                _("Must be %(type)s") % {"type": _TYPE_NAMES.get(field.kind, field.kind.__name__)}
            ]
    if errors:
        raise ValidationFailed(field_errors=errors)
    return {name: data.get(name) for name in fields}


def _expected_version() -> _Field:
    return _Field(int)


def _uuid(value: str, field: str) -> UUID:
    """Return ``value`` as a UUID; only the usual 8-4-4-4-12 spelling is taken."""
    try:
        parsed = UUID(value)
    except (ValueError, TypeError, AttributeError):
        parsed = None
    if parsed is None or str(parsed) != value.lower():
        raise ValidationFailed(field_errors={field: [_("Must be an id (a UUID)")]})
    return parsed


def _service_call[ResultT](call: Callable[[], ResultT]) -> ResultT:
    """Run a case service, turning its field errors into the API's errors by field."""
    try:
        return call()
    except services.FieldErrors as error:
        raise ValidationFailed(
            field_errors={
                _SERVICE_FIELDS.get(name, name): [message] for name, message in error.errors.items()
            }
        ) from error


# --- Output --------------------------------------------------------------------------------


def _person(user: Any) -> dict[str, Any] | None:
    if user is None:
        return None
    return {"id": str(user.pk), "name": user.full_name or user.email}


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def case_summary(case: Case) -> dict[str, Any]:
    """Return the API's short representation of a case (queue rows, action results)."""
    return {
        "id": str(case.pk),
        "reference": case.reference,
        "service": case.service.slug,
        "agency_id": str(case.agency_id),
        "application_id": str(case.application_id),
        "application_reference": case.application_reference,
        "applicant_name": case.applicant_name,
        "status": case.status,
        "priority": case.priority,
        "assignee": _person(case.assignee),
        "waiting_on": case.waiting_on or None,
        "current_task": case.current_task or None,
        "received_at": case.received_at.isoformat(),
        "due_on": case.due_on.isoformat(),
        "breached": case.breached_at is not None,
        "closed_at": _iso(case.closed_at),
        "outcome": case.outcome or None,
        "version": case.version,
        "links": {"self": reverse("api-cases:case", kwargs={"case_id": case.pk})},
    }


def _entry(entry: CaseEntry) -> dict[str, Any]:
    return {
        "id": str(entry.pk),
        "kind": entry.kind,
        "at": entry.created_at.isoformat(),
        "actor": _person(entry.actor),
        "status": entry.status or None,
        "text": entry.text,
        "data": entry.data if isinstance(entry.data, dict) else {},
    }


def _document(document: Any) -> dict[str, Any]:
    return {
        "id": str(document.pk),
        "filename": document.original_filename,
        "content_type": document.content_type,
        "kind": document.kind,
        "size": document.size,
        "sha256": document.sha256,
        "added_at": document.created_at.isoformat(),
        "download_url": reverse("documents:download", kwargs={"document_id": document.pk}),
    }


def _work_item(item: WorkItem) -> dict[str, Any]:
    return {
        "id": str(item.pk),
        "task": item.element_id,
        "name": item.name,
        "lane": item.lane,
        "status": item.status,
        "created_at": item.created_at.isoformat(),
        "completed_by": _person(item.completed_by),
        "completed_at": _iso(item.completed_at),
    }


def _information_request(request: InformationRequest) -> dict[str, Any]:
    return {
        "id": str(request.pk),
        "question": request.question,
        "requested_at": request.created_at.isoformat(),
        "due_on": request.due_on.isoformat(),
        "answer": request.answer or None,
        "answered_at": _iso(request.answered_at),
        "document_ids": [str(d) for d in request.document_ids],
    }


def _decision(decision: Decision) -> dict[str, Any]:
    letter_url = (
        reverse("documents:download", kwargs={"document_id": decision.letter_id})
        if decision.letter_id
        else None
    )
    return {
        "id": str(decision.pk),
        "outcome": decision.outcome,
        "outcome_kind": decision.outcome_kind,
        "reasons": decision.reasons,
        "status": decision.status,
        "automated": decision.automated,
        "decided_by": _person(decision.decided_by),
        "reviewed_by": _person(decision.reviewed_by),
        "review_note": decision.review_note or None,
        "decided_at": _iso(decision.decided_at),
        "rule_findings": decision.rule_findings if isinstance(decision.rule_findings, list) else [],
        "letter_id": str(decision.letter_id) if decision.letter_id else None,
        "letter_url": letter_url,
    }


def _link(link: CaseLink) -> dict[str, Any]:
    return {
        "case_id": str(link.other_id),
        "reference": link.other.reference,
        "reason": link.reason,
        "links": {"self": reverse("api-cases:case", kwargs={"case_id": link.other_id})},
    }


def case_detail(view: selectors.CaseView) -> dict[str, Any]:
    """Return everything about a case in one representation (the case screen's content)."""
    case = view.case
    process = case.process_version
    return {
        **case_summary(case),
        "service_name": {"en": case.service.title_en, "cy": case.service.title_cy},
        "language": case.language,
        "applicant": {
            "user_id": str(case.applicant_id) if case.applicant_id else None,
            "name": case.applicant_name,
            "email": case.applicant_email,
            "representative": case.representative or None,
            # The party the applicant acted for (a business or a person who gave a mandate).
            "on_behalf_of": (
                {
                    "type": case.represented_kind,
                    "id": case.represented_id,
                    "name": case.represented_name,
                    "mandate": case.represented_mandate_id,
                }
                if case.represented_kind
                else None
            ),
        },
        "answers": case.answers if isinstance(case.answers, dict) else {},
        "workflow": {
            "process": process.name,
            "version": process.number,
            "current_task": case.current_task or None,
            "waiting_on": case.waiting_on or None,
        },
        "your_roles": sorted(view.roles),
        "outcomes": [
            {
                "value": str(o.get("value", "")),
                "kind": str(o.get("kind", "")),
                "label_en": str(o.get("label_en", "")),
                "label_cy": str(o.get("label_cy", "")),
            }
            for o in view.outcomes
        ],
        "documents": [_document(d) for d in view.documents],
        "timeline": [_entry(e) for e in view.entries],
        "work_items": [_work_item(w) for w in view.work_items],
        "information_requests": [_information_request(r) for r in view.requests],
        "decisions": [_decision(d) for d in view.decisions],
        "case_links": [_link(link) for link in view.links],
    }


def _summary_response(case_id: Any) -> JsonResponse:
    case = Case.objects.select_related("service", "assignee").get(pk=case_id)
    return JsonResponse(case_summary(case))


# --- Endpoints -----------------------------------------------------------------------------


QUEUE_PARAMETERS = frozenset(
    {"service", "status", "waiting_on", "assigned", "breached", "sort", "cursor", "limit"}
)


def _known_parameters(request: HttpRequest, known: frozenset[str]) -> None:
    """Refuse unknown query parameters, as unknown body fields are: a typo is never ignored."""
    unknown = sorted(set(request.GET) - known)
    if unknown:
        raise ValidationFailed(
            field_errors={name[:100]: [_("Unknown parameter")] for name in unknown}
        )


def _query(
    request: HttpRequest,
    name: str,
    pattern: re.Pattern[str] | None = None,
    choices: tuple[str, ...] | None = None,
) -> str:
    # A parameter that is there must be valid, even when empty: "absent" is not spelled "".
    if name not in request.GET:
        return ""
    value = request.GET[name]
    if (pattern is not None and not pattern.fullmatch(value)) or (
        choices is not None and value not in choices
    ):
        raise ValidationFailed(field_errors={name: [_("Not a value this parameter takes")]})
    return value


@api_endpoint("GET")
def case_list(request: HttpRequest) -> HttpResponse:
    """Return one page of the open cases the key's person may work (the work queue)."""
    user = _acting_user(request, API_SCOPE_CASES_READ)
    _known_parameters(request, QUEUE_PARAMETERS)
    assigned = request.GET.get("assigned", "any")
    if assigned not in ("me", "unassigned", "any"):
        _uuid(assigned, "assigned")
    limit = QUEUE_PAGE_SIZE
    if "limit" in request.GET:
        limit_text = request.GET["limit"]
        if not limit_text.isascii() or not limit_text.isdigit() or len(limit_text) > 3:
            raise ValidationFailed(field_errors={"limit": [_("Must be between 1 and 100")]})
        limit = int(limit_text)
        if not 1 <= limit <= MAX_QUEUE_LIMIT:
            raise ValidationFailed(field_errors={"limit": [_("Must be between 1 and 100")]})
    filters = selectors.QueueFilters(
        service=_query(request, "service", _SLUG),
        status=_query(request, "status", choices=tuple(OPEN_CASE_STATUSES)),
        waiting_on=_query(request, "waiting_on", choices=LANES),
        assigned=assigned,
        breached=BOOLEANS[_query(request, "breached", choices=tuple(BOOLEANS)) or "false"],
        sort=_query(request, "sort", choices=SORTS) or "due",
    )
    cursor = _query(request, "cursor", _CURSOR)
    try:
        page = selectors.case_queue(
            user=user,
            filters=filters,
            cursor=cursor,
            page_size=limit,
            within_agency=_key_agency(request),
        )
    except selectors.CursorInvalid as error:
        raise ValidationFailed(field_errors={"cursor": [error.message]}) from error
    return JsonResponse(
        {
            "cases": [case_summary(case) for case in page.cases],
            "next_cursor": page.next_cursor or None,
        }
    )


@api_endpoint("GET")
def case_read(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Return the whole case; the access is recorded with its purpose, channel "api"."""
    user = _acting_user(request, API_SCOPE_CASES_READ)
    _known_parameters(request, frozenset({"purpose"}))
    purpose = _query(request, "purpose", _PURPOSE) or "api"
    view = selectors.case_for_staff(
        case_id=case_id,
        user=user,
        purpose=purpose,
        channel="api",
        within_agency=_key_agency(request),
    )
    return JsonResponse(case_detail(view))


def _writer(request: HttpRequest, case_id: UUID) -> tuple[Any, Case]:
    user = _acting_user(request, API_SCOPE_CASES_WRITE)
    return user, selectors.case_get_for_staff(
        case_id=case_id, user=user, within_agency=_key_agency(request)
    )


@api_endpoint("POST")
def case_claim(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Take an unassigned case as the key's person's own."""
    user, case = _writer(request, case_id)
    body = _body(request, {"expected_version": _expected_version()})
    services.case_claim(case=case, actor=user, expected_version=body["expected_version"])
    return _summary_response(case.pk)


@api_endpoint("POST")
def case_assign(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Give a case to a caseworker of its agency (supervisors; anyone to themselves)."""
    user, case = _writer(request, case_id)
    body = _body(
        request,
        {"assignee_id": _Field(str, required=True), "expected_version": _expected_version()},
    )
    assignee_id = _uuid(body["assignee_id"], "assignee_id")
    _service_call(
        lambda: services.case_assign(
            case=case,
            assignee_id=assignee_id,
            actor=user,
            expected_version=body["expected_version"],
        )
    )
    return _summary_response(case.pk)


@api_endpoint("POST")
def case_release(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Put a case back in the queue (its assignee, or a supervisor)."""
    user, case = _writer(request, case_id)
    body = _body(request, {"expected_version": _expected_version()})
    services.case_release(case=case, actor=user, expected_version=body["expected_version"])
    return _summary_response(case.pk)


@api_endpoint("POST")
def case_note(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Add an internal note (never shown to the applicant)."""
    user, case = _writer(request, case_id)
    body = _body(
        request, {"text": _Field(str, required=True), "expected_version": _expected_version()}
    )
    _service_call(
        lambda: services.case_note_add(
            case=case,
            text=body["text"],
            actor=user,
            expected_version=body["expected_version"],
        )
    )
    return _summary_response(case.pk)


@api_endpoint("POST")
def case_information_request(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Ask the applicant for more information; the case waits for their reply."""
    user, case = _writer(request, case_id)
    body = _body(
        request,
        {
            "question": _Field(str, required=True),
            "due_days": _Field(int, required=True),
            "expected_version": _expected_version(),
        },
    )
    _service_call(
        lambda: services.case_information_request(
            case=case,
            question=body["question"],
            due_days=body["due_days"],
            actor=user,
            expected_version=body["expected_version"],
        )
    )
    return _summary_response(case.pk)


@api_endpoint("POST")
def case_decide(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Decide with reasons; under four-eyes the decision waits for a supervisor."""
    user, case = _writer(request, case_id)
    body = _body(
        request,
        {
            "outcome": _Field(str, required=True),
            "reasons": _Field(str, required=True),
            "expected_version": _expected_version(),
        },
    )
    _service_call(
        lambda: services.case_decide(
            case=case,
            outcome=body["outcome"],
            reasons=body["reasons"],
            actor=user,
            expected_version=body["expected_version"],
        )
    )
    return _summary_response(case.pk)


@api_endpoint("POST")
def case_decision_review(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Approve or return a proposed decision (a supervisor other than its author)."""
    user, case = _writer(request, case_id)
    body = _body(
        request,
        {
            "approve": _Field(bool, required=True),
            "note": _Field(str),
            "expected_version": _expected_version(),
        },
    )
    _service_call(
        lambda: services.case_decision_review(
            case=case,
            approve=body["approve"],
            note=body["note"] or "",
            actor=user,
            expected_version=body["expected_version"],
        )
    )
    return _summary_response(case.pk)


# --- OpenAPI ---------------------------------------------------------------------------------


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _object(required: list[str], properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties, **extra}


_STRING = {"type": "string"}
_UUID = {"type": "string", "format": "uuid"}
_DATE = {"type": "string", "format": "date"}
_DATETIME = {"type": "string", "format": "date-time"}
_EXPECTED_VERSION = {
    "type": "integer",
    "description": "The case version the client last saw; a different one gets 409.",
}


def _openapi() -> dict[str, Any]:
    error = {"application/json": {"schema": _ref("Error")}}
    errors = {
        "400": {"description": "Invalid input, with errors by field", "content": error},
        "401": {"description": "Missing or invalid API key", "content": error},
        "403": {
            "description": "An agency key, a key without the scope, or a person who may not "
            "do this to this case",
            "content": error,
        },
        "404": {
            "description": "No such case, or not one of the person's agencies",
            "content": error,
        },
    }
    write_errors = {
        **errors,
        "409": {
            "description": "The case changed since expected_version, or it is in a state "
            "where this cannot be done",
            "content": error,
        },
        "415": {"description": "The body is not JSON", "content": error},
    }
    case_id = {"name": "case_id", "in": "path", "required": True, "schema": _UUID}
    summary_response = {
        "200": {
            "description": "The case after the change",
            "content": {"application/json": {"schema": _ref("CaseSummary")}},
        }
    }

    def action(operation_id: str, summary: str, body: str, required: bool) -> dict[str, Any]:
        return {
            "post": {
                "operationId": operation_id,
                "summary": summary,
                "security": [{"apiKey": []}],
                "parameters": [case_id],
                "requestBody": {
                    "required": required,
                    "content": {"application/json": {"schema": _ref(body)}},
                },
                "responses": {**summary_response, **write_errors},
            }
        }

    enum_param = [
        ("status", [str(s) for s in OPEN_CASE_STATUSES], "Only cases with this status"),
        ("waiting_on", list(LANES), "Only cases waiting on this lane"),
        ("breached", ["true", "false"], "Only cases past their due date"),
        ("sort", list(SORTS), "Order: due date (default), received, or priority"),
    ]
    queue_parameters: list[dict[str, Any]] = [
        {
            "name": "service",
            "in": "query",
            "description": "Only cases of the service with this slug",
            "schema": {"type": "string", "pattern": "^[-a-zA-Z0-9_]{1,100}$"},
        },
        *(
            {"name": name, "in": "query", "description": text, "schema": {"enum": values}}
            for name, values, text in enum_param
        ),
        {
            "name": "assigned",
            "in": "query",
            "description": "me, unassigned, any, or the id of a member of staff",
            "schema": {"anyOf": [{"enum": ["me", "unassigned", "any"]}, _UUID]},
        },
        {
            "name": "cursor",
            "in": "query",
            "description": "next_cursor of the previous page",
            "schema": {"type": "string", "pattern": f"^[A-Za-z0-9_-]{{1,{MAX_CURSOR_LENGTH}}}$"},
        },
        {
            "name": "limit",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_QUEUE_LIMIT},
        },
    ]
    person = _nullable(_object(["id", "name"], {"id": _UUID, "name": _STRING}))
    summary_properties: dict[str, Any] = {
        "id": _UUID,
        "reference": {"type": "string", "examples": ["CASE-2026-000123"]},
        "service": {"type": "string", "description": "The service's slug"},
        "agency_id": _UUID,
        "application_id": _UUID,
        "application_reference": _STRING,
        "applicant_name": _STRING,
        "status": {"enum": list(CaseStatus.values)},
        "priority": {"type": "integer", "enum": [1, 2, 3], "description": "1 high, 3 low"},
        "assignee": person,
        "waiting_on": _nullable({"type": "string"}),
        "current_task": _nullable({"type": "string"}),
        "received_at": _DATETIME,
        "due_on": _DATE,
        "breached": {"type": "boolean"},
        "closed_at": _nullable(_DATETIME),
        "outcome": _nullable({"type": "string"}),
        "version": {"type": "integer", "description": "Send as expected_version on changes"},
        "links": _object(["self"], {"self": _STRING}),
    }
    detail_properties: dict[str, Any] = {
        **summary_properties,
        "service_name": _object(["en", "cy"], {"en": _STRING, "cy": _STRING}),
        "language": _STRING,
        "applicant": _object(
            ["user_id", "name", "email", "representative", "on_behalf_of"],
            {
                "user_id": _nullable(_UUID),
                "name": _STRING,
                "email": _STRING,
                "representative": _nullable({"type": "string"}),
                "on_behalf_of": _nullable(
                    _object(
                        ["type", "id", "name", "mandate"],
                        {
                            "type": {"type": "string", "enum": ["person", "business"]},
                            "id": _STRING,
                            "name": _STRING,
                            "mandate": _STRING,
                        },
                    )
                ),
            },
        ),
        "answers": {"type": "object"},
        "workflow": _object(
            ["process", "version", "current_task", "waiting_on"],
            {
                "process": _STRING,
                "version": {"type": "integer"},
                "current_task": _nullable({"type": "string"}),
                "waiting_on": _nullable({"type": "string"}),
            },
        ),
        "your_roles": {"type": "array", "items": _STRING},
        "outcomes": {
            "type": "array",
            "items": _object(
                ["value", "kind", "label_en", "label_cy"],
                {
                    "value": _STRING,
                    "kind": {"enum": ["approve", "refuse", "other"]},
                    "label_en": _STRING,
                    "label_cy": _STRING,
                },
            ),
        },
        "documents": {"type": "array", "items": _ref("CaseDocument")},
        "timeline": {"type": "array", "items": _ref("CaseTimelineEntry")},
        "work_items": {"type": "array", "items": _ref("CaseWorkItem")},
        "information_requests": {"type": "array", "items": _ref("CaseInformationRequest")},
        "decisions": {"type": "array", "items": _ref("CaseDecision")},
        "case_links": {
            "type": "array",
            "items": _object(
                ["case_id", "reference", "reason", "links"],
                {
                    "case_id": _UUID,
                    "reference": _STRING,
                    "reason": _STRING,
                    "links": _object(["self"], {"self": _STRING}),
                },
            ),
        },
    }
    expected = {"expected_version": _EXPECTED_VERSION}
    return {
        "paths": {
            "/api/v1/cases": {
                "get": {
                    "operationId": "listCases",
                    "summary": "The work queue: open cases the key's person may work",
                    "description": "Keyset pagination: pass next_cursor as cursor for the "
                    "next page; it is null on the last page.",
                    "security": [{"apiKey": []}],
                    "parameters": queue_parameters,
                    "responses": {
                        "200": {
                            "description": "One page of cases",
                            "content": {"application/json": {"schema": _ref("CaseQueuePage")}},
                        },
                        "400": errors["400"],
                        "401": errors["401"],
                        "403": errors["403"],
                    },
                }
            },
            "/api/v1/cases/{case_id}": {
                "get": {
                    "operationId": "getCase",
                    "summary": "The whole case in one call",
                    "description": "Recorded in the case's access log (the applicant's data "
                    "usage view) with the purpose given and channel api.",
                    "security": [{"apiKey": []}],
                    "parameters": [
                        case_id,
                        {
                            "name": "purpose",
                            "in": "query",
                            "description": "Why the case is opened (default api)",
                            "schema": {"type": "string", "pattern": "^[a-z0-9_.:-]{1,40}$"},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "The case",
                            "content": {"application/json": {"schema": _ref("CaseDetail")}},
                        },
                        "400": errors["400"],
                        "401": errors["401"],
                        "403": errors["403"],
                        "404": errors["404"],
                    },
                }
            },
            "/api/v1/cases/{case_id}/claim": action(
                "claimCase", "Take the case as your own", "CaseVersionRequest", False
            ),
            "/api/v1/cases/{case_id}/assign": action(
                "assignCase", "Give the case to a caseworker", "CaseAssignRequest", True
            ),
            "/api/v1/cases/{case_id}/release": action(
                "releaseCase", "Put the case back in the queue", "CaseVersionRequest", False
            ),
            "/api/v1/cases/{case_id}/notes": action(
                "addCaseNote", "Add an internal note", "CaseNoteRequest", True
            ),
            "/api/v1/cases/{case_id}/information-requests": action(
                "requestInformation",
                "Ask the applicant for more information",
                "CaseInformationRequestRequest",
                True,
            ),
            "/api/v1/cases/{case_id}/decisions": action(
                "decideCase", "Decide with reasons", "CaseDecisionRequest", True
            ),
            "/api/v1/cases/{case_id}/decisions/review": action(
                "reviewDecision",
                "Approve or return a proposed decision",
                "CaseDecisionReviewRequest",
                True,
            ),
        },
        "components": {
            "schemas": {
                "CaseSummary": _object(list(summary_properties), summary_properties),
                "CaseDetail": _object(list(detail_properties), detail_properties),
                "CaseQueuePage": _object(
                    ["cases", "next_cursor"],
                    {
                        "cases": {"type": "array", "items": _ref("CaseSummary")},
                        "next_cursor": _nullable({"type": "string"}),
                    },
                ),
                "CaseDocument": _object(
                    [
                        "id",
                        "filename",
                        "content_type",
                        "kind",
                        "size",
                        "sha256",
                        "added_at",
                        "download_url",
                    ],
                    {
                        "id": _UUID,
                        "filename": _STRING,
                        "content_type": _STRING,
                        "kind": _STRING,
                        "size": {"type": "integer"},
                        "sha256": _STRING,
                        "added_at": _DATETIME,
                        "download_url": _STRING,
                    },
                ),
                "CaseTimelineEntry": _object(
                    ["id", "kind", "at", "actor", "status", "text", "data"],
                    {
                        "id": _UUID,
                        "kind": _STRING,
                        "at": _DATETIME,
                        "actor": person,
                        "status": _nullable({"type": "string"}),
                        "text": _STRING,
                        "data": {"type": "object"},
                    },
                ),
                "CaseWorkItem": _object(
                    [
                        "id",
                        "task",
                        "name",
                        "lane",
                        "status",
                        "created_at",
                        "completed_by",
                        "completed_at",
                    ],
                    {
                        "id": _UUID,
                        "task": _STRING,
                        "name": _STRING,
                        "lane": _STRING,
                        "status": {"enum": ["open", "done", "cancelled"]},
                        "created_at": _DATETIME,
                        "completed_by": person,
                        "completed_at": _nullable(_DATETIME),
                    },
                ),
                "CaseInformationRequest": _object(
                    [
                        "id",
                        "question",
                        "requested_at",
                        "due_on",
                        "answer",
                        "answered_at",
                        "document_ids",
                    ],
                    {
                        "id": _UUID,
                        "question": _STRING,
                        "requested_at": _DATETIME,
                        "due_on": _DATE,
                        "answer": _nullable({"type": "string"}),
                        "answered_at": _nullable(_DATETIME),
                        "document_ids": {"type": "array", "items": _STRING},
                    },
                ),
                "CaseDecision": _object(
                    [
                        "id",
                        "outcome",
                        "outcome_kind",
                        "reasons",
                        "status",
                        "automated",
                        "decided_by",
                        "reviewed_by",
                        "review_note",
                        "decided_at",
                        "rule_findings",
                        "letter_id",
                        "letter_url",
                    ],
                    {
                        "id": _UUID,
                        "outcome": _STRING,
                        "outcome_kind": {"enum": ["approve", "refuse", "other"]},
                        "reasons": _STRING,
                        "status": {"enum": ["proposed", "returned", "final"]},
                        "automated": {"type": "boolean"},
                        "decided_by": person,
                        "reviewed_by": person,
                        "review_note": _nullable({"type": "string"}),
                        "decided_at": _nullable(_DATETIME),
                        "rule_findings": {"type": "array"},
                        "letter_id": _nullable(_UUID),
                        "letter_url": _nullable({"type": "string"}),
                    },
                ),
                "CaseVersionRequest": _object([], expected, additionalProperties=False),
                "CaseAssignRequest": _object(
                    ["assignee_id"],
                    {"assignee_id": _UUID, **expected},
                    additionalProperties=False,
                ),
                "CaseNoteRequest": _object(
                    ["text"],
                    {"text": {"type": "string", "minLength": 1, "maxLength": 5000}, **expected},
                    additionalProperties=False,
                ),
                "CaseInformationRequestRequest": _object(
                    ["question", "due_days"],
                    {
                        "question": {"type": "string", "minLength": 1, "maxLength": 5000},
                        "due_days": {"type": "integer", "minimum": 1, "maximum": 60},
                        **expected,
                    },
                    additionalProperties=False,
                ),
                "CaseDecisionRequest": _object(
                    ["outcome", "reasons"],
                    {
                        "outcome": {
                            "type": "string",
                            "description": "One of the case's outcomes (see CaseDetail)",
                        },
                        "reasons": {"type": "string", "minLength": 10, "maxLength": 10_000},
                        **expected,
                    },
                    additionalProperties=False,
                ),
                "CaseDecisionReviewRequest": _object(
                    ["approve"],
                    {
                        "approve": {"type": "boolean"},
                        "note": {
                            "type": "string",
                            "maxLength": 5000,
                            "description": "Required when returning the decision",
                        },
                        **expected,
                    },
                    additionalProperties=False,
                ),
            }
        },
    }


openapi_parts.register("cases")(_openapi)
