"""The citizen's signed-in services, mounted at /<language>/account/services/."""

from django.urls import path

from civicstack.identity.oidc import account_views

app_name = "oidc_account"

urlpatterns = [
    path("", account_views.signed_in_services, name="services"),
    path(
        "<uuid:client_id>/revoke",
        account_views.signed_in_service_revoke,
        name="service-revoke",
    ),
]
