"""Tickets: a hand-off to a person, or an action request for staff to carry out.

A ticket carries everything a person needs without asking the shopper again: the
channel and conversation, the order as it was when the ticket opened, the issue in
the shopper's words, why the bot refused (if it did), the action asked for, and the
transcript up to then. Messages after that go to the ticket's log. Tickets are the
shop's records: they live in the SQL database (`records`), never expire, and are
searched there (`records.search`).

Status: `open` waits on staff (new, or the shopper wrote last), `pending` waits on
the shopper (staff answered last), `resolved` is closed. While a hand-off is open or
pending the bot stays quiet. Every status change is kept in the ticket's history.

Exactly once: a ticket is created with an `origin`, a hash of the conversation and
the message that opened it, unique in the table; the same message retried (a crash
before the session was saved, a redelivered webhook) finds the ticket it already
opened instead of opening another. Every change is one transaction that
compare-and-sets the ticket's `version`, so two agents acting at once both land and
nothing is half-written.

Live updates stay in Redis: after each committed change an event goes on the inbox's
event stream (`ohb:inbox:events`, capped), which the inbox's pages read. A lost event
(Redis down just then) costs a live refresh, never a record.

Errors: `StoreUnavailable` when the database cannot be reached; `TicketNotFound`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import redis.asyncio as aioredis
from pydantic import BaseModel
from sqlalchemy import (
    Connection,
    Row,
    Select,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    union,
    update,
)
from sqlalchemy.dialects import postgresql as postgresql_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from orders.phones import normalise_phone
from records import search
from records.db import Database, DatabaseUnavailable
from records.schema import ticket_desk, ticket_history, ticket_messages, ticket_tags, tickets

from .assignment import next_agent
from .desk import MAX_TAGS, DeskPolicy, Priority, bot_tags, clean_tag
from .keys import Keys
from .paging import Cursor
from .scripts import Command, turn_batch
from .store import REDIS_DOWN, StoreUnavailable

log = logging.getLogger(__name__)

MAX_LISTED = 200
PAGE_SIZE = 50
SEARCH_COUNT_CAP = 1000  # a search by words counts this many, then says "1,000+"
LIST_COUNT_CAP = 10_000  # a list (and each status's tab) counts this many, then "10,000+"
MAX_COUNT_CAP = 10_000  # the matches a page is sorted from are bound parameters
WALK_WINDOW = 10  # a common word's page: tickets read for each one the page shows
EVENTS_MAXLEN = 2000
EVENT_DELAY_S = 0.05  # the longest an inbox event waits for company (`_event`)
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
    # the desk (table `ticket_desk`, `ticket_tags`)
    priority: Priority = Priority.NORMAL
    priority_by: str | None = None  # None: set by the merchant's rules
    tags: list[str] = []
    team: str | None = None
    first_response_at: datetime | None = None
    first_response_by: str | None = None
    first_response_due: datetime | None = None
    resolution_due: datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.status is not TicketStatus.RESOLVED

    @property
    def number(self) -> int:
        return ticket_number(self.id)

    @property
    def due(self) -> datetime | None:
        """What the desk owes next: the first reply, else the resolution; None
        once resolved."""
        if not self.is_open:
            return None
        return self.first_response_due if self.first_response_at is None \
            else self.resolution_due

    def overdue(self, now: datetime) -> bool:
        due = self.due
        return due is not None and due < now

    @property
    def shopper_name(self) -> str | None:
        customer = (self.order_snapshot or {}).get("customer") or {}
        name = customer.get("name") if self.order_verified else None
        return str(name) if name else None


class TicketNotFound(KeyError):
    pass


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a ticket list, with the total the filters found. `next` and
    `previous` (when an older or a newer page exists) are where those pages start:
    the cursors the pager links to (`conversation.paging`)."""

    tickets: list[Ticket]
    total: int
    page: int
    page_size: int
    capped: bool = False  # more than `total` match, which is the count's cap
    more: bool = False  # another (older) page follows
    next: Cursor | None = None
    previous: Cursor | None = None

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


@dataclass(frozen=True, slots=True)
class Count:
    """How many tickets a status has, counted up to a cap: `capped` means more than
    `n` (shown as "10,000+")."""

    n: int
    capped: bool = False


def ticket_number(ticket_id: str) -> int:
    """`T-1001` -> 1001; anything else is not a ticket id (TicketNotFound)."""
    head, _, digits = ticket_id.strip().upper().partition("-")
    if head != "T" or not digits.isdigit() or len(digits) > 9:
        raise TicketNotFound(ticket_id)
    return int(digits)


def ticket_id(number: int) -> str:
    return f"T-{number}"


def origin_of(conversation: str, message_id: str) -> str:
    """The unique key of the ticket a message opens (hashed: ids may be long)."""
    return hashlib.sha256(f"{conversation}\x1f{message_id}".encode()).hexdigest()


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

_COLUMNS = ("kind", "status", "channel", "conversation", "locale", "created_at",
            "updated_at", "resolved_at", "order_verified", "order_snapshot", "issue",
            "refusal", "request", "contact_phone", "contact_email", "assignee",
            "last_shopper_at", "resolutions", "resolved_by", "decision", "decision_reason",
            "decided_by", "rating", "rated_at")
_LINE_FIELDS = ("id", "who", "text", "at")




def row_values(ticket: Ticket) -> dict[str, Any]:
    data = ticket.model_dump(mode="python", include=set(_COLUMNS))
    # fields without a column of their own (added to the model since) ride in `extra`
    extra = ticket.model_dump(mode="json", exclude=set(_COLUMNS) | _NOT_COLUMNS)
    data["extra"] = extra or None
    for name in ("issue", "decision_reason", "refusal"):
        if data.get(name):
            data[name] = search.storable(data[name])
    data["status"] = ticket.status.value
    data["decision"] = ticket.decision.value if ticket.decision else None
    data["order_number"] = ticket.order
    data["shopper_name"] = ticket.shopper_name
    return data


_DESK_COLUMNS = ("priority", "priority_by", "team", "first_response_at", "first_response_by",
                 "first_response_due", "resolution_due")
_NOT_COLUMNS = {"id", "order", "transcript", "tags", *_DESK_COLUMNS}  # stored elsewhere


def _listed(before: Any = None, on: Any = None) -> Any:
    """The tickets with their desk row (for the desk's filters); after `before` JOIN
    tickets ON `on` when given (a search driven from its index)."""
    base = tickets if before is None else before.join(tickets, on)
    return base.outerjoin(ticket_desk, ticket_desk.c.ticket == tickets.c.number)


def _select() -> Select[Any]:
    """Tickets with their desk fields (priority, team, SLA times)."""
    return select(tickets, *(ticket_desk.c[name] for name in _DESK_COLUMNS)).select_from(
        tickets.outerjoin(ticket_desk, ticket_desk.c.ticket == tickets.c.number))


# The statements of a shopper's turn, built once: bound parameters instead of a new
# statement (and its cache key) per call.
_BY_NUMBER = _select().where(tickets.c.number == bindparam("number"))
_BY_ORIGIN = _select().where(tickets.c.origin == bindparam("origin"))
_TAGS_IN = (select(ticket_tags.c.ticket, ticket_tags.c.tag)
            .where(ticket_tags.c.ticket.in_(bindparam("numbers", expanding=True)))
            .order_by(ticket_tags.c.at, ticket_tags.c.tag))
_CHANGE = update(tickets).where(tickets.c.number == bindparam("b_number"),
                                tickets.c.version == bindparam("b_version"))
_NEW_TICKET = insert(tickets).returning(tickets.c.number)
# A ticket from a shopper's message: none when that message already opened one (a
# redelivery, or a twin request at the same moment): no row back, nothing written,
# no read first and no savepoint around a failing insert.
_NEW_TICKET_ONCE = {
    dialect.__name__.rpartition(".")[2]: dialect.insert(tickets)
    .on_conflict_do_nothing(index_elements=[tickets.c.origin]).returning(tickets.c.number)
    for dialect in (sqlite_dialect, postgresql_dialect)}
_NEW_MESSAGES = insert(ticket_messages)
_NEW_HISTORY = insert(ticket_history)
_NEW_DESK = insert(ticket_desk)
_NEW_TAGS = insert(ticket_tags)
_FILING = select(tickets.c.status, tickets.c.version).where(
    tickets.c.number == bindparam("number"))
_FILED = update(tickets).where(
    tickets.c.number == bindparam("b_number"), tickets.c.version == bindparam("b_version"),
).values({tickets.c.status: bindparam("n_status", type_=tickets.c.status.type),
          tickets.c.updated_at: bindparam("n_at", type_=tickets.c.updated_at.type),
          tickets.c.last_shopper_at: bindparam("n_at", type_=tickets.c.last_shopper_at.type),
          tickets.c.version: bindparam("n_version", type_=tickets.c.version.type)})
# ... and when the ticket is open (the usual case), the same in one statement that
# neither reads the row first nor needs the version it read
_FILED_ON_OPEN = update(tickets).where(
    tickets.c.number == bindparam("b_number"), tickets.c.status == TicketStatus.OPEN.value,
).values({tickets.c.updated_at: bindparam("n_at", type_=tickets.c.updated_at.type),
          tickets.c.last_shopper_at: bindparam("n_at", type_=tickets.c.last_shopper_at.type),
          tickets.c.version: tickets.c.version + 1})
_BY_ACTIVITY = (tickets.c.updated_at.desc(), tickets.c.number.desc())
_OLDEST_FIRST = (tickets.c.updated_at.asc(), tickets.c.number.asc())
_OPEN_REQUESTS = (_select().where(
    tickets.c.order_number == bindparam("order"), tickets.c.kind == "request",
    tickets.c.status.in_([TicketStatus.OPEN.value, TicketStatus.PENDING.value]))
    .order_by(*_BY_ACTIVITY))


def _ticket(row: Row[Any], transcript: list[dict[str, str]] | None = None,
            tags: list[str] | None = None) -> Ticket:
    data = {**(row._mapping["extra"] or {}), **{k: row._mapping[k] for k in _COLUMNS}}
    data.update({k: row._mapping[k] for k in _DESK_COLUMNS
                 if k in row._mapping and row._mapping[k] is not None})
    data.update(id=ticket_id(row.number), order=row.order_number,
                transcript=transcript or [], tags=tags or [])
    return Ticket.model_validate(data)


def _tags_in(conn: Connection, numbers: list[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    if not numbers:
        return found
    rows = conn.execute(_TAGS_IN, {"numbers": numbers})
    for number, tag in rows:
        found.setdefault(number, []).append(tag)
    return found


def _tickets_of(conn: Connection, rows: Sequence[Row[Any]]) -> list[Ticket]:
    tags = _tags_in(conn, [row.number for row in rows])
    return [_ticket(row, tags=tags.get(row.number)) for row in rows]


async def _tags_of(conn: AsyncConnection, numbers: list[int]) -> dict[int, list[str]]:
    return await conn.run_sync(_tags_in, numbers)


async def _tickets(conn: AsyncConnection, rows: Sequence[Row[Any]]) -> list[Ticket]:
    return await conn.run_sync(_tickets_of, rows)


def _open_requests(conn: Connection, number: str) -> list[Ticket]:
    return [_ticket(row) for row in conn.execute(_OPEN_REQUESTS, {"order": number}).all()]


def _by_origin(conn: Connection, origin: str) -> Ticket | None:
    row = conn.execute(_BY_ORIGIN, {"origin": origin}).first()
    return _tickets_of(conn, [row])[0] if row else None


def _message_change(who: str, at: datetime) -> Callable[[Ticket], Ticket]:
    """A message's mark on its ticket: a shopper's makes it unread and puts a
    pending ticket back to open."""
    def change(ticket: Ticket) -> Ticket:
        update: dict[str, Any] = {"updated_at": at}
        if who == "shopper":
            update["last_shopper_at"] = at
            if ticket.status is TicketStatus.PENDING:
                update["status"] = TicketStatus.OPEN
        return ticket.model_copy(update=update)

    return change


def line_row(number: int, part: str, line: dict[str, str]) -> dict[str, Any]:
    extra = {k: v for k, v in line.items() if k not in _LINE_FIELDS}
    return {"ticket": number, "part": part, "message_id": line.get("id"),
            "who": line.get("who", ""), "text": search.storable(line.get("text", "")),
            "at": line.get("at", ""), "extra": extra or None}


def _line(row: Row[Any]) -> dict[str, str]:
    line = {"who": row.who, "text": row.text, "at": row.at}
    if row.message_id:
        line = {"id": row.message_id, **line}
    line.update(row.extra or {})
    return line


class TicketStore:
    def __init__(self, db: Database, redis: aioredis.Redis, *, prefix: str = "ohb:",
                 desk: DeskPolicy | None = None) -> None:
        self._db = db
        self._redis = redis
        self._keys = Keys(prefix)
        self.desk = desk or DeskPolicy()

    @property
    def events_key(self) -> str:
        return self._keys.inbox_events()

    @property
    def database(self) -> Database:
        return self._db

    # ---- writing ---------------------------------------------------------------

    async def create(self, ticket: Ticket, *, origin: str | None = None) -> Ticket:
        """Store the ticket and give it its id (T-1001, T-1002, ...). With `origin`
        (see `origin_of`), a second create of the same origin returns the first
        ticket unchanged instead of opening another."""
        try:
            saved, new = await self._db.run_brief(self._create, ticket, origin)
        except DatabaseUnavailable as exc:
            raise StoreUnavailable(str(exc)) from exc
        if new:
            self._event("created", saved.id)
        return saved

    def _create(self, conn: Connection, ticket: Ticket, origin: str | None) -> tuple[Ticket, bool]:
        """One transaction: the ticket, its desk fields, transcript, history and
        search rows; or the ticket `origin` already opened."""
        if self.desk.auto_assign and ticket.assignee is None:
            if origin is not None and (found := _by_origin(conn, origin)) is not None:
                return found, False  # before the round of agents moves on
            ticket = ticket.model_copy(update={"assignee": next_agent(conn, ticket.team)})
        values = row_values(ticket)
        values.update(origin=origin, version=1)
        if origin is None:
            number = conn.execute(_NEW_TICKET, values).scalar_one()
        elif (number := conn.execute(_NEW_TICKET_ONCE[conn.dialect.name], values).scalar()) is None:
            found = _by_origin(conn, origin)  # that message opened it already
            if found is None:
                raise RuntimeError("a ticket's origin is taken, yet no ticket has it")
            return found, False
        saved = self._file_desk(conn, ticket.model_copy(update={"id": ticket_id(number)}))
        if saved.transcript:
            conn.execute(_NEW_MESSAGES, [
                line_row(number, "transcript", line) for line in saved.transcript])
        conn.execute(_NEW_HISTORY, {
            "ticket": number, "at": saved.created_at, "event": "created",
            "from_status": None, "to_status": saved.status.value, "by": None})
        search.index_rows(conn, number, [
            saved.issue, saved.order, saved.contact_email, saved.contact_phone,
            saved.shopper_name, *(line.get("text") for line in saved.transcript
                                  if line.get("who") == "shopper")], new=True)
        return saved, True

    def _file_desk(self, conn: Connection, ticket: Ticket) -> Ticket:
        """The bot's tags, the priority the merchant's rules give them, the SLA times."""
        tags = list(dict.fromkeys([*ticket.tags, *bot_tags(
            ticket.request, ticket.refusal, ticket.order_snapshot)]))[:MAX_TAGS]
        priority = ticket.priority if ticket.priority_by else self.desk.rules.priority(tags)
        first_due, resolution_due = self.desk.due(ticket.created_at, priority)
        conn.execute(_NEW_DESK, {
            "ticket": ticket.number, "priority": priority.value,
            "priority_by": ticket.priority_by, "team": ticket.team,
            "first_response_due": first_due, "resolution_due": resolution_due})
        if tags:
            conn.execute(_NEW_TAGS, [
                {"ticket": ticket.number, "tag": tag, "by": None, "at": ticket.created_at}
                for tag in tags])
        return ticket.model_copy(update={
            "tags": tags, "priority": priority, "first_response_due": first_due,
            "resolution_due": resolution_due})

    async def add_message(
        self, ticket_id: str, who: str, text: str, at: datetime, **extra: str | None
    ) -> dict[str, str]:
        """File a message on the ticket's log, newest last, and return it. A shopper's
        message marks the ticket unread and puts a pending ticket back to open."""
        line = log_line(who, text, at, **extra)
        await self.update(ticket_id, _message_change(who, at), line=line)
        return line

    async def file_from_shopper(
        self, ticket_id: str, text: str, at: datetime, **extra: str | None
    ) -> bool:
        """A shopper's message while a person has the conversation, filed in one
        transaction: on the log, in the search, the ticket unread and a pending one
        open again. False when the ticket is resolved or gone (the bot is back)."""
        line = log_line("shopper", text, at, **extra)
        try:
            number = ticket_number(ticket_id)
            for _ in range(UPDATE_RETRIES):
                filed = await self._db.run_brief(self._file_shopper_line, number,
                                                 line, at)
                if filed is None:
                    continue  # someone else changed it since we read it: again
                if filed:
                    self._event("updated", ticket_id)
                return filed
        except TicketNotFound:
            return False
        except DatabaseUnavailable as exc:
            raise StoreUnavailable(str(exc)) from exc
        raise StoreUnavailable(f"ticket {ticket_id} is changing too fast; try again")

    @staticmethod
    def _file_shopper_line(conn: Connection, number: int, line: dict[str, str],
                           at: datetime) -> bool | None:
        """`update` with `_message_change("shopper", at)` and `line`, narrowed to the
        columns a shopper's message changes: the ticket is not read whole (its tags,
        its snapshot as a model) nor written whole, as on every staff change; on an
        open ticket, not read at all. None when the version moved under it."""
        status: str = TicketStatus.OPEN.value
        if conn.execute(_FILED_ON_OPEN, {"b_number": number, "n_at": at}).rowcount != 1:
            row = conn.execute(_FILING, {"number": number}).first()
            if row is None:
                raise TicketNotFound(ticket_id(number))
            if row.status == TicketStatus.RESOLVED.value:
                return False
            status = (TicketStatus.OPEN.value if row.status == TicketStatus.PENDING.value
                      else row.status)
            done = conn.execute(_FILED, {"b_number": number, "b_version": row.version,
                                         "n_status": status, "n_at": at,
                                         "n_version": row.version + 1})
            if done.rowcount != 1:
                return None
            if status != row.status:
                conn.execute(_NEW_HISTORY, {
                    "ticket": number, "at": at, "event": "updated", "from_status": row.status,
                    "to_status": status, "by": None})
        conn.execute(_NEW_MESSAGES, line_row(number, "log", line))
        search.index_rows(conn, number, [line.get("text")])
        return True

    async def update(
        self, ticket_id: str, change: Change, *, line: dict[str, str] | None = None,
        event: str = "updated", by: str | None = None,
    ) -> tuple[Ticket, bool]:
        """Apply `change` to the ticket in one transaction, with `line` appended to
        its log. `change` returns the new ticket, or None to change nothing (then
        `line` is not written either). Returns (ticket, changed)."""
        number = ticket_number(ticket_id)
        try:
            for _ in range(UPDATE_RETRIES):
                done = await self._db.run_in_transaction(
                    self._update, number, change, line, event, by)
                if done is None:
                    continue  # someone else changed it since we read it: again
                if done[1]:
                    self._event(event, ticket_id)
                return done
        except DatabaseUnavailable as exc:
            raise StoreUnavailable(str(exc)) from exc
        raise StoreUnavailable(f"ticket {ticket_id} is changing too fast; try again")

    def _update(
        self, conn: Connection, number: int, change: Change, line: dict[str, str] | None,
        event: str, by: str | None,
    ) -> tuple[Ticket, bool] | None:
        """One attempt of `update`: None when the version moved under it."""
        row = conn.execute(_BY_NUMBER, {"number": number}).first()
        if row is None:
            raise TicketNotFound(ticket_id(number))
        before = _tickets_of(conn, [row])[0]
        after = change(before)
        if after is None:
            return before, False
        done = conn.execute(_CHANGE, {**row_values(after), "version": row.version + 1,
                                      "b_number": number, "b_version": row.version})
        if done.rowcount != 1:
            return None
        if line is not None:
            after = self._file_line(conn, number, line, before, after)
        if after.status is not before.status:
            conn.execute(_NEW_HISTORY, {
                "ticket": number, "at": after.updated_at, "event": event,
                "from_status": before.status.value, "to_status": after.status.value,
                "by": by or (line or {}).get("author")})
        return after, True

    @staticmethod
    def _file_line(conn: Connection, number: int, line: dict[str, str], before: Ticket,
                   after: Ticket) -> Ticket:
        """The log line, its words in the search, and a first staff reply's time."""
        conn.execute(_NEW_MESSAGES, line_row(number, "log", line))
        if line.get("who") in ("shopper", "staff", "note"):
            search.index_rows(conn, number, [line.get("text")])
        if line.get("who") != "staff" or before.first_response_at is not None:
            return after
        conn.execute(update(ticket_desk).where(ticket_desk.c.ticket == number)
                     .values(first_response_at=after.updated_at,
                             first_response_by=line.get("author")))
        return after.model_copy(update={"first_response_at": after.updated_at,
                                        "first_response_by": line.get("author")})

    async def mark_resolved(self, ticket_id: str, at: datetime, by: str | None = None) -> Ticket:
        """Close the ticket; returns it so the caller can tell the shopper.
        Resolving a resolved ticket changes nothing."""

        def change(ticket: Ticket) -> Ticket | None:
            if ticket.status is TicketStatus.RESOLVED:
                return None
            return ticket.model_copy(update={
                "status": TicketStatus.RESOLVED, "resolved_at": at, "updated_at": at,
                "resolutions": ticket.resolutions + 1, "resolved_by": by})

        ticket, _changed = await self.update(ticket_id, change, event="resolved", by=by)
        return ticket

    async def record_rating(self, ticket_id: str, score: int, at: datetime) -> None:
        """The shopper's answer to the satisfaction question; a later answer replaces it."""

        def change(ticket: Ticket) -> Ticket:
            return ticket.model_copy(update={"rating": score, "rated_at": at})

        try:
            await self.update(ticket_id, change, line=log_line("system", f"rated {score}/5", at))
        except TicketNotFound:
            return

    # ---- reading ---------------------------------------------------------------

    async def get(self, ticket_id: str, *, transcript: bool = True) -> Ticket | None:
        """The whole ticket, with the transcript it opened with (`transcript=False`:
        without, one query: what a shopper's turn needs to know of its ticket)."""
        try:
            number = ticket_number(ticket_id)
        except TicketNotFound:
            return None
        try:
            async with self._db.connect() as conn:
                row = (await conn.execute(
                    _select().where(tickets.c.number == number))).first()
                if row is None:
                    return None
                tags = (await _tags_of(conn, [number])).get(number)
                if not transcript:
                    return _ticket(row, tags=tags)
                lines = (await conn.execute(
                    select(ticket_messages)
                    .where(ticket_messages.c.ticket == number,
                           ticket_messages.c.part == "transcript")
                    .order_by(ticket_messages.c.seq))).all()
        except DatabaseUnavailable as exc:
            raise StoreUnavailable(str(exc)) from exc
        return _ticket(row, [_line(line) for line in lines], tags)

    async def log(self, ticket_id: str) -> list[dict[str, str]]:
        """The ticket's log (everything after it opened), oldest first."""
        number = ticket_number(ticket_id)
        try:
            async with self._db.connect() as conn:
                rows = (await conn.execute(
                    select(ticket_messages)
                    .where(ticket_messages.c.ticket == number, ticket_messages.c.part == "log")
                    .order_by(ticket_messages.c.seq))).all()
        except DatabaseUnavailable as exc:
            raise StoreUnavailable(str(exc)) from exc
        return [_line(row) for row in rows]

    async def history(self, ticket_id: str) -> list[dict[str, Any]]:
        """Every status change: when, what, from, to, by whom; oldest first."""
        number = ticket_number(ticket_id)
        try:
            async with self._db.connect() as conn:
                rows = (await conn.execute(
                    select(ticket_history).where(ticket_history.c.ticket == number)
                    .order_by(ticket_history.c.seq))).all()
        except DatabaseUnavailable as exc:
            raise StoreUnavailable(str(exc)) from exc
        return [{"at": r.at.isoformat(), "event": r.event, "from": r.from_status,
                 "to": r.to_status, "by": r.by} for r in rows]

    async def list_open(self) -> list[Ticket]:
        """Open and pending tickets (everything a person still has), newest activity first."""
        return await self.by_status(TicketStatus.OPEN, TicketStatus.PENDING)

    async def list_resolved(self) -> list[Ticket]:
        return await self.by_status(TicketStatus.RESOLVED)

    async def by_status(self, *statuses: TicketStatus, limit: int = MAX_LISTED) -> list[Ticket]:
        """Tickets in any of `statuses`, newest activity first (without transcripts)."""
        found = await self.page(statuses=statuses, page_size=limit)
        return found.tickets

    async def for_order(self, number: str) -> list[Ticket]:
        return (await self.page(order=number, page_size=MAX_LISTED)).tickets

    async def open_requests_for(self, number: str) -> list[Ticket]:
        """The order's open and pending action requests (without transcripts or tags):
        what a replacement or exchange turn counts against the one-per-item limit.
        One statement by `ix_tickets_order`, where `for_order` is a page (the rows, a
        count and the tags: three, on a shopper's turn)."""
        try:
            return await self._db.read_brief(_open_requests, number)
        except DatabaseUnavailable as exc:
            raise StoreUnavailable(str(exc)) from exc

    async def count(self, status: TicketStatus) -> int:
        """One status's tickets, exactly (the metrics' open and pending: an index
        read of that status alone, not a count of every ticket by status)."""
        query = select(func.count()).select_from(tickets).where(
            _status_in([status]))
        try:
            async with self._db.connect() as conn:
                return int((await conn.execute(query)).scalar_one())
        except DatabaseUnavailable as exc:
            raise StoreUnavailable(str(exc)) from exc

    async def counts(self, *, channel: str | None = None, assignee: str | None = None,
                     unassigned: bool = False) -> dict[TicketStatus, int]:
        """How many tickets each status has (for the list's tabs)."""
        query = select(tickets.c.status, func.count()).group_by(tickets.c.status)
        query = query.where(*_filters(channel=channel, assignee=assignee,
                                      unassigned=unassigned))
        try:
            async with self._db.connect() as conn:
                rows = (await conn.execute(query)).all()
        except DatabaseUnavailable as exc:
            raise StoreUnavailable(str(exc)) from exc
        counts = dict.fromkeys(TicketStatus, 0)
        counts.update({TicketStatus(status): int(n) for status, n in rows})
        return counts

    async def capped_counts(self, *, cap: int | None = None) -> dict[TicketStatus, Count]:
        """Each status's tickets, counted up to `cap` (default `LIST_COUNT_CAP`), for the
        list's tabs: one statement, each count an index read that stops at `cap + 1`
        rows. An exact count of 100,000 resolved tickets reads them all (0.1-0.4 s on
        PostgreSQL), for a figure nobody needs to the last ticket."""
        cap = max(1, LIST_COUNT_CAP if cap is None else cap)
        query = select(*(_at_most([_status_in([status])], cap).label(status.value)
                         for status in TicketStatus))
        try:
            async with self._db.connect() as conn:
                row = (await conn.execute(query)).one()
        except DatabaseUnavailable as exc:
            raise StoreUnavailable(str(exc)) from exc
        return {status: Count(min(int(n), cap), int(n) > cap)
                for status, n in zip(TicketStatus, row, strict=True)}

    async def page(
        self,
        *,
        statuses: Sequence[TicketStatus] = (),
        query: str | None = None,
        order: str | None = None,
        channel: str | None = None,
        assignee: str | None = None,
        unassigned: bool = False,
        page: int = 1,
        page_size: int = PAGE_SIZE,
        tag: str | None = None,
        priority: Priority | None = None,
        team: str | None = None,
        sort: str = "activity",
        count_cap: int | None = None,
        cursor: Cursor | None = None,
    ) -> Page:
        """Tickets by the filters, newest activity first, one page at a time.
        `query` is what staff typed in the search box: a ticket id, an order number,
        a phone or email, or words of the issue, transcript or replies. `sort="due"`:
        what the desk owes soonest first (the first reply, else the resolution).

        `cursor` (`Page.next` or `Page.previous` of an earlier page; the activity
        order only, `sort="due"` pages by number): the page older or newer than
        that ticket, read from where it is in the index, so every page costs what
        the first does; `page` is then only the page's label. A newer page that
        would not fill is the first page.

        A search by words counts its matches up to `count_cap` (default
        `SEARCH_COUNT_CAP`) and past that says so (`Page.capped`, shown as "1,000+"),
        as helpdesks do: counting every ticket that says "order" costs more than the
        number is worth. Any other list counts up to `count_cap` (default
        `LIST_COUNT_CAP`, "10,000+") the same way: counting 100,000 resolved tickets
        to show "Page 1 of 2,000" reads them all."""
        conditions = _filters(channel=channel, assignee=assignee, unassigned=unassigned)
        if tag:
            conditions.append(tickets.c.number.in_(
                select(ticket_tags.c.ticket).where(ticket_tags.c.tag == tag)))
        if priority is not None:
            conditions.append(ticket_desk.c.priority == priority.value)
        if team:
            conditions.append(ticket_desk.c.team == team)
        if statuses:
            conditions.append(_status_in(statuses))
        if order is not None:
            conditions.append(tickets.c.order_number == order.strip().lstrip("#"))
        keyed = cursor if sort != "due" else None
        found = await self._page(conditions, query, sort, max(1, page), page_size,
                                 count_cap, keyed)
        if keyed is not None and not keyed.older and found.previous is None:
            return await self._page(conditions, query, sort, 1, page_size, count_cap, None)
        return found

    async def _page(self, conditions: list[Any], query: str | None, sort: str, page: int,
                    page_size: int, count_cap: int | None, cursor: Cursor | None) -> Page:
        """`page` once its filters are conditions."""
        if query is not None:
            text = search.storable(query).strip()
            exact = _exact(text)
            found_words = search.words(text)
            if not exact and not found_words:
                return Page([], 0, 1, page_size)
            if found_words and sort != "due":
                cap = SEARCH_COUNT_CAP if count_cap is None else count_cap
                cap = min(max(1, cap), MAX_COUNT_CAP)
                return await self._word_page(conditions, exact, found_words, page,
                                             page_size, cap, cursor)
            conditions = [*conditions, self._matched(exact, found_words)]
        if sort == "due":
            due = case((ticket_desk.c.first_response_at.is_(None),
                        ticket_desk.c.first_response_due), else_=ticket_desk.c.resolution_due)
            ordering: tuple[Any, ...] = (due.is_(None), due, tickets.c.number)
        else:
            ordering = _ordering(cursor)
        listed = (_select().where(*conditions, *_beyond(cursor)).order_by(*ordering)
                  .limit(page_size + 1).offset(0 if cursor else (page - 1) * page_size))
        cap = max(1, LIST_COUNT_CAP if count_cap is None else count_cap)
        total = select(_at_most(conditions, cap, _listed()))
        try:
            async with self._db.connect() as conn:
                rows = (await conn.execute(listed)).all()
                count = int((await conn.execute(total)).scalar_one())
                found = await _tickets(conn, rows)
        except DatabaseUnavailable as exc:
            raise StoreUnavailable(str(exc)) from exc
        return _paged(found, page, page_size, min(count, cap), count > cap, cursor,
                      keyed=sort != "due")

    async def _word_page(self, conditions: list[Any], exact: list[Any], words: list[str],
                         page: int, page_size: int, cap: int,
                         cursor: Cursor | None = None) -> Page:
        """A search with words, newest activity first, without reading every match.

        1. The exact matches (id, order number, email, phone: a handful, by index)
           and the newest `cap + 1` tickets holding the words (`search.newest_hits`:
           read from the index, which stops there).
        2. At most `cap` in all: those are every match, and the page is a sort of them
           (past the cursor, when there is one).
        3. More: the total is `cap`, marked capped, and the page is found by walking
           the tickets in the list's order (from the cursor, when there is one) and
           testing each for the words (`_walk`)."""
        number = tickets.c.number
        offset = 0 if cursor else (page - 1) * page_size
        ordering = _ordering(cursor)
        try:
            async with self._db.connect() as conn:
                known: set[int] = set()
                if exact:
                    known.update((await conn.execute(
                        select(number).select_from(_listed())
                        .where(*conditions, number.in_(union(*exact))))).scalars())
                words, few = await search.rarest_first(conn, words)
                hits = (await conn.execute(search.newest_hits(
                    self._db.dialect, words, _listed, number, conditions, cap + 1, few))
                        ).scalars().all()
                matched = known.union(hits)
                capped = len(matched) > cap
                numbers: list[int] = []
                if capped:
                    numbers = await self._walk(conn, [*conditions, *_beyond(cursor)], known,
                                               words, offset, page_size + 1, ordering)
                elif matched:
                    numbers = list((await conn.execute(
                        select(number).where(number.in_(sorted(matched)), *_beyond(cursor))
                        .order_by(*ordering).limit(page_size + 1).offset(offset))).scalars())
                rows = (await conn.execute(_select().where(number.in_(numbers)))).all() \
                    if numbers else []
                found = {t.number: t for t in await _tickets(conn, rows)}
        except DatabaseUnavailable as exc:
            raise StoreUnavailable(str(exc)) from exc
        return _paged([found[n] for n in numbers if n in found], page, page_size,
                      cap if capped else len(matched), capped, cursor)

    async def _walk(self, conn: AsyncConnection, conditions: list[Any], known: set[int],
                    words: list[str], offset: int, limit: int,
                    ordering: tuple[Any, ...] = _BY_ACTIVITY) -> list[int]:
        """`limit` tickets of a search with more than the cap's matches, in `ordering`
        (newest activity first, or oldest first for a newer page): the tickets by
        the filters, each tested for the words (`search.contains`). A word in that many
        tickets is common, so a page fills within a few dozen; the walk reads at most
        `WALK_WINDOW` tickets for each one it needs, and a walk that does not fill
        (the words are old news, or this is the last page) is found from every
        match, sorted, as before."""
        number, updated = tickets.c.number, tickets.c.updated_at
        walked = list(conditions)
        edge = (await conn.execute(  # the furthest activity the walk may reach
            select(updated).select_from(_listed()).where(*conditions)
            .order_by(*ordering).offset(WALK_WINDOW * (offset + limit) - 1).limit(1)
        )).scalar()
        if edge is not None:
            walked.append(updated >= edge if ordering is _BY_ACTIVITY else updated <= edge)
        hit = search.contains(self._db.dialect, words, number)
        if known:
            hit = or_(number.in_(sorted(known)), hit)
        numbers = list((await conn.execute(
            select(number).select_from(_listed()).where(*walked, hit)
            .order_by(*ordering).limit(limit).offset(offset))).scalars())
        if len(numbers) == limit or edge is None:
            return numbers
        every = self._matched([], words)
        if known:
            every = or_(tickets.c.number.in_(sorted(known)), every)
        return list((await conn.execute(
            select(tickets.c.number).select_from(_listed()).where(*conditions, every)
            .order_by(*ordering).limit(limit).offset(offset))).scalars())

    def _matched(self, exact: list[Any], words: list[str]) -> Any:
        """Every match as one set: `number IN (… UNION …)` with a branch per way of
        matching, each on its own index, rather than `OR`s: PostgreSQL cannot use an
        index for `x = … OR number IN (subquery)` and reads every ticket (0.3 s at
        100,000 tickets)."""
        branches = list(exact)
        found = search.matching(self._db.dialect, " ".join(words))
        if found is not None:
            branches.append(select(found.c.ticket))
        return tickets.c.number.in_(union(*branches))

    async def others_of(self, ticket: Ticket, limit: int = 20) -> list[Ticket]:
        """The shopper's other tickets: same conversation, or the same proven phone
        or email; newest activity first."""
        same = [tickets.c.conversation == ticket.conversation]
        if ticket.contact_phone:
            same.append(tickets.c.contact_phone == ticket.contact_phone)
        if ticket.contact_email:
            same.append(tickets.c.contact_email == ticket.contact_email)
        query = (_select()
                 .where(and_(or_(*same), tickets.c.number != ticket.number))
                 .order_by(tickets.c.updated_at.desc()).limit(limit))
        try:
            async with self._db.connect() as conn:
                return await _tickets(conn, (await conn.execute(query)).all())
        except DatabaseUnavailable as exc:
            raise StoreUnavailable(str(exc)) from exc

    # ---- the desk: priority, tags, team ---------------------------------------------

    async def set_priority(self, ticket_id: str, priority: Priority | None, by: str,
                           at: datetime) -> Ticket:
        """Staff set the priority (None: back to the merchant's rules); the SLA
        times follow it."""

        async def change(conn: AsyncConnection, ticket: Ticket) -> str | None:
            wanted = priority or self.desk.rules.priority(ticket.tags)
            if wanted is ticket.priority and (priority is None) == (ticket.priority_by is None):
                return None
            first_due, resolution_due = self.desk.due(ticket.created_at, wanted)
            await conn.execute(update(ticket_desk).where(ticket_desk.c.ticket == ticket.number)
                               .values(priority=wanted.value,
                                       priority_by=by if priority else None,
                                       first_response_due=first_due,
                                       resolution_due=resolution_due))
            return f"priority set to {wanted.value}" + ("" if priority else " (by the rules)")

        return await self._desk_change(ticket_id, change, by, at)

    async def tag(self, ticket_id: str, add: Sequence[str], remove: Sequence[str], by: str,
                  at: datetime) -> Ticket:
        """Add and remove tags; a priority the rules gave follows the new tags."""
        adding = [clean_tag(t) for t in add]
        removing = [clean_tag(t) for t in remove]

        async def change(conn: AsyncConnection, ticket: Ticket) -> str | None:
            new = [t for t in dict.fromkeys(adding) if t not in ticket.tags]
            gone = [t for t in dict.fromkeys(removing) if t in ticket.tags]
            if len(ticket.tags) + len(new) - len(gone) > MAX_TAGS:
                raise ValueError(f"a ticket has at most {MAX_TAGS} tags")
            if not new and not gone:
                return None
            if gone:
                await conn.execute(delete(ticket_tags).where(
                    ticket_tags.c.ticket == ticket.number, ticket_tags.c.tag.in_(gone)))
            if new:
                await conn.execute(insert(ticket_tags), [
                    {"ticket": ticket.number, "tag": t, "by": by, "at": at} for t in new])
            tags = [t for t in ticket.tags if t not in gone] + new
            if ticket.priority_by is None:
                wanted = self.desk.rules.priority(tags)
                if wanted is not ticket.priority:
                    first_due, resolution_due = self.desk.due(ticket.created_at, wanted)
                    await conn.execute(
                        update(ticket_desk).where(ticket_desk.c.ticket == ticket.number)
                        .values(priority=wanted.value, first_response_due=first_due,
                                resolution_due=resolution_due))
            words = [f"tagged {', '.join(new)}"] if new else []
            words += [f"untagged {', '.join(gone)}"] if gone else []
            return "; ".join(words)

        return await self._desk_change(ticket_id, change, by, at)

    async def set_team(self, ticket_id: str, team: str | None, by: str, at: datetime) -> Ticket:
        async def change(conn: AsyncConnection, ticket: Ticket) -> str | None:
            if team == ticket.team:
                return None
            await conn.execute(update(ticket_desk).where(ticket_desk.c.ticket == ticket.number)
                               .values(team=team))
            return f"moved to team {team}" if team else "no team"

        return await self._desk_change(ticket_id, change, by, at)

    async def _desk_change(
        self, ticket_id: str, change: Callable[[AsyncConnection, Ticket], Any], by: str,
        at: datetime,
    ) -> Ticket:
        """One transaction: make sure the desk row exists, apply `change`, log what it
        says happened on the ticket (a system line by `by`), tell the inbox."""
        number = ticket_number(ticket_id)
        try:
            async with self._db.begin() as conn:
                row = (await conn.execute(_select().where(tickets.c.number == number))).first()
                if row is None:
                    raise TicketNotFound(ticket_id)
                if row.priority is None:  # a ticket from before the desk existed
                    first_due, resolution_due = self.desk.due(row.created_at, Priority.NORMAL)
                    await conn.execute(insert(ticket_desk).values(
                        ticket=number, priority=Priority.NORMAL.value,
                        first_response_due=first_due, resolution_due=resolution_due))
                    row = (await conn.execute(
                        _select().where(tickets.c.number == number))).first()
                    assert row is not None
                ticket = (await _tickets(conn, [row]))[0]
                said = await change(conn, ticket)
                if said:
                    await conn.execute(insert(ticket_messages).values(
                        line_row(number, "log", log_line("system", said, at, author=by))))
        except DatabaseUnavailable as exc:
            raise StoreUnavailable(str(exc)) from exc
        if said:
            self._event("updated", ticket_id)
        found = await self.get(ticket_id)
        assert found is not None
        return found

    # ---- live events -----------------------------------------------------------

    def _event(self, kind: str, ticket_id: str) -> None:
        """Tell the inbox's open pages; the record is already safe in SQL. The event
        rides with the next Redis calls that go out (a shopper's turn: its session's
        save) or goes alone within `EVENT_DELAY_S`, not a round trip of its own; the
        caller does not wait for it."""
        sent = turn_batch(self._redis).submit(Command((
            "XADD", self.events_key, "MAXLEN", "~", EVENTS_MAXLEN, "*",
            "type", kind, "ticket", ticket_id)), lazy=EVENT_DELAY_S)
        sent.add_done_callback(functools.partial(_event_sent, kind, ticket_id))


def _event_sent(kind: str, ticket_id: str, sent: asyncio.Future[Any]) -> None:
    if not sent.cancelled() and isinstance(sent.exception(), REDIS_DOWN):
        log.warning("inbox live event %s for %s not sent: Redis is unreachable",
                    kind, ticket_id)


def _exact(text: str) -> list[Any]:
    """The ways a search box text names tickets exactly, each a select of numbers on
    its own index: a ticket id, an order number, an email, a phone."""
    other = tickets.alias("matched")  # never correlated with the outer query
    number = other.c.number
    branches: list[Any] = []
    with contextlib.suppress(TicketNotFound):
        branches.append(select(number).where(number == ticket_number(text)))
    bare = text.lstrip("#")
    if bare:
        branches.append(select(number).where(other.c.order_number == bare[:64]))
    if "@" in text:
        branches.append(select(number).where(other.c.contact_email == text.casefold()[:320]))
    digits = sum(c.isdigit() for c in text)
    if digits >= 7 and (phone := normalise_phone(text)):
        branches.append(select(number).where(other.c.contact_phone == phone))
    return branches


def _ordering(cursor: Cursor | None) -> tuple[Any, ...]:
    """The order a page is read in: newest first, or oldest first for a newer page."""
    return _BY_ACTIVITY if cursor is None or cursor.older else _OLDEST_FIRST


def _beyond(cursor: Cursor | None) -> list[Any]:
    """The tickets past `cursor` in its direction, as `(updated_at, number)` compares.
    Written as a range of `updated_at` plus the tie on the number rather than a row
    comparison, so both engines bound the read by the status (or activity) index."""
    if cursor is None:
        return []
    at, number = tickets.c.updated_at, tickets.c.number
    if cursor.older:
        return [at <= cursor.updated_at,
                or_(at < cursor.updated_at, number < cursor.number)]
    return [at >= cursor.updated_at, or_(at > cursor.updated_at, number > cursor.number)]


def _paged(found: list[Ticket], page: int, page_size: int, total: int, capped: bool,
           cursor: Cursor | None, *, keyed: bool = True) -> Page:
    """A page from the tickets read for it in the order read: up to one more than a
    page, which says another page follows that way. Newest first, with the cursors
    of the pages either side (`keyed`: the activity order; by due time, page numbers
    only)."""
    further = len(found) > page_size
    shown = found[:page_size]
    if cursor is not None and not cursor.older:
        shown.reverse()  # read oldest first, from the cursor up
        older, newer = True, further
    else:
        older, newer = further, cursor is not None or page > 1
    page = max(page, 2) if newer else 1  # a label once a cursor places the page
    if not keyed or not shown:
        return Page(shown, total, page, page_size, capped, more=older)
    first, last = shown[0], shown[-1]
    return Page(shown, total, page, page_size, capped, more=older,
                next=Cursor(last.updated_at, last.number) if older else None,
                previous=Cursor(first.updated_at, first.number, older=False)
                if newer else None)


def _status_in(statuses: Sequence[TicketStatus]) -> Any:
    """`status IN (...)` with the statuses written into the SQL, not bound: PostgreSQL
    plans each status for itself. Bound, a prepared statement goes over to a generic
    plan after five runs, one plan for every status; the one it picks for "open"
    (4 % of tickets) counted them with a full scan, 46 ms instead of 4."""
    return tickets.c.status.in_(bindparam(
        "statuses", [s.value for s in statuses], expanding=True, literal_execute=True,
        unique=True))


def _at_most(conditions: list[Any], cap: int, source: Any = tickets) -> Any:
    """The rows of `source` meeting `conditions`, counted up to `cap + 1` (a read that
    stops there): more than `cap` means "cap+"."""
    some = select(literal(1)).select_from(source).where(*conditions).limit(cap + 1)
    return select(func.count()).select_from(some.subquery()).scalar_subquery()


def _filters(*, channel: str | None, assignee: str | None, unassigned: bool) -> list[Any]:
    conditions: list[Any] = []
    if channel:
        conditions.append(tickets.c.channel == channel)
    if assignee:
        conditions.append(tickets.c.assignee == assignee)
    if unassigned:
        conditions.append(tickets.c.assignee.is_(None))
    return conditions
