"""redis-py's asyncio connections without a task per command, packing in C.

With a socket timeout set (the app sets one: a Redis that stops answering must
fail the request, not hang it), redis-py writes every command inside
`asyncio.wait_for`, which on Python 3.11 starts a new Task for each write: about
a fifth of a small command's client CPU here (`python -m benchmarks.redis_calls`).
The read of the answer already has its timeout as a deadline on the running task
(`asyncio.timeout`, a timer, no task); `LeanWrites` does the write the same way.
On Python 3.12 and later `wait_for` is itself built on `asyncio.timeout`, and this
class changes nothing.

Packing: redis-py's asyncio connection packs every command in Python (an
`Encoder.encode` per argument), even with hiredis installed, while its sync
connection packs with hiredis's `pack_command`. `LeanWrites` packs the same way
(`_pack`): a turn's script call of a dozen arguments is one C call. Without
hiredis, redis-py's own packing stays.

Everything else is redis-py's: the pool, the parser (hiredis when installed),
connection set-up, health checks, retries, and the errors, which are the same
(`redis.exceptions.TimeoutError` "Timeout writing to socket", `ConnectionError`
with the OS error).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import DataError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.utils import HIREDIS_AVAILABLE

if HIREDIS_AVAILABLE:
    import hiredis

    def _pack(*args: Any) -> list[bytes]:
        """redis-py's `HiredisRespSerializer.pack` without its copy of every
        argument (a generator that turns bytearray/memoryview into bytes: this app
        passes neither, and hiredis refuses them with the same `DataError`)."""
        command = args[0]
        if isinstance(command, str):
            if " " in command:  # 'CLIENT SETINFO' and the like: words of their own
                args = (*command.encode().split(), *args[1:])
        elif b" " in command:
            args = (*command.split(), *args[1:])
        try:
            return [hiredis.pack_command(args)]
        except TypeError as exc:
            raise DataError(str(exc)) from exc
else:
    _pack = None  # type: ignore[assignment]


class LeanWrites(AbstractConnection):
    """A mix-in over one of redis-py's connection classes (see `lean_connections`)."""

    def pack_command(self, *args: Any) -> list[bytes]:
        if _pack is None:
            return super().pack_command(*args)
        packed: list[bytes] = _pack(*args)
        return packed

    async def send_packed_command(
        self, command: bytes | str | Iterable[bytes], check_health: bool = True
    ) -> None:
        if not self.socket_timeout:
            await super().send_packed_command(command, check_health)
            return
        if not self.is_connected:
            await self.connect_check_health(check_health=False)
        if check_health:
            await self.check_health()  # type: ignore[no-untyped-call]  # redis-py
        if isinstance(command, str):
            command = command.encode()
        if isinstance(command, bytes):
            command = [command]
        writer: Any = self._writer
        try:
            writer.writelines(command)
            async with asyncio.timeout(self.socket_timeout):
                await writer.drain()  # waits only while the socket's buffer is full
        except TimeoutError:
            await self.disconnect(nowait=True)
            raise RedisTimeoutError("Timeout writing to socket") from None
        except OSError as exc:
            await self.disconnect(nowait=True)
            raise RedisConnectionError(f"Error while writing to socket: {exc}") from exc
        except BaseException:
            await self.disconnect(nowait=True)  # a write cut off half-way: not reusable
            raise


_LEAN: dict[type[Any], type[Any]] = {}


def lean_class(connection_class: type[Any]) -> type[Any]:
    """`connection_class` (TCP, unix socket or TLS) with `LeanWrites` over it."""
    if issubclass(connection_class, LeanWrites):
        return connection_class
    if connection_class not in _LEAN:
        _LEAN[connection_class] = type(f"Lean{connection_class.__name__}",
                                       (LeanWrites, connection_class), {})
    return _LEAN[connection_class]


def lean_connections(client: aioredis.Redis) -> aioredis.Redis:
    """Make the connections `client` opens from now on lean ones (the URL chose
    their class: TCP, unix socket or TLS). Returns `client`.

    A Redis Cluster client (`redis.asyncio.cluster.RedisCluster`) has a pool per
    node, made from its `connection_kwargs` (the startup nodes already, the others
    when the slot map is read): both are switched, before any connection opens."""
    kwargs = getattr(client, "connection_kwargs", None)
    if isinstance(kwargs, dict) and "connection_class" in kwargs:  # a cluster client
        kwargs["connection_class"] = lean_class(kwargs["connection_class"])
        nodes: Any = getattr(client, "nodes_manager", None)
        for node in (nodes.startup_nodes.values() if nodes is not None else ()):
            node.connection_class = lean_class(node.connection_class)
        return client
    pool = client.connection_pool
    pool.connection_class = lean_class(pool.connection_class)
    return client
