"""Delivery states written in batches: every message's "sent" lands, with one
inbox event each, however many finish together, and after Redis forgot its
scripts; a later state is never overwritten by a batched "sent"."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from conversation.delivery import DeliveryState, DeliveryStates
from conversation.keys import Keys

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
