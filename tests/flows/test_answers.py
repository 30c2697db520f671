"""What citizens write and choose, and what the bot says back: budgets as people write
them, why no call fits and how to change that, the wish to be put in touch and the consent
that allows it, "Other" said in words, phone numbers as they are written in Belgium.
Through the real Application, in the three languages."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.services.catalogue import seed_starter_catalogue
from storage.database import create_sessionmaker
from storage.models import Proposal
from tests.flows.test_commands import DESCRIPTION, TITLE, conversation, to_review

START = {"fr": "Commencer", "nl": "Start", "en": "Start my proposal"}
TITLES = {
    "fr": "Un potager partagé au parc Josaphat",
    "nl": "Een gedeelde moestuin in het Josaphatpark",
    "en": TITLE,
}
DESCRIPTIONS = {
    "fr": "Cultiver des légumes ensemble avec les voisins et l'école du quartier, chaque samedi.",
    "nl": "Samen groenten kweken met de buren en de school van de wijk, elke zaterdag opnieuw.",
    "en": DESCRIPTION,
}
ASSOCIATION = {"fr": "ASBL", "nl": "vzw", "en": "association"}
DONE = {"fr": "Terminé", "nl": "Klaar", "en": "Done"}
ZERO_WASTE = {"fr": "Zéro déchet", "nl": "Zero waste", "en": "Zero waste"}


async def to_budget(chat: Any, language: str, carrier: str | None = None) -> None:
    await chat.send("/start")
    await chat.press(START[language])
    await chat.send(TITLES[language])
    await chat.send(DESCRIPTIONS[language])
    await chat.send("1030")
    await chat.press(carrier or ASSOCIATION[language])
    await chat.press(chat.buttons(chat.last())[-2][0])  # partners: none, continue
    themes = chat.buttons(chat.last())
    if not any(label.startswith("✅") for label, _data in themes):
        await chat.choose(ZERO_WASTE[language])
    await chat.press(DONE[language])


@pytest.mark.parametrize(
    ("language", "typed", "shown"),
    [
        ("fr", "environ 2 500 €", "2\u202f500\xa0€"),
        ("nl", "ongeveer 1500 euro", "€\xa01.500"),
        ("en", "about 5000", "€5,000"),
        ("en", "maybe 5000?", "€5,000"),
        ("en", "€1,500", "€1,500"),
    ],
)
async def test_budgets_as_people_write_them(
    make_chat: Any, engine: AsyncEngine, language: str, typed: str, shown: str
) -> None:
    chat = make_chat(language)
    await to_budget(chat, language)
    assert {"fr": "2\u202f500\xa0€", "nl": "€\xa02.500", "en": "€2,500"}[language] in (
        chat.last_text()
    )  # the example in the citizen's own number format
    await chat.send(typed)
    assert "✓ " + shown in chat.last_text()
    stored = await conversation(engine, chat.user_id)
    assert stored is not None and stored.step == "call"


@pytest.mark.parametrize(
    ("language", "typed", "low", "high"),
    [
        ("fr", "entre 2000 et 3000", "2\u202f000\xa0€", "3\u202f000\xa0€"),
        ("fr", "2 à 3k", "2\u202f000\xa0€", "3\u202f000\xa0€"),
        ("nl", "tussen 2000 en 3000", "€\xa02.000", "€\xa03.000"),
        ("en", "between 2000 and 3000", "€2,000", "€3,000"),
    ],
)
async def test_a_range_asks_which_amount(
    make_chat: Any, engine: AsyncEngine, language: str, typed: str, low: str, high: str
) -> None:
    chat = make_chat(language)
    await to_budget(chat, language)
    await chat.send(typed)
    assert [label for label, _data in chat.buttons(chat.last())][:2] == [low, high]
    await chat.press(high)
    stored = await conversation(engine, chat.user_id)
    assert stored is not None and stored.step == "call"
    assert stored.draft["budget_cents"] == 300_000 and "_budget_range" not in stored.draft


@pytest.mark.parametrize(
    ("language", "individual", "says", "fix"),
    [
        ("fr", "Moi, à titre individuel", "finance jusqu’à 3\u202f500\xa0€", "Modifier le budget"),
        ("nl", "Ikzelf, als bewoner", "financiert tot €\xa03.500", "Budget wijzigen"),
        ("en", "Me, as an individual", "funds up to €3,500", "Change the budget"),
    ],
)
async def test_when_no_call_fits_the_bot_says_why_and_offers_to_change_it(
    make_chat: Any, engine: AsyncEngine, language: str, individual: str, says: str, fix: str
) -> None:
    chat = make_chat(language)
    await to_budget(chat, language, carrier=individual)
    await chat.send("5000")
    text = chat.last_text()
    assert says in text  # Coup de pouce: the budget keeps it out
    assert "Inspir" in text and ASSOCIATION[language] in text  # Projet: who may carry it
    assert "Ixelles" not in text  # a communal call elsewhere is no way in
    labels = [label for label, _data in chat.buttons(chat.last())]
    assert any(fix in label for label in labels) and len(labels) >= 3
    await chat.press(fix)
    await chat.send("3000")  # back to the calls, which fit now
    stored = await conversation(engine, chat.user_id)
    assert stored is not None and stored.step == "call" and "_editing" not in stored.draft
    assert "Inspir" in chat.last_text() and "1." in chat.last_text()


async def test_editing_the_budget_from_the_review_says_the_call_was_dropped(
    make_chat: Any, engine: AsyncEngine
) -> None:
    chat = make_chat("en")
    await to_review(chat)
    await chat.press("Call")
    await chat.press("1")  # Coup de pouce (up to €3,500), the first that fits
    await chat.press("Budget")
    await chat.send("12 000 €")
    text = chat.last_text()
    assert "no longer fits" in text and "funds up to" in text
    assert "other call fits" in text or "other calls fit" in text
    stored = await conversation(engine, chat.user_id)
    assert stored is not None and stored.draft["call"] is None
    await chat.press("Call")
    assert "Project" in chat.last_text()  # the calls that fit now are offered


async def similar_chat(make_chat: Any, engine: AsyncEngine, language: str) -> Any:
    await seed_starter_catalogue(create_sessionmaker(engine))
    chat = make_chat(language)
    await chat.send("/start")
    await chat.press(START[language])
    await chat.send("Community composting in Uccle")
    await chat.send("Compost bins in the park where neighbours bring their vegetable peelings.")
    await chat.send("Uccle")
    await chat.press(1)  # myself
    await chat.press(chat.buttons(chat.last())[-2][0])  # no partners
    await chat.press(DONE[language])
    return chat


async def test_a_wish_to_be_put_in_touch_without_consent_gets_one_question(
    make_chat: Any, engine: AsyncEngine
) -> None:
    chat = await similar_chat(make_chat, engine, "en")
    await chat.press("Put me in touch with 1")
    await chat.send("2000")
    await chat.press("staff decide")
    await chat.send("Sam")
    await chat.send("0470123456")
    assert "✓ 0470 12 34 56" in chat.last_text()  # as it is written in Belgium
    await chat.press("Yes")
    await chat.press("No")  # not shared: the wish cannot be met
    assert "but not to share your name and contact details" in chat.last_text()
    await chat.press("Don't put me in touch")
    review = chat.last_text()
    assert "<b>Put in touch</b>: no" in review and "0470 12 34 56" in review
    await chat.press("Put in touch")  # the choice can be changed from the review
    await chat.press("Put me in touch with 1")
    review = chat.last_text()
    assert "your contact details are not shared" in review  # the review says it again
    await chat.press("Submit")
    done = chat.last_text()
    assert "Your contact details stay with the staff" in done
    assert "may also get in touch" not in done  # nothing promised that consent forbids
    async with create_sessionmaker(engine)() as session:
        proposal = (await session.execute(select(Proposal))).scalar_one()
    assert proposal.similar is not None and proposal.similar["choice"] == "connect"
    assert not proposal.consent_share and proposal.contact_phone == "+32470123456"


async def test_declining_keeps_the_idea_close_but_asks_for_no_contact(
    make_chat: Any, engine: AsyncEngine
) -> None:
    chat = await similar_chat(make_chat, engine, "fr")
    await chat.press("contact avec le n°")
    await chat.send("2000")
    await chat.press("équipe")
    await chat.press("Passer")
    await chat.press("Passer")
    await chat.press("Non")
    assert "ni nom ni coordonnées" in chat.last_text()
    await chat.press("Ne pas me mettre en contact")
    await chat.press("Envoyer")
    assert "Vos coordonnées restent auprès de l’équipe" in chat.last_text()
    async with create_sessionmaker(engine)() as session:
        proposal = (await session.execute(select(Proposal))).scalar_one()
    assert proposal.similar is not None and proposal.similar["choice"] == "no_contact"


@pytest.mark.parametrize(
    ("language", "other", "carrier_words", "partner_words", "review"),
    [
        ("fr", "Autre", "Une maison de jeunes", "La paroisse", "Autre (Une maison de jeunes)"),
        ("nl", "Andere", "Een jeugdhuis", "De parochie", "Andere (Een jeugdhuis)"),
        ("en", "Other", "A youth club", "The parish", "Other (A youth club)"),
    ],
)
async def test_other_asks_which(
    make_chat: Any,
    engine: AsyncEngine,
    language: str,
    other: str,
    carrier_words: str,
    partner_words: str,
    review: str,
) -> None:
    chat = make_chat(language)
    await chat.send("/start")
    await chat.press(START[language])
    await chat.send(TITLES[language])
    await chat.send(DESCRIPTIONS[language])
    await chat.send("1030")
    await chat.press(other)
    await chat.send(carrier_words)
    assert "✓ " + carrier_words in chat.last_text()
    await chat.press(other)  # partners: other too
    await chat.press(DONE[language])
    await chat.send(partner_words)
    stored = await conversation(engine, chat.user_id)
    assert stored is not None and stored.step == "themes"
    assert stored.draft["carrier_other"] == carrier_words
    assert stored.draft["partners_other"] == partner_words
    await chat.send("/back")  # back to the partners, not to the words about them
    stored = await conversation(engine, chat.user_id)
    assert stored is not None and stored.step == "partners"
    await chat.press(DONE[language])
    await chat.send(partner_words)
    await chat.press(DONE[language])  # themes (no catalogue here: nothing similar)
    await chat.press(1)  # budget: not known yet
    assert "✏️" in str(chat.buttons(chat.last()))  # no call takes "other": says which answer
    await chat.press(chat.buttons(chat.last())[-2][0])  # let the staff decide
    await chat.press(1)  # no name
    await chat.press(1)  # no contact
    await chat.press(1)  # may be contacted: yes
    assert review in chat.last_text() and partner_words in chat.last_text()
    await chat.press(chat.buttons(chat.last())[-2][0])  # submit (the last is ◀ Back)
    async with create_sessionmaker(engine)() as session:
        proposal = (await session.execute(select(Proposal))).scalar_one()
    assert (proposal.carrier, proposal.carrier_other) == ("other", carrier_words)
    assert proposal.partners == ["other"] and proposal.partners_other == partner_words
