"""One conversation's turns, answered and queued in the order they were handled.

The engine serialises a conversation's turns with its own lock, but a reply that
leaves through the outbox is queued after that lock is released: if the process
answering the first message stalls between the two, a second message could be
handled and queued first, and the shopper would read the answers swapped. Holding
this lock around "handle, then enqueue" rules that out. It costs one more round
trip a turn, on channels that answer through the outbox only: the lock lives in
the outbox's hash slot (`Outbox.order_lock`), so the enqueue script releases it
(`OrderLock.enqueue`) instead of a call of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from conversation.outbox import Outbox
from conversation.store import REDIS_DOWN, ConversationBusy, StoreUnavailable
from conversation.types import Channel, Reply

LOCK_TTL_MS = 30_000  # longer than the engine's own wait (8 s) plus a slow turn
WAIT_S = 10.0

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(slots=True)
class OrderLock:
    """The held lock; `enqueue` queues replies and releases it in one round trip."""

    outbox: Outbox
    key: str
    token: str
    released: bool = False

    async def enqueue(
        self, channel: Channel, conversation: str, replies: Sequence[Reply], *, dedup_key: str
    ) -> str:
        queued = await self.outbox.enqueue(channel, conversation, replies, dedup_key=dedup_key,
                                           unlock=(self.key, self.token))
        self.released = True
        return queued


@asynccontextmanager
async def in_order(
    redis: aioredis.Redis, outbox: Outbox, conversation: str
) -> AsyncIterator[OrderLock]:
    lock = OrderLock(outbox, outbox.order_lock(conversation), secrets.token_hex(8))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    pause = 0.002
    try:
        while not await redis.set(lock.key, lock.token, nx=True, px=LOCK_TTL_MS):
            if loop.time() >= deadline:
                raise ConversationBusy(conversation)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.1)
    except REDIS_DOWN as exc:
        raise StoreUnavailable("Redis is unreachable") from exc
    try:
        yield lock
    finally:
        if not lock.released:
            with contextlib.suppress(*REDIS_DOWN):  # else it expires by itself
                release: Any = redis.register_script(_RELEASE)  # rare: no replies, or errors
                await release(keys=[lock.key], args=[lock.token])
