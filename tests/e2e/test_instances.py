"""Two `intake bot` instances behind a real reverse proxy (nginx, started here on loopback)
on one PostgreSQL database, Telegram delivering by webhook: a crowd completes the intake,
nothing is lost or applied twice, each chat's updates in order whichever instance took them.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from bot.emulator.client import EmulatorClient
from storage.database import create_engine, create_sessionmaker
from storage.models import Conversation, InboxUpdate, Proposal
from tests.e2e.support import TOKEN, WALKS, PatientCitizen, walk
from tests.processes import IntakeProcess, intake_env

pytestmark = pytest.mark.e2e

CITIZENS = 30
SECRET = "two-instances-webhook-secret"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


NGINX_CONF = """
daemon off;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
{user}
events {{ worker_connections 256; }}
http {{
    log_format upstream '$request_uri $status $upstream_addr';
    access_log {root}/access.log upstream;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    # max_fails=0: never set an instance aside for a while (they start after nginx, and
    # nginx's clock misbehaves under the libfaketime of make test-moved-clock)
    upstream intake_bot {{
        server 127.0.0.1:{first} max_fails=0;
        server 127.0.0.1:{second} max_fails=0;
    }}
    server {{
        listen 127.0.0.1:{port};
        location = /telegram/webhook {{
            proxy_pass http://intake_bot;
            proxy_next_upstream error timeout http_502 http_503;
        }}
    }}
}}
"""


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[tuple[str, list[int]]]:
    """nginx in front of two bot ports; (its webhook URL, the two ports)."""
    if NGINX is None:
        pytest.skip("nginx is not installed (Debian package nginx; .ci/run installs it)")
    root = tmp_path / "nginx"
    root.mkdir()
    ports = [free_port(), free_port()]
    port = free_port()
    conf = root / "nginx.conf"
    conf.write_text(
        NGINX_CONF.format(
            root=root,
            user="user root;"
            if subprocess.run(["id", "-u"], capture_output=True).stdout.strip() == b"0"
            else "",
            first=ports[0],
            second=ports[1],
            port=port,
        )
    )
    output = (root / "output.log").open("wb")
    server = subprocess.Popen([NGINX, "-p", str(root), "-c", str(conf)], stderr=output)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                assert server.poll() is None, (root / "output.log").read_text()
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/telegram/webhook", ports
    finally:
        server.terminate()
        server.wait(timeout=10)
        output.close()


async def test_two_bot_instances_behind_nginx_share_the_crowd(
    emulator: str, postgres_url: str, tmp_path: Path, proxy: tuple[str, list[int]]
) -> None:
    url, ports = proxy
    instances = []
    for number, port in enumerate(ports, 1):
        env = intake_env(
            TELEGRAM_TOKEN=TOKEN,
            TELEGRAM_API_URL=emulator,
            DATABASE_URL=postgres_url,
            TELEGRAM_WEBHOOK_URL=url,
            TELEGRAM_WEBHOOK_SECRET=SECRET,
            WEBHOOK_PORT=str(port),
        )
        instances.append(IntakeProcess(env, tmp_path, "bot", f"bot{number}"))
    for instance in instances:
        instance.start()
    engine = create_engine(postgres_url)
    sessions = create_sessionmaker(engine)
    languages = ["fr", "nl", "en"]
    try:
        # a request without the secret is refused by whichever instance gets it (502 while
        # neither has started yet)
        status = 502
        async with aiohttp.ClientSession() as http, asyncio.timeout(60):
            while status == 502:
                await asyncio.sleep(0.2)
                async with http.post(url, json={"update_id": 1}) as response:
                    status = response.status
        assert status == 403
        async with EmulatorClient(emulator) as client:
            citizens = [
                PatientCitizen(client, sessions, 9500 + n, languages[n % 3])
                for n in range(CITIZENS)
            ]
            answers = await asyncio.gather(*(walk(c, WALKS[c.language_code]) for c in citizens))
        async with sessions() as session:
            proposals = list((await session.execute(select(Proposal))).scalars())
            steps = {
                c.chat_id: c.step for c in (await session.execute(select(Conversation))).scalars()
            }
            unfinished = (
                (await session.execute(select(InboxUpdate).where(InboxUpdate.status != "done")))
                .scalars()
                .all()
            )
    finally:
        codes = [await asyncio.to_thread(instance.stop) for instance in instances]
        await engine.dispose()
    assert codes == [0, 0], [instance.log() for instance in instances]
    assert len(proposals) == CITIZENS and len({p.reference for p in proposals}) == CITIZENS
    assert unfinished == []
    for citizen, answer in zip(citizens, answers, strict=True):
        assert steps[citizen.user_id] == "done"
        proposal = next(p for p in proposals if p.reference in answer)
        assert proposal.title == WALKS[citizen.language_code]["title"]
    served = (tmp_path / "nginx" / "access.log").read_text().splitlines()
    upstreams = {line.split()[-1] for line in served if line.startswith("/telegram/webhook 200")}
    assert upstreams == {f"127.0.0.1:{port}" for port in ports}  # both instances took updates
    for instance in instances:
        assert "Traceback" not in instance.log(), instance.log()
