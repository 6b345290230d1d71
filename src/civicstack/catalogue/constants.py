"""Fixed values of the catalogue that other apps may import."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Channel(models.TextChoices):
    """Ways to apply for a service."""

    ONLINE = "online", _("Online")
    PHONE = "phone", _("By phone")
    IN_PERSON = "in_person", _("In person")
    POST = "post", _("By post")


class ContentStatus(models.TextChoices):
    """Where a piece of content is in its life."""

    DRAFT = "draft", _("Draft")
    PUBLISHED = "published", _("Published")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class RevisionStatus(models.TextChoices):
    """Where a revision of a service page is."""

    DRAFT = "draft", _("Draft")
    PUBLISHED = "published", _("Published")
    SUPERSEDED = "superseded", _("Superseded")
    DISCARDED = "discarded", _("Discarded")


class StepLogic(models.TextChoices):
    """How a step of a step-by-step guide relates to the step before it."""

    NEW = "", _("New step")
    AND = "and", _("And")
    OR = "or", _("Or")


# The bilingual fields of a service page, in the order the editor shows them.
SERVICE_TEXT_FIELDS = (
    "title",
    "summary",
    "description",
    "eligibility",
    "cost",
    "how_to_apply",
)
SERVICE_LIST_FIELDS = ("what_you_need", "keywords")

# The most steps a step-by-step guide may have (the editor offers no more).
GUIDE_MAX_STEPS = 40
