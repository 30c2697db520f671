"""Translations (gettext catalogs in bot/locales) and locale-aware formatting (babel).

msgids are English. Strings defined at import time are marked with `N_` and translated
when shown, in the language of the person who reads them.
"""

from __future__ import annotations

import gettext
from datetime import datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Literal

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal

from storage.clock import BRUSSELS

LOCALE_DIR = Path(__file__).parent.parent / "locales"
DOMAIN = "messages"
BABEL_LOCALES: dict[str, str] = {"fr": "fr_BE", "nl": "nl_BE", "en": "en"}

Language = Literal["fr", "nl", "en"]
LANGUAGES: tuple[Language, ...] = ("fr", "nl", "en")


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

    def datetime(self, moment: datetime) -> str:
        return format_datetime(moment.astimezone(BRUSSELS), format="short", locale=self.locale)


def all_catalogs_compiled() -> bool:
    return all((LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.mo").exists() for lang in LANGUAGES)
