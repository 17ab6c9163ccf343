"""Several Lua script calls, and other commands, in one round trip: on a single
Redis and on Redis Cluster alike.

Where a turn or a delivery makes several calls at once (the save and the day's
count, the acknowledgements that finish together, a Telegram chat's state and its
pace token), they go out in one pipeline without a transaction (`run_batched`),
each script by its SHA (redis-py's `Script` in a pipeline checks SCRIPT EXISTS
first: a round trip of its own).

Cluster. redis-py's cluster pipeline refuses its `evalsha()` method (EVALSHA is in
its `PIPELINE_BLOCKED_COMMANDS`, with no reason given: redis/redis-py#2914, lifted
upstream by #4206 after 8.1) and `mget()` likewise. The same commands queued with
`execute_command` are routed like any keyed command: by the slot of their keys
(`_determine_slot` reads an EVALSHA's keys from its `numkeys`), one pipeline per
node, the nodes in parallel, a MOVED or ASK followed per command. So calls are
queued that way here: one round trip on a single server, one per node at the same
time on a cluster. Each call's keys must share one slot (as for any script); the
calls of a batch need not.

NOSCRIPT. A server that lost its scripts (restarted, flushed, a replica promoted
by a failover) refuses those calls, and nothing of them ran: their scripts are
loaded (a cluster client loads them on every master) and only the refused calls
are sent again. Everything else in the batch ran once.

One call alone (`run_script`) goes by its SHA the same way, without redis-py's
`Script.__call__`, whose `isinstance(client, Pipeline)` check (a typing Protocol's)
was about 3 % of the web server's CPU samples.

One batch per turn. `turn_batch(redis)` is the client's `TurnBatch`: calls submitted
to it during one turn of the event loop go out together when the turn ends. A call
that can wait a little for company (`lazy`: an acknowledgement while other
deliveries are still sending, a "sent" state, its inbox event) does not end the
turn's batch by itself: it rides with the next batch that goes out, or goes after
`lazy` seconds. So the outbox's takes and acknowledgements, a sender's reads and the
delivery states of messages delivered together share one pipeline each.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.exceptions import NoScriptError


@dataclass(frozen=True, slots=True)
class ScriptCall:
    """One call of a script registered with `register_script`."""

    script: Any  # redis-py's AsyncScript is untyped
    keys: Sequence[Any]
    args: Sequence[Any]

    def queue(self, pipe: Pipeline) -> None:
        pipe.execute_command("EVALSHA", self.script.sha, len(self.keys), *self.keys, *self.args)


@dataclass(frozen=True, slots=True)
class Command:
    """One plain command for a batch, queued with `execute_command` (which a cluster
    pipeline routes by its keys, unlike some of its methods, such as MGET)."""

    args: Sequence[Any]

    def queue(self, pipe: Pipeline) -> None:
        pipe.execute_command(*self.args)


Call = ScriptCall | Command


async def run_script(redis: aioredis.Redis, call: ScriptCall) -> Any:
    """One script call by its SHA; on NOSCRIPT the script is loaded (on every master of
    a cluster) and the call sent again, as redis-py's `AsyncScript.__call__` does.
    A script's error is raised."""
    sha, keys_and_args = call.script.sha, (*call.keys, *call.args)
    try:
        return await redis.evalsha(sha, len(call.keys), *keys_and_args)
    except NoScriptError:
        await redis.script_load(call.script.script)
        return await redis.evalsha(sha, len(call.keys), *keys_and_args)


Alongside = Callable[[Pipeline], Any]
"""Queues other commands on the batch's pipeline (with `execute_command` for those a
cluster pipeline refuses as methods, such as MGET)."""


async def run_batched(
    redis: aioredis.Redis, calls: Sequence[Call], alongside: Alongside | None = None
) -> list[Any]:
    """Send `calls`, then `alongside`'s commands, in one pipeline; returns their
    answers in that order, an error as its exception (never raised, except that
    Redis cannot be reached)."""
    answers = await _send(redis, calls, alongside)
    refused = [i for i, answer in enumerate(answers[:len(calls)])
               if isinstance(answer, NoScriptError)]
    scripts = {id(call.script): call.script for i in refused
               if isinstance(call := calls[i], ScriptCall)}
    if refused:
        for script in scripts.values():
            await redis.script_load(script.script)
        again = await _send(redis, [calls[i] for i in refused], None)
        for i, answer in zip(refused, again, strict=True):
            answers[i] = answer
    return answers


async def _send(
    redis: aioredis.Redis, calls: Sequence[Call], alongside: Alongside | None
) -> list[Any]:
    async with redis.pipeline(transaction=False) as pipe:
        for call in calls:
            call.queue(pipe)
        if alongside is not None:
            alongside(pipe)
        return list(await pipe.execute(raise_on_error=False))


class TurnBatch:
    """Calls submitted during one turn of the event loop, sent in one `run_batched`
    pipeline when the turn ends; each caller gets its own answer. Lazy calls wait
    for the next batch, or their deadline (see the module docstring)."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis
        self._loop = asyncio.get_running_loop()
        self._queued: list[tuple[Call, asyncio.Future[Any]]] = []
        self._sending: set[asyncio.Task[None]] = set()
        self._soon = False  # a flush at the end of this turn is scheduled
        self._timer: asyncio.TimerHandle | None = None  # the earliest lazy deadline

    def submit(self, call: Call, *, lazy: float = 0.0) -> asyncio.Future[Any]:
        """Queue `call` now (calls go out in the order submitted); its answer, or
        its error, comes in the future (retrieved, so none is reported unseen).
        `lazy`: seconds it may wait for the next batch instead of ending this
        turn's."""
        answer: asyncio.Future[Any] = self._loop.create_future()
        answer.add_done_callback(_retrieved)
        self._queued.append((call, answer))
        if lazy <= 0:
            if not self._soon:
                self._soon = True
                self._loop.call_soon(self._flush)
        else:
            due = self._loop.time() + lazy
            if self._timer is None or due < self._timer.when():
                if self._timer is not None:
                    self._timer.cancel()
                self._timer = self._loop.call_at(due, self._flush)
        return answer

    async def call(self, call: Call, *, lazy: float = 0.0) -> Any:
        """`submit` and wait; a cancelled caller leaves the batch intact."""
        return await asyncio.shield(self.submit(call, lazy=lazy))

    async def settle(self) -> None:
        """Send what is queued, lazy or not, and wait for the batches on their way
        (before the client is closed)."""
        while self._queued or self._sending:
            if self._queued:
                self._flush()
            await asyncio.gather(*self._sending, return_exceptions=True)

    def _flush(self) -> None:
        self._soon = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._queued:
            return
        batch, self._queued = self._queued, []
        task = self._loop.create_task(self._send(batch))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[tuple[Call, asyncio.Future[Any]]]) -> None:
        try:
            answers = await run_batched(self._redis, [call for call, _ in batch])
        except BaseException as exc:
            for _, answer in batch:
                if not answer.done():
                    answer.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, answer), value in zip(batch, answers, strict=True):
            if answer.done():
                continue
            if isinstance(value, Exception):
                answer.set_exception(value)
            else:
                answer.set_result(value)


_batches: weakref.WeakKeyDictionary[Any, TurnBatch] = weakref.WeakKeyDictionary()


def turn_batch(redis: aioredis.Redis) -> TurnBatch:
    """`redis`'s one `TurnBatch` in the running event loop."""
    batch = _batches.get(redis)
    if batch is None or batch._loop is not asyncio.get_running_loop():
        batch = _batches[redis] = TurnBatch(redis)
    return batch


def _retrieved(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
