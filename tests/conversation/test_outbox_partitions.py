"""The outbox split into partitions (`OUTBOX_PARTITIONS`): each conversation stays
in one partition and in order, every partition is drained by one consumer, and the
partitions' slots spread over the slot range (so over a cluster's masters)."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import redis.asyncio as aioredis
from redis.crc import key_slot

from conversation.outbox import SLOTS, Outbox, OutboxMessage, Undeliverable, partition_tags
from conversation.types import Channel, Reply
from tests.conversation.test_outbox import consuming, eventually, fast_outbox


def test_one_partition_keeps_the_stream_of_earlier_releases() -> None:
    assert partition_tags(1) == ["outbox"]
    assert fast_outbox_keys(1)[0] == "t:{outbox}"


def fast_outbox_keys(count: int) -> list[str]:
    return [p.stream for p in Outbox(aioredis.Redis(), prefix="t:", partitions=count).partitions]


def test_partitions_spread_over_the_slot_range_one_slot_each() -> None:
    for count in (2, 3, 6, 8, 16):
        slots = [key_slot(tag.encode()) for tag in partition_tags(count)]
        for i, slot in enumerate(slots):
            assert i * SLOTS // count <= slot < (i + 1) * SLOTS // count
    outbox = Outbox(aioredis.Redis(), prefix="t:", partitions=8)
    for conversation in ("web:a", "telegram:42", "whatsapp:+919876543210"):
        part = outbox.partition(conversation)
        keys = [part.stream, part.dead, part.tries, part.queue(conversation),
                part.lease(conversation), part.dedup("resolved:T-1"),
                outbox.order_lock(conversation)]
        assert len({key_slot(k.encode()) for k in keys}) == 1, keys


async def test_every_partition_is_delivered_in_order_per_conversation(
    redis: aioredis.Redis,
) -> None:
    outbox = fast_outbox(redis, partitions=4)
    conversations = [f"web:shopper-{n}" for n in range(16)]
    used = {outbox.partition(c).stream for c in conversations}
    assert len(used) > 1  # the test spreads over partitions
    for round_ in range(3):
        for conversation in conversations:
            await outbox.enqueue(Channel.WEB, conversation,
                                 [Reply("staff.reply", f"{round_}")])
    assert await outbox.backlog() == 48

    seen: dict[str, list[str]] = defaultdict(list)

    async def deliver(message: OutboxMessage) -> None:
        await asyncio.sleep(0)
        seen[message.conversation].append(message.replies[0].text)

    async with consuming(outbox, deliver):
        await eventually(lambda: sum(len(v) for v in seen.values()) == 48)
    assert all(seen[c] == ["0", "1", "2"] for c in conversations)
    assert await outbox.backlog() == 0


async def test_dead_letters_of_all_partitions_are_listed_oldest_first(
    redis: aioredis.Redis,
) -> None:
    outbox = fast_outbox(redis, partitions=3)
    conversations = [f"web:gone-{n}" for n in range(6)]
    assert len({outbox.partition(c).stream for c in conversations}) > 1
    for conversation in conversations:
        await outbox.enqueue(Channel.WEB, conversation, [Reply("staff.reply", conversation)])

    async def deliver(message: OutboxMessage) -> None:
        raise Undeliverable("blocked")

    async with consuming(outbox, deliver):
        for _ in range(500):
            if len(await outbox.dead_letters()) == 6:
                break
            await asyncio.sleep(0.01)
    letters = await outbox.dead_letters()
    assert sorted(d.message.conversation for d in letters) == sorted(conversations)
    assert [d.failed_at for d in letters] == sorted(d.failed_at for d in letters)
    assert len(await outbox.dead_letters(limit=2)) == 2
