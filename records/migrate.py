"""Bring the database's tables up to this code's version, once, whoever asks first.

Runs at every start and by `python -m app db upgrade`. Several processes starting
at once must not race: PostgreSQL takes an advisory lock for the transaction,
SQLite a lock file beside the database. A database whose version this code does
not know (made by a newer release) stops the start with `DatabaseTooNew`, rather
than writing rows an older schema cannot hold.
"""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio.to_thread
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from .db import Database

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
PG_LOCK_ID = 0x0D5E_C0DE  # any constant: the same one in every process of the app


class DatabaseTooNew(RuntimeError):
    """The database was migrated by a newer release than this one."""


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def _known(revision: str) -> bool:
    return any(s.revision == revision for s in ScriptDirectory.from_config(_config())
               .walk_revisions())


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _upgrade(connection: Connection) -> tuple[str | None, str]:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": PG_LOCK_ID})
    before = _current(connection)
    if before is not None and not _known(before):
        raise DatabaseTooNew(
            f"the records database is at version {before}, which this release does not "
            f"know (its newest is {head()}): it was upgraded by a newer release. Run that "
            "release, or restore a backup made before the upgrade.")
    if before != head():
        command.upgrade(_config(connection), "head")
    return before, head()


@contextmanager
def _file_lock(path: Path | None) -> Iterator[None]:
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.with_name(path.name + ".migrate-lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


async def upgrade(db: Database) -> tuple[str | None, str]:
    """Migrate to the newest version; returns (version before, version now)."""

    def locked() -> None:
        lock_cm.__enter__()

    lock_cm = _file_lock(db.sqlite_path)
    await anyio.to_thread.run_sync(locked)
    try:
        async with db.begin() as conn:
            before, now = await conn.run_sync(_upgrade)
    finally:
        lock_cm.__exit__(None, None, None)
    if before != now:
        log.info("records database: migrated from %s to %s", before or "empty", now)
    return before, now


async def current(db: Database) -> str | None:
    async with db.connect() as conn:
        return await conn.run_sync(_current)
