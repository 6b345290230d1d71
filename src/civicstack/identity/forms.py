"""Reading the identity pages' form fields: text inputs and GOV.UK day-month-year dates."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.http import QueryDict

MAX_FIELD_LENGTH = 200


@dataclass(frozen=True)
class FieldError:
    """An error message and the id of the input it is about (for the error summary)."""

    field: str
    message: str


def posted_values(post: QueryDict, names: Iterable[str], dates: Iterable[str]) -> dict[str, Any]:
    """Return the named text fields (trimmed, bounded) and dates as ISO text.

    A date comes from ``<name>-day``, ``<name>-month`` and ``<name>-year``; an impossible or
    partly filled one becomes the text "invalid", which the service reports as not a real
    date, and an empty one becomes "". Only the digits 0 to 9 count: ``str.isdigit`` also
    accepts "²" and other digits ``int`` refuses.
    """
    values: dict[str, Any] = {}
    for name in names:
        value = post.get(name, "")
        values[name] = value.strip()[:MAX_FIELD_LENGTH] if isinstance(value, str) else ""
    for name in dates:
        parts = [
            str(post.get(f"{name}-{part}", "")).strip()[:4] for part in ("day", "month", "year")
        ]
        values[f"{name}_day"], values[f"{name}_month"], values[f"{name}_year"] = parts
        if not any(parts):
            values[name] = ""
        elif all(part.isascii() and part.isdecimal() for part in parts) and len(parts[2]) == 4:
            values[name] = f"{int(parts[2]):04d}-{int(parts[1]):02d}-{int(parts[0]):02d}"
        else:
            values[name] = "invalid"
    return values


def error_list(
    field_errors: Mapping[str, Iterable[Any]], *, ids: Mapping[str, str]
) -> list[FieldError]:
    """Return the errors for the error summary, linked to the input each is about."""
    return [
        FieldError(field=ids.get(name, name), message=str(message))
        for name, messages in field_errors.items()
        for message in messages
    ]


def errors_by_field(field_errors: Mapping[str, Iterable[Any]]) -> dict[str, list[str]]:
    """Return the error messages as text, by field name, for the inputs."""
    return {name: [str(message) for message in messages] for name, messages in field_errors.items()}
