"""The worker: outbox -> channel senders, in process and as `python -m app worker`."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import redis.asyncio as aioredis

from app.worker import Sender, default_senders, run_worker, start_in_process
from channels.web_push import WebPushLog
from conversation.outbox import GROUP, Outbox, OutboxMessage, RetryPolicy
from conversation.types import Channel, Reply

PREFIX = "t:"
REPLY = Reply("staff.reply", "Your refund was approved")


def fast_outbox(redis: aioredis.Redis) -> Outbox:
    return Outbox(
        redis,
        prefix=PREFIX,
        retry=RetryPolicy(max_attempts=3, base=0.005, cap=0.02),
        min_idle=5.0,
        lease_ttl=2.0,
        deliver_timeout=1.0,
        block=0.02,
        recheck=0.01,
    )


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_web_and_terminal_messages_land_in_the_push_log(redis: aioredis.Redis) -> None:
    outbox = fast_outbox(redis)
    log = WebPushLog(redis, PREFIX)
    await outbox.enqueue(Channel.WEB, "web:abc", [REPLY])
    await outbox.enqueue(Channel.TERMINAL, "terminal:me", [REPLY])
    task, stop = start_in_process(redis, prefix=PREFIX, outbox=outbox)

    async def both_delivered() -> bool:
        return bool(await log.read("web:abc")) and bool(await log.read("terminal:me"))

    await eventually(both_delivered)
    stop.set()
    await asyncio.wait_for(task, 2)
    [web_event] = await log.read("web:abc")
    assert web_event.replies == (REPLY,)
    assert len(await log.read("terminal:me")) == 1
    assert await outbox.backlog() == 0


async def test_a_redelivered_message_shows_up_once(redis: aioredis.Redis) -> None:
    """At least once: a crash after appending, before acknowledging, delivers again."""
    log = WebPushLog(redis, PREFIX)
    outbox = fast_outbox(redis)
    await outbox.enqueue(Channel.WEB, "web:abc", [REPLY])
    crashed = False

    async def append_then_crash(message: OutboxMessage) -> None:
        nonlocal crashed
        await log.deliver(message)
        if not crashed:
            crashed = True
            raise ConnectionError("lost the connection before the ack")

    stop = asyncio.Event()
    senders: dict[Channel, Sender] = {Channel.WEB: append_then_crash}
    task = asyncio.create_task(
        run_worker(
            redis, prefix=PREFIX, stop=stop, consumer_name="w1", senders=senders, outbox=outbox
        )
    )

    async def settled() -> bool:
        return crashed and await outbox.backlog() == 0

    await eventually(settled)
    stop.set()
    await asyncio.wait_for(task, 2)
    assert len(await log.read("web:abc")) == 1


async def test_channels_without_a_sender_are_dead_lettered_with_the_reason(
    redis: aioredis.Redis,
) -> None:
    outbox = fast_outbox(redis)
    await outbox.enqueue(Channel.TELEGRAM, "telegram:42", [REPLY])
    await outbox.enqueue(Channel.WHATSAPP, "whatsapp:+15550001", [REPLY])
    task, stop = start_in_process(redis, prefix=PREFIX, outbox=outbox)

    async def two_dead() -> bool:
        return len(await outbox.dead_letters()) == 2

    await eventually(two_dead)
    stop.set()
    await asyncio.wait_for(task, 2)
    reasons = {d.message.channel: d.error for d in await outbox.dead_letters()}
    assert reasons == {
        Channel.TELEGRAM: "ChannelUnavailable: no sender for channel telegram yet",
        Channel.WHATSAPP: "ChannelUnavailable: no sender for channel whatsapp yet",
    }
    assert all(d.message.attempts == 3 for d in await outbox.dead_letters())


async def test_registering_a_sender_is_one_entry(redis: aioredis.Redis) -> None:
    outbox = fast_outbox(redis)
    sent: list[str] = []

    async def telegram(message: OutboxMessage) -> None:
        sent.append(message.conversation)

    senders = {**default_senders(redis, PREFIX), Channel.TELEGRAM: telegram}
    await outbox.enqueue(Channel.TELEGRAM, "telegram:42", [REPLY])
    task, stop = start_in_process(redis, prefix=PREFIX, senders=senders, outbox=outbox)

    async def sent_once() -> bool:
        return sent == ["telegram:42"]

    await eventually(sent_once)
    stop.set()
    await asyncio.wait_for(task, 2)
    assert await outbox.dead_letters() == []


async def test_python_m_app_worker_delivers_and_stops_on_sigterm(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path
) -> None:
    outbox = Outbox(redis, prefix=PREFIX)
    await outbox.enqueue(Channel.WEB, "web:abc", [REPLY])
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "REDIS_PREFIX": PREFIX,
        "DATA_DIR": str(tmp_path),
        "LOG_LEVEL": "INFO",
    }
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app",
        "worker",
        cwd=tmp_path,  # no .env from the developer's checkout
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        log = WebPushLog(redis, PREFIX)

        async def delivered() -> bool:
            assert worker.returncode is None, "the worker exited early"
            return bool(await log.read("web:abc"))

        await eventually(delivered, within=15)
        worker.send_signal(signal.SIGTERM)
        _out, err = await asyncio.wait_for(worker.communicate(), 5)
        code = worker.returncode
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()
    assert code == 0, err.decode()
    assert b"stopped" in err
    assert b"web:abc" not in err  # no conversation keys in the logs
    # A clean stop with nothing pending leaves no consumer behind.
    assert await redis.xinfo_consumers(outbox.stream_key, GROUP) == []
