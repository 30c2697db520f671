"""Chat with the bot from a terminal, through the Bot API emulator.

Start the emulator (``python -m bot.emulator.server --port 8081``), start the bot with its
``base_url`` pointed at ``http://127.0.0.1:8081/bot``, then run
``python -m bot.emulator.terminal --url http://127.0.0.1:8081``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import threading
from collections.abc import Awaitable, Callable
from html.parser import HTMLParser
from typing import Any, TextIO

import aiohttp

from bot.emulator.client import EmulatorClient, EmulatorError

InputFunc = Callable[[str], Awaitable[str]]

PROMPT = "> "
_INDENT = "     "

_ANSI_STYLES: dict[str, tuple[str, str]] = {
    "b": ("\033[1m", "\033[22m"),
    "strong": ("\033[1m", "\033[22m"),
    "i": ("\033[3m", "\033[23m"),
    "em": ("\033[3m", "\033[23m"),
    "u": ("\033[4m", "\033[24m"),
    "ins": ("\033[4m", "\033[24m"),
    "s": ("\033[9m", "\033[29m"),
    "strike": ("\033[9m", "\033[29m"),
    "del": ("\033[9m", "\033[29m"),
    "code": ("\033[36m", "\033[39m"),
    "pre": ("\033[36m", "\033[39m"),
    "tg-spoiler": ("\033[7m", "\033[27m"),
    "span": ("\033[7m", "\033[27m"),
}
_DIM = ("\033[2m", "\033[22m")


def _banner(user_id: int, language_code: str | None) -> str:
    language = f"language {language_code}" if language_code else "no language_code"
    return "\n".join(
        [
            f"Emulator chat as user {user_id} ({language}). Type a message, Enter to send.",
            "  N              press button [N] of the bot's newest message (a number it",
            "                 has no button for, such as a postcode, is sent as text)",
            "  /loc LAT LON   share a location (e.g. /loc 50.85 4.35)",
            "  /sticker /photo /voice   send a sticker, a photo, a voice note",
            "  /quit or Ctrl-D   leave",
        ]
    )


class _TerminalHTML(HTMLParser):
    """Telegram HTML → terminal text (ANSI styles only when ``ansi``)."""

    def __init__(self, ansi: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.ansi = ansi
        self.parts: list[str] = []
        self._depth: dict[str, int] = {}
        self._links: list[tuple[str, int]] = []

    def _style(self, tag: str, opening: bool) -> None:
        codes = _ANSI_STYLES.get(tag)
        if not self.ansi or codes is None:
            return
        key = codes[0]
        depth = self._depth.get(key, 0)
        if opening:
            if depth == 0:
                self.parts.append(codes[0])
            self._depth[key] = depth + 1
        elif depth > 0:
            self._depth[key] = depth - 1
            if depth == 1:
                self.parts.append(codes[1])

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._style(tag, True)
        if tag == "a":
            self._links.append((dict(attrs).get("href") or "", len(self.parts)))

    def handle_endtag(self, tag: str) -> None:
        self._style(tag, False)
        if tag == "a" and self._links:
            href, start = self._links.pop()
            inner = "".join(p for p in self.parts[start:] if not p.startswith("\033"))
            if href and href != inner:
                self.parts.append(f" ({href})")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)

    def text(self) -> str:
        self.close()
        return "".join(self.parts)


def html_to_terminal(text: str, *, ansi: bool = False) -> str:
    """Strip Telegram HTML tags and unescape entities; bold/italic... as ANSI when ``ansi``."""
    parser = _TerminalHTML(ansi)
    parser.feed(text)
    return parser.text()


def _buttons_lines(markup: Any) -> list[str]:
    if not isinstance(markup, dict):
        return []
    lines: list[str] = []
    if isinstance(markup.get("inline_keyboard"), list):
        number = 0
        for row in markup["inline_keyboard"]:
            cells = []
            for button in row:
                number += 1
                label = str(button.get("text", "")) if isinstance(button, dict) else str(button)
                if isinstance(button, dict) and button.get("url"):
                    label += f" <{button['url']}>"
                cells.append(f"[{number}] {label}")
            lines.append("  ".join(cells))
    elif isinstance(markup.get("keyboard"), list):
        labels = [
            str(b.get("text", "")) if isinstance(b, dict) else str(b)
            for row in markup["keyboard"]
            for b in row
        ]
        lines.append("keyboard: " + " | ".join(labels))
    return lines


PREVIEW_LINES = 40


def _preview(text: str) -> str:
    """The start of a text file sent by the bot, framed."""
    lines = text.rstrip("\n").split("\n")
    shown = lines[:PREVIEW_LINES]
    if len(lines) > PREVIEW_LINES:
        shown.append(f"… ({len(lines) - PREVIEW_LINES} more lines)")
    return "\n".join("│ " + line for line in shown)


def render_event(event: dict[str, Any], *, ansi: bool = False) -> str | None:
    """How one emulator event is shown in the terminal (None: nothing to show)."""
    kind = event.get("kind")
    if kind in ("send", "edit"):
        text = event.get("text")
        if text is not None and str(event.get("parse_mode") or "").lower() == "html":
            body = html_to_terminal(str(text), ansi=ansi)
        else:
            body = "" if text is None else str(text)
        location = event.get("location")
        if isinstance(location, dict):
            body = f"(location) {location.get('latitude')}, {location.get('longitude')}"
        elif event.get("file_name"):
            body = f"({event['media']} {event['file_name']}) {body}".rstrip()
            if isinstance(event.get("file_text"), str):
                body += "\n" + _preview(event["file_text"])
        elif event.get("media"):
            body = f"({event['media']}) {body}".rstrip()
        header = "bot (edited):" if kind == "edit" else "bot:"
        lines = body.split("\n") if body else [""]
        lines += _buttons_lines(event.get("reply_markup"))
        return "\n".join([f"{header} {lines[0]}", *(_INDENT + line for line in lines[1:])])
    if kind == "delete":
        return f"bot: (deleted message #{event.get('message_id')})"
    if kind == "answer_callback":
        text = event.get("text")
        if not text:
            return None
        what = "alert" if event.get("show_alert") else "notification"
        return f"bot ({what}): {text}"
    return None


class _Screen:
    def __init__(self, output: TextIO) -> None:
        self.output = output
        try:
            self.tty = output.isatty()
        except (AttributeError, ValueError):
            self.tty = False
        self.waiting_for_input = False

    def show(self, text: str) -> None:
        if self.tty and self.waiting_for_input:
            # Clear the pending prompt, print, and draw the prompt again.
            self.output.write("\r\033[K" + text + "\n" + PROMPT)
        else:
            self.output.write(text + "\n")
        self.output.flush()

    def notice(self, text: str) -> None:
        if self.tty:
            text = _DIM[0] + text + _DIM[1]
        self.show(f"!! {text}")


async def _default_input(prompt: str) -> str:
    """:func:`input` in a daemon thread.

    Not ``asyncio.to_thread``: when the chat task is cancelled (e.g. SIGTERM in ``intake run``
    demo mode) a thread blocked in ``input()`` would keep ``asyncio.run`` from returning until
    the person presses Enter; a daemon thread does not.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[str] = loop.create_future()

    def deliver(line: str | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(line or "")

    def read() -> None:
        try:
            line = input(prompt)
        except (EOFError, KeyboardInterrupt, OSError, ValueError) as exc:
            error: BaseException = exc if isinstance(exc, EOFError) else EOFError(str(exc))
            with contextlib.suppress(RuntimeError):  # the loop may be closed by now
                loop.call_soon_threadsafe(deliver, None, error)
        else:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(deliver, line, None)

    threading.Thread(target=read, name="terminal-input", daemon=True).start()
    return await future


class _Watcher:
    """Background task printing the bot's events for one chat as they arrive."""

    def __init__(self, client: EmulatorClient, chat_id: int, after: int, screen: _Screen) -> None:
        self.client = client
        self.chat_id = chat_id
        self.after = after
        self.screen = screen
        self._texts: dict[Any, Any] = {}

    def _show(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            self.after = max(self.after, int(event["seq"]))
            message_id, text = event.get("message_id"), event.get("text")
            edit = event.get("kind") == "edit"
            unchanged = edit and (text is None or self._texts.get(message_id) == text)
            if text is not None:
                self._texts[message_id] = text
            if unchanged and not event.get("reply_markup"):
                continue  # only the buttons of an answered question went away
            rendered = render_event(event, ansi=self.screen.tty)
            if rendered is not None:
                self.screen.show(rendered)

    async def run(self) -> None:
        while True:
            try:
                events = await self.client.events(self.chat_id, after=self.after, timeout=20.0)
            except (aiohttp.ClientError, EmulatorError, TimeoutError) as exc:
                self.screen.notice(f"emulator unreachable ({exc!r}); retrying")
                await asyncio.sleep(1.0)
                continue
            self._show(events)

    async def flush(self) -> None:
        with contextlib.suppress(aiohttp.ClientError, EmulatorError, TimeoutError):
            self._show(await self.client.events(self.chat_id, after=self.after))


async def _newest_button_count(client: EmulatorClient, chat_id: int) -> int:
    """How many numbered buttons the bot's newest message shows: a number beyond them (a
    postcode, a budget) is text to send, not a press."""
    messages = await client.messages(chat_id)
    markup = messages[-1].get("reply_markup") if messages else None
    if not isinstance(markup, dict) or not isinstance(markup.get("inline_keyboard"), list):
        return 0
    return sum(len(row) for row in markup["inline_keyboard"] if isinstance(row, list))


async def _handle_line(
    client: EmulatorClient, line: str, user_id: int, profile: dict[str, Any], screen: _Screen
) -> None:
    if line.isdigit() and 1 <= int(line) <= await _newest_button_count(client, user_id):
        await client.press_button(user_id, user_id, int(line), **profile)
        return
    command, _, rest = line.partition(" ")
    if command == "/loc":
        try:
            lat_text, lon_text = rest.replace(",", " ").split()
            lat, lon = float(lat_text), float(lon_text)
        except ValueError:
            screen.notice("usage: /loc LAT LON   e.g. /loc 50.85 4.35")
            return
        await client.send_location(user_id, lat, lon, **profile)
    elif command == "/sticker":
        await client.send_sticker(user_id, **profile)
    elif command == "/photo":
        await client.send_photo(user_id, caption=rest.strip() or None, **profile)
    elif command == "/voice":
        await client.send_voice(user_id, **profile)
    else:
        await client.send_text(user_id, line, **profile)


async def run_terminal_chat(
    emulator_url: str,
    user_id: int = 4242,
    language_code: str | None = "fr",
    first_name: str = "Demo",
    input_func: InputFunc | None = None,
    output: TextIO = sys.stdout,
    opening_message: str | None = None,
) -> None:
    """Let a person chat with the bot: read lines, send them as the user, print the bot.

    ``input_func(prompt)`` is awaited for each line and raises :class:`EOFError` at the end
    (default: :func:`input` in a thread). ``language_code=None`` makes a user without a
    Telegram language, so the bot's fallback language is used. ``opening_message`` is
    sent first, as Telegram sends /start when a person opens a bot.
    """
    read = input_func or _default_input
    screen = _Screen(output)
    profile: dict[str, Any] = {"language_code": language_code, "first_name": first_name}
    async with EmulatorClient(emulator_url) as client:
        watcher = _Watcher(client, user_id, await client.last_seq(), screen)
        screen.show(_banner(user_id, language_code))
        task = asyncio.create_task(watcher.run())
        try:
            if opening_message:
                screen.show(f"{PROMPT}{opening_message}")
                await client.send_text(user_id, opening_message, **profile)
            while True:
                screen.waiting_for_input = True
                try:
                    line = (await read(PROMPT)).strip()
                except EOFError:
                    break
                finally:
                    screen.waiting_for_input = False
                if not line:
                    continue
                if line == "/quit":
                    break
                try:
                    await _handle_line(client, line, user_id, profile, screen)
                except LookupError as exc:
                    screen.notice(str(exc))
                except (aiohttp.ClientError, EmulatorError) as exc:
                    screen.notice(f"could not send: {exc}")
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await watcher.flush()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Chat with the bot through the emulator")
    parser.add_argument("--url", default="http://127.0.0.1:8081", help="emulator root URL")
    parser.add_argument("--user-id", type=int, default=4242)
    parser.add_argument("--lang", default="fr", help="the user's Telegram language_code")
    parser.add_argument("--name", default="Demo", help="the user's first name")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_terminal_chat(args.url, args.user_id, args.lang, args.name))


if __name__ == "__main__":
    main()
