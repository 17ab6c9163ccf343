"""The desk's numbers for a period: what a support lead asks first.

For the shop's local days `first..last` (inclusive, `TIMEZONE`):

- conversations: conversation-days (a conversation counts once on each day it was
  active; `activity.ConversationDays`), in total, per day and per channel;
- settled by the bot: conversation-days on which no ticket was opened in that
  conversation, as a count and a rate of the conversations;
- hand-offs (tickets of kind `handoff`) and action requests, with their reasons
  (the refusal that led to them, from the ticket's tags, else "asked for a person");
- first response and resolution times (median, p90, average), in business hours
  (`BUSINESS_HOURS`), of the tickets opened in the period;
- satisfaction of the tickets opened in the period: count, average, distribution;
- per agent: first replies, resolutions, their times and ratings;
- from the audit log: changes carried out (by the bot or by staff) per action, and
  refusals per reason.

Everything is read from SQL; nothing here is personal (no conversation ids, no
texts), so a report never needs erasing and stays right after an erasure.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from records.db import Database, DatabaseUnavailable
from records.schema import audit_entries, conversation_days, ticket_desk, ticket_tags, tickets

from .activity import ConversationDays, conversation_hash
from .audit import What
from .desk import business_seconds
from .hours import BusinessHours
from .store import StoreUnavailable

MAX_DAYS = 366
EARLIEST = date(2000, 1, 1)
ASKED = "asked for a person"


class BadPeriod(ValueError):
    """Dates that are malformed, reversed, too long a span, or out of range."""


@dataclass(frozen=True, slots=True)
class Period:
    first: date
    last: date

    @classmethod
    def parse(cls, first: str | None, last: str | None, today: date,
              max_days: int = MAX_DAYS) -> Period:
        """`from` and `to` as YYYY-MM-DD; both default to the last 30 days."""
        try:
            end = date.fromisoformat(last) if last else today
            start = date.fromisoformat(first) if first else end - timedelta(days=29)
        except ValueError as exc:
            raise BadPeriod("dates are written YYYY-MM-DD, for example 2026-12-03") from exc
        if (last and len(last) != 10) or (first and len(first) != 10):
            raise BadPeriod("dates are written YYYY-MM-DD, for example 2026-12-03")
        if start > end:
            raise BadPeriod("'from' is after 'to'")
        if start < EARLIEST or end > today + timedelta(days=1):
            raise BadPeriod(f"dates must lie between {EARLIEST.isoformat()} and today")
        if (end - start).days + 1 > max_days:
            raise BadPeriod(f"a period covers at most {max_days} days")
        return cls(start, end)

    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    def bounds(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        return (datetime.combine(self.first, time(), zone),
                datetime.combine(self.last + timedelta(days=1), time(), zone))


def durations(values: list[float]) -> dict[str, Any]:
    """count, median, p90 (nearest rank) and average, in whole seconds."""
    if not values:
        return {"count": 0, "median": None, "p90": None, "average": None}
    ordered = sorted(values)
    p90 = ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]
    return {"count": len(ordered), "median": round(statistics.median(ordered)),
            "p90": round(p90), "average": round(statistics.fmean(ordered))}


def satisfaction(scores: list[int]) -> dict[str, Any]:
    counts = Counter(scores)
    return {"count": len(scores),
            "average": round(statistics.fmean(scores), 2) if scores else None,
            "distribution": {str(n): counts.get(n, 0) for n in range(1, 6)}}


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


async def build(db: Database, days: ConversationDays, hours: BusinessHours,
                period: Period) -> dict[str, Any]:
    await days.roll_up(db, [d for d in period.days()
                            if (datetime.now(days.zone).date() - d).days < 8])
    zone = days.zone
    start, end = period.bounds(zone)
    try:
        async with db.connect() as conn:
            conversation_rows = (await conn.execute(
                select(conversation_days.c.day, conversation_days.c.conversation,
                       conversation_days.c.channel)
                .where(conversation_days.c.day >= period.first.isoformat(),
                       conversation_days.c.day <= period.last.isoformat()))).all()
            ticket_rows = (await conn.execute(
                select(tickets.c.number, tickets.c.kind, tickets.c.channel,
                       tickets.c.conversation, tickets.c.created_at, tickets.c.resolved_at,
                       tickets.c.resolved_by, tickets.c.rating, tickets.c.assignee,
                       ticket_desk.c.first_response_at, ticket_desk.c.first_response_by)
                .select_from(tickets.outerjoin(ticket_desk,
                                               ticket_desk.c.ticket == tickets.c.number))
                .where(tickets.c.created_at >= start, tickets.c.created_at < end)
                .order_by(tickets.c.number))).all()
            numbers = [row.number for row in ticket_rows]
            tag_rows = (await conn.execute(
                select(ticket_tags.c.ticket, ticket_tags.c.tag)
                .where(ticket_tags.c.ticket.in_(numbers),
                       ticket_tags.c.tag.like("refusal:%")))).all() if numbers else []
            audit_rows = (await conn.execute(
                select(audit_entries.c.who, audit_entries.c.action, audit_entries.c.what,
                       audit_entries.c.detail)
                .where(audit_entries.c.at >= start, audit_entries.c.at < end,
                       audit_entries.c.what.in_([What.CARRIED_OUT.value,
                                                 What.NOT_ELIGIBLE.value])))).all()
    except DatabaseUnavailable as exc:
        raise StoreUnavailable(str(exc)) from exc

    refusals: dict[int, list[str]] = defaultdict(list)
    for number, tag in tag_rows:
        refusals[number].append(tag.removeprefix("refusal:"))

    day_names = [d.isoformat() for d in period.days()]
    per_day: dict[str, dict[str, Any]] = {d: _bucket() for d in day_names}
    per_channel: dict[str, dict[str, Any]] = defaultdict(_bucket)
    conversations: dict[tuple[str, str], str] = {}
    for day, hashed, channel in conversation_rows:
        conversations[(day, hashed)] = channel
        per_day[day]["conversations"] += 1
        per_channel[channel]["conversations"] += 1

    ticketed: set[tuple[str, str]] = set()
    first_response: list[float] = []
    resolution: list[float] = []
    scores: list[int] = []
    reasons: Counter[str] = Counter()
    agents: dict[str, dict[str, Any]] = defaultdict(lambda: {
        "first_responses": [], "resolutions": [], "ratings": []})
    for row in ticket_rows:
        day = row.created_at.astimezone(zone).date().isoformat()
        key = (day, conversation_hash(row.conversation))
        bucket, by_channel = per_day[day], per_channel[row.channel]
        for target in (bucket, by_channel):
            target["tickets"] += 1
            target["handoffs" if row.kind == "handoff" else "requests"] += 1
        if key in conversations:
            ticketed.add(key)
        for reason in refusals.get(row.number) or [ASKED if row.kind == "handoff" else ""]:
            if reason:
                reasons[reason] += 1
        if row.first_response_at is not None:
            seconds = business_seconds(hours, row.created_at, row.first_response_at)
            first_response.append(seconds)
            if row.first_response_by:
                agents[row.first_response_by]["first_responses"].append(seconds)
        if row.resolved_at is not None:
            seconds = business_seconds(hours, row.created_at, row.resolved_at)
            resolution.append(seconds)
            if row.resolved_by:
                agents[row.resolved_by]["resolutions"].append(seconds)
        if row.rating is not None:
            scores.append(int(row.rating))
            bucket["ratings"].append(int(row.rating))
            by_channel["ratings"].append(int(row.rating))
            agent = row.resolved_by or row.assignee
            if agent:
                agents[agent]["ratings"].append(int(row.rating))
    for day, hashed in ticketed:
        per_day[day]["with_ticket"] += 1
        per_channel[conversations[(day, hashed)]]["with_ticket"] += 1

    carried: dict[str, Counter[str]] = {"bot": Counter(), "staff": Counter()}
    refused: Counter[str] = Counter()
    refused_by_action: dict[str, Counter[str]] = defaultdict(Counter)
    for who, action, what, detail in audit_rows:
        if what == What.CARRIED_OUT.value:
            carried["staff" if who.startswith("staff ") else "bot"][action] += 1
        elif detail:
            refused[detail] += 1
            refused_by_action[action][detail] += 1

    total_conversations = len(conversations)
    settled = total_conversations - len(ticketed)
    handoffs = sum(1 for row in ticket_rows if row.kind == "handoff")
    requests = len(ticket_rows) - handoffs
    return {
        "from": period.first.isoformat(),
        "to": period.last.isoformat(),
        "timezone": str(zone),
        "conversations": total_conversations,
        "settled_by_bot": settled,
        "settled_by_bot_rate": _rate(settled, total_conversations),
        "tickets": len(ticket_rows),
        "handoffs": {"count": handoffs, "rate": _rate(handoffs, total_conversations),
                     "reasons": dict(reasons.most_common())},
        "requests": requests,
        "first_response_seconds": durations(first_response),
        "resolution_seconds": durations(resolution),
        "csat": satisfaction(scores),
        "changes_carried_out": {
            "total": sum(carried["bot"].values()) + sum(carried["staff"].values()),
            "by_bot": dict(carried["bot"]), "by_staff": dict(carried["staff"])},
        "refusals": {"total": sum(refused.values()), "by_reason": dict(refused.most_common()),
                     "by_action": {a: dict(c) for a, c in refused_by_action.items()}},
        "per_day": [_finish(bucket, date=day) for day, bucket in per_day.items()],
        "per_channel": {channel: _finish(bucket) for channel, bucket
                        in sorted(per_channel.items())},
        "per_agent": {agent: {
            "first_responses": durations(data["first_responses"]),
            "resolved": durations(data["resolutions"]),
            "csat": satisfaction(data["ratings"])}
            for agent, data in sorted(agents.items())},
    }


def _bucket() -> dict[str, Any]:
    return {"conversations": 0, "with_ticket": 0, "tickets": 0, "handoffs": 0, "requests": 0,
            "ratings": []}


def _finish(bucket: dict[str, Any], **head: str) -> dict[str, Any]:
    settled = bucket["conversations"] - bucket["with_ticket"]
    ratings = bucket["ratings"]
    return {**head, "conversations": bucket["conversations"], "settled_by_bot": settled,
            "settled_by_bot_rate": _rate(settled, bucket["conversations"]),
            "tickets": bucket["tickets"], "handoffs": bucket["handoffs"],
            "requests": bucket["requests"],
            "csat": {"count": len(ratings),
                     "average": round(statistics.fmean(ratings), 2) if ratings else None}}
