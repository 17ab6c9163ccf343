"""One driver per channel: it turns a dialogue step into that channel's real
request and the bot's answer back into reply keys.

A driver opens `Lane`s, one per client connection. `prepare` runs before the
measured window (the web chat's session tokens come from the real sessions route
there), `turn` is what is measured. Drivers for channels whose routes are not in
this checkout say why in `skip_reason` and the run prints that instead of figures.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlencode
from xml.etree import ElementTree

from twilio.request_validator import RequestValidator

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


# --- telling replies apart by their words ---------------------------------------------------


class ReplyTexts:
    """Which catalogue key a message was rendered from, for channels whose answers
    carry only text: each key's English words before its first placeholder."""

    def __init__(self, messages_dir: Path) -> None:
        messages = json.loads((messages_dir / "en.json").read_text(encoding="utf-8"))
        self._prefixes = {key: text.split("{", 1)[0].strip()
                          for key, text in messages.items() if isinstance(text, str)}
        self._known = sorted(((p, k) for k, p in self._prefixes.items() if len(p) >= 8),
                             key=lambda item: -len(item[0]))

    def keys(self, bodies: list[str], expect: tuple[str, ...]) -> tuple[str, ...]:
        """`expect` when the bodies are those replies in that order (a long reply may
        come as several bodies); otherwise the best guess for each body."""
        wanted = list(expect)
        matched = 0
        for body in bodies:
            if matched < len(wanted) and body.startswith(self._prefixes.get(wanted[matched], "")):
                matched += 1
            elif matched == 0:
                break  # a continuation can only follow a matched body
        if matched == len(wanted) and bodies:
            return expect
        return tuple(self.identify(body) for body in bodies)

    def identify(self, body: str) -> str:
        return next((key for prefix, key in self._known if body.startswith(prefix)), "?")


# --- WhatsApp through Twilio -------------------------------------------------------------

WHATSAPP_PATH = "/webhooks/whatsapp"


@dataclass(frozen=True)
class Twilio:
    """What the bot and the driver share: the account, the sender, the public URL
    that Twilio signs."""

    account_sid: str
    auth_token: str
    sender: str
    public_url: str


class WhatsAppLane:
    def __init__(self, connection: Connection, twilio: Twilio, texts: ReplyTexts) -> None:
        self._connection = connection
        self._twilio = twilio
        self._validator = RequestValidator(twilio.auth_token)
        self._url = twilio.public_url + WHATSAPP_PATH
        self._texts = texts

    async def turn(self, dialogue: Dialogue, step: Step) -> Answer:
        mid = message_id(dialogue, step)
        form = {
            "AccountSid": self._twilio.account_sid,
            "From": f"whatsapp:{dialogue.shopper.phone}",
            "To": self._twilio.sender,
            "MessageSid": "SM" + hashlib.md5(mid.encode()).hexdigest(),  # noqa: S324 - an id
            "NumMedia": "0",
            "ProfileName": "Bench Shopper",
        }
        if step.payload is not None:
            form |= {"ButtonPayload": step.payload, "ButtonText": step.payload, "Body": ""}
        else:
            form["Body"] = step.text or ""
        status, answer = await self._connection.request(
            "POST", WHATSAPP_PATH, urlencode(form).encode(),
            {"Content-Type": "application/x-www-form-urlencoded",
             "X-Twilio-Signature": self._validator.compute_signature(self._url, form)},
        )
        if status != 200:
            return Answer(status, None)
        twiml = ElementTree.fromstring(answer)  # noqa: S314 - from the server we started
        bodies = [m.text or "" for m in twiml.iter("Message")]
        joined = "\x1e".join(bodies)
        duplicate = step.redeliver and joined == dialogue.context.get("last")
        dialogue.context["last"] = joined
        return Answer(status, self._texts.keys(bodies, step.expect), duplicate)

    def close(self) -> None:
        self._connection.close()


@dataclass
class WhatsAppDriver:
    """Signed Twilio forms (the real `RequestValidator`); answers read from the
    TwiML. The sender's number is proven, so dialogues skip the questions.
    A redelivery must get the same TwiML again (Twilio retries take the answer)."""

    host: str
    port: int
    twilio: Twilio
    texts: ReplyTexts
    name: str = "whatsapp"

    @property
    def skip_reason(self) -> str | None:
        return None

    async def lane(self) -> WhatsAppLane:
        return WhatsAppLane(await Connection.open(self.host, self.port), self.twilio, self.texts)

    async def prepare(self, dialogues: list[Dialogue], connections: int) -> None:
        return None


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
    """A channel the benchmark cannot drive yet: skipped, with a note that says why."""

    name: str
    route: str

    @property
    def skip_reason(self) -> str | None:
        return f"{self.route} {self.name} skipped (no figures)"

    async def lane(self) -> Lane:
        raise RuntimeError(self.skip_reason)

    async def prepare(self, dialogues: list[Dialogue], connections: int) -> None:
        raise RuntimeError(self.skip_reason)
