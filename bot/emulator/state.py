"""What the emulator holds: the bot, the chats and their messages, the updates waiting for
``getUpdates``, the injected faults and the log of attempts."""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BOT_USER: dict[str, Any] = {
    "id": 1000000,
    "is_bot": True,
    "first_name": "Intake Bot",
    "username": "intake_demo_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
    "can_connect_to_business": False,
    "has_main_web_app": False,
}

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64

ALL_UPDATE_TYPES = frozenset(
    (
        "message edited_message channel_post edited_channel_post business_connection "
        "business_message edited_business_message deleted_business_messages message_reaction "
        "message_reaction_count inline_query chosen_inline_result callback_query shipping_query "
        "pre_checkout_query purchased_paid_media poll poll_answer my_chat_member chat_member "
        "chat_join_request chat_boost removed_chat_boost"
    ).split()
)
# What Telegram delivers when allowed_updates was never set (or set to an empty list).
DEFAULT_UPDATE_TYPES = ALL_UPDATE_TYPES - {
    "chat_member",
    "message_reaction",
    "message_reaction_count",
}

# Free-text parameters are never JSON-decoded, even if they look like JSON ("[1, 2]").
TEXT_PARAMS = frozenset(
    (
        "text caption title description short_description name question explanation address "
        "first_name last_name url callback_query_id emoji photo document sticker parse_mode "
        "language_code action inline_message_id business_connection_id"
    ).split()
)

CHAT_ACTIONS = frozenset(
    (
        "typing upload_photo record_video upload_video record_voice upload_voice upload_document "
        "choose_sticker find_location record_video_note upload_video_note"
    ).split()
)

INLINE_BUTTON_ACTIONS = frozenset(
    (
        "url callback_data web_app login_url switch_inline_query switch_inline_query_current_chat "
        "switch_inline_query_chosen_chat copy_text callback_game pay"
    ).split()
)

COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")


class ApiError(Exception):
    """A Bot API error answer (``{"ok": false, ...}``)."""

    def __init__(
        self, error_code: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.parameters = parameters


def bad_request(what: str) -> ApiError:
    return ApiError(400, f"Bad Request: {what}")


class _Signal:
    """Wake every waiter at once; waiters re-check their condition afterwards."""

    def __init__(self) -> None:
        self._event: asyncio.Event | None = None

    def notify(self) -> None:
        if self._event is not None:
            self._event.set()
            self._event = None

    async def wait(self, seconds: float) -> None:
        if seconds <= 0:
            return
        if self._event is None:
            self._event = asyncio.Event()
        event = self._event
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await event.wait()


@dataclass
class StoredMessage:
    chat_id: int
    message_id: int
    from_bot: bool
    payload: dict[str, Any]
    raw_text: str | None = None
    parse_mode: str | None = None
    reply_markup: dict[str, Any] | None = None
    edited: bool = False
    deleted: bool = False


@dataclass
class CallbackQuery:
    id: str
    user_id: int
    chat_id: int
    message_id: int
    data: str
    answered: bool = False


@dataclass
class RandomFaults:
    """A share of the calls to `methods` fails at random (see the module docstring)."""

    rate_429: float
    rate_500: float
    rate_timeout: float
    retry_after: int
    timeout_seconds: float
    methods: frozenset[str]
    seed: int | None
    rng: random.Random

    def draw(self) -> str | None:
        """One call's fate: "429", "500", "timeout" or None (no fault)."""
        value = self.rng.random()
        for outcome, rate in (
            ("429", self.rate_429),
            ("500", self.rate_500),
            ("timeout", self.rate_timeout),
        ):
            if value < rate:
                return outcome
            value -= rate
        return None

    def describe(self) -> dict[str, Any]:
        return {
            "rates": {"429": self.rate_429, "500": self.rate_500, "timeout": self.rate_timeout},
            "retry_after": self.retry_after,
            "timeout_seconds": self.timeout_seconds,
            "methods": sorted(self.methods),
            "seed": self.seed,
        }


@dataclass
class Hold:
    """Calls to `methods` wait `seconds` before they are processed."""

    seconds: float
    methods: frozenset[str]

    def describe(self) -> dict[str, Any]:
        return {"seconds": self.seconds, "methods": sorted(self.methods)}


@dataclass
class EmulatorState:
    """Everything the emulator knows. Counters for update ids and event seqs survive resets."""

    token: str | None = None
    strict_ampersand: bool = True
    bot_user: dict[str, Any] = field(default_factory=lambda: dict(BOT_USER))

    updates: list[dict[str, Any]] = field(default_factory=list)
    next_update_id: int = field(default_factory=lambda: int(time.time() * 1000))
    """Like Telegram's, update ids never repeat for a bot: a new emulator (the demo or the
    preview restarted) starts above the ids an earlier one gave, which a database that
    remembers updates (the inbox) would otherwise take for redeliveries."""
    allowed_updates: frozenset[str] = DEFAULT_UPDATE_TYPES
    poll_generation: int = 0
    webhook_url: str = ""
    webhook_secret: str = ""
    webhook_max_connections: int = 40
    webhook_allowed_updates: list[str] | None = None
    webhook_spread: list[str] = field(default_factory=list)
    """Deliver to these URLs in turn instead of `webhook_url` (a load balancer)."""
    webhook_last_error: tuple[int, str] | None = None

    chats: dict[int, dict[str, Any]] = field(default_factory=dict)
    users: dict[int, dict[str, Any]] = field(default_factory=dict)
    next_message_id: dict[int, int] = field(default_factory=dict)
    messages: dict[int, dict[int, StoredMessage]] = field(default_factory=dict)

    events: list[dict[str, Any]] = field(default_factory=list)
    next_seq: int = 1

    callback_queries: dict[str, CallbackQuery] = field(default_factory=dict)
    next_callback_id: int = 1
    callback_answers: list[dict[str, Any]] = field(default_factory=list)

    commands: dict[tuple[str, int | None, int | None, str], list[dict[str, Any]]] = field(
        default_factory=dict
    )
    menu_buttons: dict[int | None, dict[str, Any]] = field(default_factory=dict)
    bot_texts: dict[tuple[str, str], str] = field(default_factory=dict)

    faults: list[dict[str, Any]] = field(default_factory=list)
    random_faults: RandomFaults | None = None
    hold: Hold | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)
    next_attempt_seq: int = 1
    in_flight: dict[int, dict[str, Any]] = field(default_factory=dict)
    next_request_id: int = 1

    closing: bool = False
    updates_signal: _Signal = field(default_factory=_Signal)
    events_signal: _Signal = field(default_factory=_Signal)

    def __post_init__(self) -> None:
        # Telegram's tokens start with the bot's id: two emulated bots are two bots.
        prefix = (self.token or "").partition(":")[0]
        if prefix.isdigit():
            self.bot_user["id"] = int(prefix)

    # ---- housekeeping --------------------------------------------------------------------

    def reset(self) -> None:
        """Forget chats, messages, updates and settings; ids keep increasing."""
        self.updates.clear()
        self.allowed_updates = DEFAULT_UPDATE_TYPES
        self.webhook_url = ""
        self.webhook_secret = ""
        self.webhook_spread.clear()
        self.webhook_last_error = None
        self.chats.clear()
        self.users.clear()
        self.next_message_id.clear()
        self.messages.clear()
        self.events.clear()
        self.callback_queries.clear()
        self.callback_answers.clear()
        self.commands.clear()
        self.menu_buttons.clear()
        self.bot_texts.clear()
        self.clear_faults()
        self.attempts.clear()
        self.updates_signal.notify()
        self.events_signal.notify()

    def wake_all(self) -> None:
        self.closing = True
        self.updates_signal.notify()
        self.events_signal.notify()

    @property
    def last_seq(self) -> int:
        return self.next_seq - 1

    # ---- chats and messages --------------------------------------------------------------

    def ensure_chat(self, chat_id: int) -> dict[str, Any]:
        chat = self.chats.get(chat_id)
        if chat is None:
            if chat_id > 0:
                user = self.users.get(chat_id)
                chat = {"id": chat_id, "type": "private", "first_name": "User"}
                if user is not None:
                    chat["first_name"] = user["first_name"]
                    if "username" in user:
                        chat["username"] = user["username"]
            else:
                chat = {"id": chat_id, "type": "group", "title": f"Group {chat_id}"}
            self.chats[chat_id] = chat
        return chat

    def new_message_id(self, chat_id: int) -> int:
        mid = self.next_message_id.get(chat_id, 0) + 1
        self.next_message_id[chat_id] = mid
        return mid

    def store(self, msg: StoredMessage) -> None:
        self.messages.setdefault(msg.chat_id, {})[msg.message_id] = msg

    def find(self, chat_id: int, message_id: int) -> StoredMessage | None:
        msg = self.messages.get(chat_id, {}).get(message_id)
        if msg is None or msg.deleted:
            return None
        return msg

    # ---- updates -------------------------------------------------------------------------

    def enqueue(self, update: dict[str, Any]) -> int:
        update = {k: v for k, v in update.items() if k != "update_id"}
        update_id = self.next_update_id
        self.next_update_id += 1
        self.updates.append({"update_id": update_id, **update})
        self.updates_signal.notify()
        return update_id

    def confirm(self, offset: int) -> None:
        if offset > 0:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        elif offset < 0:
            self.updates = self.updates[offset:]

    def deliverable(self) -> list[dict[str, Any]]:
        """Pending updates of allowed types (others are dropped, Telegram never makes them)."""
        kept = [u for u in self.updates if _update_type(u) in self.allowed_updates]
        if len(kept) != len(self.updates):
            self.updates = kept
        return kept

    # ---- events --------------------------------------------------------------------------

    def record(self, kind: str, chat_id: int, message_id: int | None, **fields: Any) -> None:
        event: dict[str, Any] = {
            "seq": self.next_seq,
            "kind": kind,
            "chat_id": chat_id,
            "message_id": message_id,
            "text": None,
            "parse_mode": None,
            "reply_markup": None,
            "date": int(time.time()),
        }
        event.update(fields)
        self.next_seq += 1
        self.events.append(event)
        self.events_signal.notify()

    def events_after(self, after: int, chat_id: int | None) -> list[dict[str, Any]]:
        return [
            e
            for e in self.events
            if e["seq"] > after and (chat_id is None or e["chat_id"] == chat_id)
        ]

    # ---- faults and attempts ----------------------------------------------------------------

    def clear_faults(self) -> None:
        """Drop every fault; held requests are released (and processed if their client waits)."""
        self.faults.clear()
        self.random_faults = None
        self.hold = None

    def begin_attempt(self, method: str, chat_id: int, params: dict[str, Any]) -> dict[str, Any]:
        """A call naming a chat arrived; it counts as in flight until `finish_attempt`."""
        text = params.get("text", params.get("caption"))
        attempt: dict[str, Any] = {
            "request_id": self.next_request_id,
            "method": method,
            "chat_id": chat_id,
            "text": text if isinstance(text, str) else None,
            "received_at": time.monotonic(),
            "date": time.time(),
        }
        self.next_request_id += 1
        self.in_flight[attempt["request_id"]] = attempt
        return attempt

    def finish_attempt(self, attempt: dict[str, Any], outcome: str, **fields: Any) -> None:
        self.in_flight.pop(attempt["request_id"], None)
        attempt.update(outcome=outcome, answered_at=time.monotonic(), **fields)
        attempt["seq"] = self.next_attempt_seq
        self.next_attempt_seq += 1
        self.attempts.append(attempt)


def _update_type(update: dict[str, Any]) -> str:
    for key in update:
        if key != "update_id":
            return key
    return ""


STATE_KEY: web.AppKey[EmulatorState] = web.AppKey("emulator_state", EmulatorState)
