"""Client CPU per Redis script call, for each step of the hot path's client:

    python -m benchmarks.redis_calls [--calls 20000] [--rounds 3]

One script call shaped like a turn's first one (`conversation.store`'s begin: four
keys, three arguments, an answer of two values) is made `--calls` times in a row,
one at a time, against an embedded Valkey on the other core; this process's CPU
time per call is the client's cost (parsing, packing, the asyncio machinery).
The variants run in turn, `--rounds` times each, so machine noise hits them alike;
the median of the rounds is printed, with the load average.

    as used       redis-py's own Python RESP parser, socket timeout set
    hiredis       the same with hiredis's C parser and packer
    hiredis+lean  and the write without a task per command (`app.redis_client`)
    no timeout    hiredis and no socket timeout at all: what the timeout costs
    app client    `app.redis_client.redis_client`: hiredis+lean on redis-py's
                  BlockingConnectionPool (a burst waits for a connection instead of
                  failing), whose every checkout takes a Condition and a timeout
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
import uvloop
from redis._parsers import _AsyncHiredisParser, _AsyncRESP3Parser

from benchmarks.servers import Redis, pin

SCRIPT = """
local s = redis.call('GET', KEYS[1])
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {'ok', s or ''}
end
return {'busy', ''}
"""


def _client(url: str, variant: str) -> aioredis.Redis:
    from app.redis_client import redis_client
    from app.redis_connection import lean_connections

    if variant == "app client":
        return redis_client(url, cluster=False, socket_timeout=10.0)

    timeout = None if variant == "no timeout" else 10.0
    parser = _AsyncRESP3Parser if variant == "as used" else _AsyncHiredisParser
    client = aioredis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=timeout,
                                     parser_class=parser)
    if variant == "hiredis+lean":
        lean_connections(client)
    return client


async def _measure(url: str, variant: str, calls: int) -> float:
    client = _client(url, variant)
    script: Any = client.register_script(SCRIPT)
    keys = ["bench:conv:{web:1}:session", "bench:conv:{web:1}:lock",
            "bench:conv:{web:1}:seen", "bench:conv:{web:1}:answer"]
    args = ["0123456789abcdef", 1, "m-1"]
    for _ in range(200):  # connect, load the script
        await script(keys=keys, args=args)
        await client.delete(keys[1])
    cpu = time.process_time()
    for _ in range(calls):
        await script(keys=keys, args=args)
    spent = time.process_time() - cpu
    await client.aclose()
    return spent / calls * 1e6


VARIANTS = ("as used", "hiredis", "hiredis+lean", "no timeout", "app client")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.redis_calls")
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cpu", type=int, default=0, help="core for this process")
    parser.add_argument("--other-cpu", type=int, default=1, help="core for Valkey")
    args = parser.parse_args(argv)
    pin(os.getpid(), args.cpu)
    results: dict[str, list[float]] = {v: [] for v in VARIANTS}
    with tempfile.TemporaryDirectory() as folder:
        server = Redis.start(Path(folder))
        pin(server.pid or 0, args.other_cpu)
        try:
            for _ in range(args.rounds):
                for variant in VARIANTS:
                    results[variant].append(
                        uvloop.run(_measure(server.url, variant, args.calls)))
        finally:
            server.stop()
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"client CPU µs per script call (median of {args.rounds} rounds of {args.calls}; "
          f"load average {load})")
    for variant, values in results.items():
        print(f"  {variant:14} {statistics.median(values):6.1f}   "
              f"(rounds: {', '.join(f'{v:.1f}' for v in values)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
