"""Kernel middleware: request context for the audit log, and errors as clear pages."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from civicstack.core.context import RequestContext, use_context
from civicstack.core.errors import CivicstackError

logger = logging.getLogger(__name__)

_MAX_USER_AGENT = 300


def client_address(request: HttpRequest) -> str:
    """Return the client's IP address, trusting X-Forwarded-For only from set proxies."""
    remote = str(request.META.get("REMOTE_ADDR", ""))[:64]
    trusted = getattr(settings, "TRUSTED_PROXY_COUNT", 0)
    if trusted:
        forwarded = str(request.META.get("HTTP_X_FORWARDED_FOR", ""))
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if len(hops) >= trusted:
            return hops[-trusted][:64]
    return remote


def wants_json(request: HttpRequest) -> bool:
    """Return True for API requests, which get JSON error bodies rather than pages."""
    return request.path.startswith(("/api/", "/v2/")) or "application/json" in request.headers.get(
        "Accept", ""
    )


class RequestContextMiddleware:
    """Give each request an id and record where it came from, for audit events and logs."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        context = RequestContext(
            request_id=secrets.token_hex(8),
            ip_address=client_address(request),
            user_agent=str(request.META.get("HTTP_USER_AGENT", ""))[:_MAX_USER_AGENT],
            channel="api" if request.path.startswith(("/api/", "/v2/")) else "web",
        )
        with use_context(context):
            response = self.get_response(request)
        response["X-Request-Id"] = context.request_id
        return response


class SafeRequestMiddleware:
    """Refuse requests whose method or path cannot be handled safely, before any view."""

    ALLOWED_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method not in self.ALLOWED_METHODS:
            return HttpResponse(status=405)
        if "\x00" in request.path or len(request.path) > 2000:
            return error_response(request, 400, "bad_request")
        return self.get_response(request)


def error_json(*, status: int, code: str, error: CivicstackError | None = None) -> JsonResponse:
    """Return an error as the JSON body every API uses (status, code, message, errors)."""
    body: dict[str, object] = {
        "status": status,
        "code": code,
        "message": str(error.message) if error else code.replace("_", " "),
    }
    if error and error.field_errors:
        body["errors"] = {
            name: [str(message) for message in messages]
            for name, messages in error.field_errors.items()
        }
    return JsonResponse(body, status=status)


def error_response(
    request: HttpRequest, status: int, code: str, error: CivicstackError | None = None
) -> HttpResponse:
    """Render an error as the designed page, or as a JSON body for API clients."""
    if wants_json(request):
        return error_json(status=status, code=code, error=error)
    return render(
        request,
        "errors/error.html",
        {"status": status, "code": code, "message": error.message if error else ""},
        status=status,
    )


class ErrorPageMiddleware:
    """Turn a CivicstackError raised anywhere into a clear page or API error body."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        """Render known errors; leave the rest to Django's 500 handler (our 500 page)."""
        if isinstance(exception, CivicstackError):
            return error_response(request, exception.status, exception.code, exception)
        return None
