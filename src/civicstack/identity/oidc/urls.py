"""OpenID Connect provider endpoints, mounted at /oidc/ (no language prefix: the issuer's
URLs must not change with the language)."""

from django.urls import path

from civicstack.identity.oidc import views

app_name = "oidc"

urlpatterns = [
    path(".well-known/openid-configuration", views.discovery, name="discovery"),
    path("jwks", views.jwks, name="jwks"),
    path("authorize", views.authorize, name="authorize"),
    path("consent", views.consent, name="consent"),
    path("token", views.token, name="token"),
    path("revoke", views.revoke, name="revoke"),
    path("userinfo", views.userinfo, name="userinfo"),
    path("logout", views.end_session, name="logout"),
    path("logout/confirm", views.end_session_confirm, name="logout-confirm"),
]
