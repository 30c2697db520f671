"""Each intake step on its own: what it accepts, what it stores, what comes next."""

from __future__ import annotations

from typing import Any

import pytest

from bot.flows.account import ACCOUNT_STEPS, status_reply
from bot.flows.base import Context, Invalid, decode_callback, encode_callback
from bot.flows.intake import STEPS, TOTAL_STEPS, new_draft
from bot.text.i18n import Translator
from tests.flows.test_every_step import assert_fits_a_phone


class FakeServices:
    chat_id = 42

    def __init__(self) -> None:
        self.submitted: list[Any] = []
        self.erased = False

    async def submit(self, new: Any, draft: dict[str, Any]) -> str:
        self.submitted.append(new)
        return "BXL-2026-00007"

    async def my_proposals(self) -> list[Any]:
        return []

    async def erase_me(self) -> int:
        self.erased = True
        return 2

    async def similar(self, draft: dict[str, Any], language: str) -> list[Any]:
        return []


def ctx(step: str, language: str = "en", **draft: Any) -> Context:
    return Context(
        {**new_draft(), **draft},
        Translator(language),
        3,
        FakeServices(),
        step,  # type: ignore[arg-type]
    )


def values(reply: Any) -> list[str]:
    return [decode_callback(b.data).value for row in reply.buttons for b in row]  # type: ignore[union-attr]


def test_every_step_has_a_prompt_in_every_language() -> None:
    full = {
        "title": "T" * 10,
        "description": "D" * 40,
        "commune": "21004",
        "carrier": "school",
        "partners": ["business"],
        "themes": ["water"],
        "budget_cents": 100,
        "_reference": "R",
        "_pending_commune": "21004",
        "_budget_range": [200_000, 300_000],
        "similar": {"choice": "connect", "name": "X", "id": "1", "kind": "initiative"},
        "_similar": [
            {"id": str(n), "kind": "initiative", "name": "N", "commune": "21004"}
            | {"contactable": True, "reasons": []}
            for n in range(1, 6)
        ],
        "_calls": [{"id": "inspirons_coup_de_pouce", "reasons": []}],
        "_withdrawable": [["BXL-2026-00001", "Un potager partagé au parc Josaphat, enfin"]],
    }
    for language in ("fr", "nl", "en"):
        for name, step in {**STEPS, **ACCOUNT_STEPS}.items():
            reply = step.prompt(ctx(name, language, **full))
            assert reply.text.strip(), name
            assert_fits_a_phone(reply)  # and the runner adds ◀ Back only where it fits
            for row in reply.buttons:
                for button in row:
                    assert len(button.data.encode()) <= 64
                    callback = decode_callback(button.data)
                    assert callback is not None and callback.step == name and callback.version == 3


def test_progress_numbers_cover_the_whole_intake() -> None:
    numbers = {step.progress for step in STEPS.values() if step.progress is not None}
    assert numbers == set(range(1, TOTAL_STEPS + 1))


@pytest.mark.parametrize(
    ("data", "decoded"),
    [
        ("carrier:school:v3", ("carrier", "school", 3)),
        ("where:c21004:v12", ("where", "c21004", 12)),
        ("x", None),
        ("carrier:school", None),
        ("carrier:school:vx", None),
        (":a:v1", None),
    ],
)
def test_callback_data_round_trip(data: str, decoded: tuple[str, str, int] | None) -> None:
    callback = decode_callback(data)
    assert (callback and (callback.step, callback.value, callback.version)) == decoded


def test_callback_data_over_64_bytes_is_refused() -> None:
    with pytest.raises(ValueError):
        encode_callback("step", "v" * 60, 1)


async def test_title_and_description() -> None:
    c = ctx("title")
    outcome = await STEPS["title"].on_text(c, "  A   garden  ")
    assert c.draft["title"] == "A garden" and outcome.goto is None
    assert STEPS["title"].next(c) == "description"
    with pytest.raises(Invalid, match="at least 30"):
        await STEPS["description"].on_text(c, "too short")


async def test_where_exact_fuzzy_ambiguous_and_region() -> None:
    step = STEPS["where"]
    c = ctx("where")
    assert (await step.on_text(c, "1030")).goto == "carrier" and c.draft["commune"] == "21015"
    c = ctx("where")
    assert (await step.on_text(c, "schaerbek")).goto == "where_confirm"
    assert c.draft["_pending_commune"] == "21015"
    c = ctx("where")
    assert (await step.on_text(c, "1040")).goto == "where_list"
    assert set(c.draft["_candidates"]) == {"21005", "21004"}
    c = ctx("where")
    await step.on_button(c, "region")
    assert c.draft["region_wide"] is True and step.next(c) == "carrier"
    with pytest.raises(Invalid):
        await step.on_text(ctx("where"), "Liège")


async def test_where_confirm_and_list() -> None:
    c = ctx("where_confirm", _pending_commune="21009")
    assert (await STEPS["where_confirm"].on_button(c, "yes")).goto == "carrier"
    assert c.draft["commune"] == "21009" and "_pending_commune" not in c.draft
    c = ctx("where_confirm", _pending_commune="21009")
    assert (await STEPS["where_confirm"].on_button(c, "no")).goto == "where_list"
    c = ctx("where_list", _candidates=["21005", "21004"])
    assert values(STEPS["where_list"].prompt(c)) == ["21004", "21005", "region"]
    with pytest.raises(Invalid):
        await STEPS["where_list"].on_button(c, "99999")


async def test_carrier_partners_themes() -> None:
    c = ctx("carrier")
    await STEPS["carrier"].on_button(c, "school")
    assert c.draft["carrier"] == "school"
    with pytest.raises(Invalid):
        await STEPS["carrier"].on_button(c, "martians")
    c = ctx("partners")
    assert (await STEPS["partners"].on_button(c, "business")).stay
    assert (await STEPS["partners"].on_button(c, "school")).stay
    assert (await STEPS["partners"].on_button(c, "business")).stay
    assert c.draft["partners"] == ["school"]
    assert "✅" in STEPS["partners"].prompt(c).buttons[1][1].label
    c = ctx("themes", themes=["water", "energy", "culture"])
    with pytest.raises(Invalid, match="up to 3"):
        await STEPS["themes"].on_button(c, "food")
    with pytest.raises(Invalid, match="at least one"):
        await STEPS["themes"].on_button(ctx("themes"), "done")


async def test_similar_is_skipped_when_nothing_is_close() -> None:
    c = ctx("similar")
    await STEPS["similar"].enter(c)
    assert STEPS["similar"].skip(c)


async def test_budget_shown_in_the_citizens_locale() -> None:
    c = ctx("budget", "fr")
    outcome = await STEPS["budget"].on_text(c, "2.500,50 €")
    assert c.draft["budget_cents"] == 250050
    assert outcome.notice == "✓ 2\u202f500,50\xa0€"
    c = ctx("budget", "nl")
    assert (await STEPS["budget"].on_text(c, "3500")).notice == "✓ €\xa03.500"
    with pytest.raises(Invalid, match="negatief"):
        await STEPS["budget"].on_text(c, "-5")
    await STEPS["budget"].on_button(c, "unknown")
    assert c.draft["budget_cents"] is None


async def test_contact_steps() -> None:
    c = ctx("contact")
    await STEPS["contact"].on_text(c, "Marie@Example.BE")
    assert c.draft["contact_email"] == "Marie@example.be" and c.draft["contact_phone"] is None
    await STEPS["contact"].on_text(c, "0470 12 34 56")
    assert c.draft["contact_phone"] == "+32470123456" and c.draft["contact_email"] is None
    with pytest.raises(Invalid, match="phone number"):
        await STEPS["contact"].on_text(c, "12")
    c = ctx("consent_share")
    assert STEPS["consent_share"].skip(c) and c.draft["consent_share"] is False
    c = ctx("consent_share", contact_name="Marie")
    assert not STEPS["consent_share"].skip(c)


async def test_review_edits_and_submits() -> None:
    c = ctx(
        "review",
        title="<b>T</b>",
        description="D" * 40,
        commune="21004",
        carrier="school",
        partners=[],
        themes=["water"],
        budget_cents=None,
    )
    text = STEPS["review"].prompt(c).text
    assert "&lt;b&gt;T&lt;/b&gt;" in text and "not known yet" in text
    assert (await STEPS["review"].on_button(c, "where")).goto == "where"
    assert c.draft["_editing"] == "review"
    await STEPS["review"].on_button(c, "submit")
    assert c.draft["_reference"] == "BXL-2026-00007"
    [submitted] = c.services.submitted  # type: ignore[attr-defined]
    assert submitted.title == "<b>T</b>" and submitted.commune_refnis == "21004"
    assert submitted.submission_key == f"chat42-{c.draft['_draft_id']}"
    assert "BXL-2026-00007" in STEPS["done"].prompt(c).text


async def test_language_step_accepts_typed_names() -> None:
    c = ctx("language", _return="budget")
    await STEPS["language"].on_text(c, "Nederlands")
    assert c.t.language == "nl" and STEPS["language"].next(c) == "budget"


async def test_erase_confirmation() -> None:
    c = ctx("erase_confirm", _return="title")
    outcome = await ACCOUNT_STEPS["erase_confirm"].on_button(c, "erase")
    assert outcome.goto == "erased" and "2 proposals" in (outcome.notice or "")
    c = ctx("erase_confirm", _return="title")
    await ACCOUNT_STEPS["erase_confirm"].on_button(c, "keep")
    assert not c.services.erased  # type: ignore[attr-defined]
    assert ACCOUNT_STEPS["erase_confirm"].next(c) == "title"


async def test_status_without_proposals() -> None:
    assert "not submitted" in (await status_reply(ctx("title"))).text


async def test_themes_are_preselected_from_the_text() -> None:
    c = ctx(
        "themes",
        "fr",
        title="Compost collectif",
        description="Des bacs à compost pour les épluchures des voisins de la rue.",
    )
    await STEPS["themes"].enter(c)
    assert "compost" in c.draft["themes"]
    assert "✅" in str(STEPS["themes"].prompt(c).buttons)
    chosen = list(c.draft["themes"])
    await STEPS["themes"].enter(c)  # coming back keeps the citizen's choice
    assert c.draft["themes"] == chosen


@pytest.mark.parametrize(
    ("language", "offer"),
    [
        ("nl", "Je idee gaat misschien ook over het thema Natuur, biodiversiteit: vink het aan"),
        ("en", "Your idea may also be about Nature, biodiversity: tick it if so."),
    ],
)
async def test_a_theme_found_by_meaning_alone_is_offered_not_ticked(
    language: str, offer: str
) -> None:
    c = ctx(
        "themes",
        language,
        title="Een ooievaarsnest",
        description="Een paal met een nest op het pleintje.",
    )
    await STEPS["themes"].enter(c)
    assert c.draft["themes"] == ["public_space"]  # "plein": the lexicons know it
    reply = STEPS["themes"].prompt(c)
    assert offer in reply.text
    await STEPS["themes"].on_button(c, "nature")  # ticked: no longer offered
    assert "nature" in c.draft["themes"]
    assert offer not in STEPS["themes"].prompt(c).text


async def test_similar_step_shows_matches_with_reasons() -> None:
    from bot.services.matcher import Similar

    class WithMatches(FakeServices):
        async def similar(self, draft: dict[str, Any], language: str) -> list[Any]:
            return [
                Similar(
                    "i3",
                    "initiative",
                    3,
                    "Samentuin Sint-Gillis",
                    "21013",
                    True,
                    0.8,
                    ("same_commune", "shared_concepts:vegetable_garden"),
                ),
                Similar("p9", "proposal", 9, None, None, False, 0.5, ("shared_themes:food",)),
            ]

    c = Context({**new_draft(), "commune": "21013"}, Translator("en"), 3, WithMatches(), "similar")  # type: ignore[arg-type]
    await STEPS["similar"].enter(c)
    assert not STEPS["similar"].skip(c)
    reply = STEPS["similar"].prompt(c)
    assert "Samentuin Sint-Gillis" in reply.text and "same commune" in reply.text
    assert "already submitted by another citizen" in reply.text
    assert values(reply) == ["ci3", "different"]  # no contact offered without consent
    with pytest.raises(Invalid):
        await STEPS["similar"].on_button(c, "cp9")
    await STEPS["similar"].on_button(c, "ci3")
    assert c.draft["similar"] == {
        "choice": "connect",
        "kind": "initiative",
        "id": "i3",
        "name": "Samentuin Sint-Gillis",
    }


async def test_call_step_lists_eligible_calls_best_first() -> None:
    c = ctx(
        "call",
        "fr",
        commune="21009",
        carrier="citizen_group",
        themes=["food"],
        budget_cents=200_000,
    )
    await STEPS["call"].enter(c)
    reply = STEPS["call"].prompt(c)
    assert values(reply)[0] == "ixelles_main_a_la_pate"
    assert "inspirons_coup_de_pouce" in values(reply) and values(reply)[-1] == "staff"
    await STEPS["call"].on_button(c, "inspirons_coup_de_pouce")
    assert c.draft["call"] == "inspirons_coup_de_pouce"
    with pytest.raises(Invalid):
        await STEPS["call"].on_button(c, "made_up_call")


async def test_review_drops_a_call_an_edit_ruled_out() -> None:
    c = ctx(
        "review",
        commune="21009",
        carrier="individual",
        themes=["food"],
        budget_cents=200_000,
        call="ixelles_main_a_la_pate",
        title="T" * 6,
        description="D" * 40,
        partners=[],
    )
    await STEPS["review"].enter(c)
    assert c.draft["call"] == "ixelles_main_a_la_pate"
    c.draft["budget_cents"] = 2_000_000
    await STEPS["review"].enter(c)
    assert c.draft["call"] is None
    assert "the staff will choose" in STEPS["review"].prompt(c).text


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("fr", "même commune · une idée proche, en d’autres mots"),
        ("nl", "zelfde gemeente · een vergelijkbaar idee, in andere woorden"),
        ("en", "same commune · a similar idea, in other words"),
    ],
)
def test_a_match_by_meaning_says_so(language: str, expected: str) -> None:
    from bot.flows.intake import similar_reasons

    assert similar_reasons(ctx("similar", language), ("same_commune", "similar_idea")) == expected
