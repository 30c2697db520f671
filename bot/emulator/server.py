"""A local Telegram Bot API emulator (aiohttp).

The bot talks to it exactly like to ``api.telegram.org``: python-telegram-bot only needs
``base_url`` pointed at ``http://127.0.0.1:{port}/bot``.  Tests and the terminal demo drive the
user side through a small JSON control API under ``/_emulator/`` (see :mod:`bot.emulator.client`).

Run it standalone with ``python -m bot.emulator.server --port 8081``.

Faithfulness notes (what Telegram does and the emulator copies):

* parameters may come as JSON, urlencoded or multipart; answers are ``{"ok": ..., ...}``;
* ``parse_mode=HTML`` is parsed like Telegram's server does (same error texts, byte offsets),
  the returned ``Message`` carries the plain text plus ``entities``;
* ``editMessageText`` without ``reply_markup`` removes the inline keyboard, like Telegram;
* only inline keyboards are echoed back in the returned ``Message``;
* a new ``getUpdates`` call terminates a pending one with ``409 Conflict``.

Fault injection (for outbox/dispatcher tests), three kinds that can be combined:

* counted: ``POST /_emulator/faults`` with
  ``{"chat_id"?: int, "status": 403|429|500, "retry_after"?: int, "count"?: int}`` makes the next
  ``count`` (default 1) ``sendMessage`` calls (to that chat, or to any chat) fail like Telegram
  would: 403 "Forbidden: bot was blocked by the user", 429 "Too Many Requests: retry after N"
  with ``parameters.retry_after``, 500 "Internal Server Error";
* random: ``POST /_emulator/faults/random`` with ``{"rates": {"429"?: p, "500"?: p,
  "timeout"?: p}, "retry_after"?: int, "seed"?: int, "timeout_seconds"?: float,
  "methods"?: [str]}`` answers that share (0..1, summing to at most 1) of the calls to
  ``methods`` (default ``["sendMessage"]``) with 429 (``retry_after``, default 1), 500, or a
  timeout: the emulator keeps the request unanswered until the client gives up and disconnects
  (or ``timeout_seconds``, default 30, pass; then 504) and delivers nothing, like a request
  lost before Telegram processed it. One draw per call from ``random.Random(seed)``, so a run
  with the same calls in the same order gets the same faults. Counted faults go first;
* hold: ``POST /_emulator/faults/hold`` with ``{"seconds": float, "methods"?: [str]}`` delays
  every call to ``methods`` (default ``["sendMessage"]``) that arrives while it is set by
  ``seconds`` before it is processed. A request whose client disconnected meanwhile (timed out,
  killed) is not processed at all (outcome ``abandoned``). Clearing the hold (``DELETE
  /_emulator/faults/hold``) releases the requests it holds, which are then processed.

A failed call sends nothing and records no event. ``DELETE /_emulator/faults`` (or a reset)
clears all three kinds; ``GET /_emulator/faults`` lists them with the requests in flight.

Attempts: every Bot API call that names a ``chat_id`` is logged once it is settled, with its
outcome (``ok`` with ``message_id``, ``error`` with ``error_code``/``description``/``retry_after``,
``timeout`` or ``abandoned``), ``received_at`` and ``answered_at`` on the emulator's monotonic
clock (seconds) and ``date`` (Unix time). ``GET /_emulator/attempts?chat_id=&method=&after=``
returns them (``after`` = ``seq``) and the requests held right now (``in_flight``), so a test
can check, for instance, that no retry to a chat came sooner than the ``retry_after`` it was told.

Deliberate differences: any ``chat_id`` is accepted (unknown positive ids become private chats,
negative ones groups), and in HTML a bare ``&`` that does not start an entity is rejected (Telegram
would keep it literally) so that missing ``html.escape`` calls are caught early.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import json
import random
import re
import time
from collections.abc import Callable
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
_TEXT_PARAMS = frozenset(
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

_INLINE_BUTTON_ACTIONS = frozenset(
    (
        "url callback_data web_app login_url switch_inline_query switch_inline_query_current_chat "
        "switch_inline_query_chosen_chat copy_text callback_game pay"
    ).split()
)

_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")


class ApiError(Exception):
    """A Bot API error answer (``{"ok": false, ...}``)."""

    def __init__(
        self, error_code: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.parameters = parameters


def _bad_request(what: str) -> ApiError:
    return ApiError(400, f"Bad Request: {what}")


# --------------------------------------------------------------------------------------------
# HTML parsing, modelled on Telegram's server-side parser (tdlib ``parse_html``).
# --------------------------------------------------------------------------------------------

_HTML_TAGS = frozenset(
    ("a b strong i em u ins s strike del pre code tg-spoiler span blockquote tg-emoji").split()
)
_TAG_ENTITY = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
    "a": "text_link",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


class HtmlParseError(ValueError):
    """Raised with Telegram's wording when ``parse_mode=HTML`` text is malformed."""


def _u16(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


def _decode_entity(text: str, pos: int) -> tuple[str, int] | None:
    """Decode an HTML entity starting at ``text[pos] == '&'``; None when there is none."""
    n = len(text)
    end = pos + 1
    if end < n and text[end] == "#":
        end += 1
        code = 0
        if end < n and text[end] in "xX":
            end += 1
            start = end
            while end < n and text[end] in "0123456789abcdefABCDEF":
                end += 1
            if end == start or end - start > 6:
                return None
            code = int(text[start:end], 16)
        else:
            start = end
            while end < n and text[end].isascii() and text[end].isdigit():
                end += 1
            if end == start or end - start > 7:
                return None
            code = int(text[start:end])
        if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            return None
        ch = chr(code)
    else:
        start = end
        while end < n and text[end].isascii() and text[end].isalpha():
            end += 1
        name = text[start:end]
        if name not in _NAMED_ENTITIES:
            return None
        ch = _NAMED_ENTITIES[name]
    if end < n and text[end] == ";":
        end += 1
    return ch, end


def parse_html(text: str, *, strict_ampersand: bool = True) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram-flavoured HTML into ``(plain_text, entities)``.

    Raises :class:`HtmlParseError` with Telegram's message (without the "can't parse entities"
    prefix).  Entity offsets and lengths are in UTF-16 code units, like the Bot API.
    """

    def byte_offset(index: int) -> int:
        return len(text[:index].encode("utf-8"))

    out: list[str] = []
    u16 = 0
    # (tag, argument, utf-16 offset at open, byte offset of the tag, plain-text index)
    stack: list[tuple[str, dict[str, str], int, int, int]] = []
    entities: list[dict[str, Any]] = []
    n = len(text)
    i = 0
    while i < n:
        c = text[i]
        if c == "&":
            decoded = _decode_entity(text, i)
            if decoded is not None:
                ch, i = decoded
                out.append(ch)
                u16 += _u16(ch)
                continue
            if strict_ampersand:
                raise HtmlParseError(
                    f"Character '&' must be escaped as \"&amp;\" at byte offset {byte_offset(i)}"
                )
        if c != "<":
            out.append(c)
            u16 += _u16(c)
            i += 1
            continue

        begin = i
        i += 1
        if i < n and text[i] == "/":
            # end tag
            if not stack:
                raise HtmlParseError(f"Unexpected end tag at byte offset {byte_offset(begin)}")
            j = i + 1
            while j < n and not text[j].isspace() and text[j] != ">":
                j += 1
            end_name = text[i + 1 : j].lower()
            while j < n and text[j].isspace():
                j += 1
            if j >= n or text[j] != ">":
                raise HtmlParseError(f"Unclosed end tag at byte offset {byte_offset(begin)}")
            tag, open_attrs, start_u16, _, start_idx = stack[-1]
            if end_name and end_name != tag:
                raise HtmlParseError(
                    f"Unmatched end tag at byte offset {byte_offset(begin)}, "
                    f'expected "</{tag}>", found "</{end_name}>"'
                )
            stack.pop()
            if u16 > start_u16:
                entities.append(
                    _make_entity(
                        tag, open_attrs, start_u16, u16 - start_u16, "".join(out[start_idx:])
                    )
                )
            i = j + 1
            continue

        # start tag
        j = i
        while j < n and not text[j].isspace() and text[j] != ">":
            j += 1
        if j >= n:
            raise HtmlParseError(f"Unclosed start tag at byte offset {byte_offset(begin)}")
        tag = text[i:j].lower()
        if tag not in _HTML_TAGS:
            raise HtmlParseError(
                f'Unsupported start tag "{tag}" at byte offset {byte_offset(begin)}'
            )
        attrs: dict[str, str] = {}
        while True:
            while j < n and text[j].isspace():
                j += 1
            if j >= n:
                raise HtmlParseError(f"Unclosed start tag at byte offset {byte_offset(begin)}")
            if text[j] == ">":
                break
            a_start = j
            while j < n and not text[j].isspace() and text[j] not in "=>":
                j += 1
            attr_name = text[a_start:j].lower()
            if not attr_name:
                raise HtmlParseError(
                    f'Empty attribute name in the tag "{tag}" at byte offset {byte_offset(begin)}'
                )
            while j < n and text[j].isspace():
                j += 1
            if j < n and text[j] != "=":
                # valueless attribute, e.g. <blockquote expandable>
                attrs[attr_name] = ""
                continue
            j += 1
            while j < n and text[j].isspace():
                j += 1
            if j >= n:
                raise HtmlParseError(
                    f'Unclosed start tag "{tag}" at byte offset {byte_offset(begin)}'
                )
            if text[j] in "'\"":
                quote = text[j]
                j += 1
                value: list[str] = []
                while j < n and text[j] != quote:
                    if text[j] == "&":
                        decoded = _decode_entity(text, j)
                        if decoded is not None:
                            value.append(decoded[0])
                            j = decoded[1]
                            continue
                    value.append(text[j])
                    j += 1
                if j < n:
                    j += 1
                attrs[attr_name] = "".join(value)
            else:
                v_start = j
                while j < n and (text[j].isalnum() or text[j] in ".-"):
                    j += 1
                if j < n and not text[j].isspace() and text[j] != ">":
                    raise HtmlParseError(
                        f"Unexpected end of name token at byte offset {byte_offset(v_start)}"
                    )
                attrs[attr_name] = text[v_start:j].lower()
        if tag == "span" and attrs.get("class") != "tg-spoiler":
            raise HtmlParseError(
                f'Tag "span" must have class "tg-spoiler" at byte offset {byte_offset(begin)}'
            )
        if tag == "tg-emoji" and not attrs.get("emoji-id"):
            raise HtmlParseError(
                f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset {byte_offset(begin)}'
            )
        stack.append((tag, attrs, u16, begin, len(out)))
        i = j + 1

    if stack:
        raise HtmlParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    entities = _merge_pre_code(entities)
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _make_entity(
    tag: str, attrs: dict[str, str], offset: int, length: int, inner: str
) -> dict[str, Any]:
    entity: dict[str, Any] = {"type": _TAG_ENTITY[tag], "offset": offset, "length": length}
    if tag == "a":
        entity["url"] = attrs.get("href") or inner
    elif tag == "code":
        lang = attrs.get("class", "")
        if lang.startswith("language-"):
            entity["language"] = lang.removeprefix("language-")
    elif tag == "blockquote" and "expandable" in attrs:
        entity["type"] = "expandable_blockquote"
    elif tag == "tg-emoji":
        entity["custom_emoji_id"] = attrs["emoji-id"]
    return entity


def _merge_pre_code(entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``<pre><code class="language-x">`` becomes one ``pre`` entity with a language."""
    result: list[dict[str, Any]] = []
    for entity in entities:
        if entity["type"] == "pre" and result:
            prev = result[-1]
            if (
                prev["type"] == "code"
                and prev["offset"] == entity["offset"]
                and prev["length"] == entity["length"]
            ):
                result.pop()
                if "language" in prev:
                    entity = {**entity, "language": prev["language"]}
        result.append(entity)
    for entity in result:
        if entity["type"] == "code":  # a lone <code class="language-x"> keeps no language
            entity.pop("language", None)
    return result


# --------------------------------------------------------------------------------------------
# State
# --------------------------------------------------------------------------------------------


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
    next_update_id: int = 1
    allowed_updates: frozenset[str] = DEFAULT_UPDATE_TYPES
    poll_generation: int = 0
    webhook_url: str = ""

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

    # ---- housekeeping --------------------------------------------------------------------

    def reset(self) -> None:
        """Forget chats, messages, updates and settings; ids keep increasing."""
        self.updates.clear()
        self.allowed_updates = DEFAULT_UPDATE_TYPES
        self.webhook_url = ""
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


# --------------------------------------------------------------------------------------------
# Parameter helpers
# --------------------------------------------------------------------------------------------


def _decode_value(name: str, value: Any) -> Any:
    if isinstance(value, str) and name not in _TEXT_PARAMS and value[:1] in ("{", "["):
        try:
            decoded = json.loads(value)
        except ValueError:
            return value
        if isinstance(decoded, dict | list):
            return decoded
    return value


async def _read_params(request: web.Request) -> dict[str, Any]:
    params: dict[str, Any] = dict(request.query)
    if request.body_exists:
        ctype = request.content_type
        if ctype == "application/json":
            try:
                body = await request.json()
            except ValueError as exc:
                raise _bad_request("can't parse JSON encoded request parameters") from exc
            if not isinstance(body, dict):
                raise _bad_request("can't parse JSON encoded request parameters")
            params.update(body)
        elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    params[key] = {"uploaded_file": value.filename}
                else:
                    params[key] = value
    return {k: _decode_value(k, v) for k, v in params.items()}


def _is_set(params: dict[str, Any], name: str) -> bool:
    return params.get(name) not in (None, "")


def _int(params: dict[str, Any], name: str, *, required: bool = False) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise _bad_request(f"{name} is empty")
        return None
    if isinstance(value, bool):
        raise _bad_request(f"invalid {name} specified")
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise _bad_request(f"invalid {name} specified") from exc


def _float(params: dict[str, Any], name: str, *, required: bool = False) -> float | None:
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise _bad_request(f"{name} is empty")
        return None
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise _bad_request(f"invalid {name} specified") from exc


def _bool(params: dict[str, Any], name: str) -> bool:
    value = params.get(name)
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def _str(params: dict[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _chat_id(params: dict[str, Any], *, required: bool = True) -> int | None:
    value = params.get("chat_id")
    if value is None or value == "":
        if required:
            raise _bad_request("chat_id is empty")
        return None
    if isinstance(value, bool):
        raise _bad_request("chat not found")
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        # "@channelusername": the emulator knows no public chats
        raise _bad_request("chat not found") from exc


def _format_text(
    state: EmulatorState,
    text: str,
    parse_mode: str | None,
    *,
    caption: bool = False,
) -> tuple[str, list[dict[str, Any]]]:
    """Validate ``text`` like Telegram and return (plain text, entities)."""
    mode = (parse_mode or "").strip()
    if mode.lower() == "html":
        try:
            plain, entities = parse_html(text, strict_ampersand=state.strict_ampersand)
        except HtmlParseError as exc:
            raise _bad_request(f"can't parse entities: {exc}") from exc
    elif mode == "" or mode.lower() in ("markdown", "markdownv2"):
        plain, entities = text, []
    else:
        raise _bad_request("unsupported parse_mode")
    if caption:
        if len(plain) > MAX_CAPTION_LENGTH:
            raise _bad_request("message caption is too long")
    else:
        if not plain.strip():
            raise _bad_request("message text is empty")
        if len(plain) > MAX_TEXT_LENGTH:
            raise _bad_request("message is too long")
    return plain, entities


def _validate_reply_markup(markup: Any) -> dict[str, Any] | None:
    if markup is None or markup == "":
        return None
    if not isinstance(markup, dict):
        raise _bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise _bad_request(
                'field "inline_keyboard" of the InlineKeyboardMarkup should be an Array of Arrays'
            )
        for row in rows:
            for button in row:
                if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                    raise _bad_request("can't parse inline keyboard button: Text must be a String")
                actions = _INLINE_BUTTON_ACTIONS & button.keys()
                if not actions:
                    raise _bad_request(
                        "can't parse inline keyboard button: "
                        "Text buttons are unallowed in the inline keyboard"
                    )
                if "callback_data" in button:
                    data = button["callback_data"]
                    if (
                        not isinstance(data, str)
                        or not data
                        or len(data.encode("utf-8")) > MAX_CALLBACK_DATA_BYTES
                    ):
                        raise _bad_request("BUTTON_DATA_INVALID")
                if "url" in button and not button["url"]:
                    raise _bad_request("BUTTON_URL_INVALID")
        return markup
    if "keyboard" in markup:
        rows = markup["keyboard"]
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise _bad_request(
                'field "keyboard" of the ReplyKeyboardMarkup should be an Array of Arrays'
            )
        return markup
    if "remove_keyboard" in markup or "force_reply" in markup:
        return markup
    raise _bad_request("can't parse reply keyboard markup JSON object")


def _inline_only(markup: dict[str, Any] | None) -> dict[str, Any] | None:
    if markup is not None and "inline_keyboard" in markup:
        return markup
    return None


# --------------------------------------------------------------------------------------------
# Bot API methods
# --------------------------------------------------------------------------------------------

Handler = Callable[[EmulatorState, dict[str, Any]], Any]
METHODS: dict[str, Handler] = {}
ASYNC_METHODS: set[str] = set()


def _method(*names: str, is_async: bool = False) -> Callable[[Handler], Handler]:
    def register(func: Handler) -> Handler:
        for name in names:
            METHODS[name.lower()] = func
            if is_async:
                ASYNC_METHODS.add(name.lower())
        return func

    return register


@_method("getMe")
def _get_me(state: EmulatorState, params: dict[str, Any]) -> Any:
    return state.bot_user


@_method("logOut", "close")
def _log_out(state: EmulatorState, params: dict[str, Any]) -> Any:
    return True


@_method("setWebhook")
def _set_webhook(state: EmulatorState, params: dict[str, Any]) -> Any:
    state.webhook_url = _str(params, "url") or ""
    if _bool(params, "drop_pending_updates"):
        state.updates.clear()
    return True


@_method("deleteWebhook")
def _delete_webhook(state: EmulatorState, params: dict[str, Any]) -> Any:
    state.webhook_url = ""
    if _bool(params, "drop_pending_updates"):
        state.updates.clear()
    return True


@_method("getWebhookInfo")
def _get_webhook_info(state: EmulatorState, params: dict[str, Any]) -> Any:
    return {
        "url": state.webhook_url,
        "has_custom_certificate": False,
        "pending_update_count": len(state.updates),
    }


@_method("getUpdates", is_async=True)
async def _get_updates(state: EmulatorState, params: dict[str, Any]) -> Any:
    if state.webhook_url:
        raise ApiError(
            409,
            "Conflict: can't use getUpdates method while webhook is active; "
            "use deleteWebhook to delete the webhook first",
        )
    offset = _int(params, "offset") or 0
    limit = _int(params, "limit") or 100
    limit = max(1, min(limit, 100))
    timeout = max(0.0, _float(params, "timeout") or 0.0)
    allowed = params.get("allowed_updates")
    if isinstance(allowed, list):
        chosen = frozenset(str(a) for a in allowed)
        state.allowed_updates = chosen or DEFAULT_UPDATE_TYPES

    state.confirm(offset)
    state.poll_generation += 1
    generation = state.poll_generation
    state.updates_signal.notify()  # terminates an older long poll (409 below)

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        available = state.deliverable()
        remaining = deadline - loop.time()
        if available or remaining <= 0 or state.closing:
            return copy.deepcopy(available[:limit])
        await state.updates_signal.wait(remaining)
        if state.poll_generation != generation:
            raise ApiError(
                409,
                "Conflict: terminated by other getUpdates request; "
                "make sure that only one bot instance is running",
            )


def _bot_message(
    state: EmulatorState, chat_id: int, params: dict[str, Any], content: dict[str, Any]
) -> dict[str, Any]:
    """Build (and store later) the Message object for something the bot sends."""
    chat = state.ensure_chat(chat_id)
    reply_to: dict[str, Any] | None = None
    reply_params = params.get("reply_parameters")
    reply_mid: int | None = None
    allow_without = _bool(params, "allow_sending_without_reply")
    if isinstance(reply_params, dict):
        reply_mid = _int(reply_params, "message_id")
        allow_without = allow_without or _bool(reply_params, "allow_sending_without_reply")
    elif _is_set(params, "reply_to_message_id"):
        reply_mid = _int(params, "reply_to_message_id")
    if reply_mid is not None:
        target = state.find(chat_id, reply_mid)
        if target is None and not allow_without:
            raise _bad_request("message to be replied not found")
        if target is not None:
            reply_to = {k: v for k, v in target.payload.items() if k != "reply_to_message"}
    message: dict[str, Any] = {
        "message_id": 0,
        "from": state.bot_user,
        "chat": chat,
        "date": int(time.time()),
    }
    if reply_to is not None:
        message["reply_to_message"] = reply_to
    message.update(content)
    return message


def _commit_bot_message(
    state: EmulatorState,
    chat_id: int,
    message: dict[str, Any],
    *,
    raw_text: str | None,
    parse_mode: str | None,
    markup: dict[str, Any] | None,
    **event_fields: Any,
) -> dict[str, Any]:
    message["message_id"] = state.new_message_id(chat_id)
    inline = _inline_only(markup)
    if inline is not None:
        message["reply_markup"] = inline
    state.store(
        StoredMessage(
            chat_id=chat_id,
            message_id=message["message_id"],
            from_bot=True,
            payload=message,
            raw_text=raw_text,
            parse_mode=parse_mode,
            reply_markup=markup,
        )
    )
    state.record(
        "send",
        chat_id,
        message["message_id"],
        text=raw_text,
        parse_mode=parse_mode,
        reply_markup=markup,
        plain_text=message.get("text", message.get("caption")),
        **event_fields,
    )
    return copy.deepcopy(message)


FAULT_STATUSES = (403, 429, 500)


def _injected_fault(state: EmulatorState, chat_id: int) -> ApiError | None:
    """The first injected fault matching this chat, consumed once (see the module docstring)."""
    for fault in state.faults:
        if fault["chat_id"] is not None and fault["chat_id"] != chat_id:
            continue
        fault["count"] -= 1
        if fault["count"] <= 0:
            state.faults.remove(fault)
        status = fault["status"]
        if status == 403:
            return ApiError(403, "Forbidden: bot was blocked by the user")
        if status == 429:
            return _too_many_requests(fault["retry_after"])
        return ApiError(500, "Internal Server Error")
    return None


def _too_many_requests(seconds: int) -> ApiError:
    return ApiError(429, f"Too Many Requests: retry after {seconds}", {"retry_after": seconds})


@_method("sendMessage")
def _send_message(state: EmulatorState, params: dict[str, Any]) -> Any:
    chat_id = _chat_id(params)
    assert chat_id is not None
    text = _str(params, "text")
    if text is None:
        raise _bad_request("message text is empty")
    parse_mode = _str(params, "parse_mode") or None
    plain, entities = _format_text(state, text, parse_mode)
    if not entities and isinstance(params.get("entities"), list):
        entities = params["entities"]
    markup = _validate_reply_markup(params.get("reply_markup"))
    content: dict[str, Any] = {"text": plain}
    if entities:
        content["entities"] = entities
    lpo = params.get("link_preview_options")
    if isinstance(lpo, dict) and lpo:
        content["link_preview_options"] = lpo
    message = _bot_message(state, chat_id, params, content)
    return _commit_bot_message(
        state, chat_id, message, raw_text=text, parse_mode=parse_mode, markup=markup
    )


@_method("sendLocation")
def _send_location(state: EmulatorState, params: dict[str, Any]) -> Any:
    chat_id = _chat_id(params)
    assert chat_id is not None
    lat = _float(params, "latitude", required=True)
    lon = _float(params, "longitude", required=True)
    assert lat is not None and lon is not None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise _bad_request("wrong latitude or longitude")
    markup = _validate_reply_markup(params.get("reply_markup"))
    location = {"latitude": lat, "longitude": lon}
    message = _bot_message(state, chat_id, params, {"location": location})
    return _commit_bot_message(
        state, chat_id, message, raw_text=None, parse_mode=None, markup=markup, location=location
    )


def _send_media(state: EmulatorState, params: dict[str, Any], kind: str) -> Any:
    chat_id = _chat_id(params)
    assert chat_id is not None
    if params.get(kind) in (None, ""):
        raise _bad_request(f"there is no {kind} in the request")
    caption = _str(params, "caption")
    parse_mode = _str(params, "parse_mode") or None
    content: dict[str, Any] = {}
    file_id = f"emu-{kind}-{state.next_seq}"
    if kind == "photo":
        content["photo"] = [
            {"file_id": file_id + "-s", "file_unique_id": file_id + "s", "width": 90, "height": 67},
            {"file_id": file_id, "file_unique_id": file_id, "width": 800, "height": 600},
        ]
    else:
        upload = params.get(kind)
        name = upload.get("uploaded_file") if isinstance(upload, dict) else None
        content["document"] = {
            "file_id": file_id,
            "file_unique_id": file_id,
            "file_name": name or "document",
        }
    if caption:
        plain, entities = _format_text(state, caption, parse_mode, caption=True)
        content["caption"] = plain
        if entities:
            content["caption_entities"] = entities
    markup = _validate_reply_markup(params.get("reply_markup"))
    message = _bot_message(state, chat_id, params, content)
    return _commit_bot_message(
        state, chat_id, message, raw_text=caption, parse_mode=parse_mode, markup=markup, media=kind
    )


@_method("sendPhoto")
def _send_photo(state: EmulatorState, params: dict[str, Any]) -> Any:
    return _send_media(state, params, "photo")


@_method("sendDocument")
def _send_document(state: EmulatorState, params: dict[str, Any]) -> Any:
    return _send_media(state, params, "document")


def _message_to_edit(state: EmulatorState, params: dict[str, Any]) -> StoredMessage:
    if _is_set(params, "inline_message_id"):
        raise _bad_request("MESSAGE_ID_INVALID")
    chat_id = _chat_id(params)
    message_id = _int(params, "message_id")
    if chat_id is None or message_id is None:
        raise _bad_request("message identifier is not specified")
    msg = state.find(chat_id, message_id)
    if msg is None:
        raise _bad_request("message to edit not found")
    if not msg.from_bot:
        raise _bad_request("message can't be edited")
    return msg


_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)


def _apply_edit(
    state: EmulatorState,
    msg: StoredMessage,
    content: dict[str, Any] | None,
    markup: dict[str, Any] | None,
    *,
    raw_text: str | None,
    parse_mode: str | None,
) -> dict[str, Any]:
    """Apply an edit; ``content=None`` keeps text/caption (editMessageReplyMarkup)."""
    payload = msg.payload
    new_inline = _inline_only(markup)
    same_content = content is None or all(
        payload.get(k) == content.get(k)
        for k in ("text", "entities", "caption", "caption_entities")
    )
    if same_content and payload.get("reply_markup") == new_inline:
        raise _bad_request(_NOT_MODIFIED)
    if content is not None:
        for key in ("text", "entities", "caption", "caption_entities"):
            payload.pop(key, None)
        payload.update(content)
    if new_inline is None:
        payload.pop("reply_markup", None)
    else:
        payload["reply_markup"] = new_inline
    payload["edit_date"] = int(time.time())
    msg.edited = True
    msg.raw_text = raw_text
    msg.parse_mode = parse_mode
    msg.reply_markup = new_inline
    state.record(
        "edit",
        msg.chat_id,
        msg.message_id,
        text=raw_text,
        parse_mode=parse_mode,
        reply_markup=new_inline,
        plain_text=payload.get("text", payload.get("caption")),
    )
    return copy.deepcopy(payload)


@_method("editMessageText")
def _edit_message_text(state: EmulatorState, params: dict[str, Any]) -> Any:
    msg = _message_to_edit(state, params)
    text = _str(params, "text")
    if text is None:
        raise _bad_request("message text is empty")
    if "text" not in msg.payload:
        raise _bad_request("there is no text in the message to edit")
    parse_mode = _str(params, "parse_mode") or None
    plain, entities = _format_text(state, text, parse_mode)
    # Like Telegram: omitting reply_markup removes the inline keyboard.
    markup = _validate_reply_markup(params.get("reply_markup"))
    content: dict[str, Any] = {"text": plain}
    if entities:
        content["entities"] = entities
    return _apply_edit(state, msg, content, markup, raw_text=text, parse_mode=parse_mode)


@_method("editMessageCaption")
def _edit_message_caption(state: EmulatorState, params: dict[str, Any]) -> Any:
    msg = _message_to_edit(state, params)
    if "text" in msg.payload:
        raise _bad_request("there is no caption in the message to edit")
    caption = _str(params, "caption") or ""
    parse_mode = _str(params, "parse_mode") or None
    plain, entities = _format_text(state, caption, parse_mode, caption=True)
    markup = _validate_reply_markup(params.get("reply_markup"))
    content: dict[str, Any] = {"caption": plain}
    if entities:
        content["caption_entities"] = entities
    return _apply_edit(state, msg, content, markup, raw_text=caption, parse_mode=parse_mode)


@_method("editMessageReplyMarkup")
def _edit_message_reply_markup(state: EmulatorState, params: dict[str, Any]) -> Any:
    msg = _message_to_edit(state, params)
    markup = _validate_reply_markup(params.get("reply_markup"))
    if markup is not None and "inline_keyboard" not in markup:
        raise _bad_request("REPLY_MARKUP_INVALID")
    return _apply_edit(state, msg, None, markup, raw_text=msg.raw_text, parse_mode=msg.parse_mode)


@_method("deleteMessage")
def _delete_message(state: EmulatorState, params: dict[str, Any]) -> Any:
    chat_id = _chat_id(params)
    message_id = _int(params, "message_id", required=True)
    assert chat_id is not None and message_id is not None
    msg = state.find(chat_id, message_id)
    if msg is None:
        raise _bad_request("message to delete not found")
    msg.deleted = True
    state.record("delete", chat_id, message_id)
    return True


@_method("answerCallbackQuery")
def _answer_callback_query(state: EmulatorState, params: dict[str, Any]) -> Any:
    query_id = _str(params, "callback_query_id") or ""
    query = state.callback_queries.get(query_id)
    if query is None or query.answered:
        raise _bad_request("query is too old and response timeout expired or query ID is invalid")
    text = _str(params, "text")
    if text is not None and len(text) > 200:
        raise _bad_request("MESSAGE_TOO_LONG")
    query.answered = True
    answer = {
        "callback_query_id": query_id,
        "chat_id": query.chat_id,
        "message_id": query.message_id,
        "data": query.data,
        "text": text,
        "show_alert": _bool(params, "show_alert"),
        "url": _str(params, "url"),
        "cache_time": _int(params, "cache_time"),
    }
    state.callback_answers.append(answer)
    state.record(
        "answer_callback",
        query.chat_id,
        query.message_id,
        text=text,
        show_alert=answer["show_alert"],
        url=answer["url"],
        callback_query_id=query_id,
    )
    return True


@_method("sendChatAction")
def _send_chat_action(state: EmulatorState, params: dict[str, Any]) -> Any:
    _chat_id(params)
    action = _str(params, "action")
    if action not in CHAT_ACTIONS:
        raise _bad_request("wrong parameter action in request")
    return True


def _scope_key(
    params: dict[str, Any],
) -> tuple[str, int | None, int | None, str]:
    scope = params.get("scope")
    if scope is None or scope == "":
        scope = {"type": "default"}
    if not isinstance(scope, dict) or not isinstance(scope.get("type"), str):
        raise _bad_request("can't parse BotCommandScope JSON object")
    lang = _str(params, "language_code") or ""
    return (scope["type"], _int(scope, "chat_id"), _int(scope, "user_id"), lang)


@_method("setMyCommands")
def _set_my_commands(state: EmulatorState, params: dict[str, Any]) -> Any:
    commands = params.get("commands")
    if not isinstance(commands, list):
        raise _bad_request("can't parse commands JSON object")
    if len(commands) > 100:
        raise _bad_request("too many commands specified")
    clean: list[dict[str, Any]] = []
    for cmd in commands:
        if not isinstance(cmd, dict):
            raise _bad_request("can't parse BotCommand JSON object")
        name = str(cmd.get("command", ""))
        description = str(cmd.get("description", ""))
        if not _COMMAND_RE.match(name):
            raise _bad_request("BOT_COMMAND_INVALID")
        if not 1 <= len(description) <= 256:
            raise _bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        clean.append({"command": name, "description": description})
    key = _scope_key(params)
    if clean:
        state.commands[key] = clean
    else:
        state.commands.pop(key, None)
    return True


@_method("getMyCommands")
def _get_my_commands(state: EmulatorState, params: dict[str, Any]) -> Any:
    return copy.deepcopy(state.commands.get(_scope_key(params), []))


@_method("deleteMyCommands")
def _delete_my_commands(state: EmulatorState, params: dict[str, Any]) -> Any:
    state.commands.pop(_scope_key(params), None)
    return True


@_method("setChatMenuButton")
def _set_chat_menu_button(state: EmulatorState, params: dict[str, Any]) -> Any:
    button = params.get("menu_button") or {"type": "default"}
    if not isinstance(button, dict) or "type" not in button:
        raise _bad_request("can't parse menu button JSON object")
    state.menu_buttons[_chat_id(params, required=False)] = button
    return True


@_method("getChatMenuButton")
def _get_chat_menu_button(state: EmulatorState, params: dict[str, Any]) -> Any:
    chat_id = _chat_id(params, required=False)
    return state.menu_buttons.get(chat_id) or state.menu_buttons.get(None) or {"type": "commands"}


def _bot_text_methods(setter: str, getter: str, field_name: str) -> None:
    def set_text(state: EmulatorState, params: dict[str, Any]) -> Any:
        state.bot_texts[(field_name, _str(params, "language_code") or "")] = (
            _str(params, field_name) or ""
        )
        return True

    def get_text(state: EmulatorState, params: dict[str, Any]) -> Any:
        lang = _str(params, "language_code") or ""
        value = state.bot_texts.get((field_name, lang)) or state.bot_texts.get((field_name, ""))
        if field_name == "name":
            value = value or state.bot_user["first_name"]
        return {field_name: value or ""}

    _method(setter)(set_text)
    _method(getter)(get_text)


_bot_text_methods("setMyDescription", "getMyDescription", "description")
_bot_text_methods("setMyShortDescription", "getMyShortDescription", "short_description")
_bot_text_methods("setMyName", "getMyName", "name")


# --------------------------------------------------------------------------------------------
# HTTP layer: Bot API
# --------------------------------------------------------------------------------------------


def _api_error(error: ApiError) -> web.Response:
    body: dict[str, Any] = {
        "ok": False,
        "error_code": error.error_code,
        "description": error.description,
    }
    if error.parameters:
        body["parameters"] = error.parameters
    return web.json_response(body, status=error.error_code)


async def _bot_api(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    token = request.match_info["token"]
    if state.token is not None and token != state.token:
        return _api_error(ApiError(401, "Unauthorized"))
    name = request.match_info["method"].lower()
    handler = METHODS.get(name)
    if handler is None:
        return _api_error(ApiError(404, "Not Found"))
    try:
        params = await _read_params(request)
    except ApiError as error:
        return _api_error(error)
    chat_id = _attempt_chat(params)
    if chat_id is None:
        try:
            result = await _call(name, handler, state, params)
        except ApiError as error:
            return _api_error(error)
        return web.json_response({"ok": True, "result": result})
    return await _tracked_call(request, state, name, handler, params, chat_id)


async def _call(name: str, handler: Handler, state: EmulatorState, params: dict[str, Any]) -> Any:
    if name in ASYNC_METHODS:
        return await handler(state, params)
    return handler(state, params)


def _attempt_chat(params: dict[str, Any]) -> int | None:
    """The chat a call is about, when it names one by number (such calls are logged)."""
    value = params.get("chat_id")
    if isinstance(value, bool):
        return None
    try:
        return int(value) if isinstance(value, int | str) else None
    except ValueError:
        return None


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


async def _wait_while_client_waits(
    request: web.Request, state: EmulatorState, until: Callable[[], float]
) -> bool:
    """Wait until the monotonic time `until()` (re-read, so a hold can be changed or cleared);
    False as soon as the client disconnects (or the emulator shuts down)."""
    while True:
        if _client_gone(request) or state.closing:
            return False
        remaining = until() - time.monotonic()
        if remaining <= 0:
            return True
        await asyncio.sleep(min(remaining, 0.02))


async def _tracked_call(
    request: web.Request,
    state: EmulatorState,
    name: str,
    handler: Handler,
    params: dict[str, Any],
    chat_id: int,
) -> web.Response:
    """Run a call that names a chat through the faults, and log its outcome."""
    attempt = state.begin_attempt(request.match_info["method"], chat_id, params)
    received = float(attempt["received_at"])

    def hold_until() -> float:
        hold = state.hold
        return received + hold.seconds if hold is not None and name in hold.methods else received

    if not await _wait_while_client_waits(request, state, hold_until):
        state.finish_attempt(attempt, "abandoned")
        return _api_error(ApiError(503, "Service Unavailable"))

    fault = _injected_fault(state, chat_id) if name == "sendmessage" else None
    chaos = state.random_faults
    if fault is None and chaos is not None and name in chaos.methods:
        drawn = chaos.draw()
        if drawn == "timeout":
            started = time.monotonic()
            give_up = started + chaos.timeout_seconds
            await _wait_while_client_waits(request, state, lambda: give_up)
            state.finish_attempt(attempt, "timeout")
            return _api_error(ApiError(504, "Gateway Timeout"))
        if drawn == "429":
            fault = _too_many_requests(chaos.retry_after)
        elif drawn == "500":
            fault = ApiError(500, "Internal Server Error")
    try:
        if fault is not None:
            raise fault
        result = await _call(name, handler, state, params)
    except ApiError as error:
        retry_after = (error.parameters or {}).get("retry_after")
        state.finish_attempt(
            attempt,
            "error",
            error_code=error.error_code,
            description=error.description,
            retry_after=retry_after,
        )
        return _api_error(error)
    message_id = result.get("message_id") if isinstance(result, dict) else None
    state.finish_attempt(attempt, "ok", message_id=message_id)
    return web.json_response({"ok": True, "result": result})


# --------------------------------------------------------------------------------------------
# HTTP layer: control API
# --------------------------------------------------------------------------------------------


class ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as exc:
        raise ControlError(400, "body must be a JSON object") from exc
    if not isinstance(body, dict):
        raise ControlError(400, "body must be a JSON object")
    return body


def _req_int(body: dict[str, Any], name: str) -> int:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ControlError(400, f"{name} (int) is required")
    try:
        return int(value)
    except ValueError as exc:
        raise ControlError(400, f"{name} must be an int") from exc


def _opt_int(body: dict[str, Any], name: str) -> int | None:
    return None if body.get(name) is None else _req_int(body, name)


def _user_and_chat(
    state: EmulatorState, body: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    user_id = _req_int(body, "user_id")
    user: dict[str, Any] = {
        "id": user_id,
        "is_bot": False,
        "first_name": str(body.get("first_name") or "Test"),
    }
    # Absent: "en"; explicit null: no language_code at all (Telegram omits it when unknown).
    language_code = body.get("language_code", "en")
    if language_code is not None:
        user["language_code"] = str(language_code)
    if body.get("username"):
        user["username"] = str(body["username"])
    state.users[user_id] = user

    chat_type = str(body.get("chat_type") or "private")
    chat_id = _opt_int(body, "chat_id")
    if chat_type == "private":
        chat_id = user_id if chat_id is None else chat_id
        chat: dict[str, Any] = {"id": chat_id, "type": "private", "first_name": user["first_name"]}
        if "username" in user:
            chat["username"] = user["username"]
    elif chat_type in ("group", "supergroup"):
        if chat_id is None:
            chat_id = -user_id if chat_type == "group" else -(10**12 + user_id)
        chat = {"id": chat_id, "type": chat_type, "title": str(body.get("title") or "Test group")}
    else:
        raise ControlError(400, "chat_type must be private, group or supergroup")
    state.chats[chat_id] = chat
    return user, chat


def _text_entities(text: str) -> list[dict[str, Any]]:
    if not text.startswith("/"):
        return []
    command = text.split(maxsplit=1)[0] if text.strip() else text
    return [{"type": "bot_command", "offset": 0, "length": _u16(command)}]


def _file_ids(state: EmulatorState, kind: str) -> dict[str, str]:
    n = state.next_update_id
    return {"file_id": f"emu-{kind}-{n}-AgACAgQAAxkBAAIB", "file_unique_id": f"AQAD{kind[:3]}{n}"}


async def _ctl_message(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    body = await _json_body(request)
    user, chat = _user_and_chat(state, body)
    text = body.get("text")
    if text is not None and not isinstance(text, str):
        raise ControlError(400, "text must be a string")

    edited_id = _opt_int(body, "edited_message_id")
    if edited_id is not None:
        original = state.find(chat["id"], edited_id)
        if original is None or original.from_bot:
            raise ControlError(404, f"no user message {edited_id} in chat {chat['id']}")
        if text is None:
            raise ControlError(400, "text is required with edited_message_id")
        payload = original.payload
        key, ent_key = (
            ("text", "entities") if "text" in payload else ("caption", "caption_entities")
        )
        payload[key] = text
        payload.pop(ent_key, None)
        if entities := _text_entities(text):
            payload[ent_key] = entities
        payload["edit_date"] = int(time.time())
        original.edited = True
        update_id = state.enqueue({"edited_message": copy.deepcopy(payload)})
        return web.json_response(
            {"update_id": update_id, "message_id": edited_id, "last_seq": state.last_seq}
        )

    message: dict[str, Any] = {
        "message_id": state.new_message_id(chat["id"]),
        "from": user,
        "chat": chat,
        "date": int(time.time()),
    }
    location = body.get("location")
    if location is not None:
        if not isinstance(location, dict) or not {"latitude", "longitude"} <= location.keys():
            raise ControlError(400, "location needs latitude and longitude")
        message["location"] = {
            "latitude": float(location["latitude"]),
            "longitude": float(location["longitude"]),
        }
    elif body.get("sticker"):
        message["sticker"] = {
            **_file_ids(state, "sticker"),
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": "👍",
            "set_name": "EmulatorStickers",
            "file_size": 23456,
        }
    elif body.get("photo"):
        ids = _file_ids(state, "photo")
        message["photo"] = [
            {
                "file_id": ids["file_id"] + "-s",
                "file_unique_id": ids["file_unique_id"] + "s",
                "width": 90,
                "height": 68,
                "file_size": 1520,
            },
            {**ids, "width": 1280, "height": 960, "file_size": 184320},
        ]
        if text:
            message["caption"] = text
    elif body.get("voice"):
        message["voice"] = {
            **_file_ids(state, "voice"),
            "duration": int(body.get("duration") or 3),
            "mime_type": "audio/ogg",
            "file_size": 12800,
        }
    elif text is not None:
        if text == "":
            raise ControlError(400, "text must not be empty")
        message["text"] = text
        if entities := _text_entities(text):
            message["entities"] = entities
    else:
        raise ControlError(400, "give text, location, sticker, photo or voice")

    state.store(
        StoredMessage(
            chat_id=chat["id"], message_id=message["message_id"], from_bot=False, payload=message
        )
    )
    update_id = state.enqueue({"message": copy.deepcopy(message)})
    return web.json_response(
        {"update_id": update_id, "message_id": message["message_id"], "last_seq": state.last_seq}
    )


async def _ctl_callback(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    body = await _json_body(request)
    user, chat = _user_and_chat(state, body)
    message_id = _req_int(body, "message_id")
    data = body.get("data")
    if not isinstance(data, str):
        raise ControlError(400, "data (str) is required")
    msg = state.find(chat["id"], message_id)
    if msg is None or not msg.from_bot:
        raise ControlError(404, f"no bot message {message_id} in chat {chat['id']}")
    query_id = str(4_611_686_018_427_387_904 + state.next_callback_id)
    state.next_callback_id += 1
    state.callback_queries[query_id] = CallbackQuery(
        id=query_id, user_id=user["id"], chat_id=chat["id"], message_id=message_id, data=data
    )
    update_id = state.enqueue(
        {
            "callback_query": {
                "id": query_id,
                "from": user,
                "message": copy.deepcopy(msg.payload),
                "chat_instance": str(-(6_000_000_000_000_000_000 + abs(chat["id"]))),
                "data": data,
            }
        }
    )
    return web.json_response(
        {"update_id": update_id, "callback_query_id": query_id, "last_seq": state.last_seq}
    )


async def _ctl_raw(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    body = await _json_body(request)
    if not any(k != "update_id" for k in body):
        raise ControlError(400, "the update needs a field such as message or callback_query")
    update_id = state.enqueue(body)
    return web.json_response({"update_id": update_id, "last_seq": state.last_seq})


def _query_int(request: web.Request, name: str) -> int | None:
    value = request.query.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise ControlError(400, f"{name} must be an int") from exc


async def _ctl_events(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    chat_id = _query_int(request, "chat_id")
    after = _query_int(request, "after") or 0
    try:
        timeout = float(request.query.get("timeout") or 0)
    except ValueError as exc:
        raise ControlError(400, "timeout must be a number") from exc
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max(0.0, min(timeout, 300.0))
    while True:
        found = state.events_after(after, chat_id)
        remaining = deadline - loop.time()
        if found or remaining <= 0 or state.closing:
            break
        await state.events_signal.wait(remaining)
    return web.json_response({"events": copy.deepcopy(found), "last_seq": state.last_seq})


async def _ctl_chat_messages(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    try:
        chat_id = int(request.match_info["chat_id"])
    except ValueError as exc:
        raise ControlError(400, "chat_id must be an int") from exc
    with_users = request.query.get("with_users") == "1"
    messages = [
        {
            "message_id": m.message_id,
            "from_bot": m.from_bot,
            "text": m.raw_text,
            "plain_text": m.payload.get("text", m.payload.get("caption")),
            "entities": m.payload.get("entities", m.payload.get("caption_entities", [])),
            "parse_mode": m.parse_mode,
            "reply_markup": m.reply_markup,
            "edited": m.edited,
        }
        for m in sorted(state.messages.get(chat_id, {}).values(), key=lambda m: m.message_id)
        if (m.from_bot or with_users) and not m.deleted
    ]
    return web.json_response({"messages": copy.deepcopy(messages)})


async def _ctl_commands(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    result = []
    for (scope, chat_id, user_id, lang), commands in state.commands.items():
        entry: dict[str, Any] = {"scope": scope, "language_code": lang, "commands": commands}
        if chat_id is not None:
            entry["chat_id"] = chat_id
        if user_id is not None:
            entry["user_id"] = user_id
        result.append(entry)
    return web.json_response({"commands": copy.deepcopy(result)})


async def _ctl_callback_answers(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    chat_id = _query_int(request, "chat_id")
    answers = [a for a in state.callback_answers if chat_id is None or a["chat_id"] == chat_id]
    return web.json_response({"callback_answers": copy.deepcopy(answers)})


async def _ctl_pending(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    return web.json_response({"pending_updates": len(state.updates)})


async def _ctl_reset(request: web.Request) -> web.Response:
    request.app[STATE_KEY].reset()
    return web.json_response({"ok": True})


async def _ctl_add_fault(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    body = await _json_body(request)
    status = _req_int(body, "status")
    if status not in FAULT_STATUSES:
        raise ControlError(400, f"status must be one of {', '.join(map(str, FAULT_STATUSES))}")
    count = _opt_int(body, "count")
    count = 1 if count is None else count
    if count < 1:
        raise ControlError(400, "count must be at least 1")
    retry_after = _opt_int(body, "retry_after")
    if status == 429 and retry_after is None:
        retry_after = 1
    fault = {
        "chat_id": _opt_int(body, "chat_id"),
        "status": status,
        "retry_after": retry_after,
        "count": count,
    }
    state.faults.append(fault)
    return web.json_response({"ok": True, "faults": copy.deepcopy(state.faults)})


def _faults_view(state: EmulatorState) -> dict[str, Any]:
    return {
        "faults": copy.deepcopy(state.faults),
        "random": None if state.random_faults is None else state.random_faults.describe(),
        "hold": None if state.hold is None else state.hold.describe(),
        "in_flight": len(state.in_flight),
    }


async def _ctl_list_faults(request: web.Request) -> web.Response:
    return web.json_response(_faults_view(request.app[STATE_KEY]))


async def _ctl_clear_faults(request: web.Request) -> web.Response:
    request.app[STATE_KEY].clear_faults()
    return web.json_response({"ok": True})


def _rate(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ControlError(400, f"rates.{name} must be a number from 0 to 1")
    return float(value)


def _positive_seconds(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ControlError(400, f"{name} must be a positive number of seconds")
    return float(value)


def _fault_methods(body: dict[str, Any]) -> frozenset[str]:
    methods = body.get("methods", ["sendMessage"])
    if (
        not isinstance(methods, list)
        or not methods
        or not all(isinstance(m, str) and m.lower() in METHODS for m in methods)
    ):
        raise ControlError(400, "methods must be a non-empty list of Bot API method names")
    return frozenset(m.lower() for m in methods)


async def _ctl_set_random_faults(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    body = await _json_body(request)
    rates = body.get("rates")
    if not isinstance(rates, dict) or not set(rates) <= {"429", "500", "timeout"}:
        raise ControlError(400, 'rates must be an object with keys among "429", "500", "timeout"')
    rate_429, rate_500, rate_timeout = (
        _rate(rates.get(key, 0.0), key) for key in ("429", "500", "timeout")
    )
    if rate_429 + rate_500 + rate_timeout > 1 + 1e-9:
        raise ControlError(400, "the rates must add up to at most 1")
    retry_after = _opt_int(body, "retry_after")
    retry_after = 1 if retry_after is None else retry_after
    if retry_after < 1:
        raise ControlError(400, "retry_after must be at least 1 (seconds, as Telegram sends it)")
    seed = _opt_int(body, "seed")
    state.random_faults = RandomFaults(
        rate_429=rate_429,
        rate_500=rate_500,
        rate_timeout=rate_timeout,
        retry_after=retry_after,
        timeout_seconds=_positive_seconds(body.get("timeout_seconds", 30.0), "timeout_seconds"),
        methods=_fault_methods(body),
        seed=seed,
        rng=random.Random(seed),
    )
    return web.json_response({"ok": True, **_faults_view(state)})


async def _ctl_clear_random_faults(request: web.Request) -> web.Response:
    request.app[STATE_KEY].random_faults = None
    return web.json_response({"ok": True})


async def _ctl_set_hold(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    body = await _json_body(request)
    seconds = _positive_seconds(body.get("seconds"), "seconds")
    state.hold = Hold(seconds=seconds, methods=_fault_methods(body))
    return web.json_response({"ok": True, **_faults_view(state)})


async def _ctl_clear_hold(request: web.Request) -> web.Response:
    request.app[STATE_KEY].hold = None
    return web.json_response({"ok": True})


async def _ctl_attempts(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    chat_id = _query_int(request, "chat_id")
    after = _query_int(request, "after") or 0
    method = (request.query.get("method") or "").lower()
    attempts = [
        a
        for a in state.attempts
        if a["seq"] > after
        and (chat_id is None or a["chat_id"] == chat_id)
        and (not method or a["method"].lower() == method)
    ]
    in_flight = sorted(state.in_flight.values(), key=lambda a: a["request_id"])
    return web.json_response(
        {"attempts": copy.deepcopy(attempts), "in_flight": copy.deepcopy(in_flight)}
    )


@web.middleware
async def _control_errors(
    request: web.Request, handler: Callable[[web.Request], Any]
) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
    except ControlError as error:
        return web.json_response({"error": error.message}, status=error.status)
    return response


async def _on_shutdown(app: web.Application) -> None:
    app[STATE_KEY].wake_all()


def create_emulator_app(token: str | None = None) -> web.Application:
    """The emulator as an aiohttp app; ``token=None`` accepts any bot token."""
    app = web.Application(middlewares=[_control_errors], client_max_size=64 * 1024 * 1024)
    app[STATE_KEY] = EmulatorState(token=token)
    app.router.add_route("*", "/bot{token}/{method}", _bot_api)
    app.router.add_post("/_emulator/updates/message", _ctl_message)
    app.router.add_post("/_emulator/updates/callback", _ctl_callback)
    app.router.add_post("/_emulator/updates/raw", _ctl_raw)
    app.router.add_get("/_emulator/events", _ctl_events)
    app.router.add_get("/_emulator/chats/{chat_id}/messages", _ctl_chat_messages)
    app.router.add_get("/_emulator/commands", _ctl_commands)
    app.router.add_get("/_emulator/callback_answers", _ctl_callback_answers)
    app.router.add_get("/_emulator/pending_updates", _ctl_pending)
    app.router.add_post("/_emulator/reset", _ctl_reset)
    app.router.add_post("/_emulator/faults", _ctl_add_fault)
    app.router.add_get("/_emulator/faults", _ctl_list_faults)
    app.router.add_delete("/_emulator/faults", _ctl_clear_faults)
    app.router.add_post("/_emulator/faults/random", _ctl_set_random_faults)
    app.router.add_delete("/_emulator/faults/random", _ctl_clear_random_faults)
    app.router.add_post("/_emulator/faults/hold", _ctl_set_hold)
    app.router.add_delete("/_emulator/faults/hold", _ctl_clear_hold)
    app.router.add_get("/_emulator/attempts", _ctl_attempts)
    app.on_shutdown.append(_on_shutdown)
    return app


async def start_emulator(
    host: str = "127.0.0.1", port: int = 0, token: str | None = None
) -> tuple[web.AppRunner, str]:
    """Start the emulator; returns the runner (``await runner.cleanup()`` to stop) and the
    ``base_url`` for python-telegram-bot (``http://host:port/bot``)."""
    runner = web.AppRunner(create_emulator_app(token), access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    real_port = port
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            real_port = int(address[1])
            break
    return runner, f"http://{host}:{real_port}/bot"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Local Telegram Bot API emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default=None, help="only accept this bot token")
    parser.add_argument("--access-log", action="store_true", help="log every HTTP request")
    args = parser.parse_args(argv)

    app = create_emulator_app(args.token)
    root = f"http://{args.host}:{args.port}"
    print(f"Bot API emulator: base_url for the bot = {root}/bot ; control API = {root}/_emulator/")
    extra: dict[str, Any] = {} if args.access_log else {"access_log": None}
    web.run_app(app, host=args.host, port=args.port, print=None, shutdown_timeout=2.0, **extra)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
