"""The background sender: drains the outbox and hands each message to its channel.

`python -m app worker` runs it as its own process (the Procfile's `worker:`); with
no separate worker the web app runs the same consumer inside its lifespan through
`start_in_process`. Several workers (and web processes) may run at once: the
outbox gives each message to one of them and keeps each conversation in order.
A worker reads every partition of the outbox (`OUTBOX_PARTITIONS`) and delivers to
up to `WORKER_CONCURRENCY` conversations at once, shared over the partitions.

Senders are a dict from channel to an async function, passed in: web and terminal
append to the web push log (the browser reads it over `GET /api/chat/events`);
Telegram and WhatsApp senders come from `app.channels` (they need the Bot and
the Twilio client, opened with the process); a channel that is not configured
has none, so its messages are retried and then dead-lettered with
`ChannelUnavailable`. The staff notification webhook is one more sender
(`app.inbox.notify`). Every attempt's outcome is recorded (`conversation.delivery`)
so the inbox shows each staff reply as queued, sent or failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
from collections.abc import Awaitable, Callable, Mapping

import redis.asyncio as aioredis

from app.channels import open_channels
from app.heartbeat import keep_beating
from app.inbox.notify import open_staff_senders
from app.metrics import Board, counting_deliveries
from app.resources import REDIS_DOWN, open_redis, outbox_for
from app.settings import Settings
from channels.web_push import WebPushLog
from conversation.delivery import DeliveryStates, tracking
from conversation.notifier import NoticeDesk
from conversation.outbox import (
    ChannelUnavailable,
    Deliver,
    Outbox,
    OutboxMessage,
    OutboxUnavailable,
)
from conversation.store import ConversationBusy, StoreUnavailable
from conversation.types import Channel

log = logging.getLogger(__name__)

RELEASE_EVERY_S = 5.0  # how often held shipping notifications are looked at

Sender = Callable[[OutboxMessage], Awaitable[None]]


def default_senders(redis: aioredis.Redis, prefix: str) -> dict[Channel, Sender]:
    pushes = WebPushLog(redis, prefix)
    return {Channel.WEB: pushes.deliver, Channel.TERMINAL: pushes.deliver}


def dispatcher(senders: Mapping[Channel, Sender]) -> Deliver:
    """One deliver function for the outbox: look the channel up, send."""

    async def deliver(message: OutboxMessage) -> None:
        sender = senders.get(message.channel)
        if sender is None:
            raise ChannelUnavailable(f"no sender for channel {message.channel.value} yet")
        await sender(message)

    return deliver


def consumer_name() -> str:
    """Unique per process start, so a restarted worker never inherits a dead one's
    pending messages by name: those are reclaimed once idle, like any crash."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


async def run_worker(
    redis: aioredis.Redis,
    *,
    prefix: str,
    stop: asyncio.Event,
    consumer_name: str,
    senders: Mapping[Channel, Sender] | None = None,
    outbox: Outbox | None = None,
    board: Board | None = None,
) -> None:
    """Deliver until `stop` is set. `outbox` lets tests and tuning pass their
    own timings; by default the outbox's production defaults. `board`: where a
    worker of its own publishes its metrics (the web process publishes its own)."""
    outbox = outbox or Outbox(redis, prefix=prefix)
    deliver = dispatcher(default_senders(redis, prefix) if senders is None else senders)
    # each attempt's outcome is written down, so the inbox shows sent / failed
    states = DeliveryStates(redis, prefix=prefix)
    deliver = tracking(deliver, states, outbox.retry)
    deliver = counting_deliveries(deliver, outbox.retry)
    log.info("outbox worker %s started", consumer_name)
    releasing = asyncio.create_task(release_held(NoticeDesk(redis, outbox, prefix=prefix), stop),
                                    name="notice-release")
    beating = asyncio.create_task(keep_beating(redis, prefix, consumer_name, stop, board),
                                  name="worker-heartbeat")
    try:
        await outbox.run(deliver, consumer=consumer_name, stop=stop)
    finally:
        await states.settle()  # the last "sent" states written before the client goes
        for task in (releasing, beating):
            if not stop.is_set():  # the sender failed: the loops go with it
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if board is not None:
            with contextlib.suppress(*REDIS_DOWN):
                await board.withdraw()
    log.info("outbox worker %s stopped", consumer_name)


async def release_held(desk: NoticeDesk, stop: asyncio.Event,
                       every: float = RELEASE_EVERY_S) -> None:
    """Release the shipping notifications held through quiet hours, once they end.
    Every worker may run this: a notice is told once, whoever releases it."""
    while not stop.is_set():
        try:
            if released := await desk.release_due():
                log.info("notifier: released %d held notification(s)", released)
        except (StoreUnavailable, OutboxUnavailable, ConversationBusy):
            log.warning("notifier: could not release held notifications; retrying")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)


def start_in_process(
    redis: aioredis.Redis,
    *,
    prefix: str,
    senders: Mapping[Channel, Sender] | None = None,
    outbox: Outbox | None = None,
) -> tuple[asyncio.Task[None], asyncio.Event]:
    """Run the worker as a task of the current event loop (the web process with
    no separate worker). Stop it with `stop.set(); await task`."""
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_worker(
            redis,
            prefix=prefix,
            stop=stop,
            consumer_name=consumer_name(),
            senders=senders,
            outbox=outbox,
        ),
        name="outbox-worker",
    )
    task.add_done_callback(_log_crash)
    return task, stop


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("outbox worker stopped on an error", exc_info=task.exception())


async def _serve(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with (
            open_redis(settings) as redis,
            open_channels(settings, redis) as channels,
            open_staff_senders(settings) as staff,
        ):
            senders = {**default_senders(redis, settings.redis_prefix), **channels.senders(),
                       **staff}
            name = consumer_name()
            await run_worker(
                redis,
                prefix=settings.redis_prefix,
                stop=stop,
                consumer_name=name,
                senders=senders,
                board=Board(redis, settings.redis_prefix, f"worker-{name}"),
                outbox=outbox_for(settings, redis),
            )
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def main(settings: Settings) -> None:
    """`python -m app worker`: `REDIS_URL`, or the embedded Valkey in `DATA_DIR`
    (shared with the web process). SIGINT/SIGTERM finish the delivery in hand."""
    if settings.otel_exporter_otlp_endpoint:  # optional: imported only when asked for
        from app import tracing

        tracing.configure(settings.otel_exporter_otlp_endpoint)
    asyncio.run(_serve(settings))
