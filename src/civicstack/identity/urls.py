"""Identity pages, mounted at /<language>/identity/."""

from django.urls import path

from civicstack.identity import representation_views, step_up_views, verification_views

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

# Acting for someone else: mandates between people, businesses, the "acting for" choice.
urlpatterns += [
    path("representation/given/", representation_views.mandates_given, name="mandates-given"),
    path("representation/give/", representation_views.mandate_give, name="mandate-give"),
    path(
        "representation/given/<uuid:mandate_id>/withdraw/",
        representation_views.mandate_revoke,
        name="mandate-revoke",
    ),
    path("representation/act-for/", representation_views.acting_choose, name="acting-choose"),
    path("representation/act-for/start/", representation_views.acting_start, name="acting-start"),
    path("representation/act-for/stop/", representation_views.acting_stop, name="acting-stop"),
    path(
        "representation/held/<uuid:mandate_id>/give-up/",
        representation_views.mandate_renounce,
        name="mandate-renounce",
    ),
    path(
        "representation/businesses/<uuid:representation_id>/colleagues/",
        representation_views.business_delegate,
        name="business-delegate",
    ),
]
