"""Password rules: length, not composition (NIST SP 800-63B and the GOV.UK pattern)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

MAXIMUM_PASSWORD_LENGTH = 128


class MaximumLengthValidator:
    """Refuse passwords over 128 characters (long pass phrases up to that are welcome)."""

    def __init__(self, max_length: int = MAXIMUM_PASSWORD_LENGTH) -> None:
        self.max_length = max_length

    def validate(self, password: str, user: Any = None) -> None:
        """Raise ValidationError when the password is too long."""
        if len(password) > self.max_length:
            raise ValidationError(
                _("Password must be %(max)d characters or fewer"),
                code="password_too_long",
                params={"max": self.max_length},
            )

    def get_help_text(self) -> str:
        """Describe the rule for the person choosing a password."""
        return _("Your password can be up to %(max)d characters long.") % {"max": self.max_length}
