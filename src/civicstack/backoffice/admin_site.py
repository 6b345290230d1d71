"""Django's admin is for platform admins only, and only with a second factor."""

from __future__ import annotations

from django.contrib.admin import AdminSite
from django.http import HttpRequest

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

    site.has_permission = has_permission  # type: ignore[method-assign]
    site.login_template = None
    site.site_header = "Civicstack platform administration"
    site.site_title = "Civicstack administration"
