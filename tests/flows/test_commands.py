"""Commands, bad input and the draft's safety, through the real Application (in English)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.flows.base import decode_callback, encode_callback
from bot.services.catalogue import seed_starter_catalogue
from matching.similar import Query
from storage.database import create_sessionmaker
from storage.models import Citizen, Conversation, Proposal
from storage.workflow import review

TITLE = "A repair café in Ixelles"
DESCRIPTION = "Once a month, volunteers and a local business help neighbours fix their things."


async def start(chat: Any) -> None:
    await chat.send("/start")
    await chat.press("Start my proposal")


async def to_review(chat: Any, *, contact: str | None = "sam@example.org") -> None:
    await start(chat)
    await chat.send(TITLE)
    await chat.send(DESCRIPTION)
    await chat.send("1050")  # Ixelles (first) or Bruxelles: the citizen picks
    await chat.press("Ixelles")
    await chat.press("association")
    await chat.press("continue")
    await chat.choose("Zero waste")
    await chat.press("Done")
    if "Mine is different" in str(chat.buttons()):
        await chat.press("Mine is different")
    await chat.press("don't know")
    await chat.press("staff decide")
    await chat.press("Skip")
    if contact:
        await chat.send(contact)
    else:
        await chat.press("Skip")
    await chat.press("Yes")
    if contact:
        await chat.press("No")


async def conversation(engine: AsyncEngine, chat_id: int) -> Conversation | None:
    async with create_sessionmaker(engine)() as session:
        return await session.get(Conversation, chat_id)


async def count(engine: AsyncEngine, model: Any) -> int:
    async with create_sessionmaker(engine)() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def test_language_is_asked_when_telegram_gives_another(make_chat: Any) -> None:
    chat = make_chat("de")
    await chat.send("/start")
    assert "Choose your language" in chat.last_text()
    await chat.press("Nederlands")
    assert "Hallo" in chat.last_text() or "Start" in chat.buttons()[0][0]


async def test_nl_be_language_code_speaks_dutch(make_chat: Any, engine: AsyncEngine) -> None:
    chat = make_chat("nl-BE")
    await chat.send("/start")
    stored = await conversation(engine, chat.user_id)
    assert stored is not None and stored.language == "nl" and stored.step == "welcome"


async def test_step_progress_is_shown(make_chat: Any) -> None:
    chat = make_chat("en")
    await start(chat)
    assert "Step 1 of 11" in chat.last_text()
    await chat.send(TITLE)
    assert "Step 2 of 11" in chat.last_text()


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("Hi", "at least 5 characters"),
        ("x" * 5000, "at most 120 characters"),
        ("🙂🙂🙂🙂🙂🙂", "not only symbols"),
        ("   ", "empty message"),
    ],
)
async def test_bad_titles_get_a_hint_and_the_prompt(
    make_chat: Any, engine: AsyncEngine, text: str, hint: str
) -> None:
    chat = make_chat("en")
    await start(chat)
    await chat.send(text)
    assert hint in chat.last_text()
    assert "Step 1 of 11" in chat.last_text()
    stored = await conversation(engine, chat.user_id)
    assert stored is not None and stored.step == "title"


async def test_html_in_a_title_is_kept_and_escaped(make_chat: Any, engine: AsyncEngine) -> None:
    chat = make_chat("en")
    await to_review(chat)
    await chat.press("Title")
    await chat.send("<b>x</b> *bold* & more")
    review = chat.last_text()
    assert "&lt;b&gt;x&lt;/b&gt; *bold* &amp; more" in review
    stored = await conversation(engine, chat.user_id)
    assert stored is not None and stored.draft["title"] == "<b>x</b> *bold* & more"


@pytest.mark.parametrize(
    "content",
    [
        {
            "sticker": {
                "file_id": "s",
                "file_unique_id": "s",
                "width": 1,
                "height": 1,
                "is_animated": False,
                "is_video": False,
                "type": "regular",
            }
        },
        {"photo": [{"file_id": "p", "file_unique_id": "p", "width": 1, "height": 1}]},
        {"document": {"file_id": "d", "file_unique_id": "d"}},
        {"voice": {"file_id": "v", "file_unique_id": "v", "duration": 3}},
    ],
)
async def test_media_gets_a_hint_and_keeps_the_draft(
    make_chat: Any, engine: AsyncEngine, content: dict[str, Any]
) -> None:
    chat = make_chat("en")
    await start(chat)
    await chat.send(TITLE)
    await chat.send_raw(**content)
    assert "only read text" in chat.last_text()
    assert "Step 2 of 11" in chat.last_text()
    stored = await conversation(engine, chat.user_id)
    assert stored is not None and stored.draft["title"] == TITLE


async def test_edited_message_is_not_applied(make_chat: Any, engine: AsyncEngine) -> None:
    chat = make_chat("en")
    await start(chat)
    await chat.send(TITLE)
    await chat.edit(1, "Another title entirely")
    assert "edited messages" in chat.last_text()
    stored = await conversation(engine, chat.user_id)
    assert stored is not None and stored.draft["title"] == TITLE and stored.step == "description"


async def test_group_chat_is_told_to_write_privately(make_chat: Any, engine: AsyncEngine) -> None:
    chat = make_chat("en")
    await chat.send("/start", chat_type="group")
    assert "private chats" in chat.telegram.calls[-1][1]["text"]
    assert await count(engine, Conversation) == 0


async def test_stale_button_cannot_change_a_newer_draft(
    make_chat: Any, engine: AsyncEngine
) -> None:
    chat = make_chat("en")
    await start(chat)
    await chat.send(TITLE)
    await chat.send(DESCRIPTION)
    await chat.send("Schaerbeek")
    carrier_message = chat.last_with_buttons()
    school = chat.buttons(carrier_message)[3][1]
    await chat.press("association")
    before = await conversation(engine, chat.user_id)
    # the carrier question's button pressed again, after the draft moved on
    await chat.press_data(carrier_message, school)
    after = await conversation(engine, chat.user_id)
    assert before is not None and after is not None
    assert after.draft["carrier"] == "association"
    assert after.step == "partners"
    assert "earlier message" in chat.last_text()


@pytest.mark.parametrize("data", ["x" * 64, "carrier:association", "carrier:evil:v999", ""])
async def test_forged_callback_is_refused(make_chat: Any, engine: AsyncEngine, data: str) -> None:
    chat = make_chat("en")
    await start(chat)
    await chat.send(TITLE)
    await chat.send(DESCRIPTION)
    await chat.send("1030")
    message = chat.last_with_buttons()
    await chat.press_data(message, data)
    stored = await conversation(engine, chat.user_id)
    assert stored is not None and stored.step == "carrier" and "carrier" not in stored.draft
    answers = [p for name, p in chat.telegram.calls if name == "answerCallbackQuery"]
    assert answers[-1].get("text")


async def test_forged_value_with_the_right_version_is_refused(
    make_chat: Any, engine: AsyncEngine
) -> None:
    chat = make_chat("en")
    await start(chat)
    await chat.send(TITLE)
    await chat.send(DESCRIPTION)
    await chat.send("1030")
    message = chat.last_with_buttons()
    real = decode_callback(chat.buttons(message)[0][1])
    assert real is not None
    await chat.press_data(message, encode_callback("carrier", "<script>", real.version))
    stored = await conversation(engine, chat.user_id)
    assert stored is not None and "carrier" not in stored.draft


async def test_submit_twice_creates_one_proposal(make_chat: Any, engine: AsyncEngine) -> None:
    chat = make_chat("en")
    await to_review(chat)
    review = chat.last_with_buttons()
    submit = next(data for label, data in chat.buttons(review) if "Submit" in label)
    await chat.press_data(review, submit)
    await chat.press_data(review, submit)
    assert await count(engine, Proposal) == 1
    assert "BXL-2026-00001" in chat.last_text()


async def test_redelivered_update_is_applied_once(make_chat: Any, engine: AsyncEngine) -> None:
    chat = make_chat("en")
    await start(chat)
    update_id = await chat.send(TITLE)
    await chat.send(DESCRIPTION)
    # Telegram delivers the title's update again (e.g. after a crash before confirming it)
    message = chat.message(text=TITLE)
    await chat._process({"message": message}, update_id=update_id)
    stored = await conversation(engine, chat.user_id)
    assert stored is not None and stored.step == "where"
    assert stored.draft["description"] == DESCRIPTION


async def test_back_returns_to_the_previous_question(make_chat: Any, engine: AsyncEngine) -> None:
    chat = make_chat("en")
    await start(chat)
    await chat.send(TITLE)
    await chat.send("/back")
    assert "Step 1 of 11" in chat.last_text()
    await chat.send("A better title for it")
    stored = await conversation(engine, chat.user_id)
    assert stored is not None and stored.draft["title"] == "A better title for it"
    assert stored.step == "description"


async def test_edit_from_review_comes_back_to_review(make_chat: Any, engine: AsyncEngine) -> None:
    chat = make_chat("en")
    await to_review(chat)
    await chat.press("Place")
    await chat.send("Uccle")
    assert "Please check your proposal" in chat.last_text()
    assert "Uccle" in chat.last_text()
    await chat.press("Budget")
    await chat.send("12 000 €")
    assert "€12,000" in chat.last_text()
    stored = await conversation(engine, chat.user_id)
    assert stored is not None and stored.step == "review"


async def test_cancel_keeps_the_draft_and_start_resumes(
    make_chat: Any, engine: AsyncEngine
) -> None:
    chat = make_chat("en")
    await start(chat)
    await chat.send(TITLE)
    await chat.send("/cancel")
    assert "Paused" in chat.last_text()
    await chat.send("hello?")
    assert "on hold" in chat.last_text()
    await chat.send("/start")
    assert "Step 2 of 11" in chat.last_text()
    stored = await conversation(engine, chat.user_id)
    assert stored is not None and stored.draft["title"] == TITLE


async def test_start_mid_flow_offers_to_resume(make_chat: Any) -> None:
    chat = make_chat("en")
    await start(chat)
    await chat.send(TITLE)
    await chat.send("/start")
    assert TITLE in chat.last_text()
    await chat.press("Continue")
    assert "Step 2 of 11" in chat.last_text()


async def test_new_asks_before_discarding(make_chat: Any, engine: AsyncEngine) -> None:
    chat = make_chat("en")
    await start(chat)
    await chat.send(TITLE)
    await chat.send("/new")
    await chat.press("No, continue")
    stored = await conversation(engine, chat.user_id)
    assert stored is not None and stored.draft["title"] == TITLE
    await chat.send("/new")
    await chat.press("Yes, start")
    stored = await conversation(engine, chat.user_id)
    assert stored is not None and "title" not in stored.draft and stored.step == "title"


async def test_language_switch_keeps_the_draft(make_chat: Any, engine: AsyncEngine) -> None:
    chat = make_chat("en")
    await start(chat)
    await chat.send(TITLE)
    await chat.send("/language")
    await chat.press("Français")
    assert "Étape 2 sur 11" in chat.last_text()
    stored = await conversation(engine, chat.user_id)
    assert stored is not None and stored.language == "fr" and stored.draft["title"] == TITLE


async def test_help_and_privacy_repeat_the_question(make_chat: Any) -> None:
    chat = make_chat("en")
    await start(chat)
    await chat.send("/help")
    sent = chat.telegram.sent(chat.user_id)
    assert "/delete_me" in sent[-2]["text"] and "Step 1 of 11" in sent[-1]["text"]
    await chat.send("/privacy")
    assert "Telegram id" in chat.telegram.sent(chat.user_id)[-2]["text"]
    await chat.send("/frobnicate")
    assert "/frobnicate" in chat.last_text()


async def test_location_is_confirmed(make_chat: Any, engine: AsyncEngine) -> None:
    chat = make_chat("en")
    await start(chat)
    await chat.send(TITLE)
    await chat.send(DESCRIPTION)
    await chat.send_location(50.8676, 4.3737)  # Schaerbeek town hall
    assert "Schaerbeek" in chat.last_text()
    await chat.press("Yes")
    stored = await conversation(engine, chat.user_id)
    assert stored is not None and stored.draft["commune"] == "21015"
    assert stored.step == "carrier"


async def test_location_outside_the_region_is_refused(make_chat: Any, engine: AsyncEngine) -> None:
    chat = make_chat("en")
    await start(chat)
    await chat.send(TITLE)
    await chat.send(DESCRIPTION)
    await chat.send_location(51.2194, 4.4025)  # Antwerp
    assert "outside the Brussels-Capital Region" in chat.last_text()


@pytest.mark.parametrize(
    ("latitude", "longitude"),
    [(200.0, 4.35), (50.85, -500.0), (math.nan, 4.35), (50.85, math.inf)],
)
async def test_a_location_that_is_no_point_on_earth_gets_the_steps_hint(
    make_chat: Any, engine: AsyncEngine, latitude: float, longitude: float
) -> None:
    """Coordinates out of range, NaN or infinite are bad input like any other at the
    "where" step: its hint (not "could not handle your message"), and the chat goes on."""
    chat = make_chat("en")
    await start(chat)
    await chat.send(TITLE)
    await chat.send(DESCRIPTION)
    await chat.send_location(latitude, longitude)
    assert "Please write a postcode or the name of a commune." in chat.last_text()
    stored = await conversation(engine, chat.user_id)
    assert stored is not None and stored.step == "where" and "latitude" not in stored.draft
    await chat.send("1030")
    stored = await conversation(engine, chat.user_id)
    assert stored is not None and stored.draft["commune"] == "21015"


@pytest.mark.parametrize(
    ("typed", "refnis"),
    [
        ("Schaarbeek", "21015"),
        ("schaerbek", "21015"),
        ("Sint-Gillis", "21013"),
        ("ixelle", "21009"),
    ],
)
async def test_commune_names_with_typos(
    make_chat: Any, engine: AsyncEngine, typed: str, refnis: str
) -> None:
    chat = make_chat("en")
    await start(chat)
    await chat.send(TITLE)
    await chat.send(DESCRIPTION)
    await chat.send(typed)
    if chat.buttons(chat.last()) and "Yes" in chat.buttons(chat.last())[0][0]:
        await chat.press("Yes")
    stored = await conversation(engine, chat.user_id)
    assert stored is not None and stored.draft["commune"] == refnis


async def test_unknown_place_and_list(make_chat: Any, engine: AsyncEngine) -> None:
    chat = make_chat("en")
    await start(chat)
    await chat.send(TITLE)
    await chat.send(DESCRIPTION)
    await chat.send("Paris")
    assert "did not find a Brussels commune" in chat.last_text()
    await chat.send("1300")
    assert "not a postcode of the Brussels-Capital Region" in chat.last_text()
    await chat.press("list")
    labels = [label for label, _data in chat.buttons()]
    assert len(labels) == 8 and "More ➡" in labels  # 5 communes a page, the region, Back
    await chat.press("More")
    await chat.press("More")
    assert "Schaerbeek / Schaarbeek" in str(chat.buttons())  # both names when they fit
    await chat.press("More")
    assert "('Woluwe-Saint-Pierre'," in str(chat.buttons())  # else the French one
    await chat.press("Previous")
    await chat.press("Previous")
    await chat.press("Jette")
    stored = await conversation(engine, chat.user_id)
    assert stored is not None and stored.draft["commune"] == "21010"


async def test_themes_are_limited_to_three(make_chat: Any, engine: AsyncEngine) -> None:
    chat = make_chat("en")
    await start(chat)
    await chat.send(TITLE)
    await chat.send(DESCRIPTION)
    await chat.press("whole region")
    await chat.press("individual")
    await chat.press("continue")
    await chat.choose()  # untick what the description suggested
    await chat.press("Done")
    answers = [p for name, p in chat.telegram.calls if name == "answerCallbackQuery"]
    assert "at least one" in answers[-1]["text"]
    for theme in ("Water", "Energy", "Culture", "Mobility"):
        await chat.press(theme)
    answers = [p for name, p in chat.telegram.calls if name == "answerCallbackQuery"]
    assert "up to 3" in answers[-1]["text"]
    stored = await conversation(engine, chat.user_id)
    assert stored is not None and stored.draft["themes"] == ["water", "energy", "culture"]


@pytest.mark.parametrize(
    ("typed", "hint"),
    [
        ("-200", "cannot be negative"),
        ("0", "zero"),
        ("999999999", "more than any call"),
        ("beaucoup", "could not read an amount"),
        ("12,345", None),
    ],
)
async def test_budget_errors(make_chat: Any, typed: str, hint: str | None) -> None:
    chat = make_chat("en")
    await start(chat)
    await chat.send(TITLE)
    await chat.send(DESCRIPTION)
    await chat.press("whole region")
    await chat.press("individual")
    await chat.press("continue")
    await chat.choose("Water")
    await chat.press("Done")
    await chat.send(typed)
    if hint:
        assert hint in chat.last_text()
        assert "Step 8 of 11" in chat.last_text()
    else:
        assert "€12,345" in chat.telegram.sent(chat.user_id)[-1]["text"]


async def test_status_lists_only_my_proposals(make_chat: Any) -> None:
    mine, theirs = make_chat("en"), make_chat("en")
    await to_review(mine)
    await mine.press("Submit")
    await to_review(theirs, contact=None)
    await theirs.press("Submit")
    await mine.send("/status")
    status = mine.telegram.sent(mine.user_id)[-1]["text"]
    assert "BXL-2026-00001" in status and "submitted" in status
    assert "BXL-2026-00002" not in status


async def test_status_repeats_the_staffs_answer_but_never_a_note(
    make_chat: Any, engine: AsyncEngine
) -> None:
    chat = make_chat("en")
    await to_review(chat)
    await chat.press("Submit")
    async with create_sessionmaker(engine).begin() as session:
        [proposal] = (await session.execute(select(Proposal))).scalars()
        await review(
            session,
            proposal,
            actor="staff@example.brussels",
            to_status="needs_info",
            answer="Which street exactly? <Thanks>",
            note="budget seems high",
        )
    await chat.send("/status")
    status = chat.telegram.sent(chat.user_id)[-1]["text"]
    assert "The staff's answer" in status and "Which street exactly? &lt;Thanks&gt;" in status
    assert "budget seems high" not in status


async def test_delete_me_erases_personal_data(make_chat: Any, engine: AsyncEngine) -> None:
    chat = make_chat("en")
    await to_review(chat)
    await chat.press("Submit")
    await chat.send("/delete_me")
    await chat.press("No, keep")
    assert await count(engine, Citizen) == 1
    await chat.send("/delete_me")
    await chat.press("Yes, erase")
    assert "erased" in chat.last_text()
    assert await count(engine, Citizen) == 0
    assert await conversation(engine, chat.user_id) is None
    async with create_sessionmaker(engine)() as session:
        [proposal] = (await session.execute(select(Proposal))).scalars()
    assert proposal.contact_email is None and proposal.citizen_id is None
    assert proposal.anonymised_at is not None
    assert proposal.title == TITLE
    await chat.send("/status")
    assert "not submitted any proposal" in chat.last_text()  # alone, not before the welcome


async def test_start_up_registers_the_commands_in_each_language_and_warms_the_matcher(
    app: Any, telegram: Any, runner: Any, engine: Any
) -> None:
    await seed_starter_catalogue(create_sessionmaker(engine))
    compost = Query(text="Un compost collectif dans la rue", language="fr")
    assert await runner.matcher.search(compost) == []  # nothing loaded before start-up
    await app.post_init(app)  # what bot.telegram.application.serving calls
    assert await runner.matcher.search(compost)  # the index was built at start-up
    registered = [p for name, p in telegram.calls if name == "setMyCommands"]
    languages = {p.get("language_code") for p in registered}
    assert languages == {"fr", "nl", "en", None}
    french = next(p for p in registered if p.get("language_code") == "fr")
    commands = french["commands"]
    if isinstance(commands, str):
        commands = json.loads(commands)
    assert {c["command"] for c in commands} >= {"start", "new", "status", "delete_me"}
