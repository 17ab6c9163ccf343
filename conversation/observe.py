"""One turn, seen from outside: counted, timed, traced, and tagged in the logs.

`observed_turn` decorates `Engine.handle` (one line in the engine). During the
turn, `CONVERSATION` holds the conversation's short hash, so every log line of
the turn can carry it (`app.observe` puts it on the record) without naming the
conversation. `turn_span` is a hook: nothing by default; with tracing on
(`app.tracing`), an OpenTelemetry span around the turn, so this package never
imports OpenTelemetry.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import time
from collections.abc import Callable, Coroutine
from contextlib import AbstractContextManager
from contextvars import ContextVar
from typing import Any, TypeVar, cast

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from records.db import DatabaseUnavailable

from . import metrics
from .store import ConversationBusy, StoreUnavailable
from .types import Inbound, TurnResult

CONVERSATION: ContextVar[str | None] = ContextVar("conversation", default=None)


def conversation_tag(conversation: str) -> str:
    """A short hash that lets logs follow one conversation without naming it
    (the same as `app.routes.webchat.conversation_tag`)."""
    return hashlib.sha256(conversation.encode()).hexdigest()[:10]


def no_span(channel: str) -> AbstractContextManager[object]:
    return contextlib.nullcontext()


turn_span: Callable[[str], AbstractContextManager[object]] = no_span
"""Replaced by `app.tracing` when tracing is on: a span named `turn`."""

Handle = TypeVar("Handle", bound=Callable[..., Coroutine[Any, Any, TurnResult]])


def observed_turn(handle: Handle) -> Handle:
    """Counts, times and traces `Engine.handle`, with the conversation's tag set
    for the turn's log lines."""

    @functools.wraps(handle)
    async def observed(self: object, inbound: Inbound, *args: Any, **kwargs: Any) -> TurnResult:
        channel = inbound.channel.value
        tagged = CONVERSATION.set(conversation_tag(inbound.conversation))
        started = time.perf_counter()
        outcome = "error"
        try:
            with turn_span(channel):
                result = await handle(self, inbound, *args, **kwargs)
            outcome = ("duplicate" if result.duplicate
                       else "with_staff" if result.handed_off else "answered")
            return result
        except ConversationBusy:
            outcome = "busy"
            raise
        except (StoreUnavailable, RedisConnectionError, RedisTimeoutError) as exc:
            outcome = "unavailable"
            metrics.STORE_ERRORS.labels(_which_store(exc)).inc()
            raise
        finally:
            _turns(channel, outcome).inc()
            _turn_seconds(channel).observe(time.perf_counter() - started)
            CONVERSATION.reset(tagged)

    return cast(Handle, observed)


@functools.lru_cache(maxsize=128)  # labels are closed sets: a few channels and outcomes
def _turns(channel: str, outcome: str) -> Any:
    """The counter's child for these labels, looked up once (`labels()` takes a lock and
    checks its arguments on every call)."""
    return metrics.TURNS.labels(channel, outcome)


@functools.lru_cache(maxsize=32)
def _turn_seconds(channel: str) -> Any:
    return metrics.TURN_SECONDS.labels(channel)


def _which_store(exc: BaseException) -> str:
    """`database` when the records database was the one away (a ticket could not
    open), else `redis`."""
    while exc is not None:
        if isinstance(exc, DatabaseUnavailable):
            return "database"
        exc = exc.__cause__  # type: ignore[assignment]
    return "redis"
