"""A shopper turn's small transactions (`Database.run_brief`, `read_brief`): on SQLite
they run on the event loop, which must never wait for the file. Another process
holding the write lock sends them to the writer thread instead (the loop keeps
serving), a failing one writes nothing, and the WAL they grow is folded back into
the file off the loop."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import Connection, insert, select

from records import migrate
from records.db import CHECKPOINT_EVERY, Database, database_url
from records.schema import records_meta


def _put(conn: Connection, key: str, value: str) -> int:
    conn.execute(insert(records_meta).values(key=key, value=value))
    return threading.get_ident()


def _get(conn: Connection, key: str) -> str | None:
    return conn.execute(select(records_meta.c.value).where(records_meta.c.key == key)
                        ).scalar_one_or_none()


def _size(path: Path) -> int:
    return path.stat().st_size


def _fail_after_put(conn: Connection, key: str) -> None:
    _put(conn, key, "half")
    raise LookupError("the work failed after its first statement")


async def test_a_brief_transaction_commits_and_reads_back(db: Database) -> None:
    thread = await db.run_brief(_put, "brief:1", "one")

    assert await db.read_brief(_get, "brief:1") == "one"
    assert await db.run_read(_get, "brief:1") == "one"  # committed: seen elsewhere
    if db.is_sqlite:
        assert thread == threading.get_ident()  # on the event loop's own thread


async def test_a_failing_brief_transaction_writes_nothing(db: Database) -> None:
    with pytest.raises(LookupError):
        await db.run_brief(_fail_after_put, "brief:2")

    assert await db.read_brief(_get, "brief:2") is None


async def test_a_write_lock_held_elsewhere_is_waited_for_off_the_event_loop(
    db: Database,
) -> None:
    if db.sqlite_path is None:
        pytest.skip("SQLite's file lock: PostgreSQL locks rows, and waits as usual")
    await db.run_brief(_put, "brief:warm", "x")  # the file and its tables exist
    other = sqlite3.connect(db.sqlite_path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another process's writer, say
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    beating = asyncio.create_task(ticker())
    writing = asyncio.create_task(db.run_brief(_put, "brief:3", "three"))
    await asyncio.sleep(0.3)
    assert not writing.done()  # waiting for the other writer...
    assert ticks >= 10  # ...while the loop goes on serving
    other.execute("COMMIT")
    other.close()
    thread = await asyncio.wait_for(writing, 10)
    beating.cancel()

    assert thread != threading.get_ident()  # it went to the writer thread
    assert await db.read_brief(_get, "brief:3") == "three"  # once


async def test_the_wal_brief_commits_grow_is_folded_back_into_the_file(
    db: Database, tmp_path: Path,
) -> None:
    """On a file of its own: the run's shared file has free pages (every test empties
    the tables) that new rows would reuse without the file growing."""
    if db.sqlite_path is None:
        pytest.skip("SQLite's write-ahead log")
    own = Database(database_url(None, tmp_path))
    try:
        await migrate.upgrade(own)
        path = own.sqlite_path
        assert path is not None
        before = _size(path)
        for n in range(2 * CHECKPOINT_EVERY):
            await own.run_brief(_put, f"brief:wal:{n}", "x" * 4000)
        for _ in range(200):  # the checkpoint runs on a thread; give it a moment
            if _size(path) > before + CHECKPOINT_EVERY * 4000:
                break
            await asyncio.sleep(0.02)

        assert _size(path) > before + CHECKPOINT_EVERY * 4000
    finally:
        await own.close()
