"""URL configuration: language-prefixed pages (/en/, /cy/), plus health, API and admin."""

from django.conf.urls.i18n import i18n_patterns
from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path

from civicstack.backoffice.admin_site import restrict_admin_to_platform_admins
from civicstack.core import api as core_api
from civicstack.core import views as core_views

restrict_admin_to_platform_admins(admin.site)

urlpatterns: list[URLPattern | URLResolver] = [
    path("health/live", core_views.liveness, name="health-live"),
    path("health/ready", core_views.readiness, name="health-ready"),
    path("api/v1/openapi.json", core_api.openapi_view, name="openapi"),
    path("api/v1/", include("civicstack.forms.api_urls")),
    path("api/v1/", include("civicstack.cases.api_urls")),
    # GOV.UK Notify's API v2 paths, so Notify's client libraries work unchanged.
    path("v2/", include("civicstack.notify.api_urls")),
    path("notify/receipts/", include("civicstack.notify.receipt_urls")),
    # The OpenID Connect provider: the issuer and every endpoint under /oidc/.
    path("oidc/", include("civicstack.identity.oidc.urls")),
]

urlpatterns += i18n_patterns(
    path("", include("civicstack.portal.urls")),
    path("", include("civicstack.catalogue.urls")),
    path("account/", include("civicstack.accounts.urls")),
    path("", include("civicstack.forms.urls")),
    path("", include("civicstack.cases.urls")),
    path("back-office/", include("civicstack.backoffice.urls")),
    path("documents/", include("civicstack.documents.urls")),
    path("account/notifications/", include("civicstack.notify.urls")),
    path("account/services/", include("civicstack.identity.oidc.account_urls")),
    path("back-office/django-admin/", admin.site.urls),
    prefix_default_language=True,
)

handler400 = "civicstack.core.views.bad_request"
handler403 = "civicstack.core.views.permission_denied"
handler404 = "civicstack.core.views.page_not_found"
handler500 = "civicstack.core.views.server_error"
