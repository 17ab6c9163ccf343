"""Delivery state of outbox messages, for the inbox: queued, sent or failed.

The outbox delivers and retries; it does not say how it went to anyone. `tracking`
wraps the worker's deliver function so that every attempt's outcome is written
down under the message's outbox id:

    queued    written by whoever enqueued it (only if nothing is there yet, so a
              worker that delivered first is never overwritten); also after a
              failed attempt that will be retried (`attempts`, `error` say so)
    sent      the channel's sender returned (`SendLater`, "not yet", changes nothing)
    failed    the last attempt failed (or the channel said never): the outbox
              dead-letters it

`error` is the exception's type name only: a provider's message may quote the
shopper. Each change is also an event on the inbox's event stream, so an open
ticket page shows it at once. States expire after `STATE_TTL_S` (the ticket keeps
the message itself for good).
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
from .store import REDIS_DOWN
from .tickets import EVENTS_MAXLEN

STATE_TTL_S = 90 * 24 * 3600


class DeliveryState(StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"


class DeliveryStates:
    def __init__(self, redis: aioredis.Redis, *, prefix: str = "ohb:") -> None:
        self._redis = redis
        self._keys = Keys(prefix)

    async def queued(self, outbox_id: str) -> None:
        key = self._keys.delivery(outbox_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hsetnx(key, "state", DeliveryState.QUEUED.value)
            pipe.expire(key, STATE_TTL_S)
            await pipe.execute()

    async def record(
        self, outbox_id: str, state: DeliveryState, attempts: int, error: str | None = None
    ) -> None:
        key = self._keys.delivery(outbox_id)
        fields: dict[Any, Any] = {"state": state.value, "attempts": attempts,
                  "at": datetime.now(UTC).isoformat(), "error": error or ""}
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hset(key, mapping=fields)
            pipe.expire(key, STATE_TTL_S)
            pipe.xadd(self._keys.inbox_events(),
                      {"type": "delivery", "outbox": outbox_id, "state": state.value},
                      maxlen=EVENTS_MAXLEN, approximate=True)
            await pipe.execute()

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
            with contextlib.suppress(*REDIS_DOWN):
                await states.record(message.id, state, failures, type(exc).__name__)
            raise
        with contextlib.suppress(*REDIS_DOWN):  # never make a sent message look failed
            await states.record(message.id, DeliveryState.SENT, message.attempts + 1)

    return tracked


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
