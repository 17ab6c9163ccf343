"""The real Engine over any order back-end, as the contract and fault tests use it
(the merchant's defaults: Kolkata time, Mon-Sat 09:00-18:00, a 30-day window)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import redis.asyncio as aioredis

from conversation.audit import AuditLog
from conversation.catalogue import Catalogue
from conversation.engine import Engine
from conversation.hours import BusinessHours
from conversation.outbox import Outbox
from conversation.tickets import TicketStore
from orders.backend import OrderBackend
from orders.policy import Policy
from records.db import Database
from templates import MESSAGES_DIR

TIMEZONE = "Asia/Kolkata"
_catalogue: list[Catalogue] = []


def catalogue() -> Catalogue:
    if not _catalogue:
        _catalogue.append(Catalogue.load(MESSAGES_DIR))
    return _catalogue[0]


def engine_for(
    db: Database,
    redis: aioredis.Redis,
    backend: OrderBackend,
    clock: Callable[[], datetime],
    policy: Policy | None = None,
) -> Engine:
    return Engine(
        redis, backend,
        policy=policy or Policy(timezone=TIMEZONE),
        catalogue=catalogue(),
        tickets=TicketStore(db, redis),
        audit=AuditLog(db, redis),
        hours=BusinessHours.parse("Mon-Sat 09:00-18:00", TIMEZONE),
        outbox=Outbox(redis),
        clock=clock,
    )
