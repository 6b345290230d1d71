"""The citizen portal's own pages: home and the statements every service must have."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from civicstack.catalogue import selectors as catalogue
from civicstack.core.http import public_page


@require_safe
@public_page
def home(request: HttpRequest) -> HttpResponse:
    """Show search, topics, life events and the step-by-step guides."""
    return render(
        request,
        "portal/home.html",
        {
            "topics": catalogue.topic_list(),
            "life_events": catalogue.life_event_list(),
            "guides": catalogue.guide_list(),
        },
    )


@require_safe
@public_page
def accessibility(request: HttpRequest) -> HttpResponse:
    """Show the accessibility statement."""
    return render(request, "portal/accessibility.html")


@require_safe
@public_page
def privacy(request: HttpRequest) -> HttpResponse:
    """Show the privacy notice."""
    return render(request, "portal/privacy.html")


@require_safe
@public_page
def cookies(request: HttpRequest) -> HttpResponse:
    """List the cookies set, all essential (so no cookie banner is needed)."""
    return render(request, "portal/cookies.html")
