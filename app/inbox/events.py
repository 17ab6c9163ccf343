"""Live updates for the inbox pages: `GET /inbox/events`, server-sent events.

    id: 1712345678901-0
    event: inbox
    data: {"type": "created" | "updated" | "message" | "resolved" | "reopened"
                   | "delivery", "ticket": "T-1001" | "outbox": "<id>", "state": ...}

Each event is an entry of the inbox's event stream (`conversation.tickets` writes
one with every ticket change; `conversation.delivery` one per delivery attempt).
Events carry ids only, never text: the page fetches what changed through its
usual, escaped, rendering. A reconnect sends `Last-Event-ID` and gets what it
missed. Same session cookie as the pages; anonymous requests get 401.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from app.inbox.auth import Staff
from app.inbox.http import api_route
from app.resources import REDIS_DOWN, Resources
from channels.web_push import check_event_id
from conversation.keys import Keys

log = logging.getLogger(__name__)

HEARTBEAT_S = 8.0  # below the Redis client's socket timeout (a blocking XREAD)
LIFETIME_S = 300.0
RECONNECT_MS = 2000
BATCH = 100


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def events(request: Request, staff: Staff) -> Response:
    resources: Resources = request.state.resources
    key = Keys(resources.settings.redis_prefix).inbox_events()
    after = request.headers.get("last-event-id")
    try:
        cursor = check_event_id(after.strip()) if after else None
    except ValueError:
        cursor = None
    if cursor is None:
        last: Any = await resources.redis.xrevrange(key, count=1)
        cursor = _text(last[0][0]) if last else "0-0"
    closing: asyncio.Event | None = getattr(request.app.state, "closing", None)
    return StreamingResponse(
        _stream(resources.redis, key, cursor, closing),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _stream(
    redis: aioredis.Redis, key: str, cursor: str, closing: asyncio.Event | None
) -> AsyncIterator[str]:
    yield f"retry: {RECONNECT_MS}\n\n"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + LIFETIME_S
    try:
        while not (closing and closing.is_set()):
            wait = min(HEARTBEAT_S, deadline - loop.time())
            if wait <= 0:
                return
            response: Any = await redis.xread({key: cursor}, count=BATCH,
                                              block=max(1, int(wait * 1000)))
            streams = response.items() if isinstance(response, dict) else response or ()
            sent = False
            for _key, entries in streams:
                for entry_id, fields in entries:
                    cursor = _text(entry_id)
                    data = {_text(k): _text(v) for k, v in fields.items()}
                    yield f"id: {cursor}\nevent: inbox\ndata: {json.dumps(data)}\n\n"
                    sent = True
            if not sent:
                yield ":\n\n"
    except REDIS_DOWN as exc:
        log.warning("inbox event stream ended: Redis unavailable (%s)", type(exc).__name__)


routes = [api_route("/inbox/events", events, methods=["GET"])]
