"""Message templates in GOV.UK Notify's language, rendered without any template engine.

A template is plain text with:

- ``((name))`` placeholders, filled from the personalisation. Names are matched ignoring
  case, spaces, hyphens and underscores (``((First name))`` takes ``first_name``). Names
  are letters, digits, spaces, hyphens and underscores only: there is no attribute access,
  no filter and no code, so a template can only ever print the values it is given.
- ``((name??text))`` conditionals: ``text`` appears when ``name`` is yes (``True``,
  ``"yes"``, ``"true"``) and not when it is no (``False``, ``"no"``, ``"false"``, empty).
- Lists: a list value on a line of its own becomes a bulleted list; inside a sentence the
  items are joined ("a, b and c").
- Email and letter formatting: ``#`` heading, ``##`` sub-heading, ``*`` or ``-`` bullets,
  ``1.`` numbered lists, ``^`` inset text, ``---`` a rule, ``[text](https://...)`` links and
  bare https links. Values are escaped after the formatting is applied, so a value can never
  add a link, a heading or HTML.

Text messages count characters and fragments the way networks bill them (GSM 03.38 with
its extension table at 160/153 characters a fragment, anything else UCS-2 at 70/67).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from typing import Any

_PLACEHOLDER = re.compile(r"\(\(([^()]*)\)\)")
_NAME = re.compile(r"^[A-Za-z0-9 _\-]{1,100}$")
_OPEN = "\ue000"
_CLOSE = "\ue001"
_PRIVATE = re.compile(f"[{_OPEN}{_CLOSE}]")
_SENTINEL = re.compile(f"{_OPEN}(\\d+){_CLOSE}")
_YES = {"yes", "true", "y"}
_NO = {"no", "false", "n", ""}
MAX_VALUE_LENGTH = 10_000
MAX_LIST_ITEMS = 200


class TemplateError(ValueError):
    """The template text cannot be used; ``message`` says why, for the person editing it."""


class PersonalisationError(ValueError):
    """The personalisation does not fit the template (missing or unusable values)."""


def key(name: str) -> str:
    """Return the form of a placeholder name used for matching (case and separators out)."""
    return re.sub(r"[\s_\-]", "", name).lower()


@dataclass(frozen=True)
class Placeholder:
    name: str
    conditional_text: str | None = None

    @property
    def key(self) -> str:
        return key(self.name)


def placeholders(text: str) -> list[Placeholder]:
    """Return the placeholders of ``text`` in order; raise TemplateError if one is malformed."""
    found = []
    for match in _PLACEHOLDER.finditer(text):
        inner = match.group(1)
        name, separator, shown = inner.partition("??")
        name = name.strip()
        if not _NAME.match(name):
            raise TemplateError(
                f"The placeholder (({inner[:40]})) is not allowed. Placeholder names can only "
                "use letters, numbers, spaces, hyphens and underscores, like ((first name))."
            )
        found.append(Placeholder(name, shown if separator else None))
    leftover = _PLACEHOLDER.sub("", text)
    if "((" in leftover or "))" in leftover:
        raise TemplateError(
            "A placeholder is not closed. Each placeholder starts with (( and ends with )), "
            "like ((first name))."
        )
    return found


def template_check(*, subject: str, body: str) -> list[str]:
    """Return the placeholder names (matching keys, in order, once each) of a template."""
    if not body.strip():
        raise TemplateError("Enter the message.")
    names: dict[str, str] = {}
    for placeholder in placeholders(subject) + placeholders(body):
        names.setdefault(placeholder.key, placeholder.name)
    if _PRIVATE.search(subject + body):
        raise TemplateError("The message contains characters that cannot be sent.")
    return list(names.values())


def _truthy(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _YES | _NO:
        return value.strip().lower() in _YES
    if value is None:
        return False
    raise PersonalisationError(f"Personalisation {name} must be yes or no to show or hide text")


def _value_text(name: str, value: Any) -> str | list[str]:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str):
        if len(value) > MAX_VALUE_LENGTH:
            raise PersonalisationError(f"Personalisation {name} is too long")
        return _PRIVATE.sub("", value)
    if isinstance(value, list):
        if len(value) > MAX_LIST_ITEMS:
            raise PersonalisationError(f"Personalisation {name} has too many items")
        items = []
        for item in value:
            item_text = _value_text(name, item)
            if isinstance(item_text, list):
                raise PersonalisationError(f"Personalisation {name} cannot contain lists")
            if item_text.strip():
                items.append(item_text)
        return items
    raise PersonalisationError(
        f"Personalisation {name} must be text, a number, yes or no, or a list of text"
    )


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


@dataclass(frozen=True)
class Rendered:
    """A message with its values filled in: plain text, and HTML for email and letters."""

    subject: str
    text: str
    html: str


class _Filler:
    """Replaces placeholders by sentinels; remembers the values for the last step."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = {key(name): value for name, value in values.items()}
        self.slots: list[str] = []
        self.missing: list[str] = []

    def _slot(self, text: str) -> str:
        self.slots.append(text)
        return f"{_OPEN}{len(self.slots) - 1}{_CLOSE}"

    def _lookup(self, placeholder: Placeholder) -> Any:
        if placeholder.key not in self.values:
            if placeholder.name not in self.missing:
                self.missing.append(placeholder.name)
            return None
        return self.values[placeholder.key]

    def fill(self, text: str, *, lists_as_bullets: bool) -> str:
        text = _PRIVATE.sub("", text)
        lines: list[str] = []
        for line in text.split("\n"):
            whole = _PLACEHOLDER.fullmatch(line.strip())
            if lists_as_bullets and whole and "??" not in whole.group(1):
                placeholder = Placeholder(whole.group(1).strip())
                value = self._lookup(placeholder)
                if isinstance(value, list):
                    items = _value_text(placeholder.name, value)
                    lines.extend(f"* {self._slot(item)}" for item in items)
                    continue
            lines.append(_PLACEHOLDER.sub(self._replace, line))
        return "\n".join(lines)

    def _replace(self, match: re.Match[str]) -> str:
        inner = match.group(1)
        name, separator, shown = inner.partition("??")
        placeholder = Placeholder(name.strip(), shown if separator else None)
        value = self._lookup(placeholder)
        if placeholder.conditional_text is not None:
            if placeholder.key not in self.values:
                return ""
            shown_text = _PRIVATE.sub("", placeholder.conditional_text)
            return self._slot(shown_text) if _truthy(placeholder.name, value) else ""
        if placeholder.key not in self.values:
            return ""
        text = _value_text(placeholder.name, value)
        return self._slot(_join(text) if isinstance(text, list) else text)

    def plain(self, text: str) -> str:
        return _SENTINEL.sub(lambda m: self.slots[int(m.group(1))], text)

    def html_values(self, html: str) -> str:
        return _SENTINEL.sub(lambda m: escape(self.slots[int(m.group(1))]), html)


def render(*, subject: str, body: str, personalisation: Mapping[str, Any], kind: str) -> Rendered:
    """Fill a template; raise PersonalisationError naming every missing value."""
    template_check(subject=subject, body=body)
    filler = _Filler(personalisation)
    formatted = kind in ("email", "letter")
    subject_filled = filler.fill(subject, lists_as_bullets=False)
    body_filled = filler.fill(body, lists_as_bullets=formatted)
    if filler.missing:
        raise PersonalisationError("Missing personalisation: " + ", ".join(filler.missing))
    subject_text = " ".join(filler.plain(subject_filled).split())
    text = filler.plain(body_filled).strip()
    html = filler.html_values(_markdown(body_filled)) if formatted else ""
    if not formatted:
        text = _plain_sms(text)
    return Rendered(subject=subject_text, text=text, html=html)


def _plain_sms(text: str) -> str:
    # Texts and push messages: collapse runs of blank lines, trim each line's end.
    lines = [line.rstrip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# --- Formatting (email and letters) -------------------------------------------------------

_LINK = re.compile(r"\[([^\[\]]+)\]\((https?://[^\s()<>]+)\)")
_BARE_URL = re.compile(r"(?<![\"'=>])\bhttps?://[^\s<>\"']+[^\s<>\"'.,;:!?)]")


def _inline(text: str) -> str:
    escaped = escape(text, quote=True)
    links: list[str] = []

    def link(match: re.Match[str]) -> str:
        links.append(f'<a href="{match.group(2)}">{match.group(1)}</a>')
        return f"\ue002{len(links) - 1}\ue003"

    escaped = _LINK.sub(link, escaped)
    escaped = _BARE_URL.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', escaped)
    return re.sub("\ue002(\\d+)\ue003", lambda m: links[int(m.group(1))], escaped)


def _markdown(text: str) -> str:
    blocks: list[str] = []
    paragraph: list[str] = []
    list_kind = ""
    items: list[str] = []

    def flush_paragraph() -> None:
        if paragraph:
            blocks.append("<p>" + "<br>".join(_inline(line) for line in paragraph) + "</p>")
            paragraph.clear()

    def flush_list() -> None:
        nonlocal list_kind
        if items:
            blocks.append(
                f"<{list_kind}>" + "".join(f"<li>{i}</li>" for i in items) + f"</{list_kind}>"
            )
            items.clear()
        list_kind = ""

    for raw in text.split("\n"):
        line = raw.strip()
        bullet = re.match(r"^[*\-•]\s+(.*)$", line)
        numbered = re.match(r"^\d+[.)]\s+(.*)$", line)
        if not line:
            flush_paragraph()
            flush_list()
        elif re.fullmatch(r"-{3,}|\*{3,}", line):
            flush_paragraph()
            flush_list()
            blocks.append("<hr>")
        elif bullet or numbered:
            flush_paragraph()
            wanted = "ul" if bullet else "ol"
            if list_kind and list_kind != wanted:
                flush_list()
            list_kind = wanted
            items.append(_inline((bullet or numbered).group(1)))  # type: ignore[union-attr]
        elif line.startswith("## "):
            flush_paragraph()
            flush_list()
            blocks.append(f"<h3>{_inline(line[3:])}</h3>")
        elif line.startswith("# "):
            flush_paragraph()
            flush_list()
            blocks.append(f"<h2>{_inline(line[2:])}</h2>")
        elif line.startswith("^"):
            flush_paragraph()
            flush_list()
            blocks.append(f"<blockquote>{_inline(line[1:].strip())}</blockquote>")
        else:
            flush_list()
            paragraph.append(line)
    flush_paragraph()
    flush_list()
    return "\n".join(blocks)


# --- Text message length -------------------------------------------------------------------

_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = set("^{}\\[~]|€\f")


@dataclass(frozen=True)
class SmsLength:
    characters: int
    fragments: int
    unicode: bool


def sms_length(text: str) -> SmsLength:
    """Return how many characters and fragments ``text`` costs as a text message."""
    if all(ch in _GSM_BASIC or ch in _GSM_EXTENDED for ch in text):
        units = sum(2 if ch in _GSM_EXTENDED else 1 for ch in text)
        fragments = 1 if units <= 160 else math.ceil(units / 153)
        return SmsLength(units, fragments, unicode=False)
    units = len(text.encode("utf-16-le")) // 2
    fragments = 1 if units <= 70 else math.ceil(units / 67)
    return SmsLength(units, fragments, unicode=True)


SMS_MAX_CHARACTERS = 918  # six fragments of GSM text, as Notify allows
