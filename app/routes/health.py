"""Liveness and readiness, for load balancers and platform health checks."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.resources import REDIS_DOWN, Resources


async def healthz(request: Request) -> JSONResponse:
    """The process answers, and (with the embedded Valkey) its keeper has the server
    running or could start it again: no I/O, so a slow Redis never gets the process
    restarted, but an embedded server that cannot come back does (503)."""
    resources: Resources = request.state.resources
    if resources.keeper is not None and not resources.keeper.healthy:
        return JSONResponse({"status": "failing", "store": "down"}, status_code=503)
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    """Ready when Redis answers PING."""
    resources: Resources = request.state.resources
    try:
        await resources.redis.ping()
    except REDIS_DOWN:
        return JSONResponse({"redis": "unreachable"}, status_code=503)
    return JSONResponse({"redis": "ok"})


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
]
