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


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Yield a `postgresql+asyncpg://` URL of a fresh server; stop and delete it afterwards."""
    bindir = find_bindir()
    if bindir is None:
        raise RuntimeError("PostgreSQL binaries not found")
    user: str | None = None
    if os.geteuid() == 0:
        for name in ("postgres", "nobody"):
            with contextlib.suppress(KeyError):
                pwd.getpwnam(name)
                user = name
                break
    root = Path(tempfile.mkdtemp(prefix="intake-pg-"))
    datadir, sockets = root / "data", root / "sockets"
    sockets.mkdir()
    if user:
        entry = pwd.getpwnam(user)
        for path in (root, sockets):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    port = _free_port()
    try:
        _run_as(
            user,
            [
                str(bindir / "initdb"),
                "-D",
                str(datadir),
                "-U",
                "intake",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
            ],
        )
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {sockets} -c fsync=off"
        _run_as(
            user,
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(datadir),
                "-o",
                options,
                "-l",
                str(root / "server.log"),
                "-w",
                "start",
            ],
        )
        try:
            _run_as(
                user,
                [
                    str(bindir / "createdb"),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    "-U",
                    "intake",
                    "intake_test",
                ],
            )
            yield f"postgresql+asyncpg://intake@127.0.0.1:{port}/intake_test"
        finally:
            _run_as(user, [str(bindir / "pg_ctl"), "-D", str(datadir), "-m", "fast", "stop"])
    finally:
        shutil.rmtree(root, ignore_errors=True)
