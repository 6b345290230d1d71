"""API keys: made once with a secret shown once, found by it, revoked at once; personal keys
act as one member of staff while they are active staff of the key's agency."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from civicstack.accounts import services
from civicstack.accounts.constants import API_SCOPE_CASES_READ, API_SCOPE_CASES_WRITE, Role
from civicstack.accounts.models import Agency, ApiKey, User
from civicstack.accounts.selectors import api_key_authenticate
from civicstack.accounts.tests.factories import (
    AgencyFactory,
    StaffMembershipFactory,
    UserFactory,
    staff_create,
)
from civicstack.core.errors import PermissionDenied, ValidationFailed

pytestmark = pytest.mark.django_db


def test_the_command_creates_lists_and_revokes_keys() -> None:
    """Only a hash is stored; the printed secret works until the key is revoked (ASVS V8.3)."""
    agency = AgencyFactory(slug="kingsbridge")
    out = StringIO()
    call_command(
        "api_keys",
        "create",
        "--agency",
        "kingsbridge",
        "--name",
        "Counter",
        "--scope",
        "applications:submit",
        stdout=out,
    )
    prefix, secret = out.getvalue().strip().split("\t")
    key = ApiKey.objects.get(agency=agency)
    assert key.prefix == prefix and secret not in key.secret_hash
    assert api_key_authenticate(secret=secret) == key
    assert api_key_authenticate(secret=secret[:-1] + ("A" if secret[-1] != "A" else "B")) is None
    listing = StringIO()
    call_command("api_keys", "list", "--agency", "kingsbridge", stdout=listing)
    assert f"{prefix}\tlive\tCounter" in listing.getvalue()
    call_command("api_keys", "revoke", "--agency", "kingsbridge", "--prefix", prefix)
    assert api_key_authenticate(secret=secret) is None
    with pytest.raises(CommandError):
        call_command("api_keys", "list", "--agency", "nowhere")


@pytest.mark.parametrize(
    "secret", ["", "cs", "cs__x", "xx_abc_def", "cs_abc", "cs_" + "a" * 300, "cs_\x00_\x00"]
)
def test_malformed_secrets_find_nothing(secret: str) -> None:
    """Any string that is not a live key's secret authenticates nobody."""
    assert api_key_authenticate(secret=secret) is None


# --- Personal keys: a key that acts as one member of staff -----------------------------


def _personal_key(**kwargs: object) -> tuple[ApiKey, str, User, Agency]:
    agency = AgencyFactory()
    worker = staff_create(agency=agency, **kwargs)  # type: ignore[arg-type]
    key, secret = services.api_key_create(
        agency=agency, name="Laptop", scopes=[API_SCOPE_CASES_READ], user=worker, actor=None
    )
    return key, secret, worker, agency


def test_the_command_makes_a_personal_key_for_a_member_of_staff() -> None:
    """--user makes a key that authenticates as that person; the listing names them."""
    agency = AgencyFactory(slug="harbourside")
    worker = staff_create(agency=agency, email="worker@example.org")
    out = StringIO()
    call_command(
        "api_keys",
        "create",
        "--agency",
        "harbourside",
        "--name",
        "Case tool",
        "--scope",
        "cases:read",
        "--scope",
        "cases:write",
        "--user",
        "Worker@Example.org",
        stdout=out,
    )
    prefix, secret = out.getvalue().strip().split("\t")
    key = api_key_authenticate(secret=secret)
    assert key is not None and key.prefix == prefix
    assert key.user == worker
    assert key.scopes == ["cases:read", "cases:write"]
    listing = StringIO()
    call_command("api_keys", "list", "--agency", "harbourside", stdout=listing)
    assert f"{prefix}\tlive\tCase tool\tcases:read,cases:write\tworker@example.org" in (
        listing.getvalue()
    )


@pytest.mark.parametrize(
    ("email", "message"),
    [("nobody@example.org", "no person"), ("citizen@example.org", "member of staff")],
)
def test_the_command_refuses_a_person_who_is_not_staff_of_the_agency(
    email: str, message: str
) -> None:
    """An unknown address or a citizen gets a clear error, and no key is made."""
    AgencyFactory(slug="harbourside")
    UserFactory(email="citizen@example.org")
    with pytest.raises(CommandError, match=message):
        call_command(
            "api_keys",
            "create",
            "--agency",
            "harbourside",
            "--name",
            "Case tool",
            "--scope",
            "cases:read",
            "--user",
            email,
            stdout=StringIO(),
        )
    assert not ApiKey.objects.exists()


def test_case_scopes_need_a_personal_key() -> None:
    """An agency key cannot carry the case scopes: the case API acts as a person."""
    with pytest.raises(ValidationFailed) as raised:
        services.api_key_create(
            agency=AgencyFactory(), name="System", scopes=[API_SCOPE_CASES_WRITE], actor=None
        )
    assert "scopes" in raised.value.field_errors
    assert not ApiKey.objects.exists()


@pytest.mark.parametrize("who", ["other_agency", "inactive", "citizen"])
def test_a_personal_key_must_act_for_active_staff_of_the_agency(who: str) -> None:
    """Staff of another agency, disabled staff and citizens cannot be given a key."""
    agency = AgencyFactory()
    person = {
        "other_agency": lambda: staff_create(),
        "inactive": lambda: staff_create(agency=agency, is_active=False),
        "citizen": lambda: UserFactory(),
    }[who]()
    with pytest.raises(ValidationFailed) as raised:
        services.api_key_create(
            agency=agency, name="Laptop", scopes=[API_SCOPE_CASES_READ], user=person, actor=None
        )
    assert "user" in raised.value.field_errors
    assert not ApiKey.objects.exists()


def test_only_the_person_a_key_acts_for_can_make_it() -> None:
    """An agency admin cannot make a key that acts as a caseworker (it would let them act
    as that person); the caseworker can make their own and revoke it (ASVS V8.2)."""
    agency = AgencyFactory()
    admin = staff_create(agency=agency, role=Role.AGENCY_ADMIN)
    worker = staff_create(agency=agency)
    with pytest.raises(PermissionDenied):
        services.api_key_create(
            agency=agency, name="Laptop", scopes=[API_SCOPE_CASES_READ], user=worker, actor=admin
        )
    key, secret = services.api_key_create(
        agency=agency, name="Laptop", scopes=[API_SCOPE_CASES_READ], user=worker, actor=worker
    )
    assert key.created_by == worker
    services.api_key_revoke(key=key, actor=worker)
    assert api_key_authenticate(secret=secret) is None


def test_a_personal_key_stops_working_when_its_person_is_disabled() -> None:
    """Disabling the person stops their key on the next call (checked on each request)."""
    _key, secret, worker, _agency = _personal_key()
    platform_admin = staff_create(role=Role.PLATFORM_ADMIN)
    assert api_key_authenticate(secret=secret) is not None
    services.user_disable(user=worker, actor=platform_admin, reason="left")
    assert api_key_authenticate(secret=secret) is None
    services.user_enable(user=worker, actor=platform_admin, reason="back")
    assert api_key_authenticate(secret=secret) is not None


def test_a_personal_key_stops_working_when_its_person_leaves_the_agency() -> None:
    """Losing every role in the key's agency stops the key, even while staff elsewhere."""
    _key, secret, worker, agency = _personal_key()
    StaffMembershipFactory(user=worker, role=Role.CASEWORKER)  # a role in another agency
    services.staff_membership_revoke(
        user=worker, agency=agency, role=Role.CASEWORKER, actor=staff_create(role="platform_admin")
    )
    worker.refresh_from_db()
    assert worker.is_staff and worker.is_active
    assert api_key_authenticate(secret=secret) is None


def test_an_agency_key_still_authenticates_without_a_person() -> None:
    """Agency keys (no user) keep working as before."""
    agency = AgencyFactory()
    key, secret = services.api_key_create(
        agency=agency, name="Counter", scopes=["applications:submit"], actor=None
    )
    found = api_key_authenticate(secret=secret)
    assert found == key and found.user is None


def test_deleting_the_person_deletes_their_keys() -> None:
    """A personal key never outlives its person to become an agency key."""
    key, _secret, worker, _agency = _personal_key()
    worker.delete()
    assert not ApiKey.objects.filter(pk=key.pk).exists()
