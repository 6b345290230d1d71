from django.urls import path

from civicstack.catalogue import views

app_name = "catalogue"

urlpatterns = [
    path("services", views.service_index, name="services"),
    path("services/<slug:slug>", views.service_detail, name="service"),
    path("topics/<slug:slug>", views.topic_detail, name="topic"),
    path("life-events/<slug:slug>", views.life_event_detail, name="life-event"),
    path("step-by-step", views.guide_index, name="guides"),
    path("step-by-step/<slug:slug>", views.guide_detail, name="guide"),
    path("search", views.search, name="search"),
]
