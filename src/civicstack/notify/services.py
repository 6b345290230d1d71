"""Writes of the notifications app: what other apps and the pages call.

Other apps send with :func:`notification_send`, naming a message (``cases.decided``): the
person's preferences pick the channels, each channel's template is looked up (the
service's own first, then the platform's), and the notifications are written in the
caller's transaction.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable
from datetime import time
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext

from civicstack.core.audit import audit_event_record
from civicstack.core.errors import ValidationFailed
from civicstack.notify import caches, delivery, templating
from civicstack.notify.models import (
    ApiKey,
    Kind,
    Notification,
    Preference,
    PushSubscription,
    Sender,
    Template,
    TemplateVersion,
)
from civicstack.notify.recipients import RecipientError, email_normalise, phone_normalise
from civicstack.notify.reminders import Planned, ReminderKind, reminder_kinds, reminders_cancel

__all__ = [
    "Planned",
    "ReminderKind",
    "reminder_kinds",
]


def _caches_forget() -> None:
    """Drop the API's cached senders, keys and templates now and again after commit."""
    caches.forget()
    transaction.on_commit(caches.forget)


# --- Senders -----------------------------------------------------------------------------


def sender_for_service(*, service: Any) -> Sender:
    """Return the sender of a catalogue service, creating it the first time it sends."""
    sender = Sender.objects.filter(service=service).first()
    if sender is not None:
        return sender
    try:
        with transaction.atomic():
            sender = Sender.objects.create(
                name=service.title_en[:200], agency_id=service.agency_id, service=service
            )
            audit_event_record(action="notify.sender_created", actor=None, obj=sender)
    except IntegrityError:
        sender = Sender.objects.get(service=service)
    return sender


def sender_update(
    *,
    actor: Any,
    sender: Sender,
    rate_limit_per_minute: int,
    daily_limit: int,
    email_reply_to: str,
    sms_sender: str,
) -> Sender:
    """Change a sender's limits and reply addresses."""
    errors: dict[str, list[str | Promise]] = {}
    if not 1 <= rate_limit_per_minute <= 100_000:
        errors["rate_limit_per_minute"] = [gettext("Enter a rate limit between 1 and 100,000")]
    if not 1 <= daily_limit <= 10_000_000:
        errors["daily_limit"] = [gettext("Enter a daily limit between 1 and 10,000,000")]
    if email_reply_to:
        try:
            email_normalise(email_reply_to)
        except RecipientError:
            errors["email_reply_to"] = [
                gettext("Enter an email address in the correct format, like name@example.com")
            ]
    if sms_sender and not (sms_sender.isalnum() and len(sms_sender) <= 11):
        errors["sms_sender"] = [
            gettext("Text message sender names are up to 11 letters or numbers")
        ]
    if errors:
        raise ValidationFailed(field_errors=errors)
    with transaction.atomic():
        sender.rate_limit_per_minute = rate_limit_per_minute
        sender.daily_limit = daily_limit
        sender.email_reply_to = email_reply_to
        sender.sms_sender = sms_sender
        sender.save()
        audit_event_record(action="notify.sender_updated", actor=actor, obj=sender)
        _caches_forget()
    return sender


# --- Templates ---------------------------------------------------------------------------


def _template_errors(
    kind: str, subject_en: str, body_en: str, subject_cy: str, body_cy: str
) -> dict[str, list[str | Promise]]:
    errors: dict[str, list[str | Promise]] = {}
    checks = [("en", subject_en, body_en)]
    if body_cy.strip() or subject_cy.strip():
        checks.append(("cy", subject_cy, body_cy))
    for language, subject, body in checks:
        if kind in (Kind.EMAIL, Kind.LETTER, Kind.PUSH) and not subject.strip():
            errors.setdefault(f"subject_{language}", []).append(gettext("Enter a subject"))
        try:
            templating.template_check(subject=subject, body=body)
        except templating.TemplateError as error:
            errors.setdefault(f"body_{language}", []).append(str(error))
        if kind == Kind.SMS and len(body) > templating.SMS_MAX_CHARACTERS:
            errors.setdefault(f"body_{language}", []).append(
                gettext("Text messages cannot be longer than %(count)s characters")
                % {"count": templating.SMS_MAX_CHARACTERS}
            )
        if kind == Kind.PUSH and len(body) > 1000:
            errors.setdefault(f"body_{language}", []).append(
                gettext("Web push messages cannot be longer than 1,000 characters")
            )
    return errors


def _override_errors(key: str, kind: str, subject: str, body: str) -> list[str]:
    """Check a service's own version of a platform message uses only the platform's values."""
    if not key:
        return []
    platform = Template.objects.filter(sender__isnull=True, key=key).first()
    if platform is None:
        return []
    if platform.kind != kind:
        return [gettext("This platform message is sent as a different kind of message.")]
    version = TemplateVersion.objects.get(template=platform, version=platform.version)
    known = {
        templating.key(name)
        for text in (version.subject_en, version.body_en, version.subject_cy, version.body_cy)
        for name in _names(text)
    } | {templating.key("service name"), templating.key("url")}
    try:
        wanted = templating.template_check(subject=subject, body=body)
    except templating.TemplateError:
        return []
    unknown = [name for name in wanted if templating.key(name) not in known]
    if unknown:
        return [
            gettext("This message is sent with these values only: %(names)s. Remove %(unknown)s.")
            % {
                "names": ", ".join(sorted(_names(version.subject_en + " " + version.body_en))),
                "unknown": ", ".join(f"(({name}))" for name in unknown),
            }
        ]
    return []


def _names(text: str) -> set[str]:
    try:
        return {placeholder.name for placeholder in templating.placeholders(text)}
    except templating.TemplateError:
        return set()


def template_create(
    *,
    actor: Any,
    sender: Sender | None,
    kind: str,
    name: str,
    subject_en: str,
    body_en: str,
    subject_cy: str = "",
    body_cy: str = "",
    key: str = "",
) -> Template:
    """Create a template with its first version; raise ValidationFailed with field errors."""
    errors = _template_errors(kind, subject_en, body_en, subject_cy, body_cy)
    if kind not in Kind.values:
        errors["kind"] = [gettext("Choose email, text message, web push or letter")]
    if not name.strip():
        errors["name"] = [gettext("Enter a template name")]
    if sender is not None:
        for language, subject, body in (("en", subject_en, body_en), ("cy", subject_cy, body_cy)):
            problems = _override_errors(key, kind, subject, body)
            if problems and body.strip():
                errors.setdefault(f"body_{language}", []).extend(problems)
    if errors:
        raise ValidationFailed(field_errors=errors)
    with transaction.atomic():
        template = Template.objects.create(
            sender=sender, key=key, name=name.strip()[:200], kind=kind, version=1, created_by=actor
        )
        TemplateVersion.objects.create(
            template=template,
            version=1,
            subject_en=subject_en.strip(),
            body_en=body_en,
            subject_cy=subject_cy.strip(),
            body_cy=body_cy,
            created_by=actor,
        )
        audit_event_record(action="notify.template_created", actor=actor, obj=template)
        _caches_forget()
    return template


def template_update(
    *,
    actor: Any,
    template: Template,
    name: str,
    subject_en: str,
    body_en: str,
    subject_cy: str = "",
    body_cy: str = "",
    expected_version: int | None = None,
) -> Template:
    """Save a new version of a template (old versions stay, as sent messages name them)."""
    errors = _template_errors(template.kind, subject_en, body_en, subject_cy, body_cy)
    if not name.strip():
        errors["name"] = [gettext("Enter a template name")]
    if template.sender_id is not None:
        for language, subject, body in (("en", subject_en, body_en), ("cy", subject_cy, body_cy)):
            problems = _override_errors(template.key, template.kind, subject, body)
            if problems and body.strip():
                errors.setdefault(f"body_{language}", []).extend(problems)
    if errors:
        raise ValidationFailed(field_errors=errors)
    with transaction.atomic():
        locked = Template.objects.select_for_update().get(pk=template.pk)
        if expected_version is not None and locked.version != expected_version:
            raise ValidationFailed(
                field_errors={
                    "body_en": [
                        gettext(
                            "Someone else saved this template while you were editing it. "
                            "Check the latest version and make your change again."
                        )
                    ]
                }
            )
        latest = TemplateVersion.objects.get(template=locked, version=locked.version)
        changed = (latest.subject_en, latest.body_en, latest.subject_cy, latest.body_cy) != (
            subject_en.strip(),
            body_en,
            subject_cy.strip(),
            body_cy,
        )
        locked.name = name.strip()[:200]
        if changed:
            locked.version += 1
            TemplateVersion.objects.create(
                template=locked,
                version=locked.version,
                subject_en=subject_en.strip(),
                body_en=body_en,
                subject_cy=subject_cy.strip(),
                body_cy=body_cy,
                created_by=actor,
            )
        locked.save()
        audit_event_record(
            action="notify.template_updated",
            actor=actor,
            obj=locked,
            data={"version": locked.version},
        )
        _caches_forget()
    return locked


def template_archive(*, actor: Any, template: Template) -> None:
    """Stop a template being used for new messages (sent ones keep their record)."""
    with transaction.atomic():
        Template.objects.filter(pk=template.pk).update(archived=True)
        audit_event_record(action="notify.template_archived", actor=actor, obj=template)
        _caches_forget()


# --- Sending from other apps ---------------------------------------------------------------


def _templates_for(message: str, kind: str, sender: Sender) -> list[Template]:
    """Return the service's own template for the message, then the platform's."""
    key = f"{message}.{kind}"
    found = [
        Template.objects.filter(sender=sender, key=key, archived=False).first(),
        Template.objects.filter(sender__isnull=True, key=key, archived=False).first(),
    ]
    return [template for template in found if template is not None]


def notification_send(
    *,
    message: str,
    service: Any,
    personalisation: dict[str, Any],
    idempotency_key: str,
    user: Any = None,
    email: str = "",
    language: str = "en",
    personalisation_cy: dict[str, Any] | None = None,
    actor: Any = None,
) -> list[Notification]:
    """Send the message ``message`` to a person on every channel they use.

    Email goes to ``email`` (or the account's address) whenever there is one; a text and a
    push message follow the person's preferences. ``personalisation_cy`` replaces values
    (titles, links, dates) when the person reads Welsh. Returns the notifications written
    in the caller's transaction (none if there is no way to reach the person).
    """
    sender = sender_for_service(service=service)
    preference = Preference.objects.filter(user=user).first() if user is not None else None
    if preference is not None and preference.language in ("en", "cy"):
        language = preference.language
    values = {"service name": settings.SERVICE_NAME, **personalisation}
    if language == "cy" and personalisation_cy:
        values.update(personalisation_cy)
    targets: list[tuple[str, str]] = []
    address = email or (getattr(user, "email", "") if user is not None else "")
    if address:
        targets.append((Kind.EMAIL, address))
    if preference is not None and preference.sms and preference.phone:
        targets.append((Kind.SMS, preference.phone))
    if (
        preference is not None
        and preference.push
        and user is not None
        and PushSubscription.objects.filter(user=user, expired_at__isnull=True).exists()
    ):
        targets.append((Kind.PUSH, ""))
    if "link" in values and "url" not in values:
        values["url"] = values["link"]  # where a push message opens
    sent: list[Notification] = []
    for kind, recipient in targets:
        for template in _templates_for(message, kind, sender):
            try:
                with transaction.atomic():
                    notification = delivery.notification_create(
                        sender=sender,
                        kind=kind,
                        recipient=recipient,
                        user=user,
                        template=template,
                        personalisation=values,
                        language=language,
                        idempotency_key=f"{idempotency_key}:{kind}",
                        preference=preference,
                        count_daily=False,
                    )
            except (templating.PersonalisationError, templating.TemplateError) as error:
                # A service's own wording that does not fit the platform's values must not
                # stop the business change: the platform's template is used instead.
                audit_event_record(
                    action="notify.template_unusable",
                    actor=actor,
                    obj=template,
                    data={"message": message, "kind": kind, "reason": str(error)[:300]},
                )
                continue
            except delivery.RecipientInvalid as error:
                audit_event_record(
                    action="notify.notification_not_sent",
                    actor=actor,
                    obj=sender,
                    data={"message": message, "kind": kind, "reason": str(error)},
                )
                break
            sent.append(notification)
            break
    if sent:
        audit_event_record(
            action="notify.notification_queued",
            actor=actor,
            obj=sender,
            data={"message": message, "notifications": [str(n.pk) for n in sent]},
        )
    return sent


def staff_notification_send(
    *,
    message: str,
    service: Any,
    users: Iterable[Any],
    personalisation: dict[str, Any],
    idempotency_key: str,
) -> list[Notification]:
    """Send a message to members of staff by email (SLA warnings and the like)."""
    sent: list[Notification] = []
    for user in users:
        sent.extend(
            notification_send(
                message=message,
                service=service,
                personalisation=personalisation,
                idempotency_key=f"{idempotency_key}:{user.pk}",
                user=user,
                language=getattr(user, "preferred_language", "en") or "en",
            )
        )
    if sent:
        audit_event_record(
            action="notify.staff_notified",
            actor=None,
            data={"message": message, "count": len(sent)},
        )
    return sent


def reminder_cancel(*, kind: str, subject: str, reason: str) -> int:
    """Cancel the scheduled reminders of ``kind`` about ``subject``; return how many."""
    cancelled = reminders_cancel(kind=kind, subject=subject, reason=reason)
    if cancelled:
        audit_event_record(
            action="notify.reminders_cancelled",
            actor=None,
            data={"kind": kind, "subject": subject, "count": cancelled},
        )
    return cancelled


# --- API keys ----------------------------------------------------------------------------


def _key_cipher() -> AESGCM:
    material = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"civicstack notify api keys"
    ).derive(settings.SECRET_KEY.encode())
    return AESGCM(material)


def api_key_secret(key: ApiKey) -> str:
    """Return the secret of an API key (to check the signature of a token)."""
    blob = bytes(key.secret_encrypted)
    return _key_cipher().decrypt(blob[:12], blob[12:], str(key.pk).encode()).decode()


def api_key_create(*, actor: Any, sender: Sender, name: str, key_type: str) -> tuple[ApiKey, str]:
    """Create an API key; return it and the full key text, shown to the person only once.

    The key text is ``<name>-<sender id>-<secret>``, as GOV.UK Notify's clients expect.
    """
    from civicstack.notify.models import KeyType

    errors: dict[str, list[str | Promise]] = {}
    clean_name = "".join(ch if ch.isalnum() else "_" for ch in name.strip())[:100]
    if not clean_name:
        errors["name"] = [gettext("Enter a name for the key")]
    if key_type not in KeyType.values:
        errors["key_type"] = [gettext("Choose live, team and guest list, or test")]
    if errors:
        raise ValidationFailed(field_errors=errors)
    secret = str(uuid.uuid4())
    with transaction.atomic():
        key = ApiKey(sender=sender, name=clean_name, key_type=key_type, created_by=actor)
        nonce = secrets.token_bytes(12)
        key.secret_encrypted = nonce + _key_cipher().encrypt(
            nonce, secret.encode(), str(key.pk).encode()
        )
        key.save()
        audit_event_record(
            action="notify.api_key_created", actor=actor, obj=key, data={"key_type": key_type}
        )
        _caches_forget()
    return key, f"{clean_name}-{sender.pk}-{secret}"


def api_key_revoke(*, actor: Any, key: ApiKey) -> None:
    """Revoke an API key at once."""
    with transaction.atomic():
        ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        audit_event_record(action="notify.api_key_revoked", actor=actor, obj=key)
        _caches_forget()


# --- Citizens: preferences and push subscriptions -------------------------------------------


def preference_save(
    *,
    user: Any,
    sms: bool,
    push: bool,
    phone: str,
    language: str,
    quiet_start: time | None,
    quiet_end: time | None,
) -> Preference:
    """Save how a person wants to hear from services; raise ValidationFailed on bad input."""
    errors: dict[str, list[str | Promise]] = {}
    number = ""
    if phone.strip():
        try:
            number = phone_normalise(phone)
        except RecipientError as error:
            errors["phone"] = [
                gettext("Enter a mobile number, like 07700 900 982 (%(problem)s)")
                % {"problem": error}
            ]
    if sms and not phone.strip():
        errors["phone"] = [gettext("Enter a mobile number to get text messages")]
    if language not in ("", "en", "cy"):
        errors["language"] = [gettext("Choose English or Welsh")]
    if (quiet_start is None) != (quiet_end is None):
        errors["quiet_start"] = [gettext("Enter both the start and the end of your quiet hours")]
    elif quiet_start is not None and quiet_start == quiet_end:
        errors["quiet_start"] = [gettext("Quiet hours must start and end at different times")]
    if errors:
        raise ValidationFailed(field_errors=errors)
    with transaction.atomic():
        preference, _ = Preference.objects.select_for_update().get_or_create(user=user)
        preference.sms = sms
        preference.push = push
        preference.phone = number
        preference.language = language
        preference.quiet_start = quiet_start
        preference.quiet_end = quiet_end
        preference.save()
        audit_event_record(action="notify.preferences_saved", actor=user, obj=preference)
    return preference


def push_subscription_save(
    *, user: Any, endpoint: str, p256dh: str, auth: str, label: str = ""
) -> PushSubscription:
    """Record a browser's push subscription for ``user`` (the same endpoint is updated)."""
    from civicstack.notify.push import subscription_check

    errors = subscription_check(endpoint=endpoint, p256dh=p256dh, auth=auth)
    if errors:
        raise ValidationFailed(field_errors={name: list(found) for name, found in errors.items()})
    with transaction.atomic():
        subscription, _ = PushSubscription.objects.update_or_create(
            endpoint=endpoint,
            defaults={
                "user": user,
                "p256dh": p256dh,
                "auth": auth,
                "label": label[:200],
                "expired_at": None,
            },
        )
        preference, _ = Preference.objects.get_or_create(user=user)
        if not preference.push:
            preference.push = True
            preference.save(update_fields=["push", "updated_at"])
        audit_event_record(action="notify.push_subscribed", actor=user, obj=subscription)
    return subscription


def push_subscription_delete(*, user: Any, subscription_id: Any) -> bool:
    """Remove one of the person's push subscriptions; return True if there was one."""
    with transaction.atomic():
        deleted, _ = PushSubscription.objects.filter(user=user, pk=subscription_id).delete()
        if deleted:
            audit_event_record(
                action="notify.push_unsubscribed",
                actor=user,
                object_type="notify.pushsubscription",
                object_id=str(subscription_id),
            )
    return bool(deleted)
