"""Tickets: a hand-off to a person, or an action request for staff to carry out.

A ticket carries everything a person needs without asking the shopper again: the
channel and conversation, the order as it was when the ticket opened, the issue in
the shopper's words, why the bot refused (if it did), the action asked for, and the
transcript up to then. Messages after that go to the ticket's log. Tickets are kept
without expiry: they are the shop's record.

Status: `open` waits on staff (new, or the shopper wrote last), `pending` waits on
the shopper (staff answered last), `resolved` is closed. While a hand-off is open or
pending the bot stays quiet. Each status has a sorted set of ids by last activity,
so the inbox lists newest activity first without scanning.

Every change to a ticket is one optimistic transaction (WATCH the ticket, then
MULTI: the ticket, its status sets, its log line, and an event on the inbox's event
stream), so two agents acting at once both land and nothing is half-written. The
event stream (`ohb:inbox:events`, capped) is what the inbox's live updates read.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Any

import redis.asyncio as aioredis
from pydantic import BaseModel
from redis.exceptions import WatchError

from .keys import Keys
from .store import REDIS_DOWN, StoreUnavailable

MAX_LISTED = 200
EVENTS_MAXLEN = 2000
UPDATE_RETRIES = 20


class TicketStatus(StrEnum):
    OPEN = "open"
    PENDING = "pending"
    RESOLVED = "resolved"


class Decision(StrEnum):
    APPROVED = "approved"
    DECLINED = "declined"


class Ticket(BaseModel):
    id: str
    kind: str  # handoff | request
    status: TicketStatus = TicketStatus.OPEN
    channel: str
    conversation: str
    locale: str = "en"
    created_at: datetime
    updated_at: datetime  # last activity: the inbox sorts by it
    resolved_at: datetime | None = None
    order: str | None = None
    order_verified: bool = False
    order_snapshot: dict[str, Any] | None = None
    issue: str | None = None
    refusal: str | None = None
    request: dict[str, Any] | None = None
    transcript: list[dict[str, str]] = []
    # who the channel proved the shopper is (never what they typed)
    contact_phone: str | None = None
    contact_email: str | None = None
    # the staff side
    assignee: str | None = None
    last_shopper_at: datetime | None = None  # for unread marks
    resolutions: int = 0  # how many times it was resolved (each is told once)
    resolved_by: str | None = None
    decision: Decision | None = None
    decision_reason: str | None = None
    decided_by: str | None = None
    rating: int | None = None
    rated_at: datetime | None = None
    closed_reason: str | None = None  # "withdrawn": the shopper took it back before a reply
    priority: bool = False  # staff should take it first (a late or lost parcel)

    @property
    def is_open(self) -> bool:
        return self.status is not TicketStatus.RESOLVED


class TicketNotFound(KeyError):
    pass


def new_message_id() -> str:
    return "m-" + secrets.token_hex(6)


def log_line(who: str, text: str, at: datetime, **extra: str | None) -> dict[str, str]:
    """One entry of a ticket's log. `who`: shopper, staff, note (internal) or
    system (resolved, reopened, approved...); staff lines carry `author` and the
    outbox message id (`outbox`) their delivery state is kept under."""
    line = {"id": new_message_id(), "who": who, "text": text, "at": at.isoformat()}
    line.update({k: v for k, v in extra.items() if v is not None})
    return line


Change = Callable[[Ticket], Ticket | None]


class TicketStore:
    def __init__(self, redis: aioredis.Redis, *, prefix: str = "ohb:") -> None:
        self._redis = redis
        self._keys = Keys(prefix)

    @property
    def events_key(self) -> str:
        return self._keys.inbox_events()

    async def create(self, ticket: Ticket) -> Ticket:
        """Give the ticket its id (T-1001, T-1002, ...) and store it."""
        try:
            sequence = await self._redis.incr(self._keys.ticket_sequence())
            saved = ticket.model_copy(update={"id": f"T-{1000 + sequence}"})
            score = saved.updated_at.timestamp()
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(self._keys.ticket(saved.id), saved.model_dump_json())
                pipe.zadd(self._keys.tickets_by_status(saved.status), {saved.id: score})
                if saved.order:
                    pipe.zadd(self._keys.tickets_by_order(saved.order), {saved.id: score})
                self._event(pipe, "created", saved.id)
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
        """Open and pending tickets (everything a person still has), newest activity first."""
        return await self.by_status(TicketStatus.OPEN, TicketStatus.PENDING)

    async def list_resolved(self) -> list[Ticket]:
        return await self.by_status(TicketStatus.RESOLVED)

    async def by_status(self, *statuses: TicketStatus, limit: int = MAX_LISTED) -> list[Ticket]:
        """Tickets in any of `statuses`, newest activity first."""
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for status in statuses:
                    pipe.zrevrange(self._keys.tickets_by_status(status), 0, limit - 1,
                                   withscores=True)
                pages = await pipe.execute()
            scored = sorted(((score, _text(i)) for page in pages for i, score in page),
                            reverse=True)[:limit]
            return await self.get_many([i for _score, i in scored])
        except REDIS_DOWN as exc:
            raise StoreUnavailable("Redis is unreachable") from exc

    async def count(self, status: TicketStatus) -> int:
        try:
            return int(await self._redis.zcard(self._keys.tickets_by_status(status)))
        except REDIS_DOWN as exc:
            raise StoreUnavailable("Redis is unreachable") from exc

    async def for_order(self, number: str) -> list[Ticket]:
        try:
            ids = await self._redis.zrevrange(self._keys.tickets_by_order(number), 0,
                                              MAX_LISTED - 1)
        except REDIS_DOWN as exc:
            raise StoreUnavailable("Redis is unreachable") from exc
        return await self.get_many([_text(i) for i in ids])

    async def get_many(self, ids: list[str]) -> list[Ticket]:
        if not ids:
            return []
        try:
            raw = await self._redis.mget([self._keys.ticket(i) for i in ids])
        except REDIS_DOWN as exc:
            raise StoreUnavailable("Redis is unreachable") from exc
        return [Ticket.model_validate_json(r) for r in raw if r]

    async def add_message(
        self, ticket_id: str, who: str, text: str, at: datetime, **extra: str | None
    ) -> dict[str, str]:
        """File a message on the ticket's log, newest last, and return it. A shopper's
        message marks the ticket unread and puts a pending ticket back to open."""
        line = log_line(who, text, at, **extra)

        def change(ticket: Ticket) -> Ticket:
            update: dict[str, Any] = {"updated_at": at}
            if who == "shopper":
                update["last_shopper_at"] = at
                if ticket.status is TicketStatus.PENDING:
                    update["status"] = TicketStatus.OPEN
            return ticket.model_copy(update=update)

        await self.update(ticket_id, change, line=line)
        return line

    async def update(
        self, ticket_id: str, change: Change, *, line: dict[str, str] | None = None,
        event: str = "updated",
    ) -> tuple[Ticket, bool]:
        """Apply `change` to the ticket in one optimistic transaction, with `line`
        appended to its log. `change` returns the new ticket, or None to change
        nothing (then `line` is not written either). Returns (ticket, changed)."""
        key = self._keys.ticket(ticket_id)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                for _ in range(UPDATE_RETRIES):
                    try:
                        await pipe.watch(key)
                        raw = await pipe.get(key)
                        if not raw:
                            raise TicketNotFound(ticket_id)
                        before = Ticket.model_validate_json(raw)
                        after = change(before)
                        if after is None:
                            await pipe.unwatch()  # type: ignore[no-untyped-call]
                            return before, False
                        pipe.multi()  # type: ignore[no-untyped-call]
                        pipe.set(key, after.model_dump_json())
                        score = after.updated_at.timestamp()
                        for status in TicketStatus:
                            if status is not after.status:
                                pipe.zrem(self._keys.tickets_by_status(status), ticket_id)
                        pipe.zadd(self._keys.tickets_by_status(after.status), {ticket_id: score})
                        if after.order:
                            pipe.zadd(self._keys.tickets_by_order(after.order),
                                      {ticket_id: score})
                        if line is not None:
                            pipe.rpush(self._keys.ticket_log(ticket_id),
                                       json.dumps(line, ensure_ascii=False))
                        self._event(pipe, event, ticket_id)
                        await pipe.execute()
                        return after, True
                    except WatchError:
                        continue
        except REDIS_DOWN as exc:
            raise StoreUnavailable("Redis is unreachable") from exc
        raise StoreUnavailable(f"ticket {ticket_id} is changing too fast; try again")

    async def log(self, ticket_id: str) -> list[dict[str, str]]:
        try:
            raw = await self._redis.lrange(self._keys.ticket_log(ticket_id), 0, -1)
        except REDIS_DOWN as exc:
            raise StoreUnavailable("Redis is unreachable") from exc
        return [json.loads(line) for line in raw]

    async def mark_resolved(self, ticket_id: str, at: datetime, by: str | None = None) -> Ticket:
        """Close the ticket; returns it so the caller can tell the shopper.
        Resolving a resolved ticket changes nothing."""

        def change(ticket: Ticket) -> Ticket | None:
            if ticket.status is TicketStatus.RESOLVED:
                return None
            return ticket.model_copy(update={
                "status": TicketStatus.RESOLVED, "resolved_at": at, "updated_at": at,
                "resolutions": ticket.resolutions + 1, "resolved_by": by})

        ticket, _changed = await self.update(ticket_id, change, event="resolved")
        return ticket

    async def record_rating(self, ticket_id: str, score: int, at: datetime) -> None:
        """The shopper's answer to the satisfaction question; a later answer replaces it."""

        def change(ticket: Ticket) -> Ticket:
            return ticket.model_copy(update={"rating": score, "rated_at": at})

        try:
            await self.update(ticket_id, change, line=log_line("system", f"rated {score}/5", at))
        except TicketNotFound:
            return

    def _event(self, pipe: Any, kind: str, ticket_id: str) -> None:
        pipe.xadd(self.events_key, {"type": kind, "ticket": ticket_id},
                  maxlen=EVENTS_MAXLEN, approximate=True)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
