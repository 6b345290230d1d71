"""Question types: reading form input, checking stored values, showing answers.

Each type (text, date, address, ...) is a :class:`QuestionKind` registered in
``question_types`` under its type name. A kind

- names its HTML inputs (``field_names``): ``q`` for simple types, ``q-day``/``q-month``/
  ``q-year`` for dates, ``q-line1`` ... ``q-postcode`` for addresses;
- ``parse``-s submitted form data into a typed value, with GOV.UK-style errors linked to the
  input that needs fixing and the raw input to show again;
- ``check``-s an already typed JSON value (from the API, or at submission) and never raises,
  whatever the value; ``clean`` does the same and also returns the normalised value;
- ``display``-s a value for check your answers, and gives the ``initial`` inputs for it.

Stored values are plain JSON: strings (email lowercased, phone in E.164 "+447700900123",
National Insurance number "AB123456C", national identifier "1234567897", yes/no "yes"/"no"),
integers (number; money in pence), "YYYY-MM-DD" dates, lists of option values, address
mappings, and lists of document ids for files.

Messages are translated for the ``language`` asked for. Where a default message names the
question it uses the label when the label is a name ("Full name" gives "Enter full name");
when the label is a question ("What is your full name?") it uses a general wording instead, so
a form should give ``messages`` for the best wording.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
import unicodedata
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from civicstack.core.registry import Registry
from civicstack.forms.addresses import postcode_normalise
from civicstack.forms.definition import DEFAULT_MAX_LENGTH, Question

#: Raw input or stored text longer than this is refused before any other work.
_MAX_INPUT: Final = 100_000
#: Default bounds for numbers and money (pence) so absurd values never reach storage.
_NUMBER_LIMIT: Final = 10**15
_MONEY_LIMIT: Final = 10**13
_ADDRESS_LINE_MAX: Final = 100

MONTHS_EN: Final = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
MONTHS_CY: Final = (
    "Ionawr",
    "Chwefror",
    "Mawrth",
    "Ebrill",
    "Mai",
    "Mehefin",
    "Gorffennaf",
    "Awst",
    "Medi",
    "Hydref",
    "Tachwedd",
    "Rhagfyr",
)


def _month_names() -> dict[str, int]:
    names: dict[str, int] = {}
    for number, (english, welsh) in enumerate(zip(MONTHS_EN, MONTHS_CY, strict=True), start=1):
        names[english.lower()] = number
        names[english[:3].lower()] = number
        names[welsh.lower()] = number
    names["sept"] = 9
    # Common soft mutations of Welsh month names ("o Fawrth", "ym Mehefin").
    names.update({"fawrth": 3, "fai": 5, "orffennaf": 7, "fedi": 9, "dachwedd": 11})
    return names


_MONTH_NUMBERS: Final = _month_names()


# --- Results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldError:
    """An error for one input: ``field`` is the HTML id the error summary links to.

    ``whole`` marks an error about the answer as a whole rather than the linked input alone
    (a date that is not real, or out of range): the widget highlights all of its inputs.
    """

    field: str
    message: str
    whole: bool = False


@dataclass
class ParseResult:
    """What parsing form input gave: the typed value, errors, and the raw input to show again."""

    value: Any
    errors: list[FieldError] = field(default_factory=list)
    raw: dict[str, str | list[str]] = field(default_factory=dict)


Raw = dict[str, str | list[str]]


# --- Helpers ---------------------------------------------------------------------------------


def _today() -> dt.date:
    """Return today's date in the service's time zone (tests replace this)."""
    return timezone.localdate()


def _values(data: Any, name: str) -> list[str]:
    """Return the submitted strings for ``name`` from a mapping of lists or a QueryDict."""
    try:
        if hasattr(data, "getlist"):
            values = data.getlist(name)
        elif isinstance(data, Mapping):
            values = data.get(name)
        else:
            return []
    except Exception:
        return []
    if isinstance(values, str):
        return [values]
    if isinstance(values, list | tuple):
        return [value for value in values if isinstance(value, str)]
    return []


def _first(data: Any, name: str) -> str:
    values = _values(data, name)
    return values[0] if values else ""


def _label_phrase(question: Question, language: str) -> tuple[str, str] | None:
    """Return the label as (lowercase phrase, capitalised phrase), or None for a question label.

    "Date of birth" gives ("date of birth", "Date of birth"); "What is your name?" gives None,
    because messages built from a question read badly.
    """
    text = " ".join(question.label.get(language).split())
    if not text or text.endswith("?"):
        return None
    phrase = text.rstrip(":.")
    first_word = phrase.split(" ", 1)[0]
    # Keep acronyms and names as written ("NHS number", "UK address").
    if len(first_word) > 1 and first_word[1:2].isupper():
        lower = phrase
    else:
        lower = phrase[:1].lower() + phrase[1:]
    return lower, phrase[:1].upper() + phrase[1:]


def _message(question: Question, key: str, language: str, default: str) -> str:
    override = question.messages.get(key)
    if override is not None:
        return override.get(language)
    return default


def _control_characters(text: str, *, multiline: bool) -> bool:
    allowed = "\n\t" if multiline else ""
    return any(
        (unicodedata.category(char) in ("Cc", "Cs") and char not in allowed) for char in text
    )


def _clean_text(value: str) -> str:
    text = unicodedata.normalize("NFC", value.replace("\r\n", "\n").replace("\r", "\n"))
    return text.strip()


def format_money(pence: int) -> str:
    """Return pence as pounds: 1250 → "£12.50", 7500 → "£75", 123450 → "£1,234.50"."""
    sign = "-" if pence < 0 else ""
    pounds, rest = divmod(abs(pence), 100)
    if rest == 0:
        return f"{sign}£{pounds:,}"
    return f"{sign}£{pounds:,}.{rest:02d}"


def format_date(value: dt.date, language: str) -> str:
    """Return a date as "3 March 2026" (English) or "3 Mawrth 2026" (Welsh)."""
    months = MONTHS_CY if language.lower().startswith("cy") else MONTHS_EN
    return f"{value.day} {months[value.month - 1]} {value.year}"


_RELATIVE = re.compile(
    r"^today(?:(?P<sign>[+-])P(?:(?P<y>\d+)Y)?(?:(?P<m>\d+)M)?(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?)?$"
)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def date_bound(spec: object, today: dt.date | None = None) -> dt.date | None:
    """Resolve a min_date/max_date rule ("today", "today-P18Y", "2026-03-01") to a date.

    Months and years move the calendar date (29 February becomes 28 February in a common
    year); weeks and days are added after. Returns None for an unreadable rule.
    """
    if not isinstance(spec, str):
        return None
    if _ISO_DATE.match(spec):
        try:
            return dt.date.fromisoformat(spec)
        except ValueError:
            return None
    match = _RELATIVE.match(spec)
    if match is None:
        return None
    base = today if today is not None else _today()
    if match.group("sign") is None:
        return base
    sign = -1 if match.group("sign") == "-" else 1
    years = int(match.group("y") or 0)
    months = int(match.group("m") or 0)
    days = int(match.group("w") or 0) * 7 + int(match.group("d") or 0)
    try:
        total = base.year * 12 + (base.month - 1) + sign * (years * 12 + months)
        year, month0 = divmod(total, 12)
        month = month0 + 1
        day = min(base.day, calendar.monthrange(year, month)[1])
        return dt.date(year, month, day) + dt.timedelta(days=sign * days)
    except (ValueError, OverflowError):
        return None


# --- The plugin base -------------------------------------------------------------------------


class QuestionKind:
    """A question type. Subclasses implement ``clean`` and, for multi-input types, ``parse``."""

    type_id: str = ""

    def field_names(self, question: Question) -> list[str]:
        """Return the names of the HTML inputs of ``question``."""
        return [question.id]

    def parse(self, question: Question, data: Mapping[str, Any], language: str) -> ParseResult:
        """Read submitted form ``data`` (lists of strings by input name) into a typed value."""
        with translation.override(language):
            return self._parse(question, data, language)

    def check(self, question: Question, value: object, language: str) -> list[FieldError]:
        """Return the errors of a typed JSON ``value`` (None: not answered); never raises."""
        return self.clean(question, value, language)[1]

    def clean(
        self, question: Question, value: object, language: str
    ) -> tuple[Any, list[FieldError]]:
        """Return (normalised value, errors) for a typed JSON ``value``; never raises."""
        with translation.override(language):
            if value is None:
                return None, self._required_errors(question, language)
            return self._clean(question, value, language)

    def display(self, question: Question, value: object, language: str) -> str | list[str]:
        """Return ``value`` as a person reads it on check your answers ("" for no answer)."""
        if value is None:
            return ""
        with translation.override(language):
            try:
                return self._display(question, value, language)
            except (TypeError, ValueError, KeyError, AttributeError, OverflowError):
                return ""

    def initial(self, question: Question, value: object) -> Raw:
        """Return the input values that show a stored ``value`` in the form."""
        if value is None:
            return {}
        try:
            return self._initial(question, value)
        except (TypeError, ValueError, KeyError, AttributeError, OverflowError):
            return {}

    # hooks ------------------------------------------------------------------------------

    def _parse(self, question: Question, data: Mapping[str, Any], language: str) -> ParseResult:
        text = _first(data, question.id)
        raw: Raw = {question.id: text}
        if text.strip() == "":
            if question.required:
                return ParseResult(None, self._required_errors(question, language), raw)
            return ParseResult(None, [], raw)
        value, errors = self._clean(question, text, language)
        return ParseResult(None if errors else value, errors, raw)

    def _clean(
        self, question: Question, value: object, language: str
    ) -> tuple[Any, list[FieldError]]:
        raise NotImplementedError

    def _required_errors(self, question: Question, language: str) -> list[FieldError]:
        if not question.required:
            return []
        return [FieldError(self._error_field(question), self._required_message(question, language))]

    def _required_message(self, question: Question, language: str) -> str:
        label = _label_phrase(question, language)
        default = _("Enter %(label)s") % {"label": label[0]} if label else self._missing_message()
        return _message(question, "required", language, default)

    def _missing_message(self) -> str:
        """Return what to ask for when the label cannot be used in "Enter ..."."""
        return _("Enter an answer")

    def _error_field(self, question: Question) -> str:
        return self.field_names(question)[0] if self.field_names(question) else question.id

    def _error(self, question: Question, key: str, language: str, default: str) -> list[FieldError]:
        return [FieldError(self._error_field(question), _message(question, key, language, default))]

    def _display(self, question: Question, value: Any, language: str) -> str | list[str]:
        return str(value)

    def _initial(self, question: Question, value: Any) -> Raw:
        return {question.id: value if isinstance(value, str) else ""}


question_types: Registry[QuestionKind] = Registry("question types")


def _register(kind: QuestionKind) -> QuestionKind:
    return question_types.register(kind.type_id)(kind)


# --- Text ------------------------------------------------------------------------------------


class TextKind(QuestionKind):
    """One line of text."""

    type_id = "text"
    multiline = False

    def _clean(
        self, question: Question, value: object, language: str
    ) -> tuple[Any, list[FieldError]]:
        label = _label_phrase(question, language)
        invalid = (
            _("Enter %(label)s in the correct format") % {"label": label[0]}
            if label
            else _("Enter your answer in the correct format")
        )
        if not isinstance(value, str) or len(value) > _MAX_INPUT * 10:
            return None, self._error(question, "invalid", language, invalid)
        text = _clean_text(value)
        if text == "":
            return None, self._required_errors(question, language)
        rules = question.rules
        maximum = _int_rule(rules, "max_length", DEFAULT_MAX_LENGTH[self.type_id])
        minimum = _int_rule(rules, "min_length", 0)
        if len(text) > maximum:
            default = (
                _("%(label)s must be %(max)s characters or less")
                % {"label": label[1], "max": maximum}
                if label
                else _("Your answer must be %(max)s characters or less") % {"max": maximum}
            )
            return None, self._error(question, "too_long", language, default)
        if len(text) < minimum:
            default = (
                _("%(label)s must be %(min)s characters or more")
                % {"label": label[1], "min": minimum}
                if label
                else _("Your answer must be %(min)s characters or more") % {"min": minimum}
            )
            return None, self._error(question, "too_short", language, default)
        if _control_characters(text, multiline=self.multiline):
            return None, self._error(question, "invalid", language, invalid)
        pattern = rules.get("pattern")
        if isinstance(pattern, str) and not self._matches(pattern, text):
            pattern_message = rules.get("pattern_message")
            if pattern_message is not None and hasattr(pattern_message, "get"):
                invalid = pattern_message.get(language)
            return None, self._error(question, "invalid", language, invalid)
        return text, []

    @staticmethod
    def _matches(pattern: str, text: str) -> bool:
        try:
            return re.fullmatch(pattern, text) is not None
        except (re.error, RecursionError):
            return False


class TextareaKind(TextKind):
    """Several lines of text."""

    type_id = "textarea"
    multiline = True


def _int_rule(rules: Mapping[str, Any], name: str, default: int) -> int:
    value = rules.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        return default
    return value


# --- Numbers and money -----------------------------------------------------------------------


class NumberKind(QuestionKind):
    """A whole number."""

    type_id = "number"
    limit = _NUMBER_LIMIT

    def _parse(self, question: Question, data: Mapping[str, Any], language: str) -> ParseResult:
        text = _first(data, question.id)
        raw: Raw = {question.id: text}
        if text.strip() == "":
            return ParseResult(None, self._required_errors(question, language), raw)
        number = self._read(text)
        if number is None:
            return ParseResult(None, self._invalid(question, language), raw)
        value, errors = self._clean(question, number, language)
        return ParseResult(None if errors else value, errors, raw)

    def _read(self, text: str) -> int | None:
        compact = re.sub(r"[\s,]", "", text)
        if len(compact) > 20 or not re.fullmatch(r"[-+]?\d+", compact):
            return None
        return int(compact)

    def _invalid(self, question: Question, language: str) -> list[FieldError]:
        label = _label_phrase(question, language)
        default = (
            _("%(label)s must be a whole number") % {"label": label[1]}
            if label
            else _("Enter a whole number")
        )
        return self._error(question, "invalid", language, default)

    def _missing_message(self) -> str:
        return _("Enter a number")

    def _format(self, value: int) -> str:
        return f"{value:,}"

    def _default_min(self) -> int:
        return -self.limit

    def _clean(
        self, question: Question, value: object, language: str
    ) -> tuple[Any, list[FieldError]]:
        if isinstance(value, bool) or not isinstance(value, int):
            return None, self._invalid(question, language)
        label = _label_phrase(question, language)
        minimum = max(_int_rule(question.rules, "min", self._default_min()), -self.limit)
        maximum = min(_int_rule(question.rules, "max", self.limit), self.limit)
        if value < minimum:
            default = (
                _("%(label)s must be %(min)s or more")
                % {"label": label[1], "min": self._format(minimum)}
                if label
                else self._generic_too_small() % {"min": self._format(minimum)}
            )
            return None, self._error(question, "too_small", language, default)
        if value > maximum:
            default = (
                _("%(label)s must be %(max)s or less")
                % {"label": label[1], "max": self._format(maximum)}
                if label
                else self._generic_too_large() % {"max": self._format(maximum)}
            )
            return None, self._error(question, "too_large", language, default)
        return value, []

    def _generic_too_small(self) -> str:
        return _("The number must be %(min)s or more")

    def _generic_too_large(self) -> str:
        return _("The number must be %(max)s or less")

    def _display(self, question: Question, value: Any, language: str) -> str | list[str]:
        if isinstance(value, bool) or not isinstance(value, int):
            return ""
        return self._format(value)

    def _initial(self, question: Question, value: Any) -> Raw:
        if isinstance(value, bool) or not isinstance(value, int):
            return {}
        return {question.id: str(value)}


_MONEY_INPUT = re.compile(
    r"^(?P<sign>-)?£?(?P<sign2>-)?(?P<pounds>\d{1,3}(?:,\d{3})+|\d+)?(?:\.(?P<pence>\d*))?$"
)


def money_parse(text: str) -> int | None:
    """Return pence for an amount typed in pounds ("£1,234.50", "12", "12.5", ".50").

    Returns None when the text is not an amount or has more than 2 decimal places.
    """
    compact = re.sub(r"\s", "", text).replace("GBP", "").replace("gbp", "")
    if len(compact) > 24:
        return None
    match = _MONEY_INPUT.match(compact)
    if match is None or (match.group("sign") and match.group("sign2")):
        return None
    pounds_text = (match.group("pounds") or "").replace(",", "")
    pence_text = match.group("pence")
    if not pounds_text and not pence_text:
        return None
    if pence_text is not None and len(pence_text) > 2:
        return None
    pence = int(pounds_text or "0") * 100 + int((pence_text or "").ljust(2, "0") or "0")
    return -pence if (match.group("sign") or match.group("sign2")) else pence


class MoneyKind(NumberKind):
    """An amount of money, typed in pounds and stored in pence."""

    type_id = "money"
    limit = _MONEY_LIMIT

    def _read(self, text: str) -> int | None:
        return money_parse(text)

    def _invalid(self, question: Question, language: str) -> list[FieldError]:
        label = _label_phrase(question, language)
        default = (
            _("%(label)s must be an amount of money, like £600 or £193.54") % {"label": label[1]}
            if label
            else _("Enter an amount of money, like £600 or £193.54")
        )
        return self._error(question, "invalid", language, default)

    def _missing_message(self) -> str:
        return _("Enter an amount")

    def _format(self, value: int) -> str:
        return format_money(value)

    def _default_min(self) -> int:
        # Amounts are not negative unless the form says so with a negative min.
        return 0

    def _generic_too_small(self) -> str:
        return _("The amount must be %(min)s or more")

    def _generic_too_large(self) -> str:
        return _("The amount must be %(max)s or less")

    def _initial(self, question: Question, value: Any) -> Raw:
        if isinstance(value, bool) or not isinstance(value, int):
            return {}
        sign = "-" if value < 0 else ""
        pounds, pence = divmod(abs(value), 100)
        return {question.id: f"{sign}{pounds}.{pence:02d}" if pence else f"{sign}{pounds}"}


# --- Dates -----------------------------------------------------------------------------------


class DateKind(QuestionKind):
    """A date typed as day, month and year."""

    type_id = "date"
    parts = ("day", "month", "year")

    def field_names(self, question: Question) -> list[str]:
        return [f"{question.id}-{part}" for part in self.parts]

    def _missing_message(self) -> str:
        return _("Enter a date")

    def _real_date_message(self, question: Question, language: str) -> str:
        label = _label_phrase(question, language)
        default = (
            _("%(label)s must be a real date") % {"label": label[1]}
            if label
            else _("Enter a real date")
        )
        return _message(question, "invalid", language, default)

    def _parse(self, question: Question, data: Mapping[str, Any], language: str) -> ParseResult:
        texts = {part: _first(data, f"{question.id}-{part}").strip() for part in self.parts}
        raw: Raw = {f"{question.id}-{part}": texts[part] for part in self.parts}
        missing = [part for part in self.parts if texts[part] == ""]
        if len(missing) == 3:
            return ParseResult(None, self._required_errors(question, language), raw)
        if missing:
            names = {"day": _("day"), "month": _("month"), "year": _("year")}
            parts = (
                names[missing[0]]
                if len(missing) == 1
                else _("%(first)s and %(second)s")
                % {"first": names[missing[0]], "second": names[missing[1]]}
            )
            label = _label_phrase(question, language)
            default = (
                _("%(label)s must include a %(parts)s") % {"label": label[1], "parts": parts}
                if label
                else _("The date must include a %(parts)s") % {"parts": parts}
            )
            message = _message(question, "invalid", language, default)
            return ParseResult(None, [FieldError(f"{question.id}-{missing[0]}", message)], raw)
        day = texts["day"] if re.fullmatch(r"\d{1,2}", texts["day"]) else None
        month_text = texts["month"].lower().rstrip(".")
        month: int | None = None
        if re.fullmatch(r"\d{1,2}", month_text):
            month = int(month_text)
        elif len(month_text) <= 12:
            month = _MONTH_NUMBERS.get(month_text)
        year = texts["year"] if re.fullmatch(r"\d{4}", texts["year"]) else None
        bad = next(
            (part for part, ok in (("day", day), ("month", month), ("year", year)) if not ok),
            None,
        )
        whole = False
        if bad is None and day is not None and month is not None and year is not None:
            try:
                value = dt.date(int(year), month, int(day))
            except ValueError:
                bad = "day"
                # 31 February: each part looks fine; the date as a whole is not real.
                whole = 1 <= month <= 12 and 1 <= int(day) <= 31
                if not 1 <= month <= 12:
                    bad = "month"
            else:
                if value.year < 1000:
                    bad = "year"
                else:
                    errors = self._rule_errors(question, value, language)
                    return ParseResult(None if errors else value.isoformat(), errors, raw)
        message = self._real_date_message(question, language)
        return ParseResult(None, [FieldError(f"{question.id}-{bad}", message, whole=whole)], raw)

    def _clean(
        self, question: Question, value: object, language: str
    ) -> tuple[Any, list[FieldError]]:
        if not isinstance(value, str) or not _ISO_DATE.match(value):
            return None, [
                FieldError(self._error_field(question), self._real_date_message(question, language))
            ]
        try:
            date = dt.date.fromisoformat(value)
        except ValueError:
            return None, [
                FieldError(self._error_field(question), self._real_date_message(question, language))
            ]
        errors = self._rule_errors(question, date, language)
        return (None, errors) if errors else (date.isoformat(), [])

    def _rule_errors(self, question: Question, value: dt.date, language: str) -> list[FieldError]:
        label = _label_phrase(question, language)
        rules = question.rules
        earliest = date_bound(rules.get("min_date")) if "min_date" in rules else None
        latest = date_bound(rules.get("max_date")) if "max_date" in rules else None
        if earliest is not None and value < earliest:
            if rules.get("min_date") == "today":
                default = (
                    _("%(label)s must be today or in the future") % {"label": label[1]}
                    if label
                    else _("The date must be today or in the future")
                )
            else:
                params = {"date": format_date(earliest, language)}
                default = (
                    _("%(label)s must be the same as or after %(date)s")
                    % {"label": label[1], **params}
                    if label
                    else _("The date must be the same as or after %(date)s") % params
                )
            return self._whole_error(question, "before_min", language, default)
        if latest is not None and value > latest:
            if rules.get("max_date") == "today":
                default = (
                    _("%(label)s must be today or in the past") % {"label": label[1]}
                    if label
                    else _("The date must be today or in the past")
                )
            else:
                params = {"date": format_date(latest, language)}
                default = (
                    _("%(label)s must be the same as or before %(date)s")
                    % {"label": label[1], **params}
                    if label
                    else _("The date must be the same as or before %(date)s") % params
                )
            return self._whole_error(question, "after_max", language, default)
        return []

    def _required_errors(self, question: Question, language: str) -> list[FieldError]:
        # Nothing entered: every part of the date is highlighted.
        return [
            FieldError(error.field, error.message, whole=True)
            for error in super()._required_errors(question, language)
        ]

    def _whole_error(
        self, question: Question, key: str, language: str, default: str
    ) -> list[FieldError]:
        message = _message(question, key, language, default)
        return [FieldError(f"{question.id}-day", message, whole=True)]

    def _display(self, question: Question, value: Any, language: str) -> str | list[str]:
        return format_date(dt.date.fromisoformat(value), language)

    def _initial(self, question: Question, value: Any) -> Raw:
        date = dt.date.fromisoformat(value)
        return {
            f"{question.id}-day": str(date.day),
            f"{question.id}-month": str(date.month),
            f"{question.id}-year": str(date.year),
        }


# --- Email and phone -------------------------------------------------------------------------

_email_validator = EmailValidator()


class EmailKind(QuestionKind):
    """An email address, stored trimmed and lowercased."""

    type_id = "email"

    def _missing_message(self) -> str:
        return _("Enter an email address")

    def _clean(
        self, question: Question, value: object, language: str
    ) -> tuple[Any, list[FieldError]]:
        invalid = _("Enter an email address in the correct format, like name@example.com")
        if not isinstance(value, str):
            return None, self._error(question, "invalid", language, invalid)
        email = value.strip().lower()
        if email == "":
            return None, self._required_errors(question, language)
        if len(email) > 254 or _control_characters(email, multiline=False):
            return None, self._error(question, "invalid", language, invalid)
        try:
            _email_validator(email)
        except ValidationError:
            return None, self._error(question, "invalid", language, invalid)
        return email, []


_PHONE_CHARACTERS = re.compile(r"^\+?[\d\s().\-]+$")


def phone_normalise(text: object) -> str | None:
    """Return a telephone number in E.164 ("+447700900123"), or None when it is not one.

    Accepts UK numbers written with spaces, brackets, dots or hyphens, starting 0, +44, 0044
    or "+44 (0)", and international numbers starting + or 00.
    """
    if not isinstance(text, str) or len(text) > 40:
        return None
    number = text.strip().replace("(0)", "")
    if not _PHONE_CHARACTERS.match(number):
        return None
    digits = re.sub(r"[\s().\-]", "", number)
    if digits.startswith("+"):
        international = digits[1:]
    elif digits.startswith("00"):
        international = digits[2:]
    elif digits.startswith("0"):
        international = "44" + digits[1:]
    else:
        return None
    if not international.isdigit():
        return None
    if international.startswith("44"):
        national = international[2:]
        if national.startswith("0"):
            national = national[1:]
        # UK national significant numbers are 10 digits; a few geographic (01...) and
        # freephone numbers have 9. None starts 0, 4 or 6.
        short_allowed = national.startswith(("1", "800"))
        if national[:1] in ("", "0", "4", "6"):
            return None
        if len(national) != 10 and not (len(national) == 9 and short_allowed):
            return None
        return "+44" + national
    if not 8 <= len(international) <= 15 or international[0] == "0":
        return None
    return "+" + international


def phone_display(number: str) -> str:
    """Return an E.164 number the way people write it: UK numbers in national format."""
    if not number.startswith("+44"):
        return number
    national = "0" + number[3:]
    if national.startswith("02") and len(national) == 11:
        return f"{national[:3]} {national[3:7]} {national[7:]}"
    if len(national) == 11:
        return f"{national[:5]} {national[5:]}"
    return national


class PhoneKind(QuestionKind):
    """A telephone number, stored in E.164."""

    type_id = "phone"

    def _missing_message(self) -> str:
        return _("Enter a telephone number")

    def _clean(
        self, question: Question, value: object, language: str
    ) -> tuple[Any, list[FieldError]]:
        if isinstance(value, str) and value.strip() == "":
            return None, self._required_errors(question, language)
        number = phone_normalise(value)
        if number is None:
            invalid = _(
                "Enter a telephone number, like 01632 960 001, 07700 900 982 or +44 808 157 0192"
            )
            return None, self._error(question, "invalid", language, invalid)
        return number, []

    def _display(self, question: Question, value: Any, language: str) -> str | list[str]:
        return phone_display(str(value))

    def _initial(self, question: Question, value: Any) -> Raw:
        return {question.id: phone_display(value) if isinstance(value, str) else ""}


# --- Identifiers -----------------------------------------------------------------------------

_NINO = re.compile(r"^[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]\d{6}[A-D]$")
_NINO_BAD_PREFIXES: Final = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})


def nino_normalise(text: object) -> str | None:
    """Return a National Insurance number as "AB123456C", or None when it is not one.

    HMRC's format: two prefix letters (the first not D, F, I, Q, U or V; the second not D, F,
    I, O, Q, U or V; never BG, GB, KN, NK, NT, TN or ZZ), six digits, and a suffix A to D.
    """
    if not isinstance(text, str) or len(text) > 30:
        return None
    compact = re.sub(r"[\s\-]", "", text).upper()
    if not _NINO.match(compact) or compact[:2] in _NINO_BAD_PREFIXES:
        return None
    return compact


class _IdentifierKind(QuestionKind):
    """An identifier typed by hand: normalised, checked, and refused with a clear message."""

    def _normalise(self, value: object) -> str | None:
        raise NotImplementedError

    def _invalid_message(self, value: object) -> str:
        raise NotImplementedError

    def _clean(
        self, question: Question, value: object, language: str
    ) -> tuple[Any, list[FieldError]]:
        if isinstance(value, str) and value.strip() == "":
            return None, self._required_errors(question, language)
        normalised = self._normalise(value)
        if normalised is None:
            return None, self._error(question, "invalid", language, self._invalid_message(value))
        return normalised, []


class NinoKind(_IdentifierKind):
    """A National Insurance number."""

    type_id = "nino"

    def _missing_message(self) -> str:
        return _("Enter a National Insurance number")

    def _normalise(self, value: object) -> str | None:
        return nino_normalise(value)

    def _invalid_message(self, value: object) -> str:
        return _("Enter a National Insurance number in the correct format")

    def _display(self, question: Question, value: Any, language: str) -> str | list[str]:
        text = str(value)
        return f"{text[:2]} {text[2:4]} {text[4:6]} {text[6:8]} {text[8:]}"


def national_id_check_digit(digits: str) -> int:
    """Return the ISO 7064 MOD 11-10 check digit of a string of digits.

    The Civicstack national identifier is fictional: 9 digits followed by this check digit
    (10 in all). The check catches every single wrong digit and most swapped neighbours.
    Raises ValueError when ``digits`` is not made of 0-9 only.
    """
    if not digits or not digits.isascii() or not digits.isdigit():
        raise ValueError("digits must be a non-empty string of 0-9")
    product = 10
    for char in digits:
        total = (product + int(char)) % 10
        if total == 0:
            total = 10
        product = (total * 2) % 11
    return (11 - product) % 10


def national_id_normalise(text: object) -> str | None:
    """Return a national identifier as 10 digits, or None when the format or check digit fail."""
    if not isinstance(text, str) or len(text) > 30:
        return None
    compact = re.sub(r"[\s\-]", "", text)
    if len(compact) != 10 or not compact.isascii() or not compact.isdigit():
        return None
    if national_id_check_digit(compact[:9]) != int(compact[9]):
        return None
    return compact


class NationalIdKind(_IdentifierKind):
    """The fictional 10-digit Civicstack national identifier, with its check digit."""

    type_id = "national_id"

    def _missing_message(self) -> str:
        return _("Enter a national identifier")

    def _normalise(self, value: object) -> str | None:
        return national_id_normalise(value)

    def _invalid_message(self, value: object) -> str:
        compact = re.sub(r"[\s\-]", "", value) if isinstance(value, str) else ""
        if len(compact) == 10 and compact.isascii() and compact.isdigit():
            return _("Check your national identifier: one of the numbers is wrong")
        return _("Enter a national identifier in the correct format, like 123 456 7890")

    def _display(self, question: Question, value: Any, language: str) -> str | list[str]:
        text = str(value)
        return f"{text[:3]} {text[3:6]} {text[6:]}"


# --- Choices ---------------------------------------------------------------------------------


class ChoiceKind(QuestionKind):
    """One option out of several (radios)."""

    type_id = "choice"

    def options(self, question: Question, language: str) -> list[tuple[str, str, str]]:
        """Return (value, label, hint) for each option, in ``language``."""
        return [
            (
                option.value,
                option.label.get(language),
                option.hint.get(language) if option.hint else "",
            )
            for option in question.options
        ]

    def _option_values(self, question: Question) -> list[str]:
        return [option.value for option in question.options]

    def _required_message(self, question: Question, language: str) -> str:
        label = _label_phrase(question, language)
        default = _("Select %(label)s") % {"label": label[0]} if label else _("Select an option")
        return _message(question, "required", language, default)

    def _clean(
        self, question: Question, value: object, language: str
    ) -> tuple[Any, list[FieldError]]:
        if not isinstance(value, str) or value not in self._option_values(question):
            return None, self._error(question, "invalid", language, _("Select one of the options"))
        return value, []

    def _display(self, question: Question, value: Any, language: str) -> str | list[str]:
        for option_value, label, _hint in self.options(question, language):
            if option_value == value:
                return label
        return ""


class YesNoKind(ChoiceKind):
    """Yes or no."""

    type_id = "yesno"

    def options(self, question: Question, language: str) -> list[tuple[str, str, str]]:
        with translation.override(language):
            return [("yes", _("Yes"), ""), ("no", _("No"), "")]

    def _option_values(self, question: Question) -> list[str]:
        return ["yes", "no"]

    def _required_message(self, question: Question, language: str) -> str:
        return _message(question, "required", language, _("Select yes or no"))


class CheckboxesKind(ChoiceKind):
    """Any of several options; stored as the list of values selected, in option order."""

    type_id = "checkboxes"

    def _parse(self, question: Question, data: Mapping[str, Any], language: str) -> ParseResult:
        selected = _values(data, question.id)
        raw: Raw = {question.id: selected}
        value, errors = self._clean(question, selected, language)
        return ParseResult(None if errors else value, errors, raw)

    def _required_message(self, question: Question, language: str) -> str:
        label = _label_phrase(question, language)
        default = (
            _("Select %(label)s") % {"label": label[0]}
            if label
            else _("Select at least one option")
        )
        return _message(question, "required", language, default)

    def _clean(
        self, question: Question, value: object, language: str
    ) -> tuple[Any, list[FieldError]]:
        if not isinstance(value, list) or len(value) > 100:
            return None, self._error(question, "invalid", language, _("Select from the options"))
        known = self._option_values(question)
        if any(not isinstance(item, str) or item not in known for item in value):
            return None, self._error(question, "invalid", language, _("Select from the options"))
        chosen = [option for option in known if option in value]
        if not chosen:
            return (
                ([], [])
                if not question.required
                else (None, self._required_errors(question, language))
            )
        minimum = _int_rule(question.rules, "min_selected", 0)
        maximum = _int_rule(question.rules, "max_selected", len(known))
        if len(chosen) < minimum:
            default = ngettext(
                "Select at least %(count)s option", "Select at least %(count)s options", minimum
            ) % {"count": minimum}
            return None, self._error(question, "too_short", language, default)
        if len(chosen) > maximum:
            default = ngettext(
                "Select no more than %(count)s option",
                "Select no more than %(count)s options",
                maximum,
            ) % {"count": maximum}
            return None, self._error(question, "too_long", language, default)
        return chosen, []

    def _display(self, question: Question, value: Any, language: str) -> str | list[str]:
        labels = {
            option_value: label for option_value, label, _hint in self.options(question, language)
        }
        return [labels[item] for item in value if isinstance(item, str) and item in labels]

    def _initial(self, question: Question, value: Any) -> Raw:
        return {question.id: [item for item in value if isinstance(item, str)]}


# --- Address ---------------------------------------------------------------------------------

ADDRESS_PARTS: Final = ("line1", "line2", "town", "county", "postcode")


class AddressKind(QuestionKind):
    """A postal address: two lines, town, county and postcode.

    The widget also has a postcode lookup (a "Find address" button and, once addresses are
    found, a ``<id>-choice`` list); the runner turns a chosen address into the five inputs
    before parsing, so ``parse`` only reads those.
    """

    type_id = "address"

    def field_names(self, question: Question) -> list[str]:
        return [f"{question.id}-{part}" for part in ADDRESS_PARTS]

    def _required_message(self, question: Question, language: str) -> str:
        return _message(
            question,
            "required",
            language,
            _("Enter address line 1, typically the building and street"),
        )

    def _parse(self, question: Question, data: Mapping[str, Any], language: str) -> ParseResult:
        texts = {part: _first(data, f"{question.id}-{part}") for part in ADDRESS_PARTS}
        raw: Raw = {f"{question.id}-{part}": texts[part] for part in ADDRESS_PARTS}
        if all(text.strip() == "" for text in texts.values()):
            return ParseResult(None, self._required_errors(question, language), raw)
        value, errors = self._clean(question, texts, language)
        return ParseResult(None if errors else value, errors, raw)

    def _clean(
        self, question: Question, value: object, language: str
    ) -> tuple[Any, list[FieldError]]:
        invalid = _("Enter a real address")
        if not isinstance(value, Mapping) or any(key not in ADDRESS_PARTS for key in value):
            return None, [
                FieldError(f"{question.id}-line1", _message(question, "invalid", language, invalid))
            ]
        parts: dict[str, str] = {}
        for part in ADDRESS_PARTS:
            text = value.get(part, "")
            if text is None:
                text = ""
            if not isinstance(text, str):
                return None, [FieldError(f"{question.id}-{part}", invalid)]
            parts[part] = " ".join(text.split())
        if all(text == "" for text in parts.values()):
            return None, self._required_errors(question, language)
        errors: list[FieldError] = []
        if not parts["line1"]:
            errors.append(
                FieldError(
                    f"{question.id}-line1",
                    _("Enter address line 1, typically the building and street"),
                )
            )
        if not parts["town"]:
            errors.append(FieldError(f"{question.id}-town", _("Enter town or city")))
        names = {
            "line1": _("Address line 1"),
            "line2": _("Address line 2"),
            "town": _("Town or city"),
            "county": _("County"),
        }
        for part, name in names.items():
            if len(parts[part]) > _ADDRESS_LINE_MAX:
                errors.append(
                    FieldError(
                        f"{question.id}-{part}",
                        _("%(label)s must be %(max)s characters or less")
                        % {"label": name, "max": _ADDRESS_LINE_MAX},
                    )
                )
            elif _control_characters(parts[part], multiline=False):
                errors.append(FieldError(f"{question.id}-{part}", invalid))
        if not parts["postcode"]:
            errors.append(FieldError(f"{question.id}-postcode", _("Enter postcode")))
        else:
            postcode = postcode_normalise(parts["postcode"])
            if postcode is None:
                errors.append(
                    FieldError(f"{question.id}-postcode", _("Enter a real postcode, like KB1 2AB"))
                )
            else:
                parts["postcode"] = postcode
        return (None, errors) if errors else (parts, [])

    def _display(self, question: Question, value: Any, language: str) -> str | list[str]:
        return [
            value[part]
            for part in ADDRESS_PARTS
            if isinstance(value.get(part), str) and value[part]
        ]

    def _initial(self, question: Question, value: Any) -> Raw:
        return {
            f"{question.id}-{part}": value.get(part) if isinstance(value.get(part), str) else ""
            for part in ADDRESS_PARTS
        }


# --- Files -----------------------------------------------------------------------------------


class FileKind(QuestionKind):
    """Uploaded documents, stored as a list of document ids (UUID strings).

    The runner manages uploads; ``parse`` only reads the document ids it passes under the
    question id.
    """

    type_id = "file"

    def field_names(self, question: Question) -> list[str]:
        return []

    def _error_field(self, question: Question) -> str:
        return question.id

    def _required_message(self, question: Question, language: str) -> str:
        return _message(question, "required", language, _("Upload a file"))

    def _parse(self, question: Question, data: Mapping[str, Any], language: str) -> ParseResult:
        ids = _values(data, question.id)
        value, errors = self.clean(question, ids or None, language)
        return ParseResult(value, errors, {})

    def _clean(
        self, question: Question, value: object, language: str
    ) -> tuple[Any, list[FieldError]]:
        invalid = _("The selected file could not be found")
        if not isinstance(value, list) or len(value) > 100:
            return None, self._error(question, "invalid", language, invalid)
        ids: list[str] = []
        for item in value:
            if not isinstance(item, str) or len(item) > 40:
                return None, self._error(question, "invalid", language, invalid)
            try:
                canonical = str(uuid.UUID(item))
            except ValueError:
                return None, self._error(question, "invalid", language, invalid)
            if canonical not in ids:
                ids.append(canonical)
        if not ids:
            if question.required:
                return None, self._required_errors(question, language)
            return [], []
        maximum = question.file_policy.max_files
        if len(ids) > maximum:
            default = ngettext(
                "Upload no more than %(count)s file", "Upload no more than %(count)s files", maximum
            ) % {"count": maximum}
            return None, self._error(question, "too_long", language, default)
        return ids, []

    def _display(self, question: Question, value: Any, language: str) -> str | list[str]:
        count = len(value) if isinstance(value, list) else 0
        if count == 0:
            return ""
        return ngettext("%(count)s file uploaded", "%(count)s files uploaded", count) % {
            "count": count
        }

    def _initial(self, question: Question, value: Any) -> Raw:
        return {}


for _kind in (
    TextKind(),
    TextareaKind(),
    NumberKind(),
    MoneyKind(),
    DateKind(),
    EmailKind(),
    PhoneKind(),
    AddressKind(),
    ChoiceKind(),
    CheckboxesKind(),
    YesNoKind(),
    NinoKind(),
    NationalIdKind(),
    FileKind(),
):
    _register(_kind)


# --- Module-level API ------------------------------------------------------------------------


def question_type(type_id: str) -> QuestionKind:
    """Return the registered kind for a type name ("text", "date", ...); PluginNotFound if none."""
    return question_types.get(type_id)


def question_kind(question: Question) -> QuestionKind:
    """Return the registered kind of ``question`` (PluginNotFound for an unknown type)."""
    return question_types.get(question.type)


def question_field_names(question: Question) -> list[str]:
    """Return the HTML input names of ``question``."""
    return question_kind(question).field_names(question)


def question_parse(question: Question, data: Mapping[str, Any], language: str) -> ParseResult:
    """Parse submitted form input for ``question``."""
    return question_kind(question).parse(question, data, language)


def question_check(question: Question, value: object, language: str) -> list[FieldError]:
    """Return the errors of a stored or API ``value`` for ``question``; never raises."""
    return question_kind(question).check(question, value, language)


def question_clean(
    question: Question, value: object, language: str
) -> tuple[Any, list[FieldError]]:
    """Return (normalised value, errors) for a typed JSON ``value`` (such as from the API)."""
    return question_kind(question).clean(question, value, language)


def question_display(question: Question, value: object, language: str) -> str | list[str]:
    """Return ``value`` as shown on check your answers."""
    return question_kind(question).display(question, value, language)


def question_initial(question: Question, value: object) -> Raw:
    """Return the input values that show the stored ``value``."""
    return question_kind(question).initial(question, value)


def question_options(question: Question, language: str) -> list[tuple[str, str, str]]:
    """Return (value, label, hint) of each option of a choice, checkboxes or yes/no question."""
    kind = question_kind(question)
    if isinstance(kind, ChoiceKind):
        return kind.options(question, language)
    return []


def errors_by_field(errors: Sequence[FieldError]) -> dict[str, str]:
    """Return the first message for each input id, for widgets."""
    found: dict[str, str] = {}
    for error in errors:
        found.setdefault(error.field, error.message)
    return found


def question_widget_template(question: Question) -> str:
    """Return the template that renders ``question``'s inputs (not for file questions)."""
    return f"forms/widgets/{question.type}.html"


_AUTOCOMPLETE: Final[Mapping[str, str]] = {"full_name": "name", "email": "email", "phone": "tel"}
_ADDRESS_AUTOCOMPLETE: Final[Mapping[str, str]] = {
    "line1": "address-line1",
    "line2": "address-line2",
    "town": "address-level2",
    "county": "",
    "postcode": "postal-code",
}


def _is_birth_date(question: Question) -> bool:
    return question.type == "date" and ("birth" in question.id or "dob" in question.id)


def _widget_parts(
    question: Question,
    raw: Mapping[str, Any],
    errors: Mapping[str, str],
    language: str,
    whole: bool,
) -> list[dict[str, Any]]:
    """Return the inputs of a date or address question, in order, for its template."""
    with translation.override(language):
        if question.type == "date":
            labels = {"day": _("Day"), "month": _("Month"), "year": _("Year")}
            whole_date_error = whole or (
                bool(errors)
                and not any(f"{question.id}-{part}" in errors for part in DateKind.parts)
            )
            return [
                {
                    "name": f"{question.id}-{part}",
                    "label": labels[part],
                    "value": raw.get(f"{question.id}-{part}", ""),
                    # GOV.UK highlights only the parts in error, or all three when the
                    # problem is the date as a whole (a rule such as "must be in the past").
                    "error": bool(errors.get(f"{question.id}-{part}")) or whole_date_error,
                    "width": 4 if part == "year" else 2,
                    "autocomplete": f"bday-{part}" if _is_birth_date(question) else "",
                }
                for part in DateKind.parts
            ]
        if question.type == "address":
            labels = {
                "line1": _("Address line 1"),
                "line2": _("Address line 2 (optional)"),
                "town": _("Town or city"),
                "county": _("County (optional)"),
                "postcode": _("Postcode"),
            }
            return [
                {
                    "name": f"{question.id}-{part}",
                    "label": labels[part],
                    "value": raw.get(f"{question.id}-{part}", ""),
                    "error": errors.get(f"{question.id}-{part}", ""),
                    "autocomplete": _ADDRESS_AUTOCOMPLETE[part],
                }
                for part in ADDRESS_PARTS
            ]
    return []


def question_widget_context(
    question: Question,
    language: str,
    *,
    raw: Mapping[str, str | list[str]] | None = None,
    errors: Sequence[FieldError] | Mapping[str, str] | None = None,
    is_heading: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    """Return the context a widget template expects.

    Besides ``question``, ``label``, ``hint``, ``raw``, ``errors`` (input id → message),
    ``language``, ``is_heading`` and ``options`` ((value, label, hint) triples), it gives
    what templates cannot work out themselves: ``value`` (the main input's text),
    ``selected`` (values checked), ``error`` (the first message), ``described_by`` (ids for
    aria-describedby), ``parts`` (the inputs of a date or address; ``address`` has them by
    name), ``autocomplete`` and ``width_class``. ``extra`` passes view values
    through, such as ``address_choices`` (list of (value, label)).
    """
    whole = False
    if errors is None:
        error_map: dict[str, str] = {}
    elif isinstance(errors, Mapping):
        error_map = {str(key): str(value) for key, value in errors.items()}
    else:
        error_map = errors_by_field(errors)
        whole = any(getattr(error, "whole", False) for error in errors)
    raw_map = dict(raw or {})
    main = raw_map.get(question.id, "")
    if isinstance(main, list):
        selected = [value for value in main if isinstance(value, str)]
        value = selected[0] if selected else ""
    else:
        value = main if isinstance(main, str) else ""
        selected = [value] if value else []
    max_length = _int_rule(question.rules, "max_length", DEFAULT_MAX_LENGTH.get(question.type, 0))
    width_class = ""
    if question.type == "text" and max_length <= 10:
        width_class = "govuk-input--width-10"
    elif question.type == "text" and max_length <= 20:
        width_class = "govuk-input--width-20"
    first_error = next(iter(error_map.values()), "")
    described_by = " ".join(
        name
        for name, present in (
            (f"{question.id}-hint", bool(question.hint)),
            (f"{question.id}-error", bool(first_error)),
        )
        if present
    )
    parts = _widget_parts(question, raw_map, error_map, language, whole)
    autocomplete = _AUTOCOMPLETE.get(question.prefill or "", "")
    if not autocomplete and question.type in ("email", "phone"):
        autocomplete = _AUTOCOMPLETE[question.type]
    return {
        "question": question,
        "label": question.label.get(language),
        "hint": question.hint.get(language) if question.hint else "",
        "raw": raw_map,
        "errors": error_map,
        "language": language,
        "is_heading": is_heading,
        "options": question_options(question, language),
        "value": value,
        "selected": selected,
        "error": first_error,
        "described_by": described_by,
        "parts": parts,
        "address": {part["name"].rsplit("-", 1)[1]: part for part in parts},
        "autocomplete": autocomplete,
        "width_class": width_class,
        "allows_negative": _int_rule(question.rules, "min", 0) < 0,
        **extra,
    }


def question_render(question: Question, language: str, **context: Any) -> str:
    """Render ``question``'s widget to HTML (see ``question_widget_context`` for arguments)."""
    from django.template.loader import render_to_string

    with translation.override(language):
        return render_to_string(
            question_widget_template(question),
            question_widget_context(question, language, **context),
        )
