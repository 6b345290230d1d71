"""Identity verification methods, as plugins in a registry, and the checks they rely on.

A method takes what a person (or a member of staff) typed, checks it and returns the
evidence to record; :func:`civicstack.identity.services.identity_verification_record`
stores it. Two methods exist: a check of the document in person at a counter, and a
document check stand-in for development that checks the machine-readable zone (MRZ) of a
passport-style document (ICAO Doc 9303, TD3). A real remote document check (chip reading,
a provider's API) would be a third plugin.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from civicstack.core.errors import ValidationFailed
from civicstack.core.registry import Registry
from civicstack.identity.constants import DOCUMENT_TYPES, Level

# How long a verification stands when the document does not expire sooner.
VERIFICATION_VALID_YEARS = 5

# The first letter of a TD3 MRZ for the document types the stand-in accepts.
MRZ_DOCUMENT_CODES = {"passport": "P", "identity_card": "I"}

_COUNTRY = re.compile(r"[A-Z]{3}|D", re.ASCII)
_DOCUMENT_NUMBER = re.compile(r"[A-Z0-9]{1,20}", re.ASCII)
_NATIONAL_IDENTIFIER = re.compile(r"[A-Z0-9]{1,20}", re.ASCII)
_MRZ_LINE = re.compile(r"[A-Z0-9<]{44}", re.ASCII)
MRZ_NUMBER_LENGTH = 9


@dataclass(frozen=True)
class DocumentEvidence:
    """What a verification method saw: the document and, if any, the national identifier."""

    document_type: str
    issuing_country: str
    document_number: str
    document_expires_on: dt.date
    national_identifier: str = ""


class VerificationMethod:
    """Base of identity verification plugins.

    ``key`` names the method in records, ``label`` is what people read, ``evidence`` lists
    what it records, ``level`` the level of assurance a verification by it supports, and
    ``allowed_in_production`` whether it may run when ``settings.PRODUCTION`` is set.
    ``performed_by_staff`` methods need a member of staff as the actor.
    ``national_identifier_field`` names the input the national identifier comes from, for
    the error when it already confirms someone else (``national_identifier_taken``).
    """

    key: str = ""
    label: Promise = _("Identity check")
    description: Promise | str = ""
    evidence: tuple[Promise, ...] = ()
    level: Level = Level.HIGH
    allowed_in_production: bool = False
    performed_by_staff: bool = False
    national_identifier_field: str = "national_identifier"
    national_identifier_taken: Promise = _(
        "This personal identification number already confirms someone else's identity"
    )

    def check(self, data: Mapping[str, Any]) -> DocumentEvidence:
        """Validate what was entered; return the evidence or raise ValidationFailed."""
        raise NotImplementedError


verification_methods: Registry[VerificationMethod] = Registry("identity verification methods")


# --- Checks shared by methods ----------------------------------------------------------------


def _text(data: Mapping[str, Any], name: str, limit: int = 100) -> str:
    value = data.get(name, "")
    if not isinstance(value, str):
        return ""
    return value.strip()[:limit]


def clean_identifier(value: str) -> str:
    """Return a document number or identifier upper-cased, without spaces, dashes or dots."""
    return re.sub(r"[\s\-./]", "", value).upper()


def _date(
    data: Mapping[str, Any], name: str, errors: dict[str, list[Any]], missing: Promise
) -> dt.date | None:
    value = data.get(name)
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str) or not value.strip():
        errors[name] = [missing]
        return None
    try:
        return dt.date.fromisoformat(value.strip()[:10])
    except ValueError:
        errors[name] = [_("Enter a real date")]
        return None


def _document_fields(
    data: Mapping[str, Any], errors: dict[str, list[Any]], *, types: Mapping[str, Any]
) -> tuple[str, str, str, dt.date | None]:
    document_type = _text(data, "document_type", 30)
    if document_type not in types:
        errors["document_type"] = [_("Select the type of document")]
    country = _text(data, "issuing_country", 10).upper()
    if not country:
        errors["issuing_country"] = [_("Enter the country that issued the document")]
    elif not _COUNTRY.fullmatch(country):
        errors["issuing_country"] = [
            _("Enter the issuing country as a 3-letter code, like GBR or FRA")
        ]
    number = clean_identifier(_text(data, "document_number", 40))
    if not number:
        errors["document_number"] = [_("Enter the document number")]
    elif not _DOCUMENT_NUMBER.fullmatch(number):
        errors["document_number"] = [
            _("Enter the document number using only letters A to Z and numbers")
        ]
    expires = _date(data, "document_expires_on", errors, _("Enter the date the document expires"))
    if expires is not None and expires < timezone.localdate():
        errors["document_expires_on"] = [_("The document has expired: ask for a current one")]
    return document_type, country, number, expires


def expires_at_for(*, verified_at: dt.datetime, document_expires_on: dt.date) -> dt.datetime:
    """Return when a verification stops counting: when the document expires, or 5 years."""
    try:
        ceiling = verified_at.replace(year=verified_at.year + VERIFICATION_VALID_YEARS)
    except ValueError:  # 29 February, five years on
        ceiling = verified_at.replace(year=verified_at.year + VERIFICATION_VALID_YEARS, day=28)
    end_of_document = dt.datetime.combine(
        document_expires_on + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC
    )
    return min(ceiling, end_of_document)


# --- ICAO 9303 machine-readable zone ------------------------------------------------------


def mrz_check_digit(text: str) -> str:
    """Return the ICAO 9303 check digit of ``text`` (digits, A-Z and the filler ``<``)."""
    total = 0
    for position, char in enumerate(text):
        if "0" <= char <= "9":  # not isdigit(): "²" is a digit to Python, and int() refuses it
            value = int(char)
        elif "A" <= char <= "Z":
            value = ord(char) - ord("A") + 10
        elif char == "<":
            value = 0
        else:
            raise ValueError(f"not an MRZ character: {char!r}")
        total += value * (7, 3, 1)[position % 3]
    return str(total % 10)


@dataclass(frozen=True)
class MachineReadableZone:
    """The fields of a TD3 (passport) MRZ that the stand-in compares with what was typed."""

    document_code: str
    issuing_country: str
    document_number: str
    date_of_birth: str
    expiry: str
    personal_number: str


def mrz_parse(line_1: str, line_2: str) -> MachineReadableZone:
    """Return the fields of a two-line TD3 MRZ; raise ValidationFailed naming each problem.

    Checks the format and the five check digits: document number, date of birth, expiry,
    personal number (when present) and the composite digit over all of them.
    """
    line_1 = line_1.strip().upper()
    line_2 = line_2.strip().upper()
    errors: dict[str, list[Any]] = {}
    for name, line in (("mrz_line_1", line_1), ("mrz_line_2", line_2)):
        if not line:
            errors[name] = [_("Enter this line of the machine-readable zone")]
        elif not _MRZ_LINE.fullmatch(line):
            errors[name] = [
                _(
                    "Each line of the machine-readable zone is 44 characters long, using only "
                    "letters A to Z, numbers and the < sign"
                )
            ]
    if errors:
        raise ValidationFailed(field_errors=errors)
    zone = MachineReadableZone(
        document_code=line_1[0],
        issuing_country=line_1[2:5].rstrip("<"),
        document_number=line_2[0:9],
        date_of_birth=line_2[13:19],
        expiry=line_2[21:27],
        personal_number=line_2[28:42],
    )
    digits = (
        (line_2[0:9], line_2[9], _("The check digit of the document number is wrong")),
        (line_2[13:19], line_2[19], _("The check digit of the date of birth is wrong")),
        (line_2[21:27], line_2[27], _("The check digit of the expiry date is wrong")),
    )
    problems: list[str | Promise] = [
        message for field, digit, message in digits if mrz_check_digit(field) != digit
    ]
    personal, personal_digit = line_2[28:42], line_2[42]
    empty_personal = personal == "<" * 14 and personal_digit in {"<", "0"}
    if not empty_personal and mrz_check_digit(personal) != personal_digit:
        problems.append(_("The check digit of the personal number is wrong"))
    composite = line_2[0:10] + line_2[13:20] + line_2[21:43]
    if mrz_check_digit(composite) != line_2[43]:
        problems.append(_("The composite check digit (the last character of line 2) is wrong"))
    if problems:
        raise ValidationFailed(field_errors={"mrz_line_2": problems})
    return zone


def _mrz_date(value: dt.date) -> str:
    return f"{value:%y%m%d}"


# --- Keyed hash and encryption ------------------------------------------------------------


def _derived_key(purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(
        settings.SECRET_KEY.encode()
    )


def document_number_hash(*, document_type: str, issuing_country: str, number: str) -> str:
    """Return the keyed hash (HMAC-SHA256) a document number is kept as; never the number."""
    key = _derived_key(b"civicstack identity document numbers")
    message = f"{document_type}\x1f{issuing_country}\x1f{clean_identifier(number)}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def national_identifier_hash(*, issuing_country: str, identifier: str) -> str:
    """Return the keyed hash (HMAC-SHA256) of a national identifier, within its country.

    Kept beside the encrypted identifier so that one identifier cannot confirm two people
    without decrypting every record; the country is part of it because each country
    numbers its own people.
    """
    key = _derived_key(b"civicstack identity national identifier hashes")
    message = f"{issuing_country}\x1f{clean_identifier(identifier)}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def national_identifier_encrypt(*, value: str, record_id: str) -> bytes:
    """Return ``value`` encrypted with AES-GCM, bound to its record (nonce + ciphertext)."""
    nonce = secrets.token_bytes(12)
    cipher = AESGCM(_derived_key(b"civicstack identity national identifiers"))
    return nonce + cipher.encrypt(nonce, value.encode(), record_id.encode())


def national_identifier_decrypt(*, blob: bytes, record_id: str) -> str | None:
    """Return the national identifier from its encrypted form, or None if it cannot be read."""
    if len(blob) < 13:
        return None
    cipher = AESGCM(_derived_key(b"civicstack identity national identifiers"))
    try:
        return cipher.decrypt(blob[:12], blob[12:], record_id.encode()).decode()
    except (InvalidTag, UnicodeDecodeError):
        return None


# --- The methods ----------------------------------------------------------------------------


class CounterVerification(VerificationMethod):
    """A member of staff checked the original document with the person in front of them."""

    key = "counter"
    label = _("In person at a counter")
    description = _(
        "Take your passport or identity card to a public service counter. A member of staff "
        "checks it with you there and records that they did."
    )
    evidence = (
        _("document type"),
        _("issuing country"),
        _("document expiry date"),
        _("a keyed hash of the document number"),
        _("national identifier (encrypted), if given"),
        _("the member of staff who checked"),
    )
    level = Level.HIGH
    allowed_in_production = True
    performed_by_staff = True

    def check(self, data: Mapping[str, Any]) -> DocumentEvidence:
        """Validate the document details staff typed; raise ValidationFailed naming each."""
        errors: dict[str, list[Any]] = {}
        document_type, country, number, expires = _document_fields(
            data, errors, types=DOCUMENT_TYPES
        )
        national = clean_identifier(_text(data, "national_identifier", 40))
        if national and not _NATIONAL_IDENTIFIER.fullmatch(national):
            errors["national_identifier"] = [
                _("Enter the personal identification number using only letters and numbers")
            ]
        if data.get("seen_document") not in (True, "yes"):
            errors["seen_document"] = [
                _("Confirm you have seen the original document and it shows this person")
            ]
        if errors or expires is None:
            raise ValidationFailed(field_errors=errors)
        return DocumentEvidence(
            document_type=document_type,
            issuing_country=country,
            document_number=number,
            document_expires_on=expires,
            national_identifier=national,
        )


class DocumentCheckStandIn(VerificationMethod):
    """Development only: compare a typed passport-style document with its MRZ.

    This proves only that the MRZ is well formed and matches what was typed; anyone can
    make one up, so it is refused when ``settings.PRODUCTION`` is set.
    """

    key = "document_check_standin"
    label = _("Document check (development stand-in)")
    description = _(
        "For development and demonstrations only: type the details of a passport-style "
        "document and its machine-readable zone, and we check they agree."
    )
    evidence = (
        _("document type"),
        _("issuing country"),
        _("document expiry date"),
        _("a keyed hash of the document number"),
        _("national identifier (encrypted), from the personal number, if any"),
    )
    level = Level.HIGH
    allowed_in_production = False
    performed_by_staff = False
    national_identifier_field = "mrz_line_2"
    national_identifier_taken = _(
        "The personal number in the machine-readable zone already confirms someone else's identity"
    )

    def check(self, data: Mapping[str, Any]) -> DocumentEvidence:
        """Validate the typed fields and the MRZ, and that they agree; raise ValidationFailed."""
        errors: dict[str, list[Any]] = {}
        document_type, country, number, expires = _document_fields(
            data, errors, types=MRZ_DOCUMENT_CODES
        )
        if number and len(number) > MRZ_NUMBER_LENGTH and "document_number" not in errors:
            errors["document_number"] = [_("Enter a document number of 9 characters or fewer")]
        born = _date(data, "date_of_birth", errors, _("Enter your date of birth"))
        if born is not None and born >= timezone.localdate():
            errors["date_of_birth"] = [_("Your date of birth must be in the past")]
        try:
            zone = mrz_parse(_text(data, "mrz_line_1", 60), _text(data, "mrz_line_2", 60))
        except ValidationFailed as error:
            for name, messages in error.field_errors.items():
                errors.setdefault(name, []).extend(messages)
            raise ValidationFailed(field_errors=errors) from None
        if errors or expires is None or born is None:
            raise ValidationFailed(field_errors=errors)
        mismatches: list[Any] = []
        if zone.document_code != MRZ_DOCUMENT_CODES[document_type]:
            mismatches.append(_("The machine-readable zone is for a different type of document"))
        if zone.issuing_country != country:
            mismatches.append(
                _("The issuing country in the machine-readable zone is not the one you entered")
            )
        if zone.document_number.rstrip("<") != number:
            mismatches.append(
                _("The document number in the machine-readable zone is not the one you entered")
            )
        if zone.date_of_birth != _mrz_date(born):
            mismatches.append(
                _("The date of birth in the machine-readable zone is not the one you entered")
            )
        if zone.expiry != _mrz_date(expires):
            mismatches.append(
                _("The expiry date in the machine-readable zone is not the one you entered")
            )
        if mismatches:
            raise ValidationFailed(field_errors={"mrz_line_2": mismatches})
        return DocumentEvidence(
            document_type=document_type,
            issuing_country=country,
            document_number=number,
            document_expires_on=expires,
            national_identifier=zone.personal_number.rstrip("<"),
        )


verification_methods.register(CounterVerification.key)(CounterVerification())
verification_methods.register(DocumentCheckStandIn.key)(DocumentCheckStandIn())


def method_allowed(method: VerificationMethod) -> bool:
    """Return True when ``method`` may run here (stand-ins never in production)."""
    return method.allowed_in_production or not settings.PRODUCTION
