"""The second factor's limits under truly concurrent guesses, over the web chat API:
per order (an attacker rotating conversations) and per conversation. A guess is
counted before it is checked, so a burst gets no more checks than the limit."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from app_harness import auth, make_settings, running, start_session

from conversation.guesses import MAX_WRONG_GUESSES as ORDER_FAILURES_BEFORE_LOCK
from conversation.machine import MAX_FACTOR_FAILURES

ORDER = "100006"
OWNER_EMAIL = "vikram.singh@example.com"


@pytest.fixture
async def api(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    async with running(make_settings(redis_url, tmp_path)) as client:
        yield client


async def send(api: httpx.AsyncClient, token: str, message_id: str, text: str) -> list[str]:
    response = await api.post("/api/chat/messages", headers=auth(token),
                              json={"message_id": message_id, "text": text})
    assert response.status_code == 200, response.text
    return [reply["key"] for reply in response.json()["replies"]]


async def asked_for_the_factor(api: httpx.AsyncClient) -> str:
    token, _ = await start_session(api)
    assert (await send(api, token, "m1", ORDER))[-1] == "verify.ask_factor"
    return token


async def checked_guesses(redis: aioredis.Redis) -> int:
    """How many guesses for the order were checked against it: the limit's count."""
    return int(await redis.get(f"ohb:verify:{{{ORDER}}}:failures") or 0)


async def test_a_burst_of_guesses_from_many_conversations_gets_only_the_orders_limit_checked(
    api: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    tokens = [await asked_for_the_factor(api) for _ in range(100)]
    answers = await asyncio.gather(*(send(api, token, "m2", f"guess{n}@example.com")
                                     for n, token in enumerate(tokens)))
    said = Counter(keys[-1] for keys in answers)
    # the guesses before the limit say how many tries are left; every other one is
    # refused, the limit's own guess included, and none of them was a right answer
    assert said == {"verify.no_match": ORDER_FAILURES_BEFORE_LOCK - 1,
                    "verify.too_many": 100 - (ORDER_FAILURES_BEFORE_LOCK - 1)}
    assert await checked_guesses(redis) == ORDER_FAILURES_BEFORE_LOCK
    owner = await asked_for_the_factor(api)
    assert (await send(api, owner, "m2", OWNER_EMAIL))[-1] == "verify.too_many"


async def test_a_burst_of_guesses_in_one_conversation_gets_only_its_limit_checked(
    api: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    token = await asked_for_the_factor(api)
    answers = await asyncio.gather(*(send(api, token, f"g{n}", f"guess{n}@example.com")
                                     for n in range(12)))
    said = Counter(keys[-1] for keys in answers)
    assert said["verify.no_match"] == MAX_FACTOR_FAILURES - 1
    assert said["verify.too_many"] == 1
    # the order's own count saw exactly the conversation's guesses: no more were checked
    assert await checked_guesses(redis) == MAX_FACTOR_FAILURES
    assert (await send(api, token, "again", ORDER))[-1] == "verify.locked"


async def test_right_answers_take_nothing_from_the_orders_limit(
    api: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    for _ in range(ORDER_FAILURES_BEFORE_LOCK + 1):  # the owner, from one chat after another
        owner = await asked_for_the_factor(api)
        assert (await send(api, owner, "m2", OWNER_EMAIL))[-1] == "snapshot.header"
    assert await checked_guesses(redis) == 0
