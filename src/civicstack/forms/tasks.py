"""Background jobs of the forms app."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.tasks import task
from django.utils import timezone

from civicstack.documents import services as documents_services
from civicstack.forms import services
from civicstack.forms.models import Application


@task()
def application_confirmation_send(*, application_id: str) -> bool:
    """Queue the confirmation of a submitted application; False if it no longer exists.

    Confirmations are now written with the application; this task remains for ones queued
    before that, and sends nothing twice (the notification has a once-only key).
    """
    application = (
        Application.objects.select_related("service", "form_version")
        .filter(pk=application_id)
        .first()
    )
    if application is None or not application.contact_email:
        return False
    with transaction.atomic():
        services.application_confirmation_notify(application=application)
    return True


@task()
def drafts_expire() -> int:
    """Delete drafts past their retention date (and their uploads); return how many."""
    return services.drafts_expire()


@task()
def idempotency_keys_forget() -> int:
    """Forget Idempotency-Keys older than the replay window; return how many."""
    return services.idempotency_keys_forget()


# Hours an API upload waits for the application that names it before it is deleted.
API_UPLOAD_HOURS = 24


@task()
def api_uploads_expire() -> int:
    """Delete files uploaded through the API that no application named within a day."""
    return documents_services.documents_release_stale(
        holder_prefix="api:",
        uploaded_before=timezone.now() - timedelta(hours=API_UPLOAD_HOURS),
        actor=None,
    )
