"""A staff message shows its real delivery state: Twilio's status callbacks move a
WhatsApp reply to delivered, read, or failed with Twilio's reason in words (and
never back); a Telegram shopper who blocked the bot shows failed, "blocked"."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import redis.asyncio as aioredis
from app_harness import running
from channel_harness import (
    PUBLIC_URL,
    TWILIO_SID,
    TWILIO_TOKEN,
    TelegramShopper,
    WhatsAppShopper,
    channel_settings,
)
from fake_providers import FakeTelegram, FakeTwilio
from inbox_harness import ADMIN, ADMIN_PASSWORD, api_login

from tests.channel_payloads import twilio_form, twilio_signature
from tests.live import eventually, serving


@pytest.fixture
async def twilio_api() -> AsyncIterator[FakeTwilio]:
    fake = FakeTwilio(TWILIO_SID, TWILIO_TOKEN)
    async with serving(fake.app(), lifespan="off") as (url, _server):
        fake.url = url  # type: ignore[attr-defined]
        yield fake


@pytest.fixture
async def client(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path,
    telegram_api: FakeTelegram, twilio_api: FakeTwilio,
) -> AsyncIterator[httpx.AsyncClient]:
    settings = channel_settings(
        redis_url, tmp_path, worker_in_process=True, telegram_api_url=telegram_api.url,
        twilio_api_url=twilio_api.url,  # type: ignore[attr-defined]
        inbox_admin_email=ADMIN, inbox_admin_password=ADMIN_PASSWORD)
    async with running(settings) as client:
        client.base_url = httpx.URL("https://testserver")  # PUBLIC_URL is https: Secure cookies
        yield client


async def staff_state(client: httpx.AsyncClient, text: str) -> dict[str, Any]:
    ticket = (await client.get("/api/inbox/tickets/T-1001")).json()
    line = next(m for m in ticket["transcript"] if m["who"] == "staff" and m["text"] == text)
    return dict(line["delivery"])


async def callback(client: httpx.AsyncClient, url: str, status: str,
                   error: str | None = None) -> int:
    """Twilio calling the StatusCallback it was given, signed over that URL."""
    form = twilio_form("status_failed", MessageStatus=status, SmsStatus=status,
                       ErrorCode=error or "")
    parts = urlsplit(url)
    path = f"{parts.path}?{parts.query}"
    signature = twilio_signature(PUBLIC_URL + path, form, TWILIO_TOKEN)
    response = await client.post(path, data=form, headers={"X-Twilio-Signature": signature})
    return response.status_code


async def test_twilio_callbacks_move_a_whatsapp_reply_forward_only(
    client: httpx.AsyncClient, twilio_api: FakeTwilio
) -> None:
    priya = WhatsAppShopper(client)
    await priya.say("agent")
    await priya.say("My parcel never came")
    csrf = await api_login(client)
    await client.post("/api/inbox/tickets/T-1001/reply", headers=csrf,
                      json={"text": "Checking with the courier", "reply_id": "r1"})

    async def sent() -> bool:
        return (await staff_state(client, "Checking with the courier"))["state"] == "sent"

    await eventually(sent)
    url = next(m["StatusCallback"] for m in twilio_api.messages  # "Admin: Checking…"
               if m["Body"].endswith("Checking with the courier"))
    assert await callback(client, url, "delivered") == 204
    assert (await staff_state(client, "Checking with the courier"))["state"] == "delivered"
    assert await callback(client, url, "sent") == 204  # late and out of order
    assert (await staff_state(client, "Checking with the courier"))["state"] == "delivered"
    assert await callback(client, url, "read") == 204
    assert (await staff_state(client, "Checking with the courier"))["state"] == "read"
    forged = await client.post(urlsplit(url).path + "?" + urlsplit(url).query,
                               data=twilio_form("status_failed"),
                               headers={"X-Twilio-Signature": "bad"})
    assert forged.status_code == 403

    await client.post("/api/inbox/tickets/T-1001/reply", headers=csrf,
                      json={"text": "Are you there?", "reply_id": "r2"})

    async def sent_too() -> bool:
        return (await staff_state(client, "Are you there?"))["state"] == "sent"

    await eventually(sent_too)
    url = next(m["StatusCallback"] for m in twilio_api.messages
               if m["Body"].endswith("Are you there?"))
    assert await callback(client, url, "undelivered", "30003") == 204
    state = await staff_state(client, "Are you there?")
    assert state["state"] == "failed"
    assert state["error"] == ("WhatsApp: undelivered (Twilio 30003: the phone is unreachable "
                              "or switched off)")
    page = (await client.get("/inbox/tickets/T-1001")).text
    assert 'data-state="failed"' in page and "switched off" in page
    assert 'data-state="read"' in page


async def test_a_telegram_shopper_who_blocked_the_bot_shows_failed_blocked(
    client: httpx.AsyncClient, redis: aioredis.Redis, telegram_api: FakeTelegram
) -> None:
    shopper = TelegramShopper(client, redis, user_id=7007)
    await shopper.say("agent")
    await shopper.say("Where is my refund")
    telegram_api.blocked.add(7007)
    csrf = await api_login(client)
    await client.post("/api/inbox/tickets/T-1001/reply", headers=csrf,
                      json={"text": "Your refund is on its way", "reply_id": "r1"})

    async def failed() -> bool:
        return (await staff_state(client, "Your refund is on its way"))["state"] == "failed"

    await eventually(failed)
    state = await staff_state(client, "Your refund is on its way")
    assert "blocked" in state["error"] and "403" in state["error"]
