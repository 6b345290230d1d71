"""Fixtures for the hostile-input crawl: demo data, signed-in clients, realistic values."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client

from tests.hostile.crawl import Route

MFA_VERIFIED_KEY = "civicstack_mfa_verified"


@dataclass
class Identity:
    """Who the crawl sends requests as, and how to sign them in again if a request
    (sign-out, a password change) ended their session.
    """

    name: str
    client: Client
    user: Any = None
    mfa_verified: bool = False

    def ensure_signed_in(self) -> None:
        """Sign the person in again when their session has gone; nothing for anonymous."""
        if self.user is None:
            return
        session = self.client.session
        if session.get(SESSION_KEY) == str(self.user.pk) and (
            not self.mfa_verified or session.get(MFA_VERIFIED_KEY)
        ):
            return
        self.client.cookies.clear()
        self.client.force_login(self.user)
        if self.mfa_verified:
            session = self.client.session
            session[MFA_VERIFIED_KEY] = True
            session.save()


def _client() -> Client:
    # raise_request_exception=False: an exception in a view becomes the 500 page a person
    # would see (response.exc_info keeps the exception), so every 500 is counted instead of
    # the first one aborting the crawl.
    return Client(raise_request_exception=False)


@pytest.fixture(autouse=True)
def quiet_request_logs() -> Iterator[None]:
    """Silence Django's per-request error logs: the crawl reports every 500 itself, with
    its cause, and thousands of logged tracebacks would only slow it down and bury that.
    """
    loggers = [logging.getLogger(name) for name in ("django.request", "django.security")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL + 1)
    yield
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


@pytest.fixture
def demo_world(db: None) -> dict[str, Any]:
    """Load the demo catalogue and people; return the people the crawl signs in as."""
    from civicstack.accounts import services as accounts_services
    from civicstack.accounts.models import User
    from civicstack.catalogue.loaders import catalogue_demo_load
    from civicstack.forms.services import forms_demo_load

    catalogue_demo_load()
    accounts_services.accounts_demo_load()
    forms_demo_load()
    return {
        "citizen": User.objects.get(email=accounts_services.DEMO_CITIZEN_EMAIL),
        "staff": User.objects.get(email="service-owner@example.org"),
        "platform_admin": User.objects.get(email=accounts_services.DEMO_PLATFORM_ADMIN_EMAIL),
    }


@pytest.fixture
def identities(demo_world: dict[str, Any]) -> dict[str, Identity]:
    """Return the anonymous visitor, a citizen, and staff and a platform admin with MFA."""
    people = {
        "anonymous": Identity("anonymous", _client()),
        "citizen": Identity("citizen", _client(), demo_world["citizen"]),
        "staff": Identity("staff", _client(), demo_world["staff"], mfa_verified=True),
        "platform_admin": Identity(
            "platform_admin", _client(), demo_world["platform_admin"], mfa_verified=True
        ),
    }
    for identity in people.values():
        identity.ensure_signed_in()
    return people


def _admin_model(route: Route) -> Any:
    from django.contrib import admin

    marker = "/django-admin/"
    if marker not in route.template:
        return None
    parts = route.template.split(marker, 1)[1].split("/")
    if len(parts) < 2:
        return None
    for model in admin.site._registry:
        if (model._meta.app_label, model._meta.model_name) == (parts[0], parts[1]):
            return model
    return None


@pytest.fixture
def realistic_values(demo_world: dict[str, Any]) -> Callable[[Route, str], list[str]]:
    """Return a function giving realistic values for a route's parameter, from demo data."""
    from django.contrib.contenttypes.models import ContentType

    from civicstack.accounts import tokens
    from civicstack.accounts.models import User
    from civicstack.catalogue import selectors as catalogue
    from civicstack.catalogue.models import GuideRevision, LifeEvent, ServiceRevision

    staff_service = catalogue.services_for_staff(user=demo_world["staff"]).first()
    assert staff_service is not None, "the demo service owner has services"
    revision = ServiceRevision.objects.filter(service=staff_service).order_by("number").first()
    guide_revision = (
        GuideRevision.objects.filter(guide__slug="moving-home").order_by("number").first()
    )
    # Links for throwaway people, so a link used up by the crawl changes nobody it relies on.
    unverified = User.objects.create_user("hostile-unverified@example.com", "x" * 16)
    resetting = User.objects.create_user("hostile-reset@example.com", "y" * 16)
    by_name: dict[tuple[str, str], list[str]] = {
        ("catalogue:service", "slug"): ["renew-driving-licence"],
        ("catalogue:topic", "slug"): ["driving-and-transport"],
        ("catalogue:life-event", "slug"): [LifeEvent.objects.order_by("slug").first().slug],
        ("catalogue:guide", "slug"): ["learning-to-drive"],
        ("accounts:verify-email", "token"): [
            tokens.link_token_make(user=unverified, purpose=tokens.PURPOSE_VERIFY_EMAIL)
        ],
        ("accounts:password-reset-confirm", "token"): [
            tokens.link_token_make(user=resetting, purpose=tokens.PURPOSE_PASSWORD_RESET)
        ],
        ("admin:view_on_site", "content_type_id"): [
            str(ContentType.objects.get_for_model(User).pk)
        ],
        ("admin:view_on_site", "object_id"): [str(demo_world["citizen"].pk)],
        ("admin:<unnamed>", "url"): ["no-such-page/"],
    }

    by_name.update(_forms_values(demo_world))

    def values(route: Route, parameter: str) -> list[str]:
        if route.name.startswith(("forms:", "api-forms:")) and (("*", parameter) in by_name):
            return by_name[("*", parameter)]
        if (route.name, parameter) in by_name:
            return by_name[(route.name, parameter)]
        if route.name.startswith("backoffice:guide") and parameter == "slug":
            return ["moving-home"]
        if route.name.startswith("backoffice:guide") and parameter == "number":
            return [str(guide_revision.number)] if guide_revision else []
        if route.name.startswith("backoffice:") and parameter == "slug":
            return [staff_service.slug]
        if route.name.startswith("backoffice:") and parameter == "number":
            return [str(revision.number)] if revision else []
        if parameter == "app_label" and route.kinds[parameter] == "regex":
            return route.parameters[parameter].split("|")[:1]
        if parameter == "object_id":
            model = _admin_model(route)
            first = model.objects.order_by("pk").first() if model else None
            return [str(first.pk)] if first else []
        return []

    return values


def _forms_values(demo_world: dict[str, Any]) -> dict[tuple[str, str], list[str]]:
    """Return a citizen's draft, a sent application and a save-and-return link to crawl."""
    from civicstack.catalogue.selectors import service_get
    from civicstack.forms import engine, selectors
    from civicstack.forms import services as forms_services

    citizen = demo_world["citizen"]
    service = service_get(slug="apply-residents-parking-permit")
    draft = forms_services.draft_start(service=service, user=citizen, language="en", actor=citizen)
    definition = selectors.definition_of(version=draft.form_version)
    first = engine.first_step(definition, draft.answers)
    pothole = service_get(slug="report-pothole")
    anonymous = forms_services.draft_start(service=pothole, user=None, language="en", actor=None)
    forms_services.draft_link_send(draft=anonymous, email="hostile@example.org", actor=None)
    anonymous.refresh_from_db()
    return {
        ("*", "slug"): ["apply-residents-parking-permit", "report-pothole"],
        ("*", "draft_id"): [str(draft.pk)],
        ("*", "step"): [first.key if first else "x"],
        ("*", "token"): [selectors.draft_link_token(draft=anonymous)],
        ("*", "question_id"): ["proof_of_address"],
    }
