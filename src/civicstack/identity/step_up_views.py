"""The step-up page: what a service needs, what this session has, and how to get there."""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from civicstack.accounts import selectors as accounts_selectors
from civicstack.identity import selectors
from civicstack.identity.constants import Level

MAX_NEXT_LENGTH = 2000


def safe_next(request: HttpRequest, value: object) -> str:
    """Return ``value`` if it is a path on this site, else an empty string."""
    if not isinstance(value, str) or not value or len(value) > MAX_NEXT_LENGTH:
        return ""
    if "\x00" in value or "\\" in value:
        return ""
    if url_has_allowed_host_and_scheme(
        value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ) and value.startswith("/"):
        return value
    return ""


def url_with_next(name: str, next_url: str) -> str:
    """Return the URL named ``name`` with ``?next=``."""
    url = reverse(name)
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url


@never_cache
@require_safe
def step_up(request: HttpRequest) -> HttpResponse:
    """Explain the level a service needs and offer the ways to reach it from here."""
    next_url = safe_next(request, request.GET.get("next"))
    here = f"{request.path}?{request.GET.urlencode()}"
    if not request.user.is_authenticated:
        return HttpResponseRedirect(f"{reverse('accounts:sign-in')}?{urlencode({'next': here})}")
    raw_level = request.GET.get("level", "")
    needed = Level(raw_level) if raw_level in (Level.SUBSTANTIAL, Level.HIGH) else None
    if needed is None:
        return render(request, "identity/step_up_unknown.html", {"next_url": next_url}, status=400)
    current = selectors.session_level(request) or Level.LOW
    if current.satisfies(needed):
        return HttpResponseRedirect(next_url or reverse("accounts:account"))
    methods = selectors.auth_methods(request)
    user = request.user
    factors = accounts_selectors.second_factors_for(user=user)
    has_app, has_passkey = factors.authenticator_app, factors.passkey
    second_factor_done = current.satisfies(Level.SUBSTANTIAL)
    passkey_done = second_factor_done and "hwk" in methods
    verified = selectors.identity_verified(user, level=Level.HIGH)
    return render(
        request,
        "identity/step_up.html",
        {
            "needed": needed,
            "current": current,
            "next_url": next_url,
            "has_app": has_app,
            "has_passkey": has_passkey,
            "second_factor_done": second_factor_done,
            "passkey_done": passkey_done,
            "verified": verified,
            "code_url": url_with_next("accounts:step-up-code", here),
            "passkey_url": url_with_next("accounts:step-up-passkey", here),
            "mfa_setup_url": url_with_next("accounts:mfa-setup", here),
            "passkeys_url": url_with_next("accounts:passkeys", here),
            "verify_url": url_with_next("identity:verification", here),
        },
    )
