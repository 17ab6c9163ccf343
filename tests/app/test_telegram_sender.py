"""The Telegram sender against a local fake Bot API: an outbox message that
becomes several Telegram messages is resumed after a failure part-way, never
sending the first ones twice, and leaves no progress behind."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import redis.asyncio as aioredis
from fake_providers import FakeTelegram
from telegram import Bot
from telegram.request import HTTPXRequest

from channels.telegram_sender import TelegramSender
from conversation.outbox import ChannelUnavailable, OutboxMessage
from conversation.types import Channel, Reply
from tests.live import serving

TOKEN = "123456:sender-test"
CHAT = 4242


class FlakyTelegram(FakeTelegram):
    """Fails the `fail_at`-th sendMessage (1-based) once, with a 500."""

    fail_at: int = 0

    def _answer(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if method == "sendMessage":
            tried = sum(1 for c in self.calls if c.method == "sendMessage") + 1
            if tried == self.fail_at:
                return 500, {"ok": False, "error_code": 500, "description": "Internal"}
        return super()._answer(method, params)


@pytest.fixture
async def api() -> AsyncIterator[FlakyTelegram]:
    fake = FlakyTelegram(TOKEN)
    async with serving(fake.app(), lifespan="off") as (url, _server):
        fake.url = url
        yield fake


def message(*texts: str) -> OutboxMessage:
    return OutboxMessage(id="1-0", channel=Channel.TELEGRAM, conversation=f"telegram:{CHAT}",
                         replies=tuple(Reply(f"k{i}", t) for i, t in enumerate(texts)),
                         attempts=0, created_at=datetime.now(UTC))


async def test_a_retry_sends_only_the_messages_not_sent_yet(
    api: FlakyTelegram, redis: aioredis.Redis
) -> None:
    async with Bot(TOKEN, base_url=f"{api.url}/bot", request=HTTPXRequest()) as bot:
        sender = TelegramSender(bot, redis, prefix="tsend:", max_wait=5.0, bot_rate=1000.0)
        api.fail_at = 2
        with pytest.raises(ChannelUnavailable):
            await sender.deliver(message("one", "two", "three"))
        assert [m["text"] for m in api.sent(CHAT)] == ["one"]
        await sender.deliver(message("one", "two", "three"))
        assert [m["text"] for m in api.sent(CHAT)] == ["one", "two", "three"]
        assert await redis.keys("tsend:*tg-sent*") == []
        # a one-message answer writes no progress at all
        await sender.deliver(message("four"))
        assert [m["text"] for m in api.sent(CHAT)][-1] == "four"
        assert await redis.keys("tsend:*tg-sent*") == []
