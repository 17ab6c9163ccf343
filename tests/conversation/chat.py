"""A shopper in a test: drives the real engine (real Redis, the demo shop) and
keeps what the bot last said, so tests read like a conversation."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from conversation.engine import Engine
from conversation.types import Channel, Identity, Inbound, Reply, TurnResult

_ids = itertools.count(1)


@dataclass
class Chat:
    engine: Engine
    conversation: str = field(default_factory=lambda: f"web:test-{next(_ids)}")
    identity: Identity | None = None
    channel: Channel = Channel.WEB
    locale: str | None = None
    last: TurnResult | None = None

    async def send(
        self, text: str = "", *, payload: str | None = None, message_id: str | None = None,
        has_media: bool = False,
    ) -> TurnResult:
        self.last = await self.engine.handle(Inbound(
            channel=self.channel,
            conversation=self.conversation,
            message_id=message_id or f"m{next(_ids)}",
            text=text,
            payload=payload,
            identity=self.identity,
            locale=self.locale,
            has_media=has_media,
        ))
        return self.last

    async def say(self, text: str) -> TurnResult:
        return await self.send(text)

    async def tap(self, label_or_payload: str) -> TurnResult:
        """Tap a button of the last answer by its label (or its payload)."""
        for button in self.buttons:
            if label_or_payload in (button.label, button.payload):
                return await self.send(button.label, payload=button.payload)
        raise AssertionError(f"no button {label_or_payload!r} in {self.labels}")

    @property
    def replies(self) -> tuple[Reply, ...]:
        assert self.last is not None
        return self.last.replies

    @property
    def keys(self) -> list[str]:
        return [r.key for r in self.replies]

    @property
    def text(self) -> str:
        return "\n".join(r.text for r in self.replies)

    @property
    def buttons(self) -> list:  # type: ignore[type-arg]
        return [b for r in self.replies for b in r.buttons]

    @property
    def labels(self) -> list[str]:
        return [b.label for b in self.buttons]

    @property
    def links(self) -> list:  # type: ignore[type-arg]
        return [link for r in self.replies for link in r.links]


async def skip_photo(chat: Chat) -> None:
    """Where the bot invites a photo of the damage (a request for staff), tap Skip;
    elsewhere do nothing."""
    if chat.keys == ["photo.ask"]:
        await chat.tap("Skip")
