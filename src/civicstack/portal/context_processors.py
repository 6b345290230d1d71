"""Values every page template needs."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.urls import translate_url
from django.utils import translation


def site(request: HttpRequest) -> dict[str, Any]:
    """Return the service name and the address of this page in the other language."""
    current = (translation.get_language() or "en")[:2]
    other = "cy" if current == "en" else "en"
    return {
        "service_name": settings.SERVICE_NAME,
        "current_language": current,
        "other_language": other,
        "other_language_url": translate_url(request.get_full_path(), other),
    }
