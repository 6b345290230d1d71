"""The citizen's notification settings, mounted at /<language>/account/notifications/."""

from django.urls import path

from civicstack.notify import views

app_name = "notify"

urlpatterns = [
    path("", views.preferences, name="preferences"),
    path("push", views.push_subscribe, name="push-subscribe"),
    path("push/<uuid:subscription_id>/remove", views.push_remove, name="push-remove"),
    path("push-worker.js", views.push_worker, name="push-worker"),
]
