"""Is a worker running? The worker says so, the web process listens.

Every worker (`python -m app worker`, or the consumer inside the web process with
the embedded default) writes `{prefix}worker:heartbeat` every `BEAT_EVERY_S`
seconds with a `BEAT_TTL_S` expiry: the key exists while at least one worker is
alive. In the same beat it publishes its metrics (`app.metrics.Board`), so one
scrape of any web process shows the worker's deliveries too.

A web process without the in-process consumer (`REDIS_URL` set) watches the key:
it logs a warning at start and every `WARN_EVERY_S` while no worker is seen, and
`WorkerWatch.missing` turns on the inbox's banner, because staff replies and
notifications then wait in the outbox and nothing else would say why.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import redis.asyncio as aioredis

from app.healthcheck import touch_beat_file
from app.resources import REDIS_DOWN
from conversation import metrics

if TYPE_CHECKING:
    from app.metrics import Board

log = logging.getLogger(__name__)

BEAT_EVERY_S = 10.0
BEAT_TTL_S = 30
WATCH_EVERY_S = 15.0
WARN_EVERY_S = 300.0


def heartbeat_key(prefix: str) -> str:
    return f"{prefix}worker:heartbeat"


async def worker_seen(redis: aioredis.Redis, prefix: str) -> bool:
    """Raises what Redis raises when it is down."""
    return bool(await redis.exists(heartbeat_key(prefix)))


async def keep_beating(
    redis: aioredis.Redis, prefix: str, name: str, stop: asyncio.Event,
    board: Board | None = None, every: float = BEAT_EVERY_S,
) -> None:
    """The worker's side: beat (and publish its numbers) until `stop`, or until
    cancelled (a cancellation can get lost on the way, in Python 3.11's wait_for
    or a client library, so the loop also asks whether its task is cancelled)."""
    me = asyncio.current_task()
    while not stop.is_set() and not (me and me.cancelling()):
        try:
            await redis.set(heartbeat_key(prefix), name, ex=BEAT_TTL_S)
            touch_beat_file()  # the container's HEALTHCHECK reads it
            if board is not None:
                await board.publish()
        except REDIS_DOWN:
            metrics.STORE_ERRORS.labels("redis").inc()  # the outbox logs the outage
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)


@dataclass
class WorkerWatch:
    """The web process's view: `missing` is True once a look found no heartbeat
    (None: not looked yet, or the consumer runs in this process)."""

    in_process: bool
    missing: bool | None = None
    _warned_at: float | None = None

    async def look(self, redis: aioredis.Redis, prefix: str) -> None:
        if self.in_process:
            return
        try:
            seen = await worker_seen(redis, prefix)
        except REDIS_DOWN:
            return  # the Redis outage is what gets logged
        if seen:
            if self.missing:
                log.info("worker heartbeat seen: staff replies and notifications are sent again")
            self.missing, self._warned_at = False, None
            return
        self.missing = True
        now = time.monotonic()
        if self._warned_at is None or now - self._warned_at >= WARN_EVERY_S:
            self._warned_at = now
            log.warning(
                "no worker heartbeat: staff replies, notifications and Telegram answers wait "
                "in the outbox until `python -m app worker` (the Procfile's worker:) runs "
                "against this Redis")


@asynccontextmanager
async def watching(
    redis: aioredis.Redis, prefix: str, watch: WorkerWatch, board: Board,
    every: float = WATCH_EVERY_S,
) -> AsyncIterator[WorkerWatch]:
    """The web process's background loop: look for the worker, publish this
    process's numbers. Stops with the process."""

    stop = asyncio.Event()

    async def once() -> None:
        await watch.look(redis, prefix)
        with contextlib.suppress(*REDIS_DOWN):
            await board.publish()

    async def loop() -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
            if not stop.is_set():
                await once()

    await once()  # at start, before the first request: the warning comes at once

    # Stopped by its event, not by cancelling: a cancellation can get lost on the
    # way (see keep_beating), and the loop would go on.
    task = asyncio.create_task(loop(), name="worker-watch")
    try:
        yield watch
    finally:
        stop.set()
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=5)
        with contextlib.suppress(*REDIS_DOWN):
            await board.withdraw()
