"""Acting for someone else, on every request: check the choice again, tell the audit log,
and show the banner.

``ActingForMiddleware`` (after authentication, sessions and messages) re-checks the mandate
the session acts under: if it expired or was revoked since the last request, the choice is
dropped with a message. While it holds, the request context carries the represented party,
so every audit event of the request records it. ``acting_banner`` gives the page shell what
it needs for the "You are acting for ..." banner.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _

from civicstack.core.context import RepresentedParty, current_context, use_context
from civicstack.identity import selectors, services
from civicstack.identity.constants import ACTING_FOR_SESSION_KEY


class ActingForMiddleware:
    """Re-check whom the signed-in person acts for, and put that party in the request context."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = getattr(request, "session", None)
        if session is None or ACTING_FOR_SESSION_KEY not in session:
            return self.get_response(request)
        acting = selectors.acting_for(request)
        if acting is None:
            services.acting_stop(session=session, actor=request.user, reason="ended")
            if getattr(request.user, "is_authenticated", False):
                messages.warning(
                    request,
                    _(
                        "You are no longer acting for someone else: the permission has ended "
                        "or was withdrawn."
                    ),
                )
            return self.get_response(request)
        party = RepresentedParty(
            kind=acting.kind, party_id=acting.party_id, mandate_id=acting.mandate_id
        )
        with use_context(dataclasses.replace(current_context(), represented=party)):
            return self.get_response(request)


def acting_banner(request: HttpRequest) -> dict[str, Any]:
    """Return whom the person is acting for, for the banner on every page (None if nobody)."""
    return {"acting_for": selectors.acting_for(request)}
