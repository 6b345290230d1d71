from django.urls import path

from civicstack.backoffice import form_views, views

app_name = "backoffice"

urlpatterns = [
    path("", views.home, name="home"),
    path("services", views.service_index, name="services"),
    path("services/<slug:slug>", views.service_overview, name="service"),
    path("services/<slug:slug>/edit", views.service_edit, name="service-edit"),
    path("services/<slug:slug>/preview", views.service_preview, name="service-preview"),
    path("services/<slug:slug>/publish", views.service_publish, name="service-publish"),
    path("services/<slug:slug>/discard", views.service_discard, name="service-discard"),
    path(
        "services/<slug:slug>/revisions/<int:number>",
        views.service_revision,
        name="service-revision",
    ),
]

urlpatterns += [
    path("guides", views.guide_index, name="guides"),
    path("guides/<slug:slug>", views.guide_overview, name="guide"),
    path("guides/<slug:slug>/edit", views.guide_edit, name="guide-edit"),
    path("guides/<slug:slug>/preview", views.guide_preview, name="guide-preview"),
    path("guides/<slug:slug>/publish", views.guide_publish, name="guide-publish"),
    path("guides/<slug:slug>/discard", views.guide_discard, name="guide-discard"),
    path(
        "guides/<slug:slug>/revisions/<int:number>",
        views.guide_revision,
        name="guide-revision",
    ),
]

urlpatterns += [
    path("forms", form_views.form_index, name="forms"),
    path("forms/<slug:slug>", form_views.form_overview, name="form"),
    path("forms/<slug:slug>/edit", form_views.form_edit, name="form-edit"),
    path("forms/<slug:slug>/preview", form_views.form_preview, name="form-preview"),
    path("forms/<slug:slug>/publish", form_views.form_publish, name="form-publish"),
]
