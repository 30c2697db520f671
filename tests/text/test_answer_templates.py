"""Answer templates in words (bot.text.answer_templates): each placeholder filled, unknown ones
found, no hole without a first name, the citizen's language or another one, braces kept."""

from __future__ import annotations

from typing import Any

import pytest

from bot.text.answer_templates import (
    answer_from_template,
    fill,
    first_name,
    offered_answer,
    sample_answer,
    unknown_placeholders,
)
from storage.models import AnswerTemplate, Proposal


def proposal(**fields: Any) -> Proposal:
    values: dict[str, Any] = {
        "reference": "BXL-2026-00007",
        "title": "Un compost rue Haute",
        "language": "nl",
        "call_id": "inspirons_projet",
        "contact_name": "Lotte Janssens",
    }
    values.update(fields)
    return Proposal(**values)


def template(**texts: str) -> AnswerTemplate:
    return AnswerTemplate(
        name="Test", **{f"text_{language}": text for language, text in texts.items()}
    )


VALUES: dict[str, str | None] = {
    "first_name": "Lotte",
    "reference": "BXL-2026-00007",
    "title": "Un compost",
    "call": "Inspireer de wijk",
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Dag {first_name},", "Dag Lotte,"),
        ("Voorstel {reference}.", "Voorstel BXL-2026-00007."),
        ("“{title}”", "“Un compost”"),
        ("Oproep: {call}", "Oproep: Inspireer de wijk"),
        ("{reference} {reference}", "BXL-2026-00007 BXL-2026-00007"),
    ],
)
def test_each_placeholder_is_filled(text: str, expected: str) -> None:
    assert fill(text, VALUES) == expected


def test_a_value_is_never_read_as_a_placeholder_again() -> None:
    assert fill("{title}", {**VALUES, "title": "Bring {first_name} along"}) == (
        "Bring {first_name} along"
    )


@pytest.mark.parametrize(
    ("text", "unknown"),
    [
        ("Dag {first_name}, {voornaam} en {Title}", ["voornaam", "Title"]),
        ("{title.__class__} {0} {title!r}", []),  # not words: ordinary text
        ("{firstname} {firstname}", ["firstname"]),
        ("Dag {first_name}, {reference} {title} {call}", []),
    ],
)
def test_unknown_placeholders_are_found_each_once(text: str, unknown: list[str]) -> None:
    assert unknown_placeholders(text) == unknown


def test_braces_in_ordinary_text_stay_as_written() -> None:
    text = "Zie {1}, { title }, {title.__class__}, {} en een losse { of }."
    assert unknown_placeholders(text) == []
    assert fill(text, VALUES) == text


def test_without_a_first_name_the_greeting_has_no_hole() -> None:
    assert first_name(None) is None and first_name("   ") is None
    assert first_name("  Lotte  Janssens ") == "Lotte"
    values = {**VALUES, "first_name": None}
    assert fill("Dag {first_name},\nBedankt.", values) == "Dag,\nBedankt."
    assert fill("Bonjour\t{first_name} !", values) == "Bonjour !"
    nameless = proposal(contact_name=None)
    assert answer_from_template(template(nl="Beste {first_name}, bedankt."), nameless) == (
        "Beste, bedankt."
    )


def test_the_answer_is_in_the_citizens_language_with_the_call_named_in_it() -> None:
    answer = answer_from_template(
        template(fr="Bonjour {first_name}", nl="Dag {first_name}, {reference}: {call}."),
        proposal(),
    )
    assert answer == "Dag Lotte, BXL-2026-00007: Inspireer de wijk – Project (tot € 15.000)."
    french = proposal(language="fr", call_id=None)
    assert answer_from_template(template(fr="Appel : {call}"), french) == (
        "Appel : Laissé au choix de l’équipe"
    )


def test_without_the_citizens_language_there_is_no_answer_and_the_page_falls_back() -> None:
    only_french = template(fr="Bonjour {first_name}, {call}", en="Hello {first_name}")
    assert answer_from_template(only_french, proposal()) is None
    offered = offered_answer(only_french, proposal())
    # The first other language, in the order French, Dutch, English; the call in Dutch.
    assert offered.language == "fr" and offered.fallback
    assert offered.text == "Bonjour Lotte, Inspireer de wijk – Project (tot € 15.000)"
    offered = offered_answer(template(nl="Dag {first_name}"), proposal())
    assert (offered.text, offered.language, offered.fallback) == ("Dag Lotte", "nl", False)


def test_the_preview_fills_a_made_up_proposal() -> None:
    text = "Dag {first_name}, {reference}: {title} ({call})"
    assert sample_answer(text, "nl", "inspirons_projet", named=True) == (
        "Dag Sofia, BXL-2026-00042: Een gedeelde moestuin in onze straat "
        "(Inspireer de wijk – Project (tot € 15.000))"
    )
    assert sample_answer("Bonjour {first_name},", "fr", None, named=False) == "Bonjour,"
