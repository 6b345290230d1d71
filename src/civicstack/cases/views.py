"""Citizen pages of the cases app: replying to the agency's request for more information.

Works without JavaScript, like the form runner: "Add file" is a submit button that uploads
the chosen file into the request's holder and shows the page again with the file listed;
each listed file has its own "Remove" button; "Send reply" sends the text and the listed
files. What the person typed is kept in their session while they add files.
"""

from __future__ import annotations

from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_safe

from civicstack.cases import selectors, services
from civicstack.cases.constants import LANE_APPLICANT, MAX_NOTE_LENGTH
from civicstack.cases.models import InformationRequest
from civicstack.core.errors import CivicstackError, Conflict, NotFound
from civicstack.documents import selectors as documents
from civicstack.documents import services as document_services
from civicstack.documents.constants import KIND_JPEG, KIND_PDF, KIND_PNG, UploadPolicy
from civicstack.forms.constants import SESSION_DOCUMENT_HOLDERS

REPLY_UPLOADS = UploadPolicy(
    kinds=frozenset({KIND_PDF, KIND_JPEG, KIND_PNG}),
    max_bytes=10 * 1024 * 1024,
    max_files=10,
)
SESSION_REPLY_TEXT = "cases.reply.{request_id}"
# Holders a session remembers at once (the forms app keeps as many).
SESSION_HOLDERS_KEPT = 20


def _session_holders(request: HttpRequest) -> list[str]:
    value = request.session.get(SESSION_DOCUMENT_HOLDERS, [])
    return [str(item) for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _holder_keep(request: HttpRequest, holder: str) -> None:
    held = [item for item in _session_holders(request) if item != holder]
    request.session[SESSION_DOCUMENT_HOLDERS] = [*held, holder][-SESSION_HOLDERS_KEPT:]


def _information_request(
    request: HttpRequest, application_id: UUID, request_id: UUID
) -> InformationRequest:
    return selectors.information_request_for_applicant(
        request_id=request_id, application_id=application_id, user=request.user
    )


def _is_waiting(item: InformationRequest) -> bool:
    """Whether this is the request the case waits for now (not expired, not superseded)."""
    case = item.case
    return (
        item.is_open
        and case.is_open
        and case.waiting_on == LANE_APPLICANT
        and not InformationRequest.objects.filter(
            case=case, created_at__gt=item.created_at
        ).exists()
    )


def _reply_url(item: InformationRequest) -> str:
    return reverse(
        "cases:reply",
        kwargs={"application_id": item.case.application_id, "request_id": item.pk},
    )


def _text_key(item: InformationRequest) -> str:
    return SESSION_REPLY_TEXT.format(request_id=item.pk)


def _page(
    request: HttpRequest,
    item: InformationRequest,
    *,
    answer: str | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    waiting = _is_waiting(item)
    if item.answered_at is not None:
        files = list(
            documents.documents_for_owner(user=request.user).filter(pk__in=item.document_ids)
        )
    elif waiting:
        files = services.information_request_documents(request=item, owner=request.user)
    else:
        files = []
    errors = errors or {}
    return render(
        request,
        "cases/portal/reply.html",
        {
            "item": item,
            "case": item.case,
            "service": item.case.service,
            "waiting": waiting,
            "files": files,
            "can_add": waiting and len(files) < REPLY_UPLOADS.max_files,
            "max_files": REPLY_UPLOADS.max_files,
            "answer": answer if answer is not None else request.session.get(_text_key(item), ""),
            "errors": errors,
            "error_list": [{"field": field, "message": text} for field, text in errors.items()],
            "application_url": reverse(
                "forms:application", kwargs={"application_id": item.case.application_id}
            ),
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def reply(request: HttpRequest, application_id: UUID, request_id: UUID) -> HttpResponse:
    """Show the agency's question and take the applicant's reply, with files."""
    item = _information_request(request, application_id, request_id)
    if request.method == "GET":
        return _page(request, item)
    answer = str(request.POST.get("answer", ""))[: MAX_NOTE_LENGTH * 2]
    action = str(request.POST.get("action", ""))[:100]
    if not _is_waiting(item):
        message = (
            _("You have already replied to this request.")
            if item.answered_at is not None
            else _("The agency is no longer waiting for this reply.")
        )
        return _page(request, item, errors={"answer": message}, status=409)
    if len(answer) <= MAX_NOTE_LENGTH and "\x00" not in answer:
        request.session[_text_key(item)] = answer
    if action == "upload":
        return _upload(request, item, answer)
    if action.startswith("remove:"):
        return _remove(request, item, action.removeprefix("remove:"))
    if action == "send":
        return _send(request, item, answer)
    return _page(request, item, answer=answer)


def _upload(request: HttpRequest, item: InformationRequest, answer: str) -> HttpResponse:
    upload = request.FILES.get("file")
    if upload is None:
        return _page(
            request, item, answer=answer, errors={"file": _("Choose a file to add")}, status=400
        )
    try:
        document_services.document_upload(
            upload=upload,
            policy=REPLY_UPLOADS,
            owner=item.case.applicant,
            holder=item.holder,
            actor=request.user,
        )
    except CivicstackError as error:
        message = str(error.message)
        for field_messages in error.field_errors.values():
            message = str(field_messages[0]) if field_messages else message
        return _page(request, item, answer=answer, errors={"file": message}, status=error.status)
    _holder_keep(request, item.holder)
    return HttpResponseRedirect(_reply_url(item))


def _remove(request: HttpRequest, item: InformationRequest, document_id: str) -> HttpResponse:
    try:
        UUID(document_id)
    except ValueError:
        raise NotFound() from None
    document = documents.documents_for_holder(
        holder_keys=[item.holder], owner=request.user, ids=[document_id]
    ).first()
    if document is None:
        raise NotFound()
    document_services.document_remove(
        document=document, holder_keys={item.holder}, actor=request.user
    )
    return HttpResponseRedirect(_reply_url(item))


def _send(request: HttpRequest, item: InformationRequest, answer: str) -> HttpResponse:
    document_ids = [str(value)[:40] for value in request.POST.getlist("document")][
        : REPLY_UPLOADS.max_files
    ]
    try:
        services.information_request_answer(
            request=item,
            answer=answer,
            document_ids=document_ids,
            holder_keys={*_session_holders(request), item.holder},
            actor=request.user,
        )
    except services.FieldErrors as error:
        return _page(request, item, answer=answer, errors=dict(error.errors), status=400)
    except Conflict as error:
        return _page(
            request, item, answer=answer, errors={"answer": str(error.message)}, status=409
        )
    except CivicstackError as error:
        if isinstance(error, NotFound):
            raise
        return _page(
            request, item, answer=answer, errors={"file": str(error.message)}, status=error.status
        )
    request.session.pop(_text_key(item), None)
    return HttpResponseRedirect(
        reverse(
            "cases:reply-sent",
            kwargs={"application_id": item.case.application_id, "request_id": item.pk},
        )
    )


@login_required
@require_safe
def reply_sent(request: HttpRequest, application_id: UUID, request_id: UUID) -> HttpResponse:
    """Confirm that the reply reached the agency."""
    item = _information_request(request, application_id, request_id)
    if item.answered_at is None:
        return HttpResponseRedirect(_reply_url(item))
    return render(
        request,
        "cases/portal/reply_sent.html",
        {
            "item": item,
            "service": item.case.service,
            "application_url": reverse(
                "forms:application", kwargs={"application_id": item.case.application_id}
            ),
        },
    )
