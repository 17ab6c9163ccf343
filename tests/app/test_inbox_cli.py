"""`python -m app staff ...` in a real subprocess against the test Redis."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from test_cli import err, out, run_app


@pytest.fixture
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="ohb-") as folder:
        yield Path(folder)


async def test_staff_accounts_are_added_listed_and_removed(
    redis: aioredis.Redis, redis_url: str, workdir: Path
) -> None:
    added = await run_app("staff", "add", "Asha@Shop.Example", "--role", "admin",
                          redis_url=redis_url, workdir=workdir,
                          INBOX_STAFF_PASSWORD="a long password")
    assert added.returncode == 0, err(added)
    assert "added asha@shop.example (admin)" in out(added)
    again = await run_app("staff", "add", "asha@shop.example", redis_url=redis_url,
                          workdir=workdir, INBOX_STAFF_PASSWORD="a long password")
    assert again.returncode == 1 and "exists" in err(again)
    weak = await run_app("staff", "add", "ravi@shop.example", redis_url=redis_url,
                         workdir=workdir, INBOX_STAFF_PASSWORD="short")
    assert weak.returncode == 2 and "8" in err(weak)
    no_password = await run_app("staff", "add", "ravi@shop.example", redis_url=redis_url,
                                workdir=workdir)
    assert no_password.returncode == 2 and "INBOX_STAFF_PASSWORD" in err(no_password)

    listed = await run_app("staff", "list", redis_url=redis_url, workdir=workdir)
    assert listed.returncode == 0
    assert "asha@shop.example" in out(listed) and "admin" in out(listed)
    assert "argon2" not in out(listed) + err(listed)
    assert "a long password" not in out(added) + err(added)

    removed = await run_app("staff", "remove", "asha@shop.example", redis_url=redis_url,
                            workdir=workdir)
    assert removed.returncode == 0
    missing = await run_app("staff", "remove", "asha@shop.example", redis_url=redis_url,
                            workdir=workdir)
    assert missing.returncode == 1 and "no such account" in err(missing)
