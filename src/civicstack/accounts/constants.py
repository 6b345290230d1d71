"""Roles and other fixed values other apps may import."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    """What a member of staff may do within an agency."""

    CASEWORKER = "caseworker", _("Caseworker")
    SUPERVISOR = "supervisor", _("Supervisor")
    SERVICE_OWNER = "service_owner", _("Service owner")
    AGENCY_ADMIN = "agency_admin", _("Agency admin")
    PLATFORM_ADMIN = "platform_admin", _("Platform admin")
    ANALYST = "analyst", _("Analyst")


class AgencyKind(models.TextChoices):
    """Central government body or local council."""

    CENTRAL = "central", _("Central government")
    LOCAL = "local", _("Local council")


# Session keys other apps read. The back office and the admin site check MFA_VERIFIED_KEY.
MFA_VERIFIED_KEY = "civicstack_mfa_verified"
# Set when a member of staff signed in without a second factor: until they set one up,
# every page but the set-up pages redirects to the set-up page.
MFA_SETUP_REQUIRED_KEY = "civicstack_mfa_setup_required"
# How the person in this session proved who they are, as RFC 8176 "amr" values ("pwd",
# "otp", "hwk", "user", "mfa"), and when they last did (Unix time). Written at sign-in and at
# every step-up; the level of assurance and OpenID Connect's amr and auth_time come from here.
AUTH_METHODS_KEY = "civicstack_auth_methods"
AUTH_TIME_KEY = "civicstack_auth_time"
SESSION_STARTED_KEY = "civicstack_started_at"
SESSION_SEEN_KEY = "civicstack_seen_at"
SESSION_TIMED_OUT_KEY = "civicstack_timed_out"

# Scopes an API key may carry.
API_SCOPE_APPLICATIONS_SUBMIT = "applications:submit"
# The case API acts as a person: these scopes need a personal key (one with a user).
API_SCOPE_CASES_READ = "cases:read"
API_SCOPE_CASES_WRITE = "cases:write"
API_SCOPES = (API_SCOPE_APPLICATIONS_SUBMIT, API_SCOPE_CASES_READ, API_SCOPE_CASES_WRITE)
API_PERSONAL_SCOPES = frozenset({API_SCOPE_CASES_READ, API_SCOPE_CASES_WRITE})
API_KEY_PREFIX = "cs"
