"""`python -m app ...` as a person runs it: the terminal chat with piped input, the
ticket commands, the schema, the server itself, and clear exits on bad input."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest
import redis.asyncio as aioredis

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A short folder outside the checkout: no `.env`, room for a unix socket."""
    with tempfile.TemporaryDirectory(prefix="ohb-") as folder:
        yield Path(folder)


def environment(redis_url: str | None, workdir: Path, **extra: str) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT", "REDIS_CLUSTER",
            "OUTBOX_PARTITIONS")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    env.update(PYTHONPATH=str(ROOT), PYTHONIOENCODING="utf-8", DATA_DIR=str(workdir / "data"))
    if redis_url:
        env["REDIS_URL"] = redis_url
    if "DATABASE_URL" in os.environ:  # the run's records database (tests/conftest.py)
        env["DATABASE_URL"] = os.environ["DATABASE_URL"]
    env.update(extra)
    return env


async def run_app(
    *args: str, stdin: str = "", redis_url: str | None, workdir: Path, **env: str
) -> subprocess.CompletedProcess[bytes]:
    return await anyio.run_process(
        [sys.executable, "-m", "app", *args],
        input=stdin.encode(),
        cwd=workdir,
        env=environment(redis_url, workdir, **env),
        check=False,
    )


def out(result: subprocess.CompletedProcess[bytes]) -> str:
    return result.stdout.decode()


def err(result: subprocess.CompletedProcess[bytes]) -> str:
    return result.stderr.decode()


# --- the terminal chat ------------------------------------------------------------


async def test_piped_chat_tracks_an_order_with_numbered_buttons(
    redis: aioredis.Redis, redis_url: str, workdir: Path
) -> None:
    result = await run_app(
        "chat",
        stdin="1\n100003\nananya.iyer@example.in\n",
        redis_url=redis_url,
        workdir=workdir,
    )
    assert result.returncode == 0, err(result)
    shown = out(result)
    assert shown.startswith("Hi! I can help with your orders")
    assert "[1] Track order\n[2] Cancel" in shown
    assert "Which order would you like to track?" in shown
    assert "To protect your details" in shown
    assert "Order #100003" in shown and "Expected by" in shown
    assert "Track package: https://" in shown
    assert "> " not in shown  # no prompt when stdin is not a terminal
    assert "Traceback" not in err(result)


async def test_a_proven_phone_lists_that_shoppers_orders(
    redis: aioredis.Redis, redis_url: str, workdir: Path
) -> None:
    result = await run_app(
        "chat", "--phone", "+91 98123 45678", stdin="1\n", redis_url=redis_url, workdir=workdir
    )
    assert result.returncode == 0, err(result)
    assert "Local testing aid" in err(result)
    assert "Which order would you like to track?\n[1] #100001" in out(result)


async def test_resume_continues_the_last_terminal_conversation(
    redis: aioredis.Redis, redis_url: str, workdir: Path
) -> None:
    first = await run_app(
        "chat", stdin="1\n100003\nananya.iyer@example.in\n", redis_url=redis_url, workdir=workdir
    )
    assert first.returncode == 0
    resumed = await run_app(
        "chat", "--resume", stdin="100003\n", redis_url=redis_url, workdir=workdir
    )
    assert resumed.returncode == 0, err(resumed)
    assert out(resumed).startswith("Order #100003")  # already verified: no question asked
    fresh = await run_app("chat", stdin="100003\n", redis_url=redis_url, workdir=workdir)
    assert "To protect your details" in out(fresh)


async def test_chat_says_plainly_when_redis_is_unreachable(
    closed_port_url: str, workdir: Path
) -> None:
    result = await run_app("chat", stdin="1\n", redis_url=closed_port_url, workdir=workdir)
    assert result.returncode == 1
    assert "unreachable" in err(result)
    assert "Traceback" not in err(result)


async def test_a_bad_phone_flag_is_a_usage_error(redis_url: str, workdir: Path) -> None:
    result = await run_app("chat", "--phone", "12", redis_url=redis_url, workdir=workdir)
    assert result.returncode == 2
    assert "--phone" in err(result)


# --- tickets, schema, usage --------------------------------------------------------


async def test_a_hand_off_ticket_is_listed_shown_and_resolved(
    redis: aioredis.Redis, redis_url: str, workdir: Path
) -> None:
    chat = await run_app(
        "chat",
        "--phone",
        "+919812345678",
        stdin="6\nमेरा पार्सल देर से है 📦\n",
        redis_url=redis_url,
        workdir=workdir,
    )
    assert "T-1001" in out(chat)

    listed = await run_app("tickets", "list", redis_url=redis_url, workdir=workdir)
    assert listed.returncode == 0
    assert out(listed).startswith("T-1001  handoff")
    assert "1 open ticket(s)" in err(listed)

    shown = await run_app("tickets", "show", "T-1001", redis_url=redis_url, workdir=workdir)
    ticket = json.loads(out(shown))
    assert ticket["issue"] == "मेरा पार्सल देर से है 📦"
    assert ticket["channel"] == "terminal"

    resolved = await run_app("tickets", "resolve", "T-1001", redis_url=redis_url, workdir=workdir)
    assert resolved.returncode == 0
    assert "resolved" in out(resolved)
    after = await run_app("tickets", "list", redis_url=redis_url, workdir=workdir)
    assert out(after) == "" and "0 open ticket(s)" in err(after)


async def test_an_unknown_ticket_fails_clearly(
    redis: aioredis.Redis, redis_url: str, workdir: Path
) -> None:
    for action in ("show", "resolve"):
        result = await run_app("tickets", action, "T-9999", redis_url=redis_url, workdir=workdir)
        assert result.returncode == 1
        assert "no ticket 'T-9999'" in err(result)


async def test_schema_prints_the_orders_file_json_schema(workdir: Path) -> None:
    result = await run_app("schema", redis_url=None, workdir=workdir)
    assert result.returncode == 0
    schema = json.loads(out(result))
    assert "orders" in schema["properties"]


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (("serve",), {"PORT": "eighty"}, "Bad settings"),
        (("serve",), {"TIMEZONE": "Mars/Olympus"}, "timezone"),
        (("tickets",), {}, "usage"),
        (("fly",), {}, "invalid choice"),
    ],
)
async def test_bad_usage_and_settings_exit_2(
    workdir: Path, args: tuple[str, ...], env: dict[str, str], message: str
) -> None:
    result = await run_app(*args, redis_url=None, workdir=workdir, **env)
    assert result.returncode == 2
    assert message in err(result)
    assert "Traceback" not in err(result)


# --- the server -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_the_default_command_serves_on_the_embedded_valkey(workdir: Path) -> None:
    """`python -m app` with no configuration at all, as the README's first command runs it."""
    port = free_port()
    log_path = workdir / "server.log"
    with log_path.open("wb") as log_file:
        process = await anyio.open_process(
            [sys.executable, "-m", "app"],
            cwd=workdir,
            env=environment(None, workdir, PORT=str(port)),
            stdout=log_file,
            stderr=log_file,
        )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            with anyio.fail_after(30):
                while True:
                    try:
                        ready = await client.get("/readyz")
                        break
                    except httpx.TransportError:
                        await anyio.sleep(0.1)
            # the in-process consumer is the worker
            assert ready.json() == {"redis": "ok", "database": "ok", "worker": "ok"}
            session = await client.post("/api/chat/sessions")
            token = session.json()["token"]
            answer = await client.post(
                "/api/chat/messages",
                json={"message_id": "m1", "text": "menu"},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert answer.json()["replies"][-1]["key"] == "menu.prompt"
    finally:
        process.send_signal(signal.SIGTERM)
        with anyio.fail_after(30):
            code = await process.wait()
        await process.aclose()
    logged = log_path.read_text()
    # uvicorn shuts down cleanly, then re-raises SIGTERM so the exit shows the signal.
    assert code in (0, -signal.SIGTERM), logged
    assert "Application shutdown complete" in logged
    assert f"data in {(workdir / 'data').resolve()}" in logged
    assert "channel telegram: off (set TELEGRAM_BOT_TOKEN, TELEGRAM_WEBHOOK_SECRET)" in logged
    assert (workdir / "data" / "appendonlydir").is_dir()
    assert token not in logged
