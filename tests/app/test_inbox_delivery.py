"""Staff replies through the outbox to a Telegram shopper, against a fake Bot API
server on a local port: sent and marked sent; a failing provider retried with
back-off and finally marked failed on the ticket; a worker that dies mid-way
loses nothing. And the staff notification webhook, against a fake Slack."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from app_harness import running
from channel_harness import TelegramShopper, channel_settings
from inbox_harness import ADMIN, ADMIN_PASSWORD, api_login
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.channels import open_channels
from app.inbox.notify import open_staff_senders
from app.settings import Settings
from app.worker import default_senders, run_worker
from conversation.engine import STAFF_NOTIFICATIONS
from conversation.outbox import Outbox, RetryPolicy
from conversation.types import Channel, Reply
from tests.live import eventually, serving


@dataclass
class FakeProvider:
    """A local HTTP server: the Telegram Bot API, or a Slack incoming webhook."""

    fail_first: int = 0  # answer 502 to this many sends, then succeed
    always_fail: bool = False
    status: int = 502
    fail_only: str | None = None  # count and fail only the sends to this method ("hook")
    sent: list[dict[str, Any]] = field(default_factory=list)
    attempts: list[float] = field(default_factory=list)
    url: str = ""
    tries: Counter[str] = field(default_factory=Counter)  # sends per method
    sent_to: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    async def endpoint(self, request: Request) -> JSONResponse:
        method = request.path_params.get("method", "hook")
        if method == "getMe":
            return JSONResponse({"ok": True, "result": {
                "id": 1, "is_bot": True, "first_name": "Shop", "username": "shop_bot"}})
        raw = await request.body()
        try:
            body = json.loads(raw)
        except ValueError:
            body = dict((await request.form()).items())
        self.attempts.append(time.monotonic())
        self.tries[method] += 1
        counted = (len(self.attempts) if self.fail_only is None
                   else self.tries[method] if method == self.fail_only else None)
        if self.always_fail or (counted is not None and counted <= self.fail_first):
            return JSONResponse({"ok": False, "error_code": self.status,
                                 "description": "Bad Gateway"}, status_code=self.status)
        self.sent.append(body)
        self.sent_to.setdefault(method, []).append(body)
        return JSONResponse({"ok": True, "result": {
            "message_id": len(self.sent), "date": int(time.time()),
            "chat": {"id": int(body.get("chat_id", 1)), "type": "private"},
            "text": body.get("text", "")}})


@asynccontextmanager
async def serve(provider: FakeProvider) -> AsyncIterator[FakeProvider]:
    app = Starlette(routes=[
        Route("/bot{token}/{method}", provider.endpoint, methods=["POST"]),
        Route("/hook", provider.endpoint, methods=["POST"]),
    ])
    async with serving(app, lifespan="off") as (url, _server):
        provider.url = url
        yield provider


def quick_outbox(redis: aioredis.Redis, **overrides: Any) -> Outbox:
    values: dict[str, Any] = {
        "retry": RetryPolicy(max_attempts=4, base=0.05, cap=0.2), "min_idle": 0.3,
        "block": 0.05, "recheck": 0.02, "lease_ttl": 3.0, "deliver_timeout": 2.0}
    values.update(overrides)
    return Outbox(redis, **values)


@asynccontextmanager
async def worker(settings: Settings, redis: aioredis.Redis, outbox: Outbox,
                 name: str = "w1") -> AsyncIterator[asyncio.Task[None]]:
    stop = asyncio.Event()
    async with open_channels(settings, redis) as channels, \
            open_staff_senders(settings) as staff:
        senders = {**default_senders(redis, settings.redis_prefix), **channels.senders(),
                   **staff}
        task = asyncio.create_task(run_worker(redis, prefix=settings.redis_prefix, stop=stop,
                                              consumer_name=name, senders=senders,
                                              outbox=outbox))
        try:
            yield task
        finally:
            stop.set()
            if not task.done():
                await asyncio.wait_for(task, 5)


async def staff_line(client: httpx.AsyncClient, text: str, want: str) -> dict[str, Any]:
    line: dict[str, Any] = {}

    async def arrived() -> bool:
        nonlocal line
        ticket = (await client.get("/api/inbox/tickets/T-1001")).json()
        line = next(m for m in ticket["transcript"] if m["who"] == "staff" and m["text"] == text)
        return bool(line["delivery"]["state"] == want)

    await eventually(arrived)
    return line


async def telegram_ticket(client: httpx.AsyncClient, redis: aioredis.Redis
                          ) -> tuple[TelegramShopper, dict[str, str]]:
    shopper = TelegramShopper(client, redis)
    await shopper.say("agent")
    await shopper.say("My parcel 100006 arrived open")
    assert shopper.last.keys[0] == "handoff.opened"
    await redis.delete("ohb:{outbox}")  # the bot's own answers: not what is tested here
    await redis.delete(f"ohb:{{outbox}}:q:{shopper.conversation}")
    return shopper, await api_login(client, ADMIN, ADMIN_PASSWORD)


def settings_for(redis_url: str, tmp_path: Path, provider: FakeProvider, **extra: Any) -> Settings:
    # http: the test client talks plain HTTP, and an https PUBLIC_URL makes the
    # session cookie Secure (not sent over plain HTTP)
    return channel_settings(redis_url, tmp_path, telegram_api_url=provider.url,
                            inbox_admin_email=ADMIN, inbox_admin_password=ADMIN_PASSWORD,
                            public_url="http://bot.example.com", **extra)


async def test_a_staff_reply_reaches_a_telegram_shopper_and_shows_sent(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path
) -> None:
    async with serve(FakeProvider()) as provider:
        settings = settings_for(redis_url, tmp_path, provider)
        async with running(settings) as client:
            shopper, csrf = await telegram_ticket(client, redis)
            await client.post("/api/inbox/tickets/T-1001/reply", headers=csrf,
                              json={"text": "Hello from the shop <b>team</b>"})
            async with worker(settings, redis, quick_outbox(redis)):
                line = await staff_line(client, "Hello from the shop <b>team</b>", "sent")
    assert line["delivery"]["state"] == "sent"
    [message] = provider.sent
    assert str(message["chat_id"]) == shopper.conversation.split(":")[1]
    assert "Hello from the shop" in message["text"] and "<b>team" not in message["text"]


async def test_a_failing_provider_is_retried_with_back_off_then_marked_failed(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path
) -> None:
    async with serve(FakeProvider(always_fail=True)) as provider:
        settings = settings_for(redis_url, tmp_path, provider)
        async with running(settings) as client:
            _, csrf = await telegram_ticket(client, redis)
            await client.post("/api/inbox/tickets/T-1001/reply", headers=csrf,
                              json={"text": "Are you there?"})
            outbox = quick_outbox(redis)
            async with worker(settings, redis, outbox):
                line = await staff_line(client, "Are you there?", "failed")
            page = await client.get("/inbox/tickets/T-1001")
    assert line["delivery"]["state"] == "failed" and line["delivery"]["attempts"] == 4
    assert 'data-state="failed"' in page.text
    gaps = [b - a for a, b in zip(provider.attempts, provider.attempts[1:], strict=False)]
    assert len(provider.attempts) == 4 and gaps[-1] > gaps[0] * 0.9  # backing off
    dead = await outbox.dead_letters()
    assert len(dead) == 1 and dead[0].message.replies[0].text == "Are you there?"


async def test_a_worker_dying_mid_way_loses_nothing(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path
) -> None:
    async with serve(FakeProvider(fail_first=1)) as provider:
        settings = settings_for(redis_url, tmp_path, provider)
        async with running(settings) as client:
            _, csrf = await telegram_ticket(client, redis)
            for text in ("first", "second", "third"):
                await client.post("/api/inbox/tickets/T-1001/reply", headers=csrf,
                                  json={"text": text})
            outbox = quick_outbox(redis, retry=RetryPolicy(max_attempts=5, base=5, cap=5))
            async with worker(settings, redis, outbox, "dies") as task:
                # the crash comes once the worker has written the failed try down
                await eventually(lambda: bool(provider.attempts))
                await eventually(lambda: redis.hlen("ohb:{outbox}:tries"))
                task.cancel()  # a crash: no clean stop, its messages stay pending
                with pytest.raises(asyncio.CancelledError):
                    await asyncio.wait_for(task, 10)
            first = await staff_line(client, "first", "queued")
            assert first["delivery"]["attempts"] == 1
            await redis.hdel("ohb:{outbox}:tries", *[  # the retry is due now
                k for k in await redis.hkeys("ohb:{outbox}:tries")])
            async with worker(settings, redis, quick_outbox(redis), "new"):
                for text in ("first", "second", "third"):
                    line = await staff_line(client, text, "sent")
                    assert line["delivery"]["state"] == "sent", text
    # each with who wrote it: the admin account's name, from its email
    assert [m["text"] for m in provider.sent] == ["Admin: first", "Admin: second", "Admin: third"]


async def test_a_new_ticket_notifies_staff_through_the_webhook(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path
) -> None:
    # one fake for both: the shopper's Telegram replies go out beside the staff note,
    # in whatever order the worker's concurrent deliveries take
    async with serve(FakeProvider(fail_first=1, status=503, fail_only="hook")) as slack:
        settings = settings_for(redis_url, tmp_path, slack,
                                inbox_notify_url=f"{slack.url}/hook")
        async with running(settings) as client:
            shopper = TelegramShopper(client, redis)
            await shopper.say("agent")
            await shopper.say("My parcel 100006 arrived open, call me on 9812345678")
            async with worker(settings, redis, quick_outbox(redis)):
                await eventually(lambda: bool(slack.sent_to.get("hook")))
    [note] = slack.sent_to["hook"]
    assert set(note) == {"text"}
    assert "T-1001" in note["text"] and "telegram" in note["text"] and "100006" in note["text"]
    assert "9812345678" not in note["text"] and "arrived" not in note["text"]
    assert "http://bot.example.com/inbox/tickets/T-1001" in note["text"]
    assert slack.tries["hook"] == 2  # the 503 was retried


async def test_a_wrong_webhook_url_is_dead_lettered_at_once(
    redis: aioredis.Redis, tmp_path: Path, redis_url: str
) -> None:
    async with serve(FakeProvider(always_fail=True, status=404)) as slack:
        settings = settings_for(redis_url, tmp_path, slack, inbox_notify_url=f"{slack.url}/hook")
        outbox = quick_outbox(redis)
        await outbox.enqueue(Channel.STAFF_WEBHOOK, STAFF_NOTIFICATIONS,
                             [Reply("staff.new_ticket", "New hand-off T-1")])
        async with worker(settings, redis, outbox):
            async def buried() -> bool:
                return bool(await outbox.dead_letters())

            await eventually(buried, 5)
    assert len(slack.attempts) == 1 and len(await outbox.dead_letters()) == 1

