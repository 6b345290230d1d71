"""Authenticate by email address and password."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from civicstack.accounts.models import User, normalise_email


class EmailBackend(ModelBackend):
    """Match the address case-insensitively; spend the same time whether or not it exists."""

    def authenticate(  # type: ignore[override]
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        email = kwargs.get("email") or username
        if not email or password is None:
            return None
        try:
            user = User.objects.get(email=normalise_email(email))
        except User.DoesNotExist:
            # Hash anyway so the response time does not reveal whether the address exists.
            User().set_password(password)
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None
