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
"""

from __future__ import annotations

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


Alongside = Callable[[Pipeline], Any]
"""Queues other commands on the batch's pipeline (with `execute_command` for those a
cluster pipeline refuses as methods, such as MGET)."""


async def run_batched(
    redis: aioredis.Redis, calls: Sequence[ScriptCall], alongside: Alongside | None = None
) -> list[Any]:
    """Send `calls`, then `alongside`'s commands, in one pipeline; returns their
    answers in that order, an error as its exception (never raised, except that
    Redis cannot be reached)."""
    answers = await _send(redis, calls, alongside)
    refused = [i for i, answer in enumerate(answers[:len(calls)])
               if isinstance(answer, NoScriptError)]
    if refused:
        for script in {id(calls[i].script): calls[i].script for i in refused}.values():
            await redis.script_load(script.script)
        again = await _send(redis, [calls[i] for i in refused], None)
        for i, answer in zip(refused, again, strict=True):
            answers[i] = answer
    return answers


async def _send(
    redis: aioredis.Redis, calls: Sequence[ScriptCall], alongside: Alongside | None
) -> list[Any]:
    async with redis.pipeline(transaction=False) as pipe:
        for call in calls:
            call.queue(pipe)
        if alongside is not None:
            alongside(pipe)
        return list(await pipe.execute(raise_on_error=False))
