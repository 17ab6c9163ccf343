"""One measured phase: N client connections drive dialogues until the time is up.

Each connection carries several shoppers at once, one turn at a time, taking the
next shopper's next step in turn (a shopper never has two messages in flight,
like a person waiting for the answer). A finished dialogue is replaced from the
pool. Latency is from the first byte sent to the last byte of the answer.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis

from benchmarks.dialogues import Dialogue, verdict
from benchmarks.drivers import Driver, Lane
from benchmarks.probes import CpuSnapshot, RedisDelta, RedisSnapshot

MAX_SAMPLES = 8  # mismatches kept as examples


@dataclass
class Tally:
    turns: int = 0
    latencies: list[float] = field(default_factory=list)
    verdicts: Counter[str] = field(default_factory=Counter)
    samples: list[dict[str, Any]] = field(default_factory=list)
    dialogues_done: int = 0
    unfinished: int = 0
    pool_exhausted: bool = False
    deferred: int = 0  # answers whose replies come later, checked after the phase


@dataclass
class Phase:
    channel: str
    connections: int
    seconds: float
    tally: Tally
    cpu: dict[str, float | None]
    redis: RedisDelta | None
    cores: dict[int, float]
    delivery: dict[str, Any] | None = None  # replies sent through the outbox
    busy: dict[str, float | None] | None = None  # CPU seconds in the window only
    kind: str = "closed"  # closed | ordinary (ordinary turns only) | open | peer
    offered_rate: float | None = None  # open loop: arrivals a second
    skipped_arrivals: int = 0  # open loop: arrivals with no shopper left to send them

    @property
    def rate(self) -> float:
        return self.tally.turns / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class Measured:
    """What a phase's window cost: CPU and Redis from its start until the replies
    that leave after it (through the outbox) settled, and the window's own share."""

    cpu: dict[str, float | None]
    redis: RedisDelta | None
    cores: dict[int, float]  # busy shares of the window
    busy: dict[str, float | None]  # CPU seconds in the window only
    delivery: dict[str, Any] | None
    after_window: dict[str, float | None]  # CPU seconds spent settling


@dataclass(frozen=True)
class Meter:
    """The CPU and Redis readings taken as a phase's window opens; `close` takes
    the others, waits for the replies that leave later, and checks them."""

    pids: dict[str, int | None]
    redis: aioredis.Redis | None
    cpu_before: CpuSnapshot
    redis_before: RedisSnapshot | None

    @classmethod
    async def open(cls, pids: dict[str, int | None], redis: aioredis.Redis | None) -> Meter:
        cpu_before = CpuSnapshot.take(pids)
        redis_before = await RedisSnapshot.take(redis) if redis is not None else None
        return cls(pids, redis, cpu_before, redis_before)

    async def close(self, driver: Driver, tally: Tally, started: float, ended: float) -> Measured:
        """Call as the window ends: the settled replies' verdicts go into `tally`."""
        window_cpu = CpuSnapshot.take(self.pids)
        settled = await driver.settle(started, ended)
        cpu_after = CpuSnapshot.take(self.pids)
        delta = None
        if self.redis is not None and self.redis_before is not None:
            delta = (await RedisSnapshot.take(self.redis)).since(self.redis_before)
        delivery = None
        if settled is not None:
            tally.verdicts.update(settled.verdicts)
            tally.samples += settled.samples[: max(0, MAX_SAMPLES - len(tally.samples))]
            delivery = settled.delivery
        return Measured(cpu_after.since(self.cpu_before), delta,
                        window_cpu.cores_busy(self.cpu_before), window_cpu.since(self.cpu_before),
                        delivery, cpu_after.since(window_cpu))


def percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def _drive(
    lane: Lane, pool: Iterator[Dialogue], interleave: int, deadline: float, tally: Tally
) -> None:
    active: list[Dialogue] = []
    clock = time.perf_counter
    try:
        while True:
            while len(active) < interleave:
                fresh = next(pool, None)
                if fresh is None:
                    tally.pool_exhausted = True
                    break
                active.append(fresh)
            if not active:
                return
            for dialogue in list(active):
                if clock() >= deadline:
                    tally.unfinished += len(active)
                    return
                step = dialogue.steps[dialogue.position]
                started = clock()
                try:
                    answer = await lane.turn(dialogue, step)
                except (OSError, ConnectionError) as exc:
                    tally.verdicts["lost"] += 1
                    tally.samples.append({"error": repr(exc)})
                    active.remove(dialogue)
                    continue
                tally.latencies.append(clock() - started)
                tally.turns += 1
                if answer.deferred:
                    tally.deferred += 1
                    dialogue.position += 1
                    if dialogue.done:
                        active.remove(dialogue)
                        tally.dialogues_done += 1
                    continue
                outcome = verdict(step, dialogue, answer.keys, answer.duplicate)
                tally.verdicts[outcome] += 1
                if outcome != "ok" and len(tally.samples) < MAX_SAMPLES:
                    tally.samples.append({
                        "dialogue": dialogue.kind.value, "step": dialogue.position,
                        "expected": list(step.expect), "status": answer.status,
                        "got": list(answer.keys or ()), "duplicate": answer.duplicate,
                        "verdict": outcome,
                    })
                dialogue.position += 1
                if outcome != "ok" or dialogue.done:
                    # a dialogue that went off its script cannot be checked further
                    active.remove(dialogue)
                    tally.dialogues_done += 1
    finally:
        lane.close()


async def run_phase(
    driver: Driver,
    dialogues: list[Dialogue],
    *,
    connections: int,
    interleave: int,
    seconds: float,
    pids: dict[str, int | None],
    redis: aioredis.Redis | None,
    kind: str = "closed",
) -> Phase:
    await driver.prepare(dialogues, min(connections, 8))
    lanes = [await driver.lane() for _ in range(connections)]
    pool = iter(dialogues)
    tally = Tally()
    meter = await Meter.open(pids, redis)
    started = time.perf_counter()
    await asyncio.gather(
        *(_drive(lane, pool, interleave, started + seconds, tally) for lane in lanes)
    )
    ended = time.perf_counter()
    # Replies that leave through the outbox: wait for them and check them. The CPU
    # and Redis figures then include delivering them (the cost of those turns);
    # busy shares stay those of the measured window.
    measured = await meter.close(driver, tally, started, ended)
    delivery = measured.delivery
    if delivery is not None:
        server = measured.after_window.get("server")
        delivery = delivery | {
            "after_window_server_cpu_s": None if server is None else round(server, 3)}
    return Phase(driver.name, connections, ended - started, tally, measured.cpu, measured.redis,
                 measured.cores, delivery, busy=measured.busy, kind=kind)
