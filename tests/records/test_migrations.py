"""The migrations define their tables as they were at their revision (they do not
import `records.schema`), so the two can drift apart: a column added to the schema
without a migration would exist in the code and not in a deployed database. This
compares a database migrated from empty with the schema, the way Alembic's
autogenerate does, on SQLite and (with TEST_DATABASE_URL) on PostgreSQL."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, insert, select, text
from sqlalchemy.engine import make_url

from records import migrate, search
from records.db import Database, database_url
from records.schema import metadata, tickets


def _differences(connection: Connection) -> list[Any]:
    def ours(name: str | None, kind: str, parent: dict[str, str | None]) -> bool:
        # ticket_search is made by hand (FTS5 / tsvector) and is not in the schema
        if kind == "schema":
            return True
        table = name if kind == "table" else parent.get("table_name")
        return table in metadata.tables

    context = MigrationContext.configure(connection, opts={
        "compare_type": True, "include_name": ours})
    return list(compare_metadata(context, metadata))


async def test_a_migrated_database_has_exactly_the_schemas_tables(
    migrated_records: str,
) -> None:
    db = Database(database_url(migrated_records, Path(".")))
    try:
        async with db.connect() as conn:
            differences = await conn.run_sync(_differences)
    finally:
        await db.close()
    assert differences == []


@contextlib.asynccontextmanager
async def _empty_database(records_url: str, tmp_path: Path) -> AsyncIterator[Database]:
    """A database of this test's own (a new one beside TEST_DATABASE_URL's on
    PostgreSQL, dropped after), for migrating step by step."""
    if not records_url.startswith("postgresql"):
        db = Database(database_url(None, tmp_path))
        try:
            yield db
        finally:
            await db.close()
        return
    server = Database(database_url(records_url, tmp_path))
    name = f"{make_url(records_url).database}_m{secrets.token_hex(4)}"
    async with server.engine.connect() as raw:
        conn = await raw.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        db = Database(database_url(
            make_url(records_url).set(database=name).render_as_string(False), tmp_path))
        try:
            yield db
        finally:
            await db.close()
    finally:  # dropped whatever happened in between
        async with server.engine.connect() as raw:
            conn = await raw.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f'DROP DATABASE "{name}"'))
        await server.close()


def _to(revision: str, direction: str = "upgrade") -> Callable[[Connection], None]:
    def move(connection: Connection) -> None:
        getattr(command, direction)(migrate._config(connection), revision)
    return move


def _found(connection: Connection, query: str) -> list[int]:
    found = search.matching(connection.dialect.name, query)
    assert found is not None
    return sorted(connection.execute(select(found.c.ticket)).scalars())


async def test_migration_0004_keeps_every_ticket_findable_by_words_from_any_of_its_texts(
    records_url: str, tmp_path: Path,
) -> None:
    at = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
    texts = {1001: ["deepak khan", "the lamp arrived cracked", "hi deepak the refund is on"],
             1002: ["priya khan", "deepak asked about 4090865"], 1003: ["deepak shah"]}
    async with _empty_database(records_url, tmp_path) as db, db.begin() as conn:
        await conn.run_sync(_to("0003"))
        await conn.execute(insert(tickets), [
            {"number": n, "kind": "handoff", "status": "open", "channel": "web",
             "conversation": f"web:{n}", "locale": "en", "created_at": at,
             "updated_at": at} for n in texts])
        for n, lines in texts.items():  # the index as 0001-0003 kept it: a row a text
            if db.is_sqlite:
                await conn.execute(text(
                    "INSERT INTO ticket_search (rowid, ticket, body) VALUES (:r, :t, :b)"),
                    [{"r": search.rowids(n)[0] + i, "t": n, "b": b}
                     for i, b in enumerate(lines)])
            else:
                await conn.execute(text(
                    "INSERT INTO ticket_search (ticket, body) VALUES (:t, :b)"),
                    [{"t": n, "b": b} for b in lines])
        await conn.run_sync(_to("0004"))
        await conn.run_sync(search.index_rows, 1003, ["a new line: cracked khan"])
        upgraded = {q: await conn.run_sync(_found, q) for q in (
            "deepak khan", "cracked", "4090865 khan", "refund", "cracked khan", "shah")}
        if not db.is_sqlite:
            rows = (await conn.execute(text(
                "SELECT ticket, body FROM ticket_search ORDER BY ticket"))).all()
            await conn.run_sync(_to("0003", "downgrade"))
            back = (await conn.execute(text(
                "SELECT ticket, body FROM ticket_search ORDER BY seq"))).all()

    assert upgraded == {"deepak khan": [1001, 1002, 1003], "cracked": [1001, 1003],
                        "4090865 khan": [1002], "refund": [1001],
                        "cracked khan": [1001, 1003], "shah": [1003]}
    if records_url.startswith("postgresql"):  # one row a ticket, and back to a row a text
        assert [(t, body.split("\n")) for t, body in rows] == [
            (1001, texts[1001]), (1002, texts[1002]),
            (1003, [*texts[1003], "a new line cracked khan"])]
        assert [tuple(r) for r in back] == [
            (t, b) for t, lines in ((1001, texts[1001]), (1002, texts[1002]),
                                    (1003, [*texts[1003], "a new line cracked khan"]))
            for b in lines]
