"""The audit log of an order: every change asked for, checked, confirmed, carried
out, refused or failed, filed for staff, approved or declined, with who and when.

The dialogue declares what happened as `Note`s (it stays pure); the engine and the
staff desk add who and when and write them here. An entry holds codes only: an
action, what happened, and a detail that is a reason code, the shop's reference
or a ticket id. Never anything a shopper typed, nor a phone, email or address:
the log outlives the conversation and is shown to every member of staff.

Storage: one Redis list per order, `{prefix}audit:{<number>}` (the number is the
hash tag, so a Redis Cluster keeps an order's keys together), newest last, capped
at `MAX_ENTRIES`, kept `TTL_S` after its last entry. A note may carry a `once`
token: the same token is written once per order however often it is recorded, so
a change the shop made once (a repeated approval, a turn retried after its answer
was lost) is logged once. Both the entries and the tokens go in with one script
call, one round trip.

Errors: `StoreUnavailable` (from `store`) when Redis cannot be reached.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import redis.asyncio as aioredis

from . import metrics
from .store import REDIS_DOWN, StoreUnavailable

MAX_ENTRIES = 500
TTL_S = 400 * 24 * 3600  # beyond a year: returns, disputes and charge-backs take long
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


_RECORD = """
local added = 0
for i = 3, #ARGV, 2 do
  if ARGV[i] == '' or redis.call('SADD', KEYS[2], ARGV[i]) == 1 then
    redis.call('RPUSH', KEYS[1], ARGV[i + 1])
    added = added + 1
  end
end
if added > 0 then
  redis.call('LTRIM', KEYS[1], -tonumber(ARGV[1]), -1)
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('EXPIRE', KEYS[2], ARGV[2]) end
return added
"""


class AuditLog:
    def __init__(self, redis: aioredis.Redis, *, prefix: str = "ohb:") -> None:
        self._redis = redis
        self._prefix = prefix
        self._record = redis.register_script(_RECORD)

    def key(self, number: str) -> str:
        return f"{self._prefix}audit:{{{number}}}"

    async def record(self, number: str, entries: Sequence[AuditEntry]) -> int:
        """Append `entries` to the order's log in one round trip; returns how many
        were new (an entry whose `once` token was written before is skipped)."""
        if not entries:
            return 0
        args: list[str | int] = [MAX_ENTRIES, TTL_S]
        for entry in entries:
            args.extend([(entry.once or "")[:MAX_FIELD_CHARS], _clip(entry).dump()])
        key = self.key(number)
        try:
            added = await self._record(keys=[key, f"{key}:once"], args=args)
        except REDIS_DOWN as exc:
            raise StoreUnavailable("Redis is unreachable") from exc
        return int(added)

    async def write(self, notes: Iterable[Note], who: str, at: datetime) -> None:
        """The dialogue's notes of one turn, each order's in one call (a turn
        touches one order in practice)."""
        by_order: dict[str, list[AuditEntry]] = {}
        for note in notes:
            by_order.setdefault(note.number, []).append(AuditEntry.of(note, who, at))
        for number, entries in by_order.items():
            await self.record(number, entries)
            metrics.count_changes(entries)

    async def read(self, number: str) -> list[AuditEntry]:
        """The order's log, newest last."""
        try:
            raw = await self._redis.lrange(self.key(number), 0, -1)
        except REDIS_DOWN as exc:
            raise StoreUnavailable("Redis is unreachable") from exc
        return [AuditEntry.load(line) for line in raw]


def _clip(entry: AuditEntry) -> AuditEntry:
    return AuditEntry(entry.at, entry.who[:MAX_FIELD_CHARS], entry.action[:MAX_FIELD_CHARS],
                      entry.what[:MAX_FIELD_CHARS], entry.detail[:MAX_FIELD_CHARS])
