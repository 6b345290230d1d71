"""Session time-outs, the sessions page, signing out elsewhere and disabled accounts."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse

from civicstack.accounts import services
from civicstack.accounts.constants import SESSION_SEEN_KEY, SESSION_STARTED_KEY, Role
from civicstack.accounts.models import UserSession
from civicstack.accounts.selectors import user_agent_summary
from civicstack.accounts.tests.conftest import sign_in
from civicstack.accounts.tests.factories import AgencyFactory, UserFactory, staff_create
from civicstack.core.errors import PermissionDenied, ValidationFailed
from civicstack.core.models import AuditEvent

pytestmark = pytest.mark.django_db

ACCOUNT = "/en/account/"


def _age_session(client: Client, key: str, seconds: int) -> None:
    session = client.session
    session[key] = int(time.time()) - seconds
    session.save()


def test_idle_session_times_out(client: Client) -> None:
    """A session unused for longer than the idle time-out is signed out. ASVS 7.3.1."""
    user = UserFactory()
    sign_in(client, user)
    _age_session(client, SESSION_SEEN_KEY, settings.SESSION_IDLE_TIMEOUT + 5)
    key = client.session.session_key
    response = client.get(ACCOUNT)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:sign-in"))
    assert "_auth_user_id" not in client.session
    assert UserSession.objects.get(session_key=key).ended_at is not None
    html = client.get(response["Location"]).content.decode()
    assert "You were signed out to keep your account secure" in html


def test_active_session_is_not_idle(client: Client) -> None:
    """A session used just inside the idle time-out stays signed in."""
    sign_in(client, UserFactory())
    _age_session(client, SESSION_SEEN_KEY, settings.SESSION_IDLE_TIMEOUT - 30)
    assert client.get(ACCOUNT).status_code == 200


def test_session_has_an_absolute_time_out(client: Client) -> None:
    """Even an active session ends after the absolute time-out. ASVS 7.3.2."""
    sign_in(client, UserFactory())
    _age_session(client, SESSION_STARTED_KEY, settings.SESSION_ABSOLUTE_TIMEOUT + 5)
    response = client.get(ACCOUNT)
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(
        action="accounts.session.expired", data={"reason": "absolute_timeout"}
    ).exists()


def test_last_seen_is_written_at_most_once_a_minute(client: Client) -> None:
    """Reading pages updates the session's last-active time only once a minute."""
    sign_in(client, UserFactory())
    record = UserSession.objects.get()
    earlier = record.authenticated_at - timedelta(minutes=5)
    UserSession.objects.filter(pk=record.pk).update(last_seen_at=earlier)
    client.get(ACCOUNT)
    record.refresh_from_db()
    assert record.last_seen_at == earlier
    _age_session(client, SESSION_SEEN_KEY, 61)
    client.get(ACCOUNT)
    record.refresh_from_db()
    assert record.last_seen_at >= record.authenticated_at


def test_sessions_page_lists_each_browser(client: Client) -> None:
    """The sessions page lists every open session with its browser, this one marked."""
    user = UserFactory()
    other = Client()
    sign_in(other, user, HTTP_USER_AGENT="Mozilla/5.0 (iPhone; CPU iPhone OS 18_0) Safari/604.1")
    sign_in(
        client,
        user,
        HTTP_USER_AGENT="Mozilla/5.0 (Windows NT 10.0; Win64) Chrome/140.0 Safari/537.36",
    )
    html = client.get(reverse("accounts:sessions")).content.decode()
    assert "Chrome on Windows" in html
    assert "Safari on iPhone" in html
    assert html.count("This browser") == 1
    assert "Sign out everywhere else" in html


def test_sign_out_everywhere_else_ends_other_sessions(client: Client) -> None:
    """ "Sign out everywhere else" deletes the other sessions and keeps this one. ASVS 7.4.4."""
    user = UserFactory()
    other = Client()
    sign_in(other, user)
    other_key = other.session.session_key
    sign_in(client, user)
    response = client.post(reverse("accounts:sessions-sign-out-others"))
    assert response["Location"] == reverse("accounts:sessions")
    assert not Session.objects.filter(session_key=other_key).exists()
    assert UserSession.objects.get(session_key=other_key).ended_at is not None
    assert other.get(ACCOUNT).status_code == 302
    assert client.get(ACCOUNT).status_code == 200
    assert AuditEvent.objects.filter(
        action="accounts.sessions.ended_others", data={"sessions_ended": 1}
    ).exists()


def test_sign_out_everywhere_else_needs_post(client: Client) -> None:
    """The action cannot be triggered by a link."""
    sign_in(client, UserFactory())
    assert client.get(reverse("accounts:sessions-sign-out-others")).status_code == 405


def test_an_ended_session_is_signed_out_on_its_next_request(client: Client) -> None:
    """Marking a UserSession ended signs that browser out, whatever the session store says."""
    sign_in(client, UserFactory())
    UserSession.objects.update(ended_at=UserSession.objects.get().authenticated_at)
    assert client.get(ACCOUNT).status_code == 302
    assert "_auth_user_id" not in client.session


def test_disabling_an_account_ends_all_its_sessions() -> None:
    """A disabled account is signed out everywhere at once. ASVS 7.4.2."""
    agency = AgencyFactory()
    admin = staff_create(role=Role.AGENCY_ADMIN, agency=agency)
    worker = staff_create(role=Role.CASEWORKER, agency=agency)
    first, second = Client(), Client()
    sign_in(first, worker)
    sign_in(second, worker)
    assert services.user_disable(user=worker, actor=admin, reason="Left the agency") == 2
    assert first.get(ACCOUNT).status_code == 302
    assert second.get(ACCOUNT).status_code == 302
    assert not UserSession.objects.filter(user=worker, ended_at__isnull=True).exists()
    event = AuditEvent.objects.get(action="accounts.user.disabled")
    assert event.reason == "Left the agency"


def test_disabling_needs_a_reason_and_permission() -> None:
    """Only admins may disable; staff of other agencies, citizens and oneself are refused."""
    agency = AgencyFactory()
    admin = staff_create(role=Role.AGENCY_ADMIN, agency=agency)
    worker = staff_create(role=Role.CASEWORKER, agency=agency)
    outsider_admin = staff_create(role=Role.AGENCY_ADMIN)
    citizen = UserFactory()
    with pytest.raises(ValidationFailed):
        services.user_disable(user=worker, actor=admin, reason="  ")
    with pytest.raises(PermissionDenied):
        services.user_disable(user=worker, actor=outsider_admin, reason="No")
    with pytest.raises(PermissionDenied):
        services.user_disable(user=citizen, actor=admin, reason="No")
    with pytest.raises(PermissionDenied):
        services.user_disable(user=admin, actor=admin, reason="No")
    with pytest.raises(PermissionDenied):
        services.user_disable(user=admin, actor=worker, reason="No")
    worker.refresh_from_db()
    assert worker.is_active


def test_platform_admin_can_disable_and_enable_a_citizen() -> None:
    """Platform admins may disable anyone; enabling again is audited too."""
    platform = staff_create(role=Role.PLATFORM_ADMIN)
    citizen = UserFactory()
    services.user_disable(user=citizen, actor=platform, reason="Fraud report")
    citizen.refresh_from_db()
    assert not citizen.is_active
    services.user_enable(user=citizen, actor=platform, reason="Checked, not fraud")
    citizen.refresh_from_db()
    assert citizen.is_active
    assert AuditEvent.objects.filter(action="accounts.user.enabled").exists()


@pytest.mark.parametrize(
    ("agent", "summary"),
    [
        (
            "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0",
            "Firefox on Linux",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605 Safari/605.1.15",
            "Safari on macOS",
        ),
        ("Mozilla/5.0 (Linux; Android 15) Chrome/140.0 Mobile Safari/537.36", "Chrome on Android"),
        (
            "Mozilla/5.0 (Windows NT 10.0) Chrome/140.0 Safari/537.36 Edg/140.0",
            "Microsoft Edge on Windows",
        ),
        ("curl/8.0", ""),
    ],
)
def test_user_agent_summary(agent: str, summary: str) -> None:
    """Browsers are described in a few words people recognise."""
    assert user_agent_summary(agent) == summary
