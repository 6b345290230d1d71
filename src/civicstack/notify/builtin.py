"""The platform's own message templates, in English and Welsh.

They are written in the same template language service owners use, and synced into the
database (``templates_builtin_sync``, run after every migrate). A
service owner can override any of them for their service from the back office by making a
template with the same key; a platform admin can edit them, and an edited one is never
overwritten by a later sync.

Keys are ``<message>.<channel>``: ``cases.decided.email``, ``cases.decided.sms``.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction


@dataclass(frozen=True)
class BuiltinTemplate:
    key: str
    kind: str
    name: str
    subject_en: str
    body_en: str
    subject_cy: str = ""
    body_cy: str = ""

    def wording(self) -> dict[str, str]:
        """Return the fields of a template version with this wording."""
        return {
            "subject_en": self.subject_en,
            "body_en": self.body_en,
            "subject_cy": self.subject_cy,
            "body_cy": self.body_cy,
        }


_SIGN_OFF_EN = "((service name))"
_SIGN_OFF_CY = "((service name))"

BUILTIN_TEMPLATES: list[BuiltinTemplate] = [
    # Confirmation of a submitted application.
    BuiltinTemplate(
        key="forms.application_submitted.email",
        kind="email",
        name="Application received (email)",
        subject_en="Application received: ((reference))",
        body_en=(
            "# ((service title))\n\n"
            "We have received your application. Your reference number is ((reference)).\n\n"
            "## What happens next\n\n"
            "((what happens next))\n\n"
            "You can see your application at ((dashboard link))\n\n" + _SIGN_OFF_EN
        ),
        subject_cy="Cais wedi dod i law: ((reference))",
        body_cy=(
            "# ((service title))\n\n"
            "Rydym wedi cael eich cais. Eich cyfeirnod yw ((reference)).\n\n"
            "## Beth sy'n digwydd nesaf\n\n"
            "((what happens next))\n\n"
            "Gallwch weld eich cais yn ((dashboard link))\n\n" + _SIGN_OFF_CY
        ),
    ),
    BuiltinTemplate(
        key="forms.application_submitted.sms",
        kind="sms",
        name="Application received (text message)",
        subject_en="",
        body_en="((service title)): we have received your application ((reference)).",
        body_cy="((service title)): rydym wedi cael eich cais ((reference)).",
    ),
    BuiltinTemplate(
        key="forms.application_submitted.push",
        kind="push",
        name="Application received (web push)",
        subject_en="Application received",
        body_en="((service title)): your reference is ((reference)).",
        subject_cy="Cais wedi dod i law",
        body_cy="((service title)): eich cyfeirnod yw ((reference)).",
    ),
    # A request for information, and its reminder.
    BuiltinTemplate(
        key="cases.information_requested.email",
        kind="email",
        name="More information needed (email)",
        subject_en="More information needed for ((reference))",
        body_en=(
            "# ((service title))\n\n"
            "We need more information about your application ((reference)).\n\n"
            "^ ((question))\n\n"
            "Reply by ((due on)). Sign in to reply and add files: ((link))\n\n" + _SIGN_OFF_EN
        ),
        subject_cy="Angen rhagor o wybodaeth ar gyfer ((reference))",
        body_cy=(
            "# ((service title))\n\n"
            "Mae angen rhagor o wybodaeth arnom am eich cais ((reference)).\n\n"
            "^ ((question))\n\n"
            "Atebwch erbyn ((due on)). Mewngofnodwch i ateb ac ychwanegu ffeiliau: ((link))\n\n"
            + _SIGN_OFF_CY
        ),
    ),
    BuiltinTemplate(
        key="cases.information_requested.sms",
        kind="sms",
        name="More information needed (text message)",
        subject_en="",
        body_en=(
            "((service title)): we need more information about ((reference)). "
            "Reply by ((due on)): ((link))"
        ),
        body_cy=(
            "((service title)): mae angen rhagor o wybodaeth arnom am ((reference)). "
            "Atebwch erbyn ((due on)): ((link))"
        ),
    ),
    BuiltinTemplate(
        key="cases.information_requested.push",
        kind="push",
        name="More information needed (web push)",
        subject_en="More information needed",
        body_en="We need more information about ((reference)). Reply by ((due on)).",
        subject_cy="Angen rhagor o wybodaeth",
        body_cy="Mae angen rhagor o wybodaeth arnom am ((reference)). Atebwch erbyn ((due on)).",
    ),
    BuiltinTemplate(
        key="cases.information_reminder.email",
        kind="email",
        name="Reminder: more information needed (email)",
        subject_en="Reminder: more information needed for ((reference))",
        body_en=(
            "# ((service title))\n\n"
            "We are still waiting for the information we asked for about your application "
            "((reference)).\n\n"
            "Reply by ((due on)). Sign in to reply and add files: ((link))\n\n" + _SIGN_OFF_EN
        ),
        subject_cy="Nodyn atgoffa: angen rhagor o wybodaeth ar gyfer ((reference))",
        body_cy=(
            "# ((service title))\n\n"
            "Rydym yn dal i aros am yr wybodaeth y gwnaethom ofyn amdani am eich cais "
            "((reference)).\n\n"
            "Atebwch erbyn ((due on)). Mewngofnodwch i ateb ac ychwanegu ffeiliau: ((link))\n\n"
            + _SIGN_OFF_CY
        ),
    ),
    BuiltinTemplate(
        key="cases.information_reminder.sms",
        kind="sms",
        name="Reminder: more information needed (text message)",
        subject_en="",
        body_en="((service title)): reminder, reply about ((reference)) by ((due on)): ((link))",
        body_cy=(
            "((service title)): nodyn atgoffa, atebwch am ((reference)) erbyn ((due on)): ((link))"
        ),
    ),
    BuiltinTemplate(
        key="cases.information_reminder.push",
        kind="push",
        name="Reminder: more information needed (web push)",
        subject_en="Reminder: reply by ((due on))",
        body_en="We are still waiting for information about ((reference)).",
        subject_cy="Nodyn atgoffa: atebwch erbyn ((due on))",
        body_cy="Rydym yn dal i aros am wybodaeth am ((reference)).",
    ),
    # A decision.
    BuiltinTemplate(
        key="cases.decided.email",
        kind="email",
        name="Decision made (email)",
        subject_en="Decision on your application ((reference))",
        body_en=(
            "# ((service title))\n\n"
            "We have made a decision on your application ((reference)).\n\n"
            "Sign in to read it and download the signed decision letter: ((link))\n\n"
            + _SIGN_OFF_EN
        ),
        subject_cy="Penderfyniad ar eich cais ((reference))",
        body_cy=(
            "# ((service title))\n\n"
            "Rydym wedi gwneud penderfyniad ar eich cais ((reference)).\n\n"
            "Mewngofnodwch i'w ddarllen ac i lawrlwytho'r llythyr penderfyniad wedi'i lofnodi: "
            "((link))\n\n" + _SIGN_OFF_CY
        ),
    ),
    BuiltinTemplate(
        key="cases.decided.sms",
        kind="sms",
        name="Decision made (text message)",
        subject_en="",
        body_en=(
            "((service title)): we have made a decision on ((reference)). "
            "Sign in to read it: ((link))"
        ),
        body_cy=(
            "((service title)): rydym wedi gwneud penderfyniad ar ((reference)). "
            "Mewngofnodwch i'w ddarllen: ((link))"
        ),
    ),
    BuiltinTemplate(
        key="cases.decided.push",
        kind="push",
        name="Decision made (web push)",
        subject_en="Decision made",
        body_en="We have made a decision on your application ((reference)).",
        subject_cy="Penderfyniad wedi'i wneud",
        body_cy="Rydym wedi gwneud penderfyniad ar eich cais ((reference)).",
    ),
    BuiltinTemplate(
        key="cases.permit_expiring.email",
        kind="email",
        name="Permit or licence about to run out (email)",
        subject_en="Your ((service title)) runs out on ((expires on))",
        body_en=(
            "# ((service title))\n\n"
            "What we granted on your application ((reference)) is valid until ((expires on)).\n\n"
            "If you still need it, apply again before then: ((link))\n\n" + _SIGN_OFF_EN
        ),
        subject_cy="Daw eich ((service title)) i ben ar ((expires on))",
        body_cy=(
            "# ((service title))\n\n"
            "Mae'r hyn a roddwyd gennym ar eich cais ((reference)) yn ddilys tan "
            "((expires on)).\n\n"
            "Os oes ei angen arnoch o hyd, gwnewch gais eto cyn hynny: ((link))\n\n" + _SIGN_OFF_CY
        ),
    ),
    BuiltinTemplate(
        key="cases.permit_expiring.sms",
        kind="sms",
        name="Permit or licence about to run out (text message)",
        subject_en="",
        body_en="((service title)) ((reference)) runs out on ((expires on)). Renew: ((link))",
        body_cy="Daw ((service title)) ((reference)) i ben ar ((expires on)). Adnewyddu: ((link))",
    ),
    BuiltinTemplate(
        key="cases.permit_expiring.push",
        kind="push",
        name="Permit or licence about to run out (web push)",
        subject_en="Runs out on ((expires on))",
        body_en="((service title)) ((reference)) is valid until ((expires on)).",
        subject_cy="Yn dod i ben ar ((expires on))",
        body_cy="Mae ((service title)) ((reference)) yn ddilys tan ((expires on)).",
    ),
    # To caseworkers: a case is close to or past its service level.
    BuiltinTemplate(
        key="cases.sla_warning.email",
        kind="email",
        name="Case close to its due date (email to staff)",
        subject_en="((case reference)) is due ((due on))",
        body_en=(
            "The case ((case reference)) for ((service title)) is due on ((due on)) "
            "and is still open.\n\n"
            "((breached??^ It is past its due date and has been raised to high priority.))\n\n"
            "Open the case: ((link))"
        ),
        subject_cy="Mae ((case reference)) i'w gwblhau ((due on))",
        body_cy=(
            "Mae'r achos ((case reference)) ar gyfer ((service title)) i'w gwblhau erbyn "
            "((due on)) ac mae'n dal ar agor.\n\n"
            "((breached??^ Mae wedi mynd heibio'r dyddiad ac wedi'i godi i flaenoriaeth "
            "uchel.))\n\n"
            "Agorwch yr achos: ((link))"
        ),
    ),
    # Reminders planned from data.
    BuiltinTemplate(
        key="forms.draft_expiring.email",
        kind="email",
        name="Saved application about to be deleted (email)",
        subject_en="Your saved application will be deleted on ((expires on))",
        body_en=(
            "# ((service title))\n\n"
            "You started an application and saved it. We will delete it on ((expires on)) "
            "unless you carry on with it.\n\n"
            "Carry on with your application: ((link))\n\n" + _SIGN_OFF_EN
        ),
        subject_cy="Bydd eich cais wedi'i gadw yn cael ei ddileu ar ((expires on))",
        body_cy=(
            "# ((service title))\n\n"
            "Fe wnaethoch chi ddechrau cais a'i gadw. Byddwn yn ei ddileu ar ((expires on)) "
            "oni bai eich bod yn parhau ag ef.\n\n"
            "Parhewch â'ch cais: ((link))\n\n" + _SIGN_OFF_CY
        ),
    ),
    BuiltinTemplate(
        key="forms.draft_expiring.push",
        kind="push",
        name="Saved application about to be deleted (web push)",
        subject_en="Saved application: ((expires on))",
        body_en="Your saved application for ((service title)) will be deleted on ((expires on)).",
        subject_cy="Cais wedi'i gadw: ((expires on))",
        body_cy=(
            "Bydd eich cais wedi'i gadw ar gyfer ((service title)) yn cael ei ddileu ar "
            "((expires on))."
        ),
    ),
]


def templates_builtin_sync() -> int:
    """Create or update the platform's own templates from code; return how many changed.

    A platform template a person has edited keeps their wording. Run after ``migrate``
    like a data migration, so it writes no audit event (the code change is the record).
    """
    from civicstack.notify.models import Template, TemplateVersion

    changed = 0
    with transaction.atomic():
        for spec in BUILTIN_TEMPLATES:
            template = Template.objects.filter(sender__isnull=True, key=spec.key).first()
            if template is None:
                template = Template.objects.create(
                    sender=None, key=spec.key, name=spec.name, kind=spec.kind, version=1
                )
                TemplateVersion.objects.create(template=template, version=1, **spec.wording())
                changed += 1
                continue
            latest = TemplateVersion.objects.get(template=template, version=template.version)
            if latest.created_by_id is not None:
                continue
            wording = spec.wording()
            if all(getattr(latest, name) == value for name, value in wording.items()):
                continue
            template.version += 1
            template.save(update_fields=["version", "updated_at"])
            TemplateVersion.objects.create(template=template, version=template.version, **wording)
            changed += 1
    return changed
