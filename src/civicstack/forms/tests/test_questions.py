"""Question types: parsing form input, checking typed values, display, initial values, widgets."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from civicstack.forms import questions
from civicstack.forms.addresses import address_label, address_lookup, postcode_normalise
from civicstack.forms.definition import QUESTION_TYPES, Option, Question, Text
from civicstack.forms.questions import (
    FieldError,
    date_bound,
    format_money,
    money_parse,
    national_id_check_digit,
    national_id_normalise,
    nino_normalise,
    phone_normalise,
    question_check,
    question_clean,
    question_display,
    question_field_names,
    question_initial,
    question_parse,
    question_render,
    question_type,
    question_types,
)

TODAY = dt.date(2026, 3, 15)


@pytest.fixture(autouse=True)
def _fixed_today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(questions, "_today", lambda: TODAY)


def q(kind: str, qid: str = "q", label: str = "Full name", **extra: Any) -> Question:
    """Return a question of ``kind`` with an English label and a Welsh one."""
    return Question(id=qid, type=kind, label=Text(label, label + " (cy)"), **extra)


COLOURS = (
    Option("red", Text("Red", "Coch")),
    Option("blue", Text("Blue", "Glas"), Text("Like the sky", "Fel yr awyr")),
    Option("green", Text("Green", "Gwyrdd")),
)


def parse(question: Question, language: str = "en", **fields: str | list[str]) -> Any:
    data = {name: value if isinstance(value, list) else [value] for name, value in fields.items()}
    return question_parse(question, data, language)


# --- Registry and field names ----------------------------------------------------------------


def test_every_question_type_is_registered() -> None:
    """Each type of the definition format has a registered kind."""
    assert set(question_types) == set(QUESTION_TYPES)
    assert question_type("date").type_id == "date"


def test_field_names_follow_the_govuk_conventions() -> None:
    """Simple types use the id; dates and addresses add a suffix per input; files none."""
    assert question_field_names(q("text", "name")) == ["name"]
    assert question_field_names(q("date", "dob")) == ["dob-day", "dob-month", "dob-year"]
    assert question_field_names(q("address", "home")) == [
        "home-line1",
        "home-line2",
        "home-town",
        "home-county",
        "home-postcode",
    ]
    assert question_field_names(q("checkboxes", "items", options=COLOURS)) == ["items"]
    assert question_field_names(q("file", "proof")) == []


# --- Text ------------------------------------------------------------------------------------


def test_text_is_trimmed_and_required() -> None:
    """Text is stored trimmed; an empty required answer says what to enter."""
    question = q("text")
    assert parse(question, q="  Sam Jones ").value == "Sam Jones"
    result = parse(question, q="   ")
    assert result.value is None
    assert result.errors == [FieldError("q", "Enter full name")]
    assert result.raw == {"q": "   "}


def test_question_labels_give_general_messages() -> None:
    """A label that is a question does not make "Enter what is your name?"."""
    result = parse(q("text", label="What is your name?"), q="")
    assert result.errors[0].message == "Enter an answer"


def test_messages_from_the_definition_win() -> None:
    """A question's own messages replace the defaults, in the person's language."""
    question = q(
        "text",
        label="What is your name?",
        messages={"required": Text("Enter your full name", "Rhowch eich enw llawn")},
    )
    assert parse(question, q="").errors[0].message == "Enter your full name"
    assert parse(question, "cy", q="").errors[0].message == "Rhowch eich enw llawn"


def test_optional_text_may_be_empty() -> None:
    """An optional empty answer has no value and no error."""
    result = parse(q("text", required=False), q="")
    assert (result.value, result.errors) == (None, [])


def test_text_length_rules() -> None:
    """min_length and max_length apply, with a default maximum of 500."""
    question = q("text", rules={"min_length": 3, "max_length": 5})
    assert parse(question, q="ab").errors[0].message == "Full name must be 3 characters or more"
    assert parse(question, q="abcdef").errors[0].message == "Full name must be 5 characters or less"
    assert parse(question, q="abcd").value == "abcd"
    assert parse(q("text"), q="x" * 501).errors[0].message == (
        "Full name must be 500 characters or less"
    )
    assert parse(q("textarea"), q="x" * 5000).value == "x" * 5000


def test_text_pattern_must_match_the_whole_answer() -> None:
    """pattern uses fullmatch and its own message."""
    question = q(
        "text",
        label="Registration number",
        rules={
            "pattern": "[A-Z0-9 ]{2,8}",
            "pattern_message": Text("Only letters and numbers", "Llythrennau a rhifau yn unig"),
        },
    )
    assert parse(question, q="KB12 ABC").value == "KB12 ABC"
    assert parse(question, q="KB12 ABC!").errors[0].message == "Only letters and numbers"
    assert parse(question, "cy", q="kb!").errors[0].message == "Llythrennau a rhifau yn unig"


def test_text_refuses_control_characters_but_textarea_keeps_lines() -> None:
    """NUL and other control characters are refused; a textarea keeps its line breaks."""
    assert parse(q("text"), q="a\x00b").errors
    assert parse(q("text"), q="line\nbreak").errors
    assert parse(q("textarea"), q="line 1\r\nline 2").value == "line 1\nline 2"


# --- Numbers and money -----------------------------------------------------------------------


def test_numbers_are_whole_and_within_rules() -> None:
    """Numbers accept thousands separators and refuse decimals and words."""
    question = q("number", label="Number of shares", rules={"min": 1, "max": 1000})
    assert parse(question, q="1,000").value == 1000
    assert parse(question, q="12.5").errors[0].message == "Number of shares must be a whole number"
    assert parse(question, q="ten").errors
    assert parse(question, q="0").errors[0].message == "Number of shares must be 1 or more"
    assert parse(question, q="1001").errors[0].message == "Number of shares must be 1,000 or less"
    assert parse(question, q="9" * 5000).errors  # never int() on huge input


@pytest.mark.parametrize(
    ("text", "pence"),
    [
        ("12", 1200),
        ("12.5", 1250),
        ("12.50", 1250),
        ("£1,234.50", 123450),
        (" £ 1 234.50 ", 123450),
        ("0.99", 99),
        (".5", 50),
        ("-5", -500),
        ("-£5.25", -525),
        ("£-5", -500),
    ],
)
def test_money_is_parsed_to_pence(text: str, pence: int) -> None:
    """Amounts in pounds become integer pence."""
    assert money_parse(text) == pence


@pytest.mark.parametrize(
    "text", ["12.505", "1,23.00", "£", "", "12p", "1.2.3", "--5", "-£-5", "abc"]
)
def test_money_refuses_what_is_not_an_amount(text: str) -> None:
    """More than 2 decimals, misplaced commas and words are not amounts."""
    assert money_parse(text) is None


def test_money_question_refuses_negatives_unless_min_allows() -> None:
    """Money is 0 or more by default; a negative min allows negatives."""
    question = q("money", label="Rent")
    assert parse(question, q="£600").value == 60000
    assert parse(question, q="-1").errors[0].message == "Rent must be £0 or more"
    assert parse(question, q="12.345").errors[0].message == (
        "Rent must be an amount of money, like £600 or £193.54"
    )
    refund = q("money", label="Adjustment", rules={"min": -10000})
    assert parse(refund, q="-50").value == -5000
    limited = q("money", label="Rent", rules={"min": 100, "max": 100000})
    assert parse(limited, q="0.50").errors[0].message == "Rent must be £1 or more"
    assert parse(limited, q="1000.01").errors[0].message == "Rent must be £1,000 or less"


def test_money_display_and_initial() -> None:
    """Money shows as pounds (no .00 for whole pounds) and refills without the £."""
    question = q("money")
    assert format_money(1250) == "£12.50"
    assert format_money(123450) == "£1,234.50"
    assert format_money(7500) == "£75"
    assert question_display(question, 1205, "en") == "£12.05"
    assert question_initial(question, 1205) == {"q": "12.05"}
    assert question_initial(question, 1200) == {"q": "12"}


def test_typed_numbers_must_be_integers() -> None:
    """check refuses floats, booleans and strings for numbers and money."""
    for kind in ("number", "money"):
        question = q(kind)
        assert question_check(question, 5, "en") == []
        for value in (5.5, True, "5", [5]):
            assert question_check(question, value, "en"), (kind, value)


# --- Dates -----------------------------------------------------------------------------------


def test_dates_from_three_inputs() -> None:
    """Day, month and year become an ISO date; month names work in English and Welsh."""
    question = q("date", "dob", label="Date of birth")
    assert parse(question, **{"dob-day": "3", "dob-month": "3", "dob-year": "2000"}).value == (
        "2000-03-03"
    )
    for month in ("March", "mar", "Mawrth", "MAR."):
        result = parse(question, **{"dob-day": "03", "dob-month": month, "dob-year": "2000"})
        assert result.value == "2000-03-03", month


def test_31_february_is_not_a_real_date() -> None:
    """31 February is refused as a whole-date error linked to the day."""
    question = q("date", "dob", label="Date of birth")
    result = parse(question, **{"dob-day": "31", "dob-month": "2", "dob-year": "2001"})
    assert result.value is None
    assert result.errors == [FieldError("dob-day", "Date of birth must be a real date", whole=True)]
    leap = parse(question, **{"dob-day": "29", "dob-month": "2", "dob-year": "2000"})
    assert leap.value == "2000-02-29"
    not_leap = parse(question, **{"dob-day": "29", "dob-month": "2", "dob-year": "1900"})
    assert not_leap.errors


def test_missing_and_invalid_date_parts_are_named() -> None:
    """A missing part is named; a wrong part is linked to its input."""
    question = q("date", "dob", label="Date of birth")
    missing = parse(question, **{"dob-day": "1", "dob-month": "", "dob-year": ""})
    assert missing.errors == [
        FieldError("dob-month", "Date of birth must include a month and year")
    ]
    bad_month = parse(question, **{"dob-day": "1", "dob-month": "13", "dob-year": "2000"})
    assert bad_month.errors[0].field == "dob-month"
    short_year = parse(question, **{"dob-day": "1", "dob-month": "1", "dob-year": "99"})
    assert short_year.errors[0].field == "dob-year"
    empty = parse(question, **{"dob-day": "", "dob-month": "", "dob-year": ""})
    assert empty.errors == [FieldError("dob-day", "Enter date of birth", whole=True)]


def test_relative_date_rules() -> None:
    """ "today-P18Y" means at least 18 years ago; "today" alone is today."""
    assert date_bound("today-P18Y", TODAY) == dt.date(2008, 3, 15)
    assert date_bound("today+P30D", TODAY) == dt.date(2026, 4, 14)
    assert date_bound("today+P6W", TODAY) == dt.date(2026, 4, 26)
    assert date_bound("today-P1M", dt.date(2026, 3, 31)) == dt.date(2026, 2, 28)
    assert date_bound("today-P1Y", dt.date(2024, 2, 29)) == dt.date(2023, 2, 28)
    assert date_bound("2026-01-01", TODAY) == dt.date(2026, 1, 1)
    assert date_bound("yesterday", TODAY) is None
    adult = q("date", "dob", label="Date of birth", rules={"max_date": "today-P18Y"})
    assert question_check(adult, "2008-03-15", "en") == []
    [error] = question_check(adult, "2008-03-16", "en")
    assert error.message == "Date of birth must be the same as or before 15 March 2008"
    assert error.whole is True
    past = q("date", "dob", label="Date of birth", rules={"max_date": "today"})
    assert question_check(past, "2026-03-16", "en")[0].message == (
        "Date of birth must be today or in the past"
    )
    future = q("date", "start", label="Start date", rules={"min_date": "today"})
    assert question_check(future, "2026-03-14", "en")[0].message == (
        "Start date must be today or in the future"
    )


def test_dates_display_with_welsh_month_names() -> None:
    """Dates read "3 March 2026" in English and "3 Mawrth 2026" in Welsh."""
    question = q("date", "dob")
    assert question_display(question, "2026-03-03", "en") == "3 March 2026"
    assert question_display(question, "2026-03-03", "cy") == "3 Mawrth 2026"
    assert question_initial(question, "2026-03-03") == {
        "dob-day": "3",
        "dob-month": "3",
        "dob-year": "2026",
    }
    assert question_check(question, "2026-02-30", "en")
    assert question_check(question, "3/3/2026", "en")


# --- Email and phone -------------------------------------------------------------------------


def test_email_is_lowercased_and_checked() -> None:
    """Email addresses are trimmed and lowercased; a wrong format gets the GOV.UK message."""
    question = q("email", label="Email address")
    assert parse(question, q="  Sam.Jones@Example.COM ").value == "sam.jones@example.com"
    for wrong in ("sam", "sam@", "@example.com", "sam jones@example.com", "a@b"):
        [error] = parse(question, q=wrong).errors
        assert error.message == (
            "Enter an email address in the correct format, like name@example.com"
        )


@pytest.mark.parametrize(
    ("text", "e164"),
    [
        ("07700 900982", "+447700900982"),
        ("07700900982", "+447700900982"),
        ("(01632) 960 001", "+441632960001"),
        ("01632 960001", "+441632960001"),
        ("+44 7700 900982", "+447700900982"),
        ("+44 (0)7700 900982", "+447700900982"),
        ("0044 7700 900 982", "+447700900982"),
        ("020 7946 0000", "+442079460000"),
        ("0808 157 0192", "+448081570192"),
        ("+33 1 23 45 67 89", "+33123456789"),
    ],
)
def test_phone_numbers_are_normalised_to_e164(text: str, e164: str) -> None:
    """UK numbers in the usual formats, and international ones, become E.164."""
    assert phone_normalise(text) == e164


@pytest.mark.parametrize(
    "text", ["7700 900982", "0770090098", "077009009821", "+44", "07700 9OO982", "07700+900982", ""]
)
def test_phone_numbers_that_are_not_numbers_are_refused(text: str) -> None:
    """Too short, too long, letters or a + in the middle are refused."""
    assert phone_normalise(text) is None


def test_phone_question_message_and_display() -> None:
    """The GOV.UK message explains the format; UK numbers display in national format."""
    question = q("phone", label="Telephone number")
    assert parse(question, q="123").errors[0].message == (
        "Enter a telephone number, like 01632 960 001, 07700 900 982 or +44 808 157 0192"
    )
    assert question_display(question, "+447700900982", "en") == "07700 900982"
    assert question_display(question, "+442079460000", "en") == "020 7946 0000"


# --- National Insurance and national identifier ----------------------------------------------


@pytest.mark.parametrize(
    ("text", "nino"),
    [("AB123456C", "AB123456C"), ("ab 12 34 56 c", "AB123456C"), ("JG-10-37-92-D", "JG103792D")],
)
def test_valid_national_insurance_numbers(text: str, nino: str) -> None:
    """Spaces, hyphens and lowercase are accepted and normalised."""
    assert nino_normalise(text) == nino


@pytest.mark.parametrize(
    "text",
    [
        "QQ123456C",  # Q is not a first letter: the GOV.UK example is deliberately invalid
        "DA123456A",  # D first
        "AO123456A",  # O second
        "BG123456A",  # reserved prefixes
        "GB123456A",
        "NK123456A",
        "KN123456A",
        "NT123456A",
        "TN123456A",
        "ZZ123456A",
        "AB123456E",  # suffix after D
        "AB12345C",  # five digits
        "AB1234567C",
        "",
    ],
)
def test_invalid_national_insurance_numbers(text: str) -> None:
    """HMRC's prefix and suffix rules are applied."""
    assert nino_normalise(text) is None


def test_nino_question_message_and_display() -> None:
    """A wrong NINO gets the GOV.UK message and displays grouped."""
    question = q("nino", label="National Insurance number")
    assert parse(question, q="QQ 12 34 56 C").errors[0].message == (
        "Enter a National Insurance number in the correct format"
    )
    assert question_display(question, "AB123456C", "en") == "AB 12 34 56 C"


def test_national_identifier_check_digit_is_iso_7064_mod_11_10() -> None:
    """Known MOD 11-10 values (as used for Croatian OIB and German tax ids)."""
    assert national_id_check_digit("6963032907") == 8  # OIB 69630329078
    assert national_id_check_digit("6943515153") == 0  # OIB 69435151530
    assert national_id_check_digit("123456789") == 7
    assert national_id_normalise("1234567897") == "1234567897"
    assert national_id_normalise("123 456 7897") == "1234567897"
    assert national_id_normalise("1234567890") is None
    assert national_id_normalise("123456789") is None
    assert national_id_normalise("12345678970") is None
    with pytest.raises(ValueError):
        national_id_check_digit("12a")


@given(st.text(alphabet="0123456789", min_size=9, max_size=9), st.integers(0, 8), st.integers(1, 9))
def test_national_identifier_catches_any_single_wrong_digit(
    body: str, position: int, shift: int
) -> None:
    """Changing any one of the first 9 digits makes the identifier invalid."""
    valid = body + str(national_id_check_digit(body))
    assert national_id_normalise(valid) == valid
    wrong_digit = str((int(body[position]) + shift) % 10)
    changed = body[:position] + wrong_digit + body[position + 1 :] + valid[-1]
    assert national_id_normalise(changed) is None


def test_national_id_messages_tell_format_from_checksum() -> None:
    """A 10-digit number with a wrong check digit gets a different message from bad format."""
    question = q("national_id", label="National identifier")
    assert "one of the numbers is wrong" in parse(question, q="1234567890").errors[0].message
    assert "correct format" in parse(question, q="12345").errors[0].message
    assert question_display(question, "1234567897", "en") == "123 456 7897"


# --- Choices ---------------------------------------------------------------------------------


def test_choice_accepts_only_its_options() -> None:
    """A tampered value is refused; labels show in the person's language."""
    question = q("choice", "colour", label="Colour", options=COLOURS)
    assert parse(question, colour="blue").value == "blue"
    assert parse(question, colour="purple").errors[0].message == "Select one of the options"
    assert parse(question, colour="").errors == [FieldError("colour", "Select colour")]
    assert question_display(question, "blue", "cy") == "Glas"
    assert question_display(question, "purple", "en") == ""


def test_yes_no_is_yes_or_no() -> None:
    """yesno stores "yes" or "no" and asks to select one."""
    question = q("yesno", "car", label="Do you have a car?")
    assert parse(question, car="yes").value == "yes"
    assert parse(question, car="no").value == "no"
    assert parse(question, car="maybe").errors
    assert parse(question, car=[]).errors == [FieldError("car", "Select yes or no")]
    assert question_display(question, "yes", "en") == "Yes"


def test_checkboxes_keep_option_order_and_limits() -> None:
    """Selected values are kept in option order; min/max_selected apply."""
    question = q(
        "checkboxes",
        "colours",
        label="Colours",
        options=COLOURS,
        rules={"min_selected": 1, "max_selected": 2},
    )
    assert parse(question, colours=["green", "red", "red"]).value == ["red", "green"]
    assert parse(question, colours=["red", "blue", "green"]).errors[0].message == (
        "Select no more than 2 options"
    )
    assert parse(question, colours=["red", "pink"]).errors
    assert parse(question, colours=[]).errors[0].message == "Select colours"
    optional = q("checkboxes", "colours", options=COLOURS, required=False)
    assert parse(optional, colours=[]).value == []
    assert question_display(question, ["red", "blue"], "cy") == ["Coch", "Glas"]
    assert question_initial(question, ["red"]) == {"colours": ["red"]}


# --- Address ---------------------------------------------------------------------------------


def _address_fields(**overrides: str) -> dict[str, str]:
    fields = {
        "home-line1": "4 Abbey Road",
        "home-line2": "",
        "home-town": "Kingsbridge",
        "home-county": "",
        "home-postcode": "kb12ab",
    }
    fields.update(overrides)
    return fields


def test_address_is_parsed_and_postcode_normalised() -> None:
    """An address becomes a mapping of five lines with a formatted postcode."""
    question = q("address", "home", label="Address")
    result = parse(question, **_address_fields())
    assert result.value == {
        "line1": "4 Abbey Road",
        "line2": "",
        "town": "Kingsbridge",
        "county": "",
        "postcode": "KB1 2AB",
    }
    assert question_display(question, result.value, "en") == [
        "4 Abbey Road",
        "Kingsbridge",
        "KB1 2AB",
    ]
    assert question_initial(question, result.value)["home-postcode"] == "KB1 2AB"


def test_address_errors_point_at_each_input() -> None:
    """Each missing or wrong part has its own error linked to its input."""
    question = q("address", "home", label="Address")
    result = parse(question, **_address_fields(**{"home-line1": "", "home-postcode": "NOT A CODE"}))
    assert [error.field for error in result.errors] == ["home-line1", "home-postcode"]
    empty = parse(question)
    assert empty.errors == [
        FieldError("home-line1", "Enter address line 1, typically the building and street")
    ]
    assert question_check(
        question, {"line1": "x", "town": "y", "postcode": "KB1 2AB", "evil": 1}, "en"
    )


def test_postcode_lookup_uses_the_local_fictional_data_set() -> None:
    """Lookup normalises the postcode and returns address answers for the demo areas."""
    assert postcode_normalise(" kb1-2ab ") == "KB1 2AB"
    assert postcode_normalise("KB12AB") == "KB1 2AB"
    assert postcode_normalise("SW1A 1AA") == "SW1A 1AA"
    assert postcode_normalise("12345") is None
    assert postcode_normalise(None) is None
    for postcode, town in (
        ("kb1 2ab", "Kingsbridge"),
        ("AH34CD", "Aberhafren"),
        ("nm5 6ef", "Northmoor"),
    ):
        found = address_lookup(postcode)
        assert found, postcode
        assert all(address["town"] == town for address in found)
        assert set(found[0]) == {"line1", "line2", "town", "county", "postcode"}
        assert question_check(q("address", "home"), found[0], "en") == []
        assert town in address_label(found[0])
    assert address_lookup("ZZ9 9ZZ") == []
    assert address_lookup("nonsense") == []
    found = address_lookup("KB1 2AB")
    found[0]["line1"] = "changed"
    assert address_lookup("KB1 2AB")[0]["line1"] != "changed"


# --- Files -----------------------------------------------------------------------------------


def test_file_answers_are_lists_of_document_ids() -> None:
    """Files are document UUIDs within max_files; at least one when required."""
    question = q("file", "proof", label="Proof", rules={"max_files": 2})
    one, two, three = (str(uuid.uuid4()) for _ in range(3))
    assert question_check(question, [one], "en") == []
    assert question_clean(question, [one.upper(), one], "en") == ([one], [])
    assert question_check(question, [], "en") == [FieldError("proof", "Upload a file")]
    assert question_check(question, None, "en") == [FieldError("proof", "Upload a file")]
    assert question_check(question, [one, two, three], "en")[0].message == (
        "Upload no more than 2 files"
    )
    assert question_check(question, ["not-a-uuid"], "en")
    assert question_check(question, one, "en")
    optional = q("file", "photos", required=False)
    assert question_check(optional, [], "en") == []
    assert question_display(question, [one, two], "en") == "2 files uploaded"
    assert parse(question, proof=[one]).value == [one]


# --- Never raising ---------------------------------------------------------------------------

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=40)
    | st.sampled_from(["", "yes", "2026-02-30", "AB123456C", "£12", "KB1 2AB"]),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(
            st.sampled_from(["line1", "line2", "town", "county", "postcode"]) | st.text(max_size=5),
            children,
            max_size=6,
        )
    ),
    max_leaves=25,
)


def _sample_questions() -> list[Question]:
    rules: dict[str, dict[str, Any]] = {
        "text": {"pattern": "[a-z]+", "min_length": 2},
        "number": {"min": -5, "max": 5},
        "money": {"min": 0, "max": 100},
        "date": {"min_date": "today-P10Y", "max_date": "today+P1Y"},
        "checkboxes": {"min_selected": 1, "max_selected": 2},
        "file": {"max_files": 2},
    }
    return [
        q(
            kind,
            rules=rules.get(kind, {}),
            options=COLOURS if kind in ("choice", "checkboxes") else (),
            required=required,
        )
        for kind in QUESTION_TYPES
        for required in (True, False)
    ]


SAMPLE_QUESTIONS = _sample_questions()


@given(st.sampled_from(SAMPLE_QUESTIONS), JSON, st.sampled_from(["en", "cy"]))
@settings(max_examples=600, deadline=None)
def test_check_never_raises_on_any_json(question: Question, value: object, language: str) -> None:
    """check, clean, display and initial take any JSON value without raising."""
    errors = question_check(question, value, language)
    assert all(isinstance(error, FieldError) and error.message for error in errors)
    cleaned, clean_errors = question_clean(question, value, language)
    assert (cleaned is None) or not clean_errors
    if not clean_errors and cleaned is not None:
        assert question_check(question, cleaned, language) == []
    question_display(question, value, language)
    question_initial(question, value)


@given(
    st.sampled_from(SAMPLE_QUESTIONS),
    st.dictionaries(
        st.sampled_from(
            ["q", "q-day", "q-month", "q-year", "q-line1", "q-town", "q-postcode", "other"]
        ),
        st.lists(st.text(max_size=30), max_size=3),
        max_size=6,
    ),
)
@settings(max_examples=600, deadline=None)
def test_parse_never_raises_on_any_input(question: Question, data: dict[str, list[str]]) -> None:
    """parse takes any submitted strings; a value it returns passes check."""
    result = question_parse(question, data, "en")
    assert isinstance(result.raw, dict)
    if result.errors:
        assert result.value is None
    elif result.value is not None:
        assert question_check(question, result.value, "en") == []


@given(st.text(max_size=60))
@settings(max_examples=300, deadline=None)
def test_normalisers_never_raise(text: str) -> None:
    """The text normalisers return a value or None for any text."""
    for function in (
        money_parse,
        phone_normalise,
        nino_normalise,
        national_id_normalise,
        postcode_normalise,
    ):
        function(text)


@given(st.sampled_from([k for k in SAMPLE_QUESTIONS if k.type != "file"]), JSON)
@settings(max_examples=200, deadline=None)
def test_initial_then_parse_round_trips_valid_values(question: Question, value: object) -> None:
    """A valid stored value shown in the form and sent back parses to the same value."""
    cleaned, errors = question_clean(question, value, "en")
    if errors or cleaned is None:
        return
    shown = question_initial(question, cleaned)
    data = {name: raw if isinstance(raw, list) else [raw] for name, raw in shown.items()}
    assert question_parse(question, data, "en").value == cleaned


# --- Widgets ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [kind for kind in QUESTION_TYPES if kind != "file"])
def test_every_widget_renders_errors_the_govuk_way(kind: str) -> None:
    """Each widget shows the error with a hidden "Error:" and links hint and error to inputs."""
    question = q(
        kind,
        "dob" if kind == "date" else "field",
        label="Date of birth" if kind == "date" else "Field",
        hint=Text("A hint", "Awgrym"),
        options=COLOURS if kind in ("choice", "checkboxes") else (),
    )
    result = question_parse(question, {}, "en")
    html = question_render(question, "en", raw=result.raw, errors=result.errors, is_heading=True)
    assert "govuk-form-group--error" in html
    assert 'class="govuk-visually-hidden">Error:</span>' in html
    assert result.errors[0].message in html
    assert f'id="{result.errors[0].field}"' in html
    assert f'id="{question.id}-hint"' in html
    assert "<h1" in html
    if kind in ("date", "choice", "checkboxes", "yesno", "address"):
        assert "<legend" in html and "govuk-fieldset__heading" in html
    else:
        assert 'class="govuk-label-wrapper"' in html
        assert f'aria-describedby="{question.id}-hint {question.id}-error"' in html


def test_widgets_refill_values_and_add_autocomplete() -> None:
    """Values come back into the inputs; autocomplete and inputmode help people type."""
    email = question_render(q("email", "email", label="Email"), "en", raw={"email": "a@b.c"})
    assert 'value="a@b.c"' in email and 'autocomplete="email"' in email
    assert 'spellcheck="false"' in email
    dob = question_render(
        q("date", "date_of_birth", label="Date of birth"),
        "en",
        raw={"date_of_birth-day": "3", "date_of_birth-month": "3", "date_of_birth-year": "2000"},
    )
    assert 'autocomplete="bday-day"' in dob and 'inputmode="numeric"' in dob
    assert 'value="2000"' in dob
    checks = question_render(q("checkboxes", "c", options=COLOURS), "en", raw={"c": ["blue"]})
    assert checks.count(" checked") == 1 and 'value="blue" checked' in checks
    name = question_render(q("text", "n", prefill="full_name"), "en", is_heading=False)
    assert 'autocomplete="name"' in name and "<h1" not in name
    money = question_render(q("money", "m"), "en")
    assert "govuk-input__prefix" in money and 'inputmode="decimal"' in money


def test_whole_date_errors_highlight_every_part() -> None:
    """A date out of range marks all three inputs; a missing month marks only the month."""
    question = q("date", "dob", label="Date of birth", rules={"max_date": "today"})
    fields = {"dob-day": ["1"], "dob-month": ["1"], "dob-year": ["2030"]}
    result = question_parse(question, fields, "en")
    html = question_render(question, "en", raw=result.raw, errors=result.errors)
    assert html.count("govuk-input--error") == 3
    missing = question_parse(question, {"dob-day": ["1"], "dob-year": ["2000"]}, "en")
    html = question_render(question, "en", raw=missing.raw, errors=missing.errors)
    assert html.count("govuk-input--error") == 1


def test_address_widget_offers_lookup_and_manual_entry() -> None:
    """The address widget has a Find address button, a list when given, and manual inputs."""
    question = q("address", "home", label="Address")
    plain = question_render(question, "en")
    assert 'name="action" value="lookup:home"' in plain
    assert 'name="home-line1"' in plain and 'autocomplete="postal-code"' in plain
    assert "<select" not in plain
    listed = question_render(
        question, "cy", address_choices=[("0", "4 Abbey Road, Kingsbridge, KB1 2AB")]
    )
    assert 'name="home-choice"' in listed and "4 Abbey Road, Kingsbridge" in listed
    assert 'name="home-line1"' in listed


def test_widget_text_is_escaped() -> None:
    """Labels and submitted values are escaped, never injected as HTML."""
    question = q("text", "n", label="<script>alert(1)</script>")
    html = question_render(question, "en", raw={"n": '"><img src=x>'})
    assert "<script>" not in html and "<img" not in html
