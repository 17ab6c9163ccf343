"""The web chat's receiving end for pushed messages (staff replies, updates).

A web shopper has no provider to push to, so the worker appends each outbox message
to a per-conversation log and the browser reads it over the event stream
(`GET /api/chat/events`). The log is a Redis stream: its ids are the events' ids,
so a client that was away asks for everything after the last id it saw.

`ohb:conv:{<conversation>}:pushes` (the conversation is the hash tag, like the
session's keys) keeps the last `cap` events and expires `ttl` after the last write.
The outbox delivers at least once, so `append` drops a message id the log already
holds: a redelivery after a crash shows up once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, NamedTuple

import redis.asyncio as aioredis

from conversation.outbox import OutboxMessage, replies_from_data, replies_to_data
from conversation.types import Reply

DEFAULT_CAP = 200
DEFAULT_TTL = timedelta(days=7)
MAX_READ = 500
EVENT_ID = re.compile(r"^\d{1,20}-\d{1,20}$")

# KEYS[1] the log; ARGV message id, replies JSON, cap, ttl seconds.
# Scanning the last `cap` entries for the id is cheap at this size and needs no
# second key that could expire apart from the log.
_APPEND = """
local recent = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', ARGV[3])
for _, entry in ipairs(recent) do
  local fields = entry[2]
  for i = 1, #fields, 2 do
    if fields[i] == 'mid' and fields[i + 1] == ARGV[1] then
      redis.call('EXPIRE', KEYS[1], ARGV[4])
      return false
    end
  end
end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[3], '*', 'mid', ARGV[1], 'replies', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return id
"""


class PushEvent(NamedTuple):
    id: str
    replies: tuple[Reply, ...]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def check_event_id(value: str) -> str:
    """A client's `Last-Event-ID`/`after`, refused unless it is a stream id."""
    if not EVENT_ID.match(value):
        raise ValueError("not an event id")
    return value


class WebPushLog:
    def __init__(
        self,
        redis: aioredis.Redis,
        prefix: str = "ohb:",
        *,
        cap: int = DEFAULT_CAP,
        ttl: timedelta = DEFAULT_TTL,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._cap = cap
        self._ttl_s = int(ttl.total_seconds())
        self._append = redis.register_script(_APPEND)

    def key(self, conversation: str) -> str:
        return f"{self._prefix}conv:{{{conversation}}}:pushes"

    async def append(
        self, conversation: str, message_id: str, replies: Sequence[Reply]
    ) -> str | None:
        """Add one message's replies; the new event id, or None if `message_id`
        is already in the log (a redelivery)."""
        data = json.dumps(replies_to_data(replies), ensure_ascii=False)
        script: Any = self._append  # redis-py's scripts are untyped
        result = await script(
            keys=[self.key(conversation)], args=[message_id, data, self._cap, self._ttl_s]
        )
        return None if result is None else _text(result)

    async def deliver(self, message: OutboxMessage) -> None:
        """The outbox's deliver function for the web channel."""
        await self.append(message.conversation, message.id, message.replies)

    async def read(
        self, conversation: str, after: str | None = None, limit: int = 100
    ) -> list[PushEvent]:
        """Events after `after` (exclusive; all kept events when None), oldest first."""
        start = "-" if after is None else "(" + check_event_id(after)
        entries: Any = await self._redis.xrange(
            self.key(conversation), start, "+", count=min(limit, MAX_READ)
        )
        return [_event(entry_id, fields) for entry_id, fields in entries]

    async def wait(
        self, conversation: str, after: str | None, block: float, limit: int = 100
    ) -> list[PushEvent]:
        """Like `read`, but wait up to `block` seconds for the first new event.
        Holds one Redis connection while it waits."""
        start = "0-0" if after is None else check_event_id(after)
        response: Any = await self._redis.xread(
            {self.key(conversation): start},
            count=min(limit, MAX_READ),
            block=max(1, int(block * 1000)),
        )
        streams = response.items() if isinstance(response, dict) else response or ()
        return [_event(i, f) for _key, entries in streams for i, f in entries]


def _event(entry_id: Any, fields: dict[Any, Any]) -> PushEvent:
    data = {_text(k): _text(v) for k, v in fields.items()}
    return PushEvent(_text(entry_id), replies_from_data(json.loads(data["replies"])))
