"""Changes to people, agencies and staff roles; sign-up, sign-in, second factors, sessions.

Every public function checks who may act, works in one transaction and records an audit
event; emails go out only after the transaction commits. Rules live here, not in forms or
views, so pages, commands and tasks behave the same.

Failed sign-ins are counted in ``SignInAttempt`` (keyed hashes only) rather than written
to the audit log one by one: an attacker must not be able to make the tamper-evident log,
which serialises its appends, grow at will. Crossing a throttle limit is audited.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import secrets
import time
import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from importlib import import_module
from typing import Any, Literal

from django.conf import settings
from django.contrib.auth import authenticate, login, logout, update_session_auth_hash
from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.backends.base import SessionBase
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from civicstack.accounts import passkeys, tokens
from civicstack.accounts.constants import (
    AUTH_METHODS_KEY,
    AUTH_TIME_KEY,
    MFA_SETUP_REQUIRED_KEY,
    MFA_VERIFIED_KEY,
    SESSION_SEEN_KEY,
    SESSION_STARTED_KEY,
    SESSION_TIMED_OUT_KEY,
    AgencyKind,
    Role,
)
from civicstack.accounts.emails import email_send_on_commit
from civicstack.accounts.models import (
    Agency,
    ApiKey,
    Passkey,
    RecoveryCode,
    SignInAttempt,
    StaffMembership,
    TOTPDevice,
    User,
    UserSession,
    normalise_email,
)
from civicstack.accounts.totp import (
    recovery_code_hash,
    recovery_codes_new,
    totp_code_at,
    totp_code_clean,
    totp_current_step,
    totp_matching_step,
    totp_secret_new,
)
from civicstack.core.audit import audit_event_record
from civicstack.core.errors import (
    NotFound,
    PermissionDenied,
    RateLimited,
    ValidationFailed,
)
from civicstack.core.middleware import client_address
from civicstack.core.references import reference_next

logger = logging.getLogger(__name__)

_AGENCY_FIELDS = (
    "kind",
    "name_en",
    "name_cy",
    "description_en",
    "description_cy",
    "phone",
    "opening_hours_en",
    "opening_hours_cy",
)

# A pending sign-in (password accepted, second factor not yet given) lasts five minutes.
PENDING_USER_KEY = "civicstack_pending_user"
PENDING_AT_KEY = "civicstack_pending_at"
PENDING_FAILURES_KEY = "civicstack_pending_failures"
PENDING_SECONDS = 5 * 60
SECOND_FACTOR_MAX_FAILURES = 5
RECOVERY_CODES_SESSION_KEY = "civicstack_new_recovery_codes"
_MAX_USER_AGENT = 300
_BACKEND = "civicstack.accounts.backends.EmailBackend"

# Rate limits kept in the cache (shared across processes once REDIS_URL is set).
_VERIFY_RESEND_LIMIT = (3, 60 * 60)
_PASSWORD_RESET_LIMIT = (3, 60 * 60)
_REAUTH_LIMIT = (10, 15 * 60)

SIGN_IN_FAILED_MESSAGE = _("Enter the email address and password for your account")
# The same message for every failed passkey sign-in: unknown passkey, wrong signature,
# disabled account or too many attempts.
PASSKEY_SIGN_IN_FAILED_MESSAGE = _(
    "We could not sign you in with that passkey. Try again, or sign in with your email "
    "address and password."
)

# How the person proved who they are, as RFC 8176 amr values (the shared contract).
AMR_PASSWORD = ("pwd",)
AMR_PASSWORD_OTP = ("pwd", "otp", "mfa")
AMR_PASSWORD_PASSKEY = ("pwd", "hwk", "mfa")
AMR_PASSKEY = ("hwk", "user", "mfa")
# The amr values each second factor adds, and which of them count as a second factor.
AMR_FROM_APP = ("otp",)
AMR_FROM_PASSKEY = ("hwk", "user")
AMR_SECOND_FACTORS = ("otp", "hwk")
# Adding or removing a passkey needs an authentication at most this old (seconds).
RECENT_AUTH_SECONDS = 10 * 60
_STEP_UP_LIMIT = (10, 15 * 60)

# Demo people: never created in production. Staff share one TOTP secret so any
# authenticator app (or ``civicstack demo_totp EMAIL``) can produce their codes.
DEMO_PASSWORD = "civicstack-demo-password"  # noqa: S105 - documented demo credential
DEMO_TOTP_SECRET = "CIVICSTACKDEMOCIVICSTACKDEMO2345"  # noqa: S105 - documented demo secret
DEMO_AGENCY_COUNT = 2
DEMO_CITIZEN_EMAIL = "citizen@example.org"
DEMO_PLATFORM_ADMIN_EMAIL = "platform-admin@example.org"
_DEMO_STAFF_ROLES = (
    (Role.CASEWORKER, "caseworker", "Caseworker"),
    (Role.SUPERVISOR, "supervisor", "Supervisor"),
    (Role.SERVICE_OWNER, "service-owner", "Service owner"),
    (Role.AGENCY_ADMIN, "agency-admin", "Agency admin"),
)


# --- Small helpers --------------------------------------------------------------------


def _invalid(field: str, message: str | Promise) -> ValidationFailed:
    return ValidationFailed(field_errors={field: [message]})


def _has_control_characters(value: str) -> bool:
    return any(unicodedata.category(char) in {"Cc", "Cf", "Cs", "Co"} for char in value)


def _rate_limited(key: str, limit: tuple[int, int]) -> bool:
    """Count one use of ``key``; return True when the limit for the window is exceeded."""
    count, window = limit
    cache_key = f"civicstack:accounts:{key}"
    cache.add(cache_key, 0, timeout=window)
    try:
        used = cache.incr(cache_key)
    except ValueError:
        # The key expired between add and incr: this use starts a new window.
        cache.set(cache_key, 1, timeout=window)
        used = 1
    return bool(used > count)


def _password_check(*, field: str, password: str, user: User) -> None:
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        raise ValidationFailed(field_errors={field: list(exc.messages)}) from exc


def _reauthenticate(*, user: User, password: str, field: str = "password") -> None:
    """Check the person's current password, with a limit on wrong guesses."""
    if _rate_limited(f"reauth:{user.pk}", _REAUTH_LIMIT):
        raise RateLimited()
    if not password or len(password) > 1024 or not user.check_password(password):
        raise _invalid(field, _("Your password is not correct"))


def _full_name_clean(full_name: str) -> str:
    cleaned = " ".join(full_name.split())
    if not cleaned:
        raise _invalid("full_name", _("Enter your full name"))
    if len(cleaned) > 200:
        raise _invalid("full_name", _("Full name must be 200 characters or fewer"))
    if _has_control_characters(cleaned):
        raise _invalid("full_name", _("Full name must only include letters, spaces and marks"))
    return cleaned


def _email_clean(email: str, *, field: str = "email") -> str:
    cleaned = normalise_email(email)
    if not cleaned:
        raise _invalid(field, _("Enter your email address"))
    if len(cleaned) > 254 or "@" not in cleaned or _has_control_characters(cleaned):
        raise _invalid(
            field, _("Enter an email address in the correct format, like name@example.com")
        )
    return cleaned


def _session_store_class() -> type[SessionBase]:
    store: type[SessionBase] = import_module(settings.SESSION_ENGINE).SessionStore
    return store


def _sessions_end(*, user: User, keep_session_key: str | None = None) -> int:
    """End every open session of ``user`` but ``keep_session_key``; return how many."""
    store = _session_store_class()
    open_sessions = UserSession.objects.select_for_update().filter(user=user, ended_at__isnull=True)
    if keep_session_key:
        open_sessions = open_sessions.exclude(session_key=keep_session_key)
    keys = list(open_sessions.values_list("session_key", flat=True))
    for key in keys:
        store(session_key=key).delete()
    if keys:
        UserSession.objects.filter(user=user, session_key__in=keys).update(ended_at=timezone.now())
    return len(keys)


def _session_key_rotate(request: HttpRequest, rotate: Any) -> None:
    """Give the session a new id (via ``rotate``) and move its UserSession row along."""
    old_key = request.session.session_key
    rotate()
    request.session.save()
    new_key = request.session.session_key
    if old_key and new_key and old_key != new_key:
        UserSession.objects.filter(session_key=old_key).update(session_key=new_key)


# --- Agencies -------------------------------------------------------------------------


def agency_upsert(*, slug: str, values: dict[str, Any], actor: Any | None) -> tuple[Agency, bool]:
    """Create the agency ``slug`` or bring it up to date; return it and whether it changed.

    Only platform admins (or the system, for demo and seed data: ``actor=None``) may do this.
    Running it twice with the same values changes nothing and records nothing.
    """
    if actor is not None:
        from civicstack.accounts.selectors import user_is_platform_admin

        if not user_is_platform_admin(user=actor):
            raise PermissionDenied()
    if values.get("kind") not in AgencyKind.values:
        raise ValidationFailed(field_errors={"kind": [_("Select central or local")]})
    cleaned = {name: values.get(name, "") or "" for name in _AGENCY_FIELDS}
    with transaction.atomic():
        agency = Agency.objects.select_for_update().filter(slug=slug).first()
        if agency is None:
            agency = Agency.objects.create(
                slug=slug, reference=reference_next(prefix="AGY", width=4), **cleaned
            )
            audit_event_record(action="accounts.agency.created", actor=actor, obj=agency)
            return agency, True
        changed = [name for name in _AGENCY_FIELDS if getattr(agency, name) != cleaned[name]]
        if not changed:
            return agency, False
        for name in changed:
            setattr(agency, name, cleaned[name])
        agency.save()
        audit_event_record(
            action="accounts.agency.updated", actor=actor, obj=agency, data={"fields": changed}
        )
        return agency, True


# --- Sign-up and email verification ---------------------------------------------------


def _verification_send(user: User) -> None:
    token = tokens.link_token_make(user=user, purpose=tokens.PURPOSE_VERIFY_EMAIL)
    email_send_on_commit(
        name="verify_email",
        to=user.email,
        preferred=user.preferred_language,
        context={"full_name": user.full_name},
        link=("accounts:verify-email", {"token": token}),
    )


def user_sign_up(*, email: str, full_name: str, password: str, language: str = "en") -> User | None:
    """Create a citizen's account and email a verification link; return the new person.

    When the address already has an account nothing is created and its owner is told by
    email instead; None is returned, and the page shows the same "check your email" as for
    a new account, so sign-up cannot be used to find out who has an account.
    """
    cleaned_email = _email_clean(email)
    cleaned_name = _full_name_clean(full_name)
    language = language if language in dict(settings.LANGUAGES) else "en"
    _password_check(
        field="password",
        password=password,
        user=User(email=cleaned_email, full_name=cleaned_name),
    )
    with transaction.atomic():
        existing = User.objects.filter(email=cleaned_email).first()
        if existing is None:
            try:
                with transaction.atomic():
                    user = User.objects.create_user(
                        cleaned_email,
                        password,
                        full_name=cleaned_name,
                        preferred_language=language,
                        password_changed_at=timezone.now(),
                    )
            except IntegrityError:
                existing = User.objects.get(email=cleaned_email)
            else:
                audit_event_record(action="accounts.user.signed_up", actor=None, obj=user)
                _verification_send(user)
                return user
        # Hash the password anyway, so an existing address takes as long as a new one.
        make_password(password)
        audit_event_record(
            action="accounts.user.sign_up_for_existing_address", actor=None, obj=existing
        )
        email_send_on_commit(
            name="account_exists",
            to=existing.email,
            preferred=existing.preferred_language,
            link=("accounts:sign-in", {}),
        )
        return None


def email_verification_resend(*, user: User) -> None:
    """Send ``user`` a new verification link (at most three an hour)."""
    if not user.is_authenticated or not user.is_active:
        raise PermissionDenied()
    if user.email_verified_at is not None:
        return
    if _rate_limited(f"verify-resend:{user.pk}", _VERIFY_RESEND_LIMIT):
        raise RateLimited(_("You have asked for too many links. Wait an hour and try again."))
    with transaction.atomic():
        audit_event_record(action="accounts.email_verification.sent", actor=user, obj=user)
        _verification_send(user)


@dataclass(frozen=True)
class EmailConfirmed:
    """The outcome of a followed email link: who, and whether the address was changed."""

    user: User
    changed: bool


def email_verify(*, token: str) -> EmailConfirmed:
    """Confirm an email address from a link; each link works once.

    A sign-up link marks the address verified; an email-change link moves the account to
    the new address (and tells the old one). Raises LinkInvalid for a bad, expired or used
    link, ValidationFailed when the new address has meanwhile been taken.
    """
    with transaction.atomic():
        content = tokens.link_token_read(
            token=token,
            purposes=(tokens.PURPOSE_VERIFY_EMAIL, tokens.PURPOSE_CHANGE_EMAIL),
            for_update=True,
        )
        user = content.user
        now = timezone.now()
        if content.purpose == tokens.PURPOSE_VERIFY_EMAIL:
            user.email_verified_at = now
            user.save(update_fields=["email_verified_at"])
            audit_event_record(action="accounts.email.verified", actor=None, obj=user)
            return EmailConfirmed(user=user, changed=False)
        new_email = content.data.get("email", "")
        if User.objects.filter(email=new_email).exclude(pk=user.pk).exists():
            raise _invalid("token", _("That email address is already used by another account"))
        old_email = user.email
        user.email = new_email
        user.email_verified_at = now
        user.save(update_fields=["email", "email_verified_at"])
        audit_event_record(
            action="accounts.email.changed", actor=None, obj=user, data={"fields": ["email"]}
        )
        email_send_on_commit(name="email_changed", to=old_email, preferred=user.preferred_language)
        return EmailConfirmed(user=user, changed=True)


def email_change_request(*, user: User, new_email: str, password: str) -> None:
    """Send a link to ``new_email`` that moves the account there; tell the current address.

    Needs the current password. If the new address already has an account, its owner is
    told instead, and the person asking sees the same page either way.
    """
    if not user.is_authenticated or not user.is_active:
        raise PermissionDenied()
    cleaned = _email_clean(new_email, field="new_email")
    _reauthenticate(user=user, password=password)
    if cleaned == user.email:
        raise _invalid("new_email", _("Enter a different email address from your current one"))
    with transaction.atomic():
        audit_event_record(action="accounts.email_change.requested", actor=user, obj=user)
        taken = User.objects.filter(email=cleaned).exclude(pk=user.pk).exists()
        if taken:
            email_send_on_commit(
                name="email_change_taken", to=cleaned, preferred=user.preferred_language
            )
        else:
            token = tokens.link_token_make(
                user=user, purpose=tokens.PURPOSE_CHANGE_EMAIL, data={"email": cleaned}
            )
            email_send_on_commit(
                name="email_change_confirm",
                to=cleaned,
                preferred=user.preferred_language,
                link=("accounts:verify-email", {"token": token}),
            )
        email_send_on_commit(
            name="email_change_requested", to=user.email, preferred=user.preferred_language
        )


# --- Passwords ------------------------------------------------------------------------


def password_reset_request(*, email: str) -> None:
    """Email a reset link if ``email`` has an active account; do nothing visible otherwise.

    At most three links an hour go to one account, so the form cannot flood a mailbox.
    """
    cleaned = normalise_email(email)
    user = User.objects.filter(email=cleaned, is_active=True).first()
    if user is None or len(cleaned) > 254:
        return
    if _rate_limited(f"password-reset:{user.pk}", _PASSWORD_RESET_LIMIT):
        return
    with transaction.atomic():
        audit_event_record(action="accounts.password_reset.requested", actor=None, obj=user)
        token = tokens.link_token_make(user=user, purpose=tokens.PURPOSE_PASSWORD_RESET)
        email_send_on_commit(
            name="password_reset",
            to=user.email,
            preferred=user.preferred_language,
            link=("accounts:password-reset-confirm", {"token": token}),
        )


def password_reset_complete(*, token: str, password: str) -> User:
    """Set a new password from a reset link and end every session of the account.

    Following the link proves the person reads the account's email, so an unverified
    address becomes verified.
    """
    with transaction.atomic():
        user = tokens.link_token_read(
            token=token, purposes=(tokens.PURPOSE_PASSWORD_RESET,), for_update=True
        ).user
        _password_check(field="password", password=password, user=user)
        now = timezone.now()
        user.set_password(password)
        user.password_changed_at = now
        if user.email_verified_at is None:
            user.email_verified_at = now
        user.save(update_fields=["password", "password_changed_at", "email_verified_at"])
        ended = _sessions_end(user=user)
        audit_event_record(
            action="accounts.password.reset",
            actor=None,
            obj=user,
            data={"sessions_ended": ended},
        )
        email_send_on_commit(
            name="password_changed", to=user.email, preferred=user.preferred_language
        )
        return user


def password_change(
    *, request: HttpRequest, user: User, current_password: str, new_password: str
) -> None:
    """Change the password of the signed-in person and end their other sessions."""
    if not user.is_authenticated or not user.is_active or request.user.pk != user.pk:
        raise PermissionDenied()
    _reauthenticate(user=user, password=current_password, field="current_password")
    _password_check(field="new_password", password=new_password, user=user)
    with transaction.atomic():
        user.set_password(new_password)
        user.password_changed_at = timezone.now()
        user.save(update_fields=["password", "password_changed_at"])
        ended = _sessions_end(user=user, keep_session_key=request.session.session_key)
        _session_key_rotate(request, lambda: update_session_auth_hash(request, user))
        audit_event_record(
            action="accounts.password.changed",
            actor=user,
            obj=user,
            data={"sessions_ended": ended},
        )
        email_send_on_commit(
            name="password_changed", to=user.email, preferred=user.preferred_language
        )


# --- Brute-force protection -----------------------------------------------------------


@dataclass(frozen=True)
class _AttemptKeys:
    account: str
    address: str
    device: tokens.DeviceEntry | None


def _attempt_keys(request: HttpRequest, email: str) -> _AttemptKeys:
    account = tokens.account_key(email)
    entries = tokens.device_entries_read(request.COOKIES.get(tokens.device_cookie_name()))
    return _AttemptKeys(
        account=account,
        address=tokens.address_key(client_address(request)),
        device=tokens.device_entry_for(entries, account),
    )


def _recent_attempts() -> QuerySet[SignInAttempt]:
    since = timezone.now() - timedelta(seconds=settings.ACCOUNT_THROTTLE_WINDOW)
    return SignInAttempt.objects.filter(at__gte=since)


def _throttled_scopes(keys: _AttemptKeys) -> list[str]:
    """Return which limits are reached for these keys (empty when the attempt may go on).

    A browser with a valid device cookie for the account is held only to its own limit,
    so an attacker failing against the account elsewhere cannot lock its owner out.
    """
    recent = _recent_attempts()
    if keys.device is not None:
        used = recent.filter(device_key=keys.device.device_key).count()
        return ["device"] if used >= settings.ACCOUNT_THROTTLE_PER_ACCOUNT else []
    scopes = []
    untrusted = recent.filter(trusted_device=False)
    if untrusted.filter(address_key=keys.address).count() >= settings.ACCOUNT_THROTTLE_PER_ADDRESS:
        scopes.append("address")
    if untrusted.filter(account_key=keys.account).count() >= settings.ACCOUNT_THROTTLE_PER_ACCOUNT:
        scopes.append("account")
    return scopes


def _attempt_record(keys: _AttemptKeys, *, user: User | None, kind: str) -> None:
    """Count a failed attempt; audit the moment a limit is reached."""
    with transaction.atomic():
        SignInAttempt.objects.create(
            account_key=keys.account,
            address_key=keys.address,
            device_key=keys.device.device_key if keys.device else "",
            trusted_device=keys.device is not None,
        )
        recent = _recent_attempts()
        reached = []
        if keys.device is not None:
            if (
                recent.filter(device_key=keys.device.device_key).count()
                == settings.ACCOUNT_THROTTLE_PER_ACCOUNT
            ):
                reached.append("device")
        else:
            untrusted = recent.filter(trusted_device=False)
            if (
                untrusted.filter(address_key=keys.address).count()
                == settings.ACCOUNT_THROTTLE_PER_ADDRESS
            ):
                reached.append("address")
            if (
                untrusted.filter(account_key=keys.account).count()
                == settings.ACCOUNT_THROTTLE_PER_ACCOUNT
            ):
                reached.append("account")
        for scope in reached:
            audit_event_record(
                action="accounts.sign_in.throttled",
                actor=None,
                obj=user,
                data={"scope": scope, "kind": kind},
            )


def sign_in_attempts_prune(*, older_than: timedelta | None = None) -> int:
    """Delete counted sign-in failures older than a day (or ``older_than``); return how many.

    The scheduler calls this; rows inside the throttle window are always kept.
    """
    window = timedelta(seconds=settings.ACCOUNT_THROTTLE_WINDOW)
    keep = max(older_than or timedelta(days=1), window)
    with transaction.atomic():
        deleted, _counts = SignInAttempt.objects.filter(at__lt=timezone.now() - keep).delete()
        if deleted:
            audit_event_record(
                action="accounts.sign_in_attempts.pruned", actor=None, data={"deleted": deleted}
            )
    return deleted


# --- Sign-in, second factor, sign-out -------------------------------------------------


@dataclass(frozen=True)
class SignInOutcome:
    """What happened to a sign-in step, and what the page should do next.

    ``device_cookie`` is the new value of the device cookie to set on the response.
    """

    status: Literal["signed_in", "second_factor", "failed", "wrong_code", "ended"]
    user: User | None = None
    device_cookie: str = ""
    mfa_setup_required: bool = False


def _pending_clear(session: SessionBase) -> None:
    for key in (PENDING_USER_KEY, PENDING_AT_KEY, PENDING_FAILURES_KEY):
        session.pop(key, None)


def sign_in_pending_user(*, request: HttpRequest) -> User | None:
    """Return the person whose password was accepted in this browser in the last 5 minutes."""
    user_id = request.session.get(PENDING_USER_KEY)
    started = request.session.get(PENDING_AT_KEY)
    if not user_id or not isinstance(started, int):
        return None
    if time.time() - started > PENDING_SECONDS:
        _pending_clear(request.session)
        return None
    user = User.objects.filter(pk=user_id, is_active=True).select_related("totp_device").first()
    if user is None or not user.has_mfa:
        _pending_clear(request.session)
        return None
    return user


def _sign_in_complete(
    request: HttpRequest,
    user: User,
    *,
    method: str,
    methods: list[str],
    keys: _AttemptKeys,
    data: dict[str, Any] | None = None,
) -> SignInOutcome:
    """Sign ``user`` in with a new session; ``methods`` are the RFC 8176 amr values."""
    mfa_verified = "mfa" in methods
    _pending_clear(request.session)
    request.session.pop(SESSION_TIMED_OUT_KEY, None)
    request.session.pop(RECOVERY_CODES_SESSION_KEY, None)
    if request.session.get("_auth_user_id"):
        # Someone else (or the same person) was signed in here: start from a clean session.
        request.session.flush()
    with transaction.atomic():
        login(request, user, backend=_BACKEND)
        now = int(time.time())
        request.session[SESSION_STARTED_KEY] = now
        request.session[SESSION_SEEN_KEY] = now
        request.session[MFA_VERIFIED_KEY] = mfa_verified
        request.session[AUTH_METHODS_KEY] = list(methods)
        request.session[AUTH_TIME_KEY] = now
        setup_required = user.mfa_required and not user.has_mfa
        if setup_required:
            request.session[MFA_SETUP_REQUIRED_KEY] = True
        request.session.save()
        UserSession.objects.create(
            user=user,
            session_key=request.session.session_key or "",
            ip_address=client_address(request),
            user_agent=str(request.META.get("HTTP_USER_AGENT", ""))[:_MAX_USER_AGENT],
        )
        audit_event_record(
            action="accounts.signed_in",
            actor=user,
            obj=user,
            data={"method": method, "amr": list(methods), **(data or {})},
        )
    entries = tokens.device_entries_read(request.COOKIES.get(tokens.device_cookie_name()))
    return SignInOutcome(
        status="signed_in",
        user=user,
        device_cookie=tokens.device_cookie_value(entries=entries, key=keys.account),
        mfa_setup_required=setup_required,
    )


def sign_in_password(*, request: HttpRequest, email: str, password: str) -> SignInOutcome:
    """Check an email address and password, within the throttle limits.

    Returns ``failed`` alike for a wrong password, an unknown address, a disabled account
    and a throttled attempt. With a second factor the sign-in becomes pending (status
    ``second_factor``); without one the person is signed in.
    """
    keys = _attempt_keys(request, email)
    if _throttled_scopes(keys):
        _attempt_record(keys, user=None, kind="password")
        return SignInOutcome(status="failed")
    if len(email) > 254 or len(password) > 1024:
        user = None
    else:
        authenticated = authenticate(request, email=email, password=password)
        user = authenticated if isinstance(authenticated, User) else None
    if user is None:
        _attempt_record(keys, user=None, kind="password")
        return SignInOutcome(status="failed")
    if user.has_mfa:
        # Not signed in yet: only the pending person's id and the time are kept.
        request.session.cycle_key()
        request.session[PENDING_USER_KEY] = str(user.pk)
        request.session[PENDING_AT_KEY] = int(time.time())
        request.session[PENDING_FAILURES_KEY] = 0
        return SignInOutcome(status="second_factor", user=user)
    return _sign_in_complete(
        request, user, method="password", methods=list(AMR_PASSWORD), keys=keys
    )


def _recovery_code_use(user: User, code: str) -> bool:
    cleaned = code.strip()
    if not cleaned or len(cleaned) > 64:
        return False
    candidate = RecoveryCode.objects.filter(
        user=user, code_hash=recovery_code_hash(cleaned), used_at__isnull=True
    ).first()
    if candidate is None:
        return False
    # The conditional update makes the code single use even under concurrent requests.
    used = RecoveryCode.objects.filter(pk=candidate.pk, used_at__isnull=True).update(
        used_at=timezone.now()
    )
    return used == 1


def _totp_use(user: User, code: str, *, confirmed: bool = True) -> bool:
    """Accept a TOTP code once: its time step must be later than the last one used."""
    device = (
        TOTPDevice.objects.select_for_update()
        .filter(user=user, confirmed_at__isnull=not confirmed)
        .first()
    )
    if device is None:
        return False
    step = totp_matching_step(secret=device.secret, code=code)
    if step is None or step <= device.last_used_step:
        return False
    device.last_used_step = step
    device.save(update_fields=["last_used_step", "updated_at"])
    return True


def sign_in_second_factor(*, request: HttpRequest, code: str) -> SignInOutcome:
    """Finish a pending sign-in with an authenticator code or a recovery code.

    Five wrong codes end the pending sign-in; each wrong code also counts against the
    account's throttle, so restarting the sign-in does not give unlimited guesses.
    """
    user = sign_in_pending_user(request=request)
    if user is None:
        return SignInOutcome(status="ended")
    keys = _attempt_keys(request, user.email)
    method = ""
    if not _throttled_scopes(keys) and len(code) <= 64:
        with transaction.atomic():
            cleaned = totp_code_clean(code)
            if cleaned.isascii() and cleaned.isdigit():
                if _totp_use(user, cleaned):
                    method = "totp"
            elif _recovery_code_use(user, code):
                method = "recovery_code"
                audit_event_record(action="accounts.mfa.recovery_code_used", actor=user, obj=user)
    if method:
        return _sign_in_complete(
            request, user, method=method, methods=list(AMR_PASSWORD_OTP), keys=keys
        )
    return _second_factor_failed(request, user, keys)


def _second_factor_failed(request: HttpRequest, user: User, keys: _AttemptKeys) -> SignInOutcome:
    """Count a wrong second factor; end the pending sign-in after five."""
    _attempt_record(keys, user=user, kind="second_factor")
    failures = int(request.session.get(PENDING_FAILURES_KEY, 0)) + 1
    if failures >= SECOND_FACTOR_MAX_FAILURES:
        _pending_clear(request.session)
        with transaction.atomic():
            audit_event_record(action="accounts.sign_in.second_factor_locked", actor=None, obj=user)
        return SignInOutcome(status="ended", user=user)
    request.session[PENDING_FAILURES_KEY] = failures
    return SignInOutcome(status="wrong_code", user=user)


def sign_out(*, request: HttpRequest) -> None:
    """End the current session (and its entry on the sessions page)."""
    user = request.user
    key = request.session.session_key
    with transaction.atomic():
        if isinstance(user, User) and user.is_authenticated:
            if key:
                UserSession.objects.filter(session_key=key, ended_at__isnull=True).update(
                    ended_at=timezone.now()
                )
            audit_event_record(action="accounts.signed_out", actor=user, obj=user)
        logout(request)


def session_expire(*, request: HttpRequest, reason: str) -> None:
    """Sign the person out because their session timed out or was ended elsewhere."""
    user = request.user
    key = request.session.session_key
    with transaction.atomic():
        if key:
            UserSession.objects.filter(session_key=key, ended_at__isnull=True).update(
                ended_at=timezone.now()
            )
        if isinstance(user, User) and user.is_authenticated:
            audit_event_record(
                action="accounts.session.expired", actor=None, obj=user, data={"reason": reason}
            )
        logout(request)
    request.session[SESSION_TIMED_OUT_KEY] = True


def sessions_end_others(*, request: HttpRequest, user: User) -> int:
    """Sign ``user`` out of every session but this one; return how many ended."""
    if not user.is_authenticated or request.user.pk != user.pk:
        raise PermissionDenied()
    with transaction.atomic():
        ended = _sessions_end(user=user, keep_session_key=request.session.session_key)
        audit_event_record(
            action="accounts.sessions.ended_others",
            actor=user,
            obj=user,
            data={"sessions_ended": ended},
        )
    return ended


# --- Second factor enrolment ----------------------------------------------------------


def mfa_enrolment_start(*, user: User) -> TOTPDevice:
    """Return the authenticator app being set up for ``user``, making a secret if needed."""
    if not user.is_authenticated or not user.is_active:
        raise PermissionDenied()
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().filter(user=user).first()
        if device is not None and device.confirmed_at is not None:
            raise PermissionDenied(_("You have already set up an authenticator app."))
        if device is None:
            device = TOTPDevice.objects.create(user=user, secret=totp_secret_new())
            audit_event_record(action="accounts.mfa.enrolment_started", actor=user, obj=user)
        return device


def _recovery_codes_replace(user: User) -> list[str]:
    codes = recovery_codes_new()
    RecoveryCode.objects.filter(user=user).delete()
    RecoveryCode.objects.bulk_create(
        RecoveryCode(user=user, code_hash=recovery_code_hash(code)) for code in codes
    )
    return codes


def mfa_enrolment_confirm(*, request: HttpRequest, user: User, code: str) -> list[str]:
    """Confirm the authenticator app with a code from it; return ten new recovery codes.

    The session then counts as having passed the second factor, and gets a new id.
    """
    if not user.is_authenticated or not user.is_active or request.user.pk != user.pk:
        raise PermissionDenied()
    if _rate_limited(f"mfa-confirm:{user.pk}", _REAUTH_LIMIT):
        raise RateLimited()
    with transaction.atomic():
        if not _totp_use(user, code, confirmed=False):
            raise _invalid("code", _("Enter the 6-digit code shown in your authenticator app"))
        TOTPDevice.objects.filter(user=user).update(confirmed_at=timezone.now())
        codes = _recovery_codes_replace(user)
        audit_event_record(action="accounts.mfa.enrolled", actor=user, obj=user)
        request.session[MFA_VERIFIED_KEY] = True
        request.session.pop(MFA_SETUP_REQUIRED_KEY, None)
        _session_key_rotate(request, request.session.cycle_key)
        email_send_on_commit(name="mfa_added", to=user.email, preferred=user.preferred_language)
    return codes


def mfa_recovery_codes_regenerate(*, request: HttpRequest, user: User, password: str) -> list[str]:
    """Replace the recovery codes of ``user`` (needs the password); return the new ones.

    Only in a session that passed the second factor: a password alone must never be
    enough to mint codes that then stand in for the authenticator app.
    """
    if not user.is_authenticated or not user.is_active or not user.has_totp:
        raise PermissionDenied()
    if not request.session.get(MFA_VERIFIED_KEY):
        raise PermissionDenied(_("Sign in again with your authenticator app to do this."))
    _reauthenticate(user=user, password=password)
    with transaction.atomic():
        codes = _recovery_codes_replace(user)
        audit_event_record(action="accounts.mfa.recovery_codes_replaced", actor=user, obj=user)
    return codes


def mfa_remove(*, request: HttpRequest, user: User, password: str) -> None:
    """Remove the authenticator app and recovery codes (needs the password).

    Staff must keep a second factor: they may remove the app only when they have a passkey.
    This session loses what the app gave it ("otp", and "mfa" with the MFA flag unless a
    passkey was used in it too), and the person's other sessions end, as after a password
    change.
    """
    if not user.is_authenticated or request.user.pk != user.pk:
        raise PermissionDenied()
    if user.mfa_required and not user.has_passkey:
        raise PermissionDenied(_("Staff accounts must keep an authenticator app or a passkey."))
    if not user.has_totp:
        raise NotFound()
    _reauthenticate(user=user, password=password)
    with transaction.atomic():
        # Lock the passkeys as passkey_remove does, so the two cannot together leave a
        # member of staff with neither.
        if user.mfa_required and not list(Passkey.objects.select_for_update().filter(user=user)):
            raise PermissionDenied(_("Staff accounts must keep an authenticator app or a passkey."))
        TOTPDevice.objects.filter(user=user).delete()
        RecoveryCode.objects.filter(user=user).delete()
        _session_factor_forget(request, methods=AMR_FROM_APP)
        ended = _sessions_end(user=user, keep_session_key=request.session.session_key)
        audit_event_record(
            action="accounts.mfa.removed",
            actor=user,
            obj=user,
            data={"sessions_ended": ended},
        )
        email_send_on_commit(name="mfa_removed", to=user.email, preferred=user.preferred_language)


# --- Authentication state of a session: amr, auth_time, step-up ------------------------


def _session_authenticated(
    request: HttpRequest, *, methods: tuple[str, ...] | list[str], mfa: bool
) -> None:
    """Add ``methods`` to the session's amr, set auth_time to now, and rotate the session id."""
    current = request.session.get(AUTH_METHODS_KEY) or []
    merged = list(current) if isinstance(current, list) else []
    for method in methods:
        if method not in merged:
            merged.append(method)
    request.session[AUTH_METHODS_KEY] = merged
    request.session[AUTH_TIME_KEY] = int(time.time())
    if mfa:
        request.session[MFA_VERIFIED_KEY] = True
    _session_key_rotate(request, request.session.cycle_key)


def _session_factor_forget(request: HttpRequest, *, methods: tuple[str, ...]) -> None:
    """Take a removed factor's ``methods`` off this session's amr.

    Without a second factor left among the methods, "mfa" and the MFA flag go too, so the
    session falls to the level its remaining methods give (a member of staff with another
    factor steps up with it). A session from before methods were recorded is read as the
    level selectors read it: a password, and an app code when the MFA flag is set.
    """
    current = request.session.get(AUTH_METHODS_KEY)
    if current is None:
        current = list(AMR_PASSWORD_OTP if request.session.get(MFA_VERIFIED_KEY) else AMR_PASSWORD)
    kept = (
        [item for item in current if isinstance(item, str) and item not in methods]
        if isinstance(current, list)
        else []
    )
    if not any(item in kept for item in AMR_SECOND_FACTORS):
        kept = [item for item in kept if item != "mfa"]
        request.session[MFA_VERIFIED_KEY] = False
    request.session[AUTH_METHODS_KEY] = kept


def session_recently_authenticated(*, request: HttpRequest) -> bool:
    """Return True when the person in this session authenticated in the last ten minutes."""
    auth_time = request.session.get(AUTH_TIME_KEY)
    return isinstance(auth_time, int) and time.time() - auth_time <= RECENT_AUTH_SECONDS


def _own_session(request: HttpRequest, user: User) -> None:
    if not user.is_authenticated or not user.is_active or request.user.pk != user.pk:
        raise PermissionDenied()


def reauthenticate(*, request: HttpRequest, user: User, password: str) -> None:
    """Check the signed-in person's password again and mark the session as just authenticated.

    Adds "pwd" to the session's methods and sets auth_time to now (OpenID Connect's
    ``prompt=login`` and ``max_age``, and pages that need a recent sign-in, use this).
    """
    _own_session(request, user)
    _reauthenticate(user=user, password=password)
    with transaction.atomic():
        _session_authenticated(request, methods=AMR_PASSWORD, mfa=False)
        audit_event_record(action="accounts.reauthenticated", actor=user, obj=user)


def step_up_code(*, request: HttpRequest, user: User, code: str) -> None:
    """Raise the signed-in session with an authenticator code or a recovery code.

    Adds "otp" and "mfa" to the session's methods, sets auth_time to now and marks the
    second factor as passed. Wrong codes count against the account's sign-in throttle.
    """
    _own_session(request, user)
    if not user.has_totp:
        raise PermissionDenied(_("You have not set up an authenticator app."))
    keys = _attempt_keys(request, user.email)
    if _throttled_scopes(keys) or _rate_limited(f"step-up:{user.pk}", _STEP_UP_LIMIT):
        raise RateLimited()
    method = ""
    if len(code) <= 64:
        with transaction.atomic():
            cleaned = totp_code_clean(code)
            if cleaned.isascii() and cleaned.isdigit():
                if _totp_use(user, cleaned):
                    method = "totp"
            elif _recovery_code_use(user, code):
                method = "recovery_code"
                audit_event_record(action="accounts.mfa.recovery_code_used", actor=user, obj=user)
    if not method:
        _attempt_record(keys, user=user, kind="step_up")
        raise _invalid(
            "code",
            _(
                "The code is not correct. Enter the code from your authenticator app "
                "or a recovery code"
            ),
        )
    with transaction.atomic():
        _session_authenticated(request, methods=("otp", "mfa"), mfa=True)
        audit_event_record(
            action="accounts.stepped_up", actor=user, obj=user, data={"method": method}
        )


# --- Passkeys ------------------------------------------------------------------------------


def _stored(credentials: QuerySet[Passkey]) -> list[passkeys.StoredCredential]:
    return [
        passkeys.StoredCredential(credential_id=row.credential_id, transports=list(row.transports))
        for row in credentials
    ]


def _passkey_name_clean(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise _invalid("name", _("Enter a name for your passkey"))
    if len(cleaned) > 100:
        raise _invalid("name", _("Name must be 100 characters or fewer"))
    if _has_control_characters(cleaned):
        raise _invalid("name", _("Name must only include letters, numbers, spaces and marks"))
    return cleaned


def passkey_name_validate(*, name: str) -> str:
    """Validate a name for a passkey; return it with spaces tidied."""
    return _passkey_name_clean(name)


def _passkey_change_allowed(request: HttpRequest, user: User) -> None:
    _own_session(request, user)
    if user.has_mfa and not request.session.get(MFA_VERIFIED_KEY):
        raise PermissionDenied(_("Sign in again with your second factor to do this."))
    if not session_recently_authenticated(request=request):
        raise PermissionDenied(_("Confirm it is you before you change your passkeys."))


def passkey_registration_begin(*, request: HttpRequest, user: User) -> str:
    """Return the options for adding a passkey (JSON) and keep the challenge in the session.

    Needs a recent authentication in a session that passed the second factor, if any.
    """
    _passkey_change_allowed(request, user)
    return passkeys.registration_options(
        request.session,
        user_id=user.pk,
        user_name=user.email,
        display_name=user.full_name,
        existing=_stored(Passkey.objects.filter(user=user)),
    )


def passkey_register(*, request: HttpRequest, user: User, credential: Any, name: str) -> Passkey:
    """Verify the browser's new credential against the session's challenge and store it.

    The challenge works once. Emails the person. A member of staff who had no second
    factor can use the back office afterwards: the passkey is their second factor.
    """
    _passkey_change_allowed(request, user)
    cleaned_name = _passkey_name_clean(name)
    challenge = passkeys.challenge_take(request.session, purpose="register", user_id=str(user.pk))
    new = passkeys.registration_verify(credential=credential, challenge=challenge)
    with transaction.atomic():
        if Passkey.objects.filter(credential_id=new.credential_id).exists():
            raise passkeys.PasskeyRefused(_("This passkey is already registered."))
        try:
            with transaction.atomic():
                passkey = _passkey_create(user, new, cleaned_name)
        except IntegrityError as exc:
            raise passkeys.PasskeyRefused(_("This passkey is already registered.")) from exc
        audit_event_record(
            action="accounts.passkey.added",
            actor=user,
            obj=passkey,
            data={"user": str(user.pk), "aaguid": new.aaguid},
        )
        request.session[MFA_VERIFIED_KEY] = True
        request.session.pop(MFA_SETUP_REQUIRED_KEY, None)
        _session_key_rotate(request, request.session.cycle_key)
        email_send_on_commit(
            name="passkey_added",
            to=user.email,
            preferred=user.preferred_language,
            context={"passkey_name": cleaned_name},
        )
    return passkey


def _passkey_create(user: User, new: passkeys.NewCredential, name: str) -> Passkey:
    return Passkey.objects.create(
        user=user,
        credential_id=new.credential_id,
        public_key=new.public_key,
        sign_count=new.sign_count,
        transports=new.transports,
        aaguid=new.aaguid,
        backup_eligible=new.backup_eligible,
        backup_state=new.backup_state,
        name=name,
    )


def _own_passkey(user: User, passkey_id: Any) -> Passkey:
    passkey = Passkey.objects.select_for_update().filter(pk=passkey_id, user=user).first()
    if passkey is None:
        raise NotFound()
    return passkey


def passkey_rename(*, request: HttpRequest, user: User, passkey_id: Any, name: str) -> Passkey:
    """Give one of the signed-in person's passkeys a new name."""
    _own_session(request, user)
    cleaned = _passkey_name_clean(name)
    with transaction.atomic():
        passkey = _own_passkey(user, passkey_id)
        if passkey.name == cleaned:
            return passkey
        passkey.name = cleaned
        passkey.save(update_fields=["name", "updated_at"])
        audit_event_record(action="accounts.passkey.renamed", actor=user, obj=passkey)
    return passkey


def passkey_remove(*, request: HttpRequest, user: User, passkey_id: Any) -> None:
    """Remove one of the signed-in person's passkeys (needs a recent authentication).

    Staff must keep a second factor: their last passkey cannot go unless they have an
    authenticator app. This session loses what a passkey gave it ("hwk" and "user", and
    "mfa" with the MFA flag unless an app code was used in it too): which passkey it used
    is not recorded, so removing any of them counts. The person's other sessions end, as
    after a password change. Emails the person.
    """
    _passkey_change_allowed(request, user)
    with transaction.atomic():
        # Lock the person's passkeys so two removals cannot both leave staff with none.
        mine = list(Passkey.objects.select_for_update().filter(user=user))
        passkey = next((row for row in mine if str(row.pk) == str(passkey_id)), None)
        if passkey is None:
            raise NotFound()
        has_app = TOTPDevice.objects.filter(user=user, confirmed_at__isnull=False).exists()
        if user.mfa_required and len(mine) == 1 and not has_app:
            raise PermissionDenied(
                _(
                    "Staff accounts must keep a passkey or an authenticator app. "
                    "Set up another one before you remove this passkey."
                )
            )
        name = passkey.name
        passkey_pk = str(passkey.pk)
        passkey.delete()
        _session_factor_forget(request, methods=AMR_FROM_PASSKEY)
        ended = _sessions_end(user=user, keep_session_key=request.session.session_key)
        audit_event_record(
            action="accounts.passkey.removed",
            actor=user,
            object_type="accounts.passkey",
            object_id=passkey_pk,
            data={"user": str(user.pk), "sessions_ended": ended},
        )
        email_send_on_commit(
            name="passkey_removed",
            to=user.email,
            preferred=user.preferred_language,
            context={"passkey_name": name},
        )


def _passkey_assertion_check(
    *,
    request: HttpRequest,
    purpose: passkeys.Purpose,
    credential: Any,
    user: User | None,
    require_user_verification: bool,
) -> tuple[Passkey, passkeys.VerifiedAssertion]:
    """Verify an assertion for ``purpose`` and move the passkey's counter on.

    With ``user`` only that person's passkeys are accepted. Raises PasskeyRefused (nothing
    changed) for a malformed, unknown, foreign, replayed or otherwise wrong assertion.
    """
    challenge = passkeys.challenge_take(
        request.session, purpose=purpose, user_id=str(user.pk) if user else ""
    )
    parsed = passkeys.assertion_parse(credential)
    with transaction.atomic():
        passkey = (
            Passkey.objects.select_for_update()
            .select_related("user")
            .filter(credential_id=parsed.id)
            .first()
        )
        if passkey is None or (user is not None and passkey.user_id != user.pk):
            raise passkeys.PasskeyRefused(passkeys.PASSKEY_NOT_ACCEPTED)
        handle = parsed.response.user_handle
        if handle is not None and handle != passkeys.user_handle(passkey.user_id):
            raise passkeys.PasskeyRefused(passkeys.PASSKEY_NOT_ACCEPTED)
        verified: passkeys.VerifiedAssertion | None = None
        with contextlib.suppress(passkeys.CounterRegressed):
            verified = passkeys.assertion_verify(
                parsed=parsed,
                challenge=challenge,
                public_key=bytes(passkey.public_key),
                sign_count=passkey.sign_count,
                require_user_verification=require_user_verification,
            )
        if verified is not None:
            passkey.sign_count = verified.sign_count
            passkey.backup_state = verified.backup_state
            passkey.last_used_at = timezone.now()
            passkey.save(update_fields=["sign_count", "backup_state", "last_used_at", "updated_at"])
    if verified is None:
        # A cloned authenticator is the likely cause: worth a line in the audit log. Only
        # a correctly signed assertion gets here, so forged ones cannot flood the log.
        with transaction.atomic():
            audit_event_record(
                action="accounts.passkey.counter_regressed",
                actor=None,
                obj=passkey,
                data={"user": str(passkey.user_id)},
            )
        raise passkeys.CounterRegressed(passkeys.PASSKEY_NOT_ACCEPTED)
    return passkey, verified


def passkey_sign_in_begin(*, request: HttpRequest) -> str:
    """Return the options for signing in with a passkey alone (JSON); keep the challenge."""
    return passkeys.authentication_options(request.session, purpose="sign_in")


def sign_in_passkey(*, request: HttpRequest, credential: Any) -> SignInOutcome:
    """Sign someone in with a discoverable passkey and no password.

    Needs user verification (the passkey's PIN or biometric), so it counts as two factors.
    Throttled like the password page: by address first, then by account once the passkey
    is known. Every failure gives the same ``failed`` outcome.
    """
    unknown_keys = _attempt_keys(request, "passkey:unknown")
    if "address" in _throttled_scopes(unknown_keys):
        _attempt_record(unknown_keys, user=None, kind="passkey")
        return SignInOutcome(status="failed")
    try:
        parsed = passkeys.assertion_parse(credential)
    except passkeys.PasskeyRefused:
        request.session.pop(passkeys.CHALLENGE_KEY, None)
        _attempt_record(unknown_keys, user=None, kind="passkey")
        return SignInOutcome(status="failed")
    owner = (
        User.objects.filter(passkeys__credential_id=parsed.id, is_active=True)
        .only("pk", "email")
        .first()
    )
    keys = _attempt_keys(request, owner.email) if owner is not None else unknown_keys
    if owner is None or _throttled_scopes(keys):
        request.session.pop(passkeys.CHALLENGE_KEY, None)
        _attempt_record(keys, user=owner, kind="passkey")
        return SignInOutcome(status="failed")
    try:
        passkey, _verified = _passkey_assertion_check(
            request=request,
            purpose="sign_in",
            credential=credential,
            user=None,
            require_user_verification=True,
        )
    except passkeys.PasskeyRefused:
        _attempt_record(keys, user=owner, kind="passkey")
        return SignInOutcome(status="failed")
    user = User.objects.filter(pk=passkey.user_id, is_active=True).first()
    if user is None:
        return SignInOutcome(status="failed")
    return _sign_in_complete(
        request,
        user,
        method="passkey",
        methods=list(AMR_PASSKEY),
        keys=keys,
        data={"passkey": str(passkey.pk)},
    )


def passkey_second_factor_begin(*, request: HttpRequest) -> str:
    """Return the options for using a passkey after the password (JSON); keep the challenge.

    Raises PermissionDenied when no sign-in is pending or the person has no passkey.
    """
    user = sign_in_pending_user(request=request)
    if user is None or not user.has_passkey:
        raise PermissionDenied()
    return passkeys.authentication_options(
        request.session,
        purpose="second_factor",
        user_id=str(user.pk),
        allowed=_stored(Passkey.objects.filter(user=user)),
    )


def sign_in_second_factor_passkey(*, request: HttpRequest, credential: Any) -> SignInOutcome:
    """Finish a pending sign-in with one of the person's passkeys.

    Failures count like wrong codes: five end the pending sign-in.
    """
    user = sign_in_pending_user(request=request)
    if user is None:
        return SignInOutcome(status="ended")
    keys = _attempt_keys(request, user.email)
    if not _throttled_scopes(keys):
        try:
            passkey, _verified = _passkey_assertion_check(
                request=request,
                purpose="second_factor",
                credential=credential,
                user=user,
                require_user_verification=False,
            )
        except passkeys.PasskeyRefused:
            pass
        else:
            return _sign_in_complete(
                request,
                user,
                method="passkey_second_factor",
                methods=list(AMR_PASSWORD_PASSKEY),
                keys=keys,
                data={"passkey": str(passkey.pk)},
            )
    return _second_factor_failed(request, user, keys)


def passkey_step_up_begin(*, request: HttpRequest, user: User) -> str:
    """Return the options for confirming the signed-in person with a passkey (JSON)."""
    _own_session(request, user)
    if not user.has_passkey:
        raise PermissionDenied(_("You have not added a passkey."))
    return passkeys.authentication_options(
        request.session,
        purpose="step_up",
        user_id=str(user.pk),
        allowed=_stored(Passkey.objects.filter(user=user)),
    )


def step_up_passkey(*, request: HttpRequest, user: User, credential: Any) -> None:
    """Raise the signed-in session with one of the person's own passkeys.

    Adds "hwk" and "mfa" (and "user" when the passkey verified the person) to the
    session's methods, sets auth_time to now and marks the second factor as passed.
    """
    _own_session(request, user)
    if _rate_limited(f"step-up:{user.pk}", _STEP_UP_LIMIT):
        raise RateLimited()
    keys = _attempt_keys(request, user.email)
    if _throttled_scopes(keys):
        raise RateLimited()
    try:
        passkey, verified = _passkey_assertion_check(
            request=request,
            purpose="step_up",
            credential=credential,
            user=user,
            require_user_verification=False,
        )
    except passkeys.PasskeyRefused:
        _attempt_record(keys, user=user, kind="step_up")
        raise
    methods = ("hwk", "user", "mfa") if verified.user_verified else ("hwk", "mfa")
    with transaction.atomic():
        _session_authenticated(request, methods=methods, mfa=True)
        audit_event_record(
            action="accounts.stepped_up",
            actor=user,
            obj=user,
            data={"method": "passkey", "passkey": str(passkey.pk)},
        )


# --- Staff, agencies, disabling accounts ----------------------------------------------


def _may_administer(actor: Any, agency: Agency) -> bool:
    from civicstack.accounts.selectors import roles_in_agency, user_is_platform_admin

    if not getattr(actor, "is_authenticated", False) or not actor.is_active:
        return False
    if user_is_platform_admin(user=actor):
        return True
    return bool(actor.is_staff and Role.AGENCY_ADMIN in roles_in_agency(user=actor, agency=agency))


def staff_membership_grant(*, user: User, agency: Agency, role: str, actor: Any) -> StaffMembership:
    """Give ``user`` a role in ``agency`` (making them staff); return the membership.

    Agency admins may grant roles in their own agency; platform admins anywhere. Only
    platform admins may make platform admins. Granting a role already held changes nothing.
    """
    from civicstack.accounts.selectors import user_is_platform_admin

    if role not in Role.values:
        raise _invalid("role", _("Select a role"))
    if not _may_administer(actor, agency):
        raise PermissionDenied()
    if role == Role.PLATFORM_ADMIN and not user_is_platform_admin(user=actor):
        raise PermissionDenied()
    if not user.is_active:
        raise _invalid("user", _("This account is disabled"))
    with transaction.atomic():
        membership, created = StaffMembership.objects.get_or_create(
            user=user, agency=agency, role=role
        )
        if not created:
            return membership
        if not user.is_staff:
            User.objects.filter(pk=user.pk).update(is_staff=True)
            user.is_staff = True
        audit_event_record(
            action="accounts.staff_membership.granted",
            actor=actor,
            obj=membership,
            data={"user": str(user.pk), "agency": str(agency.pk), "role": role},
        )
        return membership


def staff_membership_revoke(*, user: User, agency: Agency, role: str, actor: Any) -> bool:
    """Take a role in ``agency`` away from ``user``; return False if they did not hold it.

    Someone left with no role at all stops being staff (unless a superuser).
    """
    from civicstack.accounts.selectors import user_is_platform_admin

    if not _may_administer(actor, agency):
        raise PermissionDenied()
    if role == Role.PLATFORM_ADMIN and not user_is_platform_admin(user=actor):
        raise PermissionDenied()
    with transaction.atomic():
        membership = (
            StaffMembership.objects.select_for_update()
            .filter(user=user, agency=agency, role=role)
            .first()
        )
        if membership is None:
            return False
        membership_id = str(membership.pk)
        membership.delete()
        if not user.is_superuser and not StaffMembership.objects.filter(user=user).exists():
            User.objects.filter(pk=user.pk).update(is_staff=False)
            user.is_staff = False
        audit_event_record(
            action="accounts.staff_membership.revoked",
            actor=actor,
            object_type="accounts.staffmembership",
            object_id=membership_id,
            data={"user": str(user.pk), "agency": str(agency.pk), "role": role},
        )
        return True


def _may_disable(actor: Any, user: User) -> bool:
    from civicstack.accounts.selectors import user_is_platform_admin

    if not getattr(actor, "is_authenticated", False) or actor.pk == user.pk:
        return False
    if user_is_platform_admin(user=actor):
        return True
    if user.is_superuser or user_is_platform_admin(user=user):
        return False
    agencies = Agency.objects.filter(memberships__user=user).distinct()
    return any(_may_administer(actor, agency) for agency in agencies)


def user_disable(*, user: User, actor: Any, reason: str) -> int:
    """Disable an account and end all its sessions; return how many sessions ended.

    Platform admins may disable anyone but themselves; agency admins, the staff of their
    own agency (not platform admins). A reason is required and kept in the audit log.
    """
    if not _may_disable(actor, user):
        raise PermissionDenied()
    reason = " ".join(reason.split())
    if not reason or len(reason) > 1000:
        raise _invalid("reason", _("Enter why the account is being disabled"))
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(is_active=False)
        user.is_active = False
        ended = _sessions_end(user=user)
        audit_event_record(
            action="accounts.user.disabled",
            actor=actor,
            obj=user,
            reason=reason,
            data={"sessions_ended": ended},
        )
    return ended


def user_enable(*, user: User, actor: Any, reason: str) -> None:
    """Enable a disabled account again (same permissions as disabling)."""
    if not _may_disable(actor, user):
        raise PermissionDenied()
    reason = " ".join(reason.split())
    if not reason or len(reason) > 1000:
        raise _invalid("reason", _("Enter why the account is being enabled"))
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(is_active=True)
        user.is_active = True
        audit_event_record(action="accounts.user.enabled", actor=actor, obj=user, reason=reason)


# --- Demo people ----------------------------------------------------------------------


@dataclass(frozen=True)
class DemoPerson:
    """One demo account: who it is and, for staff, their role and agency."""

    email: str
    full_name: str
    description: str
    role: str = ""
    agency: Agency | None = None


@dataclass(frozen=True)
class DemoLoadReport:
    """How many demo people were created (0 on a second run)."""

    created: int


def _demo_people() -> list[DemoPerson]:
    people = [DemoPerson(email=DEMO_CITIZEN_EMAIL, full_name="Alex Citizen", description="Citizen")]
    agencies = list(Agency.objects.order_by("slug")[:DEMO_AGENCY_COUNT])
    for number, agency in enumerate(agencies, start=1):
        suffix = "" if number == 1 else f"-{number}"
        for role, prefix, label in _DEMO_STAFF_ROLES:
            people.append(
                DemoPerson(
                    email=f"{prefix}{suffix}@example.org",
                    full_name=f"Demo {label}{' ' + str(number) if number > 1 else ''}",
                    description=f"{label}, {agency.name_en}",
                    role=role,
                    agency=agency,
                )
            )
    people.append(
        DemoPerson(
            email=DEMO_PLATFORM_ADMIN_EMAIL,
            full_name="Demo Platform admin",
            description="Platform admin",
            role=Role.PLATFORM_ADMIN,
            agency=agencies[0] if agencies else None,
        )
    )
    return people


def demo_account_emails() -> set[str]:
    """Return the addresses of the demo people for the agencies now in the database."""
    return {person.email for person in _demo_people()}


def accounts_demo_load() -> DemoLoadReport:
    """Create the demo citizen, staff for the first agencies and a platform admin.

    Idempotent: a second run creates nothing and records nothing. Refused in production.
    Every demo account has the password ``DEMO_PASSWORD``; staff have a confirmed
    authenticator app with the secret ``DEMO_TOTP_SECRET``.
    """
    if settings.PRODUCTION:
        raise PermissionDenied(_("Demo people are never created in production."))
    created = 0
    now = timezone.now()
    with transaction.atomic():
        for person in _demo_people():
            staff = bool(person.role)
            user = User.objects.filter(email=person.email).first()
            if user is None:
                user = User.objects.create_user(
                    person.email,
                    DEMO_PASSWORD,
                    full_name=person.full_name,
                    is_staff=staff,
                    is_superuser=person.role == Role.PLATFORM_ADMIN,
                    email_verified_at=now,
                    password_changed_at=now,
                )
                created += 1
                audit_event_record(
                    action="accounts.user.demo_created", actor=None, obj=user, data={"demo": True}
                )
            if not staff:
                continue
            if person.agency is not None:
                membership, made = StaffMembership.objects.get_or_create(
                    user=user, agency=person.agency, role=person.role
                )
                if made:
                    audit_event_record(
                        action="accounts.staff_membership.granted",
                        actor=None,
                        obj=membership,
                        data={
                            "user": str(user.pk),
                            "agency": str(person.agency.pk),
                            "role": person.role,
                        },
                    )
            if not TOTPDevice.objects.filter(user=user).exists():
                TOTPDevice.objects.create(user=user, secret=DEMO_TOTP_SECRET, confirmed_at=now)
                audit_event_record(action="accounts.mfa.enrolled", actor=None, obj=user)
    return DemoLoadReport(created=created)


def demo_sign_ins() -> list[tuple[str, str, str]]:
    """Return (description, email, password) for each demo person in the database."""
    if settings.PRODUCTION:
        return []
    people = _demo_people()
    emails = [person.email for person in people]
    existing = list(User.objects.filter(email__in=emails).values_list("email", flat=True))
    return [(p.description, p.email, DEMO_PASSWORD) for p in people if p.email in existing]


def demo_totp_code(*, email: str) -> str:
    """Return the current authenticator code of a demo member of staff.

    Refused in production, and for anyone who is not a demo account with the demo secret.
    """
    if settings.PRODUCTION:
        raise PermissionDenied(_("Demo codes are never shown in production."))
    cleaned = normalise_email(email)
    device = TOTPDevice.objects.filter(
        user__email=cleaned, confirmed_at__isnull=False, secret=DEMO_TOTP_SECRET
    ).first()
    if device is None or cleaned not in demo_account_emails():
        raise PermissionDenied(_("That is not a demo staff account."))
    return totp_code_at(secret=device.secret, step=totp_current_step())


# --- API keys ---------------------------------------------------------------------------


def api_key_create(
    *, agency: Agency, name: str, scopes: list[str], actor: Any, user: User | None = None
) -> tuple[ApiKey, str]:
    """Make an API key for ``agency``; return it and the secret, which is shown only once.

    The secret reads ``cs_<prefix>_<random>``; the prefix finds the key without a scan.
    With ``user`` it is a personal key: it acts as that member of staff (who must be active
    staff of ``agency``), and only they may make it. The case scopes need a personal key.
    """
    from civicstack.accounts.constants import API_KEY_PREFIX, API_PERSONAL_SCOPES, API_SCOPES

    if actor is not None:
        if user is not None:
            # A key acting as someone else would let its maker act as them.
            if getattr(actor, "pk", None) != user.pk or not actor.is_active:
                raise PermissionDenied(_("Only the person a personal key acts for can make it."))
        elif not _may_administer(actor, agency):
            raise PermissionDenied()
    errors: dict[str, list[str | Promise]] = {}
    name = name.strip()
    if not name or len(name) > 100:
        errors["name"] = [_("Enter a name of up to 100 characters")]
    unknown = sorted(set(scopes) - set(API_SCOPES))
    if unknown or not scopes:
        errors["scopes"] = [_("Choose at least one known scope")]
    elif user is None and set(scopes) & API_PERSONAL_SCOPES:
        errors["scopes"] = [
            _("The case scopes need a personal key: choose the member of staff it acts for")
        ]
    if user is not None and not (
        user.is_active
        and user.is_staff
        and StaffMembership.objects.filter(user=user, agency=agency).exists()
    ):
        errors["user"] = [_("A personal key must act for an active member of staff of the agency")]
    if errors:
        raise ValidationFailed(field_errors=errors)
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    with transaction.atomic():
        key = ApiKey.objects.create(
            agency=agency,
            user=user,
            name=name,
            prefix=prefix,
            secret_hash=hashlib.sha256(secret.encode()).hexdigest(),
            scopes=sorted(set(scopes)),
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        audit_event_record(
            action="accounts.api_key_created",
            actor=actor,
            obj=key,
            data={"scopes": key.scopes, "user": str(user.pk) if user is not None else ""},
        )
    return key, f"{API_KEY_PREFIX}_{prefix}_{secret}"


def api_key_revoke(*, key: ApiKey, actor: Any) -> None:
    """Stop ``key`` working at once (the agency's admins, or the person a key acts for)."""
    if (
        actor is not None
        and not _may_administer(actor, key.agency)
        and not (key.user_id is not None and key.user_id == getattr(actor, "pk", None))
    ):
        raise PermissionDenied()
    with transaction.atomic():
        ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        audit_event_record(action="accounts.api_key_revoked", actor=actor, obj=key)
