"""The inbox's login limits under truly concurrent attempts: every attempt is counted
before its password is checked, so a burst cannot buy more guesses than the limit."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from app_harness import running
from inbox_harness import ADMIN, ADMIN_PASSWORD, inbox_settings

from app.inbox.auth import MAX_FAILURES_PER_ACCOUNT, MAX_FAILURES_PER_ADDRESS

SESSION = "/api/inbox/session"


@pytest.fixture
async def client(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    async with running(inbox_settings(redis_url, tmp_path)) as client:
        yield client


async def burst(client: httpx.AsyncClient, bodies: list[dict[str, str]]) -> Counter[int]:
    """All the logins at once; how many got each status."""
    answers = await asyncio.gather(*(client.post(SESSION, json=body) for body in bodies))
    return Counter(answer.status_code for answer in answers)


async def test_a_burst_of_wrong_passwords_for_one_account_gets_only_the_limit_checked(
    client: httpx.AsyncClient,
) -> None:
    statuses = await burst(client, [{"email": ADMIN, "password": f"guess {n}"}
                                    for n in range(30)])
    assert statuses == {401: MAX_FAILURES_PER_ACCOUNT, 429: 30 - MAX_FAILURES_PER_ACCOUNT}
    # the failures are spent: the right password waits for the window too
    right = await client.post(SESSION, json={"email": ADMIN, "password": ADMIN_PASSWORD})
    assert right.status_code == 429
    assert int(right.headers["retry-after"]) > 0


async def test_a_burst_from_one_address_over_many_accounts_gets_only_the_limit_checked(
    client: httpx.AsyncClient,
) -> None:
    statuses = await burst(client, [{"email": f"nobody{n}@shop.example", "password": "guess"}
                                    for n in range(40)])
    assert statuses == {401: MAX_FAILURES_PER_ADDRESS, 429: 40 - MAX_FAILURES_PER_ADDRESS}
    right = await client.post(SESSION, json={"email": ADMIN, "password": ADMIN_PASSWORD})
    assert right.status_code == 429


async def test_a_good_login_clears_the_accounts_count_and_gives_the_address_its_try_back(
    client: httpx.AsyncClient,
) -> None:
    statuses = await burst(client, [{"email": ADMIN, "password": f"guess {n}"}
                                    for n in range(MAX_FAILURES_PER_ACCOUNT - 1)])
    assert statuses == {401: MAX_FAILURES_PER_ACCOUNT - 1}
    for _ in range(3):  # staff logging in again and again are never locked out
        ok = await client.post(SESSION, json={"email": ADMIN, "password": ADMIN_PASSWORD})
        assert ok.status_code == 200, ok.text
    statuses = await burst(client, [{"email": ADMIN, "password": f"again {n}"}
                                    for n in range(MAX_FAILURES_PER_ACCOUNT)])
    assert statuses == {401: MAX_FAILURES_PER_ACCOUNT}  # a fresh allowance after the login
