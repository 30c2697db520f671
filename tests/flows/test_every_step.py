"""Every step survives whatever a citizen sends next (hypothesis), and every keyboard it
shows fits a phone.

One intake is walked once, keeping the conversation as it was at each step (the language
question, the welcome, every question and sub-question, the review, the thank-you, and the
detours: resume, pause, a new proposal, erasure, withdrawal). Then, from each of them,
random sequences of commands (/back, /new, /language, /cancel, /pause, /start…), the
buttons of the newest message, typed answers and the word "back" are run through the
runner. After every input: nothing raised, something answered, the conversation is at a
step the bot knows, and the newest buttons belong to that step and draft version (no
button is dead on arrival).
"""

from __future__ import annotations

import asyncio
import copy
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.flows.base import (
    BUTTON_WIDTH,
    HALF_BUTTON_WIDTH,
    Button,
    Input,
    InputKind,
    Reply,
    decode_callback,
    visible_length,
)
from bot.flows.runner import Result, Runner, Sender
from bot.services.catalogue import seed_starter_catalogue
from bot.services.matcher import Matcher
from storage.conversations import ConversationStore
from storage.database import create_engine, create_sessionmaker
from storage.models import Conversation
from tests.flows.test_update_sequences import migrated_database

pytestmark = pytest.mark.slow  # about half a minute of random walks

CHAT = 9301
SENDER = Sender(chat_id=CHAT, user_id=CHAT, language_code=None)
COMMANDS = ["back", "new", "language", "cancel", "pause", "start", "status", "help", "withdraw"]
TEXTS = [
    "Un potager partagé au parc Josaphat",
    "Cultiver des légumes ensemble avec les voisins et l'école du quartier, chaque samedi.",
    "1030",
    "schaerbek",
    "environ 2 500 €",
    "retour",
    "terug",
    "marie@example.be",
    "0470 12 34 56",
    "?",
]


def assert_fits_a_phone(reply: Reply) -> None:
    """No label is cut on a narrow screen, and the buttons do not run off it: eight rows
    at most, a label alone on its row within BUTTON_WIDTH, two side by side within
    HALF_BUTTON_WIDTH each, more (numbers, languages) within twelve characters."""
    assert len(reply.buttons) <= 8, [[b.label for b in row] for row in reply.buttons]
    for row in reply.buttons:
        width = {1: BUTTON_WIDTH, 2: HALF_BUTTON_WIDTH}.get(len(row), 12)
        for button in row:
            assert visible_length(button.label) <= width, (button.label, len(row))


def command(name: str) -> Input:
    return Input(InputKind.COMMAND, name)


def text(value: str) -> Input:
    return Input(InputKind.TEXT, value)


class Walker:
    """The runner on a SQLite file with the starter catalogue, and one citizen's chat."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="intake-every-step-"))
        self.loop = asyncio.new_event_loop()
        self.engine = create_engine(migrated_database(self.folder))
        self.sessions = create_sessionmaker(self.engine)
        self.run(seed_starter_catalogue(self.sessions))
        self.runner = Runner(
            ConversationStore(self.sessions),
            Matcher(),
            default_language="fr",
            reference_prefix="BXL",
        )
        self.buttons: list[Button] = []
        self.snapshots: dict[str, dict[str, Any]] = {}

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    def close(self) -> None:
        self.run(self.engine.dispose())
        self.loop.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def send(self, inp: Input) -> Result:
        result: Result = self.run(self.runner.handle(SENDER, inp))
        shown = [result.edit] if result.edit is not None else []
        shown += [reply for reply in result.replies if reply.buttons]
        for reply in shown:
            assert_fits_a_phone(reply)
        if shown:
            self.buttons = [button for row in shown[-1].buttons for button in row]
        elif result.replies:
            self.buttons = []
        return result

    def press(self, label: str) -> Result:
        for button in self.buttons:
            if label.casefold() in button.label.casefold():
                return self.send(Input(InputKind.BUTTON, button.data))
        raise LookupError(f"no button {label!r} in {[b.label for b in self.buttons]}")

    def conversation(self) -> Conversation | None:
        async def load() -> Conversation | None:
            async with self.sessions() as session:
                return await session.get(Conversation, CHAT)

        return self.run(load())

    def keep(self) -> None:
        """Remember the conversation as it is now, under its step's name."""
        row = self.conversation()
        assert row is not None
        self.snapshots.setdefault(
            row.step,
            {
                "step": row.step,
                "draft": copy.deepcopy(row.draft),
                "version": row.version,
                "language": row.language,
                "buttons": list(self.buttons),
            },
        )

    def restore(self, snapshot: dict[str, Any]) -> None:
        async def write() -> None:
            async with self.sessions.begin() as session:
                row = await session.get(Conversation, CHAT)
                if row is None:
                    row = Conversation(chat_id=CHAT)
                    session.add(row)
                row.step, row.draft = snapshot["step"], copy.deepcopy(snapshot["draft"])
                row.version, row.language = snapshot["version"], snapshot["language"]

        self.run(write())
        self.buttons = list(snapshot["buttons"])

    def walk(self) -> None:
        """One intake, with a typo, the commune list, every sub-question and the detours."""
        self.send(command("start"))
        self.keep()  # language
        self.press("Français")
        self.keep()  # welcome
        self.press("Commencer")
        self.keep()  # title
        self.send(text(TEXTS[0]))
        self.keep()  # description
        self.send(text(TEXTS[1]))
        self.keep()  # where
        self.send(text("schaerbek"))
        self.keep()  # where_confirm
        self.press("Non")
        self.keep()  # where_list
        self.press("Suite")  # the communes come seven at a time
        self.press("Suite")
        self.press("Schaerbeek")
        self.keep()  # carrier
        self.send(command("new"))
        self.keep()  # confirm_new
        self.press("continuer")
        self.send(command("pause"))
        self.keep()  # paused
        self.send(command("start"))
        self.press("Autre")
        self.keep()  # carrier_other
        self.send(text("Une maison de jeunes"))
        self.keep()  # partners
        self.press("école")
        self.press("Autre")
        self.press("Terminé")
        self.keep()  # partners_other
        self.send(text("La paroisse"))
        self.keep()  # themes
        self.press("Terminé")
        self.keep()  # similar (the starter catalogue has gardens)
        self.send(command("start"))
        self.keep()  # resume
        self.press("Reprendre")
        self.press("contact")  # put in touch with the first one
        self.keep()  # budget
        self.send(text("entre 2000 et 3000"))
        self.keep()  # budget_range
        self.press("2")
        self.keep()  # call: no call takes "other" carriers, which is said, with a way out
        self.press("porteur")
        self.press("ASBL")  # back to the calls, which fit now
        assert "Inspirons" in self.send(command("help")).replies[-1].text
        self.press(self.buttons[0].label)
        self.keep()  # contact_name
        self.send(text("Marie Dupont"))
        self.keep()  # contact
        self.send(text("marie@example.be"))
        self.keep()  # consent_contact
        self.press("Oui")
        self.keep()  # consent_share
        self.press("Non")
        self.keep()  # connect_consent
        self.press("Oui")
        self.keep()  # review
        self.press("Envoyer")
        self.keep()  # done
        self.send(command("withdraw"))
        self.keep()  # withdraw
        self.press("BXL")
        self.keep()  # withdraw_confirm
        self.press("Non")
        self.keep()  # idle
        self.send(command("delete_me"))
        self.keep()  # erase_confirm


@pytest.fixture(scope="module")
def walker() -> Any:
    walker = Walker()
    walker.walk()
    yield walker
    walker.close()


EXPECTED = [
    "language",
    "welcome",
    "title",
    "description",
    "where",
    "where_confirm",
    "where_list",
    "carrier",
    "carrier_other",
    "partners",
    "partners_other",
    "themes",
    "similar",
    "budget",
    "budget_range",
    "call",
    "contact_name",
    "contact",
    "consent_contact",
    "consent_share",
    "connect_consent",
    "review",
    "done",
    "resume",
    "confirm_new",
    "paused",
    "erase_confirm",
    "withdraw",
    "withdraw_confirm",
    "idle",
]

actions = st.lists(
    st.one_of(
        st.tuples(st.just("command"), st.sampled_from(COMMANDS)),
        st.tuples(st.just("press"), st.integers(0, 20)),
        st.tuples(st.just("text"), st.sampled_from(TEXTS)),
    ),
    min_size=1,
    max_size=6,
)


def test_the_walk_reaches_every_step(walker: Walker) -> None:
    assert set(EXPECTED) <= set(walker.snapshots), set(EXPECTED) - set(walker.snapshots)
    steps = set(walker.runner.steps) - {"erased"}  # erased: shown once, never stored
    assert steps <= set(walker.snapshots), steps - set(walker.snapshots)


@pytest.mark.parametrize("start", EXPECTED)
@settings(
    max_examples=12,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(sequence=actions)
def test_every_step_survives_any_sequence(
    walker: Walker, start: str, sequence: list[tuple[str, Any]]
) -> None:
    walker.restore(walker.snapshots[start])
    for kind, value in sequence:
        if kind == "command":
            result = walker.send(command(value))
        elif kind == "text":
            result = walker.send(text(value))
        elif walker.buttons:
            result = walker.send(
                Input(InputKind.BUTTON, walker.buttons[value % len(walker.buttons)].data)
            )
        else:
            continue
        assert result.replies or result.edit is not None or result.toast, (kind, value)
        row = walker.conversation()
        if row is None:  # erased: nothing is kept, and the bot said so
            assert result.replies
            return
        assert row.step in walker.runner.steps, row.step
        for button in walker.buttons:
            callback = decode_callback(button.data)
            assert callback is not None
            assert (callback.step, callback.version) == (row.step, row.version), (
                kind,
                value,
                button,
            )
