"""GOV.UK Notify's API v2 paths, mounted at ``/v2/`` so Notify's clients work unchanged."""

from django.urls import URLPattern, path, re_path

from civicstack.notify import api_v2

app_name = "notify-api"
urlpatterns: list[URLPattern] = [
    path("notifications/email", api_v2.email_send, name="email"),
    path("notifications/sms", api_v2.sms_send, name="sms"),
    path("notifications/letter", api_v2.letter_send, name="letter"),
    path("notifications", api_v2.notifications_list, name="notifications"),
    path(
        "notifications/<str:notification_id>",
        api_v2.notification_detail,
        name="notification",
    ),
    path(
        "notifications/<str:notification_id>/pdf",
        api_v2.notification_pdf,
        name="notification-pdf",
    ),
    path("templates", api_v2.templates_list, name="templates"),
    path("template/<str:template_id>", api_v2.template_detail, name="template"),
    path(
        "template/<str:template_id>/version/<str:version>",
        api_v2.template_version_detail,
        name="template-version",
    ),
    path("template/<str:template_id>/preview", api_v2.template_preview, name="template-preview"),
    re_path(r"^", api_v2.unknown_path, name="unknown"),
]
