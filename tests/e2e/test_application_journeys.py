"""Applying online in headless Chromium: a branching form with a repeating group and an
upload inside it, save and return, a change from check your answers, sending, and the
dashboard. axe-core runs on every page visited, with and without JavaScript.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from tests.e2e.pages import BrowserLog, arrive, assert_clean, visit

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("clamd")]

DEMO_PASSWORD = "civicstack-demo-password"


@pytest.fixture
def permit_form(demo_data: None) -> Any:
    """Put the test permit form (branch, group, upload in the group) on a demo service."""
    from civicstack.catalogue.selectors import service_get
    from civicstack.forms.services import form_import
    from civicstack.forms.tests.conftest import PERMIT_FORM

    service = service_get(slug="apply-residents-parking-permit")
    assert service is not None
    form_import(service=service, source=PERMIT_FORM, actor=None)
    return service


def _photo(tmp_path: Path) -> Path:
    path = tmp_path / "logbook.jpg"
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), "navy").save(buffer, format="JPEG")
    path.write_bytes(buffer.getvalue())
    return path


def _continue(page: Page) -> None:
    page.get_by_role("button", name="Continue", exact=True).click()


def _add_a_vehicle(page: Page, log: BrowserLog) -> None:
    """From "Do you have a vehicle?" to the first vehicle's upload page."""
    arrive(page, log, path="/vehicle_question/")
    page.get_by_label("Yes").check()
    _continue(page)
    arrive(page, log, path="/vehicles/")
    page.get_by_label("Yes").check()
    _continue(page)
    arrive(page, log, path="/vehicles.0.vehicle_details/")
    page.get_by_label("Registration number").fill("KB12 ABC")
    _continue(page)
    arrive(page, log, path="/vehicles.0.vehicle_proof/")


@pytest.mark.parametrize("javascript_enabled", [True, False], ids=["js", "no-js"])
def test_apply_with_a_group_and_an_upload_save_return_change_and_send(
    open_page: Callable[..., tuple[Page, BrowserLog]],
    permit_form: Any,
    site_url: str,
    tmp_path: Path,
    javascript_enabled: bool,
) -> None:
    page, log = open_page(javascript_enabled=javascript_enabled)
    visit(page, log, "/en/services/apply-residents-parking-permit")
    page.get_by_role("button", name="Start now").click()
    arrive(page, log, path="/en/apply/apply-residents-parking-permit/")
    page.get_by_role("button", name="Sign in and start").click()
    arrive(page, log, path="/en/account/sign-in")
    page.get_by_label("Email address").fill("citizen@example.org")
    page.get_by_label("Password", exact=True).fill(DEMO_PASSWORD)
    page.get_by_role("main").get_by_role("button", name="Continue").click()
    arrive(page, log, path="/en/apply/apply-residents-parking-permit/")
    page.get_by_role("button", name="Start now").click()
    arrive(page, log, path="/begin/")
    page.get_by_role("button", name="Start your application").click()

    # Name is prefilled from the profile.
    arrive(page, log, path=re.compile(r"/apply/d/[0-9a-f-]+/name/$"))
    expect(page.get_by_label("What is your full name?")).to_have_value("Alex Citizen")
    _continue(page)
    # The group: add a vehicle, with an upload inside it.
    _add_a_vehicle(page, log)
    page.get_by_label("Upload proof of ownership").set_input_files(str(_photo(tmp_path)))
    page.get_by_role("button", name="Upload file").click()
    arrive(page, log, path="/vehicles.0.vehicle_proof/")
    expect(page.get_by_role("term").filter(has_text="logbook.jpg")).to_be_visible()

    # Save and come back later, from the dashboard.
    page.get_by_role("button", name="Save and come back later").click()
    arrive(page, log, path="/save/")
    page.get_by_role("link", name="Go to your applications").click()
    arrive(page, log, path="/en/applications/")
    page.get_by_role("link", name=re.compile("Continue")).first.click()
    # Back where the answers run out: the vehicle is complete, so the email comes next.
    arrive(page, log, path="/contact/")
    page.get_by_role("link", name="Back").click()
    arrive(page, log, path="/vehicles/")
    expect(page.get_by_text("KB12 ABC")).to_be_visible()
    page.get_by_label("No").check()
    _continue(page)
    arrive(page, log, path="/contact/")
    page.get_by_label("What is your email address?").fill("alex@example.org")
    _continue(page)

    # Check your answers, change the name, come back.
    arrive(page, log, path="/check-answers/")
    expect(page.get_by_text("logbook.jpg")).to_be_visible()
    page.get_by_role("link", name=re.compile("Change.*full name", re.IGNORECASE)).click()
    arrive(page, log, path="/name/")
    page.get_by_label("What is your full name?").fill("Alex Q Citizen")
    _continue(page)
    arrive(page, log, path="/check-answers/")
    expect(page.get_by_text("Alex Q Citizen")).to_be_visible()
    page.get_by_role("button", name="Continue").click()
    arrive(page, log, path="/declaration/")
    page.get_by_role("button", name="Accept and send").click()

    arrive(page, log, path="/confirmation/")
    reference = page.locator(".govuk-panel__body strong").inner_text()
    assert re.fullmatch(r"APP-\d{4}-\d{6}", reference)
    page.get_by_role("link", name="Track your application").click()
    arrive(page, log, path=re.compile(r"/en/applications/[0-9a-f-]+/$"))
    expect(page.get_by_text(reference)).to_be_visible()
    expect(page.get_by_role("link", name="logbook.jpg")).to_be_visible()
    visit(page, log, "/en/applications/")
    expect(page.get_by_role("cell", name=reference)).to_be_visible()
    assert_clean(log)


def test_a_service_owner_edits_previews_and_publishes_a_form(
    open_page: Callable[..., tuple[Page, BrowserLog]], demo_data: None
) -> None:
    """The editor's live preview follows the text, errors show in place, publishing works."""
    import pyotp

    from civicstack.accounts.models import User
    from civicstack.accounts.selectors import agencies_for_staff
    from civicstack.accounts.services import DEMO_PASSWORD, DEMO_TOTP_SECRET
    from civicstack.catalogue.selectors import services_for_staff
    from civicstack.forms.services import form_import
    from civicstack.forms.tests.conftest import PERMIT_FORM

    owner = User.objects.get(email="service-owner@example.org")
    assert agencies_for_staff(user=owner).exists()
    service = services_for_staff(user=owner).first()
    form_import(service=service, source=PERMIT_FORM, actor=None)

    page, log = open_page()
    visit(page, log, "/en/back-office/forms")
    page.get_by_label("Email address").fill("service-owner@example.org")
    page.get_by_label("Password", exact=True).fill(DEMO_PASSWORD)
    page.get_by_role("main").get_by_role("button", name="Continue").click()
    arrive(page, log, path="/en/account/sign-in/code")
    page.get_by_label("Enter the code from your authenticator app").fill(
        pyotp.TOTP(DEMO_TOTP_SECRET).now()
    )
    page.get_by_role("main").get_by_role("button", name="Continue").click()
    arrive(page, log, path="/en/back-office/forms")
    page.get_by_role("link", name=service.title_en).click()
    arrive(page, log, path=f"/en/back-office/forms/{service.slug}")
    page.get_by_role("link", name="Start a new version").click()
    arrive(page, log, path=f"/en/back-office/forms/{service.slug}/edit")

    source = page.get_by_label("Form definition (YAML or JSON)")
    preview = page.locator("#preview")
    source.fill(PERMIT_FORM.replace("What is your full name?", "Your name as on your licence"))
    expect(preview).to_contain_text("Your name as on your licence")
    source.fill(PERMIT_FORM.replace("type: yesno", "type: telepathy"))
    expect(preview.locator(".govuk-error-summary")).to_be_visible()
    expect(preview.locator(".civicstack-source__line--error")).to_have_count(1)
    arrive(page, log)
    source.fill(PERMIT_FORM.replace("What is your full name?", "Your name as on your licence"))
    expect(preview).to_contain_text("Your name as on your licence")
    page.get_by_role("button", name="Save draft").click()
    arrive(page, log, path=f"/en/back-office/forms/{service.slug}")
    page.get_by_role("button", name="Publish version 2").click()
    arrive(page, log, path=f"/en/back-office/forms/{service.slug}")
    expect(page.get_by_text("Version 2 is live.")).to_be_visible()
    assert_clean(log)


def _sign_in_citizen(page: Page, log: BrowserLog) -> None:
    visit(page, log, "/en/account/sign-in")
    page.get_by_label("Email address").fill("citizen@example.org")
    page.get_by_label("Password", exact=True).fill(DEMO_PASSWORD)
    page.get_by_role("main").get_by_role("button", name="Continue").click()
    arrive(page, log)


def test_every_other_runner_and_dashboard_page_is_accessible(
    open_page: Callable[..., tuple[Page, BrowserLog]],
    permit_form: Any,
    site_url: str,
    tmp_path: Path,
) -> None:
    """Pre-check and its refusal, address lookup, the task list, confirmations of removal,
    deletion and withdrawal, documents, error states and Welsh pages: axe finds nothing."""
    from civicstack.forms.models import Application, Draft
    from civicstack.forms.services import forms_demo_load

    forms_demo_load()  # the demo forms replace the test form on the parking permit
    page, log = open_page()
    _sign_in_citizen(page, log)

    # Pre-check: an error, a refusal, then eligible.
    visit(page, log, "/en/apply/apply-residents-parking-permit/check/1/")
    _continue(page)
    arrive(page, log)
    expect(page.locator(".govuk-error-summary")).to_be_visible()
    page.get_by_label("Yes").check()
    _continue(page)
    arrive(page, log, path="/check/2/")
    page.get_by_label("No").check()
    _continue(page)
    arrive(page, log, path="/not-eligible/")
    visit(page, log, "/en/apply/apply-residents-parking-permit/check/2/")
    page.get_by_label("Yes").check()
    _continue(page)
    arrive(page, log, path="/begin/")
    page.get_by_role("button", name="Start your application").click()
    arrive(page, log, path="/name/")
    _continue(page)
    arrive(page, log, path="/home_address/")
    page.get_by_label("Postcode").fill("KB1 2AB")
    page.get_by_role("button", name="Find address").click()
    arrive(page, log, path="/home_address/")
    draft = Draft.objects.get(service__slug="apply-residents-parking-permit")

    # A service at a higher level of assurance: a password alone is stepped up first.
    visit(page, log, "/en/apply/apply-housing-benefit/")
    page.get_by_role("button", name="Start now").click()
    arrive(page, log, path="/en/identity/step-up")
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm it's you to continue")
    expect(page.get_by_role("link", name="Set up an authenticator app")).to_be_visible()

    # A long form's task list, a group item's removal, and deleting a draft.
    visit(page, log, "/en/apply/give-notice-of-marriage/check/1/")
    page.get_by_label("Yes").check()
    _continue(page)
    arrive(page, log, path="/check/2/")
    page.get_by_label("Yes").check()
    _continue(page)
    arrive(page, log, path="/check/3/")
    page.get_by_role("textbox").fill("30")
    _continue(page)
    arrive(page, log, path="/begin/")
    page.get_by_role("button", name="Start your application").click()
    arrive(page, log, path=re.compile(r"/apply/d/[0-9a-f-]+/$"))
    expect(page.locator(".govuk-task-list")).to_be_visible()
    visit(page, log, f"/en/apply/d/{draft.pk}/delete/")
    page.get_by_role("button", name="Continue").click()
    arrive(page, log)
    expect(page.locator(".govuk-error-summary")).to_be_visible()

    # The test permit form: one vehicle, then the remove-item question.
    from civicstack.forms.services import form_import
    from civicstack.forms.tests.conftest import PERMIT_FORM

    form_import(service=permit_form, source=PERMIT_FORM, actor=None)
    visit(page, log, "/en/apply/apply-residents-parking-permit/begin/")
    page.get_by_role("button", name="Start your application").click()
    arrive(page, log, path="/name/")
    _continue(page)
    _add_a_vehicle(page, log)
    _continue(page)
    arrive(page, log, path="/vehicles.0.vehicle_proof/")
    expect(page.locator(".govuk-error-summary")).to_be_visible()
    page.get_by_label("Upload proof of ownership").set_input_files(str(_photo(tmp_path)))
    page.get_by_role("button", name="Upload file").click()
    arrive(page, log, path="/vehicles.0.vehicle_proof/")
    _continue(page)
    arrive(page, log, path="/vehicles/")
    page.get_by_role("link", name=re.compile("Remove.*Vehicle 1")).click()
    arrive(page, log, path="/vehicles.0/remove/")
    page.get_by_label("No").check()
    _continue(page)
    arrive(page, log, path="/vehicles/")
    page.get_by_label("No").check()
    _continue(page)
    arrive(page, log, path="/contact/")
    page.get_by_label("What is your email address?").fill("alex@example.org")
    _continue(page)
    arrive(page, log, path="/check-answers/")
    page.get_by_role("button", name="Continue").click()
    arrive(page, log, path="/declaration/")
    page.get_by_role("button", name="Accept and send").click()
    arrive(page, log, path="/confirmation/")
    application = Application.objects.get()

    # The dashboard's other pages, and withdrawal.
    visit(page, log, "/en/applications/documents/")
    expect(page.get_by_role("link", name="logbook.jpg")).to_be_visible()
    visit(page, log, f"/en/applications/{application.pk}/withdraw/")
    page.get_by_label("Yes").check()
    page.get_by_role("button", name="Continue").click()
    arrive(page, log, path=f"/en/applications/{application.pk}/")
    expect(page.locator(".govuk-tag").first).to_have_text("Withdrawn")

    # Welsh: the same pages in the other language.
    for path in (
        "/cy/apply/apply-residents-parking-permit/",
        "/cy/applications/",
        f"/cy/applications/{application.pk}/",
        "/cy/applications/documents/",
        "/cy/apply/apply-blue-badge/",
    ):
        visit(page, log, path)
        assert page.evaluate("() => document.documentElement.lang") == "cy"
    assert_clean(log)
    # Pages that answer 404 on purpose (checked with axe, not counted as problems).
    visit(page, log, "/en/apply/resume/not-a-real-link/", status=404)
    visit(page, log, "/en/apply/renew-driving-licence/", status=404)
