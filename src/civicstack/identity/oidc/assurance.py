"""STAND-IN until the assurance helper's ``identity.selectors`` is merged.

The lead replaces every use of this module with ``civicstack.identity.selectors``
(``session_level``, ``auth_time``, ``auth_methods``, ``level_required``): the signatures
are the contract's. Until then HIGH is never reached (no identity verification exists yet),
and a session below the level a client needs is sent to the step-up page if one is
installed, else shown a page that says what is needed.
"""

from __future__ import annotations

import time
from urllib.parse import quote

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse

from civicstack.accounts.constants import AUTH_METHODS_KEY, AUTH_TIME_KEY, MFA_VERIFIED_KEY
from civicstack.identity.constants import Level


def auth_methods(request: HttpRequest) -> list[str]:
    """Return the session's RFC 8176 amr values (["pwd"] for an older password sign-in)."""
    if not request.user.is_authenticated:
        return []
    methods = request.session.get(AUTH_METHODS_KEY)
    if isinstance(methods, list) and all(isinstance(item, str) for item in methods):
        return list(methods)
    methods = ["pwd"]
    if request.session.get(MFA_VERIFIED_KEY):
        methods += ["otp", "mfa"]
    return methods


def auth_time(request: HttpRequest) -> int | None:
    """Return when the person in this session last authenticated (Unix time)."""
    if not request.user.is_authenticated:
        return None
    value = request.session.get(AUTH_TIME_KEY)
    if isinstance(value, int) and value > 0:
        return value
    return None


def session_level(request: HttpRequest) -> Level | None:
    """Return the session's level of assurance (None when nobody is signed in)."""
    if not request.user.is_authenticated:
        return None
    methods = auth_methods(request)
    if request.session.get(MFA_VERIFIED_KEY) and "mfa" in methods:
        return Level.SUBSTANTIAL
    return Level.LOW


def level_required(request: HttpRequest, needed: Level, next_url: str) -> HttpResponse | None:
    """Return None when the session meets ``needed``; else where to go to meet it."""
    level = session_level(request)
    if level is not None and level.satisfies(needed):
        return None
    if level is None:
        return HttpResponseRedirect(f"{reverse('accounts:sign-in')}?next={quote(next_url)}")
    try:
        step_up = reverse("identity:step-up")
    except NoReverseMatch:
        return render(
            request,
            "identity/oidc/level_needed.html",
            {"needed": needed, "level": level},
            status=403,
        )
    return HttpResponseRedirect(f"{step_up}?level={needed.value}&next={quote(next_url)}")


def now() -> int:
    """Return the current Unix time."""
    return int(time.time())
