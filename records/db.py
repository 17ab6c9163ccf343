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
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

log = logging.getLogger(__name__)
# aiosqlite logs every call with its arguments at DEBUG: the SQL parameters, that is
# what shoppers typed. Never below INFO, whatever the app's log level.
logging.getLogger("aiosqlite").setLevel(logging.INFO)

P = ParamSpec("P")
T = TypeVar("T")

SQLITE_FILE = "records.db"
SQLITE_BUSY_TIMEOUT_MS = 10_000
CHECKPOINT_EVERY = 32  # brief transactions between two WAL checkpoints off the event loop


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
        # `transaction()` on SQLite: plain sqlite3 on one thread of its own (see there)
        self._sync: Engine | None = None
        self._thread: ThreadPoolExecutor | None = None
        # `run_read()` on SQLite: likewise, on a reader thread of its own
        self._read: Engine | None = None
        self._reader: ThreadPoolExecutor | None = None
        self._brief_write: Engine | None = None
        self._brief_read: Engine | None = None
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            self._sync = self._sqlite_engine(url, writes=True, waits=True)
            # reads: no BEGIN of ours (sqlite3 opens no transaction for a SELECT), so a
            # read never takes the write lock and never waits for a writer (WAL)
            self._read = self._sqlite_engine(url, writes=False, waits=True)
            # `run_brief` and `read_brief`: the same, on the event loop, never waiting
            self._brief_write = self._sqlite_engine(url, writes=True, waits=False)
            self._brief_read = self._sqlite_engine(url, writes=False, waits=False)
        self._brief_commits = 0
        self._checkpointing: asyncio.Future[Any] | None = None

    @staticmethod
    def _sqlite_engine(url: str, *, writes: bool, waits: bool) -> Engine:
        """Plain sqlite3 on the file. `writes`: transactions BEGIN IMMEDIATE (see
        there). `waits`: a busy file is waited for (the busy timeout); else refused
        at once, and the WAL is left for `_checkpoint` to fold back."""
        engine = create_engine(
            make_url(url).set(drivername="sqlite+pysqlite"), hide_parameters=True,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000 if waits else 0,
                          "check_same_thread": not waits})
        event.listen(engine, "connect", _sqlite_pragmas)
        if not waits:
            event.listen(engine, "connect", _sqlite_no_waiting)
        if writes:
            event.listen(engine, "connect", _sqlite_own_transactions)
            event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine

    @property
    def engines(self) -> list[Engine]:
        """Every engine statements go through (to watch them: SQLAlchemy events)."""
        return [self.engine.sync_engine, *(e for e in (
            self._sync, self._read, self._brief_write, self._brief_read) if e)]

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

    async def run_in_transaction(
        self, work: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run `work(conn, ...)`, plain synchronous SQLAlchemy, as one transaction:
        committed when it returns, rolled back when it raises.

        Why: through aiosqlite every statement is several hops to its thread and back
        (about 26 for one ticket change, 4 ms of CPU, and each hop waits its turn on a
        busy event loop while the write lock is held). Here SQLite runs the whole
        transaction in one hop to a thread of its own, starting with BEGIN IMMEDIATE
        so it holds the write lock from its first read. PostgreSQL runs it on the
        async connection (`run_sync`), its statements awaited as usual."""
        if self._sync is None:
            async with self.begin() as conn:
                return await conn.run_sync(work, *args, **kwargs)
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="records-writer")
        call = partial(_in_transaction, self._sync, lambda conn: work(conn, *args, **kwargs))
        async with _unavailable_as_one_error(), self._writing():
            return await asyncio.get_running_loop().run_in_executor(self._thread, call)

    async def run_read(
        self, work: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run `work(conn, ...)`, plain synchronous SQLAlchemy that only reads.

        Why: the same as `run_in_transaction`'s (a read through aiosqlite is a connect,
        the statement, the rows and the pool's rollback, each a hop to its thread and
        back): on SQLite the whole read is one hop to a reader thread of its own,
        outside the write lock; PostgreSQL runs it on an async connection (`run_sync`)."""
        if self._read is None:
            async with self.connect() as conn:
                return await conn.run_sync(work, *args, **kwargs)
        if self._reader is None:
            self._reader = ThreadPoolExecutor(1, thread_name_prefix="records-reader")
        call = partial(_reading, self._read, lambda conn: work(conn, *args, **kwargs))
        async with _unavailable_as_one_error():
            return await asyncio.get_running_loop().run_in_executor(self._reader, call)

    async def run_brief(
        self, work: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`run_in_transaction` for the few statements of a shopper's turn (a ticket
        opened, a line filed): on SQLite, run right here on the event loop.

        Why: on the writer thread such a transaction cost 30-50 % more CPU than the
        work itself (the hop there and back, and the GIL passed to and fro at every
        statement while the loop is busy); measured with `python -m app bench turns`.
        It is safe on the loop because it cannot wait: the write lock is taken at
        once or refused (another process writing: then the writer thread waits for
        it, as every other write does), and the WAL's checkpoint, the one step that
        syncs the disk, runs on a thread (`_checkpoint`). So the loop stalls for the
        work's own CPU, which it would spend anyway on this one core. Only for work
        of a few statements: a long transaction belongs on the writer thread."""
        if self._brief_write is None:
            return await self.run_in_transaction(work, *args, **kwargs)
        async with _unavailable_as_one_error(), self._writing():
            try:
                done = _in_transaction(self._brief_write,
                                       lambda conn: work(conn, *args, **kwargs))
            except OperationalError as exc:
                if not _is_busy(exc):
                    raise
            else:
                self._after_brief_commit()
                return done
        return await self.run_in_transaction(work, *args, **kwargs)  # rolled back: again

    async def read_brief(
        self, work: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`run_read` for one small read of a shopper's turn: on SQLite on the event
        loop (WAL readers never wait for the writer; `run_brief` says why), on the
        reader thread in the rare case the file is busy."""
        if self._brief_read is None:
            return await self.run_read(work, *args, **kwargs)
        async with _unavailable_as_one_error():
            try:
                return _reading(self._brief_read, lambda conn: work(conn, *args, **kwargs))
            except OperationalError as exc:
                if not _is_busy(exc):
                    raise
        return await self.run_read(work, *args, **kwargs)

    def _after_brief_commit(self) -> None:
        """Every `CHECKPOINT_EVERY` brief commits, fold the WAL back into the file on
        the reader thread (PASSIVE: it never blocks a reader or the writer), unless
        the last one is still running."""
        self._brief_commits += 1
        if self._brief_commits % CHECKPOINT_EVERY or (
                self._checkpointing is not None and not self._checkpointing.done()):
            return
        if self._reader is None:
            self._reader = ThreadPoolExecutor(1, thread_name_prefix="records-reader")
        assert self._read is not None
        self._checkpointing = asyncio.get_running_loop().run_in_executor(
            self._reader, _checkpoint, self._read)
        self._checkpointing.add_done_callback(_checkpointed)

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
        if self._checkpointing is not None:
            await asyncio.gather(self._checkpointing, return_exceptions=True)
        for brief in (self._brief_write, self._brief_read):
            if brief is not None:
                brief.dispose()
        if self._thread is not None and self._sync is not None:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._sync.dispose)
            self._thread.shutdown(wait=False)
            self._thread = None
        if self._reader is not None and self._read is not None:
            await asyncio.get_running_loop().run_in_executor(self._reader, self._read.dispose)
            self._reader.shutdown(wait=False)
            self._reader = None


def _in_transaction(engine: Engine, work: Callable[[Connection], T]) -> T:
    with engine.begin() as conn:
        return work(conn)


def _reading(engine: Engine, work: Callable[[Connection], T]) -> T:
    with engine.connect() as conn:
        return work(conn)


def _is_busy(exc: OperationalError) -> bool:
    """SQLite's "database is locked": another connection holds what we asked for."""
    return getattr(exc.orig, "sqlite_errorname", None) in ("SQLITE_BUSY", "SQLITE_LOCKED")


def _checkpoint(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").all()


def _checkpointed(done: asyncio.Future[Any]) -> None:
    if not done.cancelled() and (exc := done.exception()) is not None:
        log.warning("WAL checkpoint failed (%s); the next one tries again", type(exc).__name__)


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


def _sqlite_no_waiting(dbapi_connection: Any, _record: Any) -> None:
    """For the event loop's connections: a busy file is an answer at once, not a
    wait; and no checkpoint on commit (it syncs the disk), `_checkpoint` does it."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=0")
    cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.close()


def _sqlite_own_transactions(dbapi_connection: Any, _record: Any) -> None:
    """sqlite3 starts transactions by itself, only before a write and never before a
    SAVEPOINT (SQLAlchemy's pysqlite notes): let SQLAlchemy say BEGIN instead."""
    dbapi_connection.isolation_level = None


def _sqlite_begin_immediate(conn: Connection) -> None:
    """Take the write lock at BEGIN: a transaction that reads and then writes never
    meets a newer snapshot (SQLITE_BUSY without waiting); the busy timeout covers
    another process's writer instead."""
    conn.exec_driver_sql("BEGIN IMMEDIATE")
