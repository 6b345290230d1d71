"""Document pages, mounted at /<language>/documents/."""

from django.urls import path

from civicstack.documents import views

app_name = "documents"

urlpatterns = [
    path("<uuid:document_id>/download", views.download, name="download"),
    path("<uuid:document_id>/preview", views.preview, name="preview"),
]
