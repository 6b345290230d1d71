from django.urls import path

from civicstack.forms import api

app_name = "api-forms"

urlpatterns = [
    path("services/<slug:slug>/form", api.service_form, name="service-form"),
    path("services/<slug:slug>/applications", api.application_create, name="applications"),
    path(
        "services/<slug:slug>/questions/<str:question_id>/documents",
        api.document_create,
        name="documents",
    ),
    path("applications/<uuid:application_id>", api.application_read, name="application"),
]
