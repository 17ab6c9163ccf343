"""Operating the bot: health that tells the truth about the worker, a warning and an
inbox banner when none runs, request ids, JSON logs without personal data."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import redis.asyncio as aioredis
from app_harness import make_settings, running
from inbox_harness import WebShopper, api_login, inbox_settings

from app.heartbeat import heartbeat_key
from app.main import create_app
from app.observe import REQUEST_ID, ContextFilter, JsonFormatter, outbound_hook
from app.settings import Settings
from tests.live import eventually, serving

ROOT = Path(__file__).resolve().parents[2]


async def test_readyz_says_worker_missing_until_a_worker_runs(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path
) -> None:
    """REDIS_URL set and no worker: ready (the web process serves), worker missing;
    then `python -m app worker` starts against the same Redis: worker ok."""
    settings = make_settings(redis_url, tmp_path)  # the test server, never the machine's
    env = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "REDIS_CLUSTER",
                                               "OUTBOX_PARTITIONS") if name in os.environ}
    env.update(PYTHONPATH=str(ROOT), REDIS_URL=redis_url, DATA_DIR=str(tmp_path / "worker"))
    async with running(settings) as client:
        ready = await client.get("/readyz")
        assert (ready.status_code, ready.json()) == (
            200, {"redis": "ok", "database": "ok", "worker": "missing"})
        with (tmp_path / "worker.log").open("wb") as log_file:
            process = await anyio.open_process([sys.executable, "-m", "app", "worker"],
                                               cwd=tmp_path, env=env, stdout=log_file,
                                               stderr=log_file)
        try:
            async def worker_ok() -> bool:
                return (await client.get("/readyz")).json()["worker"] == "ok"

            await eventually(worker_ok, within=30)
        finally:
            process.send_signal(signal.SIGTERM)
            with anyio.fail_after(30):
                assert await process.wait() == 0, (tmp_path / "worker.log").read_text()


async def test_the_embedded_default_counts_its_own_consumer_as_the_worker(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(redis_url, tmp_path, worker_in_process=True)
    with caplog.at_level(logging.WARNING, logger="app.heartbeat"):
        async with running(settings) as client:
            assert (await client.get("/readyz")).json() == {
                "redis": "ok", "database": "ok", "worker": "ok"}
    assert "no worker heartbeat" not in caplog.text


async def test_no_worker_is_warned_at_start_and_shown_in_the_inbox(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="app.heartbeat"):
        async with running(inbox_settings(redis_url, tmp_path)) as client:
            assert "no worker heartbeat" in caplog.text
            assert "python -m app worker" in caplog.text
            await api_login(client)
            page = await client.get("/inbox")
    assert page.status_code == 200
    assert 'id="no-worker"' in page.text
    assert "no worker is running" in page.text


async def test_no_banner_while_a_worker_beats(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    await redis.set(heartbeat_key("ohb:"), "worker-elsewhere", ex=30)
    with caplog.at_level(logging.WARNING, logger="app.heartbeat"):
        async with running(inbox_settings(redis_url, tmp_path)) as client:
            await api_login(client)
            page = await client.get("/inbox")
            ready = await client.get("/readyz")
    assert 'id="no-worker"' not in page.text
    assert ready.json()["worker"] == "ok"
    assert "no worker heartbeat" not in caplog.text


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The root logger writing JSON lines, as `LOG_FORMAT=json` sets it up."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


async def test_json_logs_carry_the_request_id_and_conversation_hash_not_the_shopper(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path, json_log: io.StringIO
) -> None:
    issue = "my parcel came open, call me on +919812345678"
    async with running(make_settings(redis_url, tmp_path)) as client:
        shopper = WebShopper(client)
        await shopper.start()
        await shopper.send("hi")
        await shopper.send("agent")
        response = await client.post(
            "/api/chat/messages", json={"message_id": "m3", "text": issue},
            headers={"Authorization": f"Bearer {shopper.token}",
                     "X-Request-ID": "lb-req-0123456789"})
    assert response.json()["replies"][0]["key"] == "handoff.opened"
    assert response.headers["x-request-id"] == "lb-req-0123456789"
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    opened = [line for line in lines if line["message"].startswith("ticket ")]
    assert opened, lines
    line = opened[0]
    assert set(line) >= {"time", "level", "logger", "message", "request_id", "conversation"}
    assert line["request_id"] == "lb-req-0123456789"
    assert len(line["conversation"]) == 10 and line["conversation"] != shopper.conversation
    logged = json_log.getvalue()
    for private in (shopper.conversation, shopper.token, "+919812345678", "came open"):
        assert private not in logged


async def test_every_response_has_a_request_id_and_an_odd_one_is_replaced(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path
) -> None:
    async with running(make_settings(redis_url, tmp_path)) as client:
        fresh = await client.get("/healthz")
        odd = await client.get("/healthz", headers={"X-Request-ID": "<script>\n"})
    assert len(fresh.headers["x-request-id"]) == 32
    assert odd.headers["x-request-id"] not in ("<script>\n", fresh.headers["x-request-id"])


async def test_outbound_calls_carry_the_request_id() -> None:
    seen: list[str | None] = []

    def shop(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("x-request-id"))
        return httpx.Response(200, json={})

    async with httpx.AsyncClient(transport=httpx.MockTransport(shop),
                                 event_hooks={"request": [outbound_hook]}) as client:
        await client.get("https://shop.example/orders/1")  # outside any request: none
        token = REQUEST_ID.set("req-abcdef123456")
        try:
            await client.get("https://shop.example/orders/1")
        finally:
            REQUEST_ID.reset(token)
    assert seen == [None, "req-abcdef123456"]


async def test_the_container_healthcheck_asks_the_web_server_and_reads_the_worker_beat(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app import healthcheck

    async with serving(create_app(make_settings(redis_url, tmp_path))) as (url, _server):
        port = int(url.rsplit(":", 1)[1])
        assert await anyio.to_thread.run_sync(lambda: healthcheck.check(port, worker=False)) is None
    problem = await anyio.to_thread.run_sync(lambda: healthcheck.check(port, worker=False))
    assert problem is not None and "/healthz did not answer" in problem

    monkeypatch.setattr(healthcheck, "BEAT_FILE", tmp_path / "worker.beat")
    assert healthcheck.check(port, worker=True) == "no worker heartbeat yet"
    healthcheck.touch_beat_file()
    assert healthcheck.check(port, worker=True) is None
    stale = time.time() - healthcheck.BEAT_MAX_AGE_S - 5
    os.utime(healthcheck.BEAT_FILE, (stale, stale))
    assert "last worker heartbeat" in (healthcheck.check(port, worker=True) or "")


async def test_login_limits_count_the_address_a_trusted_proxy_forwarded(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path
) -> None:
    """Behind a proxy, each member of staff is their own address, not the proxy's;
    a client that is not a trusted proxy cannot choose its address."""
    def address_key(address: str) -> bytes:
        tag = hashlib.sha256(address.encode()).hexdigest()[:20]
        return f"ohb:login:{{login}}:address:{tag}".encode()

    async def fail_login_from(settings: Settings, peer: str, forwarded: str) -> None:
        app = create_app(settings)
        async with app.router.lifespan_context(app) as state:
            async def with_state(scope: Any, receive: Any, send: Any) -> None:
                scope["state"] = dict(state or {})
                await app(scope, receive, send)

            transport = httpx.ASGITransport(app=with_state, client=(peer, 1234))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                answer = await client.post("/api/inbox/session", json={
                    "email": "admin@shop.example", "password": "wrong password"},
                    headers={"X-Forwarded-For": forwarded})
        assert answer.status_code == 401

    behind = inbox_settings(redis_url, tmp_path, trusted_proxies="10.0.0.0/16")
    await fail_login_from(behind, "10.0.3.3", "198.51.100.7")
    assert await redis.exists(address_key("198.51.100.7"))
    assert not await redis.exists(address_key("10.0.3.3"))
    await fail_login_from(behind, "203.0.113.50", "198.51.100.99")  # not a proxy of ours
    assert await redis.exists(address_key("203.0.113.50"))
    assert not await redis.exists(address_key("198.51.100.99"))
