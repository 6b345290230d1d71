"""Platform administration of people, agencies and staff roles.

The admin site only admits platform admins who signed in with their second factor
(``backoffice.admin_site``). Changes go through the services, so they are checked and
audited like any other; secrets (password hashes, authenticator keys, recovery codes) are
never shown.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from civicstack.accounts import services
from civicstack.accounts.models import Agency, Passkey, StaffMembership, User
from civicstack.accounts.selectors import user_is_platform_admin
from civicstack.core.errors import CivicstackError


class PlatformAdminOnly(admin.ModelAdmin):  # type: ignore[type-arg]
    """Let platform admins (a role, not only Django's flags) use this model's pages."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return user_is_platform_admin(user=request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return user_is_platform_admin(user=request.user)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class MembershipInline(admin.TabularInline):  # type: ignore[type-arg]
    model = StaffMembership
    fields = ("agency", "role", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class PasskeyInline(admin.TabularInline):  # type: ignore[type-arg]
    """The person's passkeys by name and use; never the key or the credential id."""

    model = Passkey
    fields = ("name", "created_at", "last_used_at", "backup_eligible")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return user_is_platform_admin(user=request.user)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(User)
class UserAdmin(PlatformAdminOnly):
    list_display = ("email", "full_name", "is_active", "is_staff", "email_verified_at")
    list_filter = ("is_active", "is_staff")
    search_fields = ("email", "full_name")
    ordering = ("email",)
    # No password hash, no authenticator key, no recovery codes.
    fields = (
        "email",
        "full_name",
        "preferred_language",
        "is_active",
        "is_staff",
        "is_superuser",
        "date_joined",
        "last_login",
        "email_verified_at",
        "password_changed_at",
        "has_mfa",
    )
    readonly_fields = fields
    inlines = (MembershipInline, PasskeyInline)
    actions = ("disable_accounts", "enable_accounts")

    @admin.display(boolean=True, description=_("second factor"))
    def has_mfa(self, obj: User) -> bool:
        """Show whether a second factor is set up (never the key)."""
        return obj.has_mfa

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Needed for the actions; every field stays read-only.
        return user_is_platform_admin(user=request.user)

    @admin.action(description=_("Disable selected accounts and end their sessions"))
    def disable_accounts(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        """Disable each selected account through the service (audited)."""
        done = 0
        for user in queryset:
            try:
                services.user_disable(
                    user=user, actor=request.user, reason="Disabled in platform administration"
                )
                done += 1
            except CivicstackError as error:
                self.message_user(request, f"{user.email}: {error.message}", messages.ERROR)
        self.message_user(request, _("%(count)d accounts disabled.") % {"count": done})

    @admin.action(description=_("Enable selected accounts"))
    def enable_accounts(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        """Enable each selected account through the service (audited)."""
        done = 0
        for user in queryset:
            try:
                services.user_enable(
                    user=user, actor=request.user, reason="Enabled in platform administration"
                )
                done += 1
            except CivicstackError as error:
                self.message_user(request, f"{user.email}: {error.message}", messages.ERROR)
        self.message_user(request, _("%(count)d accounts enabled.") % {"count": done})


@admin.register(Agency)
class AgencyAdmin(PlatformAdminOnly):
    list_display = ("name_en", "reference", "slug", "kind")
    search_fields = ("name_en", "name_cy", "slug", "reference")
    ordering = ("name_en",)
    readonly_fields = (
        "reference",
        "slug",
        "kind",
        "name_en",
        "name_cy",
        "description_en",
        "description_cy",
        "phone",
        "opening_hours_en",
        "opening_hours_cy",
    )


@admin.register(StaffMembership)
class StaffMembershipAdmin(PlatformAdminOnly):
    list_display = ("user", "agency", "role", "created_at")
    list_filter = ("role", "agency")
    search_fields = ("user__email", "user__full_name", "agency__name_en")
    list_select_related = ("user", "agency")
    # Raw id inputs, not autocomplete: Django's autocomplete widget crashes when a form is
    # shown again with a value that is not a UUID; the raw id widget reports an error.
    raw_id_fields = ("user", "agency")
    fields = ("user", "agency", "role")

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return user_is_platform_admin(user=request.user)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return user_is_platform_admin(user=request.user)

    def save_model(
        self, request: HttpRequest, obj: StaffMembership, form: Any, change: bool
    ) -> None:
        """Grant the role through the service, so it is checked and audited."""
        granted = services.staff_membership_grant(
            user=obj.user, agency=obj.agency, role=obj.role, actor=request.user
        )
        obj.pk = granted.pk

    def delete_model(self, request: HttpRequest, obj: StaffMembership) -> None:
        """Revoke the role through the service."""
        services.staff_membership_revoke(
            user=obj.user, agency=obj.agency, role=obj.role, actor=request.user
        )

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[StaffMembership]) -> None:
        """Revoke each selected role through the service."""
        for membership in queryset.select_related("user", "agency"):
            self.delete_model(request, membership)
