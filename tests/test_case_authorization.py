"""Who may do what to a case: every case endpoint x every kind of person x whose case.

The endpoints come from the URL resolver (back-office routes and case API routes whose path
mentions "cases"), so a new page is in the matrix as soon as it is routed; its permission
must then be written down in ``CAPABILITIES`` or this test fails. Each endpoint is called
with GET and with POST (a small plausible body, so requests reach the permission checks
rather than stopping at validation), as each person, on a case of their own agency and on
a case of another agency. Every request runs in a savepoint that is rolled back, so each
one meets the same case.

A response is an *allow* when it is 2xx, or a redirect that is not to sign-in or the
second-factor pages, or the case (or its service's case settings) changed, or the case was
opened (an access record). For listings (no case in the address) it is an allow only when
the case's reference is in the body. The test fails on any allow not in ``EXPECTED``, and
on any 5xx, and prints the whole matrix.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.db import transaction
from django.db.models import Count
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import translation

from civicstack.accounts.constants import (
    API_SCOPE_APPLICATIONS_SUBMIT,
    API_SCOPE_CASES_READ,
    API_SCOPE_CASES_WRITE,
    MFA_VERIFIED_KEY,
    Role,
)
from civicstack.accounts.services import api_key_create
from civicstack.accounts.tests.factories import AgencyFactory, UserFactory, staff_create
from civicstack.cases import services as case_services
from civicstack.cases.models import (
    AutomationRule,
    Case,
    CaseAccess,
    CaseSettings,
    ProcessVersion,
)
from civicstack.cases.testing import letter_pki, letter_signing
from civicstack.catalogue.tests.factories import ServiceFactory
from civicstack.forms.models import Draft
from civicstack.forms.services import application_submit, draft_start, form_import

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

__all__ = ["letter_pki", "letter_signing"]  # fixtures used by the test below

FORM = """
schema: 1
title: {en: "Apply for a matrix licence", cy: "Gwneud cais am drwydded matrics"}
pages:
  - id: name
    title: {en: "What is your full name?", cy: "Beth yw eich enw llawn?"}
    questions:
      - id: full_name
        type: text
        label: {en: "What is your full name?", cy: "Beth yw eich enw llawn?"}
declaration:
  en: "I confirm that my answers are true."
  cy: "Rwy'n cadarnhau bod fy atebion yn wir."
confirmation:
  en: "We will decide within 20 working days."
  cy: "Byddwn yn penderfynu o fewn 20 diwrnod gwaith."
"""

CASE_ROLES = frozenset({Role.CASEWORKER, Role.SUPERVISOR, Role.AGENCY_ADMIN})
SUPERVISOR_ROLES = frozenset({Role.SUPERVISOR, Role.AGENCY_ADMIN})
SETTINGS_ROLES = frozenset({Role.SERVICE_OWNER, Role.AGENCY_ADMIN})

# What each case endpoint needs: the staff roles (in the case's agency) that may use it.
# Nobody may use any of them on another agency's case.
CAPABILITIES: dict[str, frozenset[str]] = {
    # Back office: the queue, the supervisor's figures, bulk assignment.
    "backoffice:cases": CASE_ROLES,
    "backoffice:supervision": SUPERVISOR_ROLES,
    "backoffice:cases-assign": SUPERVISOR_ROLES,
    # Back office: one case.
    "backoffice:case": CASE_ROLES,
    "backoffice:case-process": CASE_ROLES,
    "backoffice:case-claim": CASE_ROLES,
    "backoffice:case-release": CASE_ROLES,
    # Anyone working cases may take a case themselves; only supervisors give it to others.
    "backoffice:case-assign": CASE_ROLES,
    "backoffice:case-priority": SUPERVISOR_ROLES,
    "backoffice:case-note": CASE_ROLES,
    "backoffice:case-link": CASE_ROLES,
    "backoffice:case-request": CASE_ROLES,
    "backoffice:case-decide": CASE_ROLES,
    "backoffice:case-review": SUPERVISOR_ROLES,
    # Back office: how a service's cases are worked.
    "backoffice:service-cases": SETTINGS_ROLES,
    "backoffice:service-rule-new": SETTINGS_ROLES,
    "backoffice:service-rule": SETTINGS_ROLES,
    "backoffice:service-rule-delete": SETTINGS_ROLES,
    "backoffice:service-process-save": SETTINGS_ROLES,
    "backoffice:service-process-publish": SETTINGS_ROLES,
    "backoffice:service-process-xml": SETTINGS_ROLES,
    # The case API (a personal key acts as its person).
    "api-cases:cases": CASE_ROLES,
    "api-cases:case": CASE_ROLES,
    "api-cases:claim": CASE_ROLES,
    "api-cases:assign": CASE_ROLES,
    "api-cases:release": CASE_ROLES,
    "api-cases:notes": CASE_ROLES,
    "api-cases:information-requests": CASE_ROLES,
    "api-cases:decisions": CASE_ROLES,
    "api-cases:decision-review": SUPERVISOR_ROLES,
}

# The people: none of them has a case role in the other agency. The platform admin holds
# only that role, in an agency of their own; "agency_key" is an agency system's API key
# (no person) with no session.
PEOPLE = (
    "anonymous",
    "citizen",
    "applicant",
    Role.CASEWORKER,
    Role.SUPERVISOR,
    Role.SERVICE_OWNER,
    Role.ANALYST,
    Role.AGENCY_ADMIN,
    "platform_admin",
    "agency_key",
)
OWNERS = ("own", "other")
METHODS = ("GET", "POST")


def expected_allow(route: str, person: str, owner: str) -> bool:
    """Return True when ``person`` may succeed on ``route`` for an ``owner`` case."""
    return owner == "own" and person in CAPABILITIES[route]


EXPECTED = {
    (route, person, owner)
    for route in CAPABILITIES
    for person in PEOPLE
    for owner in OWNERS
    if expected_allow(route, person, owner)
}

_PARAMETER = re.compile(r"<(?:\w+:)?(\w+)>")


@dataclass(frozen=True)
class CaseRoute:
    name: str
    route: str
    parameters: tuple[str, ...]

    @property
    def is_api(self) -> bool:
        return self.name.startswith("api-cases:")

    @property
    def is_listing(self) -> bool:
        """A page about many cases: it names no case or service in its address."""
        return not self.parameters


def case_routes() -> list[CaseRoute]:
    """Return every routed back-office and case API endpoint whose path mentions cases."""
    found: list[CaseRoute] = []

    def walk(patterns: list[Any], namespace: str, prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                inner = namespace
                if pattern.namespace:
                    inner = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
                walk(pattern.url_patterns, inner, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern) and pattern.name and namespace:
                route = prefix + str(pattern.pattern)
                if namespace in ("backoffice", "api-cases") and "cases" in route:
                    found.append(
                        CaseRoute(
                            f"{namespace}:{pattern.name}",
                            route,
                            tuple(_PARAMETER.findall(route)),
                        )
                    )

    walk(get_resolver().url_patterns, "", "")
    return sorted(set(found), key=lambda r: r.name)


@dataclass
class World:
    """Two agencies, each with a service and two open cases, and the people calling."""

    cases: dict[str, Case]
    others: dict[str, Case]
    rules: dict[str, AutomationRule]
    users: dict[str, Any]
    web: dict[str, Client]
    api_headers: dict[str, dict[str, str]]
    sign_in_paths: tuple[str, ...] = field(default_factory=tuple)
    before: dict[str, tuple[Any, int]] = field(default_factory=dict)


def _open_case(service: Any, person: Any) -> Case:
    draft = draft_start(service=service, user=person, language="en", actor=person)
    Draft.objects.filter(pk=draft.pk).update(answers={"full_name": person.full_name})
    draft.refresh_from_db()
    application = application_submit(draft=draft, holder_keys=[], actor=person)
    case = case_services.case_open_for_application(application_id=application.pk)
    assert case is not None
    return case


def _web_client(user: Any, *, mfa: bool) -> Client:
    client = Client(raise_request_exception=False)
    if user is not None:
        client.force_login(user)
        if mfa:
            session = client.session
            session[MFA_VERIFIED_KEY] = True
            session.save()
    return client


def _world() -> World:
    own_agency, other_agency = AgencyFactory(), AgencyFactory()
    applicant = UserFactory(full_name="Rhian Evans")
    services = {}
    for owner, agency in (("own", own_agency), ("other", other_agency)):
        service = ServiceFactory(agency=agency, slug=f"matrix-licence-{owner}")
        form_import(service=service, source=FORM, actor=None)
        services[owner] = service
    cases = {owner: _open_case(services[owner], applicant) for owner in OWNERS}
    others = {owner: _open_case(services[owner], applicant) for owner in OWNERS}
    rules = {
        owner: AutomationRule.objects.create(
            service=services[owner], name="Has a name", conditions=[]
        )
        for owner in OWNERS
    }
    users: dict[str, Any] = {
        "anonymous": None,
        "citizen": UserFactory(),
        "applicant": applicant,
        "platform_admin": staff_create(role=Role.PLATFORM_ADMIN),
        "agency_key": None,
    }
    for role in (
        Role.CASEWORKER,
        Role.SUPERVISOR,
        Role.SERVICE_OWNER,
        Role.ANALYST,
        Role.AGENCY_ADMIN,
    ):
        users[role] = staff_create(role=role, agency=own_agency, full_name=f"Matrix {role}")
    web = {
        person: _web_client(user, mfa=bool(user is not None and user.is_staff))
        for person, user in users.items()
    }
    api_headers: dict[str, dict[str, str]] = {}
    for person, user in users.items():
        if user is not None and user.is_staff:
            _key, secret = api_key_create(
                agency=user.memberships.first().agency,
                name="Matrix",
                scopes=[API_SCOPE_CASES_READ, API_SCOPE_CASES_WRITE],
                user=user,
                actor=None,
            )
            api_headers[person] = {"Authorization": f"Bearer {secret}"}
        else:
            api_headers[person] = {}
    _key, agency_secret = api_key_create(
        agency=own_agency, name="System", scopes=[API_SCOPE_APPLICATIONS_SUBMIT], actor=None
    )
    api_headers["agency_key"] = {"Authorization": f"Bearer {agency_secret}"}
    with translation.override("en"):
        sign_in = (reverse("accounts:sign-in"), reverse("accounts:mfa-setup"))
    before = {
        owner: (_snapshot(case), CaseAccess.objects.filter(case=case).count())
        for owner, case in cases.items()
    }
    return World(cases, others, rules, users, web, api_headers, sign_in, before)


def _url(route: CaseRoute, world: World, owner: str) -> str:
    case = world.cases[owner]
    values: dict[str, Any] = {}
    for name in route.parameters:
        if name == "case_id":
            values[name] = case.pk
        elif name == "slug":
            values[name] = case.service.slug
        elif name == "rule_id":
            values[name] = world.rules[owner].pk
        elif name == "number":
            values[name] = case.process_version.number
        else:
            raise AssertionError(f"{route.name}: no value for the parameter {name!r}")
    with translation.override("en"):
        return reverse(route.name, kwargs=values)


def _form(world: World, person: str, owner: str) -> dict[str, Any]:
    """A small plausible form for every back-office case action (each reads its fields)."""
    case = world.cases[owner]
    user = world.users[person]
    return {
        "version": str(case.version),
        "assignee": str(user.pk) if user is not None else "",
        "cases": [str(case.pk)],
        "priority": "1",
        "text": "Matrix note.",
        "other": world.others[owner].reference,
        "reason": "The same household.",
        "question": "Please send proof of address.",
        "due_days": "5",
        "outcome": "approved",
        "reasons": "Meets every condition of the scheme.",
        "review": "approve",
        "note": "Checked.",
        "target_working_days": "15",
        "nation": "wales",
        "four_eyes": "yes",
        "automation_enabled": "yes",
        "name": "Matrix rule",
        "action": "check",
        "enabled": "yes",
        "row_count": "0",
        "process_xml": case.process_version.xml,
    }


def _json(route: CaseRoute, world: World, person: str, owner: str) -> dict[str, Any]:
    user = world.users[person]
    action = route.name.split(":", 1)[1]
    bodies: dict[str, dict[str, Any]] = {
        "assign": {"assignee_id": str(user.pk) if user is not None else str(world.cases[owner].pk)},
        "notes": {"text": "Matrix note."},
        "information-requests": {"question": "Please send proof of address.", "due_days": 5},
        "decisions": {"outcome": "approved", "reasons": "Meets every condition of the scheme."},
        "decision-review": {"approve": True, "note": "Checked."},
    }
    return bodies.get(action, {})


def _snapshot(case: Case) -> tuple[Any, ...]:
    """Return what an action could change: the case, its records, its service's settings."""
    row = (
        Case.objects.filter(pk=case.pk)
        .annotate(
            n_entries=Count("entries", distinct=True),
            n_decisions=Count("decisions", distinct=True),
            n_requests=Count("information_requests", distinct=True),
            n_links=Count("links", distinct=True),
        )
        .values_list(
            "version",
            "assignee_id",
            "status",
            "priority",
            "closed_at",
            "n_entries",
            "n_decisions",
            "n_requests",
            "n_links",
        )
        .get()
    )
    settings = CaseSettings.objects.filter(service_id=case.service_id).values_list(
        "target_working_days", "nation", "four_eyes", "automation_enabled", "outcomes"
    )
    rules = AutomationRule.objects.filter(service_id=case.service_id).values_list(
        "name", "enabled", "action", "conditions"
    )
    processes = ProcessVersion.objects.filter(service_id=case.service_id).values_list(
        "number", "status"
    )
    return (row, list(settings), list(rules), list(processes))


@dataclass(frozen=True)
class Outcome:
    status: int
    allowed: bool
    changed: bool


def _call(route: CaseRoute, world: World, person: str, owner: str, method: str) -> Outcome:
    case = world.cases[owner]
    url = _url(route, world, owner)
    # Every request is rolled back, so each starts from the state recorded once.
    before, opened_before = world.before[owner]
    with transaction.atomic():
        if route.is_api:
            client = Client(raise_request_exception=False)
            if person in ("citizen", "applicant"):
                client = world.web[person]  # a signed-in session does not open the API
            headers = world.api_headers[person]
            if method == "GET":
                response = client.get(url, headers=headers)
            else:
                response = client.post(
                    url,
                    data=_json(route, world, person, owner),
                    content_type="application/json",
                    headers=headers,
                )
        else:
            client = world.web[person]
            if method == "GET":
                response = client.get(url)
            else:
                response = client.post(url, data=_form(world, person, owner))
        try:
            changed = _snapshot(case) != before
            opened = CaseAccess.objects.filter(case=case).count() != opened_before
        except Exception:  # a broken transaction after a 500: reported as the 500
            changed = opened = False
        transaction.set_rollback(True)
    status = response.status_code
    if route.is_listing:
        success = 200 <= status < 300 and case.reference.encode() in response.content
        if 300 <= status < 400 and method == "POST":
            success = not response["Location"].startswith(world.sign_in_paths)
    elif 300 <= status < 400:
        success = not response["Location"].startswith(world.sign_in_paths)
    else:
        success = 200 <= status < 300
    # A refused action may show the case again (with the error) to someone who may read
    # it; opening the case is an allow only for people who may not read it.
    may_read = expected_allow("backoffice:case", person, owner)
    return Outcome(
        status=status,
        allowed=success or changed or (opened and not may_read),
        changed=changed,
    )


@pytest.fixture
def quiet_request_logs() -> Iterator[None]:
    """Silence Django's per-request warnings: hundreds of refusals are the point here."""
    loggers = [logging.getLogger(name) for name in ("django.request", "django.security")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL + 1)
    yield
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


def _matrix(routes: list[CaseRoute], results: dict[tuple[str, str, str, str], Outcome]) -> str:
    columns = [(person, owner) for person in PEOPLE for owner in OWNERS]
    header = "endpoint".ljust(44) + " ".join(
        f"{person[:9]}/{owner[:2]}".rjust(13) for person, owner in columns
    )
    lines = [
        "Legend: status code; + expected allow that happened; ! UNEXPECTED allow; "
        "c = the case or its service's case settings changed.",
        header,
    ]
    for route in routes:
        for method in METHODS:
            cells = []
            for person, owner in columns:
                outcome = results[(route.name, method, person, owner)]
                mark = ""
                if outcome.allowed:
                    mark = "+" if (route.name, person, owner) in EXPECTED else "!"
                if outcome.changed:
                    mark += "c"
                cells.append(f"{outcome.status}{mark}".rjust(13))
            lines.append(f"{method} {route.name}"[:44].ljust(44) + " ".join(cells))
    return "\n".join(lines)


@pytest.mark.usefixtures("letter_signing", "quiet_request_logs")
def test_nobody_gets_further_with_a_case_than_their_role_allows() -> None:
    """0 unexpected allows over every case endpoint x person x owner x method; no 5xx.

    ASVS V8.2.1, V8.2.2 (function and data-specific access), V8.3.1.
    """
    routes = case_routes()
    unknown = [route.name for route in routes if route.name not in CAPABILITIES]
    assert not unknown, f"Write down who may use these new case endpoints: {unknown}"
    assert {r.name for r in routes} >= {"backoffice:case", "api-cases:case"}
    world = _world()
    results: dict[tuple[str, str, str, str], Outcome] = {}
    for route in routes:
        for method in METHODS:
            for person in PEOPLE:
                for owner in OWNERS:
                    results[(route.name, method, person, owner)] = _call(
                        route, world, person, owner, method
                    )
    unexpected = sorted(
        key
        for key, outcome in results.items()
        if outcome.allowed and (key[0], key[2], key[3]) not in EXPECTED
    )
    errors = sorted(key for key, outcome in results.items() if outcome.status >= 500)
    # The matrix can fail: people who may open the case do open it.
    must_open = [
        (name, "GET", person, "own")
        for name in ("backoffice:case", "api-cases:case")
        for person in sorted(CASE_ROLES)
    ]
    not_opened = [key for key in must_open if not results[key].allowed]
    matrix = _matrix(routes, results)
    print(matrix)  # shown by pytest when the test fails, or with -s
    assert not unexpected and not errors and not not_opened, (
        f"unexpected allows: {unexpected}\nserver errors: {errors}\n"
        f"expected to open the case but did not: {not_opened}\n\n{matrix}"
    )
