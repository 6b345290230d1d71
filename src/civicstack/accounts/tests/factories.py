"""Factories for people, agencies, staff roles and authenticator apps."""

from __future__ import annotations

from typing import Any

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from civicstack.accounts.constants import AgencyKind, Role
from civicstack.accounts.models import Agency, StaffMembership, TOTPDevice, User
from civicstack.accounts.totp import totp_secret_new

PASSWORD = "correct horse battery staple"


class UserFactory(DjangoModelFactory[User]):
    """A citizen with a confirmed email address and the password ``PASSWORD``."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.org")
    full_name = factory.Sequence(lambda n: f"Person {n}")
    email_verified_at = factory.LazyFunction(timezone.now)

    @factory.post_generation
    def password(obj: User, create: bool, extracted: str | None, **kwargs: Any) -> None:
        obj.set_password(extracted or PASSWORD)
        if create:
            obj.save(update_fields=["password"])


class AgencyFactory(DjangoModelFactory[Agency]):
    """A central government agency."""

    class Meta:
        model = Agency

    slug = factory.Sequence(lambda n: f"agency-{n:03d}")
    reference = factory.Sequence(lambda n: f"AGY-T{n:04d}")
    kind = AgencyKind.CENTRAL
    name_en = factory.Sequence(lambda n: f"Agency {n}")
    name_cy = factory.Sequence(lambda n: f"Asiantaeth {n}")


class TOTPDeviceFactory(DjangoModelFactory[TOTPDevice]):
    """A confirmed authenticator app with a random secret."""

    class Meta:
        model = TOTPDevice

    user = factory.SubFactory(UserFactory)
    secret = factory.LazyFunction(totp_secret_new)
    confirmed_at = factory.LazyFunction(timezone.now)


class StaffMembershipFactory(DjangoModelFactory[StaffMembership]):
    """A caseworker role in a new agency."""

    class Meta:
        model = StaffMembership

    user = factory.SubFactory(UserFactory, is_staff=True)
    agency = factory.SubFactory(AgencyFactory)
    role = Role.CASEWORKER


def staff_create(
    *, role: str = Role.CASEWORKER, agency: Agency | None = None, mfa: bool = True, **kwargs: Any
) -> User:
    """Create a member of staff with ``role`` in ``agency`` (and an authenticator app)."""
    user = UserFactory(is_staff=True, **kwargs)
    StaffMembershipFactory(user=user, agency=agency or AgencyFactory(), role=role)
    if mfa:
        TOTPDeviceFactory(user=user)
    return user
