"""Exports for admins, streamed from a server-side cursor a batch at a time, so a
year of tickets never sits in memory:

    GET /api/inbox/export/tickets.csv?from=YYYY-MM-DD&to=YYYY-MM-DD
        one row per ticket opened in the period, with its fields and tags
    GET /api/inbox/export/tickets.jsonl?from=&to=
        one JSON object per line: the ticket, its transcript and its log

Days are the shop's (`TIMEZONE`); the period defaults to the last 30 days and may
span up to `MAX_EXPORT_DAYS`. A CSV cell that a spreadsheet would run as a formula
(`=`, `+`, `-`, `@`, tab, CR) gets a leading apostrophe.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from app.inbox.auth import Staff
from app.inbox.http import api_route
from app.resources import Resources
from conversation.reports import Period
from records.db import Database
from records.schema import ticket_desk, ticket_messages, ticket_tags, tickets

BATCH = 500
MAX_EXPORT_DAYS = 3660
COLUMNS = ("id", "kind", "status", "priority", "tags", "channel", "created_at", "updated_at",
           "first_response_at", "resolved_at", "order", "assignee", "team", "resolved_by",
           "rating", "decision", "decided_by", "refusal", "request", "issue", "shopper_name",
           "contact_email", "contact_phone", "locale")
FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _period(request: Request, resources: Resources) -> Period:
    today = datetime.now(ZoneInfo(resources.settings.timezone)).date()
    period = Period.parse(request.query_params.get("from"), request.query_params.get("to"),
                          today, max_days=MAX_EXPORT_DAYS)
    return period


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    else:
        text = str(value)
    return "'" + text if text.startswith(FORMULA) else text


async def _batches(db: Database, period: Period, zone: str
                   ) -> AsyncIterator[list[dict[str, Any]]]:
    start, end = period.bounds(ZoneInfo(zone))
    query = (select(tickets, ticket_desk.c.priority, ticket_desk.c.team,
                    ticket_desk.c.first_response_at)
             .select_from(tickets.outerjoin(ticket_desk,
                                            ticket_desk.c.ticket == tickets.c.number))
             .where(tickets.c.created_at >= start, tickets.c.created_at < end)
             .order_by(tickets.c.number)
             .execution_options(stream_results=True, yield_per=BATCH))
    async with db.connect() as conn:
        result = await conn.stream(query)
        async for rows in result.partitions(BATCH):
            numbers = [row.number for row in rows]
            tags: dict[int, list[str]] = {}
            for number, tag in (await conn.execute(
                    select(ticket_tags.c.ticket, ticket_tags.c.tag)
                    .where(ticket_tags.c.ticket.in_(numbers))
                    .order_by(ticket_tags.c.at, ticket_tags.c.tag))).all():
                tags.setdefault(number, []).append(tag)
            batch = []
            for row in rows:
                data = dict(row._mapping)
                data["id"] = f"T-{row.number}"
                data["order"] = row.order_number
                data["tags"] = tags.get(row.number, [])
                batch.append(data)
            yield batch


async def _messages(db: Database, numbers: list[int]) -> dict[int, dict[str, list[Any]]]:
    found: dict[int, dict[str, list[Any]]] = {n: {"transcript": [], "log": []} for n in numbers}
    async with db.connect() as conn:
        rows = (await conn.execute(
            select(ticket_messages).where(ticket_messages.c.ticket.in_(numbers))
            .order_by(ticket_messages.c.ticket, ticket_messages.c.seq))).all()
    for row in rows:
        line = {"who": row.who, "text": row.text, "at": row.at, **(row.extra or {})}
        found[row.ticket]["transcript" if row.part == "transcript" else "log"].append(line)
    return found


async def tickets_csv(request: Request, staff: Staff) -> Response:
    resources: Resources = request.state.resources
    period = _period(request, resources)

    async def rows() -> AsyncIterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(COLUMNS)
        async for batch in _batches(resources.db, period, resources.settings.timezone):
            for data in batch:
                writer.writerow([";".join(data["tags"]) if name == "tags" else _cell(data[name])
                                 for name in COLUMNS])
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        yield buffer.getvalue()

    name = f"tickets-{period.first.isoformat()}-{period.last.isoformat()}.csv"
    return StreamingResponse(rows(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


async def tickets_jsonl(request: Request, staff: Staff) -> Response:
    resources: Resources = request.state.resources
    period = _period(request, resources)

    async def lines() -> AsyncIterator[str]:
        async for batch in _batches(resources.db, period, resources.settings.timezone):
            messages = await _messages(resources.db, [data["number"] for data in batch])
            chunk = []
            for data in batch:
                record = {name: data[name] for name in COLUMNS}
                record.update(messages[data["number"]])
                chunk.append(json.dumps(record, ensure_ascii=False, default=_json_value))
            yield "\n".join(chunk) + "\n"

    name = f"tickets-{period.first.isoformat()}-{period.last.isoformat()}.jsonl"
    return StreamingResponse(lines(), media_type="application/x-ndjson", headers={
        "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


routes = [
    api_route("/api/inbox/export/tickets.csv", tickets_csv, methods=["GET"], admin=True),
    api_route("/api/inbox/export/tickets.jsonl", tickets_jsonl, methods=["GET"], admin=True),
]
