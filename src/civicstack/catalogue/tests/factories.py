"""Factories for catalogue tests."""

from __future__ import annotations

import factory
from django.utils import timezone

from civicstack.accounts.models import Agency
from civicstack.catalogue.models import Service, Topic


class AgencyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Agency

    # Apart from accounts' AgencyFactory, so a test may use both.
    reference = factory.Sequence(lambda n: f"AGY-C{n:04d}")
    slug = factory.Sequence(lambda n: f"council-{n}")
    kind = "local"
    name_en = factory.Sequence(lambda n: f"Testshire Council {n}")
    name_cy = factory.Sequence(lambda n: f"Cyngor Sir Prawf {n}")


class TopicFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Topic

    slug = factory.Sequence(lambda n: f"topic-{n}")
    name_en = factory.Sequence(lambda n: f"Topic {n}")
    name_cy = factory.Sequence(lambda n: f"Pwnc {n}")


class ServiceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Service

    reference = factory.Sequence(lambda n: f"SVC-T{n:05d}")
    slug = factory.Sequence(lambda n: f"service-{n}")
    agency = factory.SubFactory(AgencyFactory)
    status = "published"
    title_en = factory.Sequence(lambda n: f"Apply for a thing {n}")
    title_cy = factory.Sequence(lambda n: f"Gwneud cais am beth {n}")
    summary_en = "A summary."
    summary_cy = "Crynodeb."
    channels = ["online"]
    published_at = factory.LazyFunction(timezone.now)
    version = 1
