"""Identity verification: the MRZ checks, the methods, records, revocation and pages."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from civicstack.accounts.constants import Role
from civicstack.accounts.tests.factories import UserFactory, staff_create
from civicstack.core.errors import NotFound, PermissionDenied, ValidationFailed
from civicstack.core.models import AuditEvent
from civicstack.identity import selectors, services
from civicstack.identity.models import IdentityVerification
from civicstack.identity.tests.helpers import client_with, standin_data, standin_form, td3
from civicstack.identity.verification import (
    document_number_hash,
    expires_at_for,
    mrz_check_digit,
    mrz_parse,
    verification_methods,
)

IN_FIVE_YEARS = timezone.localdate() + dt.timedelta(days=5 * 365 + 30)
NEXT_YEAR = timezone.localdate() + dt.timedelta(days=365)
ICAO_SPECIMEN = (
    "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
    "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
)


def _counter_data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "document_type": "passport",
        "issuing_country": "UTO",
        "document_number": "L898902C3",
        "document_expires_on": NEXT_YEAR.isoformat(),
        "national_identifier": "19740812-1234",
        "seen_document": "yes",
    }
    data.update(changes)
    return data


# --- ICAO 9303 check digits ----------------------------------------------------------------


def test_check_digits_of_the_icao_specimen() -> None:
    """The check digit algorithm gives the digits printed on ICAO 9303's specimen passport."""
    line_2 = ICAO_SPECIMEN[1]
    assert mrz_check_digit("L898902C3") == "6"
    assert mrz_check_digit("740812") == "2"
    assert mrz_check_digit("120415") == "9"
    assert mrz_check_digit("ZE184226B<<<<<") == "1"
    assert mrz_check_digit(line_2[0:10] + line_2[13:20] + line_2[21:43]) == "0"
    zone = mrz_parse(*ICAO_SPECIMEN)
    assert (zone.document_code, zone.issuing_country, zone.document_number) == (
        "P",
        "UTO",
        "L898902C3",
    )
    assert (zone.date_of_birth, zone.expiry, zone.personal_number) == (
        "740812",
        "120415",
        "ZE184226B<<<<<",
    )


@pytest.mark.parametrize(
    ("position", "message"),
    [
        (9, "document number"),
        (19, "date of birth"),
        (27, "expiry date"),
        (42, "personal number"),
        (43, "composite"),
    ],
)
def test_each_wrong_check_digit_is_named(position: int, message: str) -> None:
    """Changing any one check digit of line 2 is refused with an error naming that digit."""
    line_2 = ICAO_SPECIMEN[1]
    wrong = str((int(line_2[position]) + 1) % 10)
    broken = line_2[:position] + wrong + line_2[position + 1 :]
    with pytest.raises(ValidationFailed) as caught:
        mrz_parse(ICAO_SPECIMEN[0], broken)
    messages = [str(m) for m in caught.value.field_errors["mrz_line_2"]]
    assert any(message in text for text in messages), messages


def test_a_changed_document_number_breaks_its_check_digit_and_the_composite() -> None:
    """A typo in the number is caught twice: its own digit and the composite."""
    line_2 = "L898902C4" + ICAO_SPECIMEN[1][9:]
    with pytest.raises(ValidationFailed) as caught:
        mrz_parse(ICAO_SPECIMEN[0], line_2)
    assert len(caught.value.field_errors["mrz_line_2"]) == 2


@pytest.mark.parametrize(
    "line_2",
    ["", "too short", ICAO_SPECIMEN[1] + "<", ICAO_SPECIMEN[1][:-1] + "é", "x" * 10_000],
)
def test_malformed_mrz_lines_are_refused_clearly(line_2: str) -> None:
    """Lines that are not 44 MRZ characters get a format error, never an exception."""
    with pytest.raises(ValidationFailed) as caught:
        mrz_parse(ICAO_SPECIMEN[0], line_2)
    assert "mrz_line_2" in caught.value.field_errors


# --- The document check stand-in ------------------------------------------------------------


def test_the_standin_accepts_a_matching_document() -> None:
    """Typed details that agree with a valid MRZ give the evidence, with the personal number."""
    evidence = verification_methods.get("document_check_standin").check(
        standin_data(expires=NEXT_YEAR)
    )
    assert evidence.document_number == "L898902C3"
    assert evidence.issuing_country == "UTO"
    assert evidence.document_expires_on == NEXT_YEAR
    assert evidence.national_identifier == "ZE184226B"


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"document_type": "identity_card"}, "different type of document"),
        ({"issuing_country": "FRA"}, "issuing country"),
        ({"document_number": "L898902C4"}, "document number"),
        ({"date_of_birth": "1974-08-13"}, "date of birth"),
        ({"document_expires_on": "2099-01-01"}, "expiry date"),
    ],
)
def test_each_mismatch_between_typed_fields_and_the_mrz_is_named(
    changes: dict[str, str], fragment: str
) -> None:
    """A typed field that differs from the MRZ is refused with an error naming that field."""
    with pytest.raises(ValidationFailed) as caught:
        verification_methods.get("document_check_standin").check(
            standin_data(expires=NEXT_YEAR, **changes)
        )
    messages = [str(m) for m in caught.value.field_errors["mrz_line_2"]]
    assert len(messages) == 1
    assert fragment in messages[0]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"document_type": "visa"}, "document_type"),
        ({"issuing_country": "U1"}, "issuing_country"),
        ({"document_number": ""}, "document_number"),
        ({"document_number": "ABC$123"}, "document_number"),
        ({"document_number": "ABCDEFGHIJ"}, "document_number"),
        ({"date_of_birth": "invalid"}, "date_of_birth"),
        ({"date_of_birth": "1974-02-31"}, "date_of_birth"),
        ({"date_of_birth": "2999-01-01"}, "date_of_birth"),
        ({"document_expires_on": ""}, "document_expires_on"),
        ({"document_expires_on": "2001-01-01"}, "document_expires_on"),
        ({"mrz_line_1": ""}, "mrz_line_1"),
        ({"document_type": ["passport"]}, "document_type"),
    ],
)
def test_bad_typed_fields_are_refused_by_name(changes: dict[str, Any], field: str) -> None:
    """Each missing or impossible field gets its own error."""
    with pytest.raises(ValidationFailed) as caught:
        verification_methods.get("document_check_standin").check(
            standin_data(expires=NEXT_YEAR, **changes)
        )
    assert field in caught.value.field_errors


@pytest.mark.django_db
def test_the_standin_records_an_automated_verification() -> None:
    """The person's own check is recorded with no verifier, a hash and the encrypted number."""
    person = UserFactory()
    record = services.identity_verification_record(
        user=person,
        method="document_check_standin",
        data=standin_data(expires=NEXT_YEAR),
        actor=person,
    )
    record.refresh_from_db()
    assert record.verified_by is None
    assert record.method == "document_check_standin"
    assert record.level == "high"
    assert record.document_number_hash == document_number_hash(
        document_type="passport", issuing_country="UTO", number="L898902C3"
    )
    blob = bytes(record.national_identifier_encrypted or b"")
    assert b"ZE184226B" not in blob
    assert "L898902C3" not in str(
        IdentityVerification.objects.filter(pk=record.pk).values().first()
    )
    assert selectors.national_identifier(person) == "ZE184226B"
    assert selectors.identity_verified(person)
    event = AuditEvent.objects.get(action="identity.verification_recorded")
    assert event.object_id == str(record.pk)
    assert event.data["method"] == "document_check_standin"
    assert "L898902C3" not in str(event.data)


@pytest.mark.django_db
def test_the_standin_is_refused_in_production(settings: Any) -> None:
    """With PRODUCTION set the stand-in records nothing, and its page is not there."""
    settings.PRODUCTION = True
    person = UserFactory()
    with pytest.raises(PermissionDenied):
        services.identity_verification_record(
            user=person,
            method="document_check_standin",
            data=standin_data(expires=NEXT_YEAR),
            actor=person,
        )
    client = client_with(person)
    assert client.get("/en/identity/verification/document-check").status_code == 404
    response = client.post(
        "/en/identity/verification/document-check", standin_form(expires=NEXT_YEAR)
    )
    assert response.status_code == 404
    page = client.get("/en/identity/verification")
    assert b"Check a document now" not in page.content
    assert b"In person at a counter" in page.content
    assert not IdentityVerification.objects.exists()


@pytest.mark.django_db
def test_nobody_can_use_the_standin_for_someone_else() -> None:
    """The stand-in verifies only the person using it."""
    with pytest.raises(PermissionDenied):
        services.identity_verification_record(
            user=UserFactory(),
            method="document_check_standin",
            data=standin_data(expires=NEXT_YEAR),
            actor=UserFactory(),
        )


@pytest.mark.django_db
def test_an_unknown_method_is_not_found() -> None:
    """Only registered methods can record anything."""
    person = UserFactory()
    with pytest.raises(NotFound):
        services.identity_verification_record(
            user=person, method="telepathy", data={}, actor=person
        )


@pytest.mark.django_db
def test_one_document_cannot_verify_two_people() -> None:
    """A document behind someone's current verification is refused for another account."""
    first, second = UserFactory(), UserFactory()
    for person in (first, second):
        try:
            services.identity_verification_record(
                user=person,
                method="document_check_standin",
                data=standin_data(expires=NEXT_YEAR),
                actor=person,
            )
        except ValidationFailed as error:
            assert person == second
            assert "someone else" in str(error.field_errors["document_number"][0])
    assert IdentityVerification.objects.filter(user=second).count() == 0


def test_a_verification_lasts_until_the_document_expires_or_five_years() -> None:
    """The record expires with the document, and never more than five years on."""
    now = dt.datetime(2026, 1, 10, 12, tzinfo=dt.UTC)
    soon = expires_at_for(verified_at=now, document_expires_on=dt.date(2027, 3, 1))
    assert soon == dt.datetime(2027, 3, 2, tzinfo=dt.UTC)
    late = expires_at_for(verified_at=now, document_expires_on=dt.date(2040, 1, 1))
    assert late == dt.datetime(2031, 1, 10, 12, tzinfo=dt.UTC)
    leap = dt.datetime(2028, 2, 29, tzinfo=dt.UTC)
    assert expires_at_for(verified_at=leap, document_expires_on=dt.date(2040, 1, 1)).year == 2033


# --- The citizen's pages ----------------------------------------------------------------------


@pytest.mark.django_db
def test_the_document_check_page_records_and_returns_to_next() -> None:
    """A valid form records the check and goes back to the local page it came from."""
    person = UserFactory()
    client = client_with(person)
    page = client.get("/en/identity/verification/document-check?next=/en/apply/x/")
    assert page.status_code == 200
    response = client.post(
        "/en/identity/verification/document-check",
        {**standin_form(expires=NEXT_YEAR), "next": "/en/apply/x/"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/en/apply/x/"
    assert selectors.identity_verified(person)


@pytest.mark.django_db
def test_the_document_check_page_shows_each_error_and_ignores_a_foreign_next() -> None:
    """Mismatches are listed in the error summary; a next on another site is dropped."""
    person = UserFactory()
    client = client_with(person)
    response = client.post(
        "/en/identity/verification/document-check",
        {
            **standin_form(expires=NEXT_YEAR, issuing_country="FRA", document_number="X1"),
            "next": "https://evil.example/",
        },
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "govuk-error-summary" in body
    assert "issuing country in the machine-readable zone" in body
    assert "document number in the machine-readable zone" in body
    assert "evil.example" not in body
    assert not IdentityVerification.objects.exists()
    ok = client.post(
        "/en/identity/verification/document-check",
        {**standin_form(expires=NEXT_YEAR), "next": "https://evil.example/"},
    )
    assert ok["Location"] == "/en/identity/verification"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "data",
    [
        {},
        {"document_type": "\x00", "mrz_line_1": "\x00" * 50},
        {"date_of_birth-day": "99", "date_of_birth-month": "x", "date_of_birth-year": "1"},
        {
            "document_expires_on-day": "1",
            "document_expires_on-month": "1",
            "document_expires_on-year": "0000",
        },
        {"issuing_country": "é" * 300, "document_number": "☃" * 5000},
    ],
)
def test_bad_input_on_the_document_check_page_is_never_a_500(data: dict[str, str]) -> None:
    """Empty, control characters, impossible dates and huge values all get form errors."""
    client = client_with(UserFactory())
    response = client.post("/en/identity/verification/document-check", data)
    assert response.status_code == 200
    assert b"govuk-error-summary" in response.content
    assert not IdentityVerification.objects.exists()


@pytest.mark.django_db
def test_the_verification_page_shows_method_date_and_staff_by_role_not_name() -> None:
    """The person sees how and when, and the checker's role and agency, never their name."""
    staff = staff_create(role=Role.CASEWORKER, full_name="Wendy Counterstaff")
    person = UserFactory()
    services.identity_verification_record(
        user=person, method="counter", data=_counter_data(), actor=staff
    )
    page = client_with(person).get("/en/identity/verification").content.decode()
    assert "In person at a counter" in page
    assert "Caseworker at" in page
    assert staff.memberships.get().agency.name_en in page
    assert "Wendy" not in page
    assert staff.email not in page
    assert "Current" in page


@pytest.mark.django_db
def test_the_person_removes_their_verification() -> None:
    """Removal asks first, then revokes, erases the identifier and is audited."""
    person = UserFactory()
    record = services.identity_verification_record(
        user=person,
        method="document_check_standin",
        data=standin_data(expires=NEXT_YEAR),
        actor=person,
    )
    client = client_with(person)
    url = f"/en/identity/verification/{record.pk}/remove"
    assert client.get(url).status_code == 200
    assert client.post(url).status_code == 302
    record.refresh_from_db()
    assert record.revoked_at is not None
    assert record.revoked_by == person
    assert record.national_identifier_encrypted is None
    assert not selectors.identity_verified(person)
    assert selectors.national_identifier(person) is None
    assert AuditEvent.objects.filter(action="identity.verification_revoked").count() == 1
    assert client.post(url).status_code == 404
    assert "Removed" in client.get("/en/identity/verification").content.decode()


@pytest.mark.django_db
def test_nobody_else_can_remove_a_verification() -> None:
    """Another person's verification is not found for them, and the service refuses them."""
    owner, other = UserFactory(), UserFactory()
    record = services.identity_verification_record(
        user=owner,
        method="document_check_standin",
        data=standin_data(expires=NEXT_YEAR),
        actor=owner,
    )
    response = client_with(other).post(f"/en/identity/verification/{record.pk}/remove")
    assert response.status_code == 404
    with pytest.raises(PermissionDenied):
        services.identity_verification_revoke(verification=record, actor=other)
    record.refresh_from_db()
    assert record.revoked_at is None


@pytest.mark.django_db
def test_expired_verifications_do_not_count() -> None:
    """A verification past its expiry is not current."""
    person = UserFactory()
    record = services.identity_verification_record(
        user=person,
        method="document_check_standin",
        data=standin_data(expires=NEXT_YEAR),
        actor=person,
    )
    IdentityVerification.objects.filter(pk=record.pk).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    assert not selectors.identity_verified(person)
    assert selectors.national_identifier(person) is None


@pytest.mark.django_db
def test_anonymous_people_are_asked_to_sign_in() -> None:
    """The verification pages need a signed-in person."""
    for url in ("/en/identity/verification", "/en/identity/verification/document-check"):
        response = Client().get(url)
        assert response.status_code == 302
        assert "/account/sign-in" in response["Location"]


@pytest.mark.django_db
@pytest.mark.parametrize("digit", ["²", "٣", "１"])
@pytest.mark.parametrize(
    "field",
    [
        "date_of_birth-day",
        "date_of_birth-month",
        "date_of_birth-year",
        "document_expires_on-day",
        "document_expires_on-year",
    ],
)
def test_digits_other_than_0_to_9_in_a_date_are_a_form_error(digit: str, field: str) -> None:
    """A superscript, Arabic-Indic or fullwidth digit in a date is "Enter a real date"."""
    client = client_with(UserFactory())
    value = f"19{digit}4" if field.endswith("year") else digit
    response = client.post(
        "/en/identity/verification/document-check",
        standin_form(expires=NEXT_YEAR, **{field: value}),
    )
    assert response.status_code == 200
    assert "Enter a real date" in response.content.decode()
    assert not IdentityVerification.objects.exists()


@pytest.mark.django_db
def test_one_personal_number_in_the_mrz_cannot_verify_two_people() -> None:
    """A second passport with someone else's personal number is refused at the MRZ line."""
    first, second = UserFactory(), UserFactory()
    services.identity_verification_record(
        user=first,
        method="document_check_standin",
        data=standin_data(expires=NEXT_YEAR),
        actor=first,
    )
    line_1, line_2 = td3(expires=NEXT_YEAR, number="X1234567")
    response = client_with(second).post(
        "/en/identity/verification/document-check",
        standin_form(
            expires=NEXT_YEAR, document_number="X1234567", mrz_line_1=line_1, mrz_line_2=line_2
        ),
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "The personal number in the machine-readable zone already confirms" in body
    assert 'href="#mrz_line_2"' in body
    assert not IdentityVerification.objects.filter(user=second).exists()
