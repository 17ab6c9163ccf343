"""One conversation's turns, answered and queued in the order they were handled.

The engine serialises a conversation's turns with its own lock, but a reply that
leaves through the outbox is queued after that lock is released: if the process
answering the first message stalls between the two, a second message could be
handled and queued first, and the shopper would read the answers swapped. Holding
this lock around "handle, then enqueue" rules that out (two more round trips a
turn, on channels that answer through the outbox only).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as aioredis

from conversation.store import REDIS_DOWN, ConversationBusy, StoreUnavailable

LOCK_TTL_MS = 30_000  # longer than the engine's own wait (8 s) plus a slow turn
WAIT_S = 10.0

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@asynccontextmanager
async def in_order(redis: aioredis.Redis, prefix: str, conversation: str) -> AsyncIterator[None]:
    key = f"{prefix}conv:{{{conversation}}}:reply-order"
    token = secrets.token_hex(8)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    pause = 0.002
    try:
        while not await redis.set(key, token, nx=True, px=LOCK_TTL_MS):
            if loop.time() >= deadline:
                raise ConversationBusy(conversation)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.1)
    except REDIS_DOWN as exc:
        raise StoreUnavailable("Redis is unreachable") from exc
    try:
        yield
    finally:
        release: Any = redis.register_script(_RELEASE)
        with contextlib.suppress(*REDIS_DOWN):  # else it expires by itself
            await release(keys=[key], args=[token])
