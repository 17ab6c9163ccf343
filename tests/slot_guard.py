"""Every script and every MULTI/EXEC the code sends must touch one Redis Cluster
slot: checked on every call, in every test, even on a single server.

A single Redis runs a script or a transaction over keys of any slots; a cluster
refuses it (CROSSSLOT). So that a key named without the right hash tag fails the
ordinary test run, not a production cluster, the `one_slot_per_script` fixture
(autouse, tests/conftest.py) wraps the client: a script call (EVALSHA/EVAL) whose
KEYS map to more than one slot, a transaction whose commands' keys do (the first
argument of each queued command: our transactions queue single-key commands), or
a multi-key read such as MGET over several slots, fails the test with the keys it
saw. Script calls and reads batched in a pipeline without a transaction
(`conversation.scripts.run_batched`) are checked one by one: the batch may span
slots, each call may not.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.crc import key_slot

SCRIPT_COMMANDS = {"EVALSHA", "EVAL", "EVALSHA_RO", "EVAL_RO", "FCALL", "FCALL_RO"}
NOT_KEYED = {"MULTI", "EXEC", "DISCARD", "UNWATCH"}
MULTI_KEY_READS = {"MGET", "SINTER", "SUNION", "SDIFF"}
"""Commands whose every argument is a key, which redis-py's cluster client does not
split by slot (it does split DEL, UNLINK, EXISTS and TOUCH)."""


class CrossSlot(AssertionError):
    pass


def _bytes(key: Any) -> bytes:
    return key if isinstance(key, bytes) else str(key).encode()


def check_one_slot(what: str, keys: Iterable[Any]) -> None:
    keys = list(keys)
    slots = {key_slot(_bytes(k)) for k in keys}
    if len(slots) > 1:
        raise CrossSlot(f"{what} touches {len(slots)} Redis Cluster slots: {keys!r}")


def script_keys(args: tuple[Any, ...]) -> list[Any]:
    """EVALSHA sha numkeys key... arg...: the keys."""
    return list(args[3 : 3 + int(args[2])])


def check_command(args: tuple[Any, ...]) -> None:
    """A script call's keys, or a multi-key read's, in one slot."""
    name = str(args[0]).upper()
    if name in SCRIPT_COMMANDS:
        check_one_slot(f"script {str(args[1])[:12]}", script_keys(args))
    elif name in MULTI_KEY_READS:
        check_one_slot(name, args[1:])


def install(monkeypatch: pytest.MonkeyPatch) -> None:
    execute = aioredis.Redis.execute_command

    async def execute_command(self: aioredis.Redis, *args: Any, **options: Any) -> Any:
        check_command(args)
        return await execute(self, *args, **options)

    pipeline = Pipeline._execute_pipeline

    async def execute_pipeline(self: Pipeline, connection: Any, commands: Any,
                               raise_on_error: bool) -> Any:
        for args, _options in commands:  # each command on its own: they may differ in slot
            check_command(args)
        return await pipeline(self, connection, commands, raise_on_error)

    transaction = Pipeline._execute_transaction

    async def execute_transaction(self: Pipeline, connection: Any, commands: Any,
                                  raise_on_error: bool) -> Any:
        keys = [cmd[0][1] for cmd in commands
                if len(cmd[0]) > 1 and str(cmd[0][0]).upper() not in NOT_KEYED]
        names = [str(cmd[0][0]) for cmd in commands]
        check_one_slot(f"transaction {names}", keys)
        return await transaction(self, connection, commands, raise_on_error)

    monkeypatch.setattr(aioredis.Redis, "execute_command", execute_command)
    monkeypatch.setattr(Pipeline, "_execute_transaction", execute_transaction)
    monkeypatch.setattr(Pipeline, "_execute_pipeline", execute_pipeline)
