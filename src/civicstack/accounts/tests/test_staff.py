"""Staff roles in agencies, and agency isolation."""

from __future__ import annotations

import pytest

from civicstack.accounts import selectors, services
from civicstack.accounts.constants import Role
from civicstack.accounts.models import StaffMembership
from civicstack.accounts.tests.factories import AgencyFactory, UserFactory, staff_create
from civicstack.core.errors import PermissionDenied, ValidationFailed
from civicstack.core.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_agency_admin_grants_and_revokes_roles_in_their_agency() -> None:
    """An agency admin can give and take away roles in their own agency, audited.

    ASVS 8.2.1 (function-level access), 16.3.1 (audit).
    """
    agency = AgencyFactory()
    admin = staff_create(role=Role.AGENCY_ADMIN, agency=agency)
    citizen = UserFactory()
    membership = services.staff_membership_grant(
        user=citizen, agency=agency, role=Role.CASEWORKER, actor=admin
    )
    citizen.refresh_from_db()
    assert citizen.is_staff
    assert membership.role == Role.CASEWORKER
    granted = AuditEvent.objects.get(action="accounts.staff_membership.granted")
    assert granted.data == {"user": str(citizen.pk), "agency": str(agency.pk), "role": "caseworker"}
    assert services.staff_membership_revoke(
        user=citizen, agency=agency, role=Role.CASEWORKER, actor=admin
    )
    citizen.refresh_from_db()
    assert not citizen.is_staff
    assert AuditEvent.objects.filter(action="accounts.staff_membership.revoked").exists()


def test_granting_a_role_twice_changes_nothing() -> None:
    """A second grant of the same role returns the first and records nothing."""
    agency = AgencyFactory()
    admin = staff_create(role=Role.AGENCY_ADMIN, agency=agency)
    person = UserFactory()
    first = services.staff_membership_grant(
        user=person, agency=agency, role=Role.ANALYST, actor=admin
    )
    before = AuditEvent.objects.count()
    second = services.staff_membership_grant(
        user=person, agency=agency, role=Role.ANALYST, actor=admin
    )
    assert first.pk == second.pk
    assert AuditEvent.objects.count() == before


def test_agency_admin_cannot_touch_other_agencies() -> None:
    """Agency admins have no power over another agency's staff. ASVS 8.2.2."""
    mine, theirs = AgencyFactory(), AgencyFactory()
    admin = staff_create(role=Role.AGENCY_ADMIN, agency=mine)
    worker = staff_create(role=Role.CASEWORKER, agency=theirs)
    with pytest.raises(PermissionDenied):
        services.staff_membership_grant(
            user=UserFactory(), agency=theirs, role=Role.CASEWORKER, actor=admin
        )
    with pytest.raises(PermissionDenied):
        services.staff_membership_revoke(
            user=worker, agency=theirs, role=Role.CASEWORKER, actor=admin
        )
    assert StaffMembership.objects.filter(user=worker).exists()


@pytest.mark.parametrize(
    "role", [Role.CASEWORKER, Role.SUPERVISOR, Role.SERVICE_OWNER, Role.ANALYST]
)
def test_non_admin_staff_cannot_grant_roles(role: str) -> None:
    """Only agency and platform admins may grant roles."""
    agency = AgencyFactory()
    actor = staff_create(role=role, agency=agency)
    with pytest.raises(PermissionDenied):
        services.staff_membership_grant(
            user=UserFactory(), agency=agency, role=Role.CASEWORKER, actor=actor
        )


def test_only_platform_admins_make_platform_admins() -> None:
    """An agency admin cannot make anyone a platform admin; a platform admin can."""
    agency = AgencyFactory()
    admin = staff_create(role=Role.AGENCY_ADMIN, agency=agency)
    platform = staff_create(role=Role.PLATFORM_ADMIN)
    person = UserFactory()
    with pytest.raises(PermissionDenied):
        services.staff_membership_grant(
            user=person, agency=agency, role=Role.PLATFORM_ADMIN, actor=admin
        )
    services.staff_membership_grant(
        user=person, agency=agency, role=Role.PLATFORM_ADMIN, actor=platform
    )
    assert selectors.user_is_platform_admin(user=person)


def test_unknown_role_and_disabled_people_are_refused() -> None:
    """Roles must be known values; disabled accounts cannot be given roles."""
    platform = staff_create(role=Role.PLATFORM_ADMIN)
    agency = AgencyFactory()
    with pytest.raises(ValidationFailed):
        services.staff_membership_grant(
            user=UserFactory(), agency=agency, role="overlord", actor=platform
        )
    with pytest.raises(ValidationFailed):
        services.staff_membership_grant(
            user=UserFactory(is_active=False), agency=agency, role=Role.CASEWORKER, actor=platform
        )


def test_anonymous_and_citizens_cannot_grant() -> None:
    """People who are not signed in, and citizens, are refused."""
    from django.contrib.auth.models import AnonymousUser

    agency = AgencyFactory()
    for actor in (AnonymousUser(), UserFactory()):
        with pytest.raises(PermissionDenied):
            services.staff_membership_grant(
                user=UserFactory(), agency=agency, role=Role.CASEWORKER, actor=actor
            )


def test_selectors_keep_agencies_apart() -> None:
    """Staff see their own agency's staff only; platform admins see any agency's."""
    mine, theirs = AgencyFactory(), AgencyFactory()
    me = staff_create(role=Role.CASEWORKER, agency=mine)
    colleague = staff_create(role=Role.SUPERVISOR, agency=mine)
    stranger = staff_create(role=Role.CASEWORKER, agency=theirs)
    platform = staff_create(role=Role.PLATFORM_ADMIN)
    assert {m.user for m in selectors.staff_memberships_for_agency(agency=mine, user=me)} == {
        me,
        colleague,
    }
    assert not selectors.staff_memberships_for_agency(agency=theirs, user=me).exists()
    assert (
        selectors.staff_memberships_for_agency(agency=theirs, user=platform).get().user == stranger
    )
    assert list(selectors.agencies_for_staff(user=me)) == [mine]
    assert not selectors.agencies_for_staff(user=UserFactory()).exists()
    assert selectors.user_may_administer_agency(user=platform, agency=theirs)
    assert not selectors.user_may_administer_agency(user=me, agency=mine)
