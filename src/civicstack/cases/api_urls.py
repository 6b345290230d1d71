"""Case API, mounted at /api/v1/."""

from django.urls import path

from civicstack.cases import api

app_name = "api-cases"

urlpatterns = [
    path("cases", api.case_list, name="cases"),
    path("cases/<uuid:case_id>", api.case_read, name="case"),
    path("cases/<uuid:case_id>/claim", api.case_claim, name="claim"),
    path("cases/<uuid:case_id>/assign", api.case_assign, name="assign"),
    path("cases/<uuid:case_id>/release", api.case_release, name="release"),
    path("cases/<uuid:case_id>/notes", api.case_note, name="notes"),
    path(
        "cases/<uuid:case_id>/information-requests",
        api.case_information_request,
        name="information-requests",
    ),
    path("cases/<uuid:case_id>/decisions", api.case_decide, name="decisions"),
    path("cases/<uuid:case_id>/decisions/review", api.case_decision_review, name="decision-review"),
]
