from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis

from conversation.audit import AuditLog
from conversation.catalogue import Catalogue
from conversation.engine import Engine
from conversation.hours import BusinessHours
from conversation.outbox import Outbox
from conversation.tickets import TicketStore
from orders.demo import DemoBackend
from orders.loading import DEMO_ORDERS_FILE, load_order_file
from orders.models import Order
from orders.policy import Policy
from records.db import Database
from templates import MESSAGES_DIR
from tests.conversation.chat import Chat

# a Tuesday, 11:00 in Kolkata: inside the default business hours
NOW = datetime(2026, 11, 17, 5, 30, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    return Catalogue.load(MESSAGES_DIR)


@pytest.fixture(scope="session")
def sample_orders() -> list[Order]:
    return load_order_file(DEMO_ORDERS_FILE, NOW)


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
async def shop(redis: aioredis.Redis, sample_orders: list[Order], clock: Clock) -> DemoBackend:
    backend = DemoBackend(redis, clock=clock)
    await backend.load(sample_orders)
    return backend


@pytest.fixture
def make_engine(
    redis: aioredis.Redis, shop: DemoBackend, catalogue: Catalogue, clock: Clock,
    db: Database,
) -> Callable[..., Engine]:
    def make(**overrides: Any) -> Engine:
        policy = overrides.pop("policy", Policy(timezone="Asia/Kolkata"))
        backend = overrides.pop("backend", shop)
        options: dict[str, Any] = {
            "policy": policy,
            "catalogue": catalogue,
            "tickets": TicketStore(db, redis),
            "audit": AuditLog(db, redis),
            "hours": BusinessHours.parse("Mon-Sat 09:00-18:00", "Asia/Kolkata"),
            "outbox": Outbox(redis),
            "clock": clock,
            **overrides,
        }
        return Engine(redis, backend, **options)

    return make


@pytest.fixture
def engine(make_engine: Callable[..., Engine]) -> Engine:
    return make_engine()


@pytest.fixture
def chat(engine: Engine) -> Chat:
    return Chat(engine)
