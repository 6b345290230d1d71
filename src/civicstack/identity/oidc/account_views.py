"""The citizen's view of the services they signed in to, and withdrawing consent."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_safe

from civicstack.identity import selectors, services
from civicstack.identity.oidc import claims as oidc_claims


def _agency_name(client: object) -> str:
    agency = getattr(client, "agency", None)
    if agency is None:
        return ""
    if (translation.get_language() or "en").startswith("cy") and agency.name_cy:
        return str(agency.name_cy)
    return str(agency.name_en)


@never_cache
@require_safe
@login_required
def signed_in_services(request: HttpRequest) -> HttpResponse:
    """List the services the person agreed to share details with, and what each receives."""
    rows = [
        {
            "consent": consent,
            "client": consent.client,
            "agency": _agency_name(consent.client),
            "receives": [
                oidc_claims.SCOPE_DESCRIPTIONS[scope]
                for scope in oidc_claims.SCOPE_ORDER
                if scope in consent.scopes
            ],
        }
        for consent in selectors.consents_of(user=request.user)
    ]
    return render(request, "identity/oidc/services.html", {"rows": rows})


@never_cache
@require_http_methods(["GET", "POST"])
@login_required
def signed_in_service_revoke(request: HttpRequest, client_id: uuid.UUID) -> HttpResponse:
    """Ask, then withdraw consent and revoke every token the service holds for this person."""
    consent = selectors.consents_of(user=request.user).filter(client__public_id=client_id).first()
    if consent is None:
        raise Http404
    if request.method == "POST":
        services.consent_revoke(user=request.user, client=consent.client)
        messages.success(
            request,
            _("%(name)s can no longer use your details.") % {"name": consent.client.name},
        )
        return HttpResponseRedirect(reverse("oidc_account:services"))
    return render(request, "identity/oidc/service_revoke.html", {"client": consent.client})
