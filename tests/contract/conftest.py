"""Fixtures of the contract scenarios: `backend` is parametrised over the registry
in `tests/contract/backends.py`, and `make_chat` drives the real Engine over it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as aioredis

from orders.backend import OrderBackend
from orders.loading import DEMO_ORDERS_FILE, load_order_file
from orders.models import Order
from orders.policy import Policy
from records.db import Database
from tests.contract.backends import BACKENDS, Seed
from tests.contract.shopper import TIMEZONE, engine_for
from tests.conversation.chat import Chat
from tests.conversation.conftest import NOW, Clock


@pytest.fixture(scope="session")
def demo_orders() -> list[Order]:
    return load_order_file(DEMO_ORDERS_FILE, NOW)


@pytest.fixture
def contract_clock() -> Clock:
    return Clock(NOW)


@pytest.fixture(params=sorted(BACKENDS))
async def backend(
    request: pytest.FixtureRequest, redis: aioredis.Redis, demo_orders: list[Order],
    contract_clock: Clock,
) -> AsyncIterator[OrderBackend]:
    seed = Seed(redis, demo_orders, contract_clock, Policy(timezone=TIMEZONE))
    async with BACKENDS[request.param](seed) as opened:
        yield opened


@pytest.fixture
def make_chat(
    redis: aioredis.Redis, backend: OrderBackend, contract_clock: Clock, db: Database
) -> Callable[..., Chat]:
    """A shopper talking to the real Engine over `backend`; `policy=` to change the
    merchant's policy (the shop keeps its own rules, seeded with the default)."""

    def make(policy: Policy | None = None) -> Chat:
        return Chat(engine_for(db, redis, backend, contract_clock, policy))

    return make


@pytest.fixture
def chat(make_chat: Callable[..., Chat]) -> Chat:
    return make_chat()
