"""What the bot knows about reaching a shopper on a provider's channel.

- unreachable: the shopper blocked the Telegram bot (a 403, or `my_chat_member`
  "kicked"). Senders stop at once instead of retrying, until the shopper comes back
  (unblocks, or writes again). Kept 180 days: longer than anyone waits for a reply.
- last inbound: when the shopper last wrote on WhatsApp. Free-form WhatsApp
  messages are allowed only within 24 hours of it (the customer-service window).

The keys sit with the conversation's other keys (its hash tag), and every one
has a TTL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import redis.asyncio as aioredis

from conversation.store import KeyWrite

UNREACHABLE_TTL = timedelta(days=180)
LAST_INBOUND_TTL = timedelta(days=8)  # well past the 24-hour window; then "never wrote"


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class Reachability:
    def __init__(self, redis: aioredis.Redis, prefix: str = "ohb:") -> None:
        self._redis = redis
        self._prefix = prefix

    def _key(self, conversation: str, name: str) -> str:
        return f"{self._prefix}conv:{{{conversation}}}:{name}"

    def unreachable_key(self, conversation: str) -> str:
        return self._key(conversation, "unreachable")

    def last_inbound_key(self, conversation: str) -> str:
        return self._key(conversation, "last-inbound")

    async def mark_unreachable(self, conversation: str, reason: str) -> None:
        await self._redis.set(
            self.unreachable_key(conversation), reason, ex=int(UNREACHABLE_TTL.total_seconds())
        )

    async def mark_reachable(self, conversation: str) -> None:
        await self._redis.delete(self.unreachable_key(conversation))

    async def unreachable(self, conversation: str) -> str | None:
        """Why the shopper cannot be reached, or None when they can."""
        raw = await self._redis.get(self.unreachable_key(conversation))
        return None if raw is None else _text(raw)

    async def record_inbound(self, conversation: str, at: datetime) -> None:
        write = self.inbound_write(conversation, at)
        await self._redis.set(write.key, write.value, ex=write.ttl_s)

    def inbound_write(self, conversation: str, at: datetime) -> KeyWrite:
        """The last-inbound time as a write the turn's first script makes, so it
        costs no round trip of its own (`Engine.handle(..., also=...)`)."""
        return KeyWrite(self.last_inbound_key(conversation), f"{at.timestamp():.3f}",
                        int(LAST_INBOUND_TTL.total_seconds()))

    async def last_inbound(self, conversation: str) -> datetime | None:
        raw = await self._redis.get(self.last_inbound_key(conversation))
        return None if raw is None else datetime.fromtimestamp(float(_text(raw)), UTC)
