"""Every service that changes something writes an audit event."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpRequest
from django.test import RequestFactory
from django.utils import timezone

from civicstack.accounts import services, tokens, totp
from civicstack.accounts.constants import AgencyKind, Role
from civicstack.accounts.models import Passkey, SignInAttempt, TOTPDevice, User
from civicstack.accounts.tests.authenticator import SoftwareAuthenticator
from civicstack.accounts.tests.factories import (
    PASSWORD,
    AgencyFactory,
    TOTPDeviceFactory,
    UserFactory,
    staff_create,
)
from civicstack.core.models import AuditEvent

pytestmark = pytest.mark.django_db

# Public functions in services that only read, so record nothing.
READ_ONLY = {
    "demo_sign_ins",
    "demo_totp_code",
    "demo_account_emails",
    "sign_in_pending_user",
    "session_recently_authenticated",
    "passkey_name_validate",
    # These keep a WebAuthn challenge in the session, and write nothing else.
    "passkey_registration_begin",
    "passkey_sign_in_begin",
    "passkey_second_factor_begin",
    "passkey_step_up_begin",
}


def _request(user: User | None = None) -> HttpRequest:
    from django.contrib.auth.models import AnonymousUser

    request = RequestFactory().post("/", REMOTE_ADDR="192.0.2.1")
    SessionMiddleware(lambda r: None).process_request(request)  # type: ignore[arg-type,return-value]
    request.session.save()
    request.user = user or AnonymousUser()
    return request


def _signed_in(user: User) -> HttpRequest:
    request = _request()
    services.sign_in_password(request=request, email=user.email, password=PASSWORD)
    return request


def _code(user: User) -> str:
    device = TOTPDevice.objects.get(user=user)
    return totp.totp_code_at(secret=device.secret, step=totp.totp_current_step())


def _agency_upsert() -> str:
    services.agency_upsert(
        slug="new-agency",
        values={"kind": AgencyKind.LOCAL, "name_en": "N", "name_cy": "N"},
        actor=None,
    )
    return "accounts.agency.created"


def _user_sign_up() -> str:
    services.user_sign_up(email="a@example.org", full_name="A", password="a long pass phrase")
    return "accounts.user.signed_up"


def _email_verification_resend() -> str:
    services.email_verification_resend(user=UserFactory(email_verified_at=None))
    return "accounts.email_verification.sent"


def _email_verify() -> str:
    user = UserFactory(email_verified_at=None)
    services.email_verify(
        token=tokens.link_token_make(user=user, purpose=tokens.PURPOSE_VERIFY_EMAIL)
    )
    return "accounts.email.verified"


def _email_change_request() -> str:
    services.email_change_request(user=UserFactory(), new_email="n@example.org", password=PASSWORD)
    return "accounts.email_change.requested"


def _password_reset_request() -> str:
    services.password_reset_request(email=UserFactory().email)
    return "accounts.password_reset.requested"


def _password_reset_complete() -> str:
    user = UserFactory()
    token = tokens.link_token_make(user=user, purpose=tokens.PURPOSE_PASSWORD_RESET)
    services.password_reset_complete(token=token, password="a new long phrase")
    return "accounts.password.reset"


def _password_change() -> str:
    user = UserFactory()
    request = _signed_in(user)
    services.password_change(
        request=request, user=user, current_password=PASSWORD, new_password="a new long phrase"
    )
    return "accounts.password.changed"


def _sign_in_attempts_prune() -> str:
    SignInAttempt.objects.create(
        account_key="a", address_key="b", at=timezone.now() - timedelta(days=3)
    )
    services.sign_in_attempts_prune()
    return "accounts.sign_in_attempts.pruned"


def _sign_in_password() -> str:
    _signed_in(UserFactory())
    return "accounts.signed_in"


def _sign_in_second_factor() -> str:
    user = TOTPDeviceFactory().user
    request = _request()
    services.sign_in_password(request=request, email=user.email, password=PASSWORD)
    services.sign_in_second_factor(request=request, code=_code(user))
    return "accounts.signed_in"


def _sign_out() -> str:
    services.sign_out(request=_signed_in(UserFactory()))
    return "accounts.signed_out"


def _session_expire() -> str:
    services.session_expire(request=_signed_in(UserFactory()), reason="idle_timeout")
    return "accounts.session.expired"


def _sessions_end_others() -> str:
    user = UserFactory()
    services.sessions_end_others(request=_signed_in(user), user=user)
    return "accounts.sessions.ended_others"


def _mfa_enrolment_start() -> str:
    services.mfa_enrolment_start(user=UserFactory())
    return "accounts.mfa.enrolment_started"


def _mfa_enrolment_confirm() -> str:
    user = UserFactory()
    request = _signed_in(user)
    services.mfa_enrolment_start(user=user)
    services.mfa_enrolment_confirm(request=request, user=user, code=_code(user))
    return "accounts.mfa.enrolled"


def _mfa_recovery_codes_regenerate() -> str:
    user = TOTPDeviceFactory().user
    request = _request(user)
    request.session["civicstack_mfa_verified"] = True
    services.mfa_recovery_codes_regenerate(request=request, user=user, password=PASSWORD)
    return "accounts.mfa.recovery_codes_replaced"


def _mfa_remove() -> str:
    user = TOTPDeviceFactory().user
    services.mfa_remove(request=_request(user), user=user, password=PASSWORD)
    return "accounts.mfa.removed"


def _with_passkey(user: User) -> tuple[HttpRequest, SoftwareAuthenticator]:
    """Return a signed-in request of ``user`` (no other factor) after adding a passkey."""
    request = _signed_in(user)
    authenticator = SoftwareAuthenticator()
    options = services.passkey_registration_begin(request=request, user=user)
    services.passkey_register(
        request=request, user=user, credential=authenticator.register(options), name="Phone"
    )
    return request, authenticator


def _passkey_register() -> str:
    _with_passkey(UserFactory())
    return "accounts.passkey.added"


def _passkey_rename() -> str:
    user = UserFactory()
    request, _authenticator = _with_passkey(user)
    passkey = Passkey.objects.get(user=user)
    services.passkey_rename(request=request, user=user, passkey_id=passkey.pk, name="Tablet")
    return "accounts.passkey.renamed"


def _passkey_remove() -> str:
    user = UserFactory()
    request, _authenticator = _with_passkey(user)
    passkey = Passkey.objects.get(user=user)
    services.passkey_remove(request=request, user=user, passkey_id=passkey.pk)
    return "accounts.passkey.removed"


def _sign_in_passkey() -> str:
    _first, authenticator = _with_passkey(UserFactory())
    request = _request()
    options = services.passkey_sign_in_begin(request=request)
    outcome = services.sign_in_passkey(request=request, credential=authenticator.assertion(options))
    assert outcome.status == "signed_in"
    return "accounts.signed_in"


def _sign_in_second_factor_passkey() -> str:
    user = UserFactory()
    _first, authenticator = _with_passkey(user)
    request = _request()
    services.sign_in_password(request=request, email=user.email, password=PASSWORD)
    options = services.passkey_second_factor_begin(request=request)
    outcome = services.sign_in_second_factor_passkey(
        request=request, credential=authenticator.assertion(options)
    )
    assert outcome.status == "signed_in"
    return "accounts.signed_in"


def _step_up_code() -> str:
    user = TOTPDeviceFactory().user
    request = _request(user)
    services.step_up_code(request=request, user=user, code=_code(user))
    return "accounts.stepped_up"


def _step_up_passkey() -> str:
    user = UserFactory()
    request, authenticator = _with_passkey(user)
    options = services.passkey_step_up_begin(request=request, user=user)
    services.step_up_passkey(
        request=request, user=user, credential=authenticator.assertion(options)
    )
    return "accounts.stepped_up"


def _reauthenticate() -> str:
    user = UserFactory()
    services.reauthenticate(request=_request(user), user=user, password=PASSWORD)
    return "accounts.reauthenticated"


def _staff_membership_grant() -> str:
    services.staff_membership_grant(
        user=UserFactory(),
        agency=AgencyFactory(),
        role=Role.CASEWORKER,
        actor=staff_create(role=Role.PLATFORM_ADMIN),
    )
    return "accounts.staff_membership.granted"


def _staff_membership_revoke() -> str:
    agency = AgencyFactory()
    worker = staff_create(agency=agency)
    services.staff_membership_revoke(
        user=worker,
        agency=agency,
        role=Role.CASEWORKER,
        actor=staff_create(role=Role.PLATFORM_ADMIN),
    )
    return "accounts.staff_membership.revoked"


def _user_disable() -> str:
    services.user_disable(
        user=UserFactory(), actor=staff_create(role=Role.PLATFORM_ADMIN), reason="r"
    )
    return "accounts.user.disabled"


def _user_enable() -> str:
    services.user_enable(
        user=UserFactory(is_active=False), actor=staff_create(role=Role.PLATFORM_ADMIN), reason="r"
    )
    return "accounts.user.enabled"


def _accounts_demo_load() -> str:
    services.accounts_demo_load()
    return "accounts.user.demo_created"


def _api_key_create() -> str:
    agency = AgencyFactory()
    services.api_key_create(
        agency=agency,
        name="Case tool",
        scopes=["cases:read", "cases:write"],
        user=staff_create(agency=agency),
        actor=None,
    )
    return "accounts.api_key_created"


def _api_key_revoke() -> str:
    key, _secret = services.api_key_create(
        agency=AgencyFactory(), name="Counter", scopes=["applications:submit"], actor=None
    )
    services.api_key_revoke(key=key, actor=None)
    return "accounts.api_key_revoked"


SCENARIOS: dict[str, Callable[[], str]] = {
    "api_key_create": _api_key_create,
    "api_key_revoke": _api_key_revoke,
    "agency_upsert": _agency_upsert,
    "user_sign_up": _user_sign_up,
    "email_verification_resend": _email_verification_resend,
    "email_verify": _email_verify,
    "email_change_request": _email_change_request,
    "password_reset_request": _password_reset_request,
    "password_reset_complete": _password_reset_complete,
    "password_change": _password_change,
    "sign_in_attempts_prune": _sign_in_attempts_prune,
    "sign_in_password": _sign_in_password,
    "sign_in_second_factor": _sign_in_second_factor,
    "sign_out": _sign_out,
    "session_expire": _session_expire,
    "sessions_end_others": _sessions_end_others,
    "mfa_enrolment_start": _mfa_enrolment_start,
    "mfa_enrolment_confirm": _mfa_enrolment_confirm,
    "mfa_recovery_codes_regenerate": _mfa_recovery_codes_regenerate,
    "mfa_remove": _mfa_remove,
    "passkey_register": _passkey_register,
    "passkey_rename": _passkey_rename,
    "passkey_remove": _passkey_remove,
    "sign_in_passkey": _sign_in_passkey,
    "sign_in_second_factor_passkey": _sign_in_second_factor_passkey,
    "step_up_code": _step_up_code,
    "step_up_passkey": _step_up_passkey,
    "reauthenticate": _reauthenticate,
    "staff_membership_grant": _staff_membership_grant,
    "staff_membership_revoke": _staff_membership_revoke,
    "user_disable": _user_disable,
    "user_enable": _user_enable,
    "accounts_demo_load": _accounts_demo_load,
}


def test_every_public_service_has_an_audit_scenario() -> None:
    """Each public writing service in accounts.services is covered below (meta-test)."""
    public = {
        name
        for name, function in inspect.getmembers(services, inspect.isfunction)
        if function.__module__ == services.__name__ and not name.startswith("_")
    }
    assert public - READ_ONLY == set(SCENARIOS)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_service_writes_an_audit_event(name: str) -> None:
    """The service records its action in the audit log, with no personal values in data.

    ASVS 16.2.1, 16.3.1.
    """
    before = AuditEvent.objects.count()
    action = SCENARIOS[name]()
    events = AuditEvent.objects.filter(sequence__gte=before)
    assert events.filter(action=action).exists(), list(events.values_list("action", flat=True))
    for event in events:
        flat = repr(event.data)
        assert "@" not in flat
        assert PASSWORD not in flat and PASSWORD not in event.reason
