"""`intake staff add`: the password comes from standard input, never an argument."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.backoffice.auth import verify_password
from storage.database import create_engine, create_sessionmaker
from storage.staff import staff_by_email

pytestmark = pytest.mark.slow  # the command, three times

INTAKE = Path(sys.executable).parent / "intake"


def staff_add(tmp_path: Path, *args: str, password: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_")}
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path}/staff.db"
    return subprocess.run(
        [str(INTAKE), "staff", "add", *args],
        input=password + "\n",
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_add_then_refuse_a_duplicate_and_a_short_password(tmp_path: Path) -> None:
    added = staff_add(
        tmp_path, "Ana@Example.be", "--role", "reviewer", password="correct horse battery"
    )
    assert added.returncode == 0, added.stderr
    assert "Added ana@example.be as reviewer." in added.stdout
    again = staff_add(tmp_path, "ana@example.be", "--role", "admin", password="another long one")
    assert again.returncode == 2 and "already has an account" in again.stderr
    short = staff_add(tmp_path, "bo@example.be", "--role", "admin", password="short")
    assert short.returncode == 2 and "at least 12 characters" in short.stderr

    async def stored() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/staff.db")
        try:
            async with create_sessionmaker(engine)() as session:
                ana = await staff_by_email(session, "ana@example.be")
                assert ana is not None and ana.role == "reviewer"
                assert verify_password(ana.password_hash, "correct horse battery")
                assert await staff_by_email(session, "bo@example.be") is None
        finally:
            await engine.dispose()

    asyncio.run(stored())
