"""Read-only queries of the catalogue: browse, pages, search."""

from __future__ import annotations

import gc
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Prefetch, QuerySet
from django.urls import reverse
from django.utils import translation

from civicstack.accounts import selectors as accounts
from civicstack.catalogue.models import (
    CatalogueState,
    Guide,
    GuideRevision,
    GuideStep,
    GuideStepService,
    LifeEvent,
    Service,
    ServiceRevision,
    Topic,
)
from civicstack.catalogue.search_engine import SearchDocument, SearchIndex, SearchResults


def topic_list() -> QuerySet[Topic]:
    """Return every topic, in display order."""
    return Topic.objects.all()


def topic_get(*, slug: str) -> Topic | None:
    """Return the topic with ``slug``, or None."""
    return Topic.objects.filter(slug=slug).first()


def life_event_list() -> QuerySet[LifeEvent]:
    """Return every life event, in display order."""
    return LifeEvent.objects.all()


def life_event_get(*, slug: str) -> LifeEvent | None:
    """Return the life event with ``slug``, or None."""
    return LifeEvent.objects.filter(slug=slug).first()


def service_list(
    *, topic: Topic | None = None, life_event: LifeEvent | None = None
) -> QuerySet[Service]:
    """Return published services, optionally of one topic or life event, by English title."""
    services = Service.objects.published().select_related("agency")
    if topic is not None:
        services = services.filter(topics=topic)
    if life_event is not None:
        services = services.filter(life_events=life_event)
    return services.order_by("title_en")


def service_get(*, slug: str) -> Service | None:
    """Return the published service with ``slug`` and what its page shows, or None."""
    return (
        Service.objects.published()
        .select_related("agency")
        .prefetch_related("topics", "life_events")
        .filter(slug=slug)
        .first()
    )


def services_for_staff(*, user: Any) -> QuerySet[Service]:
    """Return the services of the agencies ``user`` works for (all for platform admins)."""
    services = Service.objects.select_related("agency").order_by("title_en")
    if accounts.user_is_platform_admin(user=user):
        return services
    return services.filter(agency__in=accounts.agencies_for_staff(user=user))


def service_for_staff(*, user: Any, slug: str) -> Service | None:
    """Return the service ``slug`` if ``user`` works for its agency, else None.

    Agency isolation lives here: a page or API that asks for another agency's service by
    its slug gets nothing, exactly as if it did not exist.
    """
    return services_for_staff(user=user).filter(slug=slug).first()


def service_preview(*, revision: ServiceRevision) -> tuple[Service, list[Topic]]:
    """Return an unsaved Service holding a revision's content, and its topics, for preview."""
    service = revision.service
    preview = Service(
        id=service.id,
        reference=service.reference,
        slug=service.slug,
        agency=service.agency,
        status=service.status,
    )
    content = revision.content
    for name, value in content.items():
        if name != "topics" and hasattr(preview, name):
            setattr(preview, name, value)
    topics = list(Topic.objects.filter(slug__in=content.get("topics", [])))
    return preview, topics


def service_revision_get(*, service: Service, number: int) -> ServiceRevision | None:
    """Return revision ``number`` of ``service``, or None."""
    return service.revisions.filter(number=number).first()


def service_revisions(*, service: Service) -> QuerySet[ServiceRevision]:
    """Return the revisions of a service, newest first."""
    return service.revisions.select_related("created_by", "published_by").order_by("-number")


def service_draft(*, service: Service) -> ServiceRevision | None:
    """Return the service's open draft, or None."""
    return service.revisions.filter(status="draft").first()


def guide_list() -> QuerySet[Guide]:
    """Return published guides, by English title."""
    return Guide.objects.published().select_related("life_event").order_by("title_en")


def guide_get(*, slug: str) -> Guide | None:
    """Return a published guide with its steps and their linked services in two queries."""
    links = GuideStepService.objects.filter(service__status="published").select_related("service")
    steps = GuideStep.objects.order_by("position").prefetch_related(
        Prefetch("links", queryset=links.order_by("position"))
    )
    return (
        Guide.objects.published()
        .select_related("life_event")
        .prefetch_related(Prefetch("steps", queryset=steps))
        .filter(slug=slug)
        .first()
    )


def guides_for_staff() -> QuerySet[Guide]:
    """Return every guide, for the back office (guides are not owned by one agency)."""
    return Guide.objects.select_related("life_event").order_by("title_en")


def guide_get_any(*, slug: str) -> Guide | None:
    """Return the guide ``slug`` whatever its status (back office)."""
    return Guide.objects.filter(slug=slug).first()


def guide_draft(*, guide: Guide) -> GuideRevision | None:
    """Return the guide's open draft, or None."""
    return guide.revisions.filter(status="draft").first()


def guide_revisions(*, guide: Guide) -> QuerySet[GuideRevision]:
    """Return the guide's revisions, newest first."""
    return guide.revisions.order_by("-number")


def guide_revision_get(*, guide: Guide, number: int) -> GuideRevision | None:
    """Return revision ``number`` of ``guide``, or None."""
    return guide.revisions.filter(number=number).first()


@dataclass(frozen=True)
class PreviewStep:
    """A step of a guide preview, shaped like GuideStep for the public template."""

    number: int
    logic: str
    title_en: str
    title_cy: str
    body_en: str
    body_cy: str
    linked_services: list[Service]


def guide_preview_groups(*, revision: GuideRevision) -> list[StepGroup]:
    """Return a draft's steps grouped by number, with their services, for preview."""
    from civicstack.catalogue.content import number_steps

    steps = number_steps(list(revision.content.get("steps", [])))
    slugs = {slug for step in steps for slug in step.get("services", [])}
    services = {s.slug: s for s in Service.objects.filter(slug__in=slugs)}
    groups: list[StepGroup] = []
    for step in steps:
        preview = PreviewStep(
            number=step["number"],
            logic=step["logic"],
            title_en=step["title_en"],
            title_cy=step["title_cy"],
            body_en=step["body_en"],
            body_cy=step["body_cy"],
            linked_services=[services[slug] for slug in step["services"] if slug in services],
        )
        if groups and groups[-1].number == step["number"]:
            groups[-1].steps.append(preview)
        else:
            groups.append(StepGroup(number=step["number"], steps=[preview]))
    return groups


def guides_for_service(*, service: Service) -> QuerySet[Guide]:
    """Return the published guides that link to ``service`` (shown as "Part of")."""
    return Guide.objects.published().filter(steps__links__service=service).distinct()


@dataclass(frozen=True)
class StepGroup:
    """The steps sharing one number in a step-by-step guide."""

    number: int
    steps: list[Any]


def guide_step_groups(*, guide: Guide) -> list[StepGroup]:
    """Group a guide's steps by number, keeping "and"/"or" steps with their first step."""
    groups: list[StepGroup] = []
    for step in guide.steps.all():
        if groups and groups[-1].number == step.number:
            groups[-1].steps.append(step)
        else:
            groups.append(StepGroup(number=step.number, steps=[step]))
    return groups


# --- Search ---------------------------------------------------------------------------

FIELD_WEIGHTS = {"title": 5.0, "keywords": 3.0, "summary": 2.0, "body": 1.0}


@dataclass(frozen=True)
class _IndexSnapshot:
    """One built index with the result cards it needs, for one catalogue state."""

    version: str
    index: SearchIndex
    cards: dict[str, tuple[str, str, str, str]]


class _IndexHolder:
    """This process's search index, rebuilt when the catalogue's state token changes.

    The index, its cards and its token are swapped as one snapshot, so a request never
    pairs a new index with old cards.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.results_lock = threading.Lock()
        self.snapshot: _IndexSnapshot | None = None
        self.checked_at = 0.0
        # Recent result pages of this index: popular searches repeat, and a page of
        # results is immutable until the catalogue changes (the key holds its token).
        self.results: OrderedDict[tuple[str, str, str, int, int], CatalogueSearchPage] = (
            OrderedDict()
        )


_holder = _IndexHolder()


def catalogue_version() -> str:
    """Return a token naming the catalogue's current published state (changes on publish)."""
    token = CatalogueState.objects.filter(pk=1).values_list("token", flat=True).first()
    return token or "initial"


def _documents() -> tuple[list[SearchDocument], dict[str, tuple[str, str, str, str]]]:
    documents: list[SearchDocument] = []
    cards: dict[str, tuple[str, str, str, str]] = {}
    services = Service.objects.published().values(
        "slug",
        "title_en",
        "title_cy",
        "summary_en",
        "summary_cy",
        "description_en",
        "description_cy",
        "eligibility_en",
        "eligibility_cy",
        "keywords_en",
        "keywords_cy",
    )
    row: dict[str, Any]
    for row in services.iterator(chunk_size=2000):  # type: ignore[assignment]
        for language in ("en", "cy"):
            key = f"service:{row['slug']}"
            documents.append(
                SearchDocument(
                    key=key,
                    language=language,
                    fields={
                        "title": row[f"title_{language}"],
                        "summary": row[f"summary_{language}"],
                        "keywords": " ".join(row[f"keywords_{language}"] or []),
                        "body": row[f"description_{language}"]
                        + "\n"
                        + row[f"eligibility_{language}"],
                    },
                )
            )
        cards[f"service:{row['slug']}"] = (
            row["title_en"],
            row["title_cy"],
            row["summary_en"],
            row["summary_cy"],
        )
    guides = Guide.objects.published().prefetch_related("steps")
    for guide in guides:
        key = f"guide:{guide.slug}"
        for language in ("en", "cy"):
            steps = " ".join(
                f"{step.text('title', language)} {step.text('body', language)}"
                for step in guide.steps.all()
            )
            documents.append(
                SearchDocument(
                    key=key,
                    language=language,
                    fields={
                        "title": guide.text("title", language),
                        "summary": guide.text("summary", language),
                        "keywords": "",
                        "body": steps,
                    },
                )
            )
        cards[key] = (guide.title_en, guide.title_cy, guide.summary_en, guide.summary_cy)
    return documents, cards


def _current_index() -> _IndexSnapshot:
    now = time.monotonic()
    snapshot = _holder.snapshot
    if snapshot is not None and now - _holder.checked_at < settings.CATALOGUE_CHECK_SECONDS:
        return snapshot
    version = catalogue_version()
    _holder.checked_at = now
    if snapshot is not None and snapshot.version == version:
        return snapshot
    with _holder.lock:
        current = _holder.snapshot
        if current is None or current.version != version:
            documents, cards = _documents()
            current = _IndexSnapshot(
                version=version,
                index=SearchIndex(documents, field_weights=FIELD_WEIGHTS),
                cards=cards,
            )
            _holder.snapshot = current
            with _holder.results_lock:
                _holder.results.clear()
            # The index is millions of small objects that live until the next rebuild;
            # moving them out of the collector's reach keeps full collections (and the
            # pauses they add to every request in the process) short.
            gc.collect()
            gc.freeze()
        return current


@dataclass(frozen=True)
class SearchResultItem:
    """One result as a page shows it."""

    kind: str
    slug: str
    title: str
    summary: str
    url: str


@dataclass(frozen=True)
class CatalogueSearchPage:
    """A page of search results."""

    query: str
    total: int
    items: list[SearchResultItem]
    corrections: dict[str, str]


MAX_QUERY_LENGTH = 200
SEARCH_RESULTS_CACHED = 2000


def catalogue_search(
    *, query: str, language: str, limit: int = 20, offset: int = 0
) -> CatalogueSearchPage:
    """Search published services and guides in ``language``, best match first."""
    cleaned = "".join(ch if ch.isprintable() else " " for ch in query)[:MAX_QUERY_LENGTH].strip()
    if not cleaned:
        return CatalogueSearchPage(query="", total=0, items=[], corrections={})
    snapshot = _current_index()
    index, cards = snapshot.index, snapshot.cards
    key = (snapshot.version, language, cleaned, limit, offset)
    with _holder.results_lock:
        cached = _holder.results.get(key)
        if cached is not None:
            _holder.results.move_to_end(key)
            return cached
    page = _search_page(
        index, cards, cleaned=cleaned, language=language, limit=limit, offset=offset
    )
    with _holder.results_lock:
        current = _holder.snapshot
        if current is not None and current.version == key[0]:
            _holder.results[key] = page
            while len(_holder.results) > SEARCH_RESULTS_CACHED:
                _holder.results.popitem(last=False)
    return page


def _search_page(
    index: SearchIndex,
    cards: dict[str, tuple[str, str, str, str]],
    *,
    cleaned: str,
    language: str,
    limit: int,
    offset: int,
) -> CatalogueSearchPage:
    results: SearchResults = index.search(cleaned, language=language, limit=limit, offset=offset)
    items = []
    welsh = language == "cy"
    # Reverse each kind's address once and fill in slugs: reversing per result costs more
    # than the search itself on a full page.
    with translation.override(language):
        prefixes = {
            "service": reverse("catalogue:service", args=["SLUG"]).removesuffix("SLUG"),
            "guide": reverse("catalogue:guide", args=["SLUG"]).removesuffix("SLUG"),
        }
    for hit in results.hits:
        card = cards.get(hit.key)
        if card is None:
            continue
        kind, slug = hit.key.split(":", 1)
        title_en, title_cy, summary_en, summary_cy = card
        items.append(
            SearchResultItem(
                kind=kind,
                slug=slug,
                title=(title_cy or title_en) if welsh else title_en,
                summary=(summary_cy or summary_en) if welsh else summary_en,
                url=prefixes[kind] + slug,
            )
        )
    return CatalogueSearchPage(
        query=cleaned, total=results.total, items=items, corrections=dict(results.corrections)
    )
