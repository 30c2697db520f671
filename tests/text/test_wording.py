"""The house rules of the language review, on the fr and nl catalogs.

- French: a no-break space (U+00A0), never an ordinary one, before : ; ! ? » and after «.
- Dutch: one register per audience. Citizens and coaches are addressed with je, staff (the
  back-office and the Telegram staff group) with u; a message's audience is read from where
  the code uses its msgid.
- Terminology: Dutch "concept" (not "ontwerp") for a draft, "medewerkers" (not "personeel"),
  "behandelaar" (not "beoordelaar"); French "l’équipe" (not "le personnel"), "gestionnaire"
  (not "relecteur").
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest
from babel.messages.catalog import Message
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bot.text.i18n import LOCALE_DIR
from bot.text.staff_summary import assigned_several_to_you

BOT = Path(__file__).parents[2] / "bot"
KEYWORDS = {"N_": None, "_": None, "gettext": None, "ngettext": (1, 2)}
METHOD_MAP = [("**.py", "python"), ("backoffice/templates/**.html", "jinja2")]

# Spans whose spaces are not the translator's typography: placeholders, HTML tags, URLs,
# commands, and literals the reader types or copies as they are.
LITERALS = ("Authorization: Bearer <token>",)
PROTECTED = re.compile(
    "|".join(
        [re.escape(literal) for literal in LITERALS]
        + [
            r"\{[a-z_]*\}",  # {name}
            r"%\([a-z_]+\)[sd]",  # %(name)s
            r"</?[a-z]+[^>]*>",  # <b>, <a href="…">
            r"https?://\S+",  # URLs
            r"(?<!\w)/[a-z_]+",  # /start, /privacy
        ]
    )
)
FRENCH_SPACE = re.compile(r" [:;!?»]|« ")

# Audiences by where a msgid is used (paths under bot/); every other place is the citizens'.
STAFF_PLACES = ("backoffice/", "services/staff_take.py", "text/staff_summary.py")
COACH_PLACES = ("flows/coach.py", "services/coach_alerts.py", "services/coaching.py")
AUDIENCE_OF_MSGID = {
    # the /coach entry of a linked coach's command menu (bot/telegram/commands.py)
    "Coach menu: what you follow, alerts": "coach",
}
# Dutch forms that belong to the other register: staff read u, citizens and coaches je.
NOT_FOR = {
    "citizen": re.compile(r"\b(u|uw|uzelf)\b", re.IGNORECASE),
    "coach": re.compile(r"\b(u|uw|uzelf)\b", re.IGNORECASE),
    "staff": re.compile(r"\b(je|jij|jou|jouw|jezelf)\b", re.IGNORECASE),
}

AVOIDED = {
    "fr": re.compile(r"\b(?:le|du|au)\s+personnel\b|^personnel$|\brelect(?:eur|rice)s?\b", re.I),
    "nl": re.compile(r"ontwerp|personeel|beoordelaar", re.IGNORECASE),
}


@cache
def messages(language: str) -> tuple[Message, ...]:
    with (LOCALE_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return tuple(m for m in read_po(po) if m.id)


def key(message: Message) -> str:
    return message.id[0] if isinstance(message.id, tuple) else message.id


def strings(message: Message) -> tuple[str, ...]:
    return message.string if isinstance(message.string, tuple) else (message.string,)


def audience_of_place(path: str) -> str:
    if path.startswith(STAFF_PLACES):
        return "staff"
    if path.startswith(COACH_PLACES):
        return "coach"
    return "citizen"


@cache
def audiences() -> dict[str, frozenset[str]]:
    """Each msgid of the code → who reads it (a msgid used in several places may have several)."""
    found: dict[str, set[str]] = {}
    for path, _line, message, _comments, _context in extract_from_dir(
        str(BOT), method_map=METHOD_MAP, keywords=KEYWORDS, comment_tags=()
    ):
        msgid = message[0] if isinstance(message, tuple) else message
        found.setdefault(msgid, set()).add(audience_of_place(path.replace("\\", "/")))
    for msgid, audience in AUDIENCE_OF_MSGID.items():
        found[msgid] = {audience}
    return {msgid: frozenset(readers) for msgid, readers in found.items()}


def prose(text: str) -> str:
    """The text with its protected spans replaced by a neutral word."""
    return PROTECTED.sub("X", text)


# ------------------------------------------------------------------ the rules themselves


@pytest.mark.parametrize(
    ("text", "wrong"),
    [
        ("Vos données\xa0: le résumé\xa0; la suite\xa0!", False),
        ("«\xa0{title}\xa0» ({reference})\xa0?", False),
        ("Un jeton d’API est nécessaire\xa0: Authorization: Bearer <token>.", False),
        ('Écrivez-moi ici\xa0: <a href="{link}">{link}</a>', False),
        ("Vérifiez l’adresse https://example.be/a?b=c", False),
        ("Colonnes :", True),
        ("« %(value)s »", True),
        ("«\xa0{title} »", True),
        ("Vraiment ?", True),
        ("{title} ; la suite", True),
    ],
)
def test_the_french_space_rule(text: str, wrong: bool) -> None:
    assert bool(FRENCH_SPACE.search(prose(text))) == wrong


def test_audiences_come_from_the_code() -> None:
    readers = audiences()
    assert readers["You do not have access to this page."] == {"staff"}
    assert readers["Please send a time of day such as 18:30, or tap one of the buttons."] == {
        "coach"
    }
    assert readers["Pause; your draft is kept"] == {"citizen"}
    assert readers["Coach menu: what you follow, alerts"] == {"coach"}


# ------------------------------------------------------------------ the catalogs


def test_french_uses_no_break_spaces_around_punctuation() -> None:
    wrong = [
        string
        for message in messages("fr")
        for string in strings(message)
        if FRENCH_SPACE.search(prose(string))
    ]
    assert not wrong, "use U+00A0 before : ; ! ? » and after « in:\n" + "\n".join(wrong)


def test_dutch_keeps_one_register_per_audience() -> None:
    readers = audiences()
    wrong = []
    for message in messages("nl"):
        for audience in sorted(readers.get(key(message), ())):
            for string in strings(message):
                found = NOT_FOR[audience].search(prose(string))
                if found:
                    wrong.append(f"{audience} ({found.group()!r}): {string}")
    assert not wrong, "staff read u, citizens and coaches je:\n" + "\n".join(wrong)


@pytest.mark.parametrize("language", ["fr", "nl"])
def test_avoided_terms(language: str) -> None:
    wrong = [
        string
        for message in messages(language)
        for string in strings(message)
        if AVOIDED[language].search(string)
    ]
    assert not wrong, f"{language}: see the terminology of the language review:\n" + "\n".join(
        wrong
    )


def test_a_bulk_assignment_lists_ten_references_and_counts_the_others() -> None:
    references = [f"BXL-2026-{n:05d}" for n in range(1, 13)]
    text = assigned_several_to_you(references, "nl", "https://bo.example", "anna@example.be")
    assert text.startswith("👤 <b>12 voorstellen werden aan u toegewezen</b>\n")
    assert "BXL-2026-00010 en nog 2\n" in text and "BXL-2026-00011" not in text
    assert "Toegewezen door anna@example.be." in text
    assert '<a href="https://bo.example/">Mijn werklijst openen</a>' in text
    one = assigned_several_to_you(references[:1], "fr", "https://bo.example", "a@b.be")
    assert one.startswith("👤 <b>1 proposition vous a été attribuée</b>\nBXL-2026-00001\n")
