"""Pieces every JSON API shares: body parsing with clear errors, and the OpenAPI document.

Errors raised by API views become JSON bodies (``status``, ``code``, ``message``,
``errors``) through the error middleware, because every API path starts with ``/api/``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import csrf_exempt

from civicstack.core.errors import CivicstackError, ValidationFailed
from civicstack.core.middleware import error_json
from civicstack.core.registry import Registry

MAX_JSON_BYTES = 1024 * 1024

# Each app registers a function returning its part of the OpenAPI document:
# {"paths": {...}, "components": {"schemas": {...}}}.
openapi_parts: Registry[Callable[[], dict[str, Any]]] = Registry("OpenAPI parts")


class MethodNotAllowed(CivicstackError):
    """The endpoint does not take this HTTP method."""

    status = 405
    code = "method_not_allowed"
    default_message = _("This endpoint does not accept that method.")


class UnsupportedMediaType(CivicstackError):
    """The request body is not in a format the endpoint reads."""

    status = 415
    code = "unsupported_media_type"
    default_message = _("Send the request body as application/json.")


def api_endpoint(
    *methods: str,
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Mark a view as an API endpoint taking ``methods`` (no CSRF: it uses bearer keys)."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in methods:
                error = MethodNotAllowed()
                response = error_json(status=error.status, code=error.code, error=error)
                response["Allow"] = ", ".join(methods)
                return response
            return view(request, *args, **kwargs)

        wrapper.__name__ = view.__name__
        wrapper.__doc__ = view.__doc__
        return csrf_exempt(wrapper)

    return decorator


def json_body(request: HttpRequest) -> dict[str, Any]:
    """Return the request's JSON object body, or raise a clear 4xx error."""
    content_type = request.content_type or ""
    if content_type != "application/json":
        raise UnsupportedMediaType()
    length = request.META.get("CONTENT_LENGTH") or "0"
    if not str(length).isdigit() or int(length) > MAX_JSON_BYTES:
        raise ValidationFailed(_("The request body is missing or larger than 1 MB."))
    try:
        data = json.loads(request.body.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise ValidationFailed(_("The request body is not valid JSON.")) from error
    if not isinstance(data, dict):
        raise ValidationFailed(_("The request body must be a JSON object."))
    return data


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def openapi_document(*, server_url: str) -> dict[str, Any]:
    """Return the OpenAPI 3.1 document of every API, assembled from the apps' parts."""
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "Civicstack API",
            "version": "1",
            "description": "Public APIs of Civicstack. Errors are JSON objects with status, "
            "code, message and, for invalid input, errors by field.",
            "license": {"name": "EUPL-1.2", "identifier": "EUPL-1.2"},
        },
        "servers": [{"url": server_url}],
        "paths": {},
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["status", "code", "message"],
                    "properties": {
                        "status": {"type": "integer"},
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                        "errors": {
                            "type": "object",
                            "additionalProperties": {"type": "array", "items": {"type": "string"}},
                        },
                    },
                }
            },
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key, cs_<prefix>_<secret>: an agency key for "
                    "applications, or a personal key of a member of staff for cases.",
                }
            },
        },
    }
    for _name, part in openapi_parts.items():
        contributed = part()
        document["paths"].update(contributed.get("paths", {}))
        document["components"]["schemas"].update(
            contributed.get("components", {}).get("schemas", {})
        )
    return document


def openapi_view(request: HttpRequest) -> HttpResponse:
    """Serve the OpenAPI document."""
    server = request.build_absolute_uri("/").rstrip("/")
    return JsonResponse(openapi_document(server_url=server), json_dumps_params={"indent": 1})
