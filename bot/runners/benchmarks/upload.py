"""`intake bench upload`: does a large catalogue upload stall the service?

Importing a catalogue of tens of thousands of initiatives is CPU work (parsing, comparing
with what is stored, rebuilding the similarity index). This starts `intake run` (bot,
back-office and dispatcher in one process) against the local emulator on a fresh SQLite
database, signs in to the back-office as an administrator and uploads a synthetic CSV of
about `megabytes` MB, while two probes keep asking the same process: `/healthz` every
`PROBE_EVERY` seconds, and a citizen sending /help and waiting for the answer. The probes
run the same way for a few seconds before the upload, so the report compares the
process at rest and during the upload.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import platform
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from bot.backoffice.auth import hash_password
from bot.emulator.client import EmulatorClient
from bot.runners.benchmarks.load import (
    FIRST_CITIZEN,
    free_port,
    intake_on_emulator,
    percentile,
)
from bot.runners.benchmarks.matching import synthetic_catalogue
from matching.catalogue import COLUMNS
from matching.communes import commune_by_refnis
from storage.database import create_engine, create_sessionmaker
from storage.initiatives import catalogue_stamp
from storage.staff import add_staff

PROBE_EVERY = 0.05
"""Seconds between two /healthz probes (and the pause of the citizen between answers)."""
AT_REST_SECONDS = 3.0
EMAIL = "bench-admin@example.brussels"
PASSWORD = "bench upload passphrase, not secret"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


CATALOGUE_THEMES = {
    "animals": "nature",
    "education": "youth",
    "environment": "nature",
    "greening": "nature",
    "health": "sport_health",
    "safety": "public_space",
    "sharing": "social",
    "solidarity": "social",
    "sport": "sport_health",
    "waste": "zero_waste",
}
"""The synthetic catalogue's themes (`intake bench matching`'s) that the catalogue calls
otherwise."""


def catalogue_csv(megabytes: float) -> tuple[bytes, int]:
    """A synthetic catalogue in the upload's CSV format, about `megabytes` MB; its rows."""
    target = int(megabytes * 1024 * 1024)
    size = 1000
    while True:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(COLUMNS)
        for rows, document in enumerate(synthetic_catalogue(size), start=1):
            commune = commune_by_refnis(document.commune).name("fr") if document.commune else ""
            writer.writerow(
                (
                    document.id,
                    document.name,
                    document.description,
                    commune,
                    ";".join(dict.fromkeys(CATALOGUE_THEMES.get(t, t) for t in document.themes)),
                    document.language or "",
                    f"https://initiatives.example.brussels/{document.id}",
                )
            )
            if buffer.tell() >= target:
                return buffer.getvalue().encode(), rows
        size *= 2


class Probe:
    """Times one request after another until stopped; the times, in seconds, by phase."""

    def __init__(self, request: Callable[[], Awaitable[object]]) -> None:
        self.request = request
        self.times: dict[str, list[float]] = {"at rest": [], "during the upload": []}
        self.phase = "at rest"
        self.failures = 0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            started = time.perf_counter()
            try:
                await self.request()
            except Exception:
                self.failures += 1
            self.times[self.phase].append(time.perf_counter() - started)
            await asyncio.sleep(PROBE_EVERY)


def _summary(times: list[float]) -> dict[str, float | int | None]:
    ordered = sorted(times)
    if not ordered:
        return {"count": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}
    return {
        "count": len(ordered),
        "p50_ms": round(percentile(ordered, 0.5) * 1000, 1),
        "p99_ms": round(percentile(ordered, 0.99) * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


async def _add_admin(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            await add_staff(session, EMAIL, hash_password(PASSWORD), "admin", "en")
    finally:
        await engine.dispose()


async def _wait_until_up(web: aiohttp.ClientSession, root: str, timeout: float = 60) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            async with web.get(f"{root}/healthz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    raise TimeoutError(f"intake run did not answer on {root}/healthz in {timeout:.0f} s")


async def _csrf(web: aiohttp.ClientSession, url: str) -> str:
    async with web.get(url) as page:
        found = CSRF.search(await page.text())
    if found is None:
        raise RuntimeError(f"no CSRF token on {url}")
    return found.group(1)


async def _upload(web: aiohttp.ClientSession, root: str, data: bytes) -> None:
    """Sign in as the administrator, and upload."""
    login = {"email": EMAIL, "password": PASSWORD, "csrf_token": await _csrf(web, f"{root}/login")}
    async with web.post(f"{root}/login", data=login) as signed_in:
        if signed_in.status != 200 or "/login" in str(signed_in.url):
            raise RuntimeError("could not sign in to the back-office")
    form = aiohttp.FormData()
    form.add_field("csrf_token", await _csrf(web, f"{root}/initiatives"))
    form.add_field("file", data, filename="catalogue.csv", content_type="text/csv")
    async with web.post(f"{root}/initiatives/upload", data=form) as uploaded:
        await uploaded.read()
        if uploaded.status != 200:
            raise RuntimeError(f"the upload got HTTP {uploaded.status}")


async def _catalogue_size(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            count, _newest = await catalogue_stamp(session)
        return count
    finally:
        await engine.dispose()


async def run_upload_benchmark(megabytes: float = 8.0) -> dict[str, Any]:
    data, rows = await asyncio.to_thread(catalogue_csv, megabytes)
    port = free_port()
    root = f"http://127.0.0.1:{port}"
    jar = aiohttp.CookieJar(unsafe=True)  # the session cookie of 127.0.0.1
    async with (
        intake_on_emulator("run", _add_admin, WEB_PORT=str(port), SECRET_KEY="b" * 32) as run,
        aiohttp.ClientSession(cookie_jar=jar) as web,
        aiohttp.ClientSession() as prober,
        EmulatorClient(run.emulator_url) as client,
    ):
        await _wait_until_up(web, root)

        async def healthz() -> None:
            async with prober.get(f"{root}/healthz") as response:
                response.raise_for_status()

        async def citizen() -> None:
            await client.send_text(FIRST_CITIZEN, "/help", language_code="en")
            await client.wait_for_reply(FIRST_CITIZEN, timeout=120, quiet=0.0)

        probes = {"healthz": Probe(healthz), "bot": Probe(citizen)}
        stop = asyncio.Event()
        running = [asyncio.create_task(p.run(stop)) for p in probes.values()]
        await asyncio.sleep(AT_REST_SECONDS)
        for probe in probes.values():
            probe.phase = "during the upload"
        started = time.perf_counter()
        await _upload(web, root, data)
        seconds = time.perf_counter() - started
        stop.set()
        await asyncio.gather(*running)
        initiatives = await _catalogue_size(run.database_url)
    return {
        "megabytes": round(len(data) / 1024 / 1024, 1),
        "rows": rows,
        "upload_seconds": round(seconds, 2),
        "initiatives_after": initiatives,
        "probes": {
            name: {
                "failures": probe.failures,
                **{phase: _summary(times) for phase, times in probe.times.items()},
            }
            for name, probe in probes.items()
        },
        "python": platform.python_version(),
        "cores": os.cpu_count(),
    }


def format_upload_report(result: dict[str, Any]) -> str:
    lines = [
        f"Upload of a {result['megabytes']:g} MB catalogue ({result['rows']} rows) to "
        f"`intake run`: {result['upload_seconds']:g} s, {result['initiatives_after']} "
        f"initiatives in the catalogue after it (Python {result['python']}, "
        f"{result['cores']} cores)",
        f"{'':10} {'phase':18} {'requests':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}",
    ]
    for name, probe in result["probes"].items():
        for phase in ("at rest", "during the upload"):
            s = probe[phase]
            lines.append(
                f"{name:10} {phase:18} {s['count']:>8} {s['p50_ms'] or '-':>8} "
                f"{s['p99_ms'] or '-':>8} {s['max_ms'] or '-':>8}"
            )
        if probe["failures"]:
            lines.append(f"{name:10} failed requests: {probe['failures']}")
    return "\n".join(lines)
