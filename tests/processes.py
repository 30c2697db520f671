"""The `intake` program run as a user runs it, for end-to-end tests: settings come from the
environment only, output goes to a log file in the test's folder."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bot.runners.settings import Settings
from storage.clock import BRUSSELS
from storage.models import Proposal

INTAKE = Path(sys.executable).parent / "intake"
SETTING_NAMES = tuple(name.upper() for name in Settings.model_fields)


def process_reference(proposal: Proposal) -> str:
    """The reference a started process gave `proposal`: it runs on its own system clock, so
    the year is read from the stored submission time (its Brussels date), never assumed."""
    return f"BXL-{proposal.submitted_at.astimezone(BRUSSELS).year}-{proposal.id:05d}"


def intake_env(**settings: str) -> dict[str, str]:
    """This environment without any of the program's settings, plus `settings`."""
    env = {key: value for key, value in os.environ.items() if key not in SETTING_NAMES}
    env.update(settings)
    return env


@dataclass
class IntakeProcess:
    """A long-running `intake <command>` (run, dispatch, web)."""

    env: dict[str, str]
    workdir: Path
    command: str = "run"
    name: str = "bot"
    process: subprocess.Popen[bytes] | None = None

    @property
    def logfile(self) -> Path:
        return self.workdir / f"{self.name}.log"

    def start(self) -> None:
        with self.logfile.open("ab") as log:
            self.process = subprocess.Popen(
                [str(INTAKE), self.command], cwd=self.workdir, env=self.env, stdout=log, stderr=log
            )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                raise
        return self.process.returncode

    def log(self) -> str:
        return self.logfile.read_text(errors="replace") if self.logfile.exists() else ""


async def run_intake(
    env: dict[str, str], workdir: Path, *args: str, stdin: bytes | None = None
) -> tuple[int, str, str]:
    """A one-shot `intake ...`: its exit code, standard output and standard error."""
    process = await asyncio.create_subprocess_exec(
        str(INTAKE),
        *args,
        cwd=workdir,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(stdin), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()
