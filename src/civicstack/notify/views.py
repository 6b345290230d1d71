"""The citizen's notification settings: channels, quiet hours, browsers, recent messages.

Mounted at /<language>/account/notifications/. Every part works without JavaScript except
turning on notifications in a browser, which needs the browser's Push API.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import time
from functools import cache
from pathlib import Path
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from civicstack.core.errors import ValidationFailed
from civicstack.core.middleware import error_json
from civicstack.notify import push, selectors, services
from civicstack.notify.models import Kind, Notification, PushSubscription, Status

HISTORY_LENGTH = 20
SUBSCRIPTION_BODY_MAX_BYTES = 4096
WORKER_SCOPE = "/account/notifications/push-worker/"
_WORKER_FILE = Path(__file__).resolve().parent.parent / "static" / "civicstack" / "push-sw.js"
_TIME = re.compile(r"^\s*(\d{1,2})[:.](\d{2})\s*$")


# --- The settings form --------------------------------------------------------------------


def _time_parse(value: str) -> time | None:
    """Return the 24-hour clock time in ``value`` (like 21:00), None if empty."""
    if not value.strip():
        return None
    match = _TIME.match(value)
    if match is None:
        raise ValueError(value)
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour == 24 and minute == 0:
        hour = 0
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise ValueError(value)
    return time(hour, minute)


class PreferenceForm(forms.Form):
    """The settings page's fields; the rules are checked by ``services.preference_save``."""

    sms = forms.BooleanField(required=False)
    push = forms.BooleanField(required=False)
    phone = forms.CharField(required=False, max_length=40, strip=True)
    language = forms.ChoiceField(
        required=False,
        choices=[
            ("", gettext_lazy("The language of your account")),
            ("en", "English"),
            ("cy", "Welsh"),
        ],
        error_messages={"invalid_choice": gettext_lazy("Choose English or Welsh")},
    )
    quiet_start = forms.CharField(required=False, max_length=10, strip=True)
    quiet_end = forms.CharField(required=False, max_length=10, strip=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["phone"].error_messages["max_length"] = _(
            "Enter a mobile number, like 07700 900 982"
        )
        for name in ("quiet_start", "quiet_end"):
            self.fields[name].error_messages["max_length"] = _(
                "Enter a time in the 24-hour clock, like 21:00"
            )

    def clean_quiet_start(self) -> time | None:
        try:
            return _time_parse(self.cleaned_data["quiet_start"])
        except ValueError:
            raise forms.ValidationError(
                _("Enter the start of your quiet hours in the 24-hour clock, like 21:00")
            ) from None

    def clean_quiet_end(self) -> time | None:
        try:
            return _time_parse(self.cleaned_data["quiet_end"])
        except ValueError:
            raise forms.ValidationError(
                _("Enter the end of your quiet hours in the 24-hour clock, like 07:30")
            ) from None


def _initial(user: Any) -> dict[str, Any]:
    preference = selectors.preference_of(user=user)
    if preference is None:
        return {"sms": False, "push": False, "phone": "", "language": ""}
    return {
        "sms": preference.sms,
        "push": preference.push,
        "phone": preference.phone,
        "language": preference.language,
        "quiet_start": preference.quiet_start.strftime("%H:%M") if preference.quiet_start else "",
        "quiet_end": preference.quiet_end.strftime("%H:%M") if preference.quiet_end else "",
    }


# --- Recent messages, in plain words ---------------------------------------------------------

_STATUS_WORDS: dict[str, tuple[Any, str]] = {
    Status.CREATED: (gettext_lazy("Waiting to be sent"), "govuk-tag--grey"),
    Status.SENDING: (gettext_lazy("Sending"), "govuk-tag--blue"),
    Status.PENDING: (gettext_lazy("Sending"), "govuk-tag--blue"),
    Status.DELIVERED: (gettext_lazy("Delivered"), "govuk-tag--green"),
    Status.PERMANENT_FAILURE: (gettext_lazy("Could not be delivered"), "govuk-tag--red"),
    Status.TEMPORARY_FAILURE: (gettext_lazy("Could not be delivered"), "govuk-tag--red"),
    Status.TECHNICAL_FAILURE: (
        gettext_lazy("Not sent because of a problem on our side"),
        "govuk-tag--red",
    ),
    Status.ACCEPTED: (gettext_lazy("Being printed"), "govuk-tag--blue"),
    Status.RECEIVED: (gettext_lazy("Sent by post"), "govuk-tag--green"),
    Status.VALIDATION_FAILED: (gettext_lazy("Not sent"), "govuk-tag--red"),
    Status.CANCELLED: (gettext_lazy("Cancelled"), "govuk-tag--grey"),
}
_CHANNEL_WORDS: dict[str, Any] = {
    Kind.EMAIL: pgettext_lazy("channel", "Email"),
    Kind.SMS: pgettext_lazy("channel", "Text message"),
    Kind.PUSH: pgettext_lazy("channel", "Browser notification"),
    Kind.LETTER: pgettext_lazy("channel", "Letter"),
}


def _history_rows(notifications: list[Notification]) -> list[dict[str, Any]]:
    rows = []
    for notification in notifications:
        words, colour = _STATUS_WORDS.get(notification.status, (notification.status, ""))
        rows.append(
            {
                "title": notification.subject or notification.body,
                "channel": _CHANNEL_WORDS.get(notification.kind, notification.kind),
                "created_at": notification.created_at,
                "status": words,
                "status_class": colour,
            }
        )
    return rows


def _subscription_rows(subscriptions: list[PushSubscription]) -> list[dict[str, Any]]:
    # "This browser" is found by comparing fingerprints in JavaScript, so the endpoint
    # itself (a capability URL) is not written into the page.
    return [
        {
            "subscription": subscription,
            "fingerprint": hashlib.sha256(subscription.endpoint.encode()).hexdigest()[:32],
        }
        for subscription in subscriptions
    ]


def _errors_from(form: forms.Form, error: ValidationFailed) -> None:
    if not error.field_errors:
        form.add_error(None, str(error.message))
    for name, found in error.field_errors.items():
        for message in found:
            # Looked up in the catalogue so the service's English messages show in Welsh
            # once they are translated.
            form.add_error(name if name in form.fields else None, _(str(message)))


# --- Pages -------------------------------------------------------------------------------


@never_cache
@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def preferences(request: HttpRequest) -> HttpResponse:
    """Show and save how the person wants to hear from services."""
    user = request.user
    if request.method == "POST":
        form = PreferenceForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.preference_save(
                    user=user,
                    sms=data["sms"],
                    push=data["push"],
                    phone=data["phone"],
                    language=data["language"],
                    quiet_start=data["quiet_start"],
                    quiet_end=data["quiet_end"],
                )
            except ValidationFailed as error:
                _errors_from(form, error)
            else:
                messages.success(request, _("Your notification settings have been saved."))
                return HttpResponseRedirect(reverse("notify:preferences"))
    else:
        form = PreferenceForm(initial=_initial(user))
    try:
        public_key = push.vapid_public_key()
    except push.VapidKeyUnavailable:
        public_key = ""
    context = {
        "form": form,
        "account_language": getattr(user, "preferred_language", "en"),
        "subscriptions": _subscription_rows(selectors.push_subscriptions_of(user=user)),
        "history": _history_rows(selectors.notifications_of_user(user=user, limit=HISTORY_LENGTH)),
        "push_public_key": public_key,
        "worker_scope": WORKER_SCOPE,
    }
    return render(request, "notify/preferences.html", context)


def _subscription_from(
    request: HttpRequest,
) -> tuple[dict[str, str], dict[str, list[str | Promise]]]:
    """Read endpoint, p256dh and auth from a JSON or form body; return them and errors."""
    content_type = request.content_type or ""
    if content_type == "application/json":
        if len(request.body) > SUBSCRIPTION_BODY_MAX_BYTES:
            return {}, {"subscription": [_("The subscription is too large")]}
        try:
            body = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            return {}, {"subscription": [_("Send the subscription as JSON")]}
        if not isinstance(body, dict):
            return {}, {"subscription": [_("Send the subscription as a JSON object")]}
        keys = body.get("keys")
        keys = keys if isinstance(keys, dict) else {}
        raw = {
            "endpoint": body.get("endpoint"),
            "p256dh": keys.get("p256dh"),
            "auth": keys.get("auth"),
        }
    else:
        raw = {
            "endpoint": request.POST.get("endpoint"),
            "p256dh": request.POST.get("p256dh") or request.POST.get("keys[p256dh]"),
            "auth": request.POST.get("auth") or request.POST.get("keys[auth]"),
        }
    values: dict[str, str] = {}
    errors: dict[str, list[str | Promise]] = {}
    for name, value in raw.items():
        if isinstance(value, str) and value:
            values[name] = value
        else:
            errors[name] = [_("The subscription has no %(field)s") % {"field": name}]
    return values, errors


def browser_label(user_agent: str) -> str:
    """Return a short name for the browser, like "Firefox (Linux)"."""
    agent = user_agent[:500]
    browsers = (
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("SamsungBrowser/", "Samsung Internet"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
    )
    systems = (
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("CrOS", "ChromeOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Macintosh", "macOS"),
        ("Linux", "Linux"),
    )
    browser = next((name for marker, name in browsers if marker in agent), "")
    system = next((name for marker, name in systems if marker in agent), "")
    if browser and system:
        return f"{browser} ({system})"
    return browser or system


@login_required
@require_POST
def push_subscribe(request: HttpRequest) -> HttpResponse:
    """Store this browser's push subscription (JSON from the page's script, or a form)."""
    values, errors = _subscription_from(request)
    if errors:
        return error_json(
            status=400, code="validation_failed", error=ValidationFailed(field_errors=errors)
        )
    try:
        subscription = services.push_subscription_save(
            user=request.user,
            endpoint=values["endpoint"],
            p256dh=values["p256dh"],
            auth=values["auth"],
            label=browser_label(request.headers.get("User-Agent", "")),
        )
    except ValidationFailed as error:
        return error_json(status=400, code="validation_failed", error=error)
    messages.success(request, _("Notifications are turned on in this browser."))
    if request.content_type == "application/json":
        return JsonResponse({"id": str(subscription.pk)}, status=201)
    return HttpResponseRedirect(reverse("notify:preferences"))


@login_required
@require_POST
def push_remove(request: HttpRequest, subscription_id: Any) -> HttpResponse:
    """Stop sending notifications to one of the person's browsers."""
    removed = services.push_subscription_delete(user=request.user, subscription_id=subscription_id)
    if not removed:
        return render(
            request,
            "errors/error.html",
            {"status": 404, "code": "not_found", "message": _("That browser is not on your list.")},
            status=404,
        )
    messages.success(request, _("That browser will not get notifications any more."))
    return HttpResponseRedirect(reverse("notify:preferences"))


@cache
def _worker_source() -> bytes:
    return _WORKER_FILE.read_bytes()


@require_GET
def push_worker(request: HttpRequest) -> HttpResponse:
    """Serve the service worker that shows push notifications.

    It is served from a page URL (not /static/) so it is always on this site's origin, and
    ``Service-Worker-Allowed`` lets it take a scope that is the same in every language.
    """
    response = HttpResponse(_worker_source(), content_type="text/javascript; charset=utf-8")
    response["Service-Worker-Allowed"] = WORKER_SCOPE
    response["Cache-Control"] = "no-cache"
    return response
