"""What a web process runs beside its requests to be operated: the metrics board
it publishes to, the worker watch, and tracing when it is configured."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
from starlette.applications import Starlette

from app.heartbeat import WorkerWatch, watching
from app.metrics import Board, process_name
from app.settings import Settings


@asynccontextmanager
async def observing(
    app: Starlette, settings: Settings, redis: aioredis.Redis
) -> AsyncIterator[None]:
    """`app.state.metrics_board` serves /metrics; `app.state.worker_watch` says
    whether the inbox shows the no-worker banner."""
    board = Board(redis, settings.redis_prefix, process_name("web"))
    watch = WorkerWatch(in_process=settings.runs_worker_in_process)
    app.state.metrics_board, app.state.worker_watch = board, watch
    async with watching(redis, settings.redis_prefix, watch, board):
        yield


def worker_missing(app: Starlette) -> bool:
    """For the inbox's banner: staff replies cannot be delivered (no worker seen)."""
    watch: WorkerWatch | None = getattr(app.state, "worker_watch", None)
    return bool(watch and watch.missing)
