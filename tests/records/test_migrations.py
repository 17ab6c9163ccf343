"""The migrations define their tables as they were at their revision (they do not
import `records.schema`), so the two can drift apart: a column added to the schema
without a migration would exist in the code and not in a deployed database. This
compares a database migrated from empty with the schema, the way Alembic's
autogenerate does, on SQLite and (with TEST_DATABASE_URL) on PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection

from records.db import Database, database_url
from records.schema import metadata


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
