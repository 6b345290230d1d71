"""Attaching, removing and releasing uploads, and who may see which document."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction

from civicstack.accounts.tests.factories import AgencyFactory, UserFactory, staff_create
from civicstack.core.errors import NotFound, ValidationFailed
from civicstack.core.models import AuditEvent
from civicstack.documents import selectors, services
from civicstack.documents.constants import KINDS, DocumentStatus, UploadPolicy
from civicstack.documents.models import Document
from civicstack.documents.testing import pdf_bytes, stored_blobs, upload_of

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clamd")]

POLICY = UploadPolicy(kinds=KINDS, max_bytes=1024 * 1024)
DRAFT = "draft:11111111-1111-1111-1111-111111111111"
OTHER_DRAFT = "draft:22222222-2222-2222-2222-222222222222"
Committed = Callable[..., AbstractContextManager[list[Any]]]


def _upload(holder: str = DRAFT, owner: Any = None) -> Document:
    return services.document_upload(
        upload=upload_of("form.pdf", pdf_bytes()),
        policy=POLICY,
        owner=owner,
        holder=holder,
        actor=owner,
    )


def test_attach_moves_held_uploads_to_the_application_and_agency(document_store: Path) -> None:
    """Attached documents name the application and agency, and gain their owner."""
    person = UserFactory()
    agency = AgencyFactory()
    first, second = _upload(), _upload()
    attached = services.documents_attach(
        document_ids=[str(first.pk), second.pk],
        holder_keys=[DRAFT],
        owner=person,
        agency_id=agency.pk,
        attached_to="APP-2026-000001",
        actor=person,
    )
    assert {d.pk for d in attached} == {first.pk, second.pk}
    for document in Document.objects.all():
        assert document.status == DocumentStatus.ATTACHED
        assert document.agency_id == agency.pk
        assert document.owner_id == person.pk
        assert document.attached_to == "APP-2026-000001"
    assert AuditEvent.objects.filter(action="documents.attached").count() == 2


@pytest.mark.parametrize("problem", ["unknown", "malformed", "other holder", "attached", "removed"])
def test_attach_refuses_ids_that_are_not_available(document_store: Path, problem: str) -> None:
    """V8.2.2: an id that is unknown, not held, already attached or removed refuses the lot."""
    good = _upload()
    bad: Any
    if problem == "unknown":
        bad = uuid.uuid4()
    elif problem == "malformed":
        bad = "../../etc/passwd"
    elif problem == "other holder":
        bad = _upload(holder=OTHER_DRAFT).pk
    elif problem == "attached":
        bad = _upload().pk
        services.documents_attach(
            document_ids=[bad],
            holder_keys=[DRAFT],
            owner=None,
            agency_id=None,
            attached_to="APP-1",
            actor=None,
        )
    else:
        bad = _upload().pk
        services.documents_release(holder=DRAFT, actor=None)
        good = _upload()
    with pytest.raises(services.DocumentUnavailable), transaction.atomic():
        services.documents_attach(
            document_ids=[good.pk, bad],
            holder_keys=[DRAFT],
            owner=None,
            agency_id=None,
            attached_to="APP-2",
            actor=None,
        )
    good.refresh_from_db()
    assert good.status == DocumentStatus.UPLOADED


def test_attach_rolls_back_with_the_callers_transaction(document_store: Path) -> None:
    """Attaching runs inside the caller's transaction: if the application fails, so does it."""
    document = _upload()
    with pytest.raises(RuntimeError), transaction.atomic():
        services.documents_attach(
            document_ids=[document.pk],
            holder_keys=[DRAFT],
            owner=None,
            agency_id=None,
            attached_to="APP-3",
            actor=None,
        )
        raise RuntimeError("creating the application failed")
    document.refresh_from_db()
    assert document.status == DocumentStatus.UPLOADED


def test_a_signed_in_owner_holds_their_own_uploads(document_store: Path) -> None:
    """The owner may attach their upload even from a session without the holder key."""
    person = UserFactory()
    document = _upload(owner=person)
    [attached] = services.documents_attach(
        document_ids=[document.pk],
        holder_keys=[],
        owner=person,
        agency_id=None,
        attached_to="APP-4",
        actor=person,
    )
    assert attached.status == DocumentStatus.ATTACHED
    stranger = UserFactory()
    other = _upload(owner=person)
    with pytest.raises(services.DocumentUnavailable):
        services.documents_attach(
            document_ids=[other.pk],
            holder_keys=[],
            owner=stranger,
            agency_id=None,
            attached_to="APP-5",
            actor=stranger,
        )


def test_remove_deletes_an_unattached_upload_and_its_blob(
    document_store: Path, django_capture_on_commit_callbacks: Committed
) -> None:
    """V8.2.2: only the holder removes an upload; the key is shredded, the blob deleted."""
    document = _upload()
    other = _upload(holder=OTHER_DRAFT)
    with pytest.raises(NotFound):
        services.document_remove(document=document, holder_keys=[OTHER_DRAFT], actor=None)
    with django_capture_on_commit_callbacks(execute=True):
        services.document_remove(document=document, holder_keys=[DRAFT], actor=None)
    document.refresh_from_db()
    assert document.status == DocumentStatus.DELETED
    assert bytes(document.wrapped_key) == b""
    assert [blob.name for blob in stored_blobs(document_store)] == [f"{other.pk.hex}.bin"]
    with pytest.raises(NotFound):
        selectors.document_content(document=document)


def test_an_attached_document_cannot_be_removed(document_store: Path) -> None:
    """Once sent with an application, a file stays with it."""
    document = _upload()
    services.documents_attach(
        document_ids=[document.pk],
        holder_keys=[DRAFT],
        owner=None,
        agency_id=None,
        attached_to="APP-6",
        actor=None,
    )
    with pytest.raises(ValidationFailed):
        services.document_remove(document=document, holder_keys=[DRAFT], actor=None)


def test_release_deletes_only_the_drafts_unattached_uploads(
    document_store: Path, django_capture_on_commit_callbacks: Committed
) -> None:
    """An expired draft's leftover uploads go; attached ones and other drafts' stay."""
    leftover = [_upload(), _upload()]
    kept = _upload()
    services.documents_attach(
        document_ids=[kept.pk],
        holder_keys=[DRAFT],
        owner=None,
        agency_id=None,
        attached_to="APP-7",
        actor=None,
    )
    elsewhere = _upload(holder=OTHER_DRAFT)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.documents_release(holder=DRAFT, actor=None) == 2
    statuses = dict(Document.objects.values_list("pk", "status"))
    assert {statuses[d.pk] for d in leftover} == {DocumentStatus.DELETED}
    assert statuses[kept.pk] == DocumentStatus.ATTACHED
    assert statuses[elsewhere.pk] == DocumentStatus.UPLOADED
    assert len(stored_blobs(document_store)) == 2
    assert services.documents_release(holder=DRAFT, actor=None) == 0


def test_lists_for_holders_and_owners(document_store: Path) -> None:
    """Holders see their unattached uploads; owners see everything of theirs not deleted."""
    person = UserFactory()
    mine = _upload(owner=person)
    anonymous = _upload()
    elsewhere = _upload(holder=OTHER_DRAFT)
    assert list(selectors.documents_for_holder(holder_keys=[DRAFT], owner=None)) == [
        mine,
        anonymous,
    ]
    assert list(
        selectors.documents_for_holder(holder_keys=[DRAFT], owner=None, ids=[anonymous.pk, "x"])
    ) == [anonymous]
    assert list(selectors.documents_for_holder(holder_keys=[], owner=person)) == []
    services.documents_attach(
        document_ids=[mine.pk],
        holder_keys=[DRAFT],
        owner=person,
        agency_id=None,
        attached_to="APP-8",
        actor=person,
    )
    assert list(selectors.documents_for_owner(user=person)) == [mine]
    assert elsewhere not in selectors.documents_for_owner(user=person)


def test_who_may_view_a_document(document_store: Path) -> None:
    """V8.2.2, V8.2.3: owner, holder and the attached agency's staff; nobody else."""
    person = UserFactory()
    agency = AgencyFactory()
    caseworker = staff_create(agency=agency)
    other_caseworker = staff_create()
    document = _upload(owner=person)
    services.documents_attach(
        document_ids=[document.pk],
        holder_keys=[DRAFT],
        owner=person,
        agency_id=agency.pk,
        attached_to="APP-9",
        actor=person,
    )
    document.refresh_from_db()

    def relation(user: Any, keys: list[str]) -> str | None:
        return selectors.document_viewer_relation(document=document, user=user, holder_keys=keys)

    from django.contrib.auth.models import AnonymousUser

    assert relation(person, []) == "owner"
    assert relation(AnonymousUser(), [DRAFT]) == "holder"
    assert relation(caseworker, []) == "staff"
    assert relation(other_caseworker, []) is None
    assert relation(AnonymousUser(), [OTHER_DRAFT]) is None
    assert relation(UserFactory(), []) is None
    for user, keys in [(other_caseworker, []), (AnonymousUser(), [])]:
        with pytest.raises(NotFound):
            selectors.document_for_viewer(document_id=document.pk, user=user, holder_keys=keys)
    with pytest.raises(NotFound):
        selectors.document_for_viewer(document_id="not-a-uuid", user=person, holder_keys=[])
