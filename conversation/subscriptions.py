"""Who asked to be kept posted about which order.

Two sides, kept together: per order its subscribers (a hash, conversation ->
channel and language, so a notification goes out on the right channel in the
shopper's language even after their session expired), and per conversation its
orders (a set, so "stop" ends them all). Both expire `TTL_S` after the latest
subscribe. An order's keys share the hash tag `{order:<number>}`, a
conversation's the tag of its session keys, so each side is one slot on Redis
Cluster; the two sides are written in one pipeline without a transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from .store import REDIS_DOWN, StoreUnavailable
from .types import Channel

TTL_S = 60 * 24 * 3600


@dataclass(frozen=True, slots=True)
class Subscriber:
    channel: Channel
    conversation: str
    locale: str


class Subscriptions:
    def __init__(self, redis: aioredis.Redis, prefix: str = "ohb:") -> None:
        self._redis = redis
        self._prefix = prefix

    def order_key(self, number: str) -> str:
        return f"{self._prefix}notify:{{order:{number}}}:subscribers"

    def told_key(self, number: str) -> str:
        """The changes of this order already told, as `change key|conversation`."""
        return f"{self._prefix}notify:{{order:{number}}}:told"

    def conversation_key(self, conversation: str) -> str:
        return f"{self._prefix}conv:{{{conversation}}}:notify-orders"

    async def subscribe(self, number: str, channel: Channel, conversation: str,
                        locale: str) -> None:
        value = json.dumps({"c": channel.value, "l": locale}, separators=(",", ":"))
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hset(self.order_key(number), conversation, value)
                pipe.expire(self.order_key(number), TTL_S)
                pipe.sadd(self.conversation_key(conversation), number)
                pipe.expire(self.conversation_key(conversation), TTL_S)
                await pipe.execute()
        except REDIS_DOWN as exc:
            raise StoreUnavailable("Redis is unreachable") from exc

    async def unsubscribe_all(self, conversation: str) -> list[str]:
        """End every subscription of the conversation; the orders it had."""
        try:
            raw: Any = await self._redis.smembers(self.conversation_key(conversation))
            numbers = sorted(_text(n) for n in raw)
            async with self._redis.pipeline(transaction=False) as pipe:
                for number in numbers:
                    pipe.hdel(self.order_key(number), conversation)
                pipe.delete(self.conversation_key(conversation))
                await pipe.execute()
        except REDIS_DOWN as exc:
            raise StoreUnavailable("Redis is unreachable") from exc
        return numbers

    async def orders_of(self, conversation: str) -> list[str]:
        try:
            raw: Any = await self._redis.smembers(self.conversation_key(conversation))
        except REDIS_DOWN as exc:
            raise StoreUnavailable("Redis is unreachable") from exc
        return sorted(_text(n) for n in raw)

    async def subscribers(self, number: str) -> list[Subscriber]:
        """The order's subscribers, in a stable order (by conversation key)."""
        try:
            raw: Any = await self._redis.hgetall(self.order_key(number))
        except REDIS_DOWN as exc:
            raise StoreUnavailable("Redis is unreachable") from exc
        found = []
        for conversation, value in raw.items():
            try:
                data = json.loads(value)
                found.append(Subscriber(Channel(data["c"]), _text(conversation), str(data["l"])))
            except (ValueError, KeyError, TypeError):
                continue  # unreadable: skipped, never guessed at
        return sorted(found, key=lambda s: s.conversation)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
