"""Catalogue pages: browse services by topic and life event, service pages, guides, search."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import translation
from django.views.decorators.http import require_safe

from civicstack.catalogue import selectors
from civicstack.core.http import public_page

PAGE_SIZE = 20
MAX_PAGE = 500


@require_safe
@public_page
def service_index(request: HttpRequest) -> HttpResponse:
    """List topics, each with its services (A to Z)."""
    return render(
        request,
        "catalogue/service_index.html",
        {"topics": selectors.topic_list(), "life_events": selectors.life_event_list()},
    )


@require_safe
@public_page
def topic_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """List the services of one topic."""
    topic = selectors.topic_get(slug=slug)
    if topic is None:
        raise Http404
    return render(
        request,
        "catalogue/topic_detail.html",
        {"topic": topic, "services": selectors.service_list(topic=topic)[:500]},
    )


@require_safe
@public_page
def life_event_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """Show the guides and services for one life event."""
    event = selectors.life_event_get(slug=slug)
    if event is None:
        raise Http404
    return render(
        request,
        "catalogue/life_event_detail.html",
        {
            "event": event,
            "guides": event.guides.filter(status="published"),
            "services": selectors.service_list(life_event=event)[:500],
        },
    )


@require_safe
@public_page
def service_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """Show a service page: what it is, who can apply, what you need, cost, how to apply."""
    service = selectors.service_get(slug=slug)
    if service is None:
        raise Http404
    return render(
        request,
        "catalogue/service_detail.html",
        {
            "service": service,
            "topics": list(service.topics.all()),
            "guides": selectors.guides_for_service(service=service),
        },
    )


@require_safe
@public_page
def guide_index(request: HttpRequest) -> HttpResponse:
    """List the step-by-step guides."""
    return render(request, "catalogue/guide_index.html", {"guides": selectors.guide_list()})


@require_safe
@public_page
def guide_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """Show a step-by-step guide with its numbered steps and linked services."""
    guide = selectors.guide_get(slug=slug)
    if guide is None:
        raise Http404
    return render(
        request,
        "catalogue/guide_detail.html",
        {"guide": guide, "groups": selectors.guide_step_groups(guide=guide)},
    )


def _page_number(raw: str | None) -> int:
    try:
        page = int(raw or "1")
    except ValueError:
        return 1
    return min(max(page, 1), MAX_PAGE)


@require_safe
@public_page
def search(request: HttpRequest) -> HttpResponse:
    """Search services and guides; corrected spellings are shown, never silently used.

    A results page depends only on its address and the published catalogue, so the page
    cache serves repeated searches (the popular ones) to visitors without a session.
    """
    query = request.GET.get("q", "")
    page = _page_number(request.GET.get("page"))
    language = (translation.get_language() or "en")[:2]
    results = selectors.catalogue_search(
        query=query, language=language, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
    )
    pages = (results.total + PAGE_SIZE - 1) // PAGE_SIZE
    return render(
        request,
        "catalogue/search.html",
        {
            "results": results,
            "page": page,
            "pages": pages,
            "previous_page": page - 1 if page > 1 else None,
            "next_page": page + 1 if page < pages else None,
        },
    )
