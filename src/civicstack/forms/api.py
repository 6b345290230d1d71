"""The applications API, for agency systems and assisted-digital desks.

Validation is the runner's: the same definition, the same question types, the same rules.
Every write needs an ``Idempotency-Key``: a retried request never makes a second application.
"""

from __future__ import annotations

import re
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from civicstack.accounts.constants import API_SCOPE_APPLICATIONS_SUBMIT
from civicstack.accounts.selectors import api_key_authenticate
from civicstack.core.api import api_endpoint, json_body, openapi_parts
from civicstack.core.errors import (
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from civicstack.documents import services as documents_services
from civicstack.documents.constants import UploadPolicy
from civicstack.forms import selectors, services
from civicstack.forms.constants import MAX_FILES_PER_API_HOLDER
from civicstack.forms.models import Application

_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")


def _api_key(request: HttpRequest, scope: str) -> Any:
    header = request.headers.get("Authorization", "")
    scheme, _sep, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise NotAuthenticated(_("Send an API key as Authorization: Bearer <key>."))
    key = api_key_authenticate(secret=secret.strip())
    if key is None:
        raise NotAuthenticated(_("The API key is not valid or has been revoked."))
    if scope not in key.scopes:
        raise PermissionDenied(
            _("This API key does not have the scope %(scope)s.") % {"scope": scope}
        )
    return key


def _service_with_form(slug: str) -> tuple[Any, Any]:
    version = selectors.form_for_submission(slug=slug)
    if version is None:
        raise NotFound(_("There is no service with an online form at that address."))
    return version.form.service, version


def application_json(application: Application) -> dict[str, Any]:
    """Return the API representation of an application."""
    return {
        "id": str(application.pk),
        "reference": application.reference,
        "service": application.service.slug,
        "form_version": application.form_version.number,
        "status": application.status,
        "channel": application.channel,
        "language": application.language,
        "submitted_at": application.submitted_at.isoformat(),
        "answers": application.answers,
        "links": {
            "self": reverse("api-forms:application", kwargs={"application_id": application.pk})
        },
    }


@api_endpoint("GET")
def service_form(request: HttpRequest, slug: str) -> HttpResponse:
    """Return the published form definition of a service (questions, rules, routing)."""
    service, version = _service_with_form(slug)
    return JsonResponse(
        {"service": service.slug, "version": version.number, "definition": version.definition}
    )


@api_endpoint("POST")
def application_create(request: HttpRequest, slug: str) -> HttpResponse:
    """Submit a complete application for a service."""
    key = _api_key(request, API_SCOPE_APPLICATIONS_SUBMIT)
    idempotency_key = request.headers.get("Idempotency-Key", "")
    if not _IDEMPOTENCY_KEY.fullmatch(idempotency_key):
        raise ValidationFailed(
            _("Send an Idempotency-Key header of 1 to 255 visible ASCII characters."),
            field_errors={"Idempotency-Key": [_("Missing or not valid")]},
        )
    _service, version = _service_with_form(slug)
    body = json_body(request)
    application, replayed = services.application_submit_api(
        version=version, body=body, api_key=key, idempotency_key=idempotency_key, actor=None
    )
    response = JsonResponse(application_json(application), status=200 if replayed else 201)
    response["Location"] = reverse(
        "api-forms:application", kwargs={"application_id": application.pk}
    )
    if replayed:
        response["Idempotent-Replayed"] = "true"
    return response


@api_endpoint("GET")
def application_read(request: HttpRequest, application_id: Any) -> HttpResponse:
    """Return an application submitted to one of the key's agency's services."""
    key = _api_key(request, API_SCOPE_APPLICATIONS_SUBMIT)
    application = selectors.application_for_api(
        application_id=application_id, agency_id=key.agency_id
    )
    if application is None:
        raise NotFound()
    return JsonResponse(application_json(application))


@api_endpoint("POST")
def document_create(request: HttpRequest, slug: str, question_id: str) -> HttpResponse:
    """Upload one file for a file question; send its id in the answers afterwards."""
    key = _api_key(request, API_SCOPE_APPLICATIONS_SUBMIT)
    service, version = _service_with_form(slug)
    if key.agency_id != service.agency_id:
        raise PermissionDenied(_("This key cannot submit applications for that service."))
    definition = selectors.definition_of(version=version)
    try:
        question = definition.question(question_id)
    except (KeyError, LookupError) as error:
        raise NotFound(_("The form has no question with that id.")) from error
    if question.type != "file":
        raise ValidationFailed(_("That question does not take files."))
    upload = request.FILES.get("file")
    if upload is None:
        raise ValidationFailed(field_errors={"file": [_("Send the file as multipart field file")]})
    rules = question.file_policy
    document = documents_services.document_upload(
        upload=upload,
        policy=UploadPolicy(
            kinds=rules.kinds,
            max_bytes=rules.max_bytes,
            allow_archives=rules.allow_archives,
            max_files=MAX_FILES_PER_API_HOLDER,
        ),
        owner=None,
        holder=f"api:{key.agency_id}",
        actor=None,
    )
    return JsonResponse(
        {"id": str(document.pk), "kind": document.kind, "size": document.size}, status=201
    )


def _openapi() -> dict[str, Any]:
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    errors = {
        "400": {"description": "Invalid input, with errors by field", "content": error},
        "401": {"description": "Missing or invalid API key", "content": error},
        "403": {"description": "The key may not do this", "content": error},
        "404": {"description": "No such service, form or application", "content": error},
    }
    slug = {"name": "slug", "in": "path", "required": True, "schema": {"type": "string"}}
    return {
        "paths": {
            "/api/v1/services/{slug}/form": {
                "get": {
                    "operationId": "getServiceForm",
                    "summary": "The published form definition of a service",
                    "parameters": [slug],
                    "responses": {
                        "200": {
                            "description": "The definition",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/ServiceForm"}
                                }
                            },
                        },
                        "404": errors["404"],
                    },
                }
            },
            "/api/v1/services/{slug}/applications": {
                "post": {
                    "operationId": "submitApplication",
                    "summary": "Submit an application",
                    "description": "The same Idempotency-Key and body within 24 hours returns the "
                    "original application (200, Idempotent-Replayed: true); the same key with a "
                    "different body returns 409.",
                    "security": [{"apiKey": []}],
                    "parameters": [
                        slug,
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": True,
                            "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,255}$"},
                        },
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/ApplicationRequest"}
                            }
                        },
                    },
                    "responses": {
                        "201": {
                            "description": "Submitted",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Application"}
                                }
                            },
                        },
                        "200": {
                            "description": "A replay of an earlier request with the same key",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Application"}
                                }
                            },
                        },
                        **errors,
                        "409": {
                            "description": "Key reused with a different body",
                            "content": error,
                        },
                        "413": {"description": "Body too large", "content": error},
                        "415": {"description": "Body is not JSON", "content": error},
                    },
                }
            },
            "/api/v1/services/{slug}/questions/{question_id}/documents": {
                "post": {
                    "operationId": "uploadDocument",
                    "summary": "Upload a file for a file question",
                    "security": [{"apiKey": []}],
                    "parameters": [
                        slug,
                        {
                            "name": "question_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        },
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "multipart/form-data": {
                                "schema": {
                                    "type": "object",
                                    "required": ["file"],
                                    "properties": {"file": {"type": "string", "format": "binary"}},
                                }
                            }
                        },
                    },
                    "responses": {
                        "201": {
                            "description": "Stored (checked, scanned and encrypted)",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Document"}
                                }
                            },
                        },
                        **errors,
                        "413": {"description": "File too large", "content": error},
                        "503": {
                            "description": "The virus scanner is not available",
                            "content": error,
                        },
                    },
                }
            },
            "/api/v1/applications/{application_id}": {
                "get": {
                    "operationId": "getApplication",
                    "summary": "An application submitted to one of your agency's services",
                    "security": [{"apiKey": []}],
                    "parameters": [
                        {
                            "name": "application_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "format": "uuid"},
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "The application",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Application"}
                                }
                            },
                        },
                        "401": errors["401"],
                        "403": errors["403"],
                        "404": errors["404"],
                    },
                }
            },
        },
        "components": {
            "schemas": {
                "ServiceForm": {
                    "type": "object",
                    "required": ["service", "version", "definition"],
                    "properties": {
                        "service": {"type": "string"},
                        "version": {"type": "integer"},
                        "definition": {"type": "object"},
                    },
                },
                "ApplicationRequest": {
                    "type": "object",
                    "required": ["answers", "applicant"],
                    "additionalProperties": False,
                    "properties": {
                        "answers": {
                            "type": "object",
                            "description": "Question id to value; repeating groups as lists of "
                            "objects; file questions as lists of document ids.",
                        },
                        "applicant": {
                            "type": "object",
                            "required": ["name", "email"],
                            "properties": {
                                "name": {"type": "string", "maxLength": 200},
                                "email": {"type": "string", "maxLength": 254},
                            },
                        },
                        "language": {"type": "string", "enum": ["en", "cy"]},
                    },
                },
                "Application": {
                    "type": "object",
                    "required": ["id", "reference", "service", "status", "submitted_at"],
                    "properties": {
                        "id": {"type": "string", "format": "uuid"},
                        "reference": {"type": "string", "examples": ["APP-2026-000123"]},
                        "service": {"type": "string"},
                        "form_version": {"type": "integer"},
                        "status": {"type": "string"},
                        "channel": {"type": "string"},
                        "language": {"type": "string"},
                        "submitted_at": {"type": "string", "format": "date-time"},
                        "answers": {"type": "object"},
                        "links": {"type": "object"},
                    },
                },
                "Document": {
                    "type": "object",
                    "required": ["id", "kind", "size"],
                    "properties": {
                        "id": {"type": "string", "format": "uuid"},
                        "kind": {"type": "string"},
                        "size": {"type": "integer"},
                    },
                },
            }
        },
    }


openapi_parts.register("forms")(_openapi)
