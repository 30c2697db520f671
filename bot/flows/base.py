"""The pieces conversations are built from: inputs, replies, steps and their outcomes.

A step is a small object: its prompt, the inputs it accepts, a parser that stores a value
in the draft or raises `Invalid` with a message in the citizen's language, and the next
step as a function of the draft. Steps never talk to Telegram; the runner does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from bot.services.matcher import Similar
from bot.services.retention import DataPolicy
from bot.text.i18n import Translator
from storage.models import Proposal
from storage.proposals import NewProposal

CALLBACK_LIMIT = 64
BUTTON_WIDTH = 33
"""Characters a button alone on its row shows on a narrow phone (Telegram cuts longer
labels): "about 30", and "Me mettre en contact avec le n° 1" must fit."""
HALF_BUTTON_WIDTH = 24
"""The same for one of two buttons side by side."""
BACK = "_back"
"""The value of the ◀ Back button under every question after the first."""


class InputKind(StrEnum):
    TEXT = "text"
    BUTTON = "button"
    LOCATION = "location"
    COMMAND = "command"
    UNSUPPORTED = "unsupported"
    EDITED = "edited"


@dataclass(frozen=True)
class Input:
    kind: InputKind
    text: str = ""
    argument: str = ""
    latitude: float | None = None
    longitude: float | None = None


@dataclass(frozen=True)
class Button:
    label: str
    data: str


@dataclass(frozen=True)
class Document:
    """A text file sent after a reply's message (UTF-8)."""

    filename: str
    content: str


@dataclass
class Reply:
    text: str
    buttons: list[list[Button]] = field(default_factory=list)
    replace: bool = False
    """Edit the message whose button was pressed instead of sending a new one."""
    documents: list[Document] = field(default_factory=list)


class Invalid(Exception):
    """Input that does not fit the step; the message is already in the citizen's language."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Outcome:
    goto: str | None = None
    stay: bool = False
    notice: str | None = None


def advance(notice: str | None = None) -> Outcome:
    """Go on to the step the current one names as next."""
    return Outcome(notice=notice)


def stay() -> Outcome:
    """Show the same step again, edited in place (toggles)."""
    return Outcome(stay=True)


def goto(step: str, notice: str | None = None) -> Outcome:
    return Outcome(goto=step, notice=notice)


def encode_callback(step: str, value: str, version: int) -> str:
    data = f"{step}:{value}:v{version}"
    if len(data.encode()) > CALLBACK_LIMIT:
        raise ValueError(f"callback_data over {CALLBACK_LIMIT} bytes: {data!r}")
    return data


@dataclass(frozen=True)
class Callback:
    step: str
    value: str
    version: int


def decode_callback(data: str) -> Callback | None:
    """`step:value:vN` → Callback; None for anything else (old formats, forged payloads)."""
    head, sep, version = data.rpartition(":v")
    step, sep2, value = head.partition(":")
    if not sep or not sep2 or not step or not version.isdigit():
        return None
    return Callback(step=step, value=value, version=int(version))


class ChatPort(Protocol):
    """What a citizen's step may ask of the rest of the program, for its own chat (storage,
    matching, what others are told). `bot.services.chat.ChatServices` is the one the runner
    gives; steps know only this."""

    data_policy: DataPolicy
    """Who is responsible for the data and how long it is kept (/privacy)."""

    chat_id: int
    erased: bool
    """True once the citizen erased their data in this update (nothing more is stored)."""

    async def similar(self, draft: dict[str, Any], language: str) -> list[Similar]: ...

    async def submit(self, new: NewProposal, draft: dict[str, Any]) -> str: ...

    async def my_proposals(self) -> list[Proposal]: ...

    async def withdrawable(self) -> list[Proposal]: ...

    async def withdraw(self, reference: str) -> bool: ...

    async def attach_reply(self, text: str) -> str | None: ...

    async def erase_me(self) -> int: ...

    async def my_data(self) -> tuple[dict[str, Any], list[Proposal]]:
        """The citizen's copy of their data (`bot.text.my_data.data_copy`), and their
        proposals."""
        ...


@dataclass
class Context:
    """What a step sees: the draft, the language and what it may ask of the program."""

    draft: dict[str, Any]
    t: Translator
    version: int
    services: ChatPort
    step: str = ""

    def _(self, message: str) -> str:
        return self.t.gettext(message)

    def switch_language(self, language: str) -> None:
        self.t = Translator(language)

    def button(self, label: str, value: str, step: str | None = None) -> Button:
        return Button(label, encode_callback(step or self.step, value, self.version))


def visible_length(label: str) -> int:
    """Characters a label takes on screen: emoji variation selectors take none."""
    return len(label.replace("\ufe0f", ""))


def rows(buttons: Sequence[Button], per_row: int) -> list[list[Button]]:
    return [list(buttons[i : i + per_row]) for i in range(0, len(buttons), per_row)]


class Step:
    """One question of a conversation. Subclasses override what they accept."""

    name: str = ""
    progress: int | None = None
    """The number shown as "step N of M"; sub-steps share their parent's number."""
    back_to: str | None = None
    """Where /back returns to after this step, when not the step itself: a sub-step whose
    prompt needs what its parent has just stored (a commune to confirm) names its parent."""

    def prompt(self, ctx: Context) -> Reply:
        raise NotImplementedError

    async def enter(self, ctx: Context) -> None:
        """Prepare what the step shows (suggestions, matches) when it becomes current."""

    def skip(self, ctx: Context) -> bool:
        """Pass over this step (decided after `enter`)."""
        return False

    def skip_notice(self, ctx: Context) -> str | None:
        """One line that says why the step was passed over, so that the step counter
        does not jump a number unexplained."""
        return None

    def next(self, ctx: Context) -> str:
        raise NotImplementedError

    async def on_text(self, ctx: Context, text: str) -> Outcome:
        raise Invalid(ctx._("Please use the buttons below."))

    async def on_button(self, ctx: Context, value: str) -> Outcome:
        raise Invalid(ctx._("This button does not belong to this question."))

    async def on_location(self, ctx: Context, latitude: float, longitude: float) -> Outcome:
        raise Invalid(ctx._("A location is not what this question asks for."))
