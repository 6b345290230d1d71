from django.urls import path

from civicstack.forms import dashboard, views

app_name = "forms"

urlpatterns = [
    path("apply/resume/<str:token>/", views.resume, name="resume"),
    path("apply/d/<uuid:draft_id>/", views.overview, name="draft"),
    path("apply/d/<uuid:draft_id>/check-answers/", views.check_answers, name="check-answers"),
    path("apply/d/<uuid:draft_id>/declaration/", views.declaration, name="declaration"),
    path("apply/d/<uuid:draft_id>/save/", views.save_and_return, name="save"),
    path("apply/d/<uuid:draft_id>/delete/", views.delete_draft, name="delete"),
    path("apply/d/<uuid:draft_id>/<str:step>/remove/", views.remove_item, name="remove-item"),
    path("apply/d/<uuid:draft_id>/<str:step>/", views.page, name="page"),
    path("apply/<slug:slug>/", views.start, name="start"),
    path("apply/<slug:slug>/check/<int:number>/", views.precheck, name="precheck"),
    path("apply/<slug:slug>/not-eligible/", views.not_eligible, name="not-eligible"),
    path("apply/<slug:slug>/begin/", views.begin, name="begin"),
    path("applications/", dashboard.dashboard, name="dashboard"),
    path("applications/documents/", dashboard.my_documents, name="documents"),
    path("applications/<uuid:application_id>/", dashboard.application_detail, name="application"),
    path(
        "applications/<uuid:application_id>/confirmation/",
        views.confirmation,
        name="confirmation",
    ),
    path("applications/<uuid:application_id>/withdraw/", dashboard.withdraw, name="withdraw"),
]
