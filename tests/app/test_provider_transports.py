"""The HTTP under python-telegram-bot's `Bot` (`AiohttpRequest`) and under twilio's
client (`AiohttpTwilioClient`), against the local fake Bot API and fake Twilio:
a provider that does not answer in time is a retry (not a stuck delivery), a 429
is held as the provider asked, and consecutive sends reuse one connection."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import redis.asyncio as aioredis
from fake_providers import FakeTelegram, FakeTwilio
from telegram import Bot
from telegram.error import TimedOut

from channels.telegram_sender import TelegramSender
from channels.telegram_transport import AiohttpRequest
from channels.twilio_transport import AiohttpTwilioClient
from channels.whatsapp_sender import WhatsAppSender, make_client
from conversation.outbox import ChannelUnavailable, OutboxMessage, SendLater
from conversation.types import Channel, Reply
from tests.live import serving

TOKEN = "123456:transport-test"
CHAT = 5151
SID = "AC" + "7" * 32
AUTH = "t" * 32
SHOPPER = "whatsapp:+919812345678"


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram(TOKEN)
    async with serving(fake.app(), lifespan="off") as (url, _server):
        fake.url = url
        yield fake


@pytest.fixture
async def twilio() -> AsyncIterator[tuple[FakeTwilio, str]]:
    fake = FakeTwilio(SID, AUTH)
    async with serving(fake.app(), lifespan="off") as (url, _server):
        yield fake, url


def message(text: str, conversation: str, id: str = "1-0") -> OutboxMessage:
    return OutboxMessage(id=id, channel=Channel.TELEGRAM, conversation=conversation,
                         replies=(Reply("k", text),), attempts=0, created_at=datetime.now(UTC))


# --- Telegram --------------------------------------------------------------------


async def test_telegram_sends_reuse_one_connection(
    telegram: FakeTelegram, redis: aioredis.Redis
) -> None:
    async with Bot(TOKEN, base_url=f"{telegram.url}/bot", request=AiohttpRequest()) as bot:
        sender = TelegramSender(bot, redis, prefix="tt1:", bot_rate=1000.0)
        for n in range(3):
            await sender.deliver(message(f"m{n}", f"telegram:{CHAT + n}", id=f"{n}-0"))
    sends = [c for c in telegram.calls if c.method == "sendMessage"]
    assert [c.params["text"] for c in sends] == ["m0", "m1", "m2"]
    assert len({c.client_port for c in sends}) == 1


async def test_a_telegram_api_that_does_not_answer_in_time_is_retried_later(
    telegram: FakeTelegram, redis: aioredis.Redis
) -> None:
    telegram.delay = 2.0
    request = AiohttpRequest(read_timeout=0.2)
    async with Bot(TOKEN, base_url=f"{telegram.url}/bot", request=request) as bot:
        started = time.monotonic()
        with pytest.raises(TimedOut):
            await bot.send_message(CHAT, "hello")
        assert time.monotonic() - started < 1.5
        sender = TelegramSender(bot, redis, prefix="tt2:", bot_rate=1000.0)
        with pytest.raises(ChannelUnavailable):
            await sender.deliver(message("hello again", f"telegram:{CHAT}"))


async def test_a_telegram_429_holds_the_chat_for_retry_after_then_sends_once(
    telegram: FakeTelegram, redis: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # as `app.channels.make_bot` does
    telegram.rate_limit_next, telegram.retry_after = 1, 1
    async with Bot(TOKEN, base_url=f"{telegram.url}/bot", request=AiohttpRequest()) as bot:
        sender = TelegramSender(bot, redis, prefix="tt3:", bot_rate=1000.0)
        outgoing = message("after the wait", f"telegram:{CHAT}")
        with pytest.raises(SendLater) as later:
            await sender.deliver(outgoing)
        assert 0.5 < later.value.at - time.time() <= 1.01
        assert telegram.sent(CHAT) == []
        with pytest.raises(SendLater):  # still held: Telegram is not asked again
            await sender.deliver(outgoing)
        assert len(telegram.attempts(CHAT)) == 1
        time.sleep(max(0.0, later.value.at - time.time()))  # noqa: ASYNC251 - a short wait
        await sender.deliver(outgoing)
    assert [m["text"] for m in telegram.sent(CHAT)] == ["after the wait"]


# --- Twilio ----------------------------------------------------------------------


def whatsapp(text: str, id: str = "1-0") -> OutboxMessage:
    return OutboxMessage(id=id, channel=Channel.WHATSAPP, conversation=SHOPPER,
                         replies=(Reply("k", text),), attempts=0, created_at=datetime.now(UTC))


async def _sender(redis: aioredis.Redis, url: str, http: AiohttpTwilioClient,
                  prefix: str) -> WhatsAppSender:
    sender = WhatsAppSender(make_client(SID, AUTH, url, http), redis, sender="whatsapp:+1415",
                            status_callback=None, prefix=prefix)
    await sender.reachability.record_inbound(SHOPPER, datetime.now(UTC))  # inside the window
    return sender


async def test_twilio_sends_reuse_one_connection(
    twilio: tuple[FakeTwilio, str], redis: aioredis.Redis
) -> None:
    fake, url = twilio
    http = AiohttpTwilioClient()
    try:
        sender = await _sender(redis, url, http, "tw1:")
        for n in range(3):
            await sender.deliver(whatsapp(f"w{n}", id=f"{n}-0"))
    finally:
        await http.aclose()
    assert [m["Body"] for m in fake.messages] == ["w0", "w1", "w2"]
    assert len(set(fake.client_ports)) == 1


async def test_a_twilio_api_that_does_not_answer_in_time_is_retried_later(
    twilio: tuple[FakeTwilio, str], redis: aioredis.Redis
) -> None:
    fake, url = twilio
    fake.delay = 2.0
    http = AiohttpTwilioClient(timeout=0.2)
    try:
        sender = await _sender(redis, url, http, "tw2:")
        started = time.monotonic()
        with pytest.raises(ChannelUnavailable):
            await sender.deliver(whatsapp("slow"))
        assert time.monotonic() - started < 1.5
    finally:
        await http.aclose()


async def test_a_twilio_429_is_retried_later(
    twilio: tuple[FakeTwilio, str], redis: aioredis.Redis
) -> None:
    fake, url = twilio
    fake.throttle_next = 1
    http = AiohttpTwilioClient()
    try:
        sender = await _sender(redis, url, http, "tw3:")
        with pytest.raises(ChannelUnavailable, match="429"):
            await sender.deliver(whatsapp("busy"))
        await sender.deliver(whatsapp("busy"))
    finally:
        await http.aclose()
    assert [m["Body"] for m in fake.messages] == ["busy"]
