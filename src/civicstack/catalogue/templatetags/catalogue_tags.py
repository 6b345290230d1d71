"""Template helpers for bilingual content."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from civicstack.catalogue.models import localised

register = template.Library()


@register.filter
def tr(obj: Any, field: str) -> Any:
    """Return ``obj``'s ``field`` in the active language (English if the Welsh is empty)."""
    return localised(obj, field)[0]


@register.filter
def tr_lang(obj: Any, field: str) -> str:
    """Return the language of what ``tr`` shows for ``field`` ("en" when it falls back).

    Templates put it in a ``lang`` attribute, so English text shown on a Welsh page is
    read with English pronunciation (WCAG 3.1.2).
    """
    return localised(obj, field)[1]


@register.filter
def paragraphs(text: str) -> SafeString:
    """Render plain text as paragraphs, one per blank-line-separated block, escaped."""
    blocks = [block.strip() for block in str(text or "").split("\n\n") if block.strip()]
    return format_html_join("\n", '<p class="govuk-body">{}</p>', ((block,) for block in blocks))


@register.filter
def pounds(pence: int) -> str:
    """Format integer pence as pounds (1400 -> £14, 1450 -> £14.50)."""
    whole, part = divmod(int(pence), 100)
    return f"£{whole:,}" if part == 0 else f"£{whole:,}.{part:02d}"


@register.simple_tag
def search_result_items(items: list[Any], guide_label: str) -> SafeString:
    """Render search results as list items (one escaped format call each, for speed).

    A results page holds up to 20 of these; rendering them here instead of with template
    tags halves the cost of the page, which matters because search pages are never cached.
    """
    return format_html_join(
        "\n",
        '<li><h2 class="govuk-heading-s govuk-!-margin-bottom-1">'
        '<a class="govuk-link" href="{}">{}</a></h2>{}'
        '<p class="govuk-body govuk-!-margin-bottom-0">{}</p></li>',
        (
            (
                item.url,
                item.title,
                format_html(
                    '<p class="govuk-body-s civicstack-meta govuk-!-margin-bottom-1">{}</p>',
                    guide_label,
                )
                if item.kind == "guide"
                else "",
                item.summary,
            )
            for item in items
        ),
    )
