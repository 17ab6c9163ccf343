"""Fixtures for the app's tests: the app with its lifespan running against the
real Redis-protocol server, and a Redis URL that nothing answers."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from app_harness import make_settings, running
from channel_harness import TELEGRAM_TOKEN
from fake_providers import FakeTelegram

from tests.live import serving


@pytest.fixture
async def api(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    async with running(make_settings(redis_url, tmp_path)) as client:
        yield client


@pytest.fixture
def closed_port_url() -> str:
    """A Redis URL nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


@pytest.fixture
async def telegram_api() -> AsyncIterator[FakeTelegram]:
    """A fake Bot API on a local port; its `url` is TELEGRAM_API_URL."""
    fake = FakeTelegram(TELEGRAM_TOKEN)
    async with serving(fake.app(), lifespan="off") as (url, _server):
        fake.url = url
        yield fake
