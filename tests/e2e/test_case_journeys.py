"""A case from application to signed letter in headless Chromium.

The citizen applies; a caseworker takes the case and asks for more information; the citizen
replies with a file from their dashboard; the caseworker decides with reasons; the citizen
downloads the decision letter and its PAdES signature validates against the test PKI.
axe-core runs on every page visited, back office included.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyotp
import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from tests.e2e.pages import BrowserLog, arrive, assert_clean, visit

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("clamd", "document_store")]

SERVICE = "apply-blue-badge"


@pytest.fixture
def case_service(demo_data: None, letter_signing: Any) -> Any:
    """Put a short form on a demo service whose agency has demo staff; no four-eyes."""
    from civicstack.cases.services import case_settings_update, cases_demo_load
    from civicstack.cases.tests.conftest import CASE_FORM
    from civicstack.catalogue.selectors import service_get
    from civicstack.forms.services import form_import

    service = service_get(slug=SERVICE)
    assert service is not None
    form_import(service=service, source=CASE_FORM, actor=None)
    cases_demo_load()
    from civicstack.accounts.models import User

    owner = User.objects.get(email="service-owner@example.org")
    case_settings_update(
        service=service,
        target_working_days=15,
        nation="wales",
        four_eyes=False,
        automation_enabled=False,
        actor=owner,
    )
    from civicstack.cases.models import ProcessVersion

    # The demo gives this service the two-step process; start this journey on the default.
    ProcessVersion.objects.filter(service=service).delete()
    return service


def _sign_in(page: Page, log: BrowserLog, *, email: str, code: bool) -> None:
    from civicstack.accounts.services import DEMO_PASSWORD, DEMO_TOTP_SECRET

    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(DEMO_PASSWORD)
    page.get_by_role("main").get_by_role("button", name="Continue").click()
    if code:
        arrive(page, log, path="/en/account/sign-in/code")
        page.get_by_label("Enter the code from your authenticator app").fill(
            pyotp.TOTP(DEMO_TOTP_SECRET).now()
        )
        page.get_by_role("main").get_by_role("button", name="Continue").click()


def _continue(page: Page) -> None:
    page.get_by_role("button", name="Continue", exact=True).click()


def _scan(tmp_path: Path) -> Path:
    path = tmp_path / "council-tax-bill.png"
    buffer = io.BytesIO()
    Image.new("RGB", (80, 60), "white").save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue())
    return path


def test_apply_request_information_reply_decide_and_download_a_signed_letter(
    open_page: Callable[..., tuple[Page, BrowserLog]],
    case_service: Any,
    letter_signing: Any,
    site_url: str,
    tmp_path: Path,
) -> None:
    from civicstack.cases.models import Case
    from civicstack.cases.signing import pdf_signature_check

    # The citizen applies.
    citizen, citizen_log = open_page()
    visit(citizen, citizen_log, f"/en/apply/{SERVICE}/")
    citizen.get_by_role("button", name="Sign in and start").click()
    arrive(citizen, citizen_log, path="/en/account/sign-in")
    _sign_in(citizen, citizen_log, email="citizen@example.org", code=False)
    arrive(citizen, citizen_log, path=f"/en/apply/{SERVICE}/")
    citizen.get_by_role("button", name="Start now").click()
    arrive(citizen, citizen_log, path="/begin/")
    citizen.get_by_role("button", name="Start your application").click()
    arrive(citizen, citizen_log, path=re.compile(r"/name/$"))
    _continue(citizen)
    arrive(citizen, citizen_log, path=re.compile(r"/household/$"))
    citizen.get_by_label("How many people live with you?").fill("3")
    _continue(citizen)
    arrive(citizen, citizen_log, path=re.compile(r"/contact/$"))
    _continue(citizen)
    arrive(citizen, citizen_log, path="/check-answers/")
    citizen.get_by_role("button", name="Continue").click()
    arrive(citizen, citizen_log, path="/declaration/")
    citizen.get_by_role("button", name="Accept and send").click()
    arrive(citizen, citizen_log, path="/confirmation/")
    application_reference = citizen.locator(".govuk-panel__body strong").inner_text()
    case = Case.objects.get(application_reference=application_reference)

    # A caseworker finds it in the queue and takes it.
    worker, worker_log = open_page()
    visit(worker, worker_log, "/en/back-office/cases")
    _sign_in(worker, worker_log, email="caseworker@example.org", code=True)
    arrive(worker, worker_log, path="/en/back-office/cases")
    worker.get_by_role("link", name=case.reference).click()
    arrive(worker, worker_log, path=f"/en/back-office/cases/{case.pk}")
    expect(worker.get_by_text(application_reference).first).to_be_visible()
    worker.get_by_role("button", name="Take this case").click()
    arrive(worker, worker_log, path=f"/en/back-office/cases/{case.pk}")

    # ... and asks for more information.
    worker.get_by_label("What do you need from the applicant?").fill(
        "Please send a recent council tax bill."
    )
    worker.get_by_label("Days the applicant has to reply").fill("10")
    worker.get_by_role("button", name="Send the request").click()
    arrive(worker, worker_log, path=f"/en/back-office/cases/{case.pk}")
    case.refresh_from_db()
    assert case.waiting_on == "applicant"

    # The citizen sees the request on their dashboard and replies with a file.
    visit(citizen, citizen_log, f"/en/applications/{case.application_id}/")
    expect(citizen.get_by_text("Please send a recent council tax bill.")).to_be_visible()
    citizen.get_by_role("link", name="Reply to this request").click()
    arrive(citizen, citizen_log, path=re.compile(r"/requests/[0-9a-f-]+/$"))
    citizen.get_by_label("Your reply").fill("Attached is this year's bill.")
    citizen.get_by_label("Files").set_input_files(str(_scan(tmp_path)))
    citizen.get_by_role("button", name="Add file").click()
    arrive(citizen, citizen_log, path=re.compile(r"/requests/[0-9a-f-]+/$"))
    expect(citizen.get_by_text("council-tax-bill.png").first).to_be_visible()
    citizen.get_by_role("button", name="Send reply").click()
    arrive(citizen, citizen_log)
    case.refresh_from_db()
    assert case.waiting_on == "caseworker"

    # The caseworker sees the reply and decides with reasons.
    visit(worker, worker_log, f"/en/back-office/cases/{case.pk}")
    expect(worker.get_by_text("Attached is this year's bill.").first).to_be_visible()
    worker.get_by_label("Approved").check()
    worker.get_by_label("Reasons").fill(
        "The council tax bill confirms the address, so the badge is approved."
    )
    worker.get_by_role("button", name="Decide and send the letter").click()
    arrive(worker, worker_log, path=f"/en/back-office/cases/{case.pk}")
    case.refresh_from_db()
    assert case.status == "decided"

    # The citizen downloads the signed letter from their application page.
    visit(citizen, citizen_log, f"/en/applications/{case.application_id}/")
    with citizen.expect_download() as download_info:
        citizen.get_by_role("link", name="Download your decision letter (PDF)").click()
    pdf = Path(download_info.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF-")
    report = pdf_signature_check(pdf=pdf, trust_roots=[letter_signing.root])
    assert report.ok, report
    assert report.pades
    assert report.signer == letter_signing.signer_common_name
    # A download ends the navigation that started it: the browser reports it as aborted.
    citizen_log.failed_requests = [
        request for request in citizen_log.failed_requests if "/download" not in request
    ]
    assert_clean(citizen_log)
    assert_clean(worker_log)


def test_supervision_and_service_settings_pages_are_accessible(
    open_page: Callable[..., tuple[Page, BrowserLog]], case_service: Any
) -> None:
    """The supervisor's view and the service's case settings pass axe with a case open."""
    from civicstack.accounts.models import User
    from civicstack.cases.services import case_open_for_application
    from civicstack.forms.models import Draft
    from civicstack.forms.services import application_submit, draft_start

    citizen = User.objects.get(email="citizen@example.org")
    draft = draft_start(service=case_service, user=citizen, language="en", actor=citizen)
    Draft.objects.filter(pk=draft.pk).update(
        answers={"full_name": "Alex Citizen", "household_size": 2, "email": citizen.email}
    )
    draft.refresh_from_db()
    application = application_submit(draft=draft, holder_keys=[], actor=citizen)
    case = case_open_for_application(application_id=application.pk)
    assert case is not None

    supervisor, log = open_page()
    visit(supervisor, log, "/en/back-office/cases/supervision")
    _sign_in(supervisor, log, email="supervisor@example.org", code=True)
    arrive(supervisor, log, path="/en/back-office/cases/supervision")
    expect(supervisor.get_by_role("heading", level=1)).to_be_visible()
    visit(supervisor, log, "/en/back-office/cases?assigned=unassigned&sort=priority")
    # The case page with the process diagram drawn by bpmn-js, the current step marked.
    visit(supervisor, log, f"/en/back-office/cases/{case.pk}")
    expect(supervisor.locator("[data-process-diagram] svg").first).to_be_visible()
    assert_clean(log)

    owner, owner_log = open_page(javascript_enabled=False)
    visit(owner, owner_log, f"/en/back-office/services/{SERVICE}/cases")
    _sign_in(owner, owner_log, email="service-owner@example.org", code=True)
    arrive(owner, owner_log, path=f"/en/back-office/services/{SERVICE}/cases")
    visit(owner, owner_log, f"/en/back-office/services/{SERVICE}/cases/rules/new")
    assert_clean(owner_log)
