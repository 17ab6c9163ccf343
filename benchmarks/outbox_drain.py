"""Where the CPU goes when the outbox delivers Telegram messages:

    python -m benchmarks.outbox_drain --messages 3000 --chats 3000
    python -m benchmarks.outbox_drain --rate 300 --seconds 10 --chats 3000

The real `Outbox`, the real `TelegramSender` (python-telegram-bot over aiohttp, or
with `--transport httpx` over PTB's default) and
the worker's deliver chain (`app.worker.run_worker`, with delivery states), one
consumer in this process, pinned to one core. The fake Bot API (`BotApi`), the
Redis-protocol server and, with `--rate`, the producer run in other processes on
the other core, so this process's CPU time is the consumer's alone.

Backlog mode (default) queues `--messages` over `--chats` first, then drains them.
Rate mode queues `--rate` messages a second for `--seconds` round-robin over the
chats while the consumer runs (like the benchmark's webhook turns). Both print
messages/s, CPU µs per message, Redis commands and round trips per message (from
INFO, the producer's enqueue scripts left out) and XREADGROUP calls per message.
The bot-wide rate is lifted like in `python -m app bench`; per-chat pacing is not.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
import uvloop
from telegram import Bot
from telegram.request import HTTPXRequest

from app.redis_connection import lean_connections
from app.resources import REDIS_SOCKET_TIMEOUT_S
from app.worker import run_worker
from benchmarks.fakes import BotApi, FakeApi
from benchmarks.probes import RedisSnapshot
from benchmarks.servers import Redis, pin
from channels.telegram import conversation_of
from channels.telegram_sender import TelegramSender
from channels.telegram_transport import AiohttpRequest
from conversation.outbox import Outbox, OutboxMessage
from conversation.types import Channel, Reply

PREFIX = "drain:"
TOKEN = "123456789:" + "D" * 35
REPLIES = (Reply(key="order.status", text="Your order <b>#1001</b> shipped on Monday."),)
# what one `Outbox.enqueue` (no dedup, no unlock) costs Redis: the producer's part
ENQUEUE = {"evalsha": 1, "xadd": 1, "rpush": 1, "expire": 1}


def _serve_fake(conn: Connection, cpu: int | None) -> None:
    """Child process: the fake Bot API until told to stop; sends back its count."""
    pin(os.getpid(), cpu)
    bot = BotApi()

    async def serve() -> None:
        api = FakeApi("telegram", bot.answer)
        await api.start()
        conn.send(api.port)
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)
        conn.send(bot.messages)
        await api.stop()

    asyncio.run(serve())


def _produce(url: str, chats: int, rate: float, seconds: float, cpu: int | None) -> None:
    """Child process: enqueue at `rate`/s, round-robin over the chats."""
    pin(os.getpid(), cpu)

    async def produce() -> None:
        redis = aioredis.Redis.from_url(url)
        outbox = Outbox(redis, prefix=PREFIX)
        total = int(rate * seconds)
        start = time.perf_counter()
        for n in range(total):
            ahead = start + n / rate - time.perf_counter()
            if ahead > 0:
                await asyncio.sleep(ahead)
            await outbox.enqueue(Channel.TELEGRAM, conversation_of(1000 + n % chats), REPLIES)
        await redis.aclose()

    asyncio.run(produce())


async def _enqueue_backlog(redis: aioredis.Redis, messages: int, chats: int) -> None:
    outbox = Outbox(redis, prefix=PREFIX)
    for start in range(0, messages, 32):
        await asyncio.gather(*(
            outbox.enqueue(Channel.TELEGRAM, conversation_of(1000 + n % chats), REPLIES)
            for n in range(start, min(messages, start + 32))
        ))


async def drain(args: argparse.Namespace, url: str, api_port: int) -> dict[str, Any]:
    redis = lean_connections(aioredis.Redis.from_url(  # the app's own client (app.resources)
        url, socket_connect_timeout=3, socket_timeout=REDIS_SOCKET_TIMEOUT_S))
    info = aioredis.Redis.from_url(url)
    await redis.flushdb()
    request = (AiohttpRequest if args.transport == "aiohttp" else HTTPXRequest)(
        connection_pool_size=16, connect_timeout=5.0, read_timeout=10.0)
    bot = Bot(TOKEN, base_url=f"http://127.0.0.1:{api_port}/bot", request=request)
    await bot.initialize()
    sender = TelegramSender(bot, redis, prefix=PREFIX, bot_rate=100_000)
    total = args.messages if args.rate is None else int(args.rate * args.seconds)
    delivered = 0
    lags: list[float] = []
    finished = asyncio.Event()

    async def deliver(message: OutboxMessage) -> None:
        nonlocal delivered
        await sender.deliver(message)
        delivered += 1
        lags.append(time.time() - message.created_at.timestamp())
        if delivered >= total:
            finished.set()

    if args.rate is None:
        await _enqueue_backlog(redis, args.messages, args.chats)
    await Outbox(redis, prefix=PREFIX).ensure_group()
    producer = None
    before = await RedisSnapshot.take(info)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(
        redis, prefix=PREFIX, stop=stop, consumer_name="drain",
        senders={Channel.TELEGRAM: deliver},
        outbox=Outbox(redis, prefix=PREFIX, **({} if args.concurrency is None else
                                               {"concurrency": args.concurrency}))))
    if args.rate is not None:
        producer = multiprocessing.Process(
            target=_produce, args=(url, args.chats, args.rate, args.seconds, args.other_cpu))
        producer.start()
    try:
        await asyncio.wait_for(finished.wait(), args.timeout)
    except TimeoutError:
        print(f"timed out: {delivered} of {total} delivered", file=sys.stderr)
    cpu1, wall1 = time.process_time(), time.perf_counter()
    after = await RedisSnapshot.take(info)
    stop.set()
    await worker
    if producer is not None:
        producer.join()
    await bot.shutdown()
    await redis.aclose()
    await info.aclose()
    delta = after.since(before)
    commands = dict(delta.commands)
    enqueued = total if args.rate is not None else 0
    for name, calls in ENQUEUE.items():
        commands[name] = commands.get(name, 0) - calls * enqueued
    n = max(delivered, 1)
    return {
        "delivered": delivered,
        "seconds": round(wall1 - wall0, 2),
        "messages_per_s": round(delivered / (wall1 - wall0), 1),
        "cpu_us_per_message": round((cpu1 - cpu0) * 1e6 / n),
        "cpu_share": round((cpu1 - cpu0) / (wall1 - wall0), 2),
        "redis_commands_per_message": round(sum(commands.values()) / n, 2),
        "redis_round_trips_per_message": round((delta.round_trips - enqueued) / n, 2),
        "xreadgroup_per_message": round(commands.get("xreadgroup", 0) / n, 3),
        "lag_p50_ms": round(statistics.median(lags) * 1000, 1) if lags else None,
        "lag_max_ms": round(max(lags) * 1000, 1) if lags else None,
        "commands": {k: round(v / n, 3) for k, v in sorted(commands.items()) if v},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.outbox_drain")
    parser.add_argument("--messages", type=int, default=3000, help="backlog mode: how many")
    parser.add_argument("--chats", type=int, default=3000)
    parser.add_argument("--rate", type=float, help="rate mode: messages queued a second")
    parser.add_argument("--seconds", type=float, default=10.0, help="rate mode: how long")
    parser.add_argument("--concurrency", type=int, help="the outbox's (default: its own)")
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--transport", choices=("aiohttp", "httpx"), default="aiohttp",
                        help="the Bot's HTTP layer: the product's (aiohttp) or PTB's default")
    parser.add_argument("--cpu", type=int, default=0, help="core for the consumer")
    parser.add_argument("--other-cpu", type=int, default=1, help="core for the rest")
    args = parser.parse_args(argv)
    pin(os.getpid(), args.cpu)
    parent, child = multiprocessing.Pipe()
    fake = multiprocessing.Process(target=_serve_fake, args=(child, args.other_cpu))
    fake.start()
    api_port = parent.recv()
    url = os.environ.get("REDIS_URL")
    server = None
    with tempfile.TemporaryDirectory() as data_dir:
        if url is None:
            server = Redis.start(Path(data_dir))
            pin(server.pid or 0, args.other_cpu)
            url = server.url
        try:
            result = uvloop.run(drain(args, url, api_port))  # as uvicorn runs the app
        finally:
            parent.send("stop")
            result_sent = parent.recv()
            fake.join()
            if server is not None:
                server.stop()
    result["fake_api_messages"] = result_sent
    result["load_average"] = " ".join(f"{v:.2f}" for v in os.getloadavg())
    for key, value in result.items():
        print(f"{key:32} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
