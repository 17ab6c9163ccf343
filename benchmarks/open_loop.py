"""An open-loop phase: messages arrive at a fixed rate, whatever the server does.

The closed-loop phases (`benchmarks.runner`) send a shopper's next message only
when the answer to the last one came, so a server that falls behind slows its own
load down and its queue never shows in the latency. Here the k-th message is due
at `start + k / rate`; its latency counts from that scheduled time, so time spent
waiting for a free connection, in the server's accept queue or behind a slow
answer is all in the figure (no coordinated omission).

Each arrival is the next step of the dialogue at the head of a ready queue (a
shopper whose last answer came back, FIFO); the dialogue goes to its tail once
answered, and a finished one is replaced by a fresh shopper. When every dialogue
is still waiting for an answer, the arrival is a new shopper: the rate never
bends. The ready queue's length sets how often one shopper writes: for Telegram,
whose chats are paced at about one message a second, `spacing_s` keeps each
chat's turns that far apart.

Connections are kept open and reused; one is opened (inside the latency) when all
are busy. For channels that answer later (Telegram), `Driver.settle` checks the
replies and measures each step's lag from its scheduled time too.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Iterator

import redis.asyncio as aioredis

from benchmarks.dialogues import Dialogue, verdict
from benchmarks.drivers import Driver, Lane
from benchmarks.runner import MAX_SAMPLES, Meter, Phase, Tally

OPEN_CONNECTIONS = 32  # opened before the window; more are opened when all are busy


async def run_open_loop(
    driver: Driver,
    dialogues: list[Dialogue],
    *,
    rate: float,
    seconds: float,
    spacing_s: float,
    pids: dict[str, int | None],
    redis: aioredis.Redis | None,
) -> Phase:
    """Send `rate` messages a second for `seconds`; see the module docstring."""
    await driver.prepare(dialogues, 8)
    idle: list[Lane] = [await driver.lane() for _ in range(OPEN_CONNECTIONS)]
    opened = len(idle)
    pool: Iterator[Dialogue] = iter(dialogues)
    ready: deque[Dialogue] = deque()
    for _ in range(max(1, int(rate * spacing_s))):
        fresh = next(pool, None)
        if fresh is None:
            break
        ready.append(fresh)
    tally = Tally()
    skipped = 0
    in_flight: set[asyncio.Task[None]] = set()
    clock = time.perf_counter

    async def one(dialogue: Dialogue, due: float) -> None:
        nonlocal opened
        lane = idle.pop() if idle else None
        if lane is None:
            lane = await driver.lane()
            opened += 1
        step = dialogue.steps[dialogue.position]
        try:
            answer = await lane.turn(dialogue, step, origin=due)
        except (OSError, ConnectionError) as exc:
            tally.verdicts["lost"] += 1
            tally.samples.append({"error": repr(exc)})
            lane.close()
            return
        idle.append(lane)
        tally.latencies.append(clock() - due)
        tally.turns += 1
        dialogue.position += 1
        if answer.deferred:
            tally.deferred += 1
            outcome = "ok"
        else:
            outcome = verdict(step, dialogue, answer.keys, answer.duplicate)
            tally.verdicts[outcome] += 1
            if outcome != "ok" and len(tally.samples) < MAX_SAMPLES:
                tally.samples.append({
                    "dialogue": dialogue.kind.value, "step": dialogue.position - 1,
                    "expected": list(step.expect), "status": answer.status,
                    "got": list(answer.keys or ()), "verdict": outcome,
                })
        if outcome == "ok" and not dialogue.done:
            ready.append(dialogue)
        else:
            tally.dialogues_done += 1
            fresh = next(pool, None)
            if fresh is not None:
                ready.append(fresh)

    meter = await Meter.open(pids, redis)
    started = clock()
    arrivals = int(rate * seconds)
    for k in range(arrivals):
        due = started + k / rate
        wait = due - clock()
        if wait > 0:
            await asyncio.sleep(wait)
        dialogue = ready.popleft() if ready else next(pool, None)
        if dialogue is None:
            skipped += 1
            tally.pool_exhausted = True
            continue
        task = asyncio.create_task(one(dialogue, due))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    if in_flight:
        await asyncio.gather(*in_flight)
    ended = clock()
    tally.unfinished = len(ready)
    measured = await meter.close(driver, tally, started, ended)
    for lane in idle:
        lane.close()
    return Phase(driver.name, opened, ended - started, tally, measured.cpu, measured.redis,
                 measured.cores, measured.delivery, busy=measured.busy, kind="open",
                 offered_rate=rate, skipped_arrivals=skipped)
