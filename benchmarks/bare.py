"""The ceiling: one Starlette route that reads and parses a JSON body and answers 200.

Beside it, a reference (`/bare-redis`): the same route plus one Redis GET and one
SET through redis-py's asyncio client, the least any turn that keeps state in
Redis can cost. The issue that asked for the benchmark measured it at about a
quarter of the bare route; the ratio of the bot to it says how much of the budget
above plain Redis access the dialogue itself takes.

Started by `benchmarks.serve` exactly like the bot (one uvicorn worker, uvloop,
httptools, the same log configuration, the same core), so the ratio between the
two measures what the bot's own work costs, not the server around it.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.redis_connection import lean_connections
from app.resources import REDIS_SOCKET_TIMEOUT_S


async def parse_and_answer(request: Request) -> Response:
    json.loads(await request.body())
    return Response(b'{"ok":true}', media_type="application/json")


async def parse_get_set_and_answer(request: Request) -> Response:
    data = json.loads(await request.body())
    redis: aioredis.Redis = request.app.state.redis
    key = f"{request.app.state.prefix}bare:{data.get('conversation', '-')}"
    await redis.get(key)
    await redis.set(key, data.get("message_id", ""), ex=60)
    return Response(b'{"ok":true}', media_type="application/json")


@asynccontextmanager
async def _redis(app: Starlette) -> AsyncIterator[None]:
    """The bot's own settings: `REDIS_URL` and `REDIS_PREFIX`, as the bench sets them."""
    app.state.redis = lean_connections(aioredis.Redis.from_url(  # as the bot's own client
        os.environ.get("REDIS_URL", "redis://127.0.0.1:6379"), socket_connect_timeout=3,
        socket_timeout=REDIS_SOCKET_TIMEOUT_S,
    ))
    app.state.prefix = os.environ.get("REDIS_PREFIX", "ohb:")
    try:
        yield
    finally:
        await app.state.redis.aclose()


def create_app() -> Starlette:
    return Starlette(routes=[
        Route("/bare", parse_and_answer, methods=["POST"]),
        Route("/bare-redis", parse_get_set_and_answer, methods=["POST"]),
    ], lifespan=_redis)
