"""Template helpers of the form runner."""

from __future__ import annotations

from typing import Any

from django import template
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


@register.simple_tag(takes_context=True)
def render_widget(context: template.Context, widget: dict[str, Any]) -> SafeString:
    """Render one question's inputs with the widget template of its type."""
    request = context.get("request")
    html = render_to_string(
        widget["template"], {**widget, "csrf_token": context.get("csrf_token")}, request=request
    )
    return mark_safe(html)  # noqa: S308 - rendered by the template engine, which escapes


@register.filter
def filesize(size: int) -> str:
    """Return a size in bytes as people read it (KB, MB)."""
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / (1024 * 1024):.1f} MB"
