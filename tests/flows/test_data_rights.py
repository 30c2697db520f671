"""/privacy and /my_data as a citizen uses them: the notice names the controller and the
periods of the settings; the copy holds everything stored, readable and as JSON."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.flows.runner import Runner
from bot.services.announcements import Announcer
from bot.services.matcher import Matcher
from bot.services.retention import DataPolicy
from bot.services.review import apply_review
from storage.conversations import ConversationStore
from storage.database import create_sessionmaker
from storage.models import Proposal
from storage.retention import RetentionPolicy
from tests.flows.test_commands import to_review
from tests.flows.test_erasure import NAME, PHONE_STORED, PHONE_TYPED, live_a_proposal

CONTROLLER = "Bruxelles Environnement, Avenue du Port 86C/3000, 1000 Bruxelles"
NOTE = "Très motivée, à rappeler après les congés."


@pytest.fixture
def runner(engine: AsyncEngine) -> Runner:
    store = ConversationStore(create_sessionmaker(engine))
    return Runner(
        store,
        Matcher(),
        default_language="fr",
        reference_prefix="BXL",
        announcer=Announcer(staff_chat_id=-1001234, webhook=True),
        data_policy=DataPolicy(
            controller=CONTROLLER,
            retention=RetentionPolicy(drafts=timedelta(days=30), decided=timedelta(days=180)),
        ),
    )


async def test_privacy_names_the_controller_the_periods_and_the_authority(
    make_chat: Any,
) -> None:
    chat = make_chat("nl")
    await chat.send("/privacy")
    notice = chat.last_text()  # a first message that asks something gets just the answer
    assert CONTROLLER in notice
    assert "30 dagen" in notice and "180 dagen" in notice
    assert "Gegevensbeschermingsautoriteit" in notice and "/my_data" in notice


async def test_my_data_sends_everything_stored_readable_and_as_json(
    make_chat: Any, engine: AsyncEngine, runner: Runner
) -> None:
    chat = make_chat("fr", user_id=88_001)
    await live_a_proposal(chat)
    async with create_sessionmaker(engine).begin() as session:
        proposal = (await session.execute(select(Proposal))).scalar_one()
        await apply_review(
            session,
            runner.announcer,
            proposal,
            actor="agent@environnement.brussels",
            to_status="needs_info",
            answer="Pouvez-vous préciser le nombre de bacs ?",
            note=NOTE,
        )
    await chat.send("Six bacs, et un compost.")
    await chat.send("/my_data")
    assert any("Vos données" in m["text"] for m in chat.telegram.sent(chat.user_id)[-2:])
    files = {name: content.decode() for chat_id, name, content in chat.telegram.documents}
    assert {name.rsplit(".", 1)[1] for name in files} == {"txt", "json"}
    copy = json.loads(next(c for n, c in files.items() if n.endswith(".json")))
    summary = next(c for n, c in files.items() if n.endswith(".txt"))

    assert copy["telegram_user_id"] == 88_001 and copy["language"] == "fr"
    [mine] = copy["proposals"]
    assert mine["reference"] == proposal.reference
    assert mine["contact"] == {"name": NAME, "email": None, "phone": PHONE_STORED}
    assert mine["consents"] == {
        "contact_by_staff": True,
        "share_with_coaches_and_initiatives": True,
    }
    assert mine["location"] is not None
    kinds = [event["kind"] for event in mine["history"]]
    assert kinds == ["status", "status", "answer", "reply", "status"]  # no "note"
    assert {event["by"] for event in mine["history"]} == {"citizen", "staff"}
    recipients = [share["who"] for share in mine["shared_with"]]
    assert recipients == ["staff", "staff_group", "external_back_office"]
    assert mine["shared_with"][2]["contact_details"] is True
    assert NOTE not in json.dumps(copy, ensure_ascii=False)  # internal notes stay internal

    assert proposal.reference in summary and NAME in summary and PHONE_STORED in summary
    assert "Six bacs, et un compost." in summary and NOTE not in summary
    assert "Schaerbeek" in summary and "notes internes" in summary
    assert "système de gestion des dossiers" in summary
    assert PHONE_TYPED not in summary  # stored and shown as E.164


async def test_my_data_after_erasure_holds_nothing_of_the_proposal(make_chat: Any) -> None:
    chat = make_chat("en", user_id=88_002)
    await to_review(chat, contact=None)
    await chat.press("Submit")
    await chat.send("/delete_me")
    await chat.press("Yes, erase")
    await chat.send("/my_data")
    copy = json.loads(chat.telegram.documents[-1][2])
    assert copy["proposals"] == [] and copy["language"] is None
