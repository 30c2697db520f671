"""Pure parsers for what citizens type during the proposal conversation.

No Telegram, no gettext, no I/O: each parser returns a normalised value or raises
:class:`ParseError` with a stable :class:`ParseErrorCode` (and parameters such as
``minimum``/``maximum``/``length``) that the conversation flow maps to a message
in the citizen's language.
"""

from __future__ import annotations

import contextlib
import enum
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Literal

import phonenumbers
from email_validator import EmailNotValidError, validate_email

__all__ = [
    "BUDGET_MAXIMUM_CENTS",
    "DESCRIPTION_MAX_LENGTH",
    "DESCRIPTION_MIN_LENGTH",
    "NAME_MAX_LENGTH",
    "TITLE_MAX_LENGTH",
    "TITLE_MIN_LENGTH",
    "BudgetRange",
    "ParseError",
    "ParseErrorCode",
    "display_phone",
    "parse_budget",
    "parse_contact",
    "parse_description",
    "parse_email",
    "parse_name",
    "parse_phone",
    "parse_title",
]


class ParseErrorCode(enum.Enum):
    """Why an input was refused. The values are stable (safe to store or log)."""

    EMPTY = "empty"
    UNPARSABLE = "unparsable"
    NEGATIVE = "negative"
    ZERO = "zero"
    TOO_LARGE = "too_large"  # params: maximum_cents
    TOO_PRECISE = "too_precise"
    INVALID_EMAIL = "invalid_email"
    INVALID_PHONE = "invalid_phone"
    TOO_SHORT = "too_short"  # params: minimum, length
    TOO_LONG = "too_long"  # params: maximum, length
    NO_WORDS = "no_words"


class ParseError(ValueError):
    """An input could not be accepted; ``code`` says why, ``params`` fill the message."""

    def __init__(self, code: ParseErrorCode, **params: object) -> None:
        super().__init__(code, params)
        self.code = code
        self.params: dict[str, object] = dict(params)

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_parse_error, (self.code, self.params))

    def __str__(self) -> str:
        if not self.params:
            return self.code.value
        details = ", ".join(f"{key}={value!r}" for key, value in sorted(self.params.items()))
        return f"{self.code.value} ({details})"


def _rebuild_parse_error(code: ParseErrorCode, params: dict[str, object]) -> ParseError:
    return ParseError(code, **params)


# ------------------------------------------------------------------------ budget

BUDGET_MAXIMUM_CENTS = 10_000_000 * 100
"""Largest accepted budget: 10 000 000 €."""

_MAX_BUDGET_INPUT = 100  # characters; longer input is not a budget

# Currency markers, anywhere: "€", "eur", "euro", "euros", "euro's" (Dutch plural).
_CURRENCY_RE = re.compile(r"€|(?<![a-z])eur(?:o['’]s|os|o)?(?![a-z])")
_THOUSANDS_SUFFIX_RE = re.compile(r"(?P<number>.*?) ?k")
_NUMBER_RE = re.compile(r"[0-9]+(?:[., ][0-9]+)*")
_THOUSANDS_HEAD_RE = re.compile(r"[1-9][0-9]{0,2}")
_NO_CENTS_RE = re.compile(r"[.,]-$")


def _integer_digits(integer_part: str) -> str:
    """Digits of an integer part, plain ("2500") or grouped by three ("2.500.000", "2 500")."""
    if integer_part.isdigit():
        return integer_part
    separators = set(re.sub(r"[0-9]", "", integer_part))
    if len(separators) == 1:
        groups = integer_part.split(separators.pop())
        if _THOUSANDS_HEAD_RE.fullmatch(groups[0]) and all(len(g) == 3 for g in groups[1:]):
            return "".join(groups)
    raise ParseError(ParseErrorCode.UNPARSABLE)


def _decimal_separator(number: str) -> str | None:
    """Which of "." and "," is the decimal separator of *number*, if any.

    * both present: the last one ("2.500,50", "2,500.50");
    * one of them several times: thousands separators ("1.000.000");
    * once, between a 1-3 digit group and exactly three digits: thousands
      ("2.500", "1,000": budgets under 10 € are not real);
    * otherwise, once: the decimal separator, whatever the language ("2500,50",
      "2500.50", "2,5", "12 500,5").
    """
    dots, commas = number.count("."), number.count(",")
    if dots and commas:
        return "." if number.rfind(".") > number.rfind(",") else ","
    if dots + commas != 1:
        return None
    separator = "." if dots else ","
    integer_part, fraction = number.split(separator)
    if len(fraction) == 3 and _THOUSANDS_HEAD_RE.fullmatch(integer_part):
        return None
    return separator


def _parse_amount(number: str) -> tuple[Decimal, int]:
    """The amount written in *number* and how many decimals it was written with."""
    if not _NUMBER_RE.fullmatch(number):
        raise ParseError(ParseErrorCode.UNPARSABLE)
    decimal_separator = _decimal_separator(number)
    fraction = ""
    integer_part = number
    if decimal_separator is not None:
        integer_part, _, fraction = number.rpartition(decimal_separator)
        if not fraction.isdigit():
            raise ParseError(ParseErrorCode.UNPARSABLE)
    digits = _integer_digits(integer_part)
    return Decimal(f"{digits}.{fraction or '0'}"), len(fraction)


@dataclass(frozen=True)
class BudgetRange:
    """What a citizen wrote as a budget, in euro cents: one amount (``low == high``) or a
    range ("entre 2000 et 3000", "2 à 3k"), for the flow to ask which."""

    low_cents: int
    high_cents: int

    @property
    def is_range(self) -> bool:
        return self.low_cents != self.high_cents


# Words around an amount that only say it is an estimate or a ceiling ("environ 2 500 €",
# "ongeveer 1500 euro", "maybe 5000?", "2500 € max"): the amount is what counts.
_HEDGES = (
    "environ|à peu près|a peu pres|approximativement|plus ou moins|peut-être|peut-etre|"
    "peut être|autour de|jusqu['’]à|jusqu['’]a|au maximum|maximum|max\\.?|env\\.?|vers|"
    "ongeveer|zo['’]n|rond de|rondom|rond|misschien|plusminus|pakweg|hooguit|maximaal|"
    "about|around|approximately|approx\\.?|roughly|maybe|perhaps|up to|at most|some|"
    "more or less|or so|circa|ca\\.?|\\+/-|\\+-|±|~"
)
_LEADING_HEDGE_RE = re.compile(rf"^(?:{_HEDGES})(?:\s+|(?=[0-9€]))")
_TRAILING_HEDGE_RE = re.compile(rf"\s+(?:{_HEDGES})$")
_RANGE_RE = re.compile(
    r"^(?:(?:entre|de|tussen|van|between|from)\s+)?"
    r"(?P<low>[0-9][0-9 .,]*?\s?k?)\s*"
    r"(?:-|–|—|\bà\b|\ba\b|\bet\b|\ben\b|\btot\b|\bto\b|\band\b|\btill\b"
    r"|\bou\b|\bof\b|\bor\b)"
    r"\s*(?P<high>[0-9].*)$"
)


def parse_budget(text: str, language: str) -> BudgetRange:
    """Parse an amount in euros typed by a citizen, or a range of two; in euro **cents**.

    Accepted, in any of fr/nl/en: ``"2500"``, ``"2.500"``, ``"2 500 €"`` (also
    with the no-break spaces U+00A0/U+202F that babel prints), ``"2500,50"``,
    ``"2.500,50"``, ``"2,500.50"``, ``"€ 3.500,-"``, ``"2,5k"``, ``"3K"``,
    ``"EUR 3500"``, ``"3500 euros"``, ``"15000€"``, ``"€1,500"``, ``"0,5k"`` … A
    leading "+" and a sentence-ending "." "?" or "!" are ignored, and so are the words
    that make it an estimate ("environ", "ongeveer", "about", "maybe", "max" …).

    Ranges: "entre 2000 et 3000", "2000-3000", "2 à 3k" (the "k" of the second amount
    also applies to a smaller first one), "tussen 2000 en 3000", "between 2000 and
    3000", "2000 or 3000": low and high, in that order.

    Separators: when both "." and "," appear the last one is the decimal
    separator; one of them repeated is a thousands separator; a single one
    followed by exactly three digits is a thousands separator in every language
    ("2.500" and "2,500" are 2 500 €, "2,500k" is 2 500 000 €); otherwise a single
    separator is the decimal one, whichever it is ("," is the usual one in fr/nl
    and "." in en, but "2500.50" in French is unambiguous). Spaces only group
    thousands. ``language`` is accepted for the flow's convenience: with these
    rules every accepted input means the same amount in all three languages.

    At most two decimals (``"2500,125"`` → TOO_PRECISE); with a "k" suffix the
    resulting amount must be whole cents (``"1,2345k"`` = 1 234,50 €).

    Errors (:class:`ParseError`): EMPTY (blank), UNPARSABLE (letters, two numbers
    without a range word between them, anything else), TOO_PRECISE, ZERO, NEGATIVE
    ("-200"), TOO_LARGE (above 10 000 000 €; param ``maximum_cents``).
    """
    del language  # see the docstring: the rules do not depend on it
    cleaned = unicodedata.normalize("NFKC", text).strip()
    if not cleaned:
        raise ParseError(ParseErrorCode.EMPTY)
    if len(cleaned) > _MAX_BUDGET_INPUT:
        raise ParseError(ParseErrorCode.UNPARSABLE)
    # NFKC has already turned U+00A0, U+202F, U+2007, U+2009 … into plain spaces.
    cleaned = _CURRENCY_RE.sub(" ", cleaned.lower())
    cleaned = " ".join(cleaned.split()).rstrip("?!.…").strip()  # end of sentence
    while True:
        unhedged = _TRAILING_HEDGE_RE.sub("", _LEADING_HEDGE_RE.sub("", cleaned)).strip()
        if unhedged == cleaned:
            break
        cleaned = unhedged
    found = _RANGE_RE.fullmatch(cleaned)
    if found is None:
        amount = _parse_one_amount(cleaned)
        return BudgetRange(amount, amount)
    low_text, high_text = found.group("low").strip(), found.group("high").strip()
    if high_text.endswith("k") and not low_text.endswith("k"):
        # "2 à 3k": both in thousands, unless the first is already larger ("500 - 3k")
        with contextlib.suppress(ParseError):
            if _parse_one_amount(low_text) < _parse_one_amount(high_text[:-1].strip()):
                low_text += "k"
    low, high = sorted((_parse_one_amount(low_text), _parse_one_amount(high_text)))
    return BudgetRange(low, high)


def _parse_one_amount(cleaned: str) -> int:
    """One amount, lower-cased, without currency or hedges; in cents."""
    negative = cleaned[:1] in ("-", "\u2212")
    if negative or cleaned[:1] == "+":
        cleaned = cleaned[1:].lstrip()
    multiplier = 1
    suffix = _THOUSANDS_SUFFIX_RE.fullmatch(cleaned)
    if suffix:
        multiplier = 1000
        cleaned = suffix.group("number")
    cleaned = _NO_CENTS_RE.sub("", cleaned)  # "2.500,-": Dutch for "no cents"

    amount, decimals = _parse_amount(cleaned)
    with localcontext(prec=2 * _MAX_BUDGET_INPUT):  # exact arithmetic, no rounding
        cents = amount * multiplier * 100
    if (multiplier == 1 and decimals > 2) or cents != cents.to_integral_value():
        raise ParseError(ParseErrorCode.TOO_PRECISE)
    if cents == 0:
        raise ParseError(ParseErrorCode.ZERO)
    if negative:
        raise ParseError(ParseErrorCode.NEGATIVE)
    if cents > BUDGET_MAXIMUM_CENTS:
        raise ParseError(ParseErrorCode.TOO_LARGE, maximum_cents=BUDGET_MAXIMUM_CENTS)
    return int(cents)


# ---------------------------------------------------------------- e-mail / phone


def parse_email(text: str) -> str:
    """Validate an e-mail address (syntax only, no DNS) and return its normalised form.

    Surrounding spaces, a ``mailto:`` prefix, angle brackets and a sentence-ending
    period are tolerated (``"<Marie@Skynet.be>."`` → ``"Marie@skynet.be"``: the
    domain is lower-cased, the local part kept as typed). Errors: EMPTY, INVALID_EMAIL.
    """
    candidate = text.strip()
    if not candidate:
        raise ParseError(ParseErrorCode.EMPTY)
    candidate = candidate.removeprefix("mailto:").removesuffix(".")
    if candidate.startswith("<") and candidate.endswith(">"):
        candidate = candidate[1:-1]
    try:
        return validate_email(candidate.strip(), check_deliverability=False).normalized
    except EmailNotValidError:
        raise ParseError(ParseErrorCode.INVALID_EMAIL) from None


_DIALLED_RE = re.compile(r"[^0-9+]")
_LANDLINE_FIRST_DIGITS = frozenset("12356789")  # Belgian numbers: 4 = mobile, never 0


def parse_phone(text: str) -> str:
    """Validate a phone number (Belgium by default) and return it in E.164 (``"+32470123456"``).

    National Belgian formats with any usual punctuation ("0470 12 34 56",
    "0470/12.34.56", "(02) 123 45 67") and international ones ("+32 470 12 34 56",
    "0032 2 123 45 67") are accepted.

    A Belgian landline number written with its "0" or international prefix only
    needs the right length (phonenumbers' "possible" check: its stricter validity
    check refuses numbers such as "02 123 45 67" that citizens may type); Belgian
    mobile numbers (04xx) must be valid, so that a missing digit is caught. A
    foreign number must be written with its country code ("+33 …", "0033 …") and
    be valid for its country. An extension is dropped.

    Errors: EMPTY, INVALID_PHONE.
    """
    if not text.strip():
        raise ParseError(ParseErrorCode.EMPTY)
    try:
        number = phonenumbers.parse(text, "BE")
    except phonenumbers.NumberParseException:
        raise ParseError(ParseErrorCode.INVALID_PHONE) from None
    acceptable = phonenumbers.is_valid_number(number) or (
        number.country_code == 32
        and _DIALLED_RE.sub("", text).startswith(("0", "+"))
        and phonenumbers.national_significant_number(number)[:1] in _LANDLINE_FIRST_DIGITS
        and phonenumbers.is_possible_number(number)
    )
    if not acceptable:
        raise ParseError(ParseErrorCode.INVALID_PHONE)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def display_phone(e164: str) -> str:
    """A stored number as people write it: "0470 12 34 56" in Belgium, "+33 6 12 34 56 78"
    abroad; anything unreadable as it is."""
    try:
        number = phonenumbers.parse(e164, "BE")
    except phonenumbers.NumberParseException:
        return e164
    national = phonenumbers.region_code_for_number(number) == "BE"
    style = (
        phonenumbers.PhoneNumberFormat.NATIONAL
        if national
        else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    return phonenumbers.format_number(number, style)


def parse_contact(text: str) -> tuple[Literal["email", "phone"], str]:
    """An e-mail address if *text* contains "@", else a phone number (see both parsers)."""
    if "@" in text:
        return "email", parse_email(text)
    return "phone", parse_phone(text)


# ----------------------------------------------------------------- free text

TITLE_MIN_LENGTH = 5
TITLE_MAX_LENGTH = 120
DESCRIPTION_MIN_LENGTH = 30
DESCRIPTION_MAX_LENGTH = 3000
NAME_MAX_LENGTH = 100


def _has_words(text: str) -> bool:
    """Whether *text* has at least one letter or digit (in any script)."""
    return any(char.isalnum() for char in text)


def _check_length(text: str, minimum: int, maximum: int) -> str:
    length = len(text)
    if length < minimum:
        raise ParseError(ParseErrorCode.TOO_SHORT, minimum=minimum, length=length)
    if length > maximum:
        raise ParseError(ParseErrorCode.TOO_LONG, maximum=maximum, length=length)
    return text


def parse_title(text: str) -> str:
    """A proposal title: whitespace (line breaks included) collapsed to single spaces.

    5–120 characters (code points, after collapsing). HTML/Markdown characters
    are kept as typed. Errors: EMPTY, NO_WORDS (no letter or digit, e.g. only
    emoji), TOO_SHORT (``minimum``, ``length``), TOO_LONG (``maximum``, ``length``).
    """
    title = " ".join(text.split())
    if not title:
        raise ParseError(ParseErrorCode.EMPTY)
    if not _has_words(title):
        raise ParseError(ParseErrorCode.NO_WORDS)
    return _check_length(title, TITLE_MIN_LENGTH, TITLE_MAX_LENGTH)


_BLANK_LINES_RE = re.compile(r"\n{3,}")


def parse_description(text: str) -> str:
    """A proposal description: stripped, line breaks kept, 3+ newlines collapsed to 2.

    Windows/old-Mac line endings become "\\n" and trailing spaces of each line
    are dropped (so "a\\n  \\n \\n\\nb" is "a\\n\\nb"); spaces inside lines are kept
    as typed. 30–3000 characters (code points). Errors as :func:`parse_title`.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    description = "\n".join(line.rstrip() for line in lines).strip()
    description = _BLANK_LINES_RE.sub("\n\n", description)
    if not description:
        raise ParseError(ParseErrorCode.EMPTY)
    if not _has_words(description):
        raise ParseError(ParseErrorCode.NO_WORDS)
    return _check_length(description, DESCRIPTION_MIN_LENGTH, DESCRIPTION_MAX_LENGTH)


def parse_name(text: str) -> str:
    """A citizen's name: whitespace (line breaks included) collapsed, 1–100 characters.

    Errors: EMPTY, TOO_LONG (``maximum``, ``length``).
    """
    name = " ".join(text.split())
    if not name:
        raise ParseError(ParseErrorCode.EMPTY)
    return _check_length(name, 1, NAME_MAX_LENGTH)
