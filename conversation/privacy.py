"""Privacy requests: everything held about one shopper, exported or erased.

A shopper is named by a proven or typed email, a phone number, or a conversation
id. What belongs to them:

- tickets: whose proven email/phone is theirs, whose conversation is theirs, whose
  order the shop says is theirs (`OrderBackend.find_orders`), or whose words hold
  the email or phone (found through the search index, then checked word for word);
- conversations: those of the tickets, the one named, `whatsapp:<phone>`, and any
  whose session or transcript in Redis holds the email or phone;
- in Redis, under the app's prefix: every key of those conversations (session,
  transcript, remembered answer, dedup, reachability, progress marks), and every
  entry elsewhere that names them or holds the email/phone (queued outbox messages,
  dead letters, notification subscriptions, WhatsApp status records). Found by
  scanning the prefix: a privacy request is rare, and thoroughness matters more
  than speed here.

Erasing keeps what reports count and drops what identifies: a ticket keeps its
number, kind, channel, status, times, priority, tags and rating; its texts become
`[erased]`, its contact fields, order snapshot and search rows go, its
conversation id becomes a random one. Conversation-day rows get a random hash. The
audit log holds codes and order numbers, never a shopper's words or contact, and
is kept. The shopper's photos and files go whole, bytes and rows (an export lists
them). Each request is logged in `privacy_requests`: who, when, which kind of
identity, its hash, and how much was found; never the data.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import redis.asyncio as aioredis
from sqlalchemy import delete, insert, or_, select, update

from media.blobs import BlobsUnavailable
from media.store import MediaStore
from orders.backend import BackendUnavailable, OrderBackend
from orders.phones import normalise_phone
from records import search
from records.db import Database, DatabaseUnavailable
from records.schema import (
    audit_entries,
    conversation_days,
    privacy_requests,
    ticket_desk,
    ticket_messages,
    ticket_tags,
    tickets,
)

from .activity import conversation_hash, roll_up_everything
from .store import StoreUnavailable, read_line, readable_answer, readable_line

ERASED = "[erased]"
SCAN_BATCH = 500
Kind = Literal["email", "phone", "conversation"]


@dataclass(frozen=True, slots=True)
class Identity:
    kind: Kind
    value: str

    @classmethod
    def of(cls, kind: str, value: str) -> Identity:
        text = value.strip()
        if not text.isprintable():
            raise ValueError("an identity cannot hold control characters")
        if kind == "email":
            if "@" not in text or len(text) > 320 or any(c.isspace() for c in text):
                raise ValueError("that is not an email address")
            return cls("email", text.casefold())
        if kind == "phone":
            phone = normalise_phone(text)
            if not phone:
                raise ValueError("that is not a phone number (write it with its country code)")
            return cls("phone", phone)
        if kind == "conversation":
            if not text or len(text) > 200:
                raise ValueError("that is not a conversation id")
            return cls("conversation", text)
        raise ValueError("name the shopper by email, phone or conversation")

    @property
    def hashed(self) -> str:
        """What the request log keeps: enough to match a repeat, not to read."""
        return hashlib.sha256(f"{self.kind}\x1f{self.value}".encode()).hexdigest()

    @property
    def needles(self) -> list[str]:
        """Strings whose presence in a Redis value ties it to this shopper."""
        if self.kind == "phone":
            return [self.value, self.value.lstrip("+")]
        return [self.value]


@dataclass
class Found:
    tickets: list[int] = field(default_factory=list)
    conversations: set[str] = field(default_factory=set)
    orders: list[str] = field(default_factory=list)


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


class Privacy:
    def __init__(self, db: Database, redis: aioredis.Redis, backend: OrderBackend, *,
                 prefix: str = "ohb:", media: MediaStore | None = None) -> None:
        """`media`: the shopper's photos and files go too (bytes and rows)."""
        self._db = db
        self._redis = redis
        self._backend = backend
        self._prefix = prefix
        self._media = media

    # ---- finding ----------------------------------------------------------------------

    async def find(self, who: Identity) -> Found:
        found = Found()
        if who.kind == "conversation":
            found.conversations.add(who.value)
        if who.kind == "phone":
            found.conversations.add(f"whatsapp:{who.value}")
        try:
            if who.kind in ("email", "phone"):
                orders = await self._backend.find_orders(**{who.kind: who.value})
                found.orders = sorted({o.number for o in orders})
        except BackendUnavailable:
            found.orders = []
        found.conversations |= await self._conversations_in_redis(who)
        try:
            async with self._db.connect() as conn:
                matches: list[Any] = [tickets.c.conversation.in_(sorted(found.conversations))]
                if who.kind == "email":
                    matches.append(tickets.c.contact_email == who.value)
                if who.kind == "phone":
                    matches.append(tickets.c.contact_phone == who.value)
                if found.orders:
                    matches.append(tickets.c.order_number.in_(found.orders))
                if who.kind != "conversation":
                    words = search.matching(self._db.dialect, who.value)
                    if words is not None:
                        candidates = [n for (n,) in (await conn.execute(select(words.c.ticket)))]
                        matches.append(tickets.c.number.in_(
                            await self._holding(conn, candidates, who)))
                rows = (await conn.execute(select(tickets.c.number, tickets.c.conversation)
                                           .where(or_(*matches)))).all()
        except DatabaseUnavailable as exc:
            raise StoreUnavailable(str(exc)) from exc
        found.tickets = sorted(row.number for row in rows)
        found.conversations |= {row.conversation for row in rows
                                if not row.conversation.startswith("erased:")}
        return found

    async def _holding(self, conn: Any, candidates: list[int], who: Identity) -> list[int]:
        """The candidates whose texts hold the identity itself (not just its words)."""
        if not candidates:
            return []
        holding: set[int] = set()
        texts = await conn.execute(select(ticket_messages.c.ticket, ticket_messages.c.text)
                                   .where(ticket_messages.c.ticket.in_(candidates)))
        issues = await conn.execute(select(tickets.c.number, tickets.c.issue)
                                    .where(tickets.c.number.in_(candidates)))
        for number, text in [*texts.all(), *issues.all()]:
            if text and any(n in text.casefold() for n in who.needles):
                holding.add(number)
        return sorted(holding)

    async def _conversations_in_redis(self, who: Identity) -> set[str]:
        """Conversations whose session or transcript holds the email or phone."""
        if who.kind == "conversation":
            return set()
        found: set[str] = set()
        for suffix in ("session", "transcript"):
            async for key in self._redis.scan_iter(match=f"{self._glob()}conv:*:{suffix}",
                                                   count=SCAN_BATCH):
                name = _text(key)
                if suffix == "session":
                    raw = await self._redis.get(name)
                    values = [_text(raw)] if raw is not None else []
                else:
                    values = [read_line(v).get("text", "") for v in
                              await self._redis.lrange(name, 0, -1)]
                if any(n in v.casefold() for v in values for n in who.needles):
                    found.add(name[len(self._prefix) + len("conv:{"):name.rindex("}")])
        return found

    def _glob(self) -> str:
        return "".join(f"[{c}]" if c in "*?[]\\" else c for c in self._prefix)

    # ---- export -----------------------------------------------------------------------

    async def export(self, who: Identity, by: str) -> dict[str, Any]:
        found = await self.find(who)
        redis_data = await self._redis_entries(found, who, erase=False)
        try:
            async with self._db.connect() as conn:
                ticket_rows = (await conn.execute(
                    select(tickets, ticket_desk.c.priority, ticket_desk.c.team)
                    .select_from(tickets.outerjoin(ticket_desk,
                                                   ticket_desk.c.ticket == tickets.c.number))
                    .where(tickets.c.number.in_(found.tickets))
                    .order_by(tickets.c.number))).all()
                messages = (await conn.execute(
                    select(ticket_messages).where(ticket_messages.c.ticket.in_(found.tickets))
                    .order_by(ticket_messages.c.seq))).all()
                tags = (await conn.execute(select(ticket_tags.c.ticket, ticket_tags.c.tag)
                                           .where(ticket_tags.c.ticket.in_(found.tickets)))
                        ).all()
                audit = (await conn.execute(
                    select(audit_entries).where(audit_entries.c.order_number.in_(found.orders))
                    .order_by(audit_entries.c.seq))).all()
        except DatabaseUnavailable as exc:
            raise StoreUnavailable(str(exc)) from exc
        files = await self._files(found)
        by_ticket: dict[int, dict[str, Any]] = {}
        for row in ticket_rows:
            data = {k: v for k, v in row._mapping.items() if k not in ("origin", "version")}
            data.update(id=f"T-{row.number}", transcript=[], log=[], tags=[])
            by_ticket[row.number] = data
        for m in messages:
            by_ticket[m.ticket]["transcript" if m.part == "transcript" else "log"].append(
                {"who": m.who, "text": m.text, "at": m.at})
        for number, tag in tags:
            by_ticket[number]["tags"].append(tag)
        counts = {"tickets": len(found.tickets), "conversations": len(found.conversations),
                  "files": len(files), "redis_keys": len(redis_data)}
        await self._log(by, "export", who, counts)
        document: dict[str, Any] = json.loads(json.dumps({
            "identity": {"kind": who.kind, "value": who.value},
            "exported_at": datetime.now(UTC).isoformat(),
            "orders": found.orders,
            "conversations": sorted(found.conversations),
            "tickets": list(by_ticket.values()),
            "files": files,  # what was kept of each photo or file; the bytes on request
            "audit": [{"order": a.order_number, "at": a.at, "who": a.who, "action": a.action,
                       "what": a.what, "detail": a.detail} for a in audit],
            "redis": redis_data,
        }, default=_jsonable, ensure_ascii=False))
        return document

    # ---- erase ------------------------------------------------------------------------

    async def erase(self, who: Identity, by: str) -> dict[str, int]:
        found = await self.find(who)
        # the day counts reach SQL first (where their hash is replaced below), then
        # their Redis members go with everything else
        await roll_up_everything(self._redis, self._db, self._prefix)
        removed = await self._redis_entries(found, who, erase=True)
        files = await self._erase_files(found)  # before the tickets lose their conversation
        # one random id per conversation, for its tickets and its day counts alike, so
        # a report still tells which conversations had a ticket
        renamed = {c: f"erased:{secrets.token_hex(12)}" for c in found.conversations}
        try:
            async with self._db.begin() as conn:
                for number in found.tickets:
                    row = (await conn.execute(select(tickets.c.version, tickets.c.issue,
                                                     tickets.c.decision_reason, tickets.c.request,
                                                     tickets.c.conversation)
                                              .where(tickets.c.number == number))).one()
                    request = {k: v for k, v in (row.request or {}).items()
                               if k not in ("address", "idempotency_key")} or None
                    await conn.execute(update(tickets).where(tickets.c.number == number).values(
                        conversation=renamed.get(row.conversation,
                                                 f"erased:{secrets.token_hex(12)}"),
                        issue=ERASED if row.issue else None,
                        decision_reason=ERASED if row.decision_reason else None,
                        request=request, order_snapshot=None, contact_email=None,
                        contact_phone=None, shopper_name=None, version=row.version + 1))
                    await search.forget(conn, number)
                if found.tickets:
                    await conn.execute(update(ticket_messages)
                                       .where(ticket_messages.c.ticket.in_(found.tickets))
                                       .values(text=ERASED))
                    await conn.execute(delete(ticket_tags).where(
                        ticket_tags.c.ticket.in_(found.tickets),
                        or_(*(ticket_tags.c.tag.contains(n) for n in who.needles))))
                for conversation, new in renamed.items():
                    await conn.execute(update(conversation_days).where(
                        conversation_days.c.conversation == conversation_hash(conversation),
                    ).values(conversation=conversation_hash(new)))
        except DatabaseUnavailable as exc:
            raise StoreUnavailable(str(exc)) from exc
        counts = {"tickets": len(found.tickets), "conversations": len(found.conversations),
                  "files": files, "redis_entries": len(removed)}
        await self._log(by, "erase", who, counts)
        return counts

    # ---- files ------------------------------------------------------------------------

    async def _files(self, found: Found) -> list[dict[str, Any]]:
        if self._media is None:
            return []
        try:
            kept = await self._media.of(conversations=found.conversations,
                                        tickets=found.tickets)
        except DatabaseUnavailable as exc:
            raise StoreUnavailable(str(exc)) from exc
        return [{**a.as_json(), "conversation": a.conversation, "channel": a.channel,
                 "ticket": f"T-{a.ticket}" if a.ticket else None} for a in kept]

    async def _erase_files(self, found: Found) -> int:
        if self._media is None:
            return 0
        try:
            return await self._media.erase(conversations=found.conversations,
                                           tickets=found.tickets)
        except (DatabaseUnavailable, BlobsUnavailable) as exc:
            raise StoreUnavailable(str(exc)) from exc

    # ---- Redis ------------------------------------------------------------------------

    async def _redis_entries(self, found: Found, who: Identity, *, erase: bool
                             ) -> dict[str, Any]:
        """Every Redis key or entry under the prefix that belongs to the shopper: its
        value (export), or removed (erase). Keys of the conversations go whole;
        elsewhere only the entries that name a conversation or hold the identity."""
        needles = [*who.needles, *found.conversations,
                   *(f"|{conversation_hash(c)}" for c in found.conversations)]
        own = [f"{self._prefix}conv:{{{c}}}:" for c in found.conversations]
        entries: dict[str, Any] = {}
        client: Any = self._redis  # redis-py's command types do not fit its own answers
        async for raw in client.scan_iter(match=f"{self._glob()}*", count=SCAN_BATCH):
            key = _text(raw)
            if any(key.startswith(p) for p in own) or _holds(key, needles):
                entries[key] = await self._value(key)
                if erase:
                    await self._redis.delete(key)
                continue
            kind = _text(await self._redis.type(key))
            match kind:
                case "string":
                    value = await self._redis.get(key)
                    if value is not None and _holds(_text(value), needles):
                        entries[key] = _text(value)
                        if erase:
                            await self._redis.delete(key)
                case "hash":
                    data = {_text(k): _text(v) for k, v in (await self._redis.hgetall(key)).items()}
                    if _holds(json.dumps(data, ensure_ascii=False), needles):
                        entries[key] = data
                        if erase:
                            await self._redis.delete(key)
                case "set":
                    members = [m for m in await self._redis.smembers(key)
                               if _holds(_text(m), needles)]
                    if members:
                        entries[key] = [_text(m) for m in members]
                        if erase:
                            await self._redis.srem(key, *members)
                case "zset":
                    members = [m for m in await client.zrange(key, 0, -1)
                               if _holds(_text(m), needles)]
                    if members:
                        entries[key] = [_text(m) for m in members]
                        if erase:
                            await client.zrem(key, *members)
                case "list":
                    items = [i for i in await self._redis.lrange(key, 0, -1)
                             if _holds(_text(i), needles)]
                    if items:
                        entries[key] = [_text(i) for i in items]
                        if erase:
                            for item in items:
                                await client.lrem(key, 0, item)
                case "stream":
                    ids = []
                    for entry_id, fields in await client.xrange(key):
                        data = {_text(k): _text(v) for k, v in fields.items()}
                        if _holds(json.dumps(data, ensure_ascii=False), needles):
                            ids.append(entry_id)
                            entries.setdefault(key, []).append(data)
                    if ids and erase:
                        await client.xdel(key, *ids)
        return entries

    async def _value(self, key: str) -> Any:
        kind = _text(await self._redis.type(key))
        stored = key.startswith(f"{self._prefix}conv:{{")  # compact formats: made readable
        match kind:
            case "string":
                value = await self._redis.get(key)
                if value is not None and stored and key.endswith("}:answer"):
                    return readable_answer(value)
                return _text(value) if value is not None else None
            case "hash":
                return {_text(k): _text(v) for k, v in (await self._redis.hgetall(key)).items()}
            case "list":
                values = await self._redis.lrange(key, 0, -1)
                if stored and key.endswith("}:transcript"):
                    return [readable_line(v) for v in values]
                return [_text(v) for v in values]
            case "set":
                return sorted(_text(v) for v in await self._redis.smembers(key))
            case "zset":
                return [_text(v) for v in await self._redis.zrange(key, 0, -1)]
        return None

    async def _log(self, by: str, action: str, who: Identity, counts: dict[str, int]) -> None:
        try:
            async with self._db.begin() as conn:
                await conn.execute(insert(privacy_requests).values(
                    at=datetime.now(UTC), by=by, action=action, identity_kind=who.kind,
                    identity_hash=who.hashed, found=counts))
        except DatabaseUnavailable as exc:
            raise StoreUnavailable(str(exc)) from exc

    async def requests(self, limit: int = 100) -> list[dict[str, Any]]:
        """The request log, newest first."""
        async with self._db.connect() as conn:
            rows = (await conn.execute(select(privacy_requests)
                                       .order_by(privacy_requests.c.seq.desc())
                                       .limit(limit))).all()
        return [{"at": r.at.isoformat(), "by": r.by, "action": r.action,
                 "identity_kind": r.identity_kind, "identity_hash": r.identity_hash[:16],
                 "found": r.found} for r in rows]


def _holds(text: str, needles: Iterable[str]) -> bool:
    """True when a needle is in the text as a whole (`telegram:7001` is not in
    `telegram:70012`)."""
    folded = text.casefold()
    return any(n and re.search(re.escape(n.casefold()) + r"(?![\w-])", folded)
               for n in needles)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
