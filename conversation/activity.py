"""Which conversations happened on which day, for the reports, without SQL in a turn.

A report needs the number of conversations per day and how many of them ended
without a person (no ticket). A shopper's turn makes no SQL query and at most two
Redis round trips, so:

- the engine knows, from the session it loaded, whether this turn is the
  conversation's first of the day (the shop's local date, `TIMEZONE`). Only then
  it adds the conversation to that day's Redis set (`ohb:stats:{days}:2026-12-03`,
  members `channel|hash`), in the pipeline that saves the turn (`marking`): no
  round trip of its own, and every later turn that day costs nothing at all;
- `roll_up` copies the sets into the `conversation_days` table (insert once per
  conversation and day), from a periodic task and before every report; the sets
  expire after `KEEP_DAYS`, the table keeps the counts.

Members are a hash of the conversation id, never the id (the table is not a list of
shoppers); a privacy erasure replaces that hash with a random one, so the count
stays and the link goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from sqlalchemy import select
from sqlalchemy.dialects import postgresql as postgresql_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from records.db import Database, DatabaseUnavailable
from records.schema import conversation_days

from .store import REDIS_DOWN

log = logging.getLogger(__name__)

KEEP_DAYS = 8
ROLL_UP_BATCH = 500


def conversation_hash(conversation: str) -> str:
    return hashlib.sha256(f"conversation\x1f{conversation}".encode()).hexdigest()[:32]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class ConversationDays:
    def __init__(self, redis: aioredis.Redis, *, prefix: str = "ohb:",
                 timezone: str = "UTC") -> None:
        self._redis = redis
        self._prefix = prefix
        self.zone = ZoneInfo(timezone)

    def key(self, day: date) -> str:
        return f"{self._prefix}stats:{{days}}:{day.isoformat()}"

    def day_of(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()

    def first_of_day(self, last_seen: datetime | None, now: datetime) -> bool:
        """True when a turn at `now` is the conversation's first on its local day."""
        return last_seen is None or self.day_of(last_seen) != self.day_of(now)

    def marking(
        self, conversation: str, channel: str, now: datetime
    ) -> Callable[[Pipeline], Callable[[Sequence[Any]], None]]:
        """`mark` as commands for the turn's saving pipeline (`SessionStore.finish`'s
        `alongside`): no round trip of its own."""
        key = self.key(self.day_of(now))

        def queue(pipe: Pipeline) -> Callable[[Sequence[Any]], None]:
            pipe.sadd(key, f"{channel}|{conversation_hash(conversation)}")
            pipe.expire(key, KEEP_DAYS * 86400)
            return _log_failures

        return queue

    async def roll_up(self, db: Database, days: Iterable[date] | None = None) -> int:
        """Copy the days' sets (default: every day still kept) into SQL; returns how
        many conversation-days were new. Safe to run anywhere, any number of times."""
        if days is None:
            today = datetime.now(self.zone).date()
            days = [today - timedelta(days=n) for n in range(KEEP_DAYS)]
        added = 0
        for day in days:
            members: list[str] = []
            with contextlib.suppress(*REDIS_DOWN):
                async for member in self._redis.sscan_iter(self.key(day), count=ROLL_UP_BATCH):
                    members.append(_text(member))
            for start in range(0, len(members), ROLL_UP_BATCH):
                added += await _insert(db, day, members[start:start + ROLL_UP_BATCH])
        return added


def _log_failures(results: Sequence[Any]) -> None:
    if any(isinstance(r, Exception) for r in results):
        log.warning("a conversation was not counted for the reports: %s",
                    next(type(r).__name__ for r in results if isinstance(r, Exception)))


async def roll_up_everything(redis: aioredis.Redis, db: Database, prefix: str) -> int:
    """Roll up every day set still in Redis, whatever its date (before an erasure)."""
    days = ConversationDays(redis, prefix=prefix)
    found: list[date] = []
    glob = "".join(f"[{c}]" if c in "*?[]\\" else c for c in prefix)
    async for key in redis.scan_iter(match=f"{glob}stats:[{{]days[}}]:*"):
        with contextlib.suppress(ValueError):
            found.append(date.fromisoformat(_text(key).rsplit(":", 1)[1]))
    return await days.roll_up(db, found)


async def _insert(db: Database, day: date, members: list[str]) -> int:
    rows = []
    for member in members:
        channel, _, hashed = member.partition("|")
        if channel and hashed:
            rows.append({"day": day.isoformat(), "conversation": hashed, "channel": channel,
                         "ticketed": False})
    if not rows:
        return 0
    dialect = postgresql_dialect if db.dialect == "postgresql" else sqlite_dialect
    async with db.begin() as conn:
        before = len((await conn.execute(select(conversation_days.c.conversation).where(
            conversation_days.c.day == day.isoformat(),
            conversation_days.c.conversation.in_([r["conversation"] for r in rows])))).all())
        await conn.execute(dialect.insert(conversation_days).values(rows)
                           .on_conflict_do_nothing())
    return len(rows) - before


ROLL_UP_EVERY_S = 600.0


async def keep_rolling_up(days: ConversationDays, db: Database,
                          every_s: float = ROLL_UP_EVERY_S) -> None:
    """The periodic copy of the day sets into SQL, well within their `KEEP_DAYS`."""
    while True:
        await asyncio.sleep(every_s)
        try:
            await days.roll_up(db)
        except DatabaseUnavailable:
            log.warning("conversation counts not rolled up: the records database is down")
