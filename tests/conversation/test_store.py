"""The session store's dedup, transcript and remembered-answer formats, old and new."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import pytest
import redis.asyncio as aioredis

from conversation.keys import Keys
from conversation.outbox import replies_to_data
from conversation.store import (
    SEEN_TTL_S,
    TranscriptLine,
    compact_json,
    dump_answer,
    load_answer,
    read_line,
    readable_answer,
    readable_line,
    together,
)
from conversation.stored_texts import ANSWER_DICTIONARY, STATIC_TEXTS
from tests.conversation.chat import Chat


@pytest.fixture
def keys() -> Keys:
    return Keys()  # the engine's default prefix


async def test_writes_that_ride_with_the_save_each_get_their_own_answers(
    redis: aioredis.Redis,
) -> None:
    """The day's count and the audit entries share the save's pipeline
    (`together`); each is handed the answers of its own commands."""
    got: dict[str, list[Any]] = {}

    def part(name: str, *commands: tuple[str, ...]) -> Any:
        def queue(pipe: Any) -> Any:
            for command in commands:
                pipe.execute_command(*command)
            return lambda answers: got.setdefault(name, list(answers))

        return queue

    assert together(None, None) is None
    alone = part("alone")
    assert together(None, alone) is alone
    both = together(part("a", ("SET", "t:a", "1"), ("INCR", "t:a")),
                    part("b", ("INCR", "t:a")))
    assert both is not None
    async with redis.pipeline(transaction=False) as pipe:
        pipe.execute_command("GET", "t:a")  # the save's own, first
        handle = both(pipe)
        answers = await pipe.execute()
    handle(answers[1:])
    assert got == {"a": [True, 2], "b": [3]}
    await redis.delete("t:a")


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


# ---- the compact formats of issue 17 (bytes per idle conversation) -------------------

AT = "2026-11-17T05:30:00+00:00"


async def test_a_redelivered_message_replays_its_first_answer_exactly(
    chat: Chat, redis: aioredis.Redis, keys: Keys
) -> None:
    first = await chat.send("hi", message_id="wa-1")  # the welcome and the menu's buttons
    stored = await redis.get(keys.answer(chat.conversation))
    assert stored is not None
    again = await chat.send("hi", message_id="wa-1")
    assert again.duplicate and not first.duplicate
    assert again.replies == first.replies
    assert len(stored) < len(compact_json(replies_to_data(first.replies))) / 2  # kept small


async def test_an_answer_stored_by_the_previous_version_still_replays(
    chat: Chat, redis: aioredis.Redis, keys: Keys
) -> None:
    await chat.say("hi")
    answer = [{"key": "menu.prompt", "text": "What can I help you with?",
               "buttons": [{"label": "Menu", "payload": "menu"}], "links": []}]
    await redis.zadd(keys.seen(chat.conversation), {"old-7": int(time.time())})
    await redis.set(keys.answer(chat.conversation), "old-7\n" + json.dumps(answer))
    again = await chat.send("menu", message_id="old-7")
    assert again.duplicate
    assert [(r.key, r.text, [b.label for b in r.buttons]) for r in again.replies] == [
        ("menu.prompt", "What can I help you with?", ["Menu"])]


@pytest.mark.parametrize("answer", [
    [],
    [{"key": "x", "text": "ok", "buttons": [], "links": []}],
    [{"key": "welcome", "text": "नमस्ते! " * 40, "buttons": [{"label": "भाषा", "payload": "lang"}],
      "links": [{"label": "Track", "url": "https://example.com/t?a=1&b=2"}]}],
    {"not": ["the", "usual", "shape"], "n": 1.5, "none": None},
])
def test_any_answer_loads_back_as_it_was(answer: Any) -> None:
    assert load_answer(dump_answer(answer)) == answer


async def test_the_transcript_reads_back_what_was_said(chat: Chat) -> None:
    first = await chat.say("hi")
    said = 'Line one\nline "two" · ₹1,698 😀 \\ [not json] {either}'
    await chat.say(said)
    transcript = await chat.engine.store.transcript(chat.conversation)
    assert [line["text"] for line in transcript if line["who"] == "shopper"] == ["hi", said]
    assert [(line["key"], line["text"]) for line in transcript[1:3]] == [
        (r.key, r.text) for r in first.replies]


@pytest.mark.parametrize("line, expected", [
    (TranscriptLine("shopper", "hi", AT), {"who": "shopper", "text": "hi", "at": AT}),
    (TranscriptLine("shopper", "", AT, files="f1,f2"),
     {"who": "shopper", "text": "", "at": AT, "attachments": "f1,f2"}),
    (TranscriptLine("bot", "two\nlines", AT, "order.ask"),
     {"who": "bot", "text": "two\nlines", "at": AT, "key": "order.ask"}),
    (TranscriptLine("bot", STATIC_TEXTS[0], AT, "welcome"),
     {"who": "bot", "text": STATIC_TEXTS[0], "at": AT, "key": "welcome"}),
    (TranscriptLine("staff", STATIC_TEXTS[1], AT),
     {"who": "staff", "text": STATIC_TEXTS[1], "at": AT}),
    (TranscriptLine("system", "[b] x", AT, "a key", "f 1"),  # separators: stored as the array
     {"who": "system", "text": "[b] x", "at": AT, "key": "a key", "attachments": "f 1"}),
    (TranscriptLine("auditor", "x", AT, "k"),
     {"who": "auditor", "text": "x", "at": AT, "key": "k"}),
])
def test_a_line_reads_back_as_written(line: TranscriptLine, expected: dict[str, str]) -> None:
    assert read_line(line.dump()) == expected
    assert read_line(line.dump().encode()) == expected


def test_a_line_is_smaller_than_the_array_it_replaces() -> None:
    line = TranscriptLine("bot", "Done: order #5000723 is cancelled.", AT, "done.cancel")
    assert len(line.dump()) <= len('["bot",1794893400,"Done: order #5000723 is cancelled.",'
                                   '"done.cancel"]') - 15
    assert len(TranscriptLine("bot", STATIC_TEXTS[0], AT, "welcome").dump()) < 20


def test_an_array_line_with_key_and_files_still_reads() -> None:
    assert read_line('["shopper",1794893400,"see photo","","f1,f2"]') == {
        "who": "shopper", "text": "see photo", "at": AT, "attachments": "f1,f2"}
    assert read_line(b'["bot",1794893400,"Hello","welcome"]') == {
        "who": "bot", "text": "Hello", "at": AT, "key": "welcome"}


def test_the_frozen_tables_of_the_stored_formats_are_unchanged() -> None:
    # Stored lines and answers are read with these: append texts, never edit them.
    assert hashlib.sha256(ANSWER_DICTIONARY).hexdigest() == (
        "69c9279990d0ef4ff811dc1a77e21c181e85a35857088b403059341fc97189b2")
    assert hashlib.sha256("\x00".join(STATIC_TEXTS[:24]).encode()).hexdigest() == (
        "d18d239437d5008fec3d502f30bbd783a7a4d469020562d05f714833c00d77a9")


def test_a_privacy_export_reads_lines_and_answers_as_the_version_before_stored_them() -> None:
    line = TranscriptLine("bot", STATIC_TEXTS[0], AT, "welcome")
    assert readable_line(line.dump()) == compact_json(
        ["bot", 1794893400, STATIC_TEXTS[0], "welcome"])
    old = json.dumps({"who": "bot", "text": "Hello", "at": AT})
    assert readable_line(old) == old
    answer = [{"key": "menu.prompt", "text": "What can I help you with?", "buttons": [],
               "links": []}] * 3
    assert readable_answer(b"m-1\n" + dump_answer(answer)) == "m-1\n" + compact_json(answer)
