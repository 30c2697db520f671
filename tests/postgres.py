"""A throwaway PostgreSQL server for the test session, on loopback, in a temporary folder.

Used whenever the server binaries are found (`.ci/run` installs them). PostgreSQL refuses
to run as root, so under root the server runs as the `postgres` (or `nobody`) user.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path


def find_bindir() -> Path | None:
    candidates = [os.environ.get("PG_BINDIR", "")]
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    which = shutil.which("pg_ctl")
    if which:
        candidates.append(str(Path(which).resolve().parent))
    for folder in candidates:
        if folder and (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_as(user: str | None, args: list[str]) -> None:
    command = ["runuser", "-u", user, "--", *args] if user else args
    subprocess.run(command, check=True, capture_output=True, timeout=120)


class PostgresServer:
    """A fresh server in a temporary folder; `stop` and `start` it again (same port, same
    data) to play an outage."""

    def __init__(self) -> None:
        bindir = find_bindir()
        if bindir is None:
            raise RuntimeError("PostgreSQL binaries not found")
        self.bindir = bindir
        self.user: str | None = None
        if os.geteuid() == 0:
            for name in ("postgres", "nobody"):
                with contextlib.suppress(KeyError):
                    pwd.getpwnam(name)
                    self.user = name
                    break
        self.root = Path(tempfile.mkdtemp(prefix="intake-pg-"))
        self.datadir, self.sockets = self.root / "data", self.root / "sockets"
        self.sockets.mkdir()
        if self.user:
            entry = pwd.getpwnam(self.user)
            for path in (self.root, self.sockets):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        self.port = _free_port()
        self.url = f"postgresql+asyncpg://intake@127.0.0.1:{self.port}/intake_test"

    def create(self) -> None:
        """initdb, start, and the database of `url`."""
        _run_as(
            self.user,
            [
                str(self.bindir / "initdb"),
                "-D",
                str(self.datadir),
                "-U",
                "intake",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
            ],
        )
        self.start()
        _run_as(
            self.user,
            [
                str(self.bindir / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "intake",
                "intake_test",
            ],
        )

    def start(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.sockets} -c fsync=off"
        _run_as(
            self.user,
            [
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.datadir),
                "-o",
                options,
                "-l",
                str(self.root / "server.log"),
                "-w",
                "start",
            ],
        )

    def stop(self) -> None:
        """Stop at once: every client is disconnected."""
        _run_as(
            self.user, [str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "stop"]
        )

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Yield a `postgresql+asyncpg://` URL of a fresh server; stop and delete it afterwards."""
    with running_postgres() as server:
        yield server.url


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """A fresh server, running; stopped and deleted afterwards."""
    server = PostgresServer()
    try:
        server.create()
        yield server
    finally:
        server.remove()
