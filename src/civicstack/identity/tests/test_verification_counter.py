"""Identity checks at a counter: who may record them, the confirmation step, the audit."""

from __future__ import annotations

import datetime as dt
import importlib
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.test import Client
from django.utils import timezone

from civicstack.accounts.constants import Role
from civicstack.accounts.models import StaffMembership
from civicstack.accounts.tests.factories import AgencyFactory, UserFactory, staff_create
from civicstack.core.errors import NotFound, PermissionDenied, ValidationFailed
from civicstack.core.models import AuditEvent
from civicstack.identity import selectors, services
from civicstack.identity.models import IdentityVerification
from civicstack.identity.tests.helpers import WITH_CODE, client_with

pytestmark = pytest.mark.django_db

URL = "/en/back-office/identity-checks"
NEXT_YEAR = timezone.localdate() + dt.timedelta(days=365)


def _data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "document_type": "identity_card",
        "issuing_country": "UTO",
        "document_number": "AB 123 456",
        "document_expires_on": NEXT_YEAR.isoformat(),
        "national_identifier": "740812-1234",
        "seen_document": "yes",
    }
    data.update(changes)
    return data


def _form(email: str, step: str, **changes: str) -> dict[str, str]:
    form = {
        "email": email,
        "step": step,
        "document_type": "identity_card",
        "issuing_country": "uto",
        "document_number": "AB 123 456",
        "document_expires_on-day": str(NEXT_YEAR.day),
        "document_expires_on-month": str(NEXT_YEAR.month),
        "document_expires_on-year": str(NEXT_YEAR.year),
        "national_identifier": "740812-1234",
        "seen_document": "yes",
    }
    if step == "confirm":
        form["confirm"] = "yes"
    form.update(changes)
    return form


def _staff_client(staff: Any) -> Client:
    return client_with(staff, WITH_CODE)


def test_staff_record_a_counter_check_after_confirming() -> None:
    """Find, details, confirm: only the confirmation records, with the staff member's agency."""
    staff = staff_create(role=Role.SUPERVISOR)
    person = UserFactory()
    client = _staff_client(staff)
    assert client.get(URL).status_code == 200
    found = client.post(URL, {"email": person.email.upper(), "step": "find"})
    assert found.status_code == 200
    assert "Record the document you saw" in found.content.decode()
    checked = client.post(URL, _form(person.email, "details"))
    assert checked.status_code == 200
    body = checked.content.decode()
    assert "Check the details before you record them" in body
    assert "AB123456" in body
    assert not IdentityVerification.objects.exists()
    done = client.post(URL, _form(person.email, "confirm"))
    assert done.status_code == 302
    record = IdentityVerification.objects.get()
    assert record.user == person
    assert record.verified_by == staff
    assert record.verifier_role == Role.SUPERVISOR
    assert record.verifier_agency == staff.memberships.get().agency
    assert record.issuing_country == "UTO"
    assert selectors.national_identifier(person) == "7408121234"
    event = AuditEvent.objects.get(action="identity.verification_recorded")
    assert event.actor_id == staff.pk
    assert event.data["method"] == "counter"
    assert event.data["person"] == str(person.pk)
    assert "AB123456" not in str(event.data)


def test_staff_cannot_verify_themselves() -> None:
    """The page and the service both refuse a member of staff checking their own identity."""
    staff = staff_create()
    client = _staff_client(staff)
    response = client.post(URL, _form(staff.email, "confirm"))
    assert response.status_code == 200
    assert "cannot check your own identity" in response.content.decode()
    with pytest.raises(PermissionDenied):
        services.identity_verification_record(
            user=staff, method="counter", data=_data(), actor=staff
        )
    assert not IdentityVerification.objects.exists()


def test_citizens_and_staff_without_an_agency_cannot_record() -> None:
    """Only staff with a role in an agency may check documents."""
    person = UserFactory()
    citizen = UserFactory()
    assert client_with(citizen, WITH_CODE).get(URL).status_code == 403
    with pytest.raises(PermissionDenied):
        services.identity_verification_record(
            user=person, method="counter", data=_data(), actor=citizen
        )
    loner = staff_create()
    StaffMembership.objects.filter(user=loner).delete()
    assert _staff_client(loner).post(URL, _form(person.email, "confirm")).status_code == 403
    with pytest.raises(PermissionDenied):
        services.identity_verification_record(
            user=person, method="counter", data=_data(), actor=loner
        )
    assert not IdentityVerification.objects.exists()


def test_staff_need_their_second_factor_in_this_session() -> None:
    """Without MFA in the session the counter sends staff to the second-factor set-up."""
    staff = staff_create()
    client = client_with(staff, ["pwd"], mfa=False)
    response = client.post(URL, _form(UserFactory().email, "confirm"))
    assert response.status_code == 302
    assert "two-factor" in response["Location"]
    assert not IdentityVerification.objects.exists()


def test_staff_of_several_agencies_choose_one() -> None:
    """With roles in two agencies, the agency must be chosen and must be one of theirs."""
    staff = staff_create(role=Role.CASEWORKER)
    second = AgencyFactory()
    StaffMembership.objects.create(user=staff, agency=second, role=Role.AGENCY_ADMIN)
    person = UserFactory()
    client = _staff_client(staff)
    missing = client.post(URL, _form(person.email, "details"))
    assert missing.status_code == 200
    assert "Select the agency you work for" in missing.content.decode()
    foreign = client.post(URL, _form(person.email, "confirm", agency=str(AgencyFactory().pk)))
    assert foreign.status_code == 200
    assert "Select the agency you work for" in foreign.content.decode()
    assert not IdentityVerification.objects.exists()
    client.post(URL, _form(person.email, "confirm", agency=str(second.pk)))
    record = IdentityVerification.objects.get()
    assert (record.verifier_agency, record.verifier_role) == (second, Role.AGENCY_ADMIN)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"seen_document": ""}, "Confirm you have seen the original document"),
        ({"document_type": "library_card"}, "Select the type of document"),
        ({"issuing_country": "Utopia"}, "3-letter code"),
        ({"document_number": ""}, "Enter the document number"),
        ({"document_expires_on-year": "2001"}, "The document has expired"),
        ({"document_expires_on-month": "13"}, "Enter a real date"),
        ({"national_identifier": "12<34>"}, "personal identification number"),
    ],
)
def test_each_bad_detail_is_shown_and_nothing_is_recorded(
    changes: dict[str, str], message: str
) -> None:
    """Every problem is a form error, at the details and at the confirmation step."""
    staff = staff_create()
    person = UserFactory()
    client = _staff_client(staff)
    for step in ("details", "confirm"):
        response = client.post(URL, _form(person.email, step, **changes))
        assert response.status_code == 200
        assert message in response.content.decode()
    assert not IdentityVerification.objects.exists()


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"step": "find"},
        {"step": "find", "email": "nobody@example.org"},
        {"step": "confirm", "email": "\x00" * 300},
        {"step": "weird", "email": "x"},
        {"step": "details", "email": "é" * 5000},
    ],
)
def test_bad_requests_to_the_counter_are_never_a_500(data: dict[str, str]) -> None:
    """Unknown people, missing and hostile values give the start page or an error."""
    response = _staff_client(staff_create()).post(URL, data)
    assert response.status_code == 200
    assert not IdentityVerification.objects.exists()


def test_an_inactive_person_cannot_be_verified() -> None:
    """A disabled account is not found at the counter."""
    person = UserFactory(is_active=False)
    with pytest.raises(NotFound):
        services.identity_verification_record(
            user=person, method="counter", data=_data(), actor=staff_create()
        )
    response = _staff_client(staff_create()).post(URL, _form(person.email, "find"))
    assert response.status_code == 200
    assert "There is no account with that email address" in response.content.decode()


@pytest.mark.parametrize("digit", ["²", "٣", "１"])
@pytest.mark.parametrize("part", ["day", "month", "year"])
def test_digits_other_than_0_to_9_in_the_expiry_date_are_a_form_error(
    digit: str, part: str
) -> None:
    """A superscript, Arabic-Indic or fullwidth digit in the date is "Enter a real date"."""
    person = UserFactory()
    client = _staff_client(staff_create())
    value = f"20{digit}9" if part == "year" else digit
    for step in ("details", "confirm"):
        response = client.post(
            URL, _form(person.email, step, **{f"document_expires_on-{part}": value})
        )
        assert response.status_code == 200
        assert "Enter a real date" in response.content.decode()
    assert not IdentityVerification.objects.exists()


@pytest.mark.parametrize("role", [Role.CASEWORKER, Role.SUPERVISOR, Role.AGENCY_ADMIN])
def test_staff_who_meet_citizens_may_check_identity(role: str) -> None:
    """Caseworkers, supervisors and agency admins see the link and page, and record."""
    staff = staff_create(role=role)
    client = _staff_client(staff)
    assert f'href="{URL}"' in client.get("/en/back-office/").content.decode()
    assert client.get(URL).status_code == 200
    record = services.identity_verification_record(
        user=UserFactory(), method="counter", data=_data(), actor=staff
    )
    assert record.verifier_role == role


@pytest.mark.parametrize("role", [Role.ANALYST, Role.SERVICE_OWNER, Role.PLATFORM_ADMIN])
def test_other_staff_roles_cannot_check_identity(role: str) -> None:
    """Analysts, service owners and platform admins alone get neither link, page nor record."""
    staff = staff_create(role=role)
    person = UserFactory()
    client = _staff_client(staff)
    home = client.get("/en/back-office/")
    assert home.status_code == 200
    assert f'href="{URL}"' not in home.content.decode()
    assert client.get(URL).status_code == 403
    assert client.post(URL, _form(person.email, "confirm")).status_code == 403
    with pytest.raises(PermissionDenied):
        services.identity_verification_record(
            user=person, method="counter", data=_data(), actor=staff
        )
    assert not IdentityVerification.objects.exists()


def test_a_platform_admin_checks_identity_only_where_they_meet_citizens() -> None:
    """A platform admin who is also a caseworker somewhere records as that caseworker."""
    admin = staff_create(role=Role.PLATFORM_ADMIN, is_superuser=True)
    home_agency = admin.memberships.get().agency
    person = UserFactory()
    with pytest.raises(PermissionDenied):
        services.identity_verification_record(
            user=person, method="counter", data=_data(), actor=admin
        )
    counter_agency = AgencyFactory()
    StaffMembership.objects.create(user=admin, agency=counter_agency, role=Role.CASEWORKER)
    StaffMembership.objects.create(user=admin, agency=home_agency, role=Role.ANALYST)
    with pytest.raises(ValidationFailed):
        services.identity_verification_record(
            user=person, method="counter", data=_data(), actor=admin, agency_id=home_agency.pk
        )
    client = _staff_client(admin)
    details = client.post(URL, _form(person.email, "details"))
    assert details.status_code == 200
    assert home_agency.name_en not in details.content.decode()
    client.post(URL, _form(person.email, "confirm"))
    record = IdentityVerification.objects.get()
    assert (record.verifier_agency, record.verifier_role) == (counter_agency, Role.CASEWORKER)


def _record(person: Any, **changes: Any) -> IdentityVerification:
    return services.identity_verification_record(
        user=person, method="counter", data=_data(**changes), actor=staff_create()
    )


def test_one_national_identifier_cannot_verify_two_people() -> None:
    """An identifier on someone else's current check is refused, whatever the document."""
    first, second = UserFactory(), UserFactory()
    _record(first)
    with pytest.raises(ValidationFailed) as refused:
        _record(second, document_number="ZZ999", national_identifier="7408 12-1234")
    assert list(refused.value.field_errors) == ["national_identifier"]
    assert "someone else" in str(refused.value.field_errors["national_identifier"][0])
    client = _staff_client(staff_create())
    page = client.post(URL, _form(second.email, "confirm", document_number="ZZ999"))
    assert page.status_code == 200
    body = page.content.decode()
    assert "govuk-error-summary" in body
    assert "This personal identification number already confirms someone else" in body
    assert not IdentityVerification.objects.filter(user=second).exists()


def test_a_national_identifier_is_free_again_when_its_check_stops_counting() -> None:
    """Revoked or expired checks do not hold an identifier; revoking erases its hash."""
    first, second, third = UserFactory(), UserFactory(), UserFactory()
    record = _record(first)
    assert record.national_identifier_hash
    services.identity_verification_revoke(verification=record, actor=first)
    record.refresh_from_db()
    assert record.national_identifier_hash == ""
    later = _record(second, document_number="ZZ999")
    IdentityVerification.objects.filter(pk=later.pk).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    assert _record(third, document_number="YY888").user == third


def test_the_same_person_and_other_countries_may_share_an_identifier() -> None:
    """The person checked again keeps their identifier; another country's same number is free."""
    person, foreigner = UserFactory(), UserFactory()
    _record(person)
    _record(person, document_type="passport", document_number="P123")
    _record(foreigner, issuing_country="FRA", document_number="F555")
    assert IdentityVerification.objects.count() == 3


def test_records_without_a_national_identifier_never_clash() -> None:
    """Checks without an identifier keep no hash and do not block each other."""
    first, second = UserFactory(), UserFactory()
    _record(first, national_identifier="")
    record = _record(second, national_identifier="", document_number="ZZ999")
    assert record.national_identifier_hash == ""


def test_the_migration_hashes_identifiers_recorded_before_the_hash() -> None:
    """Current records made before the hash existed get it, so they block a second person."""
    migration = importlib.import_module(
        "civicstack.identity.migrations.0002_verification_national_identifier_hash"
    )
    record = _record(UserFactory())
    expected = record.national_identifier_hash
    IdentityVerification.objects.update(national_identifier_hash="")
    migration.hash_current_identifiers(django_apps, None)
    record.refresh_from_db()
    assert record.national_identifier_hash == expected
    with pytest.raises(ValidationFailed):
        _record(UserFactory(), document_number="ZZ999")
