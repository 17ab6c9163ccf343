"""Tickets: a hand-off to a person, or an action request for staff to carry out.

A ticket carries everything a person needs without asking the shopper again: the
channel and conversation, the order as it was when the ticket opened, the issue in
the shopper's words, why the bot refused (if it did), the action asked for, and the
transcript up to then. Messages after that go to the ticket's log. Tickets are kept
without expiry: they are the shop's record.
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import Any

import redis.asyncio as aioredis
from pydantic import BaseModel

from .keys import Keys
from .store import REDIS_DOWN, StoreUnavailable


class TicketStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class Ticket(BaseModel):
    id: str
    kind: str  # handoff | request
    status: TicketStatus = TicketStatus.OPEN
    channel: str
    conversation: str
    locale: str = "en"
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None = None
    order: str | None = None
    order_verified: bool = False
    order_snapshot: dict[str, Any] | None = None
    issue: str | None = None
    refusal: str | None = None
    request: dict[str, Any] | None = None
    transcript: list[dict[str, str]] = []


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class TicketNotFound(KeyError):
    pass


class TicketStore:
    def __init__(self, redis: aioredis.Redis, *, prefix: str = "ohb:") -> None:
        self._redis = redis
        self._keys = Keys(prefix)

    async def create(self, ticket: Ticket) -> Ticket:
        """Give the ticket its id (T-1001, T-1002, ...) and store it."""
        try:
            sequence = await self._redis.incr(self._keys.ticket_sequence())
            saved = ticket.model_copy(update={"id": f"T-{1000 + sequence}"})
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.set(self._keys.ticket(saved.id), saved.model_dump_json())
                pipe.zadd(self._keys.tickets_by_status(saved.status), {
                    saved.id: saved.updated_at.timestamp()})
                await pipe.execute()
        except REDIS_DOWN as exc:
            raise StoreUnavailable("Redis is unreachable") from exc
        return saved

    async def get(self, ticket_id: str) -> Ticket | None:
        try:
            raw = await self._redis.get(self._keys.ticket(ticket_id))
        except REDIS_DOWN as exc:
            raise StoreUnavailable("Redis is unreachable") from exc
        return Ticket.model_validate_json(raw) if raw else None

    async def list_open(self) -> list[Ticket]:
        return await self._list(TicketStatus.OPEN)

    async def list_resolved(self) -> list[Ticket]:
        return await self._list(TicketStatus.RESOLVED)

    async def _list(self, status: TicketStatus) -> list[Ticket]:
        try:
            ids = await self._redis.zrevrange(self._keys.tickets_by_status(status), 0, 199)
            tickets = [await self.get(_text(i)) for i in ids]
        except REDIS_DOWN as exc:
            raise StoreUnavailable("Redis is unreachable") from exc
        return [t for t in tickets if t is not None]

    async def add_message(self, ticket_id: str, who: str, text: str, at: datetime) -> None:
        """File a message on the ticket's log (shopper or staff), newest last."""
        line = json.dumps({"who": who, "text": text, "at": at.isoformat()}, ensure_ascii=False)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.rpush(self._keys.ticket_log(ticket_id), line)
                pipe.zadd(self._keys.tickets_by_status(TicketStatus.OPEN),
                          {ticket_id: at.timestamp()}, xx=True)
                await pipe.execute()
        except REDIS_DOWN as exc:
            raise StoreUnavailable("Redis is unreachable") from exc

    async def log(self, ticket_id: str) -> list[dict[str, str]]:
        try:
            raw = await self._redis.lrange(self._keys.ticket_log(ticket_id), 0, -1)
        except REDIS_DOWN as exc:
            raise StoreUnavailable("Redis is unreachable") from exc
        return [json.loads(line) for line in raw]

    async def mark_resolved(self, ticket_id: str, at: datetime) -> Ticket:
        """Close the ticket; returns it so the caller can tell the shopper.
        Resolving a resolved ticket changes nothing."""
        ticket = await self.get(ticket_id)
        if ticket is None:
            raise TicketNotFound(ticket_id)
        if ticket.status is TicketStatus.RESOLVED:
            return ticket
        done = ticket.model_copy(update={"status": TicketStatus.RESOLVED, "resolved_at": at,
                                         "updated_at": at})
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(self._keys.ticket(ticket_id), done.model_dump_json())
                pipe.zrem(self._keys.tickets_by_status(TicketStatus.OPEN), ticket_id)
                pipe.zadd(self._keys.tickets_by_status(TicketStatus.RESOLVED),
                          {ticket_id: at.timestamp()})
                await pipe.execute()
        except REDIS_DOWN as exc:
            raise StoreUnavailable("Redis is unreachable") from exc
        return done
