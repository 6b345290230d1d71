"""Checking and normalising email addresses and phone numbers, with Notify's messages."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

_email = EmailValidator()
_SEPARATORS = re.compile(r"[\s\-().]")


class RecipientError(ValueError):
    """The address or number cannot be sent to; the message says why."""


def email_normalise(value: object) -> str:
    """Return the address trimmed; raise RecipientError if it is not a valid email address."""
    if not isinstance(value, str):
        raise RecipientError("Not a valid email address")
    address = value.strip()
    if len(address) > 320:
        raise RecipientError("Not a valid email address")
    try:
        _email(address)
    except ValidationError:
        raise RecipientError("Not a valid email address") from None
    if address.rpartition("@")[2].startswith("["):
        # An address at an IP literal would have the mail server connect to that address.
        raise RecipientError("Not a valid email address")
    return address


def phone_normalise(value: object, *, international: bool = True) -> str:
    """Return the number in E.164 form (+447700900123); raise RecipientError if unusable.

    UK numbers must be mobiles (07...); numbers abroad need their + country code.
    """
    if not isinstance(value, str):
        raise RecipientError("Must not contain letters or symbols")
    number = _SEPARATORS.sub("", value.strip())
    plus = number.startswith("+")
    digits = number[1:] if plus else number
    if number.startswith("00"):
        plus, digits = True, number[2:]
    if not digits.isdigit():
        raise RecipientError("Must not contain letters or symbols")
    if digits.startswith("44") and (plus or len(digits) == 12):
        digits = "0" + digits[2:]
        plus = False
    if not plus:
        if not digits.startswith("0"):
            digits = "0" + digits
        if len(digits) < 11:
            raise RecipientError("Not enough digits")
        if len(digits) > 11:
            raise RecipientError("Too many digits")
        if not digits.startswith("07"):
            raise RecipientError("Not a UK mobile number")
        return "+44" + digits[1:]
    if not international:
        raise RecipientError("Cannot send to international mobile numbers")
    if len(digits) < 8:
        raise RecipientError("Not enough digits")
    if len(digits) > 15:
        raise RecipientError("Too many digits")
    return "+" + digits
