"""Helpers for the identity tests: passport-style MRZs and sessions at each level."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from django.test import Client

from civicstack.accounts.constants import AUTH_METHODS_KEY, AUTH_TIME_KEY, MFA_VERIFIED_KEY
from civicstack.identity.verification import mrz_check_digit

PASSWORD_ONLY = ["pwd"]
WITH_CODE = ["pwd", "otp", "mfa"]
WITH_PASSKEY = ["hwk", "user", "mfa"]


def client_with(user: Any, methods: list[str] | None = None, *, mfa: bool | None = None) -> Client:
    """Return a client signed in as ``user`` whose session records ``methods``."""
    client = Client()
    client.force_login(user)
    session = client.session
    if methods is not None:
        session[AUTH_METHODS_KEY] = methods
        session[AUTH_TIME_KEY] = int(time.time())
    if mfa if mfa is not None else (methods is not None and "mfa" in methods):
        session[MFA_VERIFIED_KEY] = True
    session.save()
    return client


def td3(
    *,
    code: str = "P",
    country: str = "UTO",
    number: str = "L898902C3",
    born: dt.date = dt.date(1974, 8, 12),
    expires: dt.date,
    personal: str = "ZE184226B",
) -> tuple[str, str]:
    """Return the two lines of a valid TD3 MRZ with these details."""
    surname = "ERIKSSON<<ANNA<MARIA"
    line_1 = f"{code}<{country:<<3}{surname}".ljust(44, "<")
    number_field = number.ljust(9, "<")
    born_field = f"{born:%y%m%d}"
    expiry_field = f"{expires:%y%m%d}"
    personal_field = personal.ljust(14, "<")
    personal_digit = mrz_check_digit(personal_field) if personal else "<"
    line_2 = (
        f"{number_field}{mrz_check_digit(number_field)}{country:<<3}"
        f"{born_field}{mrz_check_digit(born_field)}F"
        f"{expiry_field}{mrz_check_digit(expiry_field)}{personal_field}{personal_digit}"
    )
    composite = line_2[0:10] + line_2[13:20] + line_2[21:43]
    return line_1, line_2 + mrz_check_digit(composite)


def standin_form(*, expires: dt.date, **changes: str) -> dict[str, str]:
    """Return the document check page's POST data for a valid passport, with ``changes``."""
    line_1, line_2 = td3(expires=expires)
    data = {
        "document_type": "passport",
        "issuing_country": "UTO",
        "document_number": "L898902C3",
        "date_of_birth-day": "12",
        "date_of_birth-month": "8",
        "date_of_birth-year": "1974",
        "document_expires_on-day": str(expires.day),
        "document_expires_on-month": str(expires.month),
        "document_expires_on-year": str(expires.year),
        "mrz_line_1": line_1,
        "mrz_line_2": line_2,
    }
    data.update(changes)
    return data


def standin_data(*, expires: dt.date, **changes: Any) -> dict[str, Any]:
    """Return what the stand-in method's ``check`` takes, for a valid passport."""
    line_1, line_2 = td3(expires=expires)
    data: dict[str, Any] = {
        "document_type": "passport",
        "issuing_country": "UTO",
        "document_number": "L898902C3",
        "date_of_birth": "1974-08-12",
        "document_expires_on": expires.isoformat(),
        "mrz_line_1": line_1,
        "mrz_line_2": line_2,
    }
    data.update(changes)
    return data
