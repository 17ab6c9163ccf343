"""Delivery states written in batches: every message's "sent" lands, with one
inbox event each, however many finish together, and after Redis forgot its
scripts; a later state is never overwritten by a batched "sent"; a delivered
message's "sent" shares its round trip with the outbox's acknowledgement."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterPipeline, RedisCluster

from conversation.delivery import DeliveryState, DeliveryStates, tracking
from conversation.keys import Keys
from conversation.outbox import Outbox, OutboxMessage, RetryPolicy
from conversation.types import Channel, Reply
from tests.conversation.test_outbox import eventually

PREFIX = "dstate:"


async def _events(redis: aioredis.Redis) -> list[tuple[str, str]]:
    entries = await redis.xrange(Keys(PREFIX).inbox_events())
    return [(f[b"outbox"].decode(), f[b"state"].decode()) for _, f in entries]


async def test_sent_states_recorded_together_each_land_with_one_event(
    redis: aioredis.Redis,
) -> None:
    states = DeliveryStates(redis, prefix=PREFIX)
    ids = [f"17000000000{n}-0" for n in range(6)]
    await states.record(ids[0], DeliveryState.DELIVERED, 1)  # already further on
    await redis.script_flush()  # and the server forgot the script
    moved = await asyncio.gather(*(states.record_batched(i, DeliveryState.SENT, 1)
                                   for i in ids))
    assert moved == [False, True, True, True, True, True]
    found = await states.get_many(ids)
    assert found[ids[0]]["state"] == "delivered"
    assert all(found[i]["state"] == "sent" and found[i]["attempts"] == "1" for i in ids[1:])
    events = await _events(redis)
    assert events == [(ids[0], "delivered"), *((i, "sent") for i in ids[1:])]
    assert all([await redis.ttl(Keys(PREFIX).delivery(i)) > 0 for i in ids])


# the consumer's read loop (its cost is per read, not per message), start and stop
READING = {"XREADGROUP", "XAUTOCLAIM", "XCLAIM", "XGROUP", "XPENDING"}


def count_round_trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every command sent on its own, and every pipeline ("PIPELINE"), from now on."""
    sent: list[str] = []
    for kind in (aioredis.Redis, RedisCluster):
        def one(original: Any) -> Any:
            async def execute_command(self: Any, *args: Any, **options: Any) -> Any:
                sent.append(str(args[0]).split()[0].upper())
                return await original(self, *args, **options)
            return execute_command
        monkeypatch.setattr(kind, "execute_command", one(kind.execute_command))
    for pipeline in (Pipeline, ClusterPipeline):
        def batch(original: Any) -> Any:
            async def execute(self: Any, *args: Any, **options: Any) -> Any:
                sent.append("PIPELINE")
                return await original(self, *args, **options)
            return execute
        monkeypatch.setattr(pipeline, "execute", batch(pipeline.execute))
    return sent


async def test_a_delivered_message_costs_three_round_trips_state_and_event_included(
    redis: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One message delivered on its own (as under a steady rate): take it, then its
    "sent" state and acknowledgement together, then the state's inbox event."""
    outbox = Outbox(redis, prefix=PREFIX, block=0.02)
    states = DeliveryStates(redis, prefix=PREFIX)
    seen: list[str] = []

    async def deliver(message: OutboxMessage) -> None:
        seen.append(message.id)

    sent = count_round_trips(monkeypatch)
    stop = asyncio.Event()
    consumer = asyncio.create_task(outbox.run(
        tracking(deliver, states, RetryPolicy()), consumer="c1", stop=stop))
    first = await outbox.enqueue(Channel.TELEGRAM, "telegram:41", [Reply("k", "hello")])
    await eventually(lambda: len(seen) == 1)
    await states.settle()  # its state and event written: scripts loaded, warmed up
    sent.clear()
    queued = await outbox.enqueue(Channel.TELEGRAM, "telegram:42", [Reply("k", "shipped")])
    await eventually(lambda: len(seen) == 2)
    stop.set()
    await consumer
    await states.settle()
    calls = [name for name in sent if name not in READING]
    monkeypatch.undo()
    assert seen == [first, queued]
    assert calls == ["EVALSHA", "PIPELINE", "PIPELINE", "PIPELINE"]  # enqueue, then three
    assert (await states.get_many([queued]))[queued]["state"] == "sent"
    assert await _events(redis) == [(first, "sent"), (queued, "sent")]
    assert await outbox.backlog() == 0


async def test_a_sent_state_that_cannot_be_written_is_logged_and_not_sent_again(
    redis: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """The message did go out: an error writing "sent" (here a key of the wrong
    type) is logged with the message id, and the shopper gets it once."""
    outbox = Outbox(redis, prefix=PREFIX, block=0.02)
    states = DeliveryStates(redis, prefix=PREFIX)
    await outbox.ensure_group()
    queued = await outbox.enqueue(Channel.TELEGRAM, "telegram:43", [Reply("k", "shipped")])
    await redis.set(Keys(PREFIX).delivery(queued), "not a hash")
    seen: list[str] = []

    async def deliver(message: OutboxMessage) -> None:
        seen.append(message.id)

    stop = asyncio.Event()
    consumer = asyncio.create_task(outbox.run(
        tracking(deliver, states, RetryPolicy()), consumer="c1", stop=stop))
    await eventually(lambda: bool(seen))
    await asyncio.sleep(0.1)  # a retry, were there one, would come now
    stop.set()
    await consumer
    await states.settle()
    assert seen == [queued]
    assert await outbox.dead_letters() == []
    assert f"'sent' of message {queued} not recorded: ResponseError" in caplog.text


async def test_messages_read_together_are_taken_and_acknowledged_together(
    redis: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Six conversations' messages queued at once (a backlog, or a steady flow read a
    few at a time): their takes share one pipeline, their "sent" states and
    acknowledgements one more although the sends end at different times, and
    their inbox events ride along or go in one more: well under the three round
    trips each that a message alone costs."""
    outbox = Outbox(redis, prefix=PREFIX, block=0.02, wave=2.0)
    states = DeliveryStates(redis, prefix=PREFIX)
    await outbox.ensure_group()
    queued = [await outbox.enqueue(Channel.TELEGRAM, f"telegram:{50 + n}",
                                   [Reply("k", f"update {n}")]) for n in range(6)]
    seen: list[str] = []

    async def deliver(message: OutboxMessage) -> None:
        await asyncio.sleep(0.002 * queued.index(message.id))  # they end one by one
        seen.append(message.id)

    sent = count_round_trips(monkeypatch)
    stop = asyncio.Event()
    consumer = asyncio.create_task(outbox.run(
        tracking(deliver, states, RetryPolicy()), consumer="c1", stop=stop))
    await eventually(lambda: len(seen) == 6)
    await eventually(lambda: not states._pending)
    stop.set()
    await consumer
    calls = [name for name in sent if name not in READING | {"SCRIPT"}]  # a first load
    monkeypatch.undo()
    assert sorted(seen) == sorted(queued)
    # take, "sent" + acknowledgement, events (+1 if the server had to load a script)
    assert 3 <= len(calls) <= 4 and set(calls) == {"PIPELINE"}
    found = await states.get_many(queued)
    assert all(found[i]["state"] == "sent" for i in queued)
    assert sorted(await _events(redis)) == sorted((i, "sent") for i in queued)
    assert await outbox.backlog() == 0
