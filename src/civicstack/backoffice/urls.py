from django.urls import path

from civicstack.backoffice import case_views, form_views, identity_views, notify_views, views

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

urlpatterns += [
    path("cases", case_views.case_queue, name="cases"),
    path("cases/assign", case_views.cases_assign_bulk, name="cases-assign"),
    path("cases/supervision", case_views.supervision, name="supervision"),
    path("cases/<uuid:case_id>", case_views.case_detail, name="case"),
    path("cases/<uuid:case_id>/process.bpmn", case_views.case_process, name="case-process"),
    path("cases/<uuid:case_id>/claim", case_views.case_claim, name="case-claim"),
    path("cases/<uuid:case_id>/release", case_views.case_release, name="case-release"),
    path("cases/<uuid:case_id>/assign", case_views.case_assign, name="case-assign"),
    path("cases/<uuid:case_id>/priority", case_views.case_priority, name="case-priority"),
    path("cases/<uuid:case_id>/notes", case_views.case_note, name="case-note"),
    path("cases/<uuid:case_id>/links", case_views.case_link, name="case-link"),
    path(
        "cases/<uuid:case_id>/request-information",
        case_views.case_request_information,
        name="case-request",
    ),
    path("cases/<uuid:case_id>/decide", case_views.case_decide, name="case-decide"),
    path("cases/<uuid:case_id>/review", case_views.case_review, name="case-review"),
    path("services/<slug:slug>/cases", case_views.service_case_settings, name="service-cases"),
    path(
        "services/<slug:slug>/cases/rules/new",
        case_views.service_rule_edit,
        name="service-rule-new",
    ),
    path(
        "services/<slug:slug>/cases/rules/<uuid:rule_id>",
        case_views.service_rule_edit,
        name="service-rule",
    ),
    path(
        "services/<slug:slug>/cases/rules/<uuid:rule_id>/delete",
        case_views.service_rule_delete,
        name="service-rule-delete",
    ),
    path(
        "services/<slug:slug>/cases/processes",
        case_views.service_process_save,
        name="service-process-save",
    ),
    path(
        "services/<slug:slug>/cases/processes/<int:number>/publish",
        case_views.service_process_publish,
        name="service-process-publish",
    ),
    path(
        "services/<slug:slug>/cases/processes/<int:number>/process.bpmn",
        case_views.service_process_xml,
        name="service-process-xml",
    ),
]

# Notifications: senders (GOV.UK Notify's "services"), templates, log, API keys, limits.
urlpatterns += [
    path("notifications", notify_views.notify_index, name="notify-index"),
    path("notifications/platform", notify_views.platform_overview, name="notify-platform-overview"),
    path(
        "notifications/platform/templates/new",
        notify_views.template_new,
        name="notify-platform-template-new",
    ),
    path(
        "notifications/platform/templates/<uuid:template_id>",
        notify_views.template_detail,
        name="notify-platform-template",
    ),
    path(
        "notifications/platform/templates/<uuid:template_id>/edit",
        notify_views.template_edit,
        name="notify-platform-template-edit",
    ),
    path(
        "notifications/platform/templates/<uuid:template_id>/archive",
        notify_views.template_archive,
        name="notify-platform-template-archive",
    ),
    path(
        "notifications/platform/templates/<uuid:template_id>/versions/<int:number>",
        notify_views.template_version,
        name="notify-platform-template-version",
    ),
    path("notifications/<uuid:sender_id>", notify_views.sender_overview, name="notify-overview"),
    path(
        "notifications/<uuid:sender_id>/templates/new",
        notify_views.template_new,
        name="notify-template-new",
    ),
    path(
        "notifications/<uuid:sender_id>/templates/<uuid:template_id>",
        notify_views.template_detail,
        name="notify-template",
    ),
    path(
        "notifications/<uuid:sender_id>/templates/<uuid:template_id>/edit",
        notify_views.template_edit,
        name="notify-template-edit",
    ),
    path(
        "notifications/<uuid:sender_id>/templates/<uuid:template_id>/archive",
        notify_views.template_archive,
        name="notify-template-archive",
    ),
    path(
        "notifications/<uuid:sender_id>/templates/<uuid:template_id>/versions/<int:number>",
        notify_views.template_version,
        name="notify-template-version",
    ),
    path("notifications/<uuid:sender_id>/log", notify_views.notification_log, name="notify-log"),
    path(
        "notifications/<uuid:sender_id>/log/<uuid:notification_id>",
        notify_views.notification_detail,
        name="notify-notification",
    ),
    path("notifications/<uuid:sender_id>/api-keys", notify_views.api_keys, name="notify-api-keys"),
    path(
        "notifications/<uuid:sender_id>/api-keys/new",
        notify_views.api_key_new,
        name="notify-api-key-new",
    ),
    path(
        "notifications/<uuid:sender_id>/api-keys/<uuid:key_id>/revoke",
        notify_views.api_key_revoke,
        name="notify-api-key-revoke",
    ),
    path(
        "notifications/<uuid:sender_id>/settings",
        notify_views.sender_settings,
        name="notify-settings",
    ),
]

# Sign-in clients: agency services that sign people in with Civicstack (OpenID Connect).
urlpatterns += [
    path("sign-in-clients", identity_views.client_index, name="identity-clients"),
    path("sign-in-clients/new", identity_views.client_new, name="identity-client-new"),
    path("sign-in-clients/<uuid:client_id>", identity_views.client_detail, name="identity-client"),
    path(
        "sign-in-clients/<uuid:client_id>/edit",
        identity_views.client_edit,
        name="identity-client-edit",
    ),
    path(
        "sign-in-clients/<uuid:client_id>/secret",
        identity_views.client_secret_rotate,
        name="identity-client-secret",
    ),
    path(
        "sign-in-clients/<uuid:client_id>/disable",
        identity_views.client_disable,
        name="identity-client-disable",
    ),
]
