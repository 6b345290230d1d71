"""Public catalogue pages and search, in English and Welsh."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from civicstack.catalogue.loaders import catalogue_demo_load
from civicstack.catalogue.models import Guide, Service, Topic

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo() -> None:
    catalogue_demo_load()


def test_home_lists_topics_life_events_and_guides(demo: None) -> None:
    """The home page offers search and every way to browse."""
    response = Client().get("/en/")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'role="search"' in body
    for topic in Topic.objects.all():
        assert f"/en/topics/{topic.slug}" in body


def test_service_page_shows_what_people_need_to_know(demo: None) -> None:
    """A service page has who can apply, what you need, cost, time and how to apply."""
    service = Service.objects.published().first()
    assert service is not None
    response = Client().get(f"/en/services/{service.slug}")
    body = response.content.decode()
    assert response.status_code == 200
    for heading in ("Who can apply", "What you need", "How long it takes", "How to apply"):
        assert heading in body
    assert service.reference in body


def test_welsh_service_page_uses_welsh_content(demo: None) -> None:
    """The /cy/ service page shows the Welsh title."""
    service = Service.objects.published().first()
    assert service is not None
    response = Client().get(f"/cy/services/{service.slug}")
    assert response.status_code == 200
    assert service.title_cy in response.content.decode()


def test_guide_page_numbers_steps_and_links_services(demo: None) -> None:
    """A step-by-step guide shows numbered steps, and/or choices and service links."""
    guide = Guide.objects.get(slug="having-a-baby")
    response = Client().get(f"/en/step-by-step/{guide.slug}")
    body = response.content.decode()
    assert response.status_code == 200
    assert "civicstack-step-nav__marker" in body
    assert "/en/services/" in body
    assert "Step 1:" in body


def test_page_query_counts_do_not_grow_with_content(demo: None) -> None:
    """Service, guide and topic pages use a fixed, small number of queries."""
    client = Client()
    service = Service.objects.published().first()
    topic = Topic.objects.first()
    assert service is not None and topic is not None
    for url in (
        f"/en/services/{service.slug}",
        "/en/step-by-step/having-a-baby",
        f"/en/topics/{topic.slug}",
        "/en/",
    ):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        assert len(queries) <= 8, (url, [q["sql"] for q in queries.captured_queries])


def test_search_finds_services_and_corrects_typos(demo: None) -> None:
    """Searching a misspelt word shows the correction and relevant results."""
    response = Client().get("/en/search", {"q": "drivng licence"})
    body = response.content.decode()
    assert response.status_code == 200
    assert "Showing results for" in body
    assert "driving" in body.lower()


def test_welsh_search_handles_mutations(demo: None) -> None:
    """A mutated Welsh word (e.g. 'nhrwydded') finds the Welsh service."""
    response = Client().get("/cy/search", {"q": "fy nhrwydded yrru"})
    assert response.status_code == 200
    assert "trwydded yrru" in response.content.decode().lower()


def test_search_with_hostile_input_never_fails(demo: None) -> None:
    """Very long, control-character and markup queries get a normal page."""
    client = Client()
    for query in (
        "x" * 10_000,
        "\x00\x01\x1f",
        "<script>alert(1)</script>",
        "{{ 7*7 }}",
        "' OR 1=1 --",
    ):
        response = client.get("/en/search", {"q": query, "page": "-5"})
        assert response.status_code == 200
        assert b"<script>alert(1)</script>" not in response.content


def test_unknown_slugs_are_404(demo: None) -> None:
    """Unknown services, guides and topics get the designed 404 page."""
    client = Client()
    for url in (
        "/en/services/nope",
        "/en/step-by-step/nope",
        "/en/topics/nope",
        "/en/life-events/nope",
    ):
        assert client.get(url).status_code == 404


def test_search_index_follows_publishing(demo: None) -> None:
    """A withdrawn service disappears from search results once the catalogue changes."""
    from civicstack.catalogue.content import bump_catalogue_version

    service = Service.objects.get(slug="renew-driving-licence")
    client = Client()
    assert (
        "renew-driving-licence"
        in client.get("/en/search", {"q": "renew driving licence"}).content.decode()
    )
    Service.objects.filter(pk=service.pk).update(status="withdrawn")
    bump_catalogue_version()
    assert (
        "renew-driving-licence"
        not in client.get("/en/search", {"q": "renew driving licence"}).content.decode()
    )


def test_repeated_searches_reuse_results_until_the_catalogue_changes(demo: None) -> None:
    """A repeated search is answered from the cache; a publish makes it search again."""
    from civicstack.catalogue import selectors
    from civicstack.catalogue.content import bump_catalogue_version

    first = selectors.catalogue_search(query="blue badge", language="en")
    assert selectors.catalogue_search(query="blue badge", language="en") is first
    assert selectors.catalogue_search(query="blue badge", language="cy") is not first
    bump_catalogue_version()
    assert selectors.catalogue_search(query="blue badge", language="en") is not first


def test_english_fallback_on_welsh_pages_is_marked_english(demo: None) -> None:
    """Where a Welsh field is empty, the English shown instead carries lang="en"."""
    Service.objects.filter(slug="renew-driving-licence").update(eligibility_cy="")
    body = Client().get("/cy/services/renew-driving-licence").content.decode()
    service = Service.objects.get(slug="renew-driving-licence")
    first_paragraph = service.eligibility_en.split("\n\n")[0]
    assert f'<div lang="en"><p class="govuk-body">{first_paragraph}' in body
    assert '<div lang="cy"><p class="govuk-body">' in body
