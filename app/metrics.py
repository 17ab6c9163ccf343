"""`GET /metrics`: the Prometheus text format, for every process at once.

Several processes (web processes behind a load balancer, workers in their own
containers, on other hosts) each count in their own memory
(`conversation.metrics`). So every process publishes its numbers to Redis every
few seconds (`Board.publish`, from the web process's watch loop and the worker's
heartbeat), and a scrape of any web process answers with its own live numbers
plus every other live process's latest, each series labelled `process`. A process
that stops drops out after `SNAPSHOT_TTL_S`. Scrape one address: any web process
answers for all.

Numbers that belong to no process are read from Redis at scrape time: the
outbox's depth and the age of its oldest message per channel, dead letters,
tickets by status (through `TicketStore.count`), and whether a worker's heartbeat
is there.

Access: with `METRICS_TOKEN`, a request with `Authorization: Bearer <token>`;
with `METRICS_ALLOW`, a client address in those networks (after
`TRUSTED_PROXIES`); with neither, only a loopback client that came through no
proxy. Anything else is refused (401 with a token set, else 403).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import os
import socket
import time
from collections.abc import Iterable, Sequence
from typing import Any

import redis.asyncio as aioredis
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.errors import error_response
from app.heartbeat import worker_seen
from app.resources import REDIS_DOWN, Resources, outbox_for
from app.settings import Settings
from conversation import metrics
from conversation.outbox import Deliver, OutboxMessage, RetryPolicy, SendLater, Undeliverable
from conversation.tickets import TicketStatus

SNAPSHOT_TTL_S = 60
SCAN_CAP = 10_000
"""Outbox entries read per scrape for the per-channel figures; the total is exact
beyond it (`orderhelp_outbox_backlog`), the per-channel ones count the oldest."""

# KEYS[1]: the outbox stream. ARGV[1]: the most entries to read. Returns a flat
# list: channel, count, oldest id, channel, count, oldest id, ...
_SCAN_OUTBOX = """
local cap = tonumber(ARGV[1])
local chunk = 500
local counts, oldest, order = {}, {}, {}
local start, seen = '-', 0
while seen < cap do
  local entries = redis.call('XRANGE', KEYS[1], start, '+', 'COUNT', math.min(chunk, cap - seen))
  if #entries == 0 then break end
  for _, entry in ipairs(entries) do
    local fields, channel = entry[2], ''
    for i = 1, #fields, 2 do
      if fields[i] == 'channel' then channel = fields[i + 1] break end
    end
    if not counts[channel] then
      counts[channel], oldest[channel] = 0, entry[1]
      table.insert(order, channel)
    end
    counts[channel] = counts[channel] + 1
  end
  seen = seen + #entries
  if #entries < chunk then break end
  start = '(' .. entries[#entries][1]
end
local out = {}
for _, channel in ipairs(order) do
  table.insert(out, channel)
  table.insert(out, counts[channel])
  table.insert(out, oldest[channel])
end
return out
"""


def process_name(role: str) -> str:
    """Unique per process start; the `process` label of its series."""
    return f"{role}-{socket.gethostname()}-{os.getpid()}"


# --- every process's numbers, through Redis ---------------------------------------


def _dump(families: Iterable[Metric]) -> list[Any]:
    return [[f.name, f.documentation, f.type, [[s.name, s.labels, s.value] for s in f.samples]]
            for f in families]


def _load(raw: str | bytes) -> list[Metric]:
    families = []
    for name, documentation, kind, samples in json.loads(raw):
        family = Metric(name, documentation, kind)
        for sample_name, labels, value in samples:
            family.add_sample(sample_name, labels, value)
        families.append(family)
    return families


class Board:
    """Where each process leaves its numbers for whichever web process is scraped.
    Keys share the `{metrics}` hash tag, so one MGET reads them on a cluster too."""

    def __init__(self, redis: aioredis.Redis, prefix: str, me: str,
                 registry: Collector = REGISTRY) -> None:
        self._redis = redis
        self._base = f"{prefix}{{metrics}}"
        self.me = me
        self._registry = registry

    def _key(self, name: str) -> str:
        return f"{self._base}:process:{name}"

    @property
    def _index(self) -> str:
        return f"{self._base}:processes"

    def own(self) -> list[Metric]:
        return list(self._registry.collect())

    async def publish(self) -> None:
        now = time.time()
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.set(self._key(self.me), json.dumps(_dump(self.own())), ex=SNAPSHOT_TTL_S)
            pipe.zadd(self._index, {self.me: now})
            pipe.zremrangebyscore(self._index, "-inf", now - SNAPSHOT_TTL_S)
            await pipe.execute()

    async def withdraw(self) -> None:
        """A clean stop: its series go at once (a crash's go after the TTL)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.delete(self._key(self.me))
            pipe.zrem(self._index, self.me)
            await pipe.execute()

    async def others(self) -> list[tuple[str, list[Metric]]]:
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in
                 await self._redis.zrangebyscore(self._index, time.time() - SNAPSHOT_TTL_S,
                                                 "+inf")]
        names = [n for n in names if n != self.me]
        if not names:
            return []
        found = await self._redis.mget([self._key(n) for n in names])
        return [(n, _load(raw)) for n, raw in zip(names, found, strict=True) if raw]


def merge(processes: Sequence[tuple[str, list[Metric]]]) -> list[Metric]:
    """One family per name, each sample labelled with its process."""
    merged: dict[str, Metric] = {}
    for process, families in processes:
        for family in families:
            into = merged.setdefault(
                family.name, Metric(family.name, family.documentation, family.type))
            for sample in family.samples:
                into.add_sample(sample.name, {**sample.labels, "process": process},
                                sample.value)
    return list(merged.values())


# --- figures read from Redis at scrape time --------------------------------------


async def shared_figures(resources: Resources) -> list[Metric]:
    redis = resources.redis
    prefix = resources.settings.redis_prefix
    now = time.time()
    # the outbox's partitions (`OUTBOX_PARTITIONS`), each its own slot: one script
    # per partition, summed here
    backlog_n = dead_n = 0
    per_channel: dict[str, tuple[int, float]] = {}  # channel: (queued, oldest ms)
    scan = redis.register_script(_SCAN_OUTBOX)
    for part in outbox_for(resources.settings, redis).partitions:
        backlog_n += int(await redis.xlen(part.stream))
        dead_n += int(await redis.xlen(part.dead))
        flat: Any = await scan(keys=[part.stream], args=[SCAN_CAP])
        for i in range(0, len(flat), 3):
            channel = _text(flat[i])
            first_ms = float(_text(flat[i + 2]).split("-")[0])
            count, first = per_channel.get(channel, (0, first_ms))
            per_channel[channel] = (count + int(flat[i + 1]), min(first, first_ms))
    backlog = GaugeMetricFamily(
        "orderhelp_outbox_backlog", "Messages in the outbox, not yet delivered nor dead")
    backlog.add_metric([], backlog_n)
    dead = GaugeMetricFamily(
        "orderhelp_outbox_dead_letters", "Messages given up on, kept in the dead-letter stream")
    dead.add_metric([], dead_n)
    queued = GaugeMetricFamily(
        "orderhelp_outbox_queued", "Undelivered messages per channel", labels=["channel"])
    oldest = GaugeMetricFamily(
        "orderhelp_outbox_oldest_age_seconds",
        "Age of the oldest undelivered message per channel", labels=["channel"])
    for channel, (count, first_ms) in per_channel.items():
        queued.add_metric([channel], count)
        oldest.add_metric([channel], max(0.0, now - first_ms / 1000))
    tickets = GaugeMetricFamily(
        "orderhelp_tickets", "Tickets waiting for staff, by status", labels=["status"])
    for status in (TicketStatus.OPEN, TicketStatus.PENDING):
        tickets.add_metric([status.value], await resources.tickets.count(status))
    worker = GaugeMetricFamily(
        "orderhelp_worker_up", "1 while a worker's heartbeat is in Redis")
    worker.add_metric([], 1 if (resources.settings.runs_worker_in_process
                                or await worker_seen(redis, prefix)) else 0)
    return [backlog, dead, queued, oldest, tickets, worker]


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class _Families(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


async def exposition(resources: Resources, board: Board) -> bytes:
    processes: list[tuple[str, list[Metric]]] = [(board.me, board.own())]
    figures: list[Metric] = []
    try:
        processes += await board.others()
        figures = await shared_figures(resources)
    except REDIS_DOWN:
        metrics.STORE_ERRORS.labels("redis").inc()
        processes = [(board.me, board.own())]  # this process's numbers still count
    return generate_latest(_Families([*merge(processes), *figures]))


# --- who may read them --------------------------------------------------------------


def allowed(request: Request, settings: Settings) -> bool:
    token = settings.metrics_token
    if token is not None and token.get_secret_value():
        given = request.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            value.strip().encode(), token.get_secret_value().encode()
        ):
            return True
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if settings.metrics_allow:
        return any(address in network for network in settings.metrics_allow)
    if token is not None:
        return False
    # Neither set: this machine only, and not through a proxy on it (a request
    # that a local proxy passed on from the internet also comes from loopback).
    proxied = "x-forwarded-for" in request.headers or "forwarded" in request.headers
    return address.is_loopback and not proxied


async def metrics_endpoint(request: Request) -> Response:
    resources: Resources = request.state.resources
    settings = resources.settings
    if not allowed(request, settings):
        if settings.metrics_token is not None:
            return error_response(401, "unauthorized", "send the metrics token as a bearer token",
                                  headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
        return error_response(403, "forbidden", "metrics are served to allowed addresses only; "
                              "see METRICS_TOKEN and METRICS_ALLOW")
    board: Board | None = getattr(request.app.state, "metrics_board", None)
    if board is None:  # a process without the watch loop (tests building the app bare)
        board = Board(resources.redis, settings.redis_prefix, process_name("web"))
    return Response(await exposition(resources, board), media_type=CONTENT_TYPE_LATEST)


routes = [Route("/metrics", metrics_endpoint, methods=["GET"])]


# --- the worker's deliveries ---------------------------------------------------------


def counting_deliveries(deliver: Deliver, retry: RetryPolicy) -> Deliver:
    """`deliver`, with each attempt's result counted (the outbox's own rules say
    which failure is the last)."""

    async def counted(message: OutboxMessage) -> None:
        channel = message.channel.value
        try:
            await deliver(message)
        except SendLater:
            metrics.DELIVERIES.labels(channel, "rate_limited").inc()
            raise
        except Undeliverable:
            metrics.DELIVERIES.labels(channel, "failed").inc()
            raise
        except BaseException:
            final = message.attempts + 1 >= retry.max_attempts
            metrics.DELIVERIES.labels(channel, "dead_lettered" if final else "retried").inc()
            raise
        metrics.DELIVERIES.labels(channel, "sent").inc()

    return counted
