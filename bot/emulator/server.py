"""A local Telegram Bot API emulator (aiohttp).

The bot talks to it exactly like to ``api.telegram.org``: python-telegram-bot only needs
``base_url`` pointed at ``http://127.0.0.1:{port}/bot``.  Tests and the terminal demo drive the
user side through a small JSON control API under ``/_emulator/`` (see :mod:`bot.emulator.client`).

Run it standalone with ``python -m bot.emulator.server --port 8081`` (or ``intake emulator``).

This module is its HTTP side (the Bot API route, the app, start-up); the rest is split along
its own sections: :mod:`bot.emulator.state` (what it holds), :mod:`bot.emulator.params`
(reading parameters), :mod:`bot.emulator.markup` (Telegram's HTML), :mod:`bot.emulator.methods`
(the Bot API methods) and :mod:`bot.emulator.control` (the control API).

Faithfulness notes (what Telegram does and the emulator copies):

* parameters may come as JSON, urlencoded or multipart; answers are ``{"ok": ..., ...}``;
* ``parse_mode=HTML`` is parsed like Telegram's server does (same error texts, byte offsets),
  the returned ``Message`` carries the plain text plus ``entities``;
* ``editMessageText`` without ``reply_markup`` removes the inline keyboard, like Telegram;
* only inline keyboards are echoed back in the returned ``Message``;
* a new ``getUpdates`` call terminates a pending one with ``409 Conflict``;
* after ``setWebhook`` updates are POSTed to the bot instead (secret token header,
  ``max_connections`` at a time, retried until a 2xx: :mod:`bot.emulator.webhook`), and
  ``getUpdates`` answers ``409 Conflict``.

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
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from bot.emulator.control import ControlError, add_control_routes
from bot.emulator.methods import (
    ASYNC_METHODS,
    METHODS,
    Handler,
    injected_fault,
    too_many_requests,
)
from bot.emulator.params import read_params
from bot.emulator.state import STATE_KEY, ApiError, EmulatorState
from bot.emulator.webhook import webhook_delivery


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
        params = await read_params(request)
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

    fault = injected_fault(state, chat_id) if name == "sendmessage" else None
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
            fault = too_many_requests(chaos.retry_after)
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
    add_control_routes(app)
    app.on_shutdown.append(_on_shutdown)
    app.cleanup_ctx.append(webhook_delivery)
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
