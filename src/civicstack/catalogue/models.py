"""Services, topics, life events and step-by-step guides, in English and Welsh."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import translation

from civicstack.catalogue.constants import ContentStatus, RevisionStatus, StepLogic
from civicstack.core.models import BaseModel
from civicstack.identity.constants import Level

ASSURANCE_LEVEL_CHOICES = [(level.value, level.value) for level in Level]


def localised(obj: Any, field: str, language: str | None = None) -> tuple[Any, str]:
    """Return ``obj``'s ``<field>_<language>`` and that language, or the English and "en".

    ``obj`` may be a model (any with ``_en``/``_cy`` fields) or a mapping (revision
    content); ``language`` defaults to the active one.
    """
    code = (language or translation.get_language() or "en")[:2]
    read = obj.get if isinstance(obj, Mapping) else lambda name: getattr(obj, name, None)
    value = read(f"{field}_{code}")
    if value:
        return value, code
    return read(f"{field}_en") or "", "en"


class Bilingual:
    """Read ``<field>_en`` or ``<field>_cy`` for the active language, falling back to English."""

    def text(self, field: str, language: str | None = None) -> Any:
        """Return the value of ``field`` in ``language`` (default: the active language)."""
        return localised(self, field, language)[0]


class Topic(Bilingual, models.Model):
    """A subject people browse by: driving, benefits, housing."""

    slug = models.SlugField(max_length=100, unique=True)
    name_en = models.CharField(max_length=200)
    name_cy = models.CharField(max_length=200)
    description_en = models.TextField(blank=True)
    description_cy = models.TextField(blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "slug"]

    def __str__(self) -> str:
        return self.name_en


class LifeEvent(Bilingual, models.Model):
    """A moment in life that needs several services: having a baby, moving home."""

    slug = models.SlugField(max_length=100, unique=True)
    name_en = models.CharField(max_length=200)
    name_cy = models.CharField(max_length=200)
    description_en = models.TextField(blank=True)
    description_cy = models.TextField(blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "slug"]

    def __str__(self) -> str:
        return self.name_en


class ServiceQuerySet(models.QuerySet["Service"]):
    """Reusable filters for services."""

    def published(self) -> ServiceQuerySet:
        """Return the services the public can see."""
        return self.filter(status=ContentStatus.PUBLISHED)


class Service(Bilingual, BaseModel):
    """A public service as the public sees it: the live, published content.

    Edits happen on a :class:`ServiceRevision`; publishing copies a revision here.
    """

    reference = models.CharField(max_length=20, unique=True)
    slug = models.SlugField(max_length=120, unique=True)
    agency = models.ForeignKey("accounts.Agency", on_delete=models.PROTECT, related_name="+")
    status = models.CharField(
        max_length=12, choices=ContentStatus.choices, default=ContentStatus.DRAFT
    )
    title_en = models.CharField(max_length=200)
    title_cy = models.CharField(max_length=200)
    summary_en = models.CharField(max_length=400)
    summary_cy = models.CharField(max_length=400)
    description_en = models.TextField(blank=True)
    description_cy = models.TextField(blank=True)
    eligibility_en = models.TextField(blank=True)
    eligibility_cy = models.TextField(blank=True)
    what_you_need_en = models.JSONField(default=list, blank=True)
    what_you_need_cy = models.JSONField(default=list, blank=True)
    cost_en = models.CharField(max_length=300, blank=True)
    cost_cy = models.CharField(max_length=300, blank=True)
    how_to_apply_en = models.TextField(blank=True)
    how_to_apply_cy = models.TextField(blank=True)
    keywords_en = models.JSONField(default=list, blank=True)
    keywords_cy = models.JSONField(default=list, blank=True)
    fee_pence = models.PositiveIntegerField(default=0)
    target_working_days = models.PositiveIntegerField(default=10)
    channels = models.JSONField(default=list, blank=True)
    # The level of assurance a session needs to apply online (identity.constants.Level).
    assurance_level = models.CharField(
        max_length=12, choices=ASSURANCE_LEVEL_CHOICES, default=Level.LOW.value
    )
    topics = models.ManyToManyField(Topic, related_name="services", blank=True)
    life_events = models.ManyToManyField(LifeEvent, related_name="services", blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=0)

    objects = ServiceQuerySet.as_manager()

    class Meta:
        ordering = ["title_en"]
        indexes = [models.Index(fields=["status", "title_en"])]

    def __str__(self) -> str:
        return f"{self.reference} {self.title_en}"


class ServiceRevision(BaseModel):
    """One version of a service page's content: a draft, the published one, or history."""

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=12, choices=RevisionStatus.choices)
    content = models.JSONField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["service", "number"], name="unique_revision_number"),
            models.UniqueConstraint(
                fields=["service"],
                condition=models.Q(status="draft"),
                name="one_draft_per_service",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.service_id} revision {self.number} ({self.status})"


class GuideQuerySet(models.QuerySet["Guide"]):
    """Reusable filters for guides."""

    def published(self) -> GuideQuerySet:
        """Return the guides the public can see."""
        return self.filter(status=ContentStatus.PUBLISHED)


class Guide(Bilingual, BaseModel):
    """A step-by-step guide through the services one life event needs."""

    reference = models.CharField(max_length=20, unique=True)
    slug = models.SlugField(max_length=120, unique=True)
    life_event = models.ForeignKey(
        LifeEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="guides"
    )
    status = models.CharField(
        max_length=12, choices=ContentStatus.choices, default=ContentStatus.DRAFT
    )
    title_en = models.CharField(max_length=200)
    title_cy = models.CharField(max_length=200)
    summary_en = models.CharField(max_length=400)
    summary_cy = models.CharField(max_length=400)
    published_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=0)

    objects = GuideQuerySet.as_manager()

    class Meta:
        ordering = ["title_en"]

    def __str__(self) -> str:
        return f"{self.reference} {self.title_en}"


class GuideRevision(BaseModel):
    """One version of a guide's content and steps: a draft, the published one, or history."""

    guide = models.ForeignKey(Guide, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=12, choices=RevisionStatus.choices)
    content = models.JSONField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["guide", "number"], name="unique_guide_revision_number"
            ),
            models.UniqueConstraint(
                fields=["guide"],
                condition=models.Q(status="draft"),
                name="one_draft_per_guide",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.guide_id} revision {self.number} ({self.status})"


class GuideStep(Bilingual, models.Model):
    """One step of a guide; ``logic`` joins it to the step before as "and" or "or"."""

    guide = models.ForeignKey(Guide, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveIntegerField()
    number = models.PositiveIntegerField()
    logic = models.CharField(max_length=3, choices=StepLogic.choices, blank=True, default="")
    title_en = models.CharField(max_length=200)
    title_cy = models.CharField(max_length=200)
    body_en = models.TextField(blank=True)
    body_cy = models.TextField(blank=True)
    services = models.ManyToManyField(Service, through="GuideStepService", related_name="+")

    class Meta:
        ordering = ["guide", "position"]
        constraints = [
            models.UniqueConstraint(fields=["guide", "position"], name="unique_step_position")
        ]

    def __str__(self) -> str:
        return f"{self.guide_id} step {self.number}"

    @property
    def linked_services(self) -> list[Service]:
        """Return the linked services in order (uses prefetched links when present)."""
        return [link.service for link in self.links.all()]


class GuideStepService(models.Model):
    """A link from a guide step to a service, in order."""

    step = models.ForeignKey(GuideStep, on_delete=models.CASCADE, related_name="links")
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["step", "position"]

    def __str__(self) -> str:
        return f"{self.step_id} -> {self.service_id}"


class CatalogueState(models.Model):
    """Changed on every publish, so each process knows when to rebuild its index and pages.

    ``token`` is random on each change, so it names one committed state of the catalogue:
    a counter could repeat after a rollback while the content differed.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    version = models.PositiveBigIntegerField(default=0)
    token = models.CharField(max_length=32, default="initial")

    def __str__(self) -> str:
        return f"catalogue version {self.version}"
