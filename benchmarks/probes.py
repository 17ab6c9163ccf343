"""What the benchmark reads off the machine: CPU times from /proc, and Redis's own
counters from INFO.

Round trips are counted by Redis itself: `total_reads_processed` goes up by one
for each read of a client's socket, which is one request or one pipeline (a
script call is one request). Commands come from `INFO commandstats`, which also
counts the commands a Lua script runs; `scripts` is the EVALSHA/EVAL calls.
Each INFO the benchmark sends is itself one read and one command: subtract them.
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
SCRIPT_COMMANDS = ("evalsha", "eval", "evalsha_ro", "eval_ro", "fcall", "fcall_ro")


def process_cpu(pid: int | None) -> float | None:
    """User + system CPU seconds of `pid` (None: this process), or None if unknown."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # after the command name: state is field 3; utime and stime are fields 14 and 15
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def core_times() -> dict[int, tuple[int, int]]:
    """Per core: (busy, total) jiffies from /proc/stat; empty where there is none.
    Busy includes interrupt and softirq time, which no process is charged for:
    on loopback that is a good part of a saturated core."""
    times: dict[int, tuple[int, int]] = {}
    try:
        with open("/proc/stat") as stat:
            for line in stat:
                name, *values = line.split()
                if name.startswith("cpu") and name[3:].isdigit():
                    numbers = [int(v) for v in values[:8]]
                    idle = numbers[3] + numbers[4]  # idle + iowait
                    times[int(name[3:])] = (sum(numbers) - idle, sum(numbers))
    except OSError:
        pass
    return times


@dataclass(frozen=True, slots=True)
class CpuSnapshot:
    at: float
    seconds: dict[str, float | None]
    cores: dict[int, tuple[int, int]]

    @classmethod
    def take(cls, pids: dict[str, int | None]) -> CpuSnapshot:
        return cls(time.perf_counter(), {name: process_cpu(pid) for name, pid in pids.items()},
                   core_times())

    def since(self, earlier: CpuSnapshot) -> dict[str, float | None]:
        """CPU seconds spent by each process between the two snapshots."""
        spent: dict[str, float | None] = {}
        for name, now in self.seconds.items():
            before = earlier.seconds.get(name)
            spent[name] = None if now is None or before is None else now - before
        return spent

    def cores_busy(self, earlier: CpuSnapshot) -> dict[int, float]:
        """Share of each core that was busy in between, 0..1."""
        busy: dict[int, float] = {}
        for core, (work, total) in self.cores.items():
            work0, total0 = earlier.cores.get(core, (work, total))
            if total > total0:
                busy[core] = (work - work0) / (total - total0)
        return busy


class _CommandCounts:
    """Totals over a `commands` mapping (command name -> calls)."""

    __slots__ = ()
    commands: dict[str, int]

    @property
    def total_commands(self) -> int:
        return sum(self.commands.values())

    @property
    def scripts(self) -> int:
        return sum(self.commands.get(name, 0) for name in SCRIPT_COMMANDS)


@dataclass(frozen=True, slots=True)
class RedisSnapshot(_CommandCounts):
    reads: int
    commands: dict[str, int]
    used_memory: int

    @classmethod
    async def take(cls, redis: aioredis.Redis) -> RedisSnapshot:
        info: dict[str, Any] = await redis.info("stats", "commandstats", "memory")
        commands = {
            key.removeprefix("cmdstat_"): int(value["calls"])
            for key, value in info.items()
            if key.startswith("cmdstat_")
        }
        return cls(int(info["total_reads_processed"]), commands, int(info["used_memory"]))

    def since(self, earlier: RedisSnapshot, own_infos: int = 1) -> RedisDelta:
        """What the server did in between, less the `own_infos` INFO calls we made."""
        commands = {
            name: calls - earlier.commands.get(name, 0)
            for name, calls in self.commands.items()
            if calls != earlier.commands.get(name, 0)
        }
        commands["info"] = commands.get("info", 0) - own_infos
        if not commands["info"]:
            del commands["info"]
        return RedisDelta(
            round_trips=self.reads - earlier.reads - own_infos,
            commands=commands,
            memory=self.used_memory - earlier.used_memory,
        )


@dataclass(frozen=True, slots=True)
class RedisDelta(_CommandCounts):
    round_trips: int
    commands: dict[str, int]
    memory: int
