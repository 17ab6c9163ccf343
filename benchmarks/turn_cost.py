"""`python -m app bench turns`: the CPU one web chat turn costs, per kind of dialogue.

The whole benchmark (`benchmarks.cli`) measures turns over HTTP with the server
saturated, where every kind of dialogue shares one figure and the run's noise.
This one calls the app in this process as ASGI (no sockets, no HTTP parser, no
client library), several dialogues at once, and divides the process's CPU time
(every thread: the records writer's too) by the turns: so a change to one kind of
turn (a hand-off's SQL, a return's checks) shows in that kind's figure, and two
trees can be compared by running this in each, one after the other.

    1. an embedded Valkey in a temp folder (its own process: its CPU is not counted)
    2. the demo shop scaled to the dialogues' shoppers, the records in SQLite under
       a temp DATA_DIR, business hours off (as in `benchmarks.cli`)
    3. per kind: a warm-up, then `--rounds` rounds of `--dialogues` dialogues,
       `--concurrency` at once; every reply is checked against its step
    4. a table on stdout (median and range of the rounds), JSON under bench-results/

Exit status: 0 when every reply was the one its step expects, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from benchmarks.dialogues import Dialogue, Kind, Step, dialogue
from benchmarks.drivers import message_id
from benchmarks.servers import ROOT, Redis
from benchmarks.shop import scaled_shop, shopper
from orders.demo import DemoBackend

KINDS = (Kind.TRACK, Kind.CANCEL, Kind.RETURN, Kind.HANDOFF)
ASGI = Callable[..., Any]


class AsgiCaller:
    """Posts to the app as a server would, minus the server: one ASGI call per
    request, the lifespan's state in the scope."""

    def __init__(self, app: ASGI, state: dict[str, Any]) -> None:
        self._app = app
        self._state = state

    async def post(self, path: str, body: bytes, token: str | None = None) -> tuple[int, bytes]:
        headers = [(b"content-type", b"application/json"), (b"host", b"bench")]
        if token is not None:
            headers.append((b"authorization", b"Bearer " + token.encode()))
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
                 "query_string": b"", "root_path": "", "headers": headers,
                 "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80),
                 "state": dict(self._state)}
        sent = False
        status = 0
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await asyncio.Event().wait()  # no disconnect while the app answers
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self._app(scope, receive, send)
        return status, b"".join(chunks)


async def _dialogue(caller: AsgiCaller, script: Dialogue) -> tuple[int, int]:
    """(turns, wrong answers) of one dialogue, from its new session on."""
    status, body = await caller.post("/api/chat/sessions", b"")
    if status != 201:
        raise RuntimeError(f"POST /api/chat/sessions answered {status}")
    token = json.loads(body)["token"]
    wrong = 0
    for step in script.steps:
        status, body = await caller.post("/api/chat/messages", _message(script, step), token)
        script.position += 1
        if status != 200:
            wrong += 1
            continue
        answer = json.loads(body)
        keys = tuple(reply["key"] for reply in answer["replies"])
        if keys != step.expect or bool(answer["duplicate"]) != step.redeliver:
            wrong += 1
    return len(script.steps), wrong


def _message(script: Dialogue, step: Step) -> bytes:
    body: dict[str, str] = {"message_id": message_id(script, step)}
    if step.payload is not None:
        body["payload"] = step.payload
    else:
        body["text"] = step.text or ""
    return json.dumps(body).encode()


async def _round(caller: AsgiCaller, scripts: list[Dialogue], concurrency: int) -> dict[str, Any]:
    queue = list(reversed(scripts))
    done: list[tuple[int, int]] = []

    async def lane() -> None:
        while queue:
            done.append(await _dialogue(caller, queue.pop()))

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(concurrency)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    turns = sum(t for t, _ in done)
    return {"turns": turns, "wrong": sum(w for _, w in done),
            "cpu_us_per_turn": cpu / turns * 1e6, "wall_us_per_turn": wall / turns * 1e6}


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    from app.main import create_app
    from app.settings import Settings

    kinds = [Kind(k) for k in args.kinds.split(",")]
    warm = 2 * args.concurrency
    shoppers = iter(range(len(kinds) * (warm + args.rounds * args.dialogues)))
    folder = Path(tempfile.mkdtemp(prefix="ohb-turns-"))
    redis_server = Redis.start(folder / "valkey")
    prefix = f"turns{secrets.token_hex(3)}:"
    stats = aioredis.Redis.from_url(redis_server.url)
    try:
        total = len(kinds) * (warm + args.rounds * args.dialogues)
        await DemoBackend(stats, prefix=prefix).load(scaled_shop(total), replace=True)
        settings = Settings(redis_url=redis_server.url, redis_prefix=prefix,
                            data_dir=folder / "data", web_chat_secret=secrets.token_urlsafe(32),
                            business_hours="", worker_in_process=False,
                            _env_file=None)
        app = create_app(settings)
        results: dict[str, Any] = {"kinds": {}}
        async with app.router.lifespan_context(app) as state:
            caller = AsgiCaller(app, dict(state or {}))
            for kind in kinds:
                await _round(caller, [dialogue(kind, shopper(next(shoppers)))
                                      for _ in range(warm)], args.concurrency)
            for kind in kinds:
                rounds = [await _round(caller, [dialogue(kind, shopper(next(shoppers)))
                                                for _ in range(args.dialogues)],
                                       args.concurrency)
                          for _ in range(args.rounds)]
                results["kinds"][kind.value] = {
                    "rounds": rounds,
                    "cpu_us_per_turn": statistics.median(r["cpu_us_per_turn"] for r in rounds),
                    "wall_us_per_turn": statistics.median(r["wall_us_per_turn"] for r in rounds),
                    "wrong": sum(r["wrong"] for r in rounds),
                }
                print(f"bench turns: {kind.value} done", file=sys.stderr)
        return results
    finally:
        await stats.aclose()
        redis_server.stop()


def _table(results: dict[str, Any]) -> str:
    lines = [f"{'kind':10} {'turns':>7} {'µs CPU/turn':>12} {'range':>15} {'µs wall/turn':>13} "
             f"{'wrong':>6}", "-" * 68]
    for kind, figures in results["kinds"].items():
        cpus = [r["cpu_us_per_turn"] for r in figures["rounds"]]
        lines.append(
            f"{kind:10} {sum(r['turns'] for r in figures['rounds']):>7,} "
            f"{figures['cpu_us_per_turn']:>12,.0f} {f'{min(cpus):,.0f}-{max(cpus):,.0f}':>15} "
            f"{figures['wall_us_per_turn']:>13,.0f} {figures['wrong']:>6}")
    machine = results["machine"]
    lines += ["", f"{machine['cpus']} cpus, load average {machine['load_before']:.2f} before, "
              f"{machine['load_after']:.2f} after; {results['concurrency']} dialogues at once, "
              f"{results['rounds']} rounds of {results['dialogues']} per kind (median shown); "
              "CPU of this whole process (every thread) per turn"]
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app bench turns",
                                     description="CPU per web chat turn, per kind of dialogue.")
    parser.add_argument("--kinds", default=",".join(k.value for k in KINDS),
                        help="comma-separated: track,cancel,return,handoff (default all)")
    parser.add_argument("--dialogues", type=int, default=150, help="per round (default 150)")
    parser.add_argument("--rounds", type=int, default=3, help="per kind (default 3)")
    parser.add_argument("--concurrency", type=int, default=8,
                        help="dialogues at once (default 8)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results",
                        help="folder for the JSON results (default bench-results/)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    load_before = os.getloadavg()[0]
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    # the bot's log lines are formatted and written as in a server, to nowhere
    root, level = logging.getLogger(), logging.getLogger().level
    with open(os.devnull, "w") as sink, runner:
        handler = logging.StreamHandler(sink)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        try:
            results = runner.run(_run(args))
        finally:
            root.removeHandler(handler)
            root.setLevel(level)
    results.update(concurrency=args.concurrency, rounds=args.rounds, dialogues=args.dialogues,
                   machine={"cpus": os.cpu_count(), "load_before": load_before,
                            "load_after": os.getloadavg()[0]})
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"turns-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(results, indent=2))
    print(_table(results))
    print(f"\nresults: {path}")
    return 0 if all(f["wrong"] == 0 for f in results["kinds"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
