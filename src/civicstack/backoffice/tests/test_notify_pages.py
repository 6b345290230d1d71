"""Service owners manage their notifications in the back office: templates, log, keys, limits."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import Client

from civicstack.accounts.constants import Role
from civicstack.accounts.models import StaffMembership, User
from civicstack.catalogue.tests.factories import AgencyFactory
from civicstack.notify import services as notify_services
from civicstack.notify.delivery import notification_create
from civicstack.notify.models import (
    ApiKey,
    KeyType,
    Kind,
    Notification,
    Sender,
    Status,
    Template,
    TemplateVersion,
)

pytestmark = pytest.mark.django_db

BASE = "/en/back-office/notifications"


def _client_for(agency: Any, role: str, *, email: str = "") -> tuple[Client, User]:
    user = User.objects.create_user(
        email or f"{role}-{uuid.uuid4().hex[:6]}@example.org",
        "a long enough password",
        is_staff=True,
    )
    StaffMembership.objects.create(user=user, agency=agency, role=role)
    client = Client()
    client.force_login(user)
    session = client.session
    session["civicstack_mfa_verified"] = True
    session.save()
    return client, user


@pytest.fixture
def sender() -> Sender:
    agency: Any = AgencyFactory()
    return Sender.objects.create(name="Parking permits", agency=agency)


@pytest.fixture
def owner(sender: Sender) -> tuple[Client, User]:
    return _client_for(sender.agency, Role.SERVICE_OWNER)


def _template(sender: Sender | None, user: Any = None, **changes: Any) -> Template:
    fields: dict[str, Any] = {
        "actor": user,
        "sender": sender,
        "kind": Kind.EMAIL,
        "name": "Permit ready",
        "subject_en": "Your permit ((reference))",
        "body_en": "Hello ((first name)),\n\n# Your permit\n\nIt is ready.",
    }
    fields.update(changes)
    return notify_services.template_create(**fields)


def _form(**changes: str) -> dict[str, str]:
    data = {
        "name": "Permit ready",
        "kind": "email",
        "subject_en": "Your permit ((reference))",
        "body_en": "Hello ((first name)), your permit is ready.",
        "subject_cy": "",
        "body_cy": "",
        "action": "save",
    }
    data.update(changes)
    return data


# --- Access -------------------------------------------------------------------------------


def test_staff_of_another_agency_get_not_found(sender: Sender) -> None:
    """A service owner of another agency cannot see or even confirm a sender exists."""
    template = _template(sender)
    key, _text = notify_services.api_key_create(
        actor=None, sender=sender, name="live", key_type=KeyType.NORMAL
    )
    outsider, _user = _client_for(AgencyFactory(), Role.SERVICE_OWNER)
    pages = [
        f"{BASE}/{sender.pk}",
        f"{BASE}/{sender.pk}/templates/new",
        f"{BASE}/{sender.pk}/templates/{template.pk}",
        f"{BASE}/{sender.pk}/templates/{template.pk}/edit",
        f"{BASE}/{sender.pk}/templates/{template.pk}/versions/1",
        f"{BASE}/{sender.pk}/log",
        f"{BASE}/{sender.pk}/api-keys",
        f"{BASE}/{sender.pk}/api-keys/{key.pk}/revoke",
        f"{BASE}/{sender.pk}/settings",
    ]
    for page in pages:
        assert outsider.get(page).status_code == 404, page
    assert outsider.post(f"{BASE}/{sender.pk}/api-keys/{key.pk}/revoke").status_code == 404
    assert outsider.post(f"{BASE}/{sender.pk}/settings", {"daily_limit": "1"}).status_code == 404
    assert ApiKey.objects.get(pk=key.pk).revoked_at is None
    assert b"Parking permits" not in outsider.get(BASE).content


def test_caseworkers_of_the_same_agency_cannot_manage_the_sender(sender: Sender) -> None:
    """Only service owners and agency admins manage a sender; a caseworker gets a 404."""
    caseworker, _user = _client_for(sender.agency, Role.CASEWORKER)
    assert caseworker.get(f"{BASE}/{sender.pk}").status_code == 404
    admin, _user = _client_for(sender.agency, Role.AGENCY_ADMIN)
    assert admin.get(f"{BASE}/{sender.pk}").status_code == 200


def test_citizens_and_anonymous_people_are_kept_out(sender: Sender) -> None:
    """Citizens are refused and anonymous visitors are sent to sign in."""
    citizen = User.objects.create_user("citizen@example.org", "a long enough password")
    client = Client()
    client.force_login(citizen)
    assert client.get(BASE).status_code == 403
    assert client.get(f"{BASE}/{sender.pk}").status_code == 403
    anonymous = Client().get(f"{BASE}/{sender.pk}")
    assert anonymous.status_code == 302
    assert "/account/sign-in" in anonymous["Location"]


def test_index_lists_the_senders_of_the_owners_agency(
    sender: Sender, owner: tuple[Client, User]
) -> None:
    """The index links to the owner's senders and not to the platform's templates."""
    elsewhere: Any = AgencyFactory()
    other = Sender.objects.create(name="Bins elsewhere", agency=elsewhere)
    body = owner[0].get(BASE).content.decode()
    assert f"{BASE}/{sender.pk}" in body
    assert "Bins elsewhere" not in body and str(other.pk) not in body
    assert f"{BASE}/platform" not in body
    assert owner[0].get(f"{BASE}/platform").status_code == 404


def test_platform_admins_manage_the_platform_templates() -> None:
    """A platform admin sees and edits the platform's own templates."""
    # The platform's templates are synced from code after every migrate.
    template = Template.objects.get(sender=None, key="cases.decided.email")
    admin, _user = _client_for(AgencyFactory(), Role.PLATFORM_ADMIN)
    assert f"{BASE}/platform" in admin.get(BASE).content.decode()
    listing = admin.get(f"{BASE}/platform")
    assert listing.status_code == 200
    assert "Decision made (email)" in listing.content.decode()
    version = template.version
    response = admin.post(
        f"{BASE}/platform/templates/{template.pk}/edit",
        _form(body_en="Dear ((first name)), we decided.", expected_version=str(version)),
    )
    assert response.status_code == 302
    saved = TemplateVersion.objects.get(template=template, version=version + 1)
    assert saved.body_en.startswith("Dear")


def test_malformed_ids_in_the_address_are_not_found(owner: tuple[Client, User]) -> None:
    """A URL with something other than a UUID is a 404, never a 500."""
    client = owner[0]
    assert client.get(f"{BASE}/not-a-uuid").status_code == 404
    assert client.get(f"{BASE}/{uuid.uuid4()}").status_code == 404
    assert client.get(f"{BASE}/{uuid.uuid4()}/log/{uuid.uuid4()}").status_code == 404


# --- Templates ----------------------------------------------------------------------------


def test_a_bad_placeholder_is_shown_and_nothing_is_saved(
    sender: Sender, owner: tuple[Client, User]
) -> None:
    """A malformed placeholder comes back as an error next to the message; no template is made."""
    response = owner[0].post(
        f"{BASE}/{sender.pk}/templates/new", _form(body_en="Hello ((first.name))")
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert "There is a problem" in body
    assert 'href="#body_en"' in body
    assert "is not allowed" in body
    assert "Hello ((first.name))" in body  # what was typed is kept
    assert not Template.objects.filter(sender=sender).exists()


def test_a_missing_type_is_an_error(sender: Sender, owner: tuple[Client, User]) -> None:
    """Saving without choosing a type of message is refused with an error on the type."""
    response = owner[0].post(f"{BASE}/{sender.pk}/templates/new", _form(kind=""))
    assert response.status_code == 400
    assert 'href="#kind"' in response.content.decode()
    assert not Template.objects.filter(sender__isnull=False).exists()


def test_editing_makes_version_two_and_version_one_stays_viewable(
    sender: Sender, owner: tuple[Client, User]
) -> None:
    """Saving a change makes a new version; the old wording can still be read."""
    client = owner[0]
    created = client.post(f"{BASE}/{sender.pk}/templates/new", _form())
    template = Template.objects.get(sender=sender)
    assert created.status_code == 302
    assert created["Location"] == f"{BASE}/{sender.pk}/templates/{template.pk}"
    edit_page = client.get(f"{BASE}/{sender.pk}/templates/{template.pk}/edit")
    assert 'name="expected_version" value="1"' in edit_page.content.decode()
    saved = client.post(
        f"{BASE}/{sender.pk}/templates/{template.pk}/edit",
        _form(body_en="Good news ((first name)): your permit is ready.", expected_version="1"),
    )
    assert saved.status_code == 302
    template.refresh_from_db()
    assert template.version == 2
    current = client.get(f"{BASE}/{sender.pk}/templates/{template.pk}").content.decode()
    assert "Good news" in current
    assert f"{BASE}/{sender.pk}/templates/{template.pk}/versions/1" in current
    old = client.get(f"{BASE}/{sender.pk}/templates/{template.pk}/versions/1")
    assert old.status_code == 200
    assert "your permit is ready" in old.content.decode()
    assert "Good news" not in old.content.decode()
    assert "This is version 1" in old.content.decode()
    assert client.get(f"{BASE}/{sender.pk}/templates/{template.pk}/versions/9").status_code == 404


def test_a_stale_edit_is_refused(sender: Sender, owner: tuple[Client, User]) -> None:
    """An edit based on version 1, after someone saved version 2, saves nothing."""
    template = _template(sender)
    notify_services.template_update(
        actor=None,
        template=template,
        name=template.name,
        subject_en="Your permit ((reference))",
        body_en="Someone else's wording ((first name))",
    )
    response = owner[0].post(
        f"{BASE}/{sender.pk}/templates/{template.pk}/edit",
        _form(body_en="My stale wording ((first name))", expected_version="1"),
    )
    assert response.status_code == 400
    assert "Someone else saved this template" in response.content.decode()
    template.refresh_from_db()
    assert template.version == 2
    assert not TemplateVersion.objects.filter(body_en__startswith="My stale").exists()
    # A form without its version cannot prove it saw the latest wording either.
    lost = owner[0].post(
        f"{BASE}/{sender.pk}/templates/{template.pk}/edit",
        _form(body_en="My stale wording ((first name))", expected_version="x"),
    )
    assert lost.status_code == 400
    assert Template.objects.get(pk=template.pk).version == 2


def test_preview_renders_sample_values_and_counts_text_message_fragments(
    sender: Sender, owner: tuple[Client, User]
) -> None:
    """Previewing a text message fills the sample values, counts fragments and saves nothing."""
    long_body = "Hello ((first name)). " + "Your permit is ready to collect. " * 6
    response = owner[0].post(
        f"{BASE}/{sender.pk}/templates/new",
        _form(kind="sms", subject_en="", body_en=long_body, action="preview")
        | {"sample:first name": "Ada <b>"},
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert 'name="sample:first name"' in body
    assert "Hello Ada &lt;b&gt;." in body
    assert "<b>" not in body.split("Preview in English")[1]
    assert "charged as 2 text messages" in body
    assert not Template.objects.filter(sender__isnull=False).exists()


def test_preview_of_a_saved_email_shows_formatting_inside_a_marked_region(
    sender: Sender, owner: tuple[Client, User]
) -> None:
    """The template page previews the email as HTML with the sample values escaped."""
    template = _template(sender)
    response = owner[0].get(
        f"{BASE}/{sender.pk}/templates/{template.pk}",
        {"sample:first name": "<script>x</script>", "sample:reference": "PRM-1"},
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "The message as the recipient will see it" in body
    assert "<h2>Your permit</h2>" in body
    assert "Hello &lt;script&gt;x&lt;/script&gt;," in body
    assert "Your permit PRM-1" in body
    # Blank values show the placeholder itself.
    blank = owner[0].get(f"{BASE}/{sender.pk}/templates/{template.pk}").content.decode()
    assert "Hello ((first name))," in blank


def test_archiving_needs_confirmation(sender: Sender, owner: tuple[Client, User]) -> None:
    """Archive asks first, then hides the template from the list but keeps its page."""
    template = _template(sender)
    url = f"{BASE}/{sender.pk}/templates/{template.pk}/archive"
    assert owner[0].get(url).status_code == 200
    assert Template.objects.get(pk=template.pk).archived is False
    assert owner[0].post(url).status_code == 302
    assert Template.objects.get(pk=template.pk).archived is True
    assert owner[0].get(f"{BASE}/{sender.pk}/templates/{template.pk}").status_code == 200
    edit = owner[0].post(
        f"{BASE}/{sender.pk}/templates/{template.pk}/edit", _form(expected_version="1")
    )
    assert edit.status_code == 302
    assert Template.objects.get(pk=template.pk).version == 1


def test_a_template_can_replace_a_platform_message(
    sender: Sender, owner: tuple[Client, User]
) -> None:
    """A service's template takes a platform message's key; a second one is refused.

    It may use only the values the platform sends with that message.
    """
    new = f"{BASE}/{sender.pk}/templates/new"
    assert "cases.decided.email" in owner[0].get(new).content.decode()
    unknown = owner[0].post(new, _form(key="cases.decided.email"))
    assert unknown.status_code == 400
    assert "Remove ((first name))" in unknown.content.decode()
    fitting = _form(key="cases.decided.email", body_en="Hello, read the decision: ((link))")
    assert owner[0].post(new, fitting).status_code == 302
    assert Template.objects.get(sender=sender).key == "cases.decided.email"
    again = owner[0].post(new, {**fitting, "name": "Another"})
    assert again.status_code == 400
    wrong_kind = owner[0].post(new, _form(key="cases.decided.email", kind="sms", subject_en=""))
    assert wrong_kind.status_code == 400
    assert Template.objects.filter(sender=sender).count() == 1


# --- Notification log ----------------------------------------------------------------------


def _notify(sender: Sender, template: Template, recipient: str, **kwargs: Any) -> Notification:
    return notification_create(
        sender=sender,
        kind=Kind.EMAIL,
        recipient=recipient,
        template=template,
        personalisation={"first name": "Ada", "reference": "PRM-1"},
        **kwargs,
    )


def test_the_log_filters_failures_and_shows_their_reasons(
    sender: Sender, owner: tuple[Client, User]
) -> None:
    """Filtering on failures lists only failed messages, each with its reason."""
    template = _template(sender)
    delivered = _notify(sender, template, "delivered.person@example.org")
    Notification.objects.filter(pk=delivered.pk).update(status=Status.DELIVERED)
    failed = _notify(sender, template, "bounced.person@example.org")
    Notification.objects.filter(pk=failed.pk).update(
        status=Status.PERMANENT_FAILURE, failure_reason="The mailbox does not exist"
    )
    client = owner[0]
    everything = client.get(f"{BASE}/{sender.pk}/log").content.decode()
    assert "d***@example.org" in everything and "b***@example.org" in everything
    assert "delivered.person@example.org" not in everything  # masked in the list
    only_failed = client.get(f"{BASE}/{sender.pk}/log", {"status": "failed"}).content.decode()
    assert "b***@example.org" in only_failed
    assert "d***@example.org" not in only_failed
    assert "The mailbox does not exist" in only_failed
    assert "Not delivered: permanent failure" in only_failed
    assert "Permit ready" in only_failed and "version 1" in only_failed
    texts = client.get(f"{BASE}/{sender.pk}/log", {"kind": "sms"}).content.decode()
    assert "No messages match." in texts
    # Nonsense filters fall back to everything instead of failing.
    odd = client.get(f"{BASE}/{sender.pk}/log", {"status": "x", "kind": "y", "after": "z"})
    assert odd.status_code == 200
    detail = client.get(f"{BASE}/{sender.pk}/log/{failed.pk}").content.decode()
    assert "The mailbox does not exist" in detail
    assert "bounced.person@example.org" in detail
    overview = client.get(f"{BASE}/{sender.pk}").content.decode()
    assert "1 message was not delivered" in overview


def test_the_log_pages_through_older_messages(sender: Sender, owner: tuple[Client, User]) -> None:
    """The log shows 50 messages a page and links to the older ones."""
    template = _template(sender)
    made = [_notify(sender, template, f"person{index}@example.org") for index in range(53)]
    first = owner[0].get(f"{BASE}/{sender.pk}/log")
    rows = first.context["rows"]
    assert len(rows) == 50
    after = first.context["next_after"]
    assert after
    second = owner[0].get(f"{BASE}/{sender.pk}/log", {"after": after})
    assert len(second.context["rows"]) == 3
    assert second.context["next_after"] == ""
    seen = {row["notification"].pk for row in rows} | {
        row["notification"].pk for row in second.context["rows"]
    }
    assert seen == {n.pk for n in made}


# --- API keys -------------------------------------------------------------------------------


def test_a_new_key_is_shown_once_and_works(sender: Sender, owner: tuple[Client, User]) -> None:
    """The key text appears on the creation response only, and its secret is the stored one."""
    client = owner[0]
    response = client.post(
        f"{BASE}/{sender.pk}/api-keys/new", {"name": "case system", "key_type": "team"}
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    key_text = response.context["key_text"]
    assert key_text in response.content.decode()
    key = ApiKey.objects.get(sender=sender)
    assert key.key_type == KeyType.TEAM
    assert key_text.startswith(f"case_system-{sender.pk}-")
    secret = key_text[-36:]
    assert notify_services.api_key_secret(key) == secret
    assert secret.encode() not in bytes(key.secret_encrypted)
    assert secret not in client.get(f"{BASE}/{sender.pk}/api-keys").content.decode()
    assert secret not in client.get(f"{BASE}/{sender.pk}").content.decode()
    assert secret not in str(dict(client.session))


def test_a_key_needs_a_name_and_a_type(sender: Sender, owner: tuple[Client, User]) -> None:
    """A key without a name or with an unknown type is refused with both errors."""
    response = owner[0].post(f"{BASE}/{sender.pk}/api-keys/new", {"name": "", "key_type": "x"})
    assert response.status_code == 400
    body = response.content.decode()
    assert 'href="#name"' in body and 'href="#key_type"' in body
    assert not ApiKey.objects.exists()


def test_revoking_a_key_asks_first(sender: Sender, owner: tuple[Client, User]) -> None:
    """Revoke shows a confirmation page, then revokes the key on POST."""
    key, _text = notify_services.api_key_create(
        actor=None, sender=sender, name="live", key_type=KeyType.NORMAL
    )
    url = f"{BASE}/{sender.pk}/api-keys/{key.pk}/revoke"
    confirm = owner[0].get(url)
    assert confirm.status_code == 200
    assert "Yes, revoke this key" in confirm.content.decode()
    assert ApiKey.objects.get(pk=key.pk).revoked_at is None
    assert owner[0].post(url).status_code == 302
    assert ApiKey.objects.get(pk=key.pk).revoked_at is not None
    assert "Revoked" in owner[0].get(f"{BASE}/{sender.pk}/api-keys").content.decode()


# --- Settings -----------------------------------------------------------------------------


def test_settings_reject_bad_numbers_and_addresses(
    sender: Sender, owner: tuple[Client, User]
) -> None:
    """Words, zero, bad email addresses and long sender names are errors; nothing changes."""
    url = f"{BASE}/{sender.pk}/settings"
    response = owner[0].post(
        url,
        {
            "rate_limit_per_minute": "lots",
            "daily_limit": "-5",
            "email_reply_to": "not an address",
            "sms_sender": "Parking",
        },
    )
    assert response.status_code == 400
    body = response.content.decode()
    for field in ("rate_limit_per_minute", "daily_limit", "email_reply_to"):
        assert f'href="#{field}"' in body
    assert 'value="lots"' in body
    out_of_range = owner[0].post(
        url,
        {
            "rate_limit_per_minute": "0",
            "daily_limit": "100",
            "email_reply_to": "",
            "sms_sender": "Far too long a name",
        },
    )
    assert out_of_range.status_code == 400
    assert 'href="#rate_limit_per_minute"' in out_of_range.content.decode()
    assert 'href="#sms_sender"' in out_of_range.content.decode()
    sender.refresh_from_db()
    assert (sender.rate_limit_per_minute, sender.daily_limit) == (3000, 250_000)


def test_settings_are_saved(sender: Sender, owner: tuple[Client, User]) -> None:
    """Valid limits and addresses are saved and shown on the overview."""
    response = owner[0].post(
        f"{BASE}/{sender.pk}/settings",
        {
            "rate_limit_per_minute": "600",
            "daily_limit": "10,000",
            "email_reply_to": "permits@example.org",
            "sms_sender": "Permits",
        },
    )
    assert response.status_code == 302
    sender.refresh_from_db()
    assert sender.rate_limit_per_minute == 600
    assert sender.daily_limit == 10_000
    assert sender.email_reply_to == "permits@example.org"
    assert sender.sms_sender == "Permits"
    assert "permits@example.org" in owner[0].get(f"{BASE}/{sender.pk}").content.decode()


def test_welsh_pages_render(sender: Sender, owner: tuple[Client, User]) -> None:
    """Every page renders under the Welsh prefix too."""
    template = _template(sender)
    for path in ("", f"/{sender.pk}", f"/{sender.pk}/templates/{template.pk}", f"/{sender.pk}/log"):
        assert owner[0].get(f"/cy/back-office/notifications{path}").status_code == 200


def test_list_pages_make_the_same_number_of_queries_for_more_rows(
    sender: Sender, owner: tuple[Client, User]
) -> None:
    """The log and the overview do not query once per message or template."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    first = _template(sender)

    def counts() -> tuple[int, int]:
        owner[0].get(f"{BASE}/{sender.pk}")  # warm the session and caches
        with CaptureQueriesContext(connection) as log:
            owner[0].get(f"{BASE}/{sender.pk}/log")
        with CaptureQueriesContext(connection) as overview:
            owner[0].get(f"{BASE}/{sender.pk}")
        return len(log.captured_queries), len(overview.captured_queries)

    _notify(sender, first, "one@example.org")
    few = counts()
    for index in range(5):
        extra = _template(sender, name=f"Template {index}")
        _notify(sender, extra, f"person{index}@example.org")
    assert counts() == few
