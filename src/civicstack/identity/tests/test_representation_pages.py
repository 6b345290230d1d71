"""The representation pages: give and withdraw permission, give it up, give a colleague
access, and the back office's businesses (platform admins only). Bad input never a 500."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from civicstack.accounts.constants import Role
from civicstack.accounts.tests.factories import AgencyFactory, UserFactory, staff_create
from civicstack.core.models import AuditEvent
from civicstack.identity import services
from civicstack.identity.models import Business, BusinessRepresentation, Mandate
from civicstack.identity.tests.representation_support import (
    body,
    in_days,
    platform_admin,
    service_with_form,
    signed_in,
)

pytestmark = pytest.mark.django_db

GIVEN = "/en/identity/representation/given/"
GIVE = "/en/identity/representation/give/"
ACT_FOR = "/en/identity/representation/act-for/"


@pytest.fixture
def giver() -> Any:
    return UserFactory(full_name="Gwen Giver", email="gwen@example.org")


@pytest.fixture
def helper() -> Any:
    return UserFactory(full_name="Huw Helper", email="huw@example.org")


def date_fields(day: Any) -> dict[str, str]:
    return {
        "expires_on-day": str(day.day),
        "expires_on-month": str(day.month),
        "expires_on-year": str(day.year),
    }


def test_the_pages_need_a_signed_in_person() -> None:
    for url in (GIVEN, GIVE, ACT_FOR):
        response = Client().get(url)
        assert response.status_code == 302
        assert "/account/sign-in" in response["Location"]


def test_the_account_page_links_to_both_lists(giver: Any) -> None:
    page = body(signed_in(giver).get("/en/account/"))
    assert "People who can act for you" in page
    assert "People and businesses you can act for" in page


def test_a_citizen_gives_a_mandate_for_chosen_services_and_both_see_it(
    giver: Any, helper: Any
) -> None:
    licence = service_with_form("apply-licence-page")
    client = signed_in(giver)
    form = client.get(GIVE)
    assert form.status_code == 200
    assert licence.title_en in body(form)
    response = client.post(
        GIVE,
        {
            "representative_email": "huw@example.org",
            "scope": "chosen",
            "services": [str(licence.pk)],
            **date_fields(in_days(60)),
        },
    )
    assert response.status_code == 302
    mandate = Mandate.objects.get()
    assert (mandate.giver, mandate.representative, mandate.all_services) == (giver, helper, False)
    listing = body(client.get(GIVEN))
    assert "huw@example.org" in listing
    assert licence.title_en in listing
    assert "Active" in listing
    held = body(signed_in(helper).get(ACT_FOR))
    assert "Gwen Giver" in held
    assert "Act for Gwen Giver" in held
    assert licence.title_en in held


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({}, "representative_email", "Enter an email address"),
        ({"representative_email": "gwen@example.org"}, "representative_email", "yourself"),
        ({"representative_email": "not-an-email"}, "representative_email", "correct format"),
        ({"representative_email": "huw@example.org"}, "expires_on-day", "Enter the date"),
        (
            {
                "representative_email": "huw@example.org",
                "expires_on-day": "31",
                "expires_on-month": "2",
                "expires_on-year": "2027",
            },
            "expires_on-day",
            "real date",
        ),
        (
            {
                "representative_email": "huw@example.org",
                "expires_on-day": "x",
                "expires_on-month": "99999999999999999999",
                "expires_on-year": "-1",
            },
            "expires_on-day",
            "real date",
        ),
        (
            {
                "representative_email": "huw@example.org",
                "scope": "chosen",
                "expires_on-day": "1",
                "expires_on-month": "1",
                "expires_on-year": "2099",
            },
            "expires_on-day",
            "within 3 years",
        ),
        (
            {
                "representative_email": "huw@example.org",
                "scope": "chosen",
                "services": ["nope", "\x00"],
                "expires_on-day": "1",
                "expires_on-month": "1",
                "expires_on-year": "2027",
            },
            "services",
            "Select services from the list",
        ),
    ],
)
def test_bad_input_on_the_give_page_is_a_clear_error_and_stores_nothing(
    giver: Any, helper: Any, data: dict[str, Any], field: str, message: str
) -> None:
    response = signed_in(giver).post(GIVE, data)
    assert response.status_code == 400
    page = body(response)
    assert "There is a problem" in page
    assert f'href="#{field}"' in page
    assert message in page
    assert Mandate.objects.count() == 0


def test_the_giver_withdraws_and_the_representative_gives_up(giver: Any, helper: Any) -> None:
    first = services.mandate_give(
        actor=giver, representative_email=helper.email, all_services=True, expires_on=in_days(9)
    )
    giver_client = signed_in(giver)
    helper_client = signed_in(helper)
    # Each can only reach their own side.
    assert helper_client.get(f"{GIVEN}{first.pk}/withdraw/").status_code == 404
    assert (
        giver_client.get(f"/en/identity/representation/held/{first.pk}/give-up/").status_code == 404
    )
    assert giver_client.get(f"{GIVEN}{first.pk}/withdraw/").status_code == 200
    assert giver_client.post(f"{GIVEN}{first.pk}/withdraw/").status_code == 302
    assert "Withdrawn" in body(giver_client.get(GIVEN))
    second = services.mandate_give(
        actor=giver, representative_email=helper.email, all_services=True, expires_on=in_days(9)
    )
    page = f"/en/identity/representation/held/{second.pk}/give-up/"
    assert helper_client.get(page).status_code == 200
    assert helper_client.post(page).status_code == 302
    assert "Declined by them" in body(giver_client.get(GIVEN))
    # Doing it again is a message, not an error page.
    again = giver_client.post(f"{GIVEN}{first.pk}/withdraw/", follow=True)
    assert again.status_code == 200
    assert "already ended" in body(again)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.revoked_at is not None and second.renounced_at is not None


def test_a_representative_gives_a_colleague_access_from_their_page(helper: Any) -> None:
    admin = platform_admin()
    business = services.business_register(actor=admin, name="Acme", registration_number="0001")
    representation = services.business_representation_add(
        actor=admin,
        business=business,
        person_email=helper.email,
        role="director",
        can_delegate=True,
    )
    colleague = UserFactory(email="cerys@example.org")
    client = signed_in(helper)
    assert "Give a colleague access" in body(client.get(ACT_FOR))
    url = f"/en/identity/representation/businesses/{representation.pk}/colleagues/"
    bad = client.post(url, {"colleague_email": "nobody@example.org", **date_fields(in_days(5))})
    assert bad.status_code == 400
    assert "needs an account" in body(bad)
    ok = client.post(url, {"colleague_email": colleague.email, **date_fields(in_days(5))})
    assert ok.status_code == 302
    assert BusinessRepresentation.objects.filter(
        person=colleague, delegated_from=representation
    ).exists()
    # Someone who may not delegate, or does not hold it, gets nothing.
    assert signed_in(colleague).get(url).status_code == 404
    delegated = BusinessRepresentation.objects.get(person=colleague)
    assert (
        signed_in(colleague)
        .get(f"/en/identity/representation/businesses/{delegated.pk}/colleagues/")
        .status_code
        == 404
    )


# --- The back office ------------------------------------------------------------------------------


def test_a_platform_admin_records_a_business_and_a_representative() -> None:
    admin = platform_admin()
    person = UserFactory(email="dafydd@example.org")
    client = signed_in(admin)
    assert "Businesses and their representatives" in body(client.get("/en/back-office/"))
    assert client.get("/en/back-office/businesses").status_code == 200
    assert client.get("/en/back-office/businesses/new").status_code == 200
    response = client.post(
        "/en/back-office/businesses/new",
        {"name": "Acme Widgets Ltd", "registration_number": "01234567"},
    )
    business = Business.objects.get()
    assert response.status_code == 302
    assert response["Location"].endswith(str(business.pk))
    url = f"/en/back-office/businesses/{business.pk}/representatives/new"
    assert client.get(url).status_code == 200
    response = client.post(
        url,
        {"person_email": person.email, "role": "director", "scope": "all", "can_delegate": "yes"},
    )
    assert response.status_code == 302
    representation = BusinessRepresentation.objects.get()
    assert (representation.person, representation.role, representation.can_delegate) == (
        person,
        "director",
        True,
    )
    assert representation.expires_at is None
    detail = body(client.get(f"/en/back-office/businesses/{business.pk}"))
    assert "dafydd@example.org" in detail
    revoke = f"/en/back-office/businesses/{business.pk}/representatives/{representation.pk}/revoke"
    assert client.post(revoke).status_code == 302
    representation.refresh_from_db()
    assert representation.revoked_at is not None
    assert AuditEvent.objects.filter(action="identity.business_representation_revoked").exists()


def test_staff_who_are_not_platform_admins_and_citizens_are_refused() -> None:
    admin = platform_admin()
    business = services.business_register(actor=admin, name="Acme", registration_number="0001")
    representation = services.business_representation_add(
        actor=admin, business=business, person_email=UserFactory().email, role="employee"
    )
    urls = [
        ("get", "/en/back-office/businesses"),
        ("get", "/en/back-office/businesses/new"),
        ("post", "/en/back-office/businesses/new"),
        ("get", f"/en/back-office/businesses/{business.pk}"),
        ("get", f"/en/back-office/businesses/{business.pk}/representatives/new"),
        (
            "post",
            f"/en/back-office/businesses/{business.pk}/representatives/{representation.pk}/revoke",
        ),
    ]
    agency_admin = staff_create(role=Role.AGENCY_ADMIN, agency=AgencyFactory())
    for client, expected in ((signed_in(agency_admin), 403), (signed_in(UserFactory()), 403)):
        for method, url in urls:
            response = getattr(client, method)(url, {"name": "X", "registration_number": "02"})
            assert response.status_code == expected, (method, url)
    assert Business.objects.count() == 1
    representation.refresh_from_db()
    assert representation.revoked_at is None


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"name": "x" * 500, "registration_number": "1" * 100},
        {"name": "Acme", "registration_number": "01 23", "agency": "not-an-agency"},
        {"name": "\x00", "registration_number": "\x00"},
        {"name": "Acme\x00Ltd", "registration_number": "01234567"},
        {"name": "Acme\x1bLtd", "registration_number": "01234567"},
    ],
)
def test_bad_business_input_is_a_clear_error(data: dict[str, str]) -> None:
    response = signed_in(platform_admin()).post("/en/back-office/businesses/new", data)
    assert response.status_code == 400
    assert "There is a problem" in body(response)
    assert Business.objects.count() == 0


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"person_email": "nobody@example.org", "role": "director"},
        {"person_email": "x", "role": "king"},
        {"person_email": "a@example.org", "role": "director", "scope": "chosen"},
        {
            "person_email": "a@example.org",
            "role": "director",
            "expires_on-day": "40",
            "expires_on-month": "1",
            "expires_on-year": "2027",
        },
    ],
)
def test_bad_representative_input_is_a_clear_error(data: dict[str, str]) -> None:
    admin = platform_admin()
    UserFactory(email="a@example.org")
    business = services.business_register(actor=admin, name="Acme", registration_number="0001")
    response = signed_in(admin).post(
        f"/en/back-office/businesses/{business.pk}/representatives/new", data
    )
    assert response.status_code == 400
    assert "There is a problem" in body(response)
    assert BusinessRepresentation.objects.count() == 0


def test_unknown_ids_are_not_found() -> None:
    client = signed_in(platform_admin())
    assert (
        client.get("/en/back-office/businesses/00000000-0000-0000-0000-000000000000").status_code
        == 404
    )
    assert client.get("/en/back-office/businesses/not-a-uuid").status_code == 404
