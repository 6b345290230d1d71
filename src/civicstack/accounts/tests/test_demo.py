"""Demo people, demo sign-ins and the demo code command."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client, override_settings
from django.urls import reverse

from civicstack.accounts import services, totp
from civicstack.accounts.constants import MFA_VERIFIED_KEY, Role
from civicstack.accounts.models import StaffMembership, TOTPDevice, User
from civicstack.accounts.tests.factories import AgencyFactory, UserFactory, staff_create
from civicstack.core.errors import PermissionDenied
from civicstack.core.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_demo_load_creates_people_for_the_first_agencies_once() -> None:
    """The loader makes a citizen, four staff per first agency and a platform admin; a
    second run creates nothing and records nothing."""
    first, second, _third = (AgencyFactory(slug=s) for s in ("a-first", "b-second", "c-third"))
    report = services.accounts_demo_load()
    assert report.created == 1 + 4 * 2 + 1
    citizen = User.objects.get(email="citizen@example.org")
    assert not citizen.is_staff
    assert citizen.check_password(services.DEMO_PASSWORD)
    caseworker = User.objects.get(email="caseworker@example.org")
    assert StaffMembership.objects.get(user=caseworker).agency == first
    assert StaffMembership.objects.get(user__email="agency-admin-2@example.org").agency == second
    assert caseworker.totp_device.secret == services.DEMO_TOTP_SECRET
    assert caseworker.has_mfa
    platform = User.objects.get(email="platform-admin@example.org")
    assert StaffMembership.objects.filter(user=platform, role=Role.PLATFORM_ADMIN).exists()
    events = AuditEvent.objects.count()
    again = services.accounts_demo_load()
    assert again.created == 0
    assert AuditEvent.objects.count() == events
    assert User.objects.count() == 10


def test_demo_load_is_refused_in_production() -> None:
    """Demo accounts are never created when PRODUCTION is set."""
    with override_settings(PRODUCTION=True), pytest.raises(PermissionDenied):
        services.accounts_demo_load()
    assert not User.objects.exists()
    with override_settings(PRODUCTION=True):
        assert services.demo_sign_ins() == []


def test_demo_sign_ins_list_existing_demo_people() -> None:
    """Demo sign-ins give a description, address and password for each demo person."""
    AgencyFactory(slug="a-first", name_en="First Agency")
    services.accounts_demo_load()
    rows = services.demo_sign_ins()
    assert ("Citizen", "citizen@example.org", services.DEMO_PASSWORD) in rows
    assert ("Caseworker, First Agency", "caseworker@example.org", services.DEMO_PASSWORD) in rows
    assert len(rows) == 6


def test_demo_staff_can_sign_in_with_the_demo_code(client: Client) -> None:
    """A demo caseworker signs in with the password and the code the command prints."""
    AgencyFactory(slug="a-first")
    services.accounts_demo_load()
    client.post(
        reverse("accounts:sign-in"),
        {"email": "caseworker@example.org", "password": services.DEMO_PASSWORD},
    )
    out = StringIO()
    call_command("demo_totp", "caseworker@example.org", stdout=out)
    code = out.getvalue().strip()
    assert len(code) == 6 and code.isdigit()
    response = client.post(reverse("accounts:sign-in-code"), {"code": code})
    assert response.status_code == 302
    assert client.session[MFA_VERIFIED_KEY] is True


def test_demo_totp_refuses_other_accounts_and_production() -> None:
    """The command only prints codes for demo staff, and never in production."""
    AgencyFactory(slug="a-first")
    services.accounts_demo_load()
    real = staff_create()
    TOTPDevice.objects.filter(user=real).update(secret=services.DEMO_TOTP_SECRET)
    with pytest.raises(CommandError):
        call_command("demo_totp", real.email, stdout=StringIO())
    with pytest.raises(CommandError):
        call_command("demo_totp", "citizen@example.org", stdout=StringIO())
    with override_settings(PRODUCTION=True), pytest.raises(CommandError):
        call_command("demo_totp", "caseworker@example.org", stdout=StringIO())
    # A demo address whose app was re-enrolled with a real secret is not a demo account.
    device = TOTPDevice.objects.get(user__email="supervisor@example.org")
    device.secret = totp.totp_secret_new()
    device.save()
    with pytest.raises(CommandError):
        call_command("demo_totp", "supervisor@example.org", stdout=StringIO())


def test_demo_load_leaves_an_existing_person_alone() -> None:
    """If a demo address is already taken its password is not reset."""
    UserFactory(email="citizen@example.org")
    services.accounts_demo_load()
    assert not User.objects.get(email="citizen@example.org").check_password(services.DEMO_PASSWORD)
