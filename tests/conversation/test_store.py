"""The session store's dedup and transcript formats, old and new."""

from __future__ import annotations

import json

import pytest
import redis.asyncio as aioredis

from conversation.keys import Keys
from conversation.store import SEEN_TTL_S, read_line
from tests.conversation.chat import Chat


@pytest.fixture
def keys() -> Keys:
    return Keys()  # the engine's default prefix


async def test_an_older_message_id_is_still_dropped_without_a_second_answer(chat: Chat) -> None:
    await chat.say("hi")
    first = await chat.send("blorp", message_id="m-1")
    await chat.send("blorp again", message_id="m-2")
    again = await chat.send("blorp", message_id="m-1")
    assert again.duplicate and not first.duplicate
    assert again.replies == ()  # only the latest answer is kept for a retry
    transcript = await chat.engine.store.transcript(chat.conversation)
    assert [line["text"] for line in transcript if line["who"] == "shopper"] == [
        "hi", "blorp", "blorp again"]


async def test_message_ids_live_in_one_small_set_with_a_ttl(
    chat: Chat, redis: aioredis.Redis, keys: Keys
) -> None:
    for n in range(5):
        await chat.send("hi", message_id=f"id-{n}")
    seen = keys.seen(chat.conversation)
    assert await redis.zcard(seen) == 5
    assert 0 < await redis.ttl(seen) <= SEEN_TTL_S
    assert await redis.ttl(keys.answer(chat.conversation)) > 0


async def test_transcript_lines_of_the_earlier_format_still_read(
    chat: Chat, redis: aioredis.Redis, keys: Keys
) -> None:
    old = {"who": "bot", "text": "Hello", "at": "2026-11-17T05:30:00.123456+00:00",
           "key": "welcome"}
    await redis.rpush(keys.transcript(chat.conversation), json.dumps(old))
    await chat.say("hi")
    transcript = await chat.engine.store.transcript(chat.conversation)
    assert transcript[0] == old
    assert transcript[1]["who"] == "shopper" and transcript[1]["text"] == "hi"
    assert transcript[1]["at"].startswith("2026-11-17T05:30:00")
    assert transcript[-1]["key"] == "menu.prompt"


def test_a_compact_line_reads_as_the_object_it_replaced() -> None:
    assert read_line('["staff",1794893400,"On it"]') == {
        "who": "staff", "text": "On it", "at": "2026-11-17T05:30:00+00:00"}
