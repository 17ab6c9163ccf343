"""Delivery state of outbox messages, for the inbox: queued, sent, delivered,
read or failed.

The outbox delivers and retries; it does not say how it went to anyone. `tracking`
wraps the worker's deliver function so that every attempt's outcome is written
down under the message's outbox id:

    queued    written by whoever enqueued it (only if nothing is there yet, so a
              worker that delivered first is never overwritten); also after a
              failed attempt that will be retried (`attempts`, `error` say so)
    sent      the channel's sender returned (`SendLater`, "not yet", changes nothing)
    delivered the provider says it reached the shopper's phone (Twilio's status
              callback; Telegram and the web chat do not say)
    read      the provider says the shopper read it (WhatsApp read receipts)
    failed    the last attempt failed (or the channel said never): the outbox
              dead-letters it; or the provider reported it failed/undelivered

A state only moves forward (queued < sent < delivered < read < failed), so a late
"sent" never hides a "delivered" that came first. `error` is the channel's `reason`
when it gave one we wrote ("blocked: Telegram answered 403…", a Twilio error code
in words), else the exception's type name: a provider's free text may quote the
shopper. Each change is also an event on the inbox's event stream, so an open
ticket page shows it at once. States expire after `STATE_TTL_S` (the ticket keeps
the message itself for good).

Batched: "sent" is most of these writes (one per delivered message), so the ones
that finish in the same turn of the event loop are written together, one pipeline
for the states and one for their events, instead of two round trips each.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import redis.asyncio as aioredis

from .keys import Keys
from .outbox import Deliver, OutboxMessage, RetryPolicy, SendLater, Undeliverable
from .scripts import ScriptCall, run_batched
from .store import REDIS_DOWN
from .tickets import EVENTS_MAXLEN

STATE_TTL_S = 90 * 24 * 3600


class DeliveryState(StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


RANK = {DeliveryState.QUEUED: 0, DeliveryState.SENT: 1, DeliveryState.DELIVERED: 2,
        DeliveryState.READ: 3, DeliveryState.FAILED: 4}

# KEYS: the state hash. ARGV: rank, ttl s, then field/value pairs. Writes only when
# the new state's rank is not below the one kept.
_FORWARD = """
local old = tonumber(redis.call('HGET', KEYS[1], 'rank') or '-1')
if tonumber(ARGV[1]) < old then return 0 end
redis.call('HSET', KEYS[1], 'rank', ARGV[1], unpack(ARGV, 3))
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""

# Twilio's error codes on a failed/undelivered callback, in words for staff.
TWILIO_ERRORS = {
    "63016": "outside the 24-hour window: the shopper must write first",
    "63003": "the number is not on WhatsApp",
    "63024": "not a valid WhatsApp recipient",
    "63032": "the shopper's WhatsApp cannot receive this message",
    "63049": "Meta chose not to deliver this message",
    "30003": "the phone is unreachable or switched off",
    "30005": "unknown or inactive number",
    "30006": "the number cannot receive messages",
    "30007": "blocked as spam by the carrier",
    "30008": "unknown error at the carrier",
}


def twilio_reason(status: str, code: str | None) -> str:
    words = TWILIO_ERRORS.get(code or "", "no reason given" if not code else "")
    return f"WhatsApp: {status} (Twilio {code or '-'}{': ' + words if words else ''})"


class DeliveryStates:
    def __init__(self, redis: aioredis.Redis, *, prefix: str = "ohb:") -> None:
        self._redis = redis
        self._keys = Keys(prefix)
        self._forward = redis.register_script(_FORWARD)
        self._batch: list[tuple[str, DeliveryState, dict[str, Any], asyncio.Future[bool]]] = []
        self._flushing: set[asyncio.Task[None]] = set()

    async def queued(self, outbox_id: str) -> None:
        key = self._keys.delivery(outbox_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hsetnx(key, "state", DeliveryState.QUEUED.value)
            pipe.expire(key, STATE_TTL_S)
            await pipe.execute()

    async def record(
        self, outbox_id: str, state: DeliveryState, attempts: int, error: str | None = None
    ) -> None:
        fields: dict[str, Any] = {"state": state.value, "attempts": attempts,
                                  "at": datetime.now(UTC).isoformat(), "error": error or ""}
        await self._write(outbox_id, state, fields)

    async def record_batched(self, outbox_id: str, state: DeliveryState, attempts: int) -> bool:
        """`record`, written with the others recorded in the same turn of the event
        loop (see the module docstring). True if it moved the message forward."""
        fields: dict[str, Any] = {"state": state.value, "attempts": attempts,
                                  "at": datetime.now(UTC).isoformat(), "error": ""}
        loop = asyncio.get_running_loop()
        done: asyncio.Future[bool] = loop.create_future()
        done.add_done_callback(_retrieved)  # its waiter may be gone (cancelled)
        self._batch.append((outbox_id, state, fields, done))
        if len(self._batch) == 1:
            loop.call_soon(self._flush_later)
        return await asyncio.shield(done)  # a cancelled delivery leaves the batch intact

    def _flush_later(self) -> None:
        batch, self._batch = self._batch, []
        task = asyncio.get_running_loop().create_task(self._flush(batch))
        self._flushing.add(task)
        task.add_done_callback(self._flushing.discard)

    async def _flush(
        self, batch: list[tuple[str, DeliveryState, dict[str, Any], asyncio.Future[bool]]]
    ) -> None:
        try:
            moved = await run_batched(self._redis, [
                ScriptCall(self._forward, [self._keys.delivery(outbox_id)],
                           [RANK[state], STATE_TTL_S,
                            *(str(x) for item in fields.items() for x in item)])
                for outbox_id, state, fields, _ in batch])
            events = [(outbox_id, state) for (outbox_id, state, _, _), m
                      in zip(batch, moved, strict=True) if m == 1]
            if events:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for outbox_id, state in events:
                        pipe.xadd(self._keys.inbox_events(),
                                  {"type": "delivery", "outbox": outbox_id,
                                   "state": state.value},
                                  maxlen=EVENTS_MAXLEN, approximate=True)
                    await pipe.execute()
        except BaseException as exc:
            for *_, done in batch:
                if not done.done():
                    done.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (*_, done), m in zip(batch, moved, strict=True):
            if done.done():
                continue
            if isinstance(m, Exception):
                done.set_exception(m)
            else:
                done.set_result(m == 1)

    async def reported(self, outbox_id: str, state: DeliveryState, reason: str | None) -> bool:
        """What the provider said later (a Twilio status callback); True if it moved
        the message forward."""
        fields: dict[str, Any] = {"state": state.value, "at": datetime.now(UTC).isoformat()}
        if reason:
            fields["error"] = reason
        return await self._write(outbox_id, state, fields)

    async def _write(self, outbox_id: str, state: DeliveryState, fields: dict[str, Any]) -> bool:
        key = self._keys.delivery(outbox_id)
        pairs = [str(x) for item in fields.items() for x in item]
        script: Any = self._forward
        moved = bool(await script(keys=[key], args=[RANK[state], STATE_TTL_S, *pairs]))
        if moved:
            await self._redis.xadd(
                self._keys.inbox_events(),
                {"type": "delivery", "outbox": outbox_id, "state": state.value},
                maxlen=EVENTS_MAXLEN, approximate=True)
        return moved

    async def get_many(self, outbox_ids: list[str]) -> dict[str, dict[str, str]]:
        """Each id's state (`state`, `attempts`, `error`); unknown ids are left out."""
        if not outbox_ids:
            return {}
        async with self._redis.pipeline(transaction=False) as pipe:
            for outbox_id in outbox_ids:
                pipe.hgetall(self._keys.delivery(outbox_id))
            found = await pipe.execute()
        return {
            outbox_id: {_text(k): _text(v) for k, v in fields.items()}
            for outbox_id, fields in zip(outbox_ids, found, strict=True) if fields
        }


def tracking(deliver: Deliver, states: DeliveryStates, retry: RetryPolicy) -> Deliver:
    """`deliver`, with each attempt's outcome recorded. The outcome is passed on
    unchanged: an exception still goes to the outbox, which retries or buries."""

    async def tracked(message: OutboxMessage) -> None:
        try:
            await deliver(message)
        except SendLater:  # not an attempt: it stays queued as it is
            raise
        except (Exception, asyncio.CancelledError) as exc:  # a timeout cancels the send
            failures = message.attempts + 1
            final = isinstance(exc, Undeliverable) or failures >= retry.max_attempts
            state = DeliveryState.FAILED if final else DeliveryState.QUEUED
            reason = exc.reason if isinstance(exc, Undeliverable) else None
            with contextlib.suppress(*REDIS_DOWN):
                await states.record(message.id, state, failures, reason or type(exc).__name__)
            raise
        with contextlib.suppress(*REDIS_DOWN):  # never make a sent message look failed
            await states.record_batched(message.id, DeliveryState.SENT, message.attempts + 1)

    return tracked


def _retrieved(future: asyncio.Future[bool]) -> None:
    if not future.cancelled():
        future.exception()


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
