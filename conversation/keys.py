"""The one place Redis keys are named.

Every key of one conversation carries the conversation in a hash tag, so one script
can touch them all on Redis Cluster; every key starts with the deployment's prefix.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str = "ohb:"

    def _conv(self, conversation: str, name: str) -> str:
        return f"{self.prefix}conv:{{{conversation}}}:{name}"

    def session(self, conversation: str) -> str:
        return self._conv(conversation, "session")

    def lock(self, conversation: str) -> str:
        return self._conv(conversation, "lock")

    def transcript(self, conversation: str) -> str:
        return self._conv(conversation, "transcript")

    def seen(self, conversation: str) -> str:
        """The message ids handled in the last 24 h: a sorted set, scored by time."""
        return self._conv(conversation, "seen")

    def answer(self, conversation: str) -> str:
        """The latest message's id and its first answer, for a provider's retry."""
        return self._conv(conversation, "answer")

    def verify_failures(self, order_number: str) -> str:
        return f"{self.prefix}verify:{{{order_number}}}:failures"

    def inbox_events(self) -> str:
        return f"{self.prefix}inbox:events"

    def delivery(self, outbox_id: str) -> str:
        """The delivery state of one outbox message (queued, sent, failed)."""
        return f"{self.prefix}delivery:{{{outbox_id}}}"
