"""`intake api-token add|revoke|list`, through the installed command."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from storage.api_tokens import authenticate_api_token
from storage.database import create_engine, create_sessionmaker

pytestmark = pytest.mark.slow  # the command, six times

INTAKE = Path(sys.executable).parent / "intake"
DATE = r"\d{4}-\d\d-\d\d \d\d:\d\d"


def api_token(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_")}
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path}/tokens.db"
    return subprocess.run(
        [str(INTAKE), "api-token", *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def authenticates(tmp_path: Path, token: str) -> bool:
    async def check() -> bool:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/tokens.db")
        try:
            async with create_sessionmaker(engine)() as session, session.begin():
                return await authenticate_api_token(session, token) is not None
        finally:
            await engine.dispose()

    return asyncio.run(check())


def test_add_list_revoke(tmp_path: Path) -> None:
    added = api_token(tmp_path, "add", "dashboard")
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip()
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token), added.stdout
    assert "Authorization: Bearer" in added.stderr and "/api/v1/" in added.stderr
    assert authenticates(tmp_path, token)

    again = api_token(tmp_path, "add", "dashboard")
    assert again.returncode == 1 and "exists already" in again.stderr
    assert again.stdout == ""

    listed = api_token(tmp_path, "list")
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()
    assert header.split() == ["NAME", "CREATED", "LAST", "USED", "REVOKED"]
    assert re.fullmatch(rf"dashboard  {DATE}  {DATE}  -", row), row  # used once above
    assert token not in listed.stdout

    revoked = api_token(tmp_path, "revoke", "dashboard")
    assert revoked.returncode == 0, revoked.stderr
    assert re.fullmatch(rf"dashboard: revoked since {DATE}\.\n", revoked.stdout)
    assert not authenticates(tmp_path, token)
    assert re.search(rf"dashboard  {DATE}  {DATE}  {DATE}", api_token(tmp_path, "list").stdout)

    unknown = api_token(tmp_path, "revoke", "nobody")
    assert unknown.returncode == 1 and "no token named 'nobody'" in unknown.stderr
