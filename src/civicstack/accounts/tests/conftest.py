"""Fixtures and helpers for the accounts tests."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from civicstack.accounts.models import TOTPDevice, User
from civicstack.accounts.tests.factories import PASSWORD
from civicstack.accounts.totp import TOTP_DRIFT_STEPS, totp_code_at, totp_current_step


@pytest.fixture(autouse=True)
def _fresh_cache(request: pytest.FixtureRequest) -> Iterator[None]:
    """Rate-limit counters live in the cache: start every test with an empty one.

    The embedded default cache is a database table, rolled back with each test; a test
    without database access has nothing to clear there (and may not touch it).
    """
    from django.core.cache import caches
    from django.core.cache.backends.db import DatabaseCache

    in_database = isinstance(caches["default"], DatabaseCache)
    may_clear = not in_database or request.node.get_closest_marker("django_db") is not None
    if may_clear:
        cache.clear()
    yield
    if may_clear:
        cache.clear()


@pytest.fixture
def committed(
    django_capture_on_commit_callbacks: Callable[..., AbstractContextManager[list[object]]],
) -> Callable[[], AbstractContextManager[list[object]]]:
    """Return a context manager that runs on-commit callbacks (emails) when it exits."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def totp_code_for(user: User) -> str:
    """Return a code the server will accept now (a step after the last one used)."""
    device = TOTPDevice.objects.get(user=user)
    now = totp_current_step()
    # The current step first: a code for the previous one would be refused if the clock
    # passed a 30-second boundary before the server checked it (a rare, flaky failure).
    for step in range(now, now + TOTP_DRIFT_STEPS + 1):
        if step > device.last_used_step:
            return totp_code_at(secret=device.secret, step=step)
    raise AssertionError("no unused time step left in the drift window")


def sign_in(
    client: Client, user: User, password: str = PASSWORD, passkey: Any = None, **extra: str
) -> None:
    """Sign ``user`` in through the pages, with a TOTP code when they have an app, else
    with ``passkey`` (a SoftwareAuthenticator) as the second factor."""
    response = client.post(
        reverse("accounts:sign-in"), {"email": user.email, "password": password}, **extra
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    if response["Location"] != reverse("accounts:sign-in-code"):
        return
    if passkey is None or TOTPDevice.objects.filter(user=user).exists():
        response = client.post(reverse("accounts:sign-in-code"), {"code": totp_code_for(user)})
        assert response.status_code == 302
        return
    options = client.post(
        reverse("accounts:sign-in-code-passkey-options"), "{}", content_type="application/json"
    )
    assert options.status_code == 200, options.content
    response = client.post(
        reverse("accounts:sign-in-code-passkey"),
        json.dumps({"credential": passkey.assertion(options.content.decode())}),
        content_type="application/json",
    )
    assert response.status_code == 200, response.content


_VOLATILE = re.compile(r'(name="csrfmiddlewaretoken" value="[^"]*"|nonce="[^"]*")')


def stable_html(content: bytes) -> str:
    """Return page HTML with the per-response CSRF token and CSP nonce blanked out."""
    return _VOLATILE.sub("", content.decode())


def link_from(body: str) -> str:
    """Return the path of the first link to this site in an email body."""
    match = re.search(r"https?://[^/\s]+(/\S+)", body)
    assert match, body
    return match.group(1)
