"""Every demo service can be applied for over HTTP, from start to confirmation.

Each form is answered through the runner's pages the way a person would: the pre-check,
one page at a time, repeating groups, real uploads for file questions, the task list where
the form has one, check your answers and the declaration.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from civicstack.accounts.constants import AUTH_METHODS_KEY, MFA_VERIFIED_KEY
from civicstack.accounts.tests.factories import UserFactory
from civicstack.catalogue.loaders import catalogue_demo_load
from civicstack.forms import engine, selectors
from civicstack.forms.models import Application, Draft
from civicstack.forms.questions import question_initial
from civicstack.forms.services import forms_demo_load
from civicstack.forms.tests.conftest import png_bytes
from civicstack.forms.tests.test_demo_forms import EXPECTED, generate

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clamd")]


def _problems(response: Any) -> str:
    """Return the error summary of a page, to explain a failed step."""
    body = response.content.decode()
    start = body.find("govuk-error-summary__list")
    return body[start : start + 1500] if start >= 0 else body[:1500]


def _post_data(questions: Any, rng: random.Random) -> dict[str, Any]:
    data: dict[str, Any] = {"action": "continue"}
    for question in questions:
        if question.type == "file":
            continue
        for name, raw in question_initial(question, generate(question, rng)).items():
            data[name] = raw
    return data


def _eligible_precheck(definition: Any, rng: random.Random) -> list[dict[str, Any]]:
    for _attempt in range(500):
        answers = {q.id: generate(q, rng) for q in definition.precheck.questions}
        if engine.precheck_evaluate(definition, answers):
            return [dict(question_initial(q, answers[q.id])) for q in definition.precheck.questions]
    raise AssertionError("no eligible pre-check answers found")


@pytest.mark.parametrize("slug", sorted(EXPECTED))
def test_each_demo_service_can_be_applied_for_end_to_end(slug: str) -> None:
    """Pre-check, pages, groups, uploads, task list, check answers, send: one application."""
    catalogue_demo_load()
    forms_demo_load()
    rng = random.Random(slug)
    client = Client()
    client.force_login(UserFactory(full_name="Sam Evans"))
    # Signed in with an authenticator app code: enough for every demo service's level of
    # assurance (apply-housing-benefit needs substantial).
    session = client.session
    session[AUTH_METHODS_KEY] = ["pwd", "otp", "mfa"]
    session[MFA_VERIFIED_KEY] = True
    session.save()
    service_url = reverse("forms:start", kwargs={"slug": slug})
    assert client.get(service_url).status_code == 200
    version = selectors.form_published_version(service=selectors_service(slug))
    definition = selectors.definition_of(version=version)
    if definition.precheck is not None:
        for number, data in enumerate(_eligible_precheck(definition, rng), start=1):
            url = reverse("forms:precheck", kwargs={"slug": slug, "number": number})
            assert client.get(url).status_code == 200
            response = client.post(url, data)
            assert response.status_code == 302, _problems(response)
    response = client.post(reverse("forms:begin", kwargs={"slug": slug}))
    assert response.status_code == 302
    draft = Draft.objects.get()
    targets: dict[str, int] = {}
    for _step in range(300):
        draft.refresh_from_db()
        ref = engine.first_incomplete(definition, draft.answers)
        location = _answer(client, draft, definition, ref, targets, rng)
        if location.endswith("/check-answers/") and ref is None:
            break
    else:
        raise AssertionError("the form never reached check your answers")
    check = client.get(reverse("forms:check-answers", kwargs={"draft_id": draft.pk}))
    assert check.status_code == 200, check.content.decode()[:2000]
    declaration = reverse("forms:declaration", kwargs={"draft_id": draft.pk})
    assert client.get(declaration).status_code == 200
    response = client.post(declaration)
    assert response.status_code == 302
    application = Application.objects.get()
    assert client.get(response["Location"]).status_code == 200
    assert application.service.slug == slug
    assert engine.answers_validate(definition, application.answers, "en") == {}


def selectors_service(slug: str) -> Any:
    from civicstack.catalogue.selectors import service_get

    return service_get(slug=slug)


def _answer(
    client: Client,
    draft: Draft,
    definition: Any,
    ref: engine.PageRef | None,
    targets: dict[str, int],
    rng: random.Random,
) -> str:
    """Answer the first incomplete step (or look for one past the groups); return where to."""
    if ref is None:
        # Complete as far as required answers go: walk the route for unvisited group steps.
        for step in engine.route(definition, draft.answers):
            if step.is_group_summary and step.page_id not in targets:
                ref = step
                break
        else:
            return reverse("forms:check-answers", kwargs={"draft_id": draft.pk})
    url = reverse("forms:page", kwargs={"draft_id": draft.pk, "step": ref.key})
    page = client.get(url)
    assert page.status_code == 200, (ref.key, page.content.decode()[:2000])
    if ref.is_group_summary:
        group = definition.group(ref.page_id)
        target = targets.setdefault(group.id, max(group.min, 1 if group.max else 0))
        items = draft.answers.get(group.id) or []
        choice = "yes" if len(items) < target else "no"
        response = client.post(url, {"add-another": choice})
        assert response.status_code == 302, _problems(response)
        return str(response["Location"])
    questions = definition.page(ref.page_id).questions
    for question in questions:
        if question.type != "file":
            continue
        wanted = 1 if question.required else rng.randint(0, 1)
        for number in range(wanted):
            upload = SimpleUploadedFile(f"evidence-{number}.png", png_bytes(), "image/png")
            response = client.post(
                url, {"action": f"upload:{question.id}", f"{question.id}-upload": upload}
            )
            assert response.status_code == 302, (ref.key, _problems(response))
    response = client.post(url, _post_data(questions, rng))
    assert response.status_code == 302, (ref.key, _problems(response))
    return str(response["Location"])
