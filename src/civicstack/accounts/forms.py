"""Forms that parse what people type into account pages.

Forms only check shape (present, the right kind of value, not absurdly long); the rules
(password strength, who may do what) are in ``services``. Messages follow the GOV.UK error
message patterns.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from civicstack.accounts.passwords import MAXIMUM_PASSWORD_LENGTH

# Generous limits for what a sign-in may send; longer input is refused before hashing.
_SIGN_IN_PASSWORD_MAX = 1024
_EMAIL_FORMAT = _("Enter an email address in the correct format, like name@example.com")


def _email_field(required_message: Any) -> forms.EmailField:
    return forms.EmailField(
        max_length=254,
        error_messages={
            "required": required_message,
            "invalid": _EMAIL_FORMAT,
            "max_length": _("Email address must be 254 characters or fewer"),
            "null_characters_not_allowed": _EMAIL_FORMAT,
        },
    )


def _password_field(required_message: Any, *, max_length: int | None = None) -> forms.CharField:
    limit = max_length or MAXIMUM_PASSWORD_LENGTH
    return forms.CharField(
        strip=False,
        max_length=limit,
        error_messages={
            "required": required_message,
            "max_length": _("Password must be %(limit_value)d characters or fewer"),
            "null_characters_not_allowed": _("Password must not include invalid characters"),
        },
    )


class SignInForm(forms.Form):
    """Email address and password."""

    email = forms.CharField(
        max_length=254,
        error_messages={
            "required": _("Enter your email address"),
            "max_length": _EMAIL_FORMAT,
            "null_characters_not_allowed": _EMAIL_FORMAT,
        },
    )
    password = _password_field(_("Enter your password"), max_length=_SIGN_IN_PASSWORD_MAX)


class CodeForm(forms.Form):
    """A code from an authenticator app, or a recovery code."""

    code = forms.CharField(
        max_length=64,
        error_messages={
            "required": _("Enter the code from your authenticator app or a recovery code"),
            "max_length": _("Enter the code from your authenticator app or a recovery code"),
            "null_characters_not_allowed": _(
                "Enter the code from your authenticator app or a recovery code"
            ),
        },
    )


class SignUpForm(forms.Form):
    """Email address, full name, and a password typed twice."""

    email = _email_field(_("Enter your email address"))
    full_name = forms.CharField(
        max_length=200,
        error_messages={
            "required": _("Enter your full name"),
            "max_length": _("Full name must be 200 characters or fewer"),
            "null_characters_not_allowed": _(
                "Full name must only include letters, spaces and marks"
            ),
        },
    )
    password = _password_field(_("Enter a password"))
    password_confirm = _password_field(_("Confirm your password"))

    def clean(self) -> dict[str, Any]:
        """Check the two passwords match."""
        cleaned: dict[str, Any] = super().clean() or {}
        first, second = cleaned.get("password"), cleaned.get("password_confirm")
        if first and second and first != second:
            self.add_error("password_confirm", _("The passwords do not match"))
        return cleaned


class EmailForm(forms.Form):
    """One email address (password reset)."""

    email = _email_field(_("Enter your email address"))


class NewPasswordForm(forms.Form):
    """A new password typed twice (password reset)."""

    password = _password_field(_("Enter a new password"))
    password_confirm = _password_field(_("Confirm your new password"))

    def clean(self) -> dict[str, Any]:
        """Check the two passwords match."""
        cleaned: dict[str, Any] = super().clean() or {}
        first, second = cleaned.get("password"), cleaned.get("password_confirm")
        if first and second and first != second:
            self.add_error("password_confirm", _("The passwords do not match"))
        return cleaned


class ChangePasswordForm(forms.Form):
    """The current password, then a new one typed twice."""

    current_password = _password_field(
        _("Enter your current password"), max_length=_SIGN_IN_PASSWORD_MAX
    )
    new_password = _password_field(_("Enter a new password"))
    new_password_confirm = _password_field(_("Confirm your new password"))

    def clean(self) -> dict[str, Any]:
        """Check the two new passwords match."""
        cleaned: dict[str, Any] = super().clean() or {}
        first, second = cleaned.get("new_password"), cleaned.get("new_password_confirm")
        if first and second and first != second:
            self.add_error("new_password_confirm", _("The passwords do not match"))
        return cleaned


class ChangeEmailForm(forms.Form):
    """The new email address and the current password."""

    new_email = _email_field(_("Enter your new email address"))
    password = _password_field(_("Enter your password"), max_length=_SIGN_IN_PASSWORD_MAX)


class PasswordForm(forms.Form):
    """The current password, to confirm a sensitive change."""

    password = _password_field(_("Enter your password"), max_length=_SIGN_IN_PASSWORD_MAX)


class PasskeyNameForm(forms.Form):
    """The name a person gives a passkey, so they can tell their passkeys apart."""

    name = forms.CharField(
        max_length=100,
        error_messages={
            "required": _("Enter a name for your passkey"),
            "max_length": _("Name must be 100 characters or fewer"),
            "null_characters_not_allowed": _(
                "Name must only include letters, numbers, spaces and marks"
            ),
        },
    )
