"""CI helper: create or drop a throwaway PostgreSQL database for the records tests.

`python .ci/postgres.py create` prints the new database's URL (exit 1, with a reason
on stderr, when no PostgreSQL answers); `python .ci/postgres.py drop URL` removes it.
Server: $CI_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/postgres.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys

import asyncpg  # type: ignore[import-untyped]

SERVER = os.environ.get("CI_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


async def create() -> int:
    name = f"ohb_ci_{secrets.token_hex(4)}"
    try:
        conn = await asyncpg.connect(SERVER, timeout=5)
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        print(f"no PostgreSQL at {SERVER}: {exc}", file=sys.stderr)
        return 1
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    print(SERVER.rsplit("/", 1)[0] + "/" + name)
    return 0


async def drop(url: str) -> int:
    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(SERVER, timeout=5)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["create"]:
        sys.exit(asyncio.run(create()))
    sys.exit(asyncio.run(drop(sys.argv[2])))
