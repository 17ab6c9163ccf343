"""One-time facts about the records (the first admin was made, the Redis import
ran): a key and a value, written once."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from .db import Database
from .schema import records_meta


async def read_meta(db: Database, key: str) -> str | None:
    async with db.connect() as conn:
        value = (await conn.execute(
            select(records_meta.c.value).where(records_meta.c.key == key))).scalar_one_or_none()
    return str(value) if value is not None else None


async def write_meta(db: Database, key: str, value: str) -> None:
    """Set `key`; a second write of the same key replaces the value."""
    module = sqlite if db.is_sqlite else postgresql
    statement = module.insert(records_meta).values(key=key, value=value)
    statement = statement.on_conflict_do_update(index_elements=["key"], set_={"value": value})
    async with db.begin() as conn:
        await conn.execute(statement)
