"""What one turn costs Redis, step by step, seen by Redis itself.

Run at one connection, one turn at a time, with INFO before and after every turn
(round trips = the server's socket reads in between) and MONITOR listening (it
tells commands a client sent from commands a Lua script ran: those come from the
`lua` client). The benchmark's own INFO and ECHO markers are left out, and so are
the in-process outbox consumer's reads that happen to fall inside a turn (its
blocking XREADGROUP, a reclaim, a drain step: `BACKGROUND`), each one read of its
own: `round_trips` is the turn's, `background_round_trips` what was taken off.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import redis.asyncio as aioredis

from benchmarks.dialogues import Dialogue, verdict
from benchmarks.drivers import Driver
from benchmarks.probes import SCRIPT_COMMANDS, RedisSnapshot

MARK = "bench-mark:"
BACKGROUND = ("XREADGROUP", "XAUTOCLAIM", "XCLAIM")


def _background(command: str) -> bool:
    """The outbox consumer's own commands, not the turn's (a turn's enqueue names
    the outbox's queue, never a lease)."""
    name = command.split(" ", 1)[0].upper()
    return name in BACKGROUND or (name in ("EVALSHA", "EVAL") and ":lease:" in command)


async def _monitor(
    redis: aioredis.Redis, events: list[dict[str, Any]], ready: asyncio.Event
) -> None:
    async with redis.monitor() as monitor:
        ready.set()
        while True:
            events.append(await monitor.next_command())


def _split(events: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    """Events between marker N and marker N+1, without the benchmark's own commands."""
    turns: dict[int, list[dict[str, Any]]] = {}
    current: int | None = None
    for event in events:
        command: str = event["command"]
        if command.startswith(f"ECHO {MARK}"):
            current = int(command.split(MARK, 1)[1])
            turns[current] = []
        elif current is not None and not command.startswith(("INFO", "ECHO")):
            turns[current].append(event)
    return turns


async def account(
    driver: Driver, dialogues: list[Dialogue], redis: aioredis.Redis, monitor_redis: aioredis.Redis
) -> list[dict[str, Any]]:
    """One row per turn: the step, its round trips, and its commands split into
    sent by the client (scripts among them) and run inside scripts."""
    events: list[dict[str, Any]] = []
    ready = asyncio.Event()
    listener = asyncio.create_task(_monitor(monitor_redis, events, ready))
    await ready.wait()
    rows: list[dict[str, Any]] = []
    await driver.prepare(dialogues, 1)
    lane = await driver.lane()
    try:
        number = 0
        for dialogue in dialogues:
            while not dialogue.done:
                step = dialogue.steps[dialogue.position]
                await redis.echo(f"{MARK}{number}")
                before = await RedisSnapshot.take(redis)
                answer = await lane.turn(dialogue, step)
                after = await RedisSnapshot.take(redis)
                rows.append({
                    "turn": number,
                    "dialogue": dialogue.kind.value,
                    "step": dialogue.position,
                    "expect": list(step.expect),
                    "ordinary": step.ordinary and not step.redeliver,
                    "redelivery": step.redeliver,
                    "verdict": verdict(step, dialogue, answer.keys, answer.duplicate),
                    # the ECHO marker's read came before `before`; nothing else to take off
                    "round_trips": after.since(before).round_trips,
                    "all_commands": after.since(before).total_commands,
                })
                dialogue.position += 1
                number += 1
        await redis.echo(f"{MARK}{number}")
        await asyncio.sleep(0.2)  # let MONITOR catch up
    finally:
        lane.close()
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await listener
    per_turn = _split(events)
    for row in rows:
        seen = per_turn.get(row["turn"], [])
        sent = [e for e in seen if e["client_type"] != "lua"]
        background = sum(1 for e in sent if _background(e["command"]))
        row["background_round_trips"] = background
        row["round_trips"] = max(0, row["round_trips"] - background)
        row["sent_commands"] = len(sent)
        row["scripts"] = sum(
            1 for e in sent if e["command"].split(" ", 1)[0].lower() in SCRIPT_COMMANDS
        )
        row["inner_commands"] = len(seen) - len(sent)
        row["commands"] = sorted({e["command"].split(" ", 1)[0].upper() for e in sent})
    return rows
