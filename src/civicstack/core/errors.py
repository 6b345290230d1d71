"""The one error hierarchy: each error knows its HTTP status and a message for people.

Services raise these; the error middleware turns them into a GOV.UK-style error page or a
JSON problem body for the API. Nothing ever reaches a person as a stack trace.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

Message = str | Promise


class CivicstackError(Exception):
    """Base of every error a person or API client may be shown."""

    status = 400
    code = "bad_request"
    default_message: Message = _("Sorry, there is a problem with your request.")

    def __init__(
        self,
        message: Message | None = None,
        *,
        field_errors: Mapping[str, list[Message]] | None = None,
    ) -> None:
        self.message = message if message is not None else self.default_message
        self.field_errors = dict(field_errors or {})
        super().__init__(str(self.message))


class ValidationFailed(CivicstackError):
    """Input that cannot be accepted; ``field_errors`` says which fields and why."""

    status = 400
    code = "validation_failed"
    default_message = _("There is a problem with the information you entered.")


class NotAuthenticated(CivicstackError):
    """Signing in is needed."""

    status = 401
    code = "not_authenticated"
    default_message = _("You need to sign in to do that.")


class PermissionDenied(CivicstackError):
    """The actor may not do this (also used where revealing existence would leak)."""

    status = 403
    code = "permission_denied"
    default_message = _("You do not have permission to do that.")


class NotFound(CivicstackError):
    """The thing asked for does not exist, or the actor may not know it exists."""

    status = 404
    code = "not_found"
    default_message = _("Page not found.")


class Conflict(CivicstackError):
    """The request conflicts with the current state (stale edit, reused key)."""

    status = 409
    code = "conflict"
    default_message = _("This was changed by someone else. Reload the page and try again.")


class RateLimited(CivicstackError):
    """Too many attempts in a short time."""

    status = 429
    code = "rate_limited"
    default_message = _("Too many attempts. Wait a few minutes and try again.")


class TemporarilyUnavailable(CivicstackError):
    """A dependency is down; nothing was changed and the person can try again later."""

    status = 503
    code = "unavailable"
    default_message = _("Sorry, the service is unavailable. Try again later.")


class PayloadTooLarge(CivicstackError):
    """The request body (usually an uploaded file) is larger than the service accepts."""

    status = 413
    code = "payload_too_large"
    default_message = _("The file you chose is too large. Choose a smaller file and try again.")
