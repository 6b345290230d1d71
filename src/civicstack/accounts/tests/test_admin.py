"""Platform administration of people, agencies and roles."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from civicstack.accounts.constants import Role
from civicstack.accounts.models import RecoveryCode, StaffMembership, TOTPDevice
from civicstack.accounts.tests.conftest import sign_in
from civicstack.accounts.tests.factories import AgencyFactory, UserFactory, staff_create
from civicstack.core.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_platform_admin_sees_people_without_secrets(client: Client) -> None:
    """The admin lists people but never shows password hashes or authenticator keys.

    ASVS 8.2.1, 11.x (secrets not disclosed).
    """
    platform = staff_create(role=Role.PLATFORM_ADMIN)
    target = UserFactory()
    device = TOTPDevice.objects.create(user=target, secret="JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
    RecoveryCode.objects.create(user=target, code_hash="f" * 64)
    sign_in(client, platform)
    listing = client.get(reverse("admin:accounts_user_changelist"))
    assert listing.status_code == 200
    assert target.email in listing.content.decode()
    page = client.get(reverse("admin:accounts_user_change", args=[target.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert target.password not in html
    assert device.secret not in html
    assert "f" * 64 not in html
    assert client.get(reverse("admin:accounts_agency_changelist")).status_code == 200
    assert client.get(reverse("admin:accounts_staffmembership_changelist")).status_code == 200


def test_other_staff_cannot_use_the_admin(client: Client) -> None:
    """An agency admin is not a platform admin and is kept out of the admin site."""
    sign_in(client, staff_create(role=Role.AGENCY_ADMIN))
    response = client.get(reverse("admin:accounts_user_changelist"))
    assert response.status_code == 302


def test_admin_disable_action_goes_through_the_service(client: Client) -> None:
    """Disabling from the admin is audited and ends the person's sessions."""
    platform = staff_create(role=Role.PLATFORM_ADMIN)
    target = UserFactory()
    other = Client()
    sign_in(other, target)
    sign_in(client, platform)
    response = client.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "disable_accounts", "_selected_action": [str(target.pk)]},
    )
    assert response.status_code == 302
    target.refresh_from_db()
    assert not target.is_active
    assert AuditEvent.objects.filter(
        action="accounts.user.disabled", object_id=str(target.pk)
    ).exists()
    assert other.get(reverse("accounts:account")).status_code == 302


def test_admin_adds_and_deletes_roles_through_the_services(client: Client) -> None:
    """Adding and deleting a staff role in the admin is checked and audited."""
    platform = staff_create(role=Role.PLATFORM_ADMIN)
    person = UserFactory()
    agency = AgencyFactory()
    sign_in(client, platform)
    response = client.post(
        reverse("admin:accounts_staffmembership_add"),
        {"user": str(person.pk), "agency": str(agency.pk), "role": Role.SUPERVISOR},
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    membership = StaffMembership.objects.get(user=person)
    person.refresh_from_db()
    assert person.is_staff
    assert AuditEvent.objects.filter(action="accounts.staff_membership.granted").exists()
    response = client.post(
        reverse("admin:accounts_staffmembership_delete", args=[membership.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    assert not StaffMembership.objects.filter(user=person).exists()
    assert AuditEvent.objects.filter(action="accounts.staff_membership.revoked").exists()
