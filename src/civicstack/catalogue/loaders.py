"""Load the demo catalogue (idempotently) and generate large synthetic catalogues.

The demo content lives in ``catalogue/demo/catalogue.yaml``: fictional agencies, realistic
services and step-by-step guides, in English and Welsh. Tests and benchmarks use it too.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from civicstack.accounts import selectors as accounts_selectors
from civicstack.accounts import services as accounts_services
from civicstack.catalogue.constants import ContentStatus, RevisionStatus
from civicstack.catalogue.content import (
    bump_catalogue_version,
    clean_service_content,
    guide_content,
    number_steps,
)
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
from civicstack.core.audit import audit_event_record
from civicstack.core.references import reference_next

DEMO_CATALOGUE = Path(__file__).resolve().parent / "demo" / "catalogue.yaml"


@dataclass
class LoadReport:
    """What a load created or changed (empty when nothing needed doing)."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Return True when anything was written."""
        return bool(self.created or self.updated)


def _bilingual(values: dict[str, Any], name: str, source: dict[str, Any]) -> None:
    pair = source.get(name) or {}
    values[f"{name}_en"] = pair.get("en", "")
    values[f"{name}_cy"] = pair.get("cy", "")


def _upsert(model: Any, lookup: dict[str, Any], values: dict[str, Any]) -> tuple[Any, str]:
    instance = model.objects.filter(**lookup).first()
    if instance is None:
        return model.objects.create(**lookup, **values), "created"
    changed = [name for name, value in values.items() if getattr(instance, name) != value]
    if not changed:
        return instance, ""
    for name in changed:
        setattr(instance, name, values[name])
    instance.save()
    return instance, "updated"


def catalogue_demo_load(*, path: Path = DEMO_CATALOGUE) -> LoadReport:
    """Load agencies, topics, life events, services and guides from a YAML file.

    Idempotent: a second run with the same file writes nothing and records nothing.
    """
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    report = LoadReport()
    with transaction.atomic():
        CatalogueState.objects.get_or_create(pk=1)
        for position, item in enumerate(data["topics"]):
            values: dict[str, Any] = {"position": position}
            _bilingual(values, "name", item)
            _bilingual(values, "description", item)
            _, outcome = _upsert(Topic, {"slug": item["slug"]}, values)
            _note(report, outcome, f"topic:{item['slug']}")
        for position, item in enumerate(data["life_events"]):
            values = {"position": position}
            _bilingual(values, "name", item)
            _bilingual(values, "description", item)
            _, outcome = _upsert(LifeEvent, {"slug": item["slug"]}, values)
            _note(report, outcome, f"life_event:{item['slug']}")
        agencies = {}
        for item in data["agencies"]:
            values = {"kind": item["kind"], "phone": item.get("phone", "")}
            _bilingual(values, "name", item)
            _bilingual(values, "description", item)
            _bilingual(values, "opening_hours", item)
            agency, changed = accounts_services.agency_upsert(
                slug=item["slug"], values=values, actor=None
            )
            agencies[item["slug"]] = agency
            if changed:
                report.updated.append(f"agency:{item['slug']}")
        topics = {t.slug: t for t in Topic.objects.all()}
        life_events = {e.slug: e for e in LifeEvent.objects.all()}
        for item in data["services"]:
            _load_service(item, agencies, topics, life_events, report)
        services = {
            s.slug: s
            for s in Service.objects.filter(slug__in=[item["slug"] for item in data["services"]])
        }
        for item in data["guides"]:
            _load_guide(item, services, life_events, report)
        if report.changed:
            bump_catalogue_version()
            audit_event_record(
                action="catalogue.demo.loaded",
                actor=None,
                reason="demo data",
                data={"created": len(report.created), "updated": len(report.updated)},
            )
    if report.changed:
        _refresh_planner_statistics()
    return report


def _refresh_planner_statistics() -> None:
    # After a bulk load the query planner's statistics are stale; without them SQLite
    # walks every service for a guide's links instead of using the key index.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def _note(report: LoadReport, outcome: str, label: str) -> None:
    if outcome == "created":
        report.created.append(label)
    elif outcome == "updated":
        report.updated.append(label)


def _service_content(item: dict[str, Any]) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    for name in ("title", "summary", "description", "eligibility", "cost", "how_to_apply"):
        _bilingual(raw, name, item)
    for name in ("what_you_need", "keywords"):
        _bilingual(raw, name, item)
    raw["fee_pence"] = item.get("fee_pence", 0)
    raw["target_working_days"] = item.get("target_working_days", 10)
    raw["channels"] = item.get("channels", ["online"])
    raw["assurance_level"] = item.get("assurance_level", "low")
    raw["topics"] = item.get("topics", [])
    return clean_service_content(raw)


def _load_service(
    item: dict[str, Any],
    agencies: dict[str, Any],
    topics: dict[str, Topic],
    life_events: dict[str, LifeEvent],
    report: LoadReport,
) -> None:
    content = _service_content(item)
    service = Service.objects.filter(slug=item["slug"]).first()
    live = dict(content)
    live.pop("topics")
    wanted_topics = sorted(content["topics"])
    wanted_events = sorted(item.get("life_events", []))
    if service is None:
        service = Service.objects.create(
            slug=item["slug"],
            reference=reference_next(prefix="SVC"),
            agency=agencies[item["agency"]],
            status=ContentStatus.PUBLISHED,
            published_at=timezone.now(),
            version=1,
            **live,
        )
        ServiceRevision.objects.create(
            service=service,
            number=1,
            status=RevisionStatus.PUBLISHED,
            content=content,
            published_at=service.published_at,
        )
        service.topics.set([topics[slug] for slug in wanted_topics])
        service.life_events.set([life_events[slug] for slug in wanted_events])
        report.created.append(f"service:{item['slug']}")
        return
    if service.revisions.filter(
        Q(published_by__isnull=False) | Q(status=RevisionStatus.DRAFT)
    ).exists():
        # Staff have published or are drafting this page: their work wins over the demo
        # file, and reloading the demo (every `make run`) never reverts or breaks it.
        return
    current_topics = sorted(service.topics.values_list("slug", flat=True))
    current_events = sorted(service.life_events.values_list("slug", flat=True))
    changed = [name for name, value in live.items() if getattr(service, name) != value]
    if service.agency_id != agencies[item["agency"]].pk:
        changed.append("agency")
    if not changed and current_topics == wanted_topics and current_events == wanted_events:
        return
    for name, value in live.items():
        setattr(service, name, value)
    service.agency = agencies[item["agency"]]
    service.status = ContentStatus.PUBLISHED
    last = service.revisions.order_by("-number").values_list("number", flat=True).first()
    service.version = max(last or 0, service.version) + 1
    service.published_at = timezone.now()
    service.save()
    service.revisions.filter(status=RevisionStatus.PUBLISHED).update(
        status=RevisionStatus.SUPERSEDED
    )
    ServiceRevision.objects.create(
        service=service,
        number=service.version,
        status=RevisionStatus.PUBLISHED,
        content=content,
        published_at=service.published_at,
    )
    service.topics.set([topics[slug] for slug in wanted_topics])
    service.life_events.set([life_events[slug] for slug in wanted_events])
    report.updated.append(f"service:{item['slug']}")


def _guide_steps(item: dict[str, Any]) -> list[dict[str, Any]]:
    return number_steps(
        [
            {
                "logic": step.get("logic", "") or "",
                "title_en": step["title"]["en"],
                "title_cy": step["title"]["cy"],
                "body_en": step.get("body", {}).get("en", ""),
                "body_cy": step.get("body", {}).get("cy", ""),
                "services": list(step.get("services", [])),
            }
            for step in item["steps"]
        ]
    )


def _load_guide(
    item: dict[str, Any],
    services: dict[str, Service],
    life_events: dict[str, LifeEvent],
    report: LoadReport,
) -> None:
    values: dict[str, Any] = {"life_event": life_events.get(item.get("life_event", ""))}
    _bilingual(values, "title", item)
    _bilingual(values, "summary", item)
    values["status"] = ContentStatus.PUBLISHED
    wanted = _guide_steps(item)
    guide = Guide.objects.filter(slug=item["slug"]).first()
    if (
        guide is not None
        and guide.revisions.filter(
            Q(published_by__isnull=False) | Q(status=RevisionStatus.DRAFT)
        ).exists()
    ):
        return  # edited by staff: leave it alone, as for services
    if guide is not None:
        current = [
            {
                "position": s.position,
                "number": s.number,
                "logic": s.logic,
                "title_en": s.title_en,
                "title_cy": s.title_cy,
                "body_en": s.body_en,
                "body_cy": s.body_cy,
                "services": [link.service.slug for link in s.links.all()],
            }
            for s in guide.steps.prefetch_related("links__service").order_by("position")
        ]
        same_values = all(getattr(guide, name) == value for name, value in values.items())
        if same_values and current == wanted:
            return
        for name, value in values.items():
            setattr(guide, name, value)
        guide.save()
        guide.steps.all().delete()
        report.updated.append(f"guide:{item['slug']}")
    else:
        guide = Guide.objects.create(
            slug=item["slug"],
            reference=reference_next(prefix="GDE", width=4),
            published_at=timezone.now(),
            **values,
        )
        report.created.append(f"guide:{item['slug']}")
    for step in wanted:
        linked = step.pop("services")
        created = GuideStep.objects.create(guide=guide, **step)
        for position, slug in enumerate(linked):
            GuideStepService.objects.create(step=created, service=services[slug], position=position)
    # Each load that changes a guide leaves a published revision, so history is complete.
    guide.revisions.filter(status="published").update(status="superseded")
    number = (guide.revisions.order_by("-number").values_list("number", flat=True).first() or 0) + 1
    guide.version = number
    guide.save(update_fields=["version"])
    GuideRevision.objects.create(
        guide=guide,
        number=number,
        status="published",
        content=guide_content(guide),
        published_at=timezone.now(),
    )


# --- Synthetic catalogue for benchmarks -------------------------------------------------

_NOUNS = [
    "licence",
    "permit",
    "grant",
    "allowance",
    "registration",
    "certificate",
    "badge",
    "pass",
    "exemption",
    "discount",
    "refund",
    "appeal",
    "inspection",
    "collection",
    "repair",
    "assessment",
    "licence-renewal",
    "allotment",
    "tenancy",
    "parking",
    "waste",
    "recycling",
    "housing",
    "school",
    "transport",
    "blue-badge",
    "benefit",
    "pension",
    "tax",
    "rebate",
    "licence-transfer",
    "fishing",
    "boat",
    "trading",
    "alcohol",
    "taxi",
    "dog",
    "cat",
    "horse",
    "tree",
    "hedge",
    "footpath",
    "streetlight",
    "pothole",
    "flooding",
    "drainage",
    "noise",
    "pollution",
    "asbestos",
    "planning",
    "building",
    "demolition",
    "signage",
    "market",
    "street",
    "event",
]
_VERBS = [
    "apply",
    "renew",
    "report",
    "register",
    "book",
    "request",
    "change",
    "cancel",
    "check",
    "pay",
    "replace",
]
_QUALIFIERS = [
    "residents",
    "businesses",
    "carers",
    "students",
    "pensioners",
    "landlords",
    "tenants",
    "drivers",
    "charities",
    "schools",
    "farmers",
    "traders",
    "visitors",
    "families",
    "veterans",
]
_WELSH = {
    "apply": "gwneud cais am",
    "renew": "adnewyddu",
    "report": "rhoi gwybod am",
    "register": "cofrestru",
    "book": "trefnu",
    "request": "gofyn am",
    "change": "newid",
    "cancel": "canslo",
    "check": "gwirio",
    "pay": "talu",
    "replace": "cael un newydd yn lle",
}


_SYLLABLES = (
    "ba",
    "be",
    "bi",
    "bo",
    "bu",
    "da",
    "de",
    "di",
    "do",
    "du",
    "fa",
    "fe",
    "fi",
    "fo",
    "ka",
    "ke",
    "ki",
    "ko",
    "la",
    "le",
    "li",
    "lo",
    "lu",
    "ma",
    "me",
    "mi",
    "mo",
    "mu",
    "na",
    "ne",
    "ni",
    "no",
    "nu",
    "pa",
    "pe",
    "pi",
    "po",
    "ra",
    "re",
    "ri",
    "ro",
    "ru",
    "sa",
    "se",
    "si",
    "so",
    "ta",
    "te",
    "ti",
    "to",
    "va",
    "ve",
    "vi",
    "wa",
    "we",
)


def _filler_vocabulary(rng: random.Random) -> tuple[list[str], list[float]]:
    # Body text for synthetic services: 3,000 made-up words drawn with a Zipf-like
    # frequency, as words are in real prose, so a query term matches the services that
    # are about it rather than every service.
    words = sorted({"".join(rng.choices(_SYLLABLES, k=rng.randint(2, 4))) for _ in range(3200)})[
        :3000
    ]
    rng.shuffle(words)
    weights = [1.0 / (rank + 1) for rank in range(len(words))]
    return words, weights


def catalogue_synthetic_generate(*, count: int, seed: int = 20261127) -> int:
    """Add ``count`` published synthetic services (``synthetic-...``) for benchmarks.

    Deterministic for a seed; services that already exist are left alone. Returns how many
    were created.
    """
    rng = random.Random(seed)
    agencies = list(accounts_selectors.agency_list().order_by("slug"))
    topics = list(Topic.objects.order_by("slug"))
    if not agencies or not topics:
        raise RuntimeError("load the demo catalogue first (civicstack demo load)")
    existing = set(
        Service.objects.filter(slug__startswith="synthetic-").values_list("slug", flat=True)
    )
    filler, weights = _filler_vocabulary(rng)
    now = timezone.now()
    batch: list[Service] = []
    topic_links: list[tuple[str, Topic]] = []
    created = 0
    for number in range(count):
        slug = f"synthetic-{number:06d}"
        verb = rng.choice(_VERBS)
        noun = rng.choice(_NOUNS)
        noun2 = rng.choice(_NOUNS)
        qualifier = rng.choice(_QUALIFIERS)
        agency = rng.choice(agencies)
        words = " ".join(rng.choices(filler, weights=weights, k=120))
        if slug in existing:
            continue
        title = f"{verb.capitalize()} a {noun.replace('-', ' ')} for {qualifier} ({number})"
        service = Service(
            slug=slug,
            reference=f"SVC-S{number:06d}",
            agency=agency,
            status=ContentStatus.PUBLISHED,
            title_en=title,
            title_cy=f"{_WELSH[verb].capitalize()} {noun.replace('-', ' ')} ({number})",
            summary_en=f"How {qualifier} can {verb} a {noun} or {noun2} with {agency.name_en}.",
            summary_cy=f"Sut i {_WELSH[verb]} {noun} neu {noun2} gyda {agency.name_cy}.",
            description_en=f"This service lets {qualifier} {verb} a {noun}. {words}",
            description_cy=f"Mae'r gwasanaeth hwn yn gadael i chi {_WELSH[verb]} {noun}. {words}",
            eligibility_en=f"You can apply if you are one of the {qualifier} in the area.",
            eligibility_cy="Gallwch wneud cais os ydych yn byw yn yr ardal.",
            what_you_need_en=["proof of address", f"your {noun} reference"],
            what_you_need_cy=["prawf o gyfeiriad", f"cyfeirnod eich {noun}"],
            cost_en="Free" if number % 3 else "£25",
            cost_cy="Am ddim" if number % 3 else "£25",
            how_to_apply_en="Apply online.",
            how_to_apply_cy="Gwnewch gais ar-lein.",
            keywords_en=[noun, noun2, qualifier],
            keywords_cy=[noun, noun2],
            fee_pence=0 if number % 3 else 2500,
            target_working_days=rng.randint(1, 40),
            channels=["online"],
            published_at=now,
            version=1,
        )
        batch.append(service)
        topic_links.append((slug, rng.choice(topics)))
        created += 1
    with transaction.atomic():
        Service.objects.bulk_create(batch, batch_size=500)
        ids = dict(
            Service.objects.filter(slug__in=[s for s, _ in topic_links]).values_list("slug", "id")
        )
        through = Service.topics.through
        through.objects.bulk_create(
            [through(service_id=ids[slug], topic_id=topic.pk) for slug, topic in topic_links],
            batch_size=1000,
        )
        if created:
            bump_catalogue_version()
            audit_event_record(
                action="catalogue.synthetic.generated",
                actor=None,
                reason="benchmark data",
                data={"count": created, "seed": seed},
            )
    if created:
        _refresh_planner_statistics()
    return created
