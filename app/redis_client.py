"""The one place a Redis client is built: a single server, or Redis Cluster.

`REDIS_CLUSTER=true` with `REDIS_URL` at any node builds redis-py's asyncio
`RedisCluster`, which finds the other nodes itself (CLUSTER SLOTS), sends each
command to the master of its key's slot, and follows MOVED/ASK redirections. The
rest of the code sees the same command API either way: every script and MULTI
touches one slot by construction (hash tags, `conversation.keys`), and plain
pipelines may span slots (the cluster client splits them by node and sends the
parts in parallel, so they still cost one round trip of wall time).

Failover. When a master dies, its slots answer nothing until a replica is
promoted (about `cluster-node-timeout` plus an election). The cluster client
retries a failed command `CLUSTER_RETRIES` times, re-reading the slot map between
tries (with a short pause after CLUSTERDOWN); what still fails is raised as one of
`orders.redis_errors.REDIS_UNAVAILABLE` and answered 503, like a standalone Redis
that is down, and the next request after the promotion reaches the new master
without a restart. A command is retried only after an error, never after an
answer; one retried after a connection dropped mid-reply may have run once already,
which is why every change carries its own idempotency record (the message id's
dedup, the shop's idempotency keys, the tickets' unique keys): a repeat changes
nothing. One case redis-py itself raises outside its
retries, "no node of the cluster answers" (or "not every slot is covered", a
view taken mid-failover), is turned into a `ClusterUnreachable` connection error
here, so it too is "unavailable" and not a 500.
"""

from __future__ import annotations

from typing import Any, cast

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException
from redis.retry import Retry

from app.redis_connection import lean_connections

CLUSTER_RETRIES = 3
"""Tries after the first of a command that met a connection error, CLUSTERDOWN or an
uncovered slot; each re-reads the slot map first (so one that failed because a
master moved goes to the new one)."""
CONNECT_TIMEOUT_S = 3.0
REDIS_CONNECTIONS = 100
"""Connections to a Redis server one process keeps at most (redis-py's default cap)."""
REDIS_POOL_WAIT_S = 5.0
"""How long a command waits for one of them when all are busy (a burst of requests)
before it fails as "Redis unavailable". redis-py's default pool fails at once
("Too many connections"), which the open-loop benchmark showed as 503s under a
burst of a few hundred requests in flight; its `BlockingConnectionPool` queues.
(redis-py's cluster client has no blocking pool: its per-node cap stays.) See
`QueueingPool`."""


class QueueingPool(aioredis.BlockingConnectionPool):
    """redis-py's `BlockingConnectionPool` (a command waits up to `timeout` for a free
    connection) that hands out a free connection the way the default pool does
    while nobody waits. Its own checkout takes a Condition and a timeout every
    time: about 20-25 µs of client CPU per command here
    (`python -m benchmarks.redis_calls`, "app client"), a tenth of a script call.
    Once a command waits, every checkout and release goes its way, in order, so a
    command arriving later never overtakes one that waits."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._queued = 0  # checkouts on the blocking path (waiting, or about to)

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        if self._available_connections and not self._queued and not self._in_maintenance:
            return await aioredis.ConnectionPool.get_connection(self)  # type: ignore[no-untyped-call]
        self._queued += 1
        try:
            return await super().get_connection(*args, **kwargs)  # type: ignore[no-untyped-call]
        finally:
            self._queued -= 1

    async def release(self, connection: Any) -> None:
        if self._queued or self._in_maintenance:
            await super().release(connection)  # and wakes a waiting checkout
        else:
            await aioredis.ConnectionPool.release(self, connection)


class ClusterUnreachable(RedisConnectionError):
    """redis-py could not build a slot map: no node answered, or not every slot had
    a master (mid-failover)."""


class _Cluster(RedisCluster):
    """redis-py's cluster client, with its "cannot build a slot map" error (a plain
    `RedisClusterException`, also used for programming errors such as a
    cross-slot transaction) and a connection closed under a command raised as
    connection errors."""

    async def initialize(self, *args: Any, **kwargs: Any) -> RedisCluster:
        try:
            return await super().initialize(*args, **kwargs)
        except RedisClusterException as exc:
            raise ClusterUnreachable(str(exc)) from exc

    async def _execute_command(self, target_node: Any, *args: Any, **kwargs: Any) -> Any:
        """A command whose connection was closed under it during a failover is a
        connection error (retried on a fresh slot map), not an AttributeError (a 500).
        Seen in the failover test under load with redis-py 8.1."""
        try:
            return await super()._execute_command(target_node, *args, **kwargs)
        except AttributeError as exc:
            if not _closed_under_it(exc):
                raise
            self._initialize = True
            raise RedisConnectionError("connection closed during the command") from exc


def _closed_under_it(exc: AttributeError) -> bool:
    """redis-py's asyncio connection met `None` where its socket's reader or writer
    was: another task closed that connection mid-command (a failover's slot-map
    refresh disconnects the old nodes' connections, in use or not)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return (tb is not None and "NoneType" in str(exc)
            and tb.tb_frame.f_code.co_filename.endswith("redis/asyncio/connection.py"))


def redis_client(url: str, *, cluster: bool, socket_timeout: float,
                 decode_responses: bool = False) -> aioredis.Redis:
    """A client for `url`: with `cluster`, a Redis Cluster client that starts from
    that node. Typed as `redis.asyncio.Redis`: both share the command API this code
    uses, and nothing here calls what only one of them has."""
    if not cluster:
        return lean_connections(aioredis.Redis.from_pool(QueueingPool.from_url(
            url, max_connections=REDIS_CONNECTIONS, timeout=REDIS_POOL_WAIT_S,
            socket_connect_timeout=CONNECT_TIMEOUT_S, socket_timeout=socket_timeout,
            decode_responses=decode_responses)))
    client = _Cluster.from_url(
        url,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        socket_timeout=socket_timeout,
        decode_responses=decode_responses,
        retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), retries=CLUSTER_RETRIES),
    )
    return lean_connections(cast(aioredis.Redis, client))

