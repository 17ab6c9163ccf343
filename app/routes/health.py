"""Liveness and readiness, for load balancers, platform health checks and people.

`/healthz` answers as long as the process runs. `/readyz` runs every check in
`CHECKS` and answers with each one's word (`{"redis": "ok", "database": "ok",
"worker": "missing"}`):
200 while this web process can serve requests, 503 when a check it cannot serve
without fails (Redis unreachable). A missing worker is reported but keeps the 200:
this process still answers chats; its staff replies wait in the outbox.

A new check is one more entry: an async function from the request to a `Health`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.heartbeat import worker_seen
from app.resources import REDIS_DOWN, Resources


@dataclass(frozen=True, slots=True)
class Health:
    word: str  # what /readyz shows for this check
    serving: bool = True  # False: this process cannot serve requests (503)


Check = Callable[[Request], Awaitable[Health]]


async def redis_check(request: Request) -> Health:
    resources: Resources = request.state.resources
    try:
        await resources.redis.ping()
    except REDIS_DOWN:
        return Health("unreachable", serving=False)
    return Health("ok")


async def worker_check(request: Request) -> Health:
    """From the worker's heartbeat; with the consumer inside this process (the
    embedded default), that consumer is the worker."""
    resources: Resources = request.state.resources
    settings = resources.settings
    if settings.runs_worker_in_process:
        return Health("ok")
    try:
        seen = await worker_seen(resources.redis, settings.redis_prefix)
    except REDIS_DOWN:
        return Health("unknown")
    return Health("ok" if seen else "missing")


async def database_check(request: Request) -> Health:
    """The records database: reported, but this process still serves shoppers
    without it (only tickets and the inbox wait for it)."""
    resources: Resources = request.state.resources
    if not await resources.db.ping():
        return Health("unreachable")
    return Health("ok" if resources.records_ready else "starting")


CHECKS: dict[str, Check] = {"redis": redis_check, "database": database_check,
                            "worker": worker_check}


async def healthz(request: Request) -> JSONResponse:
    """The process answers, and (with the embedded Valkey) its keeper has the server
    running or could start it again: no I/O, so a slow Redis never gets the process
    restarted, but an embedded server that cannot come back does (503)."""
    resources: Resources = request.state.resources
    if resources.keeper is not None and not resources.keeper.healthy:
        return JSONResponse({"status": "failing", "store": "down"}, status_code=503)
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    names = list(CHECKS)
    results = await asyncio.gather(*(CHECKS[name](request) for name in names))
    body = {name: result.word for name, result in zip(names, results, strict=True)}
    return JSONResponse(body, status_code=200 if all(r.serving for r in results) else 503)


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
]
