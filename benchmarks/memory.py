"""Where Redis memory goes after the dialogues, and whether it all expires.

Every key under the run's prefix is sized with MEMORY USAGE and its TTL read;
keys are grouped by family: a conversation's session, transcript, dedup ids
(`seen`), the latest message's answer kept for retries (`answer`) and lock, then
tickets and the shop's own keys. "Per conversation" is the conversation families'
total over the number of sessions.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import redis.asyncio as aioredis

BATCH = 1000
CONVERSATION_FAMILIES = ("session", "transcript", "seen", "answer", "lock")


def family(key: str, prefix: str) -> str:
    rest = key[len(prefix):]
    if rest.startswith("conv:"):
        name = rest.rsplit("}:", 1)[-1]
        return name.split(":", 1)[0]
    if rest.startswith(("ticket:", "tickets:")):
        return "tickets"
    if rest.startswith(("order:", "orders:", "demo:")):
        return "shop orders"
    if rest.startswith("idem:"):
        return "shop change records"
    return rest.split(":", 1)[0].strip("{}") or "other"


async def survey(redis: aioredis.Redis, prefix: str) -> dict[str, Any]:
    sizes: dict[str, int] = defaultdict(int)
    counts: dict[str, int] = defaultdict(int)
    no_ttl: dict[str, int] = defaultdict(int)
    max_ttl: dict[str, int] = defaultdict(int)
    batch: list[str] = []

    async def flush() -> None:
        async with redis.pipeline(transaction=False) as pipe:
            for key in batch:
                pipe.memory_usage(key, samples=0)
                pipe.ttl(key)
            answers = await pipe.execute()
        for i, key in enumerate(batch):
            size, ttl = answers[2 * i], answers[2 * i + 1]
            if size is None:  # expired in between
                continue
            name = family(key, prefix)
            sizes[name] += int(size)
            counts[name] += 1
            if ttl == -1:
                no_ttl[name] += 1
            max_ttl[name] = max(max_ttl[name], int(ttl))
        batch.clear()

    async for raw in redis.scan_iter(match=prefix.replace("*", r"\*") + "*", count=1000):
        batch.append(raw.decode() if isinstance(raw, bytes) else raw)
        if len(batch) >= BATCH:
            await flush()
    if batch:
        await flush()
    conversations = counts.get("session", 0)
    per_conversation = {
        name: sizes[name] / conversations for name in CONVERSATION_FAMILIES
        if conversations and name in sizes
    }
    return {
        "conversations": conversations,
        "families": {
            name: {"keys": counts[name], "bytes": sizes[name], "without_ttl": no_ttl[name],
                   "max_ttl_s": max_ttl[name]}
            for name in sorted(sizes)
        },
        "per_conversation_bytes": per_conversation,
        "per_conversation_total_bytes": sum(per_conversation.values()),
        "conversation_keys_without_ttl": sum(no_ttl[n] for n in CONVERSATION_FAMILIES),
    }
