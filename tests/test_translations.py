"""Every interface string has a Welsh translation, and Welsh pages use them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import Client

PO_FILE = Path(__file__).resolve().parent.parent / "src/civicstack/locale/cy/LC_MESSAGES/django.po"


def _entries(text: str) -> list[tuple[str, list[str], bool]]:
    entries = []
    for block in text.split("\n\n"):
        lines = [line for line in block.splitlines() if not line.startswith("#~")]
        fuzzy = any(line.startswith("#,") and "fuzzy" in line for line in lines)
        msgid, msgstrs, current = "", [], None
        for line in lines:
            if line.startswith("msgid "):
                current, msgid = "id", line[6:].strip('"')
            elif line.startswith("msgid_plural"):
                current = "plural"
            elif line.startswith("msgstr"):
                current = "str"
                msgstrs.append(line.split(" ", 1)[1].strip('"'))
            elif line.startswith('"') and current == "id":
                msgid += line.strip('"')
            elif line.startswith('"') and current == "str":
                msgstrs[-1] += line.strip('"')
        if msgid:
            entries.append((msgid, msgstrs, fuzzy))
    return entries


def test_every_string_is_translated_into_welsh() -> None:
    """No Welsh entry is empty or fuzzy, and placeholders survive translation."""
    entries = _entries(PO_FILE.read_text(encoding="utf-8"))
    assert len(entries) > 300
    problems = []
    for msgid, msgstrs, fuzzy in entries:
        if fuzzy or not msgstrs or not all(msgstrs):
            problems.append(f"untranslated: {msgid}")
            continue
        wanted = set(re.findall(r"%\(\w+\)[sd]", msgid))
        for msgstr in msgstrs:
            if set(re.findall(r"%\(\w+\)[sd]", msgstr)) != wanted and "%(" in msgid:
                problems.append(f"placeholders differ: {msgid}")
    assert problems == []


@pytest.mark.django_db
def test_welsh_pages_use_welsh_interface_text() -> None:
    """The Welsh home page's navigation and search are in Welsh."""
    body = Client().get("/cy/").content.decode()
    assert "Gwasanaethau" in body
    assert "Canllawiau cam wrth gam" in body
    assert "Step-by-step guides" not in body
