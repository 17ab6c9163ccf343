"""Delivery status of the WhatsApp messages we sent, from Twilio's status callbacks.

Callbacks come late, twice, or out of order ("delivered" before "sent"), so each
message's status only moves forward: `RANK` orders them and a callback that would
move it back is dropped. Each message sid keeps its latest status for
`STATUS_TTL` (`ohb:wa:{<sid>}:status`, a hash). A message that ends `failed` or
`undelivered` is also listed under its conversation
(`ohb:conv:{whatsapp:+…}:delivery-failures`, newest first, capped), so the support
inbox can show on a ticket that the shopper did not get a reply.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import redis.asyncio as aioredis

from channels.whatsapp import DeliveryStatus

STATUS_TTL = timedelta(days=7)
FAILURES_TTL = timedelta(days=30)
MAX_FAILURES = 50
FAILED = frozenset({"failed", "undelivered"})
RANK = {
    "accepted": 0, "scheduled": 0, "queued": 0, "sending": 1, "sent": 2,
    "delivered": 3, "undelivered": 3, "failed": 3, "read": 4, "canceled": 4,
}

# KEYS: the sid's hash. ARGV: status, rank, error code, conversation, at (ISO), ttl s.
_RECORD = """
local old = tonumber(redis.call('HGET', KEYS[1], 'rank') or '-1')
if tonumber(ARGV[2]) <= old then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'rank', ARGV[2], 'error_code', ARGV[3],
           'conversation', ARGV[4], 'at', ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[6])
return 1
"""


@dataclass(frozen=True, slots=True)
class RecordedStatus:
    status: str
    error_code: str | None
    conversation: str | None
    at: str


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class DeliveryStatuses:
    def __init__(self, redis: aioredis.Redis, prefix: str = "ohb:") -> None:
        self._redis = redis
        self._prefix = prefix
        self._record = redis.register_script(_RECORD)

    def status_key(self, sid: str) -> str:
        return f"{self._prefix}wa:{{{sid}}}:status"

    def failures_key(self, conversation: str) -> str:
        return f"{self._prefix}conv:{{{conversation}}}:delivery-failures"

    async def record(self, status: DeliveryStatus, at: datetime) -> bool:
        """Keep the callback if it moves the message forward; True when it did.
        An unknown status (Twilio adds some) is kept only if nothing is known yet."""
        rank = RANK.get(status.status, 0)
        failed = status.status in FAILED
        line = json.dumps({"sid": status.message_sid, "status": status.status,
                           "error_code": status.error_code, "at": at.isoformat()})
        # The status and the conversation's failures have different hash tags (so
        # this runs on Redis Cluster): two calls, the list only when the status moved.
        keys = [self.status_key(status.message_sid)]
        args = [status.status, rank, status.error_code or "", status.conversation or "",
                at.isoformat(), int(STATUS_TTL.total_seconds())]
        script: Any = self._record  # redis-py's scripts are untyped
        moved = bool(await script(keys=keys, args=args))
        if moved and failed and status.conversation:
            failures = self.failures_key(status.conversation)
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.lpush(failures, line)
                pipe.ltrim(failures, 0, MAX_FAILURES - 1)
                pipe.expire(failures, int(FAILURES_TTL.total_seconds()))
                await pipe.execute()
        return moved

    async def get(self, sid: str) -> RecordedStatus | None:
        raw = await self._redis.hgetall(self.status_key(sid))
        if not raw:
            return None
        data = {_text(k): _text(v) for k, v in raw.items()}
        return RecordedStatus(data["status"], data.get("error_code") or None,
                              data.get("conversation") or None, data["at"])

    async def failures(self, conversation: str) -> list[dict[str, Any]]:
        """Failed or undelivered messages of one conversation, newest first."""
        raw = await self._redis.lrange(self.failures_key(conversation), 0, -1)
        return [json.loads(line) for line in raw]
