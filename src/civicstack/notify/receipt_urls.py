"""Delivery receipts from gateways, mounted at ``/notify/receipts/`` (no language prefix)."""

from django.urls import URLPattern, path

from civicstack.notify import receipts

app_name = "notify-receipts"
urlpatterns: list[URLPattern] = [
    path("sms", receipts.sms_receipt, name="sms"),
]
