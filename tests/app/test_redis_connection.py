"""The app's Redis connections (`app.redis_connection`): redis-py's, without a task
per write and packed by hiredis. (Errors, timeouts and reconnects are redis-py's own
read path, unchanged; the suite's Redis-is-down tests run over these connections.)"""

from __future__ import annotations

import asyncio
from pathlib import Path

import redis.asyncio as aioredis
from redis.asyncio.connection import Connection

from app.redis_connection import LeanWrites, lean_connections


async def test_commands_scripts_and_pipelines_work_over_lean_connections(
    redis: aioredis.Redis,
) -> None:
    kwargs = redis.connection_pool.connection_kwargs
    client = lean_connections(aioredis.Redis.from_pool(  # the client owns the pool
        type(redis.connection_pool)(
            connection_class=redis.connection_pool.connection_class, **kwargs)))
    try:
        assert issubclass(client.connection_pool.connection_class, LeanWrites)
        assert issubclass(client.connection_pool.connection_class,
                          redis.connection_pool.connection_class)
        await client.set("lean:{t}:a", "ä" * 3, ex=60)
        assert (await client.get("lean:{t}:a")).decode() == "ä" * 3
        script = client.register_script("return {KEYS[1], ARGV[1], tonumber(ARGV[2]) + 1}")
        assert await script(keys=["lean:{t}:k"], args=["v", 41]) == [b"lean:{t}:k", b"v", 42]
        async with client.pipeline(transaction=True) as pipe:
            pipe.incr("lean:{t}:n").expire("lean:{t}:n", 60).get("lean:{t}:n")
            assert await pipe.execute() == [1, True, b"1"]
    finally:
        await client.aclose()


def test_lean_classes_are_made_once_per_connection_class() -> None:
    client = aioredis.Redis()
    first = lean_connections(client).connection_pool.connection_class
    again = lean_connections(client).connection_pool.connection_class
    assert first is again and issubclass(first, Connection)


async def test_a_burst_of_more_commands_than_connections_waits_instead_of_failing(
    redis_url: str, tmp_path: Path
) -> None:
    """The app's client: a burst of requests needs more Redis connections at once
    than it keeps; the extra commands wait for a free one (redis-py's default pool
    would fail them with "Too many connections", a 503 for the shopper)."""
    from app.redis_client import REDIS_CONNECTIONS
    from app.resources import open_store
    from tests.app.app_harness import make_settings

    async with open_store(make_settings(redis_url, tmp_path)) as (client, _):
        replies = await asyncio.gather(*(client.blpop([f"burst:{{t}}:{n}"], timeout=0.05)
                                         for n in range(REDIS_CONNECTIONS + 50)))
    assert replies == [None] * (REDIS_CONNECTIONS + 50)
