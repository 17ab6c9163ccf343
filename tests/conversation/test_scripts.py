"""Batched script calls (`conversation.scripts.run_batched`): on a single server and,
with TEST_REDIS_CLUSTER_URL, on a Redis Cluster, whose pipeline refuses redis-py's
`evalsha()`."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterPipeline
from redis.crc import key_slot
from redis.exceptions import NoScriptError, ResponseError

from conversation.scripts import Command, ScriptCall, run_batched, run_script, turn_batch

_ADD = "return redis.call('INCRBY', KEYS[1], ARGV[1])"
_TWICE = "return redis.call('INCRBY', KEYS[1], ARGV[1]) * 2"
_FAIL = "return redis.error_reply('refused ' .. ARGV[1])"

CONVERSATIONS = [f"ohb:conv:{{web:{n}}}:count" for n in range(12)]


async def test_calls_of_many_conversations_answer_each_in_order(redis: aioredis.Redis) -> None:
    assert len({key_slot(k.encode()) for k in CONVERSATIONS}) == len(CONVERSATIONS)
    add = redis.register_script(_ADD)
    await redis.script_load(_ADD)
    answers = await run_batched(
        redis, [ScriptCall(add, [key], [n]) for n, key in enumerate(CONVERSATIONS, start=1)])
    assert answers == list(range(1, len(CONVERSATIONS) + 1))
    assert [int(v) for v in await redis.mget(CONVERSATIONS[:1])] == [1]


async def test_other_commands_ride_along_after_the_calls(redis: aioredis.Redis) -> None:
    add = redis.register_script(_ADD)
    await redis.set(CONVERSATIONS[1], "seen")
    answers = await run_batched(
        redis, [ScriptCall(add, [CONVERSATIONS[0]], [5])],
        lambda pipe: pipe.execute_command("MGET", CONVERSATIONS[1], CONVERSATIONS[1] + ":x"))
    assert answers == [5, [b"seen", None]]


async def test_a_server_that_lost_its_scripts_runs_each_call_once(
    redis: aioredis.Redis
) -> None:
    """NOSCRIPT: the refused calls are loaded and sent again; a call that ran, and
    the commands alongside, are not run twice."""
    add, twice = redis.register_script(_ADD), redis.register_script(_TWICE)
    await redis.script_flush()
    await redis.script_load(_ADD)  # `twice` is unknown to the server
    answers = await run_batched(
        redis,
        [ScriptCall(add, [CONVERSATIONS[0]], [1]), ScriptCall(twice, [CONVERSATIONS[1]], [1]),
         ScriptCall(twice, [CONVERSATIONS[2]], [3])],
        lambda pipe: pipe.incr(CONVERSATIONS[3]))
    assert answers == [1, 2, 6, 1]
    assert [int(v) for v in await redis.mget(CONVERSATIONS[:1])] == [1]
    assert int(await redis.get(CONVERSATIONS[1])) == 1
    assert int(await redis.get(CONVERSATIONS[3])) == 1


async def test_a_refused_call_is_its_error_and_the_others_still_run(
    redis: aioredis.Redis
) -> None:
    add, fail = redis.register_script(_ADD), redis.register_script(_FAIL)
    answers = await run_batched(
        redis, [ScriptCall(add, [CONVERSATIONS[0]], [2]),
                ScriptCall(fail, [CONVERSATIONS[1]], ["x"]),
                ScriptCall(add, [CONVERSATIONS[2]], [3])])
    assert answers[0] == 2 and answers[2] == 3
    assert isinstance(answers[1], ResponseError) and not isinstance(answers[1], NoScriptError)
    assert "refused x" in str(answers[1])


async def test_a_lone_call_is_answered_after_the_server_lost_its_scripts(
    redis: aioredis.Redis
) -> None:
    """`run_script`: NOSCRIPT loads the script and sends the call again, which runs once."""
    add = redis.register_script(_ADD)
    assert await run_script(redis, ScriptCall(add, [CONVERSATIONS[0]], [2])) == 2
    await redis.script_flush()
    assert await run_script(redis, ScriptCall(add, [CONVERSATIONS[0]], [3])) == 5
    assert int(await redis.get(CONVERSATIONS[0])) == 5


async def test_a_lone_calls_script_error_is_raised(redis: aioredis.Redis) -> None:
    fail = redis.register_script(_FAIL)
    with pytest.raises(ResponseError, match="refused y"):
        await run_script(redis, ScriptCall(fail, [CONVERSATIONS[1]], ["y"]))


async def test_a_lazy_call_rides_with_the_next_batch_or_goes_after_its_delay(
    redis: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`TurnBatch.submit(lazy=...)`: a lazy call does not end the turn's batch; it
    goes with the next call that does, or on its own once its delay is up."""
    pipelines: list[int] = []
    for kind in (Pipeline, ClusterPipeline):
        def counted(original: Any) -> Any:
            async def execute(self: Any, *args: Any, **options: Any) -> Any:
                pipelines.append(len(self))
                return await original(self, *args, **options)
            return execute
        monkeypatch.setattr(kind, "execute", counted(kind.execute))
    add = redis.register_script(_ADD)
    batch = turn_batch(redis)
    lazy = batch.submit(ScriptCall(add, [CONVERSATIONS[4]], [1]), lazy=5.0)
    await asyncio.sleep(0.05)
    assert not lazy.done() and pipelines == []  # it waits for company
    both = await asyncio.gather(lazy, batch.call(Command(("INCRBY", CONVERSATIONS[5], 2))))
    assert both == [1, 2] and pipelines == [2]  # one pipeline for the two
    alone = batch.submit(ScriptCall(add, [CONVERSATIONS[4]], [1]), lazy=0.02)
    assert await asyncio.wait_for(alone, 2.0) == 2 and pipelines == [2, 1]
