"""Letters: rendered or precompiled PDFs in the print outbox and the person's documents."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from pypdf import PdfReader, PdfWriter
from pytest_django.fixtures import Settings

from civicstack.accounts.tests.factories import UserFactory
from civicstack.catalogue.tests.factories import ServiceFactory
from civicstack.documents.selectors import document_content, documents_for_owner
from civicstack.notify import delivery, services
from civicstack.notify.letters import LetterPage, letter_pdf_render
from civicstack.notify.models import Kind, Notification, Sender, Status, Template

ADDRESS = ["Rhian Evans", "1 High Street", "Cardiff", "CF10 1AA"]


@pytest.fixture
def outbox(settings: Settings, tmp_path: Path) -> Path:
    settings.NOTIFY_OUTBOX_DIR = tmp_path / "outbox"
    return tmp_path / "outbox" / "letters"


@pytest.fixture
def sender(db: Any) -> Sender:
    return services.sender_for_service(service=ServiceFactory(title_en="Apply for a licence"))


@pytest.fixture
def template(sender: Sender) -> Template:
    return services.template_create(
        actor=None,
        sender=sender,
        kind=Kind.LETTER,
        name="Licence granted",
        subject_en="Your licence ((licence))",
        body_en=(
            "Dear ((name)),\n\n"
            "Your licence number is ((licence)).\n\n"
            "## What to bring\n\n"
            "* your old licence\n"
            "* a photo"
        ),
    )


def pdf_text(content: bytes) -> str:
    reader = PdfReader(io.BytesIO(content))
    return "\n".join(page.extract_text() for page in reader.pages)


def a4_pdf(pages: int = 1, size: tuple[float, float] = (595.28, 841.89)) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=size[0], height=size[1])
    stream = io.BytesIO()
    writer.write(stream)
    return stream.getvalue()


def send(notification: Notification) -> Notification:
    delivery.notifications_send([str(notification.pk)])
    notification.refresh_from_db()
    return notification


def resend(notification: Notification) -> Notification:
    Notification.objects.filter(pk=notification.pk).update(
        status=Status.CREATED, claimed_until=None, next_attempt_at=timezone.now()
    )
    return send(notification)


def test_template_letter_is_a_pdf_in_the_print_outbox_and_the_persons_documents(
    outbox: Path, document_store: Path, sender: Sender, template: Template
) -> None:
    """The personalised letter is printed from the outbox and kept in the citizen's documents."""
    person = UserFactory(full_name="Rhian Evans")
    notification = send(
        delivery.notification_create(
            sender=sender,
            kind=Kind.LETTER,
            user=person,
            template=template,
            personalisation={"name": "Rhian", "licence": "LIC-0042"},
            address=ADDRESS,
        )
    )

    assert notification.status == Status.RECEIVED, notification.failure_reason
    assert notification.provider == "print-outbox"
    printed = (outbox / f"{notification.pk}.pdf").read_bytes()
    text = pdf_text(printed)
    assert "Your licence LIC-0042" in text
    assert "Dear Rhian," in text
    assert "Your licence number is LIC-0042." in text
    assert "1 High Street" in text
    assert "CF10 1AA" in text
    assert timezone.localdate().strftime("%B %Y") in text
    page = PdfReader(io.BytesIO(printed)).pages[0]
    assert round(float(page.mediabox.width)) == 595
    [document] = documents_for_owner(user=person)
    assert notification.document_id == document.pk
    assert document_content(document=document) == printed
    assert document.original_filename == "your-licence-lic-0042.pdf"


def test_precompiled_letter_goes_to_the_outbox_unchanged(outbox: Path, sender: Sender) -> None:
    """A PDF sent through the API is printed byte for byte as it came."""
    content = a4_pdf(pages=2)
    notification = send(
        delivery.notification_create(
            sender=sender, kind=Kind.LETTER, address=ADDRESS, pdf=content, reference="batch-7"
        )
    )

    assert notification.status == Status.RECEIVED, notification.failure_reason
    assert (outbox / f"{notification.pk}.pdf").read_bytes() == content
    assert notification.provider_reference is None


def test_a_resend_leaves_one_file_and_one_document(
    outbox: Path, document_store: Path, sender: Sender, template: Template
) -> None:
    """Sending the same letter again replaces its file and finds the document already issued."""
    person = UserFactory()
    notification = delivery.notification_create(
        sender=sender,
        kind=Kind.LETTER,
        user=person,
        template=template,
        personalisation={"name": "Rhian", "licence": "LIC-0042"},
        address=ADDRESS,
    )
    first = send(notification)
    again = resend(notification)

    assert again.status == Status.RECEIVED
    assert again.attempts == 2
    assert [path.name for path in outbox.iterdir()] == [f"{notification.pk}.pdf"]
    assert documents_for_owner(user=person).count() == 1
    assert again.provider_reference == first.provider_reference


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"%PDF-1.7\nnot really a pdf", "The PDF could not be read"),
        (a4_pdf(size=(612, 792)), "Letters must be A4 size"),
        (a4_pdf(pages=11), "Letters must be 10 pages or fewer"),
    ],
)
def test_precompiled_letter_that_cannot_be_printed_fails_with_its_reason(
    outbox: Path, sender: Sender, content: bytes, reason: str
) -> None:
    """A broken, Letter-size or too long PDF is refused for good; nothing is printed."""
    notification = send(
        delivery.notification_create(sender=sender, kind=Kind.LETTER, address=ADDRESS, pdf=content)
    )
    assert notification.status == Status.VALIDATION_FAILED
    assert notification.failure_reason.startswith(reason)
    assert not outbox.exists() or list(outbox.iterdir()) == []


def test_markup_in_values_is_printed_as_text_and_fetches_nothing(
    outbox: Path, sender: Sender, template: Template
) -> None:
    """A value with HTML is escaped; the renderer loads no file or network URL."""
    notification = send(
        delivery.notification_create(
            sender=sender,
            kind=Kind.LETTER,
            template=template,
            personalisation={"name": '<img src="file:///etc/hostname">Rhian', "licence": "L-1"},
            address=ADDRESS,
        )
    )
    assert notification.status == Status.RECEIVED
    text = pdf_text((outbox / f"{notification.pk}.pdf").read_bytes())
    assert '<img src="file:///etc/hostname">Rhian' in text.replace("\n", "")


def test_renderer_refuses_file_urls_in_the_letter_itself(tmp_path: Path) -> None:
    """Even markup that reached the HTML cannot make the renderer read a local file."""
    secret = tmp_path / "secret.css"
    secret.write_text("main { display: none }", encoding="utf-8")
    page = LetterPage(
        sender_name="Agency",
        address=[],
        date=timezone.localdate(),
        language="en",
        subject="Subject",
        html=f'<link rel="stylesheet" href="file://{secret}"><p>Still here</p>',
    )
    assert "Still here" in pdf_text(letter_pdf_render(page))
