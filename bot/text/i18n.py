"""Translations (gettext catalogs in bot/locales) and locale-aware formatting (babel).

msgids are English. Strings defined at import time are marked with `N_` and translated
when shown, in the language of the person who reads them.
"""

from __future__ import annotations

import gettext
from datetime import datetime
from datetime import time as time_of_day
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Literal

from babel import Locale
from babel.dates import format_date, format_datetime, format_time
from babel.lists import format_list
from babel.numbers import format_currency, format_decimal

from storage.clock import BRUSSELS

LOCALE_DIR = Path(__file__).parent.parent / "locales"
DOMAIN = "messages"
BABEL_LOCALES: dict[str, str] = {"fr": "fr_BE", "nl": "nl_BE", "en": "en"}

Language = Literal["fr", "nl", "en"]
LANGUAGES: tuple[Language, ...] = ("fr", "nl", "en")


TIME_PATTERNS: dict[str, tuple[str, str]] = {
    "fr": ("H'\u00a0h\u00a0'mm", "H'\u00a0h'"),
    "nl": ("H.mm'\u00a0uur'", "H'\u00a0uur'"),
    "en": ("HH:mm", "HH:mm"),
}
"""A time of day in a sentence, as (pattern with minutes, pattern on the hour): "18 h 30" and
"18 h", "18.30 uur" and "18 uur", "18:30". Buttons keep "18:30", which the parser accepts."""

DATETIME_PATTERNS: dict[str, str] = {"fr": "dd/MM/yyyy HH:mm", "nl": "dd/MM/yyyy HH:mm"}
"""Timestamps in tables, with 4-digit years (babel's "short" gives "5/03/26 18:30" in fr_BE)."""


LANGUAGE_NAMES = {"fr": "Français", "nl": "Nederlands", "en": "English"}
"""Each language in its own words, as people pick it."""


def N_(message: str) -> str:
    """Mark a string for extraction; it is translated later, where it is shown."""
    return message


def language_from_telegram(language_code: str | None) -> Language | None:
    """`nl-BE` → nl; None when Telegram's language is not one we speak."""
    if not language_code:
        return None
    prefix = language_code.lower().replace("_", "-").split("-")[0]
    for language in LANGUAGES:
        if prefix == language:
            return language
    return None


@cache
def _catalog(language: str) -> gettext.NullTranslations:
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=[language], fallback=language == "en")


class Translator:
    """Everything a message needs to speak one language: gettext and babel formatting."""

    def __init__(self, language: str) -> None:
        self.language = language if language in LANGUAGES else "en"
        self.locale = BABEL_LOCALES[self.language]
        self._catalog = _catalog(self.language)

    def gettext(self, message: str) -> str:
        return self._catalog.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self._catalog.ngettext(singular, plural, n)

    def money(self, cents: int) -> str:
        """An amount in euros, without decimals when it is whole: "2 500 €", "€ 2.500", "€2,500"."""
        pattern = Locale.parse(self.locale).currency_formats["standard"].pattern
        if cents % 100 == 0:
            pattern = pattern.replace(".00", "")
        return format_currency(
            Decimal(cents) / 100, "EUR", format=pattern, locale=self.locale, currency_digits=False
        )

    def number(self, value: float) -> str:
        return format_decimal(value, locale=self.locale)

    def date(self, moment: datetime) -> str:
        return format_date(moment.astimezone(BRUSSELS), format="medium", locale=self.locale)

    def time(self, moment: time_of_day | datetime) -> str:
        """A time of day in a sentence: "18 h 30", "18 h" (fr); "18.30 uur", "18 uur" (nl);
        "18:30" (en). A datetime is shown in Brussels time; seconds are dropped."""
        if isinstance(moment, datetime):
            moment = moment.astimezone(BRUSSELS).time()
        with_minutes, on_the_hour = TIME_PATTERNS[self.language]
        pattern = on_the_hour if moment.minute == 0 else with_minutes
        return format_time(moment.replace(tzinfo=None), format=pattern, locale=self.locale)

    def either(self, items: list[str]) -> str:
        """ "Nature, Eau ou Énergie" / "Natuur, Water of Energie" / "Nature, Water, or Energy"."""
        return format_list(items, style="or", locale=self.locale) if items else ""

    def datetime(self, moment: datetime) -> str:
        """A timestamp in Brussels time: "05/03/2026 18:30" (fr, nl), babel's short format (en)."""
        pattern = DATETIME_PATTERNS.get(self.language, "short")
        return format_datetime(moment.astimezone(BRUSSELS), format=pattern, locale=self.locale)


def all_catalogs_compiled() -> bool:
    return all((LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.mo").exists() for lang in LANGUAGES)
