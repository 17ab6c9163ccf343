"""One driver per channel: it turns a dialogue step into that channel's real
request and the bot's answer back into reply keys.

A driver opens `Lane`s, one per client connection. `prepare` runs before the
measured window (the web chat's session tokens come from the real sessions route
there), `turn` is what is measured. Drivers for channels whose routes are not in
this checkout say why in `skip_reason` and the run prints that instead of figures.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Protocol

from benchmarks.client import Connection
from benchmarks.dialogues import Dialogue, Step


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    keys: tuple[str, ...] | None  # None: no answer to check (an error status)
    duplicate: bool = False


class Lane(Protocol):
    async def turn(self, dialogue: Dialogue, step: Step) -> Answer: ...

    def close(self) -> None: ...


class Driver(Protocol):
    name: str

    @property
    def skip_reason(self) -> str | None: ...

    async def prepare(self, dialogues: list[Dialogue], connections: int) -> None: ...

    async def lane(self) -> Lane: ...


def message_id(dialogue: Dialogue, step: Step) -> str:
    """A fresh id per step; a redelivery reuses the one before it."""
    if step.redeliver:
        return dialogue.message_ids[-1]
    mid = f"{dialogue.kind.value}-{dialogue.shopper.index}-{dialogue.position}"
    dialogue.message_ids.append(mid)
    return mid


# --- web chat ------------------------------------------------------------------------


class WebChatLane:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    async def turn(self, dialogue: Dialogue, step: Step) -> Answer:
        body: dict[str, str] = {"message_id": message_id(dialogue, step)}
        if step.payload is not None:
            body["payload"] = step.payload
        else:
            body["text"] = step.text or ""
        raw = json.dumps(body).encode()
        status, answer = await self._connection.request(
            "POST",
            "/api/chat/messages",
            raw,
            {"Authorization": f"Bearer {dialogue.context['token']}",
             "Content-Type": "application/json"},
        )
        if status != 200:
            return Answer(status, None)
        data = json.loads(answer)
        return Answer(status, tuple(r["key"] for r in data["replies"]), bool(data["duplicate"]))

    def close(self) -> None:
        self._connection.close()


@dataclass
class WebChatDriver:
    host: str
    port: int
    name: str = "web"

    @property
    def skip_reason(self) -> str | None:
        return None

    async def lane(self) -> WebChatLane:
        return WebChatLane(await Connection.open(self.host, self.port))

    async def prepare(self, dialogues: list[Dialogue], connections: int) -> None:
        """A session token per dialogue from `POST /api/chat/sessions`."""
        queue = list(dialogues)

        async def worker() -> None:
            connection = await Connection.open(self.host, self.port)
            try:
                while queue:
                    dialogue = queue.pop()
                    status, body = await connection.request(
                        "POST", "/api/chat/sessions", b"", {"Content-Type": "application/json"}
                    )
                    if status != 201:
                        raise RuntimeError(f"POST /api/chat/sessions answered {status}")
                    dialogue.context["token"] = json.loads(body)["token"]
            finally:
                connection.close()

        await asyncio.gather(*(worker() for _ in range(connections)))


# --- the ceiling -----------------------------------------------------------------------

BARE_BODY = json.dumps(
    {"message_id": "m-000001", "text": "x" * 900, "conversation": "web:bench"}
).encode()
"""About 1 KB of JSON, the size of a chunky chat message or a Telegram update."""


class BareLane:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._raw = connection.build(
            "POST", "/bare", BARE_BODY, {"Content-Type": "application/json"}
        )

    async def turn(self, dialogue: Dialogue, step: Step) -> Answer:
        status, _ = await self._connection.send(self._raw)
        return Answer(status, step.expect if status == 200 else None)

    def close(self) -> None:
        self._connection.close()


@dataclass
class BareDriver:
    host: str
    port: int
    name: str = "bare"

    @property
    def skip_reason(self) -> str | None:
        return None

    async def lane(self) -> BareLane:
        return BareLane(await Connection.open(self.host, self.port))

    async def prepare(self, dialogues: list[Dialogue], connections: int) -> None:
        return None


# --- channels still being built ------------------------------------------------------------


@dataclass
class PendingDriver:
    """A channel whose webhook route is not in this checkout yet: skipped, with a note."""

    name: str
    route: str

    @property
    def skip_reason(self) -> str | None:
        return f"{self.route} is not in this checkout yet; {self.name} skipped (no figures)"

    async def lane(self) -> Lane:
        raise RuntimeError(self.skip_reason)

    async def prepare(self, dialogues: list[Dialogue], connections: int) -> None:
        raise RuntimeError(self.skip_reason)
