"""The case API over HTTP: personal keys, the whole case in one call, and working a case
from claim to signed decision with the same rules as the back office."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from civicstack.accounts.constants import API_SCOPE_CASES_READ, API_SCOPE_CASES_WRITE, Role
from civicstack.accounts.services import api_key_create, user_disable
from civicstack.accounts.tests.factories import staff_create
from civicstack.cases import services
from civicstack.cases.models import (
    Case,
    CaseAccess,
    CaseEntry,
    CaseStatus,
    Decision,
    DecisionStatus,
    EntryKind,
    InformationRequest,
    ProcessVersion,
)
from civicstack.cases.testing import letter_pki, letter_signing
from civicstack.forms.models import ApplicationEntry

pytestmark = pytest.mark.django_db

__all__ = ["letter_pki", "letter_signing"]  # fixtures used by the tests below

Call = Callable[..., Any]


def _key(
    person: Any, scopes: tuple[str, ...] = (API_SCOPE_CASES_READ, API_SCOPE_CASES_WRITE)
) -> str:
    agency = person.memberships.select_related("agency").first().agency
    _key, secret = api_key_create(
        agency=agency, name="Case tool", scopes=list(scopes), user=person, actor=None
    )
    return secret


@pytest.fixture
def keys(staff: dict[str, Any]) -> dict[str, str]:
    """A personal key (read and write) for each member of staff of the cases fixtures."""
    return {name: _key(person) for name, person in staff.items()}


def _api(secret: str | None) -> Call:
    client = Client()
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}

    def call(method: str, path: str, body: Any = None, **extra: Any) -> Any:
        url = f"/api/v1/cases{path}"
        if method == "GET":
            return client.get(url, extra.get("params"), headers=headers)
        data = body if isinstance(body, str | bytes) else json.dumps(body or {})
        return client.post(
            url,
            data=data,
            content_type=extra.get("content_type", "application/json"),
            headers=headers,
        )

    return call


def _errors(response: Any) -> dict[str, list[str]]:
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["status"] == 400 and body["code"] == "validation_failed"
    return body["errors"]


# --- The happy path ------------------------------------------------------------------------


def test_a_caseworker_works_a_case_from_the_queue_to_a_signed_decision(
    open_case: Call,
    staff: dict[str, Any],
    keys: dict[str, str],
    applicant: Any,
    letter_signing: Any,
) -> None:
    """Queue, whole case, claim, note, request information, reply, decide with reasons."""
    case = open_case()
    api = _api(keys["caseworker"])

    queue = api("GET", "", params={"assigned": "unassigned"})
    assert queue.status_code == 200, queue.content
    assert [row["reference"] for row in queue.json()["cases"]] == [case.reference]
    assert queue.json()["next_cursor"] is None

    detail = api("GET", f"/{case.pk}", params={"purpose": "eligibility-check"})
    assert detail.status_code == 200, detail.content
    data = detail.json()
    assert data["reference"] == case.reference
    assert data["applicant"]["name"] == "Rhian Evans"
    assert data["answers"]["household_size"] == 2
    assert data["workflow"] == {
        "process": case.process_version.name,
        "version": case.process_version.number,
        "current_task": "assess",
        "waiting_on": "caseworker",
    }
    assert [w["task"] for w in data["work_items"] if w["status"] == "open"] == ["assess"]
    assert data["timeline"][0]["kind"] == EntryKind.CREATED
    assert {o["value"] for o in data["outcomes"]} == {"approved", "refused"}
    assert data["your_roles"] == ["caseworker"]
    access = CaseAccess.objects.get(case=case)
    assert (access.user, access.purpose, access.channel) == (
        staff["caseworker"],
        "eligibility-check",
        "api",
    )

    claimed = api("POST", f"/{case.pk}/claim", {"expected_version": data["version"]})
    assert claimed.status_code == 200, claimed.content
    assert claimed.json()["assignee"]["id"] == str(staff["caseworker"].pk)
    assert claimed.json()["status"] == CaseStatus.IN_PROGRESS
    assert claimed.json()["version"] > data["version"]

    noted = api("POST", f"/{case.pk}/notes", {"text": "Called the applicant."})
    assert noted.status_code == 200, noted.content
    note = CaseEntry.objects.get(case=case, kind=EntryKind.NOTE)
    assert (note.text, note.actor) == ("Called the applicant.", staff["caseworker"])

    asked = api(
        "POST",
        f"/{case.pk}/information-requests",
        {"question": "Send a recent council tax bill.", "due_days": 10},
    )
    assert asked.status_code == 200, asked.content
    assert asked.json()["status"] == CaseStatus.WAITING_APPLICANT
    assert asked.json()["waiting_on"] == "applicant"
    request = InformationRequest.objects.get(case=case)
    message = ApplicationEntry.objects.get(application_id=case.application_id, kind="message")
    assert message.link_url == (f"/en/applications/{case.application_id}/requests/{request.pk}/")

    services.information_request_answer(
        request=request, answer="Attached.", document_ids=[], holder_keys=[], actor=applicant
    )
    version = api("GET", f"/{case.pk}").json()["version"]
    decided = api(
        "POST",
        f"/{case.pk}/decisions",
        {
            "outcome": "approved",
            "reasons": "The bill shows the applicant lives in the area.",
            "expected_version": version,
        },
    )
    assert decided.status_code == 200, decided.content
    assert decided.json()["status"] == CaseStatus.DECIDED
    assert decided.json()["outcome"] == "approved"
    assert decided.json()["closed_at"] is not None
    final = api("GET", f"/{case.pk}").json()
    [decision] = final["decisions"]
    assert decision["status"] == DecisionStatus.FINAL
    assert decision["decided_by"]["id"] == str(staff["caseworker"].pk)
    assert decision["letter_url"].endswith(f"/{decision['letter_id']}/download")
    assert [d["id"] for d in final["documents"]] == [decision["letter_id"]]
    assert final["information_requests"][0]["answer"] == "Attached."
    assert final["workflow"]["current_task"] is None
    # Without a purpose the access is recorded as "api".
    purposes = set(CaseAccess.objects.filter(case=case).values_list("purpose", "channel"))
    assert purposes == {("eligibility-check", "api"), ("api", "api")}
    # Closed cases leave the queue.
    assert api("GET", "").json()["cases"] == []


def test_the_reply_link_is_in_the_applicants_language(
    open_case: Call, staff: dict[str, Any], keys: dict[str, str]
) -> None:
    """A Welsh applicant's dashboard link points at a Welsh page."""
    case = open_case(language="cy")
    api = _api(keys["caseworker"])
    api("POST", f"/{case.pk}/claim")
    response = api(
        "POST", f"/{case.pk}/information-requests", {"question": "Proof?", "due_days": 5}
    )
    assert response.status_code == 200, response.content
    message = ApplicationEntry.objects.get(application_id=case.application_id, kind="message")
    assert message.link_url.startswith("/cy/")


def test_four_eyes_decisions_are_approved_by_another_supervisor(
    open_case: Call,
    staff: dict[str, Any],
    keys: dict[str, str],
    licence_service: Any,
    letter_signing: Any,
) -> None:
    """A proposal waits; its author cannot approve it; returning needs a note."""
    services.case_settings_update(
        service=licence_service,
        target_working_days=10,
        nation="england",
        four_eyes=True,
        automation_enabled=False,
        actor=staff["owner"],
    )
    ProcessVersion.objects.filter(service=licence_service).delete()
    case = open_case()
    worker = _api(keys["caseworker"])
    worker("POST", f"/{case.pk}/claim")
    proposed = worker(
        "POST",
        f"/{case.pk}/decisions",
        {"outcome": "refused", "reasons": "The household is too large."},
    )
    assert proposed.status_code == 200, proposed.content
    assert proposed.json()["status"] == CaseStatus.AWAITING_APPROVAL
    assert worker("POST", f"/{case.pk}/decisions/review", {"approve": True}).status_code == 403
    supervisor = _api(keys["supervisor"])
    assert _errors(supervisor("POST", f"/{case.pk}/decisions/review", {"approve": False})) == {
        "note": ["Say why you are returning the decision."]
    }
    approved = supervisor("POST", f"/{case.pk}/decisions/review", {"approve": True, "note": "OK"})
    assert approved.status_code == 200, approved.content
    assert approved.json()["status"] == CaseStatus.DECIDED
    decision = Decision.objects.get(case=case)
    assert decision.reviewed_by == staff["supervisor"] and decision.letter_id is not None


def test_assign_and_release(open_case: Call, staff: dict[str, Any], keys: dict[str, str]) -> None:
    """Supervisors give cases to caseworkers; caseworkers cannot give them to others."""
    case = open_case()
    worker = _api(keys["caseworker"])
    other = {"assignee_id": str(staff["caseworker2"].pk)}
    refused = worker("POST", f"/{case.pk}/assign", other)
    assert refused.status_code == 403
    assigned = _api(keys["supervisor"])("POST", f"/{case.pk}/assign", other)
    assert assigned.status_code == 200, assigned.content
    assert assigned.json()["assignee"]["id"] == str(staff["caseworker2"].pk)
    assert worker("POST", f"/{case.pk}/release").status_code == 403
    released = _api(keys["caseworker2"])("POST", f"/{case.pk}/release")
    assert released.status_code == 200 and released.json()["assignee"] is None


# --- Optimistic locking --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("claim", {}),
        ("release", {}),
        ("notes", {"text": "A note."}),
        ("information-requests", {"question": "Proof?", "due_days": 5}),
        ("decisions", {"outcome": "approved", "reasons": "Meets every condition."}),
    ],
)
def test_a_stale_expected_version_is_a_conflict_and_changes_nothing(
    open_case: Call, staff: dict[str, Any], keys: dict[str, str], path: str, body: dict[str, Any]
) -> None:
    """A client that saw an older version gets 409 and the case is as it was."""
    case = open_case()
    api = _api(keys["supervisor"])
    stale = case.version
    if path != "claim":
        api("POST", f"/{case.pk}/claim")
    else:
        services.case_priority_set(case=case, priority=1, actor=staff["supervisor"])
    before = Case.objects.get(pk=case.pk)
    entries = CaseEntry.objects.filter(case=case).count()
    response = api("POST", f"/{case.pk}/{path}", {**body, "expected_version": stale})
    assert response.status_code == 409, response.content
    assert response.json()["code"] == "conflict"
    after = Case.objects.get(pk=case.pk)
    assert (after.version, after.assignee_id, after.status) == (
        before.version,
        before.assignee_id,
        before.status,
    )
    assert CaseEntry.objects.filter(case=case).count() == entries


# --- Bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "fields"),
    [
        ("claim", {"expected_version": "3"}, {"expected_version"}),
        ("claim", {"expected_version": True}, {"expected_version"}),
        ("claim", {"expected_version": None}, {"expected_version"}),
        ("claim", {"please": 1}, {"please"}),
        ("assign", {}, {"assignee_id"}),
        ("assign", {"assignee_id": "someone"}, {"assignee_id"}),
        ("assign", {"assignee_id": 7}, {"assignee_id"}),
        ("notes", {}, {"text"}),
        ("notes", {"text": 12}, {"text"}),
        ("notes", {"text": "   "}, {"text"}),
        ("notes", {"text": "x" * 5001}, {"text"}),
        ("notes", {"text": "a\x00b"}, {"text"}),
        ("notes", {"txt": "typo"}, {"txt", "text"}),
        ("information-requests", {"question": "Q?"}, {"due_days"}),
        ("information-requests", {"question": "Q?", "due_days": "5"}, {"due_days"}),
        ("information-requests", {"question": "Q?", "due_days": 5.5}, {"due_days"}),
        ("information-requests", {"question": "", "due_days": 0}, {"question", "due_days"}),
        ("information-requests", {"question": "Q?", "due_days": 10**40}, {"due_days"}),
        ("decisions", {"outcome": "granted", "reasons": "short"}, {"outcome", "reasons"}),
        ("decisions", {"outcome": ["approved"], "reasons": {}}, {"outcome", "reasons"}),
        ("decisions/review", {"approve": "yes"}, {"approve"}),
        ("decisions/review", {"approve": 1}, {"approve"}),
        ("decisions/review", {"approve": False, "note": 3}, {"note"}),
    ],
)
def test_bad_bodies_get_errors_by_field(
    open_case: Call,
    keys: dict[str, str],
    path: str,
    body: dict[str, Any],
    fields: set[str],
) -> None:
    """Wrong types, missing and unknown fields, and values the service refuses: 400."""
    case = open_case()
    api = _api(keys["supervisor"])
    api("POST", f"/{case.pk}/claim")
    version = Case.objects.get(pk=case.pk).version
    assert set(_errors(api("POST", f"/{case.pk}/{path}", body))) == fields
    assert Case.objects.get(pk=case.pk).version == version


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ("{", "application/json", 400),
        ("[1, 2]", "application/json", 400),
        ('"text"', "application/json", 400),
        ('{"text": NaN}', "application/json", 400),
        (b"\xff\xfe", "application/json", 400),
        ("text=hello", "application/x-www-form-urlencoded", 415),
        ('{"text": "hello"}', "text/plain", 415),
    ],
)
def test_bodies_that_are_not_json_objects_are_refused(
    open_case: Call, keys: dict[str, str], body: Any, content_type: str, status: int
) -> None:
    """Malformed JSON, other types and other media types get a clear error, never a 500."""
    case = open_case()
    response = _api(keys["caseworker"])(
        "POST", f"/{case.pk}/notes", body, content_type=content_type
    )
    assert response.status_code == status, response.content
    assert response.json()["status"] == status
    assert not CaseEntry.objects.filter(case=case, kind=EntryKind.NOTE).exists()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"sort": "name"}, "sort"),
        ({"status": "decided"}, "status"),
        ({"waiting_on": "nobody"}, "waiting_on"),
        ({"assigned": "someone"}, "assigned"),
        ({"breached": "yes"}, "breached"),
        ({"service": "no spaces"}, "service"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "a" * 501}, "cursor"),
    ],
)
def test_bad_queue_parameters_are_refused(
    open_case: Call, keys: dict[str, str], params: dict[str, str], field: str
) -> None:
    """Each query parameter is checked; a wrong value names the parameter."""
    open_case()
    assert set(_errors(_api(keys["caseworker"])("GET", "", params=params))) == {field}


def _cursor(sort: str, values: list[Any]) -> str:
    raw = json.dumps([sort, values]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    ("sort", "values"),
    [
        ("due", ["2026-01-01", 5]),
        ("due", ["2026-01-01", {"id": 1}]),
        ("received", ["2026-01-01T00:00:00", "3f0c7a0e-4b8e-4b64-9d55-6a1f3b0f0a11"]),
    ],
)
def test_forged_cursors_are_refused(
    open_case: Call, keys: dict[str, str], sort: str, values: list[Any]
) -> None:
    """A cursor the queue did not hand out is a 400 naming the cursor, never a 500."""
    open_case()
    params = {"cursor": _cursor(sort, values), "sort": sort}
    assert set(_errors(_api(keys["caseworker"])("GET", "", params=params))) == {"cursor"}


def test_the_queue_pages_with_a_cursor_and_filters(
    open_case: Call, staff: dict[str, Any], keys: dict[str, str]
) -> None:
    """limit and next_cursor walk the whole queue once; filters narrow it."""
    cases = [open_case() for _ in range(3)]
    api = _api(keys["caseworker"])
    api("POST", f"/{cases[0].pk}/claim")
    seen: list[str] = []
    cursor = ""
    for _page in range(5):
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = api("GET", "", params=params).json()
        seen += [row["id"] for row in page["cases"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(str(c.pk) for c in cases)
    mine = api("GET", "", params={"assigned": "me"}).json()["cases"]
    assert [row["id"] for row in mine] == [str(cases[0].pk)]
    by_id = api("GET", "", params={"assigned": str(staff["caseworker"].pk)}).json()["cases"]
    assert [row["id"] for row in by_id] == [str(cases[0].pk)]
    assert api("GET", "", params={"service": "another-service"}).json()["cases"] == []
    assert len(api("GET", "", params={"status": "new"}).json()["cases"]) == 2


# --- Who may call -----------------------------------------------------------------------------


def test_calls_without_a_working_key_are_unauthenticated(
    open_case: Call, staff: dict[str, Any], keys: dict[str, str]
) -> None:
    """No key, a malformed key, or the key of a disabled person: 401 (ASVS V8.3)."""
    case = open_case()
    assert _api(None)("GET", f"/{case.pk}").status_code == 401
    assert _api("cs_nothing")("GET", f"/{case.pk}").status_code == 401
    user_disable(
        user=staff["caseworker"], actor=staff_create(role=Role.PLATFORM_ADMIN), reason="left"
    )
    response = _api(keys["caseworker"])("POST", f"/{case.pk}/claim")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert Case.objects.get(pk=case.pk).assignee_id is None


def test_an_agency_key_cannot_work_cases(open_case: Call, licence_service: Any) -> None:
    """Keys without a person get 403 with a message saying a personal key is needed."""
    case = open_case()
    _key, secret = api_key_create(
        agency=licence_service.agency, name="System", scopes=["applications:submit"], actor=None
    )
    for method, path in (("GET", ""), ("GET", f"/{case.pk}"), ("POST", f"/{case.pk}/claim")):
        response = _api(secret)(method, path)
        assert response.status_code == 403, response.content
        assert "personal key" in response.json()["message"]


def test_keys_need_the_scope_for_the_method(open_case: Call, staff: dict[str, Any]) -> None:
    """A read-only key reads but cannot change; a write-only key cannot read."""
    case = open_case()
    reader = _api(_key(staff["caseworker"], (API_SCOPE_CASES_READ,)))
    assert reader("GET", f"/{case.pk}").status_code == 200
    denied = reader("POST", f"/{case.pk}/claim")
    assert denied.status_code == 403 and "cases:write" in denied.json()["message"]
    writer = _api(_key(staff["caseworker2"], (API_SCOPE_CASES_WRITE,)))
    assert writer("GET", f"/{case.pk}").status_code == 403
    assert writer("POST", f"/{case.pk}/claim").status_code == 200


def test_people_without_a_case_role_do_not_see_the_case(
    open_case: Call, staff: dict[str, Any], keys: dict[str, str]
) -> None:
    """Another agency's caseworker and the service owner get 404 and leave no access record."""
    case = open_case()
    for name in ("outsider", "owner"):
        api = _api(keys[name])
        assert api("GET", f"/{case.pk}").status_code == 404
        assert api("POST", f"/{case.pk}/notes", {"text": "Hello"}).status_code == 404
        assert api("GET", "").json()["cases"] == []
    assert not CaseAccess.objects.filter(case=case).exists()
    assert not CaseEntry.objects.filter(case=case, kind=EntryKind.NOTE).exists()


def test_methods_the_endpoint_does_not_take_get_405(keys: dict[str, str], open_case: Call) -> None:
    """GET on an action and POST on a read are refused with Allow."""
    case = open_case()
    api = _api(keys["caseworker"])
    assert api("GET", f"/{case.pk}/claim").status_code == 405
    response = api("POST", f"/{case.pk}")
    assert response.status_code == 405 and response["Allow"] == "GET"


def test_the_openapi_document_describes_every_case_endpoint(client: Client) -> None:
    """Every case route is in the OpenAPI document with its schemas."""
    document = client.get("/api/v1/openapi.json").json()
    paths = {p for p in document["paths"] if p.startswith("/api/v1/cases")}
    assert paths == {
        "/api/v1/cases",
        "/api/v1/cases/{case_id}",
        *(
            f"/api/v1/cases/{{case_id}}/{action}"
            for action in (
                "claim",
                "assign",
                "release",
                "notes",
                "information-requests",
                "decisions",
                "decisions/review",
            )
        ),
    }
    schemas = document["components"]["schemas"]
    assert {"CaseSummary", "CaseDetail", "CaseQueuePage", "Error"} <= set(schemas)


def test_an_oversized_body_is_refused_unread(open_case: Call, keys: dict[str, str]) -> None:
    """A body over 1 MB gets a clear 400 and changes nothing."""
    case = open_case()
    body = json.dumps({"text": "x" * (1024 * 1024 + 10)})
    response = _api(keys["caseworker"])("POST", f"/{case.pk}/notes", body)
    assert response.status_code in (400, 413), response.content
    assert response.json()["status"] == response.status_code
    assert not CaseEntry.objects.filter(case=case, kind=EntryKind.NOTE).exists()


def test_a_personal_key_reaches_only_the_agency_it_was_made_for(
    open_case: Call, staff: dict[str, Any]
) -> None:
    """Someone with roles in two agencies reaches only the key's agency's cases with it."""
    from civicstack.accounts.constants import Role
    from civicstack.accounts.tests.factories import AgencyFactory, StaffMembershipFactory

    case = open_case()
    person = staff["caseworker"]
    other = AgencyFactory()
    StaffMembershipFactory(user=person, agency=other, role=Role.CASEWORKER)
    _record, secret = api_key_create(
        agency=other,
        name="Other agency tool",
        scopes=[API_SCOPE_CASES_READ, API_SCOPE_CASES_WRITE],
        user=person,
        actor=None,
    )
    api = _api(secret)
    assert api("GET", f"/{case.pk}").status_code == 404
    assert api("POST", f"/{case.pk}/claim", {}).status_code == 404
    assert api("GET", "").json()["cases"] == []
    case.refresh_from_db()
    assert case.assignee_id is None
    _record, own = api_key_create(
        agency=case.agency,
        name="Own agency tool",
        scopes=[API_SCOPE_CASES_READ],
        user=person,
        actor=None,
    )
    assert _api(own)("GET", f"/{case.pk}").status_code == 200
