from django.urls import path

from civicstack.portal import views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("accessibility", views.accessibility, name="accessibility"),
    path("privacy", views.privacy, name="privacy"),
    path("cookies", views.cookies, name="cookies"),
]
