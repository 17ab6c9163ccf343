"""The Telegram sender against a local fake Bot API: an outbox message that
becomes several Telegram messages is resumed after a failure part-way, never
sending the first ones twice, and leaves no progress behind; a chat out of pace
says when it may send (`SendLater`) instead of sleeping, and holds no other chat."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import redis.asyncio as aioredis
from fake_providers import FakeTelegram
from telegram import Bot

from channels.telegram_render import render
from channels.telegram_sender import TelegramSender
from channels.telegram_transport import AiohttpRequest
from conversation.outbox import ChannelUnavailable, OutboxMessage, SendLater, Undeliverable
from conversation.types import Button, Channel, Reply
from tests.live import serving

TOKEN = "123456:sender-test"
CHAT = 4242


class FlakyTelegram(FakeTelegram):
    """Fails the `fail_at`-th sendMessage (1-based) once, with a 500; refuses every
    HTML message whose text holds `refuse_html` as Telegram refuses bad entities,
    and every message to `lost_chat` as a chat that does not exist."""

    fail_at: int = 0
    refuse_html: str | None = None
    lost_chat: int | None = None

    def _answer(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if method == "sendMessage":
            if (self.refuse_html is not None and params.get("parse_mode") == "HTML"
                    and self.refuse_html in params["text"]):
                return 400, {"ok": False, "error_code": 400, "description":
                             "Bad Request: can't parse entities: unexpected end tag"}
            if int(params["chat_id"]) == self.lost_chat:
                return 400, {"ok": False, "error_code": 400,
                             "description": "Bad Request: chat not found"}
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


def message(*texts: str, chat: int = CHAT, id: str = "1-0") -> OutboxMessage:
    return OutboxMessage(id=id, channel=Channel.TELEGRAM, conversation=f"telegram:{chat}",
                         replies=tuple(Reply(f"k{i}", t) for i, t in enumerate(texts)),
                         attempts=0, created_at=datetime.now(UTC))


async def deliver_when_paced(sender: TelegramSender, outgoing: OutboxMessage) -> int:
    """Deliver as the outbox does: after `SendLater`, again at the time it names.
    Returns how many times it was told to wait."""
    waits = 0
    while True:
        try:
            await sender.deliver(outgoing)
            return waits
        except SendLater as later:
            waits += 1
            await asyncio.sleep(max(0.0, later.at - time.time()))


async def test_a_retry_sends_only_the_messages_not_sent_yet(
    api: FlakyTelegram, redis: aioredis.Redis
) -> None:
    async with Bot(TOKEN, base_url=f"{api.url}/bot", request=AiohttpRequest()) as bot:
        sender = TelegramSender(bot, redis, prefix="tsend:", max_wait=5.0, bot_rate=1000.0)
        api.fail_at = 2
        with pytest.raises(ChannelUnavailable):
            await sender.deliver(message("one", "two", "three"))
        assert [m["text"] for m in api.sent(CHAT)] == ["one"]
        await deliver_when_paced(sender, message("one", "two", "three"))
        assert [m["text"] for m in api.sent(CHAT)] == ["one", "two", "three"]
        assert await redis.keys("tsend:*tg-sent*") == []
        # a one-message answer writes no progress at all
        await deliver_when_paced(sender, message("four", id="2-0"))
        assert [m["text"] for m in api.sent(CHAT)][-1] == "four"
        assert await redis.keys("tsend:*tg-sent*") == []


async def test_a_chat_out_of_pace_is_told_when_to_send_and_holds_no_other_chat(
    api: FlakyTelegram, redis: aioredis.Redis
) -> None:
    async with Bot(TOKEN, base_url=f"{api.url}/bot", request=AiohttpRequest()) as bot:
        sender = TelegramSender(bot, redis, prefix="tsend:", bot_rate=1000.0)
        # four parts to one chat: the burst (3) goes out, the fourth must wait
        with pytest.raises(SendLater) as later:
            await sender.deliver(message("a", "b", "c", "d"))
        assert later.value.at > time.time()
        assert [m["text"] for m in api.sent(CHAT)] == ["a", "b", "c"]
        # another chat is not held by it
        await sender.deliver(message("other", chat=CHAT + 1, id="3-0"))
        assert [m["text"] for m in api.sent(CHAT + 1)] == ["other"]
        # later, only the rest is sent
        await deliver_when_paced(sender, message("a", "b", "c", "d"))
        assert [m["text"] for m in api.sent(CHAT)] == ["a", "b", "c", "d"]


async def test_a_redis_that_forgot_its_scripts_still_paces_and_sends(
    api: FlakyTelegram, redis: aioredis.Redis
) -> None:
    """The chat's state and its pace token come in one pipeline, the pace script by
    its SHA: a server without it (restarted) answers NOSCRIPT, and the send goes on."""
    async with Bot(TOKEN, base_url=f"{api.url}/bot", request=AiohttpRequest()) as bot:
        sender = TelegramSender(bot, redis, prefix="tsend:", bot_rate=1000.0)
        await redis.script_flush()
        await sender.deliver(message("after a restart", chat=CHAT + 7, id="9-0"))
        assert [m["text"] for m in api.sent(CHAT + 7)] == ["after a restart"]
        # and the token was taken: a burst of three, then the chat must wait
        with pytest.raises(SendLater):
            await sender.deliver(message("a", "b", "c", chat=CHAT + 7, id="9-1"))
        assert len(api.sent(CHAT + 7)) == 3


async def test_a_message_is_sent_as_bot_send_message_sends_it(
    api: FlakyTelegram, redis: aioredis.Redis
) -> None:
    """The sender skips reading Telegram's answer into a `Message`, not anything
    of the request: the same parameters reach the Bot API."""
    reply = Reply("k", "Your order <b>#1001</b>", buttons=(Button("Track", "track:1001"),))
    async with Bot(TOKEN, base_url=f"{api.url}/bot", request=AiohttpRequest()) as bot:
        sender = TelegramSender(bot, redis, prefix="tsend:", bot_rate=1000.0)
        await sender.deliver(OutboxMessage(
            id="5-0", channel=Channel.TELEGRAM, conversation=f"telegram:{CHAT}",
            replies=(reply,), attempts=0, created_at=datetime.now(UTC)))
        out = render((reply,))[0]
        await bot.send_message(CHAT, out.text, parse_mode="HTML", reply_markup=out.markup)
    ours, ptbs = api.sent(CHAT)
    assert ours == ptbs
    assert ours["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "track:1001"


async def test_html_telegram_cannot_parse_is_sent_again_as_plain_text(
    api: FlakyTelegram, redis: aioredis.Redis
) -> None:
    async with Bot(TOKEN, base_url=f"{api.url}/bot", request=AiohttpRequest()) as bot:
        sender = TelegramSender(bot, redis, prefix="tsend:", bot_rate=1000.0)
        api.refuse_html = "Chips"
        await sender.deliver(message("Fish & Chips <3"))
    assert [(m["text"], m.get("parse_mode")) for m in api.sent(CHAT)] == [
        ("Fish & Chips <3", None)]


async def test_telegram_errors_keep_their_meaning(
    api: FlakyTelegram, redis: aioredis.Redis
) -> None:
    """A chat that blocked the bot (403) is never tried again; any other refusal
    (400) will never work either. (A 429: test_provider_transports.)"""
    async with Bot(TOKEN, base_url=f"{api.url}/bot", request=AiohttpRequest()) as bot:
        sender = TelegramSender(bot, redis, prefix="tsend:", bot_rate=1000.0)
        api.blocked.add(CHAT + 1)
        with pytest.raises(Undeliverable, match="blocked"):
            await sender.deliver(message("hi", chat=CHAT + 1))
        assert await sender.reachability.unreachable(f"telegram:{CHAT + 1}")
        api.lost_chat = CHAT + 2
        with pytest.raises(Undeliverable, match=r"(?i)chat not found"):
            await sender.deliver(message("hi", chat=CHAT + 2))
    assert api.sent() == []
