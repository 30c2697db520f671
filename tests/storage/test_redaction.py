"""Finding a citizen's name, e-mail, phone and Telegram id in texts kept after erasure."""

from __future__ import annotations

import json

import pytest

from storage.redaction import REDACTED, identity_of, redact

IDENTITY = identity_of(
    731904562118,
    [("Samira Van Damme", "samira@example.org", "+32470123456"), (None, None, None)],
    ["Vous pouvez aussi m'écrire à s.vd@example.be ou au 02 512 34 56."],
)
PATTERN = IDENTITY.pattern()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Bonjour Samira,", f"Bonjour {REDACTED},"),
        ("Mme VAN DAMME a appelé", f"Mme VAN {REDACTED} a appelé"),  # "Van" alone: a word
        ("de voorstellen van de buurt", "de voorstellen van de buurt"),
        ("Samirah n'est pas Samira", f"Samirah n'est pas {REDACTED}"),
        ("samira@example.org", REDACTED),
        ("écrire à s.vd@example.be", f"écrire à {REDACTED}"),
        ("0470 12 34 56", REDACTED),
        ("0470/12.34.56", REDACTED),
        ("+32 470 12 34 56", REDACTED),
        ("0032470123456", REDACTED),
        ("au 02 512 34 56 le soir", f"au {REDACTED} le soir"),
        ("chat 731904562118", f"chat {REDACTED}"),
        ("ref 17319045621189", "ref 17319045621189"),
        ("budget 0470 €", "budget 0470 €"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text, PATTERN) == expected


def test_redact_keeps_none() -> None:
    assert redact(None, PATTERN) is None


def test_needles_match_stored_json_and_html() -> None:
    identity = identity_of(1, [("Zoë O'Brien", None, None)])
    needles = identity.needles()
    assert "Zoë O'Brien" in needles  # PostgreSQL's JSONB text
    assert json.dumps("Zoë O'Brien")[1:-1] in needles  # SQLite's JSON text: Zo\u00eb
    assert "Zoë O&#x27;Brien" in needles  # in a message's HTML
