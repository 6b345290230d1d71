"""Acting for someone: the choice, the re-check on every request, the banner, what the form
runner refuses, and what applications, cases and the audit log record."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client, RequestFactory
from django.utils import timezone

from civicstack.accounts.constants import API_SCOPE_CASES_READ, Role
from civicstack.accounts.services import api_key_create
from civicstack.accounts.tests.factories import UserFactory, staff_create
from civicstack.cases.models import Case
from civicstack.cases.services import case_open_for_application
from civicstack.core.audit import audit_log_verify
from civicstack.core.models import AuditEvent
from civicstack.forms.engine import PageRef
from civicstack.forms.models import Application
from civicstack.forms.services import draft_answers_save, draft_start
from civicstack.identity import selectors, services
from civicstack.identity.constants import ACTING_FOR_SESSION_KEY
from civicstack.identity.models import Mandate
from civicstack.identity.tests.representation_support import (
    body,
    in_days,
    platform_admin,
    service_with_form,
    signed_in,
)

pytestmark = pytest.mark.django_db

ACT_FOR = "/en/identity/representation/act-for/"
START = "/en/identity/representation/act-for/start/"
STOP = "/en/identity/representation/act-for/stop/"


@pytest.fixture
def giver() -> Any:
    return UserFactory(full_name="Gwen Giver", email="gwen@example.org")


@pytest.fixture
def helper() -> Any:
    return UserFactory(full_name="Huw Helper", email="huw@example.org")


def give(giver: Any, helper: Any, **kwargs: Any) -> Mandate:
    options: dict[str, Any] = {"all_services": True, "service_ids": (), "expires_on": in_days(30)}
    options.update(kwargs)
    return services.mandate_give(actor=giver, representative_email=helper.email, **options)


def act_for(client: Any, mandate: Mandate) -> Any:
    return client.post(START, {"kind": "person", "mandate": str(mandate.pk)})


def test_acting_for_is_none_without_a_choice_and_for_anonymous_requests(helper: Any) -> None:
    request = RequestFactory().get("/")
    assert selectors.acting_for(request) is None
    request.user = helper
    request.session = {ACTING_FOR_SESSION_KEY: {"kind": "person", "id": "not-a-uuid"}}  # type: ignore[assignment]
    assert selectors.acting_for(request) is None


def test_the_representative_chooses_whom_to_act_for_and_sees_the_banner(
    giver: Any, helper: Any
) -> None:
    mandate = give(giver, helper)
    client = signed_in(helper)
    page = client.get(ACT_FOR)
    assert page.status_code == 200
    assert "Act for Gwen Giver" in body(page)
    assert "Stop acting for them" not in body(page)
    response = act_for(client, mandate)
    assert response.status_code == 302
    assert client.session[ACTING_FOR_SESSION_KEY] == {"kind": "person", "id": str(mandate.pk)}
    home = client.get("/en/")
    assert "You are acting for Gwen Giver" in body(home)
    assert "Stop acting for them" in body(home)
    # The contract: the selector gives the party, the mandate and its scope.
    request = RequestFactory().get("/")
    request.user = helper
    request.session = client.session
    acting = selectors.acting_for(request)
    assert acting is not None
    assert (acting.kind, acting.party_id, acting.name, acting.mandate_id) == (
        "person",
        str(giver.pk),
        "Gwen Giver",
        str(mandate.pk),
    )
    assert acting.scopes == ("all",)
    assert acting.expires_at == mandate.expires_at
    claim = acting.as_claim()
    assert claim["type"] == "person" and claim["mandate"] == str(mandate.pk)
    assert claim["expires_at"] == int(mandate.expires_at.timestamp())
    # Stopping (a POST) ends it, and the banner goes.
    assert client.get(STOP).status_code == 405
    client.post(STOP)
    assert ACTING_FOR_SESSION_KEY not in client.session
    assert "Stop acting for them" not in body(client.get("/en/"))
    actions = list(
        AuditEvent.objects.filter(action__startswith="identity.acting").values_list(
            "action", "reason"
        )
    )
    assert actions == [("identity.acting_started", ""), ("identity.acting_stopped", "stopped")]


def test_nobody_can_act_under_someone_else_s_mandate(giver: Any, helper: Any) -> None:
    mandate = give(giver, helper)
    intruder = signed_in(UserFactory())
    response = act_for(intruder, mandate)
    assert response.status_code == 302
    assert ACTING_FOR_SESSION_KEY not in intruder.session
    assert not AuditEvent.objects.filter(action="identity.acting_started").exists()


@pytest.mark.parametrize("ending", ["revoke", "expire", "renounce"])
def test_a_mandate_that_ends_stops_working_on_the_next_request(
    giver: Any, helper: Any, ending: str
) -> None:
    """Every request checks the mandate again: once it ends, the choice is dropped with a
    message and the banner goes."""
    mandate = give(giver, helper)
    client = signed_in(helper)
    act_for(client, mandate)
    assert "You are acting for Gwen Giver" in body(client.get("/en/"))
    if ending == "revoke":
        services.mandate_revoke(actor=giver, mandate=mandate)
    elif ending == "renounce":
        services.mandate_renounce(actor=helper, mandate=mandate)
    else:
        Mandate.objects.filter(pk=mandate.pk).update(expires_at=timezone.now())
    page = body(client.get("/en/"))
    assert "Stop acting for them" not in page
    assert "You are no longer acting for someone else" in page
    assert ACTING_FOR_SESSION_KEY not in client.session
    stopped = AuditEvent.objects.get(action="identity.acting_stopped")
    assert stopped.reason == "ended"


def test_a_submission_while_acting_records_both_on_the_application_case_and_audit(
    giver: Any, helper: Any
) -> None:
    """The applicant stays the person who acted; the application, its case and every audit
    event of the request name the party they acted for; the back office shows both."""
    service = service_with_form("apply-test-licence")
    mandate = give(giver, helper)
    client = signed_in(helper)
    act_for(client, mandate)
    draft = draft_start(service=service, user=helper, language="en", actor=helper)
    draft_answers_save(
        draft=draft, step=PageRef("name"), values={"full_name": "Gwen Giver"}, actor=helper
    )
    response = client.post(f"/en/apply/d/{draft.pk}/declaration/")
    assert response.status_code == 302, body(response)
    application = Application.objects.get()
    assert application.applicant == helper
    assert (
        application.represented_kind,
        application.represented_id,
        application.represented_name,
        application.represented_mandate_id,
    ) == ("person", str(giver.pk), "Gwen Giver", str(mandate.pk))
    case_open_for_application(application_id=application.pk)
    case = Case.objects.get()
    assert case.applicant_id == helper.pk
    assert (case.represented_kind, case.represented_id, case.represented_name) == (
        "person",
        str(giver.pk),
        "Gwen Giver",
    )
    assert case.represented_mandate_id == str(mandate.pk)
    submitted = AuditEvent.objects.get(action="forms.application_submitted")
    assert submitted.actor_id == helper.pk
    assert submitted.on_behalf_of == {
        "kind": "person",
        "id": str(giver.pk),
        "mandate": str(mandate.pk),
    }
    # Events of requests made for oneself record nobody.
    given = AuditEvent.objects.get(action="identity.mandate_given")
    assert given.on_behalf_of is None
    assert audit_log_verify().ok
    # Both see it on their dashboards: the representative as theirs, sent on her behalf;
    # the person it was made for, with who sent it.
    mine = body(client.get("/en/applications/"))
    assert application.reference in mine
    assert "On behalf of Gwen Giver" in mine
    hers = body(signed_in(giver).get("/en/applications/"))
    assert "Applications made for you by someone you gave permission to" in hers
    assert application.reference in hers
    assert "Huw Helper" in hers
    stranger = body(signed_in(UserFactory()).get("/en/applications/"))
    assert application.reference not in stranger
    # The caseworker sees who submitted it, for whom.
    caseworker = staff_create(role=Role.CASEWORKER, agency=service.agency)
    page = body(signed_in(caseworker).get(f"/en/back-office/cases/{case.pk}"))
    assert "Submitted by Huw Helper on behalf of Gwen Giver" in page
    # And so does the agency's system, through the case API.
    _key, secret = api_key_create(
        agency=service.agency,
        name="Case tool",
        scopes=[API_SCOPE_CASES_READ],
        user=caseworker,
        actor=None,
    )
    detail = Client().get(
        f"/api/v1/cases/{case.pk}",
        {"purpose": "eligibility-check"},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert detail.status_code == 200, detail.content
    assert detail.json()["applicant"]["on_behalf_of"] == {
        "type": "person",
        "id": str(giver.pk),
        "name": "Gwen Giver",
        "mandate": str(mandate.pk),
    }


def test_changing_who_an_event_was_on_behalf_of_breaks_the_audit_log(
    giver: Any, helper: Any
) -> None:
    """The represented party is part of the hashed event: editing it is detected."""
    mandate = give(giver, helper)
    client = signed_in(helper)
    act_for(client, mandate)
    client.post(STOP)
    stopped = AuditEvent.objects.get(action="identity.acting_stopped")
    assert stopped.on_behalf_of == {
        "kind": "person",
        "id": str(giver.pk),
        "mandate": str(mandate.pk),
    }
    assert audit_log_verify().ok
    AuditEvent.objects.filter(pk=stopped.pk).update(
        on_behalf_of={"kind": "person", "id": str(helper.pk), "mandate": str(mandate.pk)}
    )
    report = audit_log_verify()
    assert not report.ok
    assert any("leaf hash" in problem for problem in report.problems)
    AuditEvent.objects.filter(pk=stopped.pk).update(on_behalf_of=None)
    assert not audit_log_verify().ok


def test_the_form_runner_refuses_services_the_mandate_does_not_cover(
    giver: Any, helper: Any
) -> None:
    covered = service_with_form("apply-covered")
    other = service_with_form("apply-not-covered")
    mandate = give(giver, helper, all_services=False, service_ids=[str(covered.pk)])
    client = signed_in(helper)
    act_for(client, mandate)
    refused = client.get("/en/apply/apply-not-covered/")
    assert refused.status_code == 403
    assert "does not cover this service" in body(refused)
    assert "You are acting for Gwen Giver" in body(refused)
    assert client.post("/en/apply/apply-not-covered/begin/").status_code == 403
    # A draft of another service started earlier cannot be sent for them either.
    draft = draft_start(service=other, user=helper, language="en", actor=helper)
    assert client.post(f"/en/apply/d/{draft.pk}/declaration/").status_code == 403
    assert not Application.objects.exists()
    assert client.get("/en/apply/apply-covered/").status_code == 200
    # Acting for themselves again, the same service is open to them.
    client.post(STOP)
    assert client.get("/en/apply/apply-not-covered/").status_code == 200


def test_acting_for_a_business_records_the_business(helper: Any) -> None:
    admin = platform_admin()
    business = services.business_register(
        actor=admin, name="Acme Widgets Ltd", registration_number="01234567"
    )
    representation = services.business_representation_add(
        actor=admin, business=business, person_email=helper.email, role="employee"
    )
    service = service_with_form("apply-business-licence")
    client = signed_in(helper)
    client.post(START, {"kind": "business", "mandate": str(representation.pk)})
    assert "You are acting for Acme Widgets Ltd" in body(client.get("/en/"))
    draft = draft_start(service=service, user=helper, language="en", actor=helper)
    draft_answers_save(
        draft=draft, step=PageRef("name"), values={"full_name": "Huw Helper"}, actor=helper
    )
    client.post(f"/en/apply/d/{draft.pk}/declaration/")
    application = Application.objects.get()
    assert (application.represented_kind, application.represented_id) == (
        "business",
        str(business.pk),
    )
    assert application.represented_mandate_id == str(representation.pk)
    # Removing the representation in the back office ends the acting at the next request.
    services.business_representation_revoke(actor=admin, representation=representation)
    assert "Stop acting for them" not in body(client.get("/en/"))


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"kind": "person"},
        {"kind": "person", "mandate": "x" * 5000},
        {"kind": "nonsense", "mandate": "00000000-0000-0000-0000-000000000000"},
        {"kind": "business", "mandate": "00000000-0000-0000-0000-000000000000"},
    ],
)
def test_bad_acting_input_is_refused_clearly(helper: Any, data: dict[str, str]) -> None:
    client = signed_in(helper)
    response = client.post(START, data, follow=True)
    assert response.status_code == 200
    assert "You cannot act for them" in body(response)
    assert ACTING_FOR_SESSION_KEY not in client.session


def test_a_tampered_session_value_is_dropped_not_a_500(helper: Any) -> None:
    client = signed_in(helper)
    session = client.session
    session[ACTING_FOR_SESSION_KEY] = ["not", "a", "dict"]
    session.save()
    response = client.get("/en/")
    assert response.status_code == 200
    assert ACTING_FOR_SESSION_KEY not in client.session
