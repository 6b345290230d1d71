"""Django's admin is for platform admins only, and only with a second factor."""

from __future__ import annotations

from django.contrib.admin import AdminSite
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from civicstack.accounts.selectors import user_is_platform_admin


def restrict_admin_to_platform_admins(site: AdminSite) -> None:
    """Make ``site`` admit only platform admins who signed in with their second factor."""

    def has_permission(request: HttpRequest) -> bool:
        user = request.user
        return bool(
            user.is_active
            and user.is_authenticated
            and user_is_platform_admin(user=user)
            and request.session.get("civicstack_mfa_verified", False)
        )

    def login(request: HttpRequest, extra_context: dict[str, object] | None = None) -> HttpResponse:
        # Django's own admin sign-in page checks only the password: it would skip the
        # second factor and the sign-in throttle. Everyone signs in through accounts.
        return redirect_to_login(request.get_full_path(), reverse("accounts:sign-in"))

    site.has_permission = has_permission  # type: ignore[method-assign]
    site.login = login  # type: ignore[method-assign,assignment]
    site.site_header = "Civicstack platform administration"
    site.site_title = "Civicstack administration"
