"""The catalogs are complete, and every translation keeps the msgid's placeholders and tags."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, time
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bot.text.i18n import LOCALE_DIR, Translator

ROOT = Path(__file__).parents[2]
PLACEHOLDER = re.compile(r"\{[a-z_]*\}")
TAG = re.compile(r"</?[a-z]+")
KEYWORDS = {"N_": None, "_": None, "gettext": None, "ngettext": (1, 2)}


def catalog(language: str) -> Catalog:
    with (LOCALE_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po)


def messages(language: str) -> list[Message]:
    return [m for m in catalog(language) if m.id]


def ids_in_code() -> set[str]:
    found = set()
    method_map = [("**.py", "python"), ("backoffice/templates/**.html", "jinja2")]
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT / "bot"), method_map=method_map, keywords=KEYWORDS, comment_tags=()
    ):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


def shape(text: str) -> tuple[Counter[str], Counter[str]]:
    return Counter(PLACEHOLDER.findall(text)), Counter(TAG.findall(text))


def test_template_is_up_to_date() -> None:
    with (LOCALE_DIR / "messages.pot").open("rb") as pot:
        template = {m.id[0] if isinstance(m.id, tuple) else m.id for m in read_po(pot) if m.id}
    missing = ids_in_code() - template
    assert not missing, f"run `make extract-messages`; not in messages.pot: {sorted(missing)}"


@pytest.mark.parametrize("language", ["fr", "nl"])
def test_catalog_is_complete(language: str) -> None:
    in_catalog = {m.id[0] if isinstance(m.id, tuple) else m.id for m in messages(language)}
    assert ids_in_code() <= in_catalog, sorted(ids_in_code() - in_catalog)
    for message in messages(language):
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(strings), f"{language}: untranslated {message.id!r}"
        assert not message.fuzzy, f"{language}: fuzzy {message.id!r}"


@pytest.mark.parametrize("language", ["fr", "nl"])
def test_translations_keep_placeholders_and_tags(language: str) -> None:
    for message in messages(language):
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        allowed = [shape(i) for i in ids]
        for string in strings:
            # a singular form may drop the count ("one proposal"); nothing else may differ
            placeholders, tags = shape(string)
            assert tags in [t for _p, t in allowed], f"{language}: tags differ in {string!r}"
            assert any(
                placeholders == p or (len(ids) == 2 and placeholders <= p) for p, _t in allowed
            ), f"{language}: placeholders differ in {string!r}"


@pytest.mark.parametrize("language", ["fr", "nl"])
def test_compiled_catalog_is_used(language: str) -> None:
    step = Translator(language).gettext("Step {number} of {total}")
    assert step != "Step {number} of {total}"


@pytest.mark.parametrize(
    ("language", "half_past", "on_the_hour", "morning"),
    [
        ("fr", "18\u00a0h\u00a030", "18\u00a0h", "7\u00a0h\u00a005"),
        ("nl", "18.30\u00a0uur", "18\u00a0uur", "7.05\u00a0uur"),
        ("en", "18:30", "18:00", "07:05"),
    ],
)
def test_a_time_of_day_in_a_sentence(
    language: str, half_past: str, on_the_hour: str, morning: str
) -> None:
    t = Translator(language)
    assert t.time(time(18, 30)) == half_past
    assert t.time(time(18, 0)) == on_the_hour
    assert t.time(time(7, 5, 59)) == morning
    # a moment is shown in Brussels time: UTC+1 in winter, UTC+2 in summer
    assert t.time(datetime(2026, 3, 5, 17, 30, tzinfo=UTC)) == half_past
    assert t.time(datetime(2026, 7, 1, 16, 30, tzinfo=UTC)) == half_past


@pytest.mark.parametrize("language", ["fr", "nl"])
def test_timestamps_have_four_digit_years(language: str) -> None:
    t = Translator(language)
    assert t.datetime(datetime(2026, 3, 5, 17, 30, tzinfo=UTC)) == "05/03/2026 18:30"
    assert t.datetime(datetime(2026, 7, 1, 16, 30, tzinfo=UTC)) == "01/07/2026 18:30"
    assert t.datetime(datetime(2026, 12, 31, 23, 5, tzinfo=UTC)) == "01/01/2027 00:05"
