"""Values the page shell needs about the signed-in person (wire up in TEMPLATES to use)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from civicstack.accounts.selectors import user_email_unverified


def account(request: HttpRequest) -> dict[str, Any]:
    """Return whether to show the "confirm your email address" banner."""
    return {"account_email_unverified": user_email_unverified(user=getattr(request, "user", None))}
