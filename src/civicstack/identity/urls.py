"""Identity pages, mounted at /<language>/identity/."""

from django.urls import path

from civicstack.identity import step_up_views, verification_views

app_name = "identity"

urlpatterns = [
    path("step-up", step_up_views.step_up, name="step-up"),
    path("verification", verification_views.verification, name="verification"),
    path(
        "verification/document-check",
        verification_views.document_check,
        name="verification-document-check",
    ),
    path(
        "verification/<uuid:verification_id>/remove",
        verification_views.verification_remove,
        name="verification-remove",
    ),
]
