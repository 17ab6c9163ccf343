"""The terminal adapter: lines typed at a prompt in, plain text out.

Buttons are shown as numbered options (`[1] Track order`) and link buttons as
`Label: URL`. Typing a number taps that button of the last answer, the way a
WhatsApp shopper answers numbered options; anything else is sent as text. The
adapter remembers the last buttons, nothing more.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from channels.authorship import signed_text
from conversation.types import Button, Channel, Identity, Inbound, TurnResult

CONVERSATION_PREFIX = "terminal:"
MENU_PAYLOAD = "menu"  # the payload of the dialogue's "Menu" button


class TerminalAdapter:
    def __init__(
        self,
        conversation_id: str,
        *,
        identity: Identity | None = None,
        locale: str | None = None,
    ) -> None:
        self.conversation = CONVERSATION_PREFIX + conversation_id
        self.identity = identity
        self.locale = locale
        self._buttons: tuple[Button, ...] = ()

    def parse(self, line: str, now: datetime | None = None) -> Inbound:
        """A typed line -> `Inbound`, with a fresh message id for every line."""
        text = line.rstrip("\r\n")
        payload = None
        choice = text.strip()
        if choice.isascii() and choice.isdigit() and 1 <= int(choice) <= len(self._buttons):
            payload = self._buttons[int(choice) - 1].payload
            text = ""
        return Inbound(
            channel=Channel.TERMINAL,
            conversation=self.conversation,
            message_id=uuid.uuid4().hex,
            text=text,
            payload=payload,
            identity=self.identity,
            locale=self.locale,
            received_at=now or datetime.now(UTC),
        )

    def opening(self) -> Inbound:
        """What a new terminal chat sends first: a tap on "Menu", to show the choices."""
        inbound = self.parse("")
        return Inbound(
            channel=inbound.channel,
            conversation=inbound.conversation,
            message_id=inbound.message_id,
            payload=MENU_PAYLOAD,
            identity=inbound.identity,
            locale=inbound.locale,
            received_at=inbound.received_at,
        )

    def render(self, result: TurnResult) -> str:
        """The replies as text; the buttons are numbered across the whole answer."""
        blocks: list[str] = []
        buttons: list[Button] = []
        for reply in result.replies:
            lines = [signed_text(reply)] if reply.text else []
            for button in reply.buttons:
                buttons.append(button)
                lines.append(f"[{len(buttons)}] {button.label}")
            lines.extend(f"{link.label}: {link.url}" for link in reply.links)
            blocks.append("\n".join(lines))
        self._buttons = tuple(buttons)
        return "\n\n".join(blocks)
