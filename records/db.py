"""The database: one async engine per process, and the one error the stores raise.

`DATABASE_URL` unset means `sqlite+aiosqlite:///DATA_DIR/records.db` in WAL mode
(readers never wait for the writer, and a crash loses at most the transaction in
flight); `postgresql://…` is rewritten to the asyncpg driver. Whatever a driver
raises when the server is gone or the file cannot be opened becomes
`DatabaseUnavailable`, so the HTTP layer answers 503 the same way it does for Redis.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

log = logging.getLogger(__name__)
# aiosqlite logs every call with its arguments at DEBUG: the SQL parameters, that is
# what shoppers typed. Never below INFO, whatever the app's log level.
logging.getLogger("aiosqlite").setLevel(logging.INFO)

SQLITE_FILE = "records.db"
SQLITE_BUSY_TIMEOUT_MS = 10_000


class DatabaseUnavailable(Exception):
    """The database could not be reached (or is locked past the timeout): try later."""


def database_url(configured: str | None, data_dir: Path) -> str:
    """The SQLAlchemy URL for `DATABASE_URL` (async drivers), or the SQLite default."""
    if not configured:
        path = (data_dir / SQLITE_FILE).resolve()
        return f"sqlite+aiosqlite:///{path}"
    url = make_url(configured)
    driver = {"postgresql": "postgresql+asyncpg", "postgres": "postgresql+asyncpg",
              "sqlite": "sqlite+aiosqlite"}.get(url.drivername, url.drivername)
    return url.set(drivername=driver).render_as_string(hide_password=False)


def redacted(url: str) -> str:
    """The URL without its password, for log lines."""
    return make_url(url).render_as_string(hide_password=True)


UNAVAILABLE = (OperationalError, InterfaceError, PoolTimeout, OSError, ConnectionError)


def is_unavailable(exc: BaseException) -> bool:
    """True for errors that mean "the database is not there", not "the SQL is wrong"."""
    if isinstance(exc, UNAVAILABLE):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


class Database:
    """The records' engine. `connect()` for reads, `begin()` for a transaction;
    both turn an unreachable database into `DatabaseUnavailable`."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.dialect = make_url(url).get_backend_name()
        # hide_parameters: what shoppers typed never reaches a log line or an error message
        options: dict[str, Any] = {"echo": echo, "hide_parameters": True}
        if self.dialect == "sqlite":  # a file: nothing to ping before each use
            path = make_url(url).database
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            options["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        else:
            options.update(pool_pre_ping=True, pool_size=10, max_overflow=10, pool_timeout=10,
                           connect_args={"timeout": 5, "command_timeout": 30})
        self.engine: AsyncEngine = create_async_engine(url, **options)
        # SQLite has one writer at a time, and a writer that finds the file locked
        # sleeps in growing steps (up to 100 ms each): in one process, writers take
        # turns on this lock instead, so a busy moment costs a wait, not a back-off.
        self._writer = asyncio.Lock() if self.dialect == "sqlite" else None
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def sqlite_path(self) -> Path | None:
        path = make_url(self.url).database if self.is_sqlite else None
        return Path(path) if path and path != ":memory:" else None

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        async with _unavailable_as_one_error(), self.engine.connect() as conn:
            yield conn

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        async with _unavailable_as_one_error(), self._writing(), self.engine.begin() as conn:
            yield conn

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[None]:
        if self._writer is None:
            yield
            return
        async with self._writer:
            yield

    async def ping(self) -> bool:
        from sqlalchemy import text

        try:
            async with self.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except DatabaseUnavailable:
            return False
        return True

    async def close(self) -> None:
        await self.engine.dispose()


@asynccontextmanager
async def _unavailable_as_one_error() -> AsyncIterator[None]:
    try:
        yield
    except Exception as exc:
        if is_unavailable(exc):
            raise DatabaseUnavailable("the records database is unreachable") from exc
        raise


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL so readers never block on the writer; foreign keys on; a busy timeout so
    two processes writing at once wait instead of failing."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()
