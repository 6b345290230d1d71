"""Businesses, their representatives and mandates between people: the rules of the services."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from civicstack.accounts.tests.factories import UserFactory
from civicstack.core.audit import audit_log_verify
from civicstack.core.errors import Conflict, PermissionDenied, ValidationFailed
from civicstack.core.models import AuditEvent
from civicstack.identity import selectors, services
from civicstack.identity.models import Business, BusinessRepresentation, Mandate
from civicstack.identity.tests.representation_support import (
    in_days,
    platform_admin,
    service_with_form,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def giver() -> Any:
    return UserFactory(full_name="Gwen Giver", email="gwen@example.org")


@pytest.fixture
def helper() -> Any:
    return UserFactory(full_name="Huw Helper", email="huw@example.org")


def give(giver: Any, email: str, **kwargs: Any) -> Mandate:
    options: dict[str, Any] = {"all_services": True, "service_ids": (), "expires_on": in_days(30)}
    options.update(kwargs)
    return services.mandate_give(actor=giver, representative_email=email, **options)


# --- Mandates between people --------------------------------------------------------------------


def test_a_mandate_to_a_known_person_is_theirs_at_once_and_audited(
    giver: Any, helper: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """Giving a mandate links the person with that confirmed address, audits it and emails them."""
    mail.outbox = []
    with django_capture_on_commit_callbacks(execute=True):
        mandate = give(giver, "HUW@example.org")
    assert mandate.representative == helper
    assert mandate.is_valid_at(timezone.now())
    assert [a.name for a in selectors.acting_choices(user=helper)] == ["Gwen Giver"]
    event = AuditEvent.objects.get(action="identity.mandate_given")
    assert event.object_id == str(mandate.pk)
    assert event.actor_id == giver.pk
    assert event.data["waiting_for_account"] is False
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["HUW@example.org"]
    assert "Gwen Giver gave you permission to act for them" in mail.outbox[0].subject


def test_a_mandate_to_an_unknown_address_waits_for_an_account_with_it_confirmed(
    giver: Any,
) -> None:
    """Nobody has the address yet: the mandate waits, and works once the confirmed owner
    appears; an unconfirmed account with the address gets nothing."""
    mandate = give(giver, "newcomer@example.org")
    assert mandate.representative is None
    unconfirmed = UserFactory(email="newcomer@example.org", email_verified_at=None)
    assert selectors.acting_choices(user=unconfirmed) == []
    assert (
        selectors.acting_for_resolve(user=unconfirmed, kind="person", mandate_id=mandate.pk) is None
    )
    unconfirmed.email_verified_at = timezone.now()
    unconfirmed.save()
    choices = selectors.acting_choices(user=unconfirmed)
    assert [c.mandate_id for c in choices] == [str(mandate.pk)]


def test_a_second_mandate_to_the_same_person_is_refused_while_the_first_holds(
    giver: Any, helper: Any
) -> None:
    """One mandate per pair at a time (so the representative never sees the giver twice);
    once it ends, a new one may be given."""
    first = give(giver, helper.email)
    with pytest.raises(ValidationFailed) as caught:
        give(giver, "Huw@Example.org", expires_on=in_days(5))
    assert "already given this person permission" in str(
        caught.value.field_errors["representative_email"][0]
    )
    services.mandate_revoke(actor=giver, mandate=first)
    give(giver, helper.email)
    assert Mandate.objects.count() == 2
    # Someone else may give the same person a mandate of their own.
    give(UserFactory(), helper.email)
    assert len(selectors.acting_choices(user=helper)) == 2


def test_you_cannot_give_yourself_a_mandate(giver: Any) -> None:
    """A mandate to one's own address (in any case) is refused and nothing is stored."""
    with pytest.raises(ValidationFailed) as caught:
        give(giver, "Gwen@Example.org")
    assert "representative_email" in caught.value.field_errors
    assert Mandate.objects.count() == 0


@pytest.mark.parametrize(
    ("expires_on", "message"),
    [
        (None, "Enter the date the permission ends"),
        ("2030-01-01", "Enter the date the permission ends"),
        (-1, "must be today or in the future"),
        (3 * 366 + 2, "within 3 years"),
    ],
)
def test_the_expiry_date_is_required_not_past_and_within_three_years(
    giver: Any, helper: Any, expires_on: Any, message: str
) -> None:
    """Every bad expiry is a field error and stores nothing."""
    value = in_days(expires_on) if isinstance(expires_on, int) else expires_on
    with pytest.raises(ValidationFailed) as caught:
        give(giver, helper.email, expires_on=value)
    assert message in str(caught.value.field_errors["expires_on"][0])
    assert Mandate.objects.count() == 0


@pytest.mark.parametrize("email", ["", "not-an-email", "a@" + "b" * 260 + ".org"])
def test_a_bad_email_address_is_a_field_error(giver: Any, email: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        give(giver, email)
    assert "representative_email" in caught.value.field_errors
    assert Mandate.objects.count() == 0


def test_a_mandate_ends_on_the_last_moment_of_its_expiry_day(giver: Any, helper: Any) -> None:
    """Expiry today still works today; once the day is over it no longer does."""
    mandate = give(giver, helper.email, expires_on=in_days(0))
    now = timezone.now()
    assert mandate.is_valid_at(now)
    assert timezone.localdate(mandate.expires_at - timedelta(microseconds=1)) == in_days(0)
    assert not mandate.is_valid_at(mandate.expires_at)
    assert Mandate.objects.valid_at(mandate.expires_at).count() == 0
    assert Mandate.objects.valid_at(now).count() == 1


def test_the_scope_is_all_services_or_chosen_published_services(giver: Any, helper: Any) -> None:
    """Chosen services must exist in the catalogue, and at least one must be chosen."""
    licence = service_with_form("apply-licence-scope")
    with pytest.raises(ValidationFailed) as none_chosen:
        give(giver, helper.email, all_services=False, service_ids=[])
    assert "services" in none_chosen.value.field_errors
    with pytest.raises(ValidationFailed):
        give(giver, helper.email, all_services=False, service_ids=["not-a-uuid"])
    with pytest.raises(ValidationFailed):
        give(giver, helper.email, all_services=False, service_ids=[str(licence.agency_id)])
    mandate = give(giver, helper.email, all_services=False, service_ids=[str(licence.pk)])
    acting = selectors.acting_choices(user=helper)[0]
    assert acting.scopes == (str(licence.pk),)
    assert acting.covers_service(str(licence.pk))
    assert not acting.covers_service(str(licence.agency_id))
    assert mandate.service_ids == [str(licence.pk)]


def test_the_giver_revokes_at_any_time_and_only_the_giver(
    giver: Any, helper: Any, django_capture_on_commit_callbacks: Any
) -> None:
    mandate = give(giver, helper.email)
    with pytest.raises(PermissionDenied):
        services.mandate_revoke(actor=helper, mandate=mandate)
    mail.outbox = []
    with django_capture_on_commit_callbacks(execute=True):
        services.mandate_revoke(actor=giver, mandate=mandate)
    mandate.refresh_from_db()
    assert mandate.revoked_at is not None
    assert mandate.status == "revoked"
    assert selectors.acting_choices(user=helper) == []
    assert [m.to for m in mail.outbox] == [["huw@example.org"]]
    assert "withdrew your permission" in mail.outbox[0].subject
    with pytest.raises(Conflict):
        services.mandate_revoke(actor=giver, mandate=mandate)
    assert AuditEvent.objects.filter(action="identity.mandate_revoked").count() == 1


def test_the_representative_declines_and_nobody_else_can(giver: Any, helper: Any) -> None:
    mandate = give(giver, helper.email)
    stranger = UserFactory()
    with pytest.raises(PermissionDenied):
        services.mandate_renounce(actor=stranger, mandate=mandate)
    services.mandate_renounce(actor=helper, mandate=mandate)
    mandate.refresh_from_db()
    assert mandate.status == "renounced"
    assert selectors.acting_choices(user=helper) == []
    with pytest.raises(Conflict):
        services.mandate_renounce(actor=helper, mandate=mandate)
    assert AuditEvent.objects.filter(action="identity.mandate_renounced").count() == 1


def test_a_disabled_giver_s_mandate_stops_working(giver: Any, helper: Any) -> None:
    give(giver, helper.email)
    giver.is_active = False
    giver.save()
    assert selectors.acting_choices(user=helper) == []


# --- Businesses ---------------------------------------------------------------------------------


def test_only_platform_admins_record_businesses_and_numbers_are_unique() -> None:
    admin = platform_admin()
    with pytest.raises(PermissionDenied):
        services.business_register(actor=UserFactory(), name="Acme", registration_number="01234567")
    business = services.business_register(
        actor=admin, name="  Acme   Widgets Ltd ", registration_number="sc 123456"
    )
    assert (business.name, business.registration_number) == ("Acme Widgets Ltd", "SC123456")
    with pytest.raises(ValidationFailed) as caught:
        services.business_register(actor=admin, name="Other", registration_number="SC123456")
    assert "registration_number" in caught.value.field_errors
    with pytest.raises(ValidationFailed) as bad:
        services.business_register(actor=admin, name="", registration_number="!!")
    assert set(bad.value.field_errors) == {"name", "registration_number"}
    assert Business.objects.count() == 1
    assert AuditEvent.objects.filter(action="identity.business_registered").count() == 1


def _business_with_director(*, can_delegate: bool, expires_on: Any = None) -> tuple[Any, Any, Any]:
    admin = platform_admin()
    business = services.business_register(
        actor=admin, name="Acme Widgets Ltd", registration_number="01234567"
    )
    director = UserFactory(full_name="Dafydd Director")
    representation = services.business_representation_add(
        actor=admin,
        business=business,
        person_email=director.email,
        role="director",
        can_delegate=can_delegate,
        expires_on=expires_on,
    )
    return admin, director, representation


def test_an_admin_records_a_representative_who_can_then_act_for_the_business(
    django_capture_on_commit_callbacks: Any,
) -> None:
    mail.outbox = []
    with django_capture_on_commit_callbacks(execute=True):
        admin, director, representation = _business_with_director(can_delegate=False)
    assert [m.to for m in mail.outbox] == [[director.email]]
    assert "You can now act for Acme Widgets Ltd" in mail.outbox[0].subject
    assert "/identity/representation/act-for/" in mail.outbox[0].body
    choices = selectors.acting_choices(user=director)
    assert [(c.kind, c.name, c.mandate_id) for c in choices] == [
        ("business", "Acme Widgets Ltd", str(representation.pk))
    ]
    assert choices[0].expires_at is None
    with pytest.raises(ValidationFailed) as unknown:
        services.business_representation_add(
            actor=admin,
            business=representation.business,
            person_email="nobody@example.org",
            role="director",
        )
    assert "person_email" in unknown.value.field_errors
    with pytest.raises(ValidationFailed) as bad_role:
        services.business_representation_add(
            actor=admin, business=representation.business, person_email=director.email, role="ceo"
        )
    assert "role" in bad_role.value.field_errors
    with pytest.raises(PermissionDenied):
        services.business_representation_add(
            actor=director,
            business=representation.business,
            person_email=director.email,
            role="director",
        )


def test_a_representative_who_may_delegate_gives_a_colleague_access_within_their_own() -> None:
    """The colleague's access is no wider and no longer than the giver's, cannot be passed on,
    and ends when the giver's ends."""
    admin, director, representation = _business_with_director(
        can_delegate=True, expires_on=in_days(100)
    )
    colleague = UserFactory(full_name="Cerys Colleague")
    with pytest.raises(ValidationFailed) as too_long:
        services.business_representation_delegate(
            actor=director,
            representation=representation,
            colleague_email=colleague.email,
            all_services=True,
            service_ids=[],
            expires_on=in_days(101),
        )
    assert "expires_on" in too_long.value.field_errors
    with pytest.raises(ValidationFailed):
        services.business_representation_delegate(
            actor=director,
            representation=representation,
            colleague_email=director.email,
            all_services=True,
            service_ids=[],
            expires_on=in_days(10),
        )
    delegated = services.business_representation_delegate(
        actor=director,
        representation=representation,
        colleague_email=colleague.email,
        all_services=True,
        service_ids=[],
        expires_on=in_days(10),
    )
    assert delegated.delegated_from == representation
    assert not delegated.can_delegate
    assert [c.name for c in selectors.acting_choices(user=colleague)] == ["Acme Widgets Ltd"]
    # The colleague cannot pass it on.
    with pytest.raises(PermissionDenied):
        services.business_representation_delegate(
            actor=colleague,
            representation=delegated,
            colleague_email=UserFactory().email,
            all_services=True,
            service_ids=[],
            expires_on=in_days(5),
        )
    # The director's access ends: the colleague's goes with it.
    services.business_representation_revoke(actor=admin, representation=representation)
    assert selectors.acting_choices(user=colleague) == []
    assert (
        selectors.acting_for_resolve(user=colleague, kind="business", mandate_id=delegated.pk)
        is None
    )
    assert BusinessRepresentation.objects.valid_at(timezone.now()).count() == 0


def test_a_representative_without_delegation_cannot_give_access() -> None:
    _admin, director, representation = _business_with_director(can_delegate=False)
    with pytest.raises(PermissionDenied):
        services.business_representation_delegate(
            actor=director,
            representation=representation,
            colleague_email=UserFactory().email,
            all_services=True,
            service_ids=[],
            expires_on=in_days(10),
        )
    assert BusinessRepresentation.objects.count() == 1


def test_a_delegator_limited_to_some_services_cannot_give_more() -> None:
    admin = platform_admin()
    licence = service_with_form("apply-licence-deleg")
    other = service_with_form("apply-other-deleg")
    business = services.business_register(actor=admin, name="Acme", registration_number="0001")
    director = UserFactory()
    representation = services.business_representation_add(
        actor=admin,
        business=business,
        person_email=director.email,
        role="director",
        all_services=False,
        service_ids=[str(licence.pk)],
        can_delegate=True,
    )
    colleague = UserFactory()
    for all_services, chosen in ((True, []), (False, [str(other.pk)])):
        with pytest.raises(ValidationFailed) as caught:
            services.business_representation_delegate(
                actor=director,
                representation=representation,
                colleague_email=colleague.email,
                all_services=all_services,
                service_ids=chosen,
                expires_on=in_days(10),
            )
        assert "services" in caught.value.field_errors
    services.business_representation_delegate(
        actor=director,
        representation=representation,
        colleague_email=colleague.email,
        all_services=False,
        service_ids=[str(licence.pk)],
        expires_on=in_days(10),
    )
    assert selectors.acting_choices(user=colleague)[0].scopes == (str(licence.pk),)


def test_every_representation_change_is_in_an_intact_audit_log(giver: Any, helper: Any) -> None:
    mandate = give(giver, helper.email)
    services.mandate_revoke(actor=giver, mandate=mandate)
    _business_with_director(can_delegate=True)
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {
        "identity.mandate_given",
        "identity.mandate_revoked",
        "identity.business_registered",
        "identity.business_representation_added",
    } <= actions
    assert audit_log_verify().ok
