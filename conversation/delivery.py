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

Batched: "sent" is most of these writes (one per delivered message). It is queued
into the client's batch of calls (`conversation.scripts.turn_batch`) as a lazy call,
ahead of the outbox's acknowledgement of the same message, and not waited for: the
state rides in the acknowledgement's pipeline, and its inbox event (written only
if the state moved, so it needs the state's answer; the event stream is in another
Cluster slot, so the two cannot be one script) rides in the next pipeline that goes
out, which under load is the next delivery's, or goes on its own within
`EVENT_DELAY_S`. No task per message. Its errors never reach the outbox (a sent
message must not be sent again): Redis being away is ignored, as for every state,
anything else is logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import redis.asyncio as aioredis

from .keys import Keys
from .outbox import Deliver, OutboxMessage, RetryPolicy, SendLater, Undeliverable
from .scripts import Command, ScriptCall, turn_batch
from .store import REDIS_DOWN
from .tickets import EVENT_DELAY_S, EVENTS_MAXLEN

log = logging.getLogger(__name__)

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
        self._pending: set[asyncio.Future[bool]] = set()

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

    def record_batched(
        self, outbox_id: str, state: DeliveryState, attempts: int
    ) -> asyncio.Future[bool]:
        """`record`, queued now as a lazy call of the client's batch (see the module
        docstring); the future ends once it is written, with its event if it moved
        the message forward, and says whether it did."""
        fields: dict[str, Any] = {"state": state.value, "attempts": attempts,
                                  "at": datetime.now(UTC).isoformat(), "error": ""}
        pairs = [str(x) for item in fields.items() for x in item]
        batch = turn_batch(self._redis)
        written: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        written.add_done_callback(_retrieved)
        self._pending.add(written)
        written.add_done_callback(self._pending.discard)
        moved = batch.submit(ScriptCall(self._forward, [self._keys.delivery(outbox_id)],
                                        [RANK[state], STATE_TTL_S, *pairs]), lazy=EVENT_DELAY_S)
        moved.add_done_callback(functools.partial(self._announce, outbox_id, state, written))
        return written

    async def settle(self) -> None:
        """Send the batched writes and their events (before the client is closed)."""
        batch = turn_batch(self._redis)
        while self._pending:
            await batch.settle()
            await asyncio.sleep(0)  # the states' answers queue their events

    def _announce(self, outbox_id: str, state: DeliveryState, written: asyncio.Future[bool],
                  moved: asyncio.Future[Any]) -> None:
        """The state's answer: if it moved, queue its inbox event (lazy too)."""
        if written.done() or _failed(moved, written):
            return
        if moved.result() != 1:
            written.set_result(False)
            return
        event = turn_batch(self._redis).submit(Command((
            "XADD", self._keys.inbox_events(), "MAXLEN", "~", EVENTS_MAXLEN, "*",
            "type", "delivery", "outbox", outbox_id, "state", state.value)), lazy=EVENT_DELAY_S)
        event.add_done_callback(functools.partial(_landed, written))

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
        # queued ahead of the outbox's acknowledgement, and never makes a sent message
        # look failed
        sent = states.record_batched(message.id, DeliveryState.SENT, message.attempts + 1)
        sent.add_done_callback(functools.partial(_report, message.id))

    return tracked


def _landed(written: asyncio.Future[bool], event: asyncio.Future[Any]) -> None:
    if not written.done() and not _failed(event, written):
        written.set_result(True)


def _failed(step: asyncio.Future[Any], written: asyncio.Future[bool]) -> bool:
    """Fail `written` the way `step` failed, if it did. (A cancelled future's
    `exception()` raises: asking it first would lose `written` in a callback.)"""
    if step.cancelled():
        written.cancel()
        return True
    if (exc := step.exception()) is not None:
        written.set_exception(exc)
        return True
    return False


def _retrieved(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def _report(outbox_id: str, written: asyncio.Future[bool]) -> None:
    """A "sent" that could not be written: logged, unless Redis was away."""
    if written.cancelled():
        return
    exc = written.exception()
    if exc is not None and not isinstance(exc, REDIS_DOWN):
        log.error("delivery state: 'sent' of message %s not recorded: %s",
                  outbox_id, type(exc).__name__)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
