"""Faults of the embedded Valkey, as an operator meets them: the server killed under a
running app (chat recovers without a restart, nothing acknowledged is lost), a server
that cannot come back (`/healthz` fails, so the platform restarts the process), the web
process killed with SIGKILL, and the reference shop stopped with SIGTERM (neither
leaves a Valkey running without an owner)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import httpx
import pytest
import redis.asyncio as aioredis
from app_harness import auth, make_settings, running, start_session

from app.redis_server import answers_ping, socket_path_for
from tests.app.test_cli import environment, free_port
from tests.live import eventually

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="kills processes by pid")


@pytest.fixture
def data_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="ohb-") as folder:  # short: a unix socket's path
        yield Path(folder) / "data"


async def valkey_pid(data_dir: Path) -> int:
    client = aioredis.Redis(unix_socket_path=str(socket_path_for(data_dir)))
    try:
        return int((await client.info("server"))["process_id"])
    finally:
        await client.aclose()


def running_pid(pid: int) -> bool:
    """True while `pid` runs (a zombie waiting for its parent to reap it has ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


async def gone(pid: int, socket_path: Path, within: float = 20.0) -> bool:
    """True once the process has ended and its socket no longer answers."""
    await eventually(lambda: not running_pid(pid) and not answers_ping(socket_path, 0.2),
                     within=within, every=0.1)
    return True


@pytest.fixture
async def app(data_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with running(make_settings(None, data_dir)) as client:
        yield client


async def send(app: httpx.AsyncClient, token: str, message_id: str, text: str) -> httpx.Response:
    return await app.post("/api/chat/messages", headers=auth(token),
                          json={"message_id": message_id, "text": text})


async def test_chat_recovers_without_a_restart_after_the_embedded_valkey_is_killed(
    app: httpx.AsyncClient, data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    token, _ = await start_session(app)
    asked = await send(app, token, "m1", "track 100006")
    assert asked.json()["replies"][-1]["key"] == "verify.ask_factor"
    killed = await valkey_pid(data_dir)
    os.kill(killed, signal.SIGKILL)
    assert await gone(killed, socket_path_for(data_dir))
    answers: list[httpx.Response] = []

    async def answered() -> bool:  # 503 while it is down, then the same chat goes on
        answers.append(await send(app, token, "m2", "vikram.singh@example.com"))
        assert answers[-1].status_code in (200, 503), answers[-1].text
        return answers[-1].status_code == 200

    await eventually(answered, within=30, every=0.2)
    assert answers[-1].json()["replies"][0]["key"] == "snapshot.header"  # nothing was lost
    assert await valkey_pid(data_dir) != killed
    assert (await app.get("/readyz")).status_code == 200
    assert (await app.get("/healthz")).status_code == 200
    # the keeper says so once its own check of the new server passes, which may come
    # a moment after the chat's client reconnected
    await eventually(lambda: "restarted" in caplog.text, within=10, every=0.1)
    assert "embedded Valkey" in caplog.text


async def test_healthz_fails_when_the_embedded_valkey_cannot_be_restarted(
    app: httpx.AsyncClient, data_dir: Path
) -> None:
    assert (await app.get("/healthz")).status_code == 200
    killed = await valkey_pid(data_dir)
    os.kill(killed, signal.SIGKILL)
    assert await gone(killed, socket_path_for(data_dir))
    for manifest in (data_dir / "appendonlydir").glob("*.manifest"):
        manifest.write_text("not an AOF manifest\n")  # a server on these files cannot start

    async def failing() -> bool:
        return (await app.get("/healthz")).status_code == 503

    await eventually(failing, within=60, every=0.2)
    assert (await app.get("/healthz")).json() == {"status": "failing", "store": "down"}


async def wait_until_serving(port: int, path: str, process: asyncio.subprocess.Process,
                             log: Path) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:

        async def serving() -> bool:
            assert process.returncode is None, await anyio.Path(log).read_text()
            try:
                await client.get(path)
            except httpx.TransportError:
                return False
            return True

        await eventually(serving, within=60, every=0.1)


async def start_app(data_dir: Path, log: Path, *args: str, **env: str
                    ) -> asyncio.subprocess.Process:
    workdir = data_dir.parent
    with log.open("wb") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "app", *args, cwd=workdir,
            env={**environment(None, workdir), "DATA_DIR": str(data_dir), **env},
            stdout=out, stderr=out)


async def test_a_killed_web_process_leaves_no_valkey_running(data_dir: Path) -> None:
    port = free_port()
    log = data_dir.parent / "serve.log"
    web = await start_app(data_dir, log, "serve", "--port", str(port))
    try:
        await wait_until_serving(port, "/readyz", web, log)
        server = await valkey_pid(data_dir)
        web.kill()  # SIGKILL: no shutdown code runs
        await web.wait()
        assert await gone(server, socket_path_for(data_dir)), log.read_text()
    finally:
        if web.returncode is None:
            web.kill()
            await web.wait()


async def test_the_reference_shop_stopped_with_sigterm_stops_its_valkey(data_dir: Path) -> None:
    port = free_port()
    log = data_dir.parent / "shop.log"
    shop = await start_app(data_dir, log, "reference-shop", "--port", str(port),
                           ORDER_API_TOKEN="shop-token")
    try:
        await wait_until_serving(port, "/orders/100001", shop, log)
        server = await valkey_pid(data_dir)
        shop.send_signal(signal.SIGTERM)
        with anyio.fail_after(30):
            await shop.wait()
        assert await gone(server, socket_path_for(data_dir)), log.read_text()
    finally:
        if shop.returncode is None:
            shop.kill()
            await shop.wait()
