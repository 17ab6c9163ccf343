"""The one-time move of an older install's records from Redis into SQL.

Before the records database, tickets (with their logs), staff accounts and the
audit log were Redis keys. On the first start of this release, everything found
under the deployment's prefix is copied into SQL in one transaction, together with
the fact that it was done (`records_meta`): a crash half-way copies nothing, and a
second start copies nothing again. Ticket ids are kept (T-1001 stays T-1001) and
new tickets are numbered after the highest one imported. The Redis keys are left
where they are (an older release still reads them); nothing reads them after this.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from conversation.audit import AuditEntry
from conversation.tickets import Ticket, line_row, row_values, ticket_number
from records import search
from records.db import Database
from records.meta import read_meta, write_meta
from records.schema import (
    audit_entries,
    records_meta,
    staff,
    ticket_history,
    ticket_messages,
    tickets,
)

log = logging.getLogger(__name__)

DONE = "redis_import"
SCAN_COUNT = 500


@dataclass
class Imported:
    tickets: int = 0
    messages: int = 0
    staff: int = 0
    audit_entries: int = 0


async def import_from_redis(redis: aioredis.Redis, db: Database, prefix: str) -> Imported | None:
    """Copy the Redis records into SQL once; None when that was done before."""
    if await read_meta(db, DONE) is not None:
        return None
    found = Imported()
    try:
        async with db.begin() as conn:
            if (await conn.execute(select(records_meta.c.value)
                                   .where(records_meta.c.key == DONE))).first():
                return None
            await _tickets(redis, conn, prefix, found)
            await _staff(redis, conn, prefix, found)
            await _audit(redis, conn, prefix, found)
            if db.dialect == "postgresql" and found.tickets:
                await conn.execute(text(
                    "SELECT setval(pg_get_serial_sequence('tickets', 'number'),"
                    " (SELECT max(number) FROM tickets), true)"))
            await conn.execute(insert(records_meta).values(
                key=DONE, value=datetime.now(UTC).isoformat()))
    except IntegrityError:
        # Another process starting at the same moment did the move first (its
        # marker or its rows collided with ours): ours is rolled back, it is done.
        if await read_meta(db, DONE) is not None:
            return None
        raise
    if found.staff and not await read_meta(db, "staff_bootstrapped") and \
            await redis.exists(f"{prefix}staff:bootstrapped"):
        await write_meta(db, "staff_bootstrapped", "1")
    if found.tickets or found.staff or found.audit_entries:
        log.info("records: moved from Redis to the database: %d tickets (%d messages), "
                 "%d staff accounts, %d audit entries", found.tickets, found.messages,
                 found.staff, found.audit_entries)
    return found


async def _keys(redis: aioredis.Redis, pattern: str) -> list[str]:
    return sorted([_text(k) async for k in redis.scan_iter(match=pattern, count=SCAN_COUNT)])


async def _tickets(redis: aioredis.Redis, conn: AsyncConnection, prefix: str,
                   found: Imported) -> None:
    for key in await _keys(redis, f"{prefix}ticket:{{T-*}}"):
        raw = await redis.get(key)
        if not raw:
            continue
        ticket = Ticket.model_validate_json(raw)
        number = ticket_number(ticket.id)
        exists = (await conn.execute(select(func.count()).select_from(tickets)
                                     .where(tickets.c.number == number))).scalar_one()
        if exists:
            continue
        await conn.execute(insert(tickets).values(
            number=number, version=1, origin=None, **row_values(ticket)))
        lines = [json.loads(line) for line in await redis.lrange(f"{key}:log", 0, -1)]
        rows = [line_row(number, "transcript", line) for line in ticket.transcript]
        rows += [line_row(number, "log", line) for line in lines]
        if rows:
            await conn.execute(insert(ticket_messages), rows)
        await conn.execute(insert(ticket_history).values(
            ticket=number, at=ticket.updated_at, event="imported", from_status=None,
            to_status=ticket.status.value, by=None))
        await search.index(conn, number, [
            ticket.issue, ticket.order, ticket.contact_email, ticket.contact_phone,
            ticket.shopper_name,
            *(line.get("text") for line in ticket.transcript if line.get("who") == "shopper"),
            *(line.get("text") for line in lines if line.get("who") in ("shopper", "staff",
                                                                         "note"))])
        found.tickets += 1
        found.messages += len(rows)


async def _staff(redis: aioredis.Redis, conn: AsyncConnection, prefix: str,
                 found: Imported) -> None:
    for email in sorted(_text(e) for e in await redis.smembers(f"{prefix}staff:all")):
        data = {_text(k): _text(v) for k, v in
                (await redis.hgetall(f"{prefix}staff:{{{email}}}")).items()}
        if "role" not in data or "password_hash" not in data:
            continue
        exists = (await conn.execute(select(func.count()).select_from(staff)
                                     .where(staff.c.email == email))).scalar_one()
        if exists:
            continue
        await conn.execute(insert(staff).values(
            email=email, role=data["role"], password_hash=data["password_hash"],
            epoch=int(data.get("epoch", 1)),
            created_at=datetime.fromisoformat(data["created_at"]) if data.get("created_at")
            else datetime.now(UTC),
            display_name=None))
        found.staff += 1


async def _audit(redis: aioredis.Redis, conn: AsyncConnection, prefix: str,
                 found: Imported) -> None:
    start = len(f"{prefix}audit:{{")
    for key in await _keys(redis, f"{prefix}audit:{{*}}"):
        number = key[start:-1]
        rows: list[dict[str, Any]] = []
        for raw in await redis.lrange(key, 0, -1):
            entry = AuditEntry.load(raw)
            rows.append({"order_number": number, "at": entry.at, "who": entry.who,
                         "action": entry.action, "what": entry.what, "detail": entry.detail,
                         "once": None})
        if rows:
            await conn.execute(insert(audit_entries), rows)
            found.audit_entries += len(rows)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
