"""Session policy: idle and absolute time-outs, sessions ended elsewhere, staff MFA set-up."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import Resolver404, resolve, reverse
from django.utils import timezone

from civicstack.accounts.constants import (
    MFA_SETUP_REQUIRED_KEY,
    SESSION_SEEN_KEY,
    SESSION_STARTED_KEY,
)
from civicstack.accounts.models import User, UserSession
from civicstack.accounts.services import session_expire

# Kept as names here too: other code imported them from this module before constants held them.
__all__ = ["SESSION_SEEN_KEY", "SESSION_STARTED_KEY", "SessionPolicyMiddleware"]

# Write the last-seen time at most once a minute, so reading pages does not write each time.
_SEEN_RESOLUTION = 60
# Pages a member of staff may use before setting up their second factor.
_MFA_SETUP_PAGES = frozenset(
    {
        "accounts:mfa-setup",
        "accounts:mfa-recovery-codes",
        "accounts:sign-out",
        "accounts:passkey-add",
        "accounts:passkey-add-options",
        "accounts:reauthenticate",
    }
)


def _url_name(request: HttpRequest) -> str:
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return ""
    return match.view_name


class SessionPolicyMiddleware:
    """Sign a person out after idle or absolute time-outs, or when the session was ended.

    Sessions are ended elsewhere by "sign out everywhere else", a password change or reset,
    and by staff disabling the account. A member of staff who signed in without a second
    factor can only reach the set-up pages until they have one.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            redirect = self._apply_policy(request)
            if redirect is not None:
                return redirect
        return self.get_response(request)

    def _apply_policy(self, request: HttpRequest) -> HttpResponse | None:
        user = request.user
        session = request.session
        now = int(time.time())
        started = session.get(SESSION_STARTED_KEY, now)
        seen = session.get(SESSION_SEEN_KEY, now)
        key = session.session_key or ""
        record = (
            UserSession.objects.filter(session_key=key).values("id", "ended_at").first()
            if key
            else None
        )
        reason = ""
        if not user.is_active:
            reason = "disabled"
        elif record is not None and record["ended_at"] is not None:
            reason = "ended"
        elif now - int(started) > settings.SESSION_ABSOLUTE_TIMEOUT:
            reason = "absolute_timeout"
        elif now - int(seen) > settings.SESSION_IDLE_TIMEOUT:
            reason = "idle_timeout"
        if reason:
            session_expire(request=request, reason=reason)
            return None
        if SESSION_STARTED_KEY not in session:
            session[SESSION_STARTED_KEY] = now
        if now - int(seen) >= _SEEN_RESOLUTION or SESSION_SEEN_KEY not in session:
            session[SESSION_SEEN_KEY] = now
            if record is not None:
                UserSession.objects.filter(pk=record["id"]).update(last_seen_at=timezone.now())
        if session.get(MFA_SETUP_REQUIRED_KEY):
            if not isinstance(user, User) or not user.mfa_required or user.has_mfa:
                del session[MFA_SETUP_REQUIRED_KEY]
            elif _url_name(request) not in _MFA_SETUP_PAGES:
                return HttpResponseRedirect(reverse("accounts:mfa-setup"))
        return None
