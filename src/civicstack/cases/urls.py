"""Citizen pages of the cases app (answering a request for information)."""

from django.urls import path

from civicstack.cases import views

app_name = "cases"

urlpatterns = [
    path(
        "applications/<uuid:application_id>/requests/<uuid:request_id>/",
        views.reply,
        name="reply",
    ),
    path(
        "applications/<uuid:application_id>/requests/<uuid:request_id>/sent/",
        views.reply_sent,
        name="reply-sent",
    ),
]
