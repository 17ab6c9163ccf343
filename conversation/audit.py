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
approval, a turn retried after its answer was lost) is logged once. A shopper's
turn never waits for SQL: its entries go through a Redis stream that every web
process drains into the table (`AuditLog.flush_pending`), and while the database is
down they simply wait there.

Errors: `StoreUnavailable` (from `store`) when neither store can be reached.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.exceptions import ResponseError
from sqlalchemy import Connection, insert, select
from sqlalchemy.dialects import postgresql as postgresql_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from records.db import Database, DatabaseUnavailable
from records.schema import audit_entries

from . import metrics
from .store import REDIS_DOWN, Alongside, StoreUnavailable
from .tokens import next_token

log = logging.getLogger(__name__)

UNREADABLE: tuple[type[Exception], ...] = (*REDIS_DOWN, DatabaseUnavailable)
"""Either store unreachable: the log shows what the database holds."""

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
PENDING_GROUP = "records"
PENDING_IDLE_MS = 30_000  # a flusher that held entries this long without writing them died


class AuditLog:
    """The audit log in the records database.

    A shopper's turn does not wait for SQL: the engine appends the turn's entries to
    a Redis stream, `{prefix}audit:pending`, in the turn's saving round trip
    (`keeping`; `write` is the same in a round trip of its own), and `flush_pending`
    (a background task of every web process, and every `read`) moves them into the
    table. Each entry carries a once-token, and the stream a consumer group, so
    entries are written once however many processes flush, and a flusher that dies
    mid-way leaves its entries to the next one. `record` (staff, carriers) writes to
    SQL directly and falls back on the stream while the database is down."""

    def __init__(self, db: Database, redis: aioredis.Redis | None = None, *,
                 prefix: str = "ohb:") -> None:
        self._db = db
        self._redis = redis
        self._pending_key = f"{prefix}audit:pending"
        self._consumer = f"flusher-{secrets.token_hex(4)}"
        self._group_ready = False

    async def record(self, number: str, entries: Sequence[AuditEntry]) -> int:
        """Append `entries` to the order's log in one transaction; returns how many
        were new (an entry whose `once` token was written before is skipped)."""
        if not entries:
            return 0
        with contextlib.suppress(*REDIS_DOWN):
            await self.flush_pending()  # what shoppers did before stays before
        try:
            return await self._insert([(number, _clip(e)) for e in entries])
        except DatabaseUnavailable as exc:
            if self._redis is None:
                raise StoreUnavailable(str(exc)) from exc
            log.warning("records database unreachable: %d audit entries wait in Redis",
                        len(entries))
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

    async def _insert_all(self, entries: Sequence[tuple[str, AuditEntry]]) -> None:
        """Many entries, each with its once-token, in one statement (executemany):
        the flush's way, so the database's write lock is held for one call."""
        rows = [{"order_number": number[:64], "at": entry.at, "who": entry.who,
                 "action": entry.action, "what": entry.what, "detail": entry.detail,
                 "once": entry.once} for number, entry in entries]
        module = sqlite_dialect if self._db.dialect == "sqlite" else postgresql_dialect
        statement = module.insert(audit_entries).on_conflict_do_nothing(
            index_elements=["order_number", "once"])
        # one hop to the database's writer (`Database.run_in_transaction`): the write
        # lock is not held across several trips through a busy event loop
        await self._db.run_in_transaction(_execute_many, statement, rows)

    async def _buffer(self, number: str, entries: Sequence[AuditEntry]) -> None:
        """One XADD per entry, pipelined: one round trip. Every entry gets a
        once-token, so flushing it twice writes it once."""
        if self._redis is None:
            raise StoreUnavailable("no Redis to keep the audit entries in")
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for entry in entries:
                    pipe.xadd(self._pending_key, {"e": _pending_row(number, entry)})
                await pipe.execute()
        except REDIS_DOWN as exc:
            raise StoreUnavailable("Redis is unreachable") from exc

    def keeping(self, notes: Iterable[Note], who: str, at: datetime) -> Alongside | None:
        """`write` as commands for the turn's saving pipeline (`SessionStore.finish`'s
        `alongside`): the entries reach the stream in the save's round trip, not one
        of their own. None without Redis (then `write`). As with `write` before the
        save, they are kept whatever the save's outcome, and a retried turn keeps
        them again (a change carried out once is logged once: `Note.once`)."""
        if self._redis is None:
            return None
        rows = [(note.number, AuditEntry.of(note, who, at)) for note in notes]
        key = self._pending_key

        def queue(pipe: Pipeline) -> Callable[[Sequence[Any]], None]:
            for number, entry in rows:
                pipe.xadd(key, {"e": _pending_row(number, entry)})

            def kept(answers: Sequence[Any]) -> None:
                lost = sum(isinstance(answer, Exception) for answer in answers)
                if lost:  # Redis answered, but refused these (out of memory, say)
                    log.error("%d audit entries of a turn could not be kept", lost)
                metrics.count_changes(entry for (_number, entry), answer
                                      in zip(rows, answers, strict=True)
                                      if not isinstance(answer, Exception))

            return kept

        return queue

    async def flush_pending(self) -> int:
        """Move waiting entries into the database: all that waited when it was
        called, and what came meanwhile while it still came in full batches; returns
        how many moved. Safe to run in many processes at once."""
        if self._redis is None:
            return 0
        if not await self._redis.exists(self._pending_key):
            self._group_ready = False  # nothing waits (or Redis was wiped): made on the next
            return 0
        await self._ensure_group()
        moved = 0
        claimed: Any = await self._redis.xautoclaim(
            self._pending_key, PENDING_GROUP, self._consumer, PENDING_IDLE_MS,
            start_id="0-0", count=PENDING_BATCH)
        batches = [claimed[1]]
        drained = False
        while True:
            for batch in batches:
                entries = [(i, f) for i, f in batch if f]
                if entries:
                    await self._insert_all([_pending_entry(f) for _i, f in entries])
                    ids = [i for i, _f in entries]
                    async with self._redis.pipeline(transaction=False) as pipe:
                        pipe.xack(self._pending_key, PENDING_GROUP, *ids)
                        pipe.xdel(self._pending_key, *ids)
                        await pipe.execute()
                    moved += len(entries)
            if drained:
                return moved
            response: Any = await self._redis.xreadgroup(
                PENDING_GROUP, self._consumer, {self._pending_key: ">"}, count=PENDING_BATCH)
            batches = [entries for _stream, entries in
                       (response.items() if isinstance(response, dict) else response or ())]
            if not any(batches):
                return moved
            # a short read took all that was waiting when it was made: what turns add
            # meanwhile waits for the next flush, in one transaction, rather than
            # being chased a few rows a transaction while shoppers keep adding
            drained = sum(len(batch) for batch in batches) < PENDING_BATCH

    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        assert self._redis is not None
        try:
            await self._redis.xgroup_create(self._pending_key, PENDING_GROUP, id="0",
                                            mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    async def write(self, notes: Iterable[Note], who: str, at: datetime) -> None:
        """The dialogue's notes of one turn: kept in Redis in one round trip, moved
        to the database by `flush_pending` (a shopper's turn never waits for SQL)."""
        by_order: dict[str, list[AuditEntry]] = {}
        for note in notes:
            by_order.setdefault(note.number, []).append(AuditEntry.of(note, who, at))
        if self._redis is None:
            for number, entries in by_order.items():
                await self.record(number, entries)
            return
        for number, entries in by_order.items():
            await self._buffer(number, entries)
            metrics.count_changes(entries)

    async def read(self, number: str) -> list[AuditEntry]:
        """The order's log, oldest first (entries still waiting in Redis included:
        they are moved first)."""
        with contextlib.suppress(*UNREADABLE):  # the database's part is still worth showing
            await self.flush_pending()
        query = (select(audit_entries).where(audit_entries.c.order_number == number)
                 .order_by(audit_entries.c.seq))
        try:
            async with self._db.connect() as conn:
                rows = (await conn.execute(query)).all()
        except DatabaseUnavailable as exc:
            raise StoreUnavailable(str(exc)) from exc
        return [AuditEntry(r.at, r.who, r.action, r.what, r.detail) for r in rows]


def _execute_many(conn: Connection, statement: Any, rows: list[dict[str, Any]]) -> None:
    conn.execute(statement, rows)


def _pending_row(number: str, entry: AuditEntry) -> str:
    """An entry as the stream keeps it (`_pending_entry` reads it): `[order, epoch,
    who, action, what, detail?, once]`, clipped, with a once-token of its own when the
    entry has none, so flushing it twice writes it once."""
    once = entry.once or f"pending:{next_token()}"
    entry = _clip(entry)
    row: list[str | int] = [number, int(entry.at.timestamp()), entry.who, entry.action,
                            entry.what]
    if entry.detail:
        row.append(entry.detail)
    row.append(once)
    return json.dumps(row)


def _pending_entry(fields: dict[Any, Any]) -> tuple[str, AuditEntry]:
    raw = fields.get(b"e") or fields.get("e")
    assert raw is not None, "an audit stream entry without its field"
    number, at, who, action, what, *rest = json.loads(raw)
    detail, once = (rest[0], rest[1]) if len(rest) == 2 else ("", rest[0])
    return number, AuditEntry(datetime.fromtimestamp(at, UTC), who, action, what, detail, once)


def _insert_once(dialect: str, values: dict[str, Any]) -> Any:
    """INSERT that skips an entry whose (order, once) was written before."""
    module = sqlite_dialect if dialect == "sqlite" else postgresql_dialect
    return module.insert(audit_entries).values(values).on_conflict_do_nothing(
        index_elements=["order_number", "once"])


def _clip(entry: AuditEntry) -> AuditEntry:
    return AuditEntry(entry.at, entry.who[:MAX_FIELD_CHARS], entry.action[:MAX_FIELD_CHARS],
                      entry.what[:MAX_FIELD_CHARS], entry.detail[:MAX_FIELD_CHARS],
                      entry.once[:MAX_FIELD_CHARS] if entry.once else None)
