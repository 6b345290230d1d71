"""Events after commit, the plugin registry, references and errors."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.db import transaction

from civicstack.core.events import Event, publish, subscribe, unsubscribe
from civicstack.core.references import reference_next
from civicstack.core.registry import PluginNotFound, Registry


@dataclass(frozen=True)
class ThingHappened(Event):
    thing_id: str


@pytest.mark.django_db(transaction=True)
def test_event_reaches_subscribers_only_after_commit() -> None:
    """A subscriber runs after the transaction commits, and never for a rolled-back one."""
    received: list[str] = []

    def handler(event: ThingHappened) -> None:
        received.append(event.thing_id)

    subscribe(ThingHappened)(handler)
    try:
        with transaction.atomic():
            publish(ThingHappened(thing_id="a"))
            assert received == []
        assert received == ["a"]
        with pytest.raises(RuntimeError), transaction.atomic():
            publish(ThingHappened(thing_id="b"))
            raise RuntimeError
        assert received == ["a"]
    finally:
        unsubscribe(ThingHappened, handler)


@pytest.mark.django_db(transaction=True)
def test_a_failing_subscriber_does_not_stop_the_others() -> None:
    """One broken subscriber is logged; the next still gets the event."""
    received: list[str] = []

    def broken(event: ThingHappened) -> None:
        raise ValueError("boom")

    def working(event: ThingHappened) -> None:
        received.append(event.thing_id)

    subscribe(ThingHappened)(broken)
    subscribe(ThingHappened)(working)
    try:
        publish(ThingHappened(thing_id="c"))
        assert received == ["c"]
    finally:
        unsubscribe(ThingHappened, broken)
        unsubscribe(ThingHappened, working)


def test_registry_registers_and_finds_plugins_by_id() -> None:
    """Plugins are found by id; duplicate ids and unknown ids are errors."""
    registry: Registry[type] = Registry("channels")

    @registry.register("email")
    class Email:
        pass

    assert registry.get("email") is Email
    assert "email" in registry
    assert list(registry) == ["email"]
    with pytest.raises(ValueError):
        registry.register("email")(type("Other", (), {}))
    with pytest.raises(PluginNotFound):
        registry.get("sms")


@pytest.mark.django_db
def test_references_are_sequential_per_prefix_and_year() -> None:
    """References count up per prefix and year, zero-padded."""
    assert reference_next(prefix="SVC") == "SVC-000001"
    assert reference_next(prefix="SVC") == "SVC-000002"
    assert reference_next(prefix="APP", year=2026) == "APP-2026-000001"
    assert reference_next(prefix="APP", year=2027) == "APP-2027-000001"
