"""The audit log of an order: every change asked for, checked, confirmed, carried
out, refused or failed, filed for staff, approved or declined, with who and when.

The dialogue declares what happened as `Note`s (it stays pure); the engine and the
staff desk add who and when and write them here. An entry holds codes only: an
action, what happened, and a detail that is a reason code, the shop's reference
or a ticket id. Never anything a shopper typed, nor a phone, email or address:
the log outlives the conversation and is shown to every member of staff.

Storage: the `audit_entries` table of the records database (`records`), one row
an entry, kept as long as the shop keeps its records. A note may carry a `once`
token: `(order, once)` is unique, so a change the shop made once (a repeated
approval, a turn retried after its answer was lost) is logged once. While the
database is down, entries wait in Redis (`AuditLog.flush_pending`), so a shopper's
turn never fails for want of its log line.

Errors: `StoreUnavailable` (from `store`) when neither store can be reached.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import redis.asyncio as aioredis
from sqlalchemy import insert, select
from sqlalchemy.dialects import postgresql as postgresql_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from records.db import Database, DatabaseUnavailable
from records.schema import audit_entries

from .store import REDIS_DOWN, StoreUnavailable

log = logging.getLogger(__name__)

MAX_FIELD_CHARS = 200
SYSTEM = "system"


class What(StrEnum):
    ASKED = "asked"
    ELIGIBLE = "eligible"  # checked: the shopper may do it
    NOT_ELIGIBLE = "not_eligible"  # checked: refused; detail is the reason code
    CONFIRMED = "confirmed"
    CARRIED_OUT = "carried_out"  # detail is the shop's reference, when it gave one
    SHOP_REFUSED = "shop_refused"
    SHOP_UNAVAILABLE = "shop_unavailable"
    REQUESTED = "requested"  # filed as a staff request; detail is the ticket id
    APPROVED = "approved"  # detail is the ticket id
    DECLINED = "declined"  # detail is the ticket id (the reason is on the ticket)


_WORDS = {
    What.ASKED: "asked",
    What.ELIGIBLE: "checked: eligible",
    What.NOT_ELIGIBLE: "checked: refused",
    What.CONFIRMED: "confirmed",
    What.CARRIED_OUT: "carried out",
    What.SHOP_REFUSED: "refused by the shop",
    What.SHOP_UNAVAILABLE: "failed: the shop was unavailable",
    What.REQUESTED: "filed as a staff request",
    What.APPROVED: "approved",
    What.DECLINED: "declined",
}


def shopper(channel: str) -> str:
    return f"shopper via {channel}"


def staff(agent: str) -> str:
    return f"staff {agent}"


def carried_once(idempotency_key: str, reference: str | None) -> str:
    """The once-token of a change: the same request with the same reference from
    the shop is the same change. Hashed, because a delivery change's key holds the
    new address."""
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]
    return f"carried:{digest}:{reference or ''}"


@dataclass(frozen=True, slots=True)
class Note:
    """What the dialogue declares happened to an order; the runner adds who and when."""

    number: str
    action: str
    what: What
    detail: str = ""
    once: str | None = None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    who: str
    action: str
    what: str
    detail: str = ""
    once: str | None = field(default=None, compare=False)  # written once per order; not shown

    @classmethod
    def of(cls, note: Note, who: str, at: datetime) -> AuditEntry:
        return cls(at, who, note.action, note.what.value, note.detail, note.once)

    @property
    def words(self) -> str:
        """What happened, in a few words for staff: `checked: refused (window_closed)`."""
        known = _WORDS.get(What(self.what)) if self.what in What._value2member_map_ else None
        words = known or self.what.replace("_", " ")
        return f"{words} ({self.detail})" if self.detail else words

    def dump(self) -> str:
        data = [int(self.at.timestamp()), self.who, self.action, self.what]
        if self.detail:
            data.append(self.detail)
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def load(cls, raw: str | bytes) -> AuditEntry:
        at, who, action, what, *detail = json.loads(raw)
        return cls(datetime.fromtimestamp(at, UTC), who, action, what,
                   detail[0] if detail else "")

    def as_dict(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "who": self.who, "action": self.action,
                "what": self.what, "detail": self.detail, "words": self.words}


PENDING_BATCH = 200


class AuditLog:
    """The audit log in the records database, with a Redis buffer for when the
    database is down: a shopper's change is never refused because the log cannot be
    written; its entries wait in `{prefix}audit:pending` and `flush_pending` moves
    them into SQL later (each with a once-token, so a flush retried after a crash
    writes each entry once)."""

    def __init__(self, db: Database, redis: aioredis.Redis | None = None, *,
                 prefix: str = "ohb:") -> None:
        self._db = db
        self._redis = redis
        self._pending_key = f"{prefix}audit:pending"

    async def record(self, number: str, entries: Sequence[AuditEntry]) -> int:
        """Append `entries` to the order's log in one transaction; returns how many
        were new (an entry whose `once` token was written before is skipped)."""
        if not entries:
            return 0
        try:
            return await self._insert([(number, _clip(e)) for e in entries])
        except DatabaseUnavailable as exc:
            if self._redis is None:
                raise StoreUnavailable(str(exc)) from exc
            await self._buffer(number, entries)
            return len(entries)

    async def _insert(self, entries: Sequence[tuple[str, AuditEntry]]) -> int:
        added = 0
        async with self._db.begin() as conn:
            for number, entry in entries:
                values = {"order_number": number[:64], "at": entry.at, "who": entry.who,
                          "action": entry.action, "what": entry.what,
                          "detail": entry.detail, "once": entry.once or None}
                if entry.once:
                    statement = _insert_once(self._db.dialect, values)
                else:
                    statement = insert(audit_entries).values(values)
                result = await conn.execute(statement)
                added += max(result.rowcount, 0)
        return added

    async def _buffer(self, number: str, entries: Sequence[AuditEntry]) -> None:
        assert self._redis is not None
        log.warning("records database unreachable: %d audit entries kept in Redis until "
                    "it is back", len(entries))
        rows = [json.dumps([number, *json.loads(_clip(e).dump()),
                            e.once or f"pending:{secrets.token_hex(8)}"])
                for e in entries]
        try:
            await self._redis.rpush(self._pending_key, *rows)
        except REDIS_DOWN as exc:
            raise StoreUnavailable("Redis is unreachable") from exc

    async def flush_pending(self) -> int:
        """Move buffered entries into the database; returns how many moved."""
        if self._redis is None:
            return 0
        moved = 0
        while True:
            raw = await self._redis.lrange(self._pending_key, 0, PENDING_BATCH - 1)
            if not raw:
                return moved
            batch = []
            for item in raw:
                number, at, who, action, what, *rest = json.loads(item)
                detail, once = (rest[0], rest[1]) if len(rest) == 2 else ("", rest[0])
                batch.append((number, AuditEntry(datetime.fromtimestamp(at, UTC), who,
                                                 action, what, detail, once)))
            await self._insert(batch)
            await self._redis.ltrim(self._pending_key, len(raw), -1)
            moved += len(raw)

    async def write(self, notes: Iterable[Note], who: str, at: datetime) -> None:
        """The dialogue's notes of one turn, each order's in one call (a turn
        touches one order in practice)."""
        by_order: dict[str, list[AuditEntry]] = {}
        for note in notes:
            by_order.setdefault(note.number, []).append(AuditEntry.of(note, who, at))
        for number, entries in by_order.items():
            await self.record(number, entries)

    async def read(self, number: str) -> list[AuditEntry]:
        """The order's log, oldest first."""
        query = (select(audit_entries).where(audit_entries.c.order_number == number)
                 .order_by(audit_entries.c.seq))
        try:
            async with self._db.connect() as conn:
                rows = (await conn.execute(query)).all()
        except DatabaseUnavailable as exc:
            raise StoreUnavailable(str(exc)) from exc
        return [AuditEntry(r.at, r.who, r.action, r.what, r.detail) for r in rows]


def _insert_once(dialect: str, values: dict[str, Any]) -> Any:
    """INSERT that skips an entry whose (order, once) was written before."""
    module = sqlite_dialect if dialect == "sqlite" else postgresql_dialect
    return module.insert(audit_entries).values(values).on_conflict_do_nothing(
        index_elements=["order_number", "once"])


def _clip(entry: AuditEntry) -> AuditEntry:
    return AuditEntry(entry.at, entry.who[:MAX_FIELD_CHARS], entry.action[:MAX_FIELD_CHARS],
                      entry.what[:MAX_FIELD_CHARS], entry.detail[:MAX_FIELD_CHARS],
                      entry.once[:MAX_FIELD_CHARS] if entry.once else None)
