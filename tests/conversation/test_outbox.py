"""The outbox against a real Redis-protocol server: delivery, retries, dead letters,
take-over after a crash, dedup, per-conversation order, parallel consumers."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
import redis.asyncio as aioredis

from conversation.outbox import (
    GROUP,
    ChannelUnavailable,
    MalformedMessage,
    Outbox,
    OutboxMessage,
    RetryPolicy,
    SendLater,
    Undeliverable,
    replies_from_data,
    replies_to_data,
)
from conversation.types import Button, Channel, LinkButton, Reply

PHONE = "whatsapp:+919876543210"
REPLY = Reply(
    key="staff.reply",
    text="आपका ऑर्डर कल आएगा 📦",
    buttons=(Button("Menu", "menu"),),
    links=(LinkButton("Track", "https://t.example/1"),),
)


def fast_outbox(redis: aioredis.Redis, **overrides: object) -> Outbox:
    options: dict[str, object] = {
        "retry": RetryPolicy(max_attempts=3, base=0.01, cap=0.04),
        "min_idle": 5.0,
        "lease_ttl": 2.0,
        "deliver_timeout": 1.0,
        "block": 0.02,
        "recheck": 0.01,
    }
    options.update(overrides)
    return Outbox(redis, prefix="t:", **options)  # type: ignore[arg-type]


@asynccontextmanager
async def consuming(
    outbox: Outbox, deliver: Callable[[OutboxMessage], Awaitable[None]], name: str = "c1"
) -> AsyncIterator[asyncio.Event]:
    stop = asyncio.Event()
    task = asyncio.create_task(outbox.run(deliver, consumer=name, stop=stop))
    try:
        yield stop
    finally:
        stop.set()
        await asyncio.wait_for(task, 2)


async def eventually(check: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


async def pending(redis: aioredis.Redis, outbox: Outbox) -> int:
    info = await redis.xpending(outbox.stream_key, GROUP)
    return int(info["pending"])


def test_replies_round_trip() -> None:
    replies = (REPLY, Reply(key="plain", text=""))
    assert replies_from_data(replies_to_data(replies)) == replies
    with pytest.raises(MalformedMessage):
        replies_from_data([{"text": "no key"}])


def test_retry_delay_grows_with_jitter_and_cap() -> None:
    policy = RetryPolicy(base=1.0, cap=8.0)
    for failures, full in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (10, 8.0)]:
        delays = [policy.delay(failures) for _ in range(50)]
        assert all(full / 2 <= d <= full for d in delays)
        assert len(set(delays)) > 1


async def test_delivered_once_and_acknowledged(redis: aioredis.Redis) -> None:
    outbox = fast_outbox(redis)
    got: list[OutboxMessage] = []

    async def deliver(message: OutboxMessage) -> None:
        got.append(message)

    message_id = await outbox.enqueue(Channel.WEB, "web:abc", [REPLY])
    async with consuming(outbox, deliver):
        await eventually(lambda: len(got) == 1)
        await asyncio.sleep(0.1)
    assert len(got) == 1
    message = got[0]
    assert (message.id, message.channel, message.conversation) == (
        message_id,
        Channel.WEB,
        "web:abc",
    )
    assert message.replies == (REPLY,)
    assert message.attempts == 0
    assert await pending(redis, outbox) == 0
    assert await outbox.backlog() == 0
    assert await redis.exists("t:{outbox}:q:web:abc") == 0


async def test_messages_enqueued_before_the_first_consumer_are_delivered(
    redis: aioredis.Redis,
) -> None:
    outbox = fast_outbox(redis)
    ids = [await outbox.enqueue(Channel.WEB, f"web:{n}", [REPLY]) for n in range(3)]
    got: list[str] = []

    async def deliver(message: OutboxMessage) -> None:
        got.append(message.id)

    async with consuming(outbox, deliver):
        await eventually(lambda: len(got) == 3)
    assert sorted(got) == sorted(ids)


async def test_failure_is_retried_with_backoff_then_succeeds(redis: aioredis.Redis) -> None:
    outbox = fast_outbox(redis, retry=RetryPolicy(max_attempts=5, base=0.04, cap=1.0))
    tries: list[tuple[int, float]] = []

    async def deliver(message: OutboxMessage) -> None:
        tries.append((message.attempts, time.monotonic()))
        if len(tries) < 3:
            raise ConnectionError("provider down")

    await outbox.enqueue(Channel.WEB, "web:abc", [REPLY])
    async with consuming(outbox, deliver):
        await eventually(lambda: len(tries) == 3)
        await asyncio.sleep(0.05)
    assert [attempts for attempts, _ in tries] == [0, 1, 2]
    gaps = [b - a for (_, a), (_, b) in itertools.pairwise(tries)]
    assert gaps[0] >= 0.02  # at least half of base * 2**0
    assert gaps[1] >= 0.04  # at least half of base * 2**1
    assert await pending(redis, outbox) == 0
    assert await redis.hlen("t:{outbox}:tries") == 0
    assert await outbox.dead_letters() == []


async def test_persistent_failure_is_dead_lettered_with_its_reason(
    redis: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = fast_outbox(redis)
    calls: list[int] = []

    async def deliver(message: OutboxMessage) -> None:
        calls.append(message.attempts)
        raise ChannelUnavailable(f"no sender for channel {message.channel.value} yet")

    caplog.set_level(logging.INFO, logger="conversation.outbox")
    message_id = await outbox.enqueue(Channel.WHATSAPP, PHONE, [REPLY])
    async with consuming(outbox, deliver):
        await eventually(lambda: len(calls) == 3)
        await eventually(lambda: "dead-lettered" in caplog.text)
        await asyncio.sleep(0.05)
    assert calls == [0, 1, 2]
    [letter] = await outbox.dead_letters()
    assert letter.message.id == message_id
    assert letter.message.conversation == PHONE
    assert letter.message.replies == (REPLY,)
    assert letter.message.attempts == 3
    assert letter.error == "ChannelUnavailable: no sender for channel whatsapp yet"
    assert await outbox.backlog() == 0
    assert await pending(redis, outbox) == 0
    assert "+919876543210" not in caplog.text
    assert REPLY.text not in caplog.text


async def test_undeliverable_is_dead_lettered_without_retries(redis: aioredis.Redis) -> None:
    outbox = fast_outbox(redis)
    calls: list[str] = []

    async def deliver(message: OutboxMessage) -> None:
        calls.append(message.id)
        raise Undeliverable("the shopper blocked the bot")

    await outbox.enqueue(Channel.TELEGRAM, "telegram:42", [REPLY])
    async with consuming(outbox, deliver):
        await eventually(lambda: len(calls) == 1)
        await asyncio.sleep(0.1)
    [letter] = await outbox.dead_letters()
    assert calls == [letter.message.id]
    assert letter.message.attempts == 1
    assert letter.error.startswith("Undeliverable")


async def test_a_slow_delivery_times_out_and_is_retried(redis: aioredis.Redis) -> None:
    outbox = fast_outbox(redis, deliver_timeout=0.05)
    calls: list[int] = []

    async def deliver(message: OutboxMessage) -> None:
        calls.append(message.attempts)
        if message.attempts == 0:
            await asyncio.sleep(1)

    await outbox.enqueue(Channel.WEB, "web:slow", [REPLY])
    async with consuming(outbox, deliver):
        await eventually(lambda: len(calls) == 2)
        await asyncio.sleep(0.05)
    assert calls == [0, 1]
    assert await outbox.backlog() == 0


async def test_message_left_pending_by_a_dead_consumer_is_taken_over(
    redis: aioredis.Redis,
) -> None:
    outbox = fast_outbox(redis, min_idle=0.1)
    await outbox.ensure_group()
    message_id = await outbox.enqueue(Channel.WEB, "web:abc", [REPLY])
    # The consumer that "dies": reads the message and never acknowledges it.
    read = await redis.xreadgroup(GROUP, "dead", {outbox.stream_key: ">"}, count=10)
    assert [entry_id.decode() for entry_id, _ in read[0][1]] == [message_id]
    assert await pending(redis, outbox) == 1

    got: list[str] = []

    async def deliver(message: OutboxMessage) -> None:
        got.append(message.id)

    async with consuming(outbox, deliver, name="heir"):
        await eventually(lambda: got == [message_id])
        await asyncio.sleep(0.05)
    assert got == [message_id]
    assert await pending(redis, outbox) == 0


async def test_held_back_messages_are_not_taken_from_a_live_consumer(
    redis: aioredis.Redis,
) -> None:
    """A consumer waiting out a long back-off keeps its entries fresh, so another
    consumer does not take them over just because they sat idle."""
    # Blocking reads time out at the server's tick (100 ms on Valkey), so touches
    # come every 100-200 ms here: min_idle leaves room for that.
    outbox = fast_outbox(redis, min_idle=0.4, retry=RetryPolicy(max_attempts=5, base=1.2, cap=1.2))
    owners: list[str] = []

    def failing_once(name: str) -> Callable[[OutboxMessage], Awaitable[None]]:
        async def deliver(message: OutboxMessage) -> None:
            owners.append(name)
            if len(owners) == 1:
                raise ConnectionError("down")

        return deliver

    await outbox.enqueue(Channel.WEB, "web:abc", [REPLY])
    async with consuming(outbox, failing_once("first"), name="first"):
        await eventually(lambda: owners == ["first"])
        async with consuming(outbox, failing_once("second"), name="second"):
            await eventually(lambda: len(owners) == 2, within=3)
            info = await redis.xinfo_consumers(outbox.stream_key, GROUP)
            assert {c["name"].decode(): c["pending"] for c in info}.get("second", 0) == 0
    assert owners == ["first", "first"]


async def test_dedup_key_enqueues_once(redis: aioredis.Redis) -> None:
    outbox = fast_outbox(redis)
    first = await outbox.enqueue(Channel.WEB, "web:abc", [REPLY], dedup_key="resolved:T-1")
    again = await outbox.enqueue(Channel.WEB, "web:abc", [REPLY], dedup_key="resolved:T-1")
    other = await outbox.enqueue(Channel.WEB, "web:abc", [REPLY], dedup_key="resolved:T-2")
    assert first == again != other
    assert await outbox.backlog() == 2
    assert await redis.llen("t:{outbox}:q:web:abc") == 2
    assert await redis.ttl("t:{outbox}:dedup:resolved:T-1") > 0


async def test_order_per_conversation_survives_retries(redis: aioredis.Redis) -> None:
    outbox = fast_outbox(redis, retry=RetryPolicy(max_attempts=5, base=0.03, cap=0.1))
    events: list[tuple[str, str, int]] = []
    failures = {"first": 2}

    async def deliver(message: OutboxMessage) -> None:
        name = message.replies[0].key
        if failures.get(name, 0) > 0:
            failures[name] -= 1
            events.append(("fail", name, message.attempts))
            raise ConnectionError("down")
        events.append(("ok", name, message.attempts))

    await outbox.enqueue(Channel.WEB, "web:a", [Reply("first", "1")])
    await outbox.enqueue(Channel.WEB, "web:a", [Reply("second", "2")])
    await outbox.enqueue(Channel.WEB, "web:b", [Reply("elsewhere", "3")])
    async with consuming(outbox, deliver):
        await eventually(lambda: len(events) == 5)
        await asyncio.sleep(0.1)
    conversation_a = [e for e in events if e[1] != "elsewhere"]
    assert conversation_a == [
        ("fail", "first", 0),
        ("fail", "first", 1),
        ("ok", "first", 2),
        ("ok", "second", 0),
    ]
    # The other conversation did not wait for web:a's retries.
    assert events.index(("ok", "elsewhere", 0)) < events.index(("ok", "first", 2))


async def test_dead_letter_lets_the_conversation_carry_on(redis: aioredis.Redis) -> None:
    outbox = fast_outbox(redis, retry=RetryPolicy(max_attempts=2, base=0.005, cap=0.01))
    delivered: list[str] = []

    async def deliver(message: OutboxMessage) -> None:
        if message.replies[0].key == "doomed":
            raise ConnectionError("down")
        delivered.append(message.replies[0].key)

    await outbox.enqueue(Channel.WEB, "web:a", [Reply("doomed", "1")])
    await outbox.enqueue(Channel.WEB, "web:a", [Reply("next", "2")])
    async with consuming(outbox, deliver):
        await eventually(lambda: delivered == ["next"])
    assert [d.message.replies[0].key for d in await outbox.dead_letters()] == ["doomed"]


async def test_two_consumers_deliver_each_message_once_in_order(
    redis: aioredis.Redis,
) -> None:
    outbox = fast_outbox(redis)
    seen: list[tuple[str, str, int]] = []

    def recorder(name: str) -> Callable[[OutboxMessage], Awaitable[None]]:
        async def deliver(message: OutboxMessage) -> None:
            await asyncio.sleep(0.001)
            seen.append((name, message.conversation, int(message.replies[0].key)))

        return deliver

    for n in range(60):
        await outbox.enqueue(Channel.WEB, f"web:{n % 6}", [Reply(str(n), "x")])
    async with (
        consuming(outbox, recorder("one"), name="one"),
        consuming(outbox, recorder("two"), name="two"),
    ):
        await eventually(lambda: len(seen) >= 60)
        await asyncio.sleep(0.1)
    assert sorted(n for _, _, n in seen) == list(range(60))
    for conversation in {c for _, c, _ in seen}:
        numbers = [n for _, c, n in seen if c == conversation]
        assert numbers == sorted(numbers)
    assert await outbox.backlog() == 0
    assert await pending(redis, outbox) == 0


async def test_stop_ends_the_loop_promptly(redis: aioredis.Redis) -> None:
    outbox = fast_outbox(redis, block=0.05)

    async def deliver(message: OutboxMessage) -> None:
        raise AssertionError("nothing to deliver")

    stop = asyncio.Event()
    task = asyncio.create_task(outbox.run(deliver, consumer="c1", stop=stop))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    stop.set()
    await asyncio.wait_for(task, 1)
    assert time.monotonic() - started < 0.5
    # A clean stop with nothing pending leaves no consumer behind.
    assert await redis.xinfo_consumers(outbox.stream_key, GROUP) == []


async def test_unreadable_entry_is_dead_lettered(redis: aioredis.Redis) -> None:
    outbox = fast_outbox(redis)
    await outbox.ensure_group()
    # What a bad deploy might leave behind: the right lists, a wrong body.
    entry_id = (await redis.xadd(outbox.stream_key, {"conversation": "web:x"})).decode()
    await redis.rpush("t:{outbox}:q:web:x", entry_id)

    async def deliver(message: OutboxMessage) -> None:
        raise AssertionError("must not be delivered")

    async with consuming(outbox, deliver):
        deadline = time.monotonic() + 3
        while await redis.xlen(outbox.dead_key) == 0:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
    entries = await redis.xrange(outbox.dead_key)
    assert entries[0][1][b"error"].startswith(b"MalformedMessage")
    assert await outbox.backlog() == 0


async def test_enqueue_releases_the_producers_order_lock_only_if_still_its_own(
    redis: aioredis.Redis,
) -> None:
    outbox = fast_outbox(redis)
    lock = outbox.order_lock(PHONE)
    await redis.set(lock, "mine", px=10_000)
    await outbox.enqueue(Channel.WHATSAPP, PHONE, [REPLY], dedup_key="m1", unlock=(lock, "mine"))
    assert await redis.get(lock) is None
    # a repeat (deduplicated, nothing queued) still releases it
    await redis.set(lock, "again", px=10_000)
    await outbox.enqueue(Channel.WHATSAPP, PHONE, [REPLY], dedup_key="m1",
                         unlock=(lock, "again"))
    assert await redis.get(lock) is None
    # a lock that expired and was taken by another turn stays theirs
    await redis.set(lock, "theirs", px=10_000)
    await outbox.enqueue(Channel.WHATSAPP, PHONE, [REPLY], dedup_key="m2", unlock=(lock, "mine"))
    assert await redis.get(lock) == b"theirs"
    assert await outbox.backlog() == 2


async def test_send_later_holds_only_its_conversation_and_counts_no_attempt(
    redis: aioredis.Redis,
) -> None:
    """A paced chat waits alone: the other conversation is delivered meanwhile, the
    held one keeps its order and is tried again with no failure counted."""
    outbox = fast_outbox(redis, retry=RetryPolicy(max_attempts=1, base=0.01, cap=0.01))
    release = asyncio.Event()
    seen: list[tuple[str, str, int]] = []

    async def deliver(message: OutboxMessage) -> None:
        seen.append((message.conversation, message.replies[0].key, message.attempts))
        if message.conversation == "web:paced" and not release.is_set():
            raise SendLater(time.time() + 0.05)

    await outbox.enqueue(Channel.WEB, "web:paced", [Reply("first", "1")])
    await outbox.enqueue(Channel.WEB, "web:paced", [Reply("second", "2")])
    await outbox.enqueue(Channel.WEB, "web:free", [Reply("other", "3")])
    async with consuming(outbox, deliver):
        await eventually(lambda: ("web:free", "other", 0) in seen)
        assert ("web:paced", "second", 0) not in seen  # never overtakes the held head
        release.set()
        await eventually(lambda: ("web:paced", "second", 0) in seen)
    paced = [key for conversation, key, _ in seen if conversation == "web:paced"]
    assert paced[-2:] == ["first", "second"] and set(paced) == {"first", "second"}
    assert {attempts for _, _, attempts in seen} == {0}  # max_attempts=1: a failure would bury
    assert await outbox.dead_letters() == [] and await outbox.backlog() == 0


async def test_deliveries_that_finish_together_are_acknowledged_together(
    redis: aioredis.Redis,
) -> None:
    """Many conversations delivered at once: their acknowledgements share pipelines,
    every message arrives once and in order, nothing stays pending or queued, also
    when Redis forgot the scripts half-way."""
    outbox = fast_outbox(redis, concurrency=16)
    chats = [f"telegram:{700 + n}" for n in range(16)]
    got: dict[str, list[str]] = {chat: [] for chat in chats}
    gate = asyncio.Event()

    async def deliver(message: OutboxMessage) -> None:
        await gate.wait()  # all first messages finish in the same loop turn
        got[message.conversation].append(message.replies[0].text)

    for n in range(3):
        for chat in chats:
            await outbox.enqueue(Channel.TELEGRAM, chat, [Reply("k", f"{chat} #{n}")])
    async with consuming(outbox, deliver):
        await asyncio.sleep(0.1)
        await redis.script_flush()
        gate.set()
        await eventually(lambda: all(len(texts) == 3 for texts in got.values()))
        await asyncio.sleep(0.1)
    assert got == {chat: [f"{chat} #{n}" for n in range(3)] for chat in chats}
    assert await pending(redis, outbox) == 0
    assert await outbox.backlog() == 0
    assert not [key async for key in redis.scan_iter("t:{outbox}:q:telegram:7*")]
