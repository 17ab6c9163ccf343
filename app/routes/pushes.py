"""The web chat's event stream: how a browser receives pushed messages.

    GET /api/chat/events   Authorization: Bearer <token>, or ?token=<token>
                           (EventSource cannot set headers)
                           Last-Event-ID: <id>, or ?after=<id>
        -> 200 text/event-stream

        id: 1712345678901-0
        event: replies
        data: {"replies": [{"key", "text", "buttons": [{"label", "payload"}],
                            "links": [{"label", "url"}]}]}

Each event is one outbox message (a staff reply, "your request was resolved"),
read from the conversation's push log (`channels.web_push`). On connect the
stream first replays what came after `Last-Event-ID` (everything kept, when none
is given; events carry stable ids, so a client drops any it has shown), then waits
for new ones, with a `:` comment as heartbeat when idle so proxies keep the
connection open. The token is checked before anything is read.

A plain `StreamingResponse` is enough: it already ends the stream when the client
disconnects (ASGI 2.3 servers; uvicorn). sse-starlette would add a dependency for
what is twenty lines here. A stream also ends when `app.state.closing` (an
optional `asyncio.Event`) is set, after `lifetime` seconds (the browser reconnects
on its own, with `Last-Event-ID`), and when the server cancels it on shutdown:
uvicorn waits for open responses before it shuts the app down, so run it with
`timeout_graceful_shutdown` (or set `closing` on SIGTERM).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from app.errors import error_response
from app.resources import REDIS_DOWN, Resources
from channels import web
from channels.web_push import PushEvent, WebPushLog, check_event_id
from conversation.outbox import replies_to_data

log = logging.getLogger(__name__)

HEARTBEAT_S = 8.0  # also the longest blocking read: below REDIS_SOCKET_TIMEOUT_S
LIFETIME_S = 300.0
RECONNECT_MS = 2000  # the browser's wait before reconnecting after a stream ends
BATCH = 100


def format_event(event: PushEvent) -> str:
    data = json.dumps({"replies": replies_to_data(event.replies)}, ensure_ascii=False)
    return f"id: {event.id}\nevent: replies\ndata: {data}\n\n"


def _token(request: Request) -> str:
    if "authorization" in request.headers:
        return web.bearer_token(request.headers["authorization"])
    token = request.query_params.get("token", "").strip()
    if not token:
        raise web.InvalidToken("send the chat token as 'Authorization: Bearer <token>'")
    return token


def event_routes(*, heartbeat: float = HEARTBEAT_S, lifetime: float = LIFETIME_S) -> list[Route]:
    """The routes with their timings (seconds); tests use short ones."""

    async def events(request: Request) -> Response:
        resources: Resources = request.state.resources
        session = (await resources.token_signer()).verify(_token(request))
        after = request.headers.get("last-event-id") or request.query_params.get("after")
        try:
            after = check_event_id(after.strip()) if after else None
        except ValueError:
            return error_response(400, "invalid_event_id", "Last-Event-ID is not an event id")
        pushes = WebPushLog(resources.redis, resources.settings.redis_prefix)
        first = await pushes.read(session.conversation, after, BATCH)  # a Redis outage: 503
        closing: asyncio.Event | None = getattr(request.app.state, "closing", None)
        stream = _stream(pushes, session.conversation, first, after, closing, heartbeat, lifetime)
        return StreamingResponse(
            stream,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return [Route("/api/chat/events", events, methods=["GET"])]


async def _stream(
    pushes: WebPushLog,
    conversation: str,
    first: list[PushEvent],
    cursor: str | None,
    closing: asyncio.Event | None,
    heartbeat: float,
    lifetime: float,
) -> AsyncIterator[str]:
    yield f"retry: {RECONNECT_MS}\n\n"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + lifetime
    try:
        while first:  # the replay, in pages
            for event in first:
                yield format_event(event)
            cursor = first[-1].id
            first = await pushes.read(conversation, cursor, BATCH) if len(first) == BATCH else []
        while not (closing and closing.is_set()):
            wait = min(heartbeat, deadline - loop.time())
            if wait <= 0:
                return
            events = await _wait(pushes.wait(conversation, cursor, wait, BATCH), closing)
            if events is None:
                return
            for event in events:
                yield format_event(event)
            if events:
                cursor = events[-1].id
            else:
                yield ":\n\n"
    except REDIS_DOWN as exc:
        # Ending the stream is the clean answer: the browser reconnects with its
        # Last-Event-ID, and gets a 503 until Redis is back.
        log.warning("event stream ended: Redis unavailable (%s)", type(exc).__name__)


async def _wait(
    reading: Coroutine[Any, Any, list[PushEvent]], closing: asyncio.Event | None
) -> list[PushEvent] | None:
    """The read's events, or None if `closing` was set first."""
    if closing is None:
        return await reading
    read = asyncio.ensure_future(reading)
    stop = asyncio.ensure_future(closing.wait())
    try:
        done, _ = await asyncio.wait({read, stop}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (read, stop):
            await _cancel(task)
    return read.result() if read in done else None


async def _cancel(task: asyncio.Future[Any]) -> None:
    """Cancel `task` and wait for it to end. Once may not be enough: Python 3.11's
    `asyncio.wait_for` (redis-py sends every command through one) swallows a
    cancellation that lands just as its inner future completes (CPython gh-86296,
    fixed in 3.12), and the read then went on into a blocking XREAD, so the stream
    outlived the app's closing by up to the heartbeat. So: cancel again until done."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=0.05)
    with contextlib.suppress(asyncio.CancelledError):
        await task


routes = event_routes()
