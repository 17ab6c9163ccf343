"""What a Redis Cluster raises mid-failover is "unavailable" (503), like a Redis
that is down; a key-naming bug (CROSSSLOT) stays a 500."""

from __future__ import annotations

import httpx
import pytest
from redis.exceptions import (
    ClusterCrossSlotError,
    ClusterDownError,
    ClusterError,
    ConnectionError,
    MasterDownError,
    SlotNotCoveredError,
    TryAgainError,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.errors import exception_handlers
from app.redis_client import ClusterUnreachable, redis_client

FAILOVER = [
    ClusterDownError("CLUSTERDOWN The cluster is down"),
    MasterDownError("MASTERDOWN Link with MASTER is down"),
    TryAgainError("TRYAGAIN Multiple keys request during rehashing of slot"),
    ClusterError("TTL exhausted."),
    SlotNotCoveredError('Slot "42" is not covered by the cluster.'),
    ClusterUnreachable("Redis Cluster cannot be connected."),
]


def app_raising(error: Exception) -> Starlette:
    async def endpoint(request: Request) -> Response:
        raise error

    return Starlette(routes=[Route("/x", endpoint)], exception_handlers=exception_handlers())


@pytest.mark.parametrize("error", FAILOVER, ids=lambda e: type(e).__name__)
async def test_a_failover_error_is_a_503_unavailable(error: Exception) -> None:
    transport = httpx.ASGITransport(app=app_raising(error))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/x")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "unavailable"
    assert response.headers["retry-after"]


async def test_a_cross_slot_bug_stays_a_500() -> None:
    transport = httpx.ASGITransport(app=app_raising(
        ClusterCrossSlotError("CROSSSLOT Keys in request don't hash to the same slot")),
        raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/x")
    assert response.status_code == 500


async def test_no_reachable_node_is_a_connection_error(closed_port_url: str) -> None:
    client = redis_client(closed_port_url.removesuffix("/0"), cluster=True, socket_timeout=1)
    try:
        with pytest.raises(ConnectionError):
            await client.ping()
    finally:
        await client.aclose()


async def test_a_connection_closed_under_a_command_is_a_retryable_connection_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """During a failover redis-py may close a connection another task is sending on;
    its `_writer` is then None. That must be retried as a connection error, never
    reach the shopper as a 500."""
    from redis.asyncio.cluster import RedisCluster
    from redis.exceptions import ConnectionError as RedisConnectionError

    from app.redis_client import _Cluster

    race = compile("None.writelines([])", "/venv/site-packages/redis/asyncio/connection.py",
                   "exec")

    async def closed_under_it(self: object, *args: object, **kwargs: object) -> None:
        exec(race)

    async def a_bug(self: object, *args: object, **kwargs: object) -> None:
        raise AttributeError("'Order' object has no attribute 'numbr'")

    client = _Cluster(host="127.0.0.1", port=1)
    monkeypatch.setattr(RedisCluster, "_execute_command", closed_under_it)
    with pytest.raises(RedisConnectionError) as raised:
        await client._execute_command(None, "GET", "k")
    assert type(raised.value) is RedisConnectionError  # the exact type redis-py retries
    monkeypatch.setattr(RedisCluster, "_execute_command", a_bug)
    with pytest.raises(AttributeError):  # our own bugs stay bugs
        await client._execute_command(None, "GET", "k")
