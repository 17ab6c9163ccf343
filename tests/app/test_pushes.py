"""`GET /api/chat/events` through a real uvicorn server on a free port, read with
httpx streaming: replay, live events, Last-Event-ID, heartbeats, auth, shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from starlette.applications import Starlette

from app.errors import exception_handlers
from app.resources import open_resources
from app.routes import pushes
from app.settings import Settings
from channels.web import TokenSigner, WebSession
from channels.web_push import WebPushLog
from conversation.types import Button, LinkButton, Reply
from tests.live import serving

SECRET = "test-web-chat-secret"
PREFIX = "t:"
REPLY = Reply(
    "staff.reply",
    "नमस्ते, your parcel ships today 📦",
    buttons=(Button("Menu", "menu"),),
    links=(LinkButton("Track", "https://t.example/1"),),
)


def token_for(session_id: str) -> str:
    return TokenSigner(SECRET).issue(WebSession(session_id))


@pytest.fixture
def settings(redis: aioredis.Redis, redis_url: str, tmp_path: Any) -> Settings:
    """Depends on `redis` for its empty database."""
    return Settings(
        redis_url=redis_url,
        redis_prefix=PREFIX,
        web_chat_secret=SECRET,
        data_dir=tmp_path,
        _env_file=None,  # type: ignore[call-arg]
    )


def make_app(settings: Settings, *, heartbeat: float = 5.0, lifetime: float = 30.0) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        async with open_resources(settings) as resources:
            yield {"resources": resources}

    return Starlette(
        routes=pushes.event_routes(heartbeat=heartbeat, lifetime=lifetime),
        exception_handlers=exception_handlers(),
        lifespan=lifespan,
    )


class Reader:
    """One response's event stream, cut at blank lines into blocks:
    `{"id", "event", "data"}`, `{"retry"}`, or `{":": ""}` for a heartbeat."""

    def __init__(self, response: httpx.Response) -> None:
        self._lines = response.aiter_lines()

    def __aiter__(self) -> Reader:
        return self

    async def __anext__(self) -> dict[str, str]:
        block: dict[str, str] = {}
        async for line in self._lines:
            if line == "":
                if block:
                    return block
            elif line.startswith(":"):
                block[":"] = line[1:]
            else:
                name, _, value = line.partition(":")
                block[name] = value.removeprefix(" ")
        if block:
            return block
        raise StopAsyncIteration

    async def events(self, count: int, within: float = 5.0) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []

        async def collect() -> None:
            async for block in self:
                if block.get("event") == "replies":
                    found.append({"id": block["id"], **json.loads(block["data"])})
                    if len(found) == count:
                        return

        await asyncio.wait_for(collect(), within)
        return found


@pytest.fixture
async def log(redis: aioredis.Redis) -> WebPushLog:
    return WebPushLog(redis, PREFIX)


async def test_replays_then_streams_live_events(settings: Settings, log: WebPushLog) -> None:
    first = await log.append("web:abc", "m1", [REPLY])
    second = await log.append("web:abc", "m2", [Reply("k2", "two")])
    await log.append("web:other", "m9", [Reply("secret", "someone else's")])
    async with (
        serving(make_app(settings)) as (base, _server),
        httpx.AsyncClient(base_url=base) as client,
        client.stream(
            "GET", "/api/chat/events", headers={"Authorization": f"Bearer {token_for('abc')}"}
        ) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["x-accel-buffering"] == "no"
        assert response.headers["cache-control"] == "no-cache"
        stream = Reader(response)
        replayed = await stream.events(2)
        assert [e["id"] for e in replayed] == [first, second]
        assert replayed[0]["replies"] == [
            {
                "key": "staff.reply",
                "text": REPLY.text,
                "buttons": [{"label": "Menu", "payload": "menu"}],
                "links": [{"label": "Track", "url": "https://t.example/1"}],
            }
        ]
        third = await log.append("web:abc", "m3", [Reply("k3", "three")])
        [live] = await stream.events(1)
        assert live["id"] == third
        assert live["replies"][0]["text"] == "three"


async def test_reconnect_replays_only_what_was_missed(settings: Settings, log: WebPushLog) -> None:
    ids = [await log.append("web:abc", f"m{n}", [Reply(f"k{n}", str(n))]) for n in range(4)]
    token = token_for("abc")
    async with (
        serving(make_app(settings)) as (base, _server),
        httpx.AsyncClient(base_url=base) as client,
    ):
        headers = {"Authorization": f"Bearer {token}", "Last-Event-ID": ids[1]}
        async with client.stream("GET", "/api/chat/events", headers=headers) as response:
            stream = Reader(response)
            got = await stream.events(2)
            assert [e["id"] for e in got] == ids[2:]
            later = await log.append("web:abc", "m-late", [Reply("late", "late")])
            assert [e["id"] for e in await stream.events(1)] == [later]
        # EventSource cannot set headers: the token and cursor as query parameters.
        params = {"token": token, "after": ids[3]}
        async with client.stream("GET", "/api/chat/events", params=params) as response:
            assert [e["id"] for e in await Reader(response).events(1)] == [later]


async def test_heartbeat_comment_when_idle(settings: Settings) -> None:
    app = make_app(settings, heartbeat=0.05)
    async with (
        serving(app) as (base, _server),
        httpx.AsyncClient(base_url=base) as client,
        client.stream("GET", "/api/chat/events", params={"token": token_for("abc")}) as response,
    ):
        seen: list[dict[str, str]] = []
        async for block in Reader(response):
            seen.append(block)
            if sum(":" in b for b in seen) == 2:
                break
        assert seen[0] == {"retry": str(pushes.RECONNECT_MS)}
        assert all(":" in b for b in seen[1:])


@pytest.mark.parametrize(
    ("headers", "params"),
    [
        ({}, {}),
        ({"Authorization": "Bearer forged"}, {}),
        ({"Authorization": "Basic abc"}, {}),
        ({}, {"token": "forged"}),
        ({}, {"token": TokenSigner("another secret").issue(WebSession("abc"))}),
    ],
)
async def test_bad_token_is_refused(
    settings: Settings, headers: dict[str, str], params: dict[str, str]
) -> None:
    async with (
        serving(make_app(settings)) as (base, _server),
        httpx.AsyncClient(base_url=base) as client,
    ):
        response = await client.get("/api/chat/events", headers=headers, params=params)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_token"
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_bad_last_event_id_is_refused(settings: Settings) -> None:
    async with (
        serving(make_app(settings)) as (base, _server),
        httpx.AsyncClient(base_url=base) as client,
    ):
        response = await client.get(
            "/api/chat/events",
            params={"token": token_for("abc")},
            headers={"Last-Event-ID": "not-an-id"},
        )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_event_id"


async def test_stream_ends_when_the_client_goes(settings: Settings) -> None:
    async with (
        serving(make_app(settings)) as (base, server),
        httpx.AsyncClient(base_url=base) as client,
    ):
        async with client.stream(
            "GET", "/api/chat/events", params={"token": token_for("abc")}
        ) as response:
            async for _block in Reader(response):
                break  # the retry line: the stream is open and waiting
            assert server.server_state.tasks
        deadline = time.monotonic() + 3
        while server.server_state.tasks:
            assert time.monotonic() < deadline, "the response task is still running"
            await asyncio.sleep(0.02)


async def test_stream_ends_when_the_app_closes(settings: Settings, log: WebPushLog) -> None:
    app = make_app(settings)
    app.state.closing = asyncio.Event()
    async with (
        serving(app) as (base, _server),
        httpx.AsyncClient(base_url=base) as client,
        client.stream("GET", "/api/chat/events", params={"token": token_for("abc")}) as response,
    ):
        await log.append("web:abc", "m1", [REPLY])
        stream = Reader(response)
        assert len(await stream.events(1)) == 1
        app.state.closing.set()
        rest = [b async for b in stream]  # ends: no exception, no hang
        assert all("event" not in b for b in rest)


async def test_server_shutdown_does_not_wait_for_open_streams(settings: Settings) -> None:
    """uvicorn waits for open responses before shutting the app down; with
    `timeout_graceful_shutdown` it cancels them, and the stream ends at once."""
    app = make_app(settings)
    async with (
        serving(app, timeout_graceful_shutdown=0.2) as (base, server),
        httpx.AsyncClient(base_url=base) as client,
        client.stream("GET", "/api/chat/events", params={"token": token_for("abc")}) as response,
    ):
        stream = Reader(response)
        async for _block in stream:
            break
        started = time.monotonic()
        server.should_exit = True
        with contextlib.suppress(httpx.RemoteProtocolError):  # cut mid-stream
            async for _block in stream:
                pass
        assert time.monotonic() - started < 3


# --- the push log itself --------------------------------------------------------------


async def test_log_appends_and_reads_in_order(log: WebPushLog) -> None:
    ids = [await log.append("web:abc", f"m{n}", [Reply(f"k{n}", str(n))]) for n in range(3)]
    assert all(ids) and ids == sorted(ids)  # type: ignore[type-var]
    everything = await log.read("web:abc")
    assert [e.id for e in everything] == ids
    assert everything[0].replies == (Reply("k0", "0"),)
    assert [e.id for e in await log.read("web:abc", after=ids[0])] == ids[1:]
    assert [e.id for e in await log.read("web:abc", after=ids[0], limit=1)] == ids[1:2]
    assert await log.read("web:abc", after=ids[2]) == []
    assert await log.read("web:nobody") == []


async def test_log_drops_a_repeated_message_id(log: WebPushLog) -> None:
    first = await log.append("web:abc", "m1", [REPLY])
    assert first is not None
    assert await log.append("web:abc", "m1", [REPLY]) is None
    assert [e.id for e in await log.read("web:abc")] == [first]
    # The same message id in another conversation is another message.
    assert await log.append("web:other", "m1", [REPLY]) is not None


async def test_log_keeps_the_last_cap_events(redis: aioredis.Redis) -> None:
    log = WebPushLog(redis, PREFIX, cap=5)
    ids = [await log.append("web:abc", f"m{n}", [Reply("k", str(n))]) for n in range(12)]
    assert [e.id for e in await log.read("web:abc")] == ids[-5:]


async def test_log_expires_after_its_ttl_refreshed_on_write(redis: aioredis.Redis) -> None:
    log = WebPushLog(redis, PREFIX, ttl=timedelta(seconds=100))
    key = log.key("web:abc")
    assert key == "t:conv:{web:abc}:pushes"
    await log.append("web:abc", "m1", [REPLY])
    assert 90 < await redis.ttl(key) <= 100
    await redis.expire(key, 5)
    await log.append("web:abc", "m2", [REPLY])
    assert await redis.ttl(key) > 90
    await redis.expire(key, 5)
    await log.append("web:abc", "m2", [REPLY])  # a repeat also keeps the log alive
    assert await redis.ttl(key) > 90


async def test_log_refuses_a_malformed_cursor(log: WebPushLog) -> None:
    for bad in ["", "abc", "1-", "1-2-3", "$", "+", "(1-0"]:
        with pytest.raises(ValueError):
            await log.read("web:abc", after=bad)


async def test_log_wait_returns_new_events_or_nothing(log: WebPushLog) -> None:
    first = await log.append("web:abc", "m1", [REPLY])
    assert [e.id for e in await log.wait("web:abc", None, block=0.01)] == [first]
    assert await log.wait("web:abc", first, block=0.02) == []
    waiting = asyncio.create_task(log.wait("web:abc", first, block=5))
    await asyncio.sleep(0.05)
    second = await log.append("web:abc", "m2", [REPLY])
    assert [e.id for e in await asyncio.wait_for(waiting, 2)] == [second]
