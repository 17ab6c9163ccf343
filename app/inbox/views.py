"""What the inbox shows, as plain data: the same dicts feed the pages (Jinja2
escapes every value) and the JSON API.

A shopper the channel did not prove and who did not verify the order is shown
masked (`a****@example.in`, `+91******5678`, `A. I.`): staff see that it may not be
the order's owner. The order is fetched from the back-end now; when the back-end
does not answer, the snapshot kept on the ticket is shown, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis

from app.inbox.readable import Readable
from app.inbox.team import StaffDesk
from conversation.attachments import ATTACHMENTS, split
from conversation.delivery import DeliveryStates
from conversation.desk import MAX_TAG_CHARS, Priority
from conversation.paging import BadCursor, Cursor
from conversation.tickets import Ticket, TicketStatus, TicketStore
from media.store import Attachment, MediaStore
from orders.backend import BackendUnavailable, OrderBackend

PREVIEW_CHARS = 90
MAX_QUERY_CHARS = 200
MAX_PAGE = 100_000


def _page_number(raw: object) -> int:
    text = str(raw or "1")
    return min(int(text), MAX_PAGE) if text.isdigit() and int(text[:7]) > 0 else 1


def mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}{'*' * max(len(local) - 1, 3)}@{domain}" if domain else "***"


def mask_phone(phone: str) -> str:
    digits = phone.strip()
    return digits[:3] + "*" * max(len(digits) - 7, 3) + digits[-4:] if len(digits) > 7 else "***"


def mask_name(name: str) -> str:
    return " ".join(f"{part[:1]}." for part in name.split()) or "***"


@dataclass(frozen=True, slots=True)
class ListFilter:
    status: TicketStatus = TicketStatus.OPEN
    channel: str | None = None
    who: str | None = None  # mine | unassigned | team (the queue of my team)
    query: str | None = None
    page: int = 1
    tag: str | None = None
    priority: Priority | None = None
    team: str | None = None
    sort: str = "activity"  # activity | due
    cursor: Cursor | None = None  # `before=` / `after=`: the page older / newer than a ticket

    @classmethod
    def parse(cls, params: Any) -> ListFilter:
        status = params.get("status") or "open"
        priority = params.get("priority")
        tag = _printable(" ".join((params.get("tag") or "").split()).casefold())[:MAX_TAG_CHARS]
        return cls(
            tag=tag or None,
            priority=Priority(priority) if priority in Priority._value2member_map_ else None,
            team=_printable((params.get("team") or "").strip())[:64] or None,
            sort="due" if params.get("sort") == "due" else "activity",
            status=TicketStatus(status) if status in TicketStatus._value2member_map_ else
            TicketStatus.OPEN,
            channel=params.get("channel") or None,
            who=params.get("who") if params.get("who") in ("mine", "unassigned", "team")
            else None,
            query=" ".join((params.get("q") or "").split())[:MAX_QUERY_CHARS] or None,
            page=_page_number(params.get("page")),
            cursor=_cursor(params),
        )


def _cursor(params: Any) -> Cursor | None:
    """The page's place from `before` or `after` (tokens from an earlier answer's
    `next` and `previous`); BadCursor for a token this list did not give out."""
    before, after = params.get("before"), params.get("after")
    if before is not None and after is not None:
        raise BadCursor("give `before` or `after`, not both")
    if before is not None:
        return Cursor.parse(before)
    if after is not None:
        return Cursor.parse(after, older=False)
    return None


def _printable(text: str) -> str:
    """Without control characters (PostgreSQL refuses NUL in text)."""
    return "".join(c for c in text if c.isprintable())


class Reads:
    """When each staff member last read each ticket (unread marks)."""

    def __init__(self, redis: aioredis.Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    def _key(self, email: str) -> str:
        return f"{self._prefix}inbox:read:{{{email}}}"

    async def mark(self, email: str, ticket: Ticket) -> None:
        await self._redis.hset(self._key(email), ticket.id, ticket.updated_at.isoformat())

    async def unread(self, email: str, tickets: list[Ticket]) -> set[str]:
        if not tickets:
            return set()
        seen = await self._redis.hmget(self._key(email), [t.id for t in tickets])
        unread = set()
        for ticket, raw in zip(tickets, seen, strict=True):
            last = ticket.last_shopper_at or ticket.created_at
            read_at = datetime.fromisoformat(raw.decode() if isinstance(raw, bytes) else raw) \
                if raw else None
            if read_at is None or read_at < last:
                unread.add(ticket.id)
        return unread


@dataclass(frozen=True, slots=True)
class Listing:
    """One page of the list as the page and the API show it."""

    tickets: list[dict[str, Any]]
    total: int
    page: int
    pages: int
    capped: bool = False  # a search found more than `total` (its count stops there)
    more: bool = False  # another page follows
    next: str | None = None  # the older page's `before=` token
    previous: str | None = None  # the newer page's `after=` token

    def as_json(self) -> dict[str, Any]:
        return {"tickets": self.tickets, "total": self.total, "total_capped": self.capped,
                "page": self.page, "pages": self.pages, "more": self.more,
                "next": self.next, "previous": self.previous}


async def list_tickets(
    tickets: TicketStore, reads: Reads, me: str, wanted: ListFilter
) -> Listing:
    """A search (any status) or one status's tickets, newest activity first, a page
    at a time, with the channel and assignee filters applied in the database. A
    search by words counts to `SEARCH_COUNT_CAP` and then says "1,000+" (`capped`)."""
    team = wanted.team
    if wanted.who == "team":
        team = (await StaffDesk(tickets.database).get(me)).team
        if team is None:  # no team, no team queue
            return Listing([], 0, 1, 1)
    found = await tickets.page(
        statuses=() if wanted.query else (wanted.status,),
        query=wanted.query,
        channel=wanted.channel,
        assignee=me if wanted.who == "mine" else None,
        unassigned=wanted.who == "unassigned",
        page=wanted.page,
        tag=wanted.tag,
        priority=wanted.priority,
        team=team,
        sort=wanted.sort,
        cursor=wanted.cursor,
    )
    unread = await reads.unread(me, found.tickets)
    return Listing([summary(t, t.id in unread) for t in found.tickets], found.total,
                   found.page, found.pages, found.capped, found.more,
                   found.next.token() if found.next else None,
                   found.previous.token() if found.previous else None)


def summary(ticket: Ticket, unread: bool = False) -> dict[str, Any]:
    issue = ticket.issue or (request_words(ticket.request) if ticket.request else "")
    return {
        "id": ticket.id,
        "kind": ticket.kind,
        "status": ticket.status.value,
        "channel": ticket.channel,
        "order": ticket.order,
        "assignee": ticket.assignee,
        "preview": issue[:PREVIEW_CHARS] + ("…" if len(issue) > PREVIEW_CHARS else ""),
        "created_at": ticket.created_at.isoformat(),
        "updated_at": ticket.updated_at.isoformat(),
        "unread": unread,
        "rating": ticket.rating,
        "decision": ticket.decision.value if ticket.decision else None,
        "priority": ticket.priority.value,
        "tags": ticket.tags,
        "team": ticket.team,
        "due": _iso(ticket.due),
        "due_kind": None if ticket.due is None else (
            "first_response" if ticket.first_response_at is None else "resolution"),
        "overdue": ticket.overdue(datetime.now(UTC)),
    }


def request_words(request: dict[str, Any]) -> str:
    parts = [str(request.get("action", "")), f"order #{request.get('number', '')}"]
    if request.get("quantity"):
        parts.append(f"× {request['quantity']}")
    if request.get("reason"):
        parts.append(str(request["reason"]).replace("_", " ").lower())
    return " · ".join(parts)


async def ticket_detail(
    ticket: Ticket, tickets: TicketStore, states: DeliveryStates, backend: OrderBackend,
    readable: Readable | None = None, media: MediaStore | None = None,
) -> dict[str, Any]:
    log = await tickets.log(ticket.id)
    files = await media.many(
        i for line in [*ticket.transcript, *log] for i in split(line.get(ATTACHMENTS))
    ) if media is not None else {}
    delivery = await states.get_many([m["outbox"] for m in log if m.get("outbox")])
    order, order_live = await _order(ticket, backend)
    verified = ticket.order_verified or bool(ticket.contact_phone or ticket.contact_email)
    shopper = _shopper(ticket, order, verified)
    if order is not None and not ticket.order_verified:
        # the shopper typed this number but did not prove it is theirs
        address = order.get("shipping_address") or {}
        order = {**order, "customer": {k: shopper[k] for k in ("name", "email", "phone")},
                 "shipping_address": {"city": address.get("city", ""),
                                      "country": address.get("country", "")}}
    data = summary(ticket)
    data.update({
        "conversation": ticket.conversation,
        "locale": ticket.locale,
        "issue": ticket.issue,
        "refusal": ticket.refusal,
        "request": ticket.request,
        "order_verified": ticket.order_verified,
        "shopper": shopper,
        "order_snapshot": order,
        "order_live": order_live,
        "resolved_at": ticket.resolved_at.isoformat() if ticket.resolved_at else None,
        "resolved_by": ticket.resolved_by,
        "decided_by": ticket.decided_by,
        "decision_reason": ticket.decision_reason,
        "transcript": [_line(line, before=True, files=files) for line in ticket.transcript]
        + [_line(line, delivery=delivery, files=files) for line in log],
        "priority_by": ticket.priority_by,
        "first_response_at": _iso(ticket.first_response_at),
        "first_response_by": ticket.first_response_by,
        "history": await tickets.history(ticket.id),
        "others": [summary(t) for t in await tickets.others_of(ticket)],
    })
    if readable is not None:
        _in_words(data, ticket, readable)
    return data


def _in_words(data: dict[str, Any], ticket: Ticket, readable: Readable) -> None:
    """Tapped buttons as their labels, the request and the order in words."""
    snapshot = data.get("order_snapshot") or ticket.order_snapshot
    for line in data["transcript"]:
        if line["who"] == "shopper" and (found := readable.tapped(
                line["text"], ticket.locale, snapshot)):
            line["text"], line["payload"], line["tapped"] = found[0], found[1], True
    if ticket.refusal:
        data["refusal_words"] = readable.refusal_words(ticket.refusal, snapshot)
    if ticket.request:
        data["request_words"] = readable.request_words(ticket.request, snapshot)
        data["preview"] = data["request_words"][:PREVIEW_CHARS]
    if data.get("order_snapshot"):
        data["order_snapshot"] = readable.order(data["order_snapshot"])


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _line(
    line: dict[str, str], *, before: bool = False,
    delivery: dict[str, dict[str, str]] | None = None,
    files: dict[str, Attachment] | None = None,
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "who": line.get("who", "system"),
        "text": line.get("text", ""),
        "at": line.get("at"),
        "author": line.get("author"),
        "before_handoff": before,
        "attachments": [(files or {})[i].as_json() for i in split(line.get(ATTACHMENTS))
                        if i in (files or {})],
    }
    if line.get("outbox"):
        state = (delivery or {}).get(line["outbox"], {})
        entry["delivery"] = {
            "state": state.get("state", "queued"),
            "attempts": int(state.get("attempts") or 0),
            "error": state.get("error") or None,
        }
    return entry


async def _order(ticket: Ticket, backend: OrderBackend) -> tuple[dict[str, Any] | None, bool]:
    if not ticket.order:
        return None, False
    try:
        order = await backend.get_order(ticket.order)
    except BackendUnavailable:
        return ticket.order_snapshot, False
    if order is None:
        return ticket.order_snapshot, False
    return order.model_dump(mode="json"), True


def _shopper(ticket: Ticket, order: dict[str, Any] | None, verified: bool) -> dict[str, Any]:
    customer = (order or {}).get("customer") or {}
    name, email, phone = customer.get("name"), customer.get("email"), customer.get("phone")
    if not ticket.order_verified:
        name = mask_name(name) if name else None
        email = mask_email(email) if email else None
        phone = mask_phone(phone) if phone else None
    return {
        "verified": verified,
        "proven_phone": ticket.contact_phone,
        "proven_email": ticket.contact_email,
        "name": name,
        "email": email,
        "phone": phone,
        "masked": not ticket.order_verified,
    }
