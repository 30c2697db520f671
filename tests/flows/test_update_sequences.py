"""Random sequences of updates from a few citizens, through the inbox and the real
Application (hypothesis, stateful): commands, texts, locations, edits, the buttons of the
newest message, stale and forged buttons, Telegram delivering an update twice or two updates
in the wrong order. After every step: no update failed or waits, each new input was
answered, a duplicate was not, and every conversation is at a step the bot knows with a
draft it can keep.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from sqlalchemy import select

from bot.flows.runner import Runner
from bot.services.matcher import Matcher
from bot.telegram.application import build_bot
from storage.conversations import ConversationStore
from storage.database import create_engine, create_sessionmaker, migrate
from storage.models import Conversation, InboxUpdate
from tests.fakes import FakeChat, FakeTelegram

TEXTS = [
    "Un potager partagé au parc Josaphat",
    "Cultiver des légumes ensemble avec les voisins et l'école du quartier, chaque samedi.",
    "1030",
    "Sint-Gillis",
    "ixelle",
    "2.500 €",
    "beaucoup",
    "marie@example.be",
    "0470 12 34 56",
    "?",
    "x" * 5000,
    "<b>bold</b> & <i>",
]
COMMANDS = [
    "/start",
    "/new",
    "/back",
    "/cancel",
    "/pause",
    "/help",
    "/status",
    "/language",
    "/delete_me",
    "/withdraw",
    "/privacy",
    "/coach",
    "/nonsense",
]
pytestmark = pytest.mark.slow

CHATS = [8101, 8102, 8103]
_template: Path | None = None


def migrated_database(folder: Path) -> str:
    """A migrated SQLite file in `folder` (copied from one migrated once per session)."""
    global _template
    if _template is None:
        _template = Path(tempfile.mkdtemp(prefix="intake-template-")) / "intake.db"
        migrate(f"sqlite+aiosqlite:///{_template}")
    shutil.copy(_template, folder / "intake.db")
    return f"sqlite+aiosqlite:///{folder}/intake.db"


class UpdateSequences(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.folder = Path(tempfile.mkdtemp(prefix="intake-sequences-"))
        self.engine = create_engine(migrated_database(self.folder))
        self.sessions = create_sessionmaker(self.engine)
        self.runner = Runner(
            ConversationStore(self.sessions),
            Matcher(),
            default_language="fr",
            reference_prefix="BXL",
        )
        self.telegram = FakeTelegram()
        self.bot = build_bot(
            "123456:TEST-token-for-flow-tests-only",
            "http://telegram.invalid/bot",
            self.runner,
            "fr",
            request=self.telegram,
            get_updates_request=FakeTelegram(),
        )
        self.run(self.bot.application.initialize())
        languages = ["fr", "nl", None]
        self.chats = {
            chat_id: FakeChat(self.bot.worker, self.telegram, chat_id, languages[n])
            for n, chat_id in enumerate(CHATS)
        }
        self.delivered: dict[int, list[tuple[int, dict[str, Any]]]] = {c: [] for c in CHATS}
        """Per chat, the updates delivered so far (id, payload), for redeliveries."""
        self.answers_expected = True

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    def teardown(self) -> None:
        self.run(self.bot.application.shutdown())
        self.run(self.engine.dispose())
        self.loop.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def deliver(self, chat: FakeChat, *payloads: dict[str, Any], reverse: bool = False) -> None:
        """Deliver new updates (all stored before any is applied; in the wrong order when
        `reverse`), and check that something answered them."""
        updates = [chat.update(payload) for payload in payloads]
        calls = len(self.telegram.calls)
        for update in reversed(updates) if reverse else updates:
            self.run(chat.worker.receive([update]))
        self.run(chat.worker.drain())
        for update, payload in zip(updates, payloads, strict=True):
            self.delivered[chat.user_id].append((update["update_id"], payload))
        assert len(self.telegram.calls) > calls, "an input got no answer"

    def message_payload(self, chat: FakeChat, **content: Any) -> dict[str, Any]:
        return {"message": chat.message(**content)}

    def text_payload(self, chat: FakeChat, text: str) -> dict[str, Any]:
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            length = len(text.split()[0])
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return self.message_payload(chat, **content)

    def keyboards(self, chat: FakeChat) -> list[dict[str, Any]]:
        """The bot's messages in the chat that have buttons, oldest first."""
        return [
            message
            for (chat_id, _mid), message in sorted(self.telegram.messages.items())
            if chat_id == chat.user_id and message.get("reply_markup")
        ]

    # ---- rules -------------------------------------------------------------------------

    @rule(chat_id=st.sampled_from(CHATS), text=st.sampled_from(TEXTS))
    def text(self, chat_id: int, text: str) -> None:
        chat = self.chats[chat_id]
        self.deliver(chat, self.text_payload(chat, text))

    @rule(chat_id=st.sampled_from(CHATS), command=st.sampled_from(COMMANDS))
    def command(self, chat_id: int, command: str) -> None:
        chat = self.chats[chat_id]
        self.deliver(chat, self.text_payload(chat, command))

    @rule(chat_id=st.sampled_from(CHATS), position=st.integers(0, 30))
    def press_the_newest(self, chat_id: int, position: int) -> None:
        chat = self.chats[chat_id]
        keyboards = self.keyboards(chat)
        if not keyboards:
            return
        buttons = chat.buttons(keyboards[-1])
        _label, data = buttons[position % len(buttons)]
        self.deliver(chat, chat.press_payload(keyboards[-1], data))

    @rule(chat_id=st.sampled_from(CHATS), age=st.integers(1, 10), position=st.integers(0, 30))
    def press_a_stale_one(self, chat_id: int, age: int, position: int) -> None:
        chat = self.chats[chat_id]
        keyboards = self.keyboards(chat)
        if len(keyboards) < 2:
            return
        message = keyboards[-1 - min(age, len(keyboards) - 1)]
        buttons = chat.buttons(message)
        _label, data = buttons[position % len(buttons)]
        self.deliver(chat, chat.press_payload(message, data))

    @rule(chat_id=st.sampled_from(CHATS), data=st.text(max_size=64))
    def press_a_forged_one(self, chat_id: int, data: str) -> None:
        chat = self.chats[chat_id]
        keyboards = self.keyboards(chat)
        if not keyboards:
            return
        self.deliver(chat, chat.press_payload(keyboards[-1], data))

    @rule(
        chat_id=st.sampled_from(CHATS), latitude=st.floats(-90, 90), longitude=st.floats(-180, 180)
    )
    def location(self, chat_id: int, latitude: float, longitude: float) -> None:
        chat = self.chats[chat_id]
        location = {"latitude": latitude, "longitude": longitude}
        self.deliver(chat, self.message_payload(chat, location=location))

    @rule(chat_id=st.sampled_from(CHATS))
    def sticker_or_edit(self, chat_id: int) -> None:
        chat = self.chats[chat_id]
        edited = chat.message(text="corrigé")
        edited["edit_date"] = edited["date"]
        sticker = {
            "file_id": "sticker",
            "file_unique_id": "sticker-u",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "type": "regular",
        }
        self.deliver(chat, {"edited_message": edited}, {"message": chat.message(sticker=sticker)})

    @rule(chat_id=st.sampled_from(CHATS), first=st.sampled_from(TEXTS + COMMANDS))
    def two_updates_in_the_wrong_order(self, chat_id: int, first: str) -> None:
        chat = self.chats[chat_id]
        payloads = [self.text_payload(chat, first), self.text_payload(chat, "/status")]
        self.deliver(chat, *payloads, reverse=True)

    @rule(chat_id=st.sampled_from(CHATS), pick=st.integers(0, 1000))
    def telegram_delivers_one_again(self, chat_id: int, pick: int) -> None:
        chat = self.chats[chat_id]
        if not self.delivered[chat_id]:
            return
        update_id, payload = self.delivered[chat_id][pick % len(self.delivered[chat_id])]
        calls = len(self.telegram.calls)
        self.run(chat.worker.receive([chat.update(payload, update_id)]))
        assert self.run(chat.worker.drain()) == 0
        assert len(self.telegram.calls) == calls, "a redelivered update was answered again"

    # ---- invariants --------------------------------------------------------------------

    @invariant()
    def every_update_was_handled(self) -> None:
        async def unfinished() -> list[tuple[int, str, str | None]]:
            async with self.sessions() as session:
                rows = await session.execute(
                    select(InboxUpdate.update_id, InboxUpdate.status, InboxUpdate.last_error).where(
                        InboxUpdate.status != "done"
                    )
                )
                return [tuple(row) for row in rows]  # type: ignore[misc]

        assert self.run(unfinished()) == []

    @invariant()
    def every_conversation_is_at_a_known_step_with_a_draft_it_can_keep(self) -> None:
        async def conversations() -> list[Conversation]:
            async with self.sessions() as session:
                return list((await session.execute(select(Conversation))).scalars())

        for conversation in self.run(conversations()):
            assert conversation.step in self.runner.steps, conversation.step
            assert isinstance(conversation.draft, dict)
            json.dumps(conversation.draft)
            assert conversation.language in (None, "fr", "nl", "en")
            assert conversation.version >= 0


TestUpdateSequences = UpdateSequences.TestCase
TestUpdateSequences.settings = settings(
    max_examples=20, stateful_step_count=25, deadline=None, database=None
)
