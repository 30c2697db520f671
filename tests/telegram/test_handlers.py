"""The Telegram adapter's own behaviour: how a result becomes Bot API calls."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.fakes import FakeTelegram

EDITS = ("editMessageText", "editMessageReplyMarkup")


async def test_the_toast_and_the_pressed_message_go_out_together_before_the_reply(
    make_chat: Any, telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    chat = make_chat("en")
    await chat.send("/start")
    events: list[tuple[str, str]] = []
    send = telegram.do_request

    async def slow_toast(url: str, method: str, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        name = url.rsplit("/", 1)[-1]
        events.append(("start", name))
        if name == "answerCallbackQuery":
            await asyncio.sleep(0.2)  # a slow round trip: the edit must not wait for it
        response = await send(url, method, *args, **kwargs)
        events.append(("end", name))
        return response

    monkeypatch.setattr(telegram, "do_request", slow_toast)
    await chat.press("Start my proposal")
    [edit] = {name for _, name in events if name in EDITS}
    toast_done = events.index(("end", "answerCallbackQuery"))
    assert events.index(("start", edit)) < toast_done
    first_reply = events.index(("start", "sendMessage"))
    assert first_reply > max(toast_done, events.index(("end", edit)))
