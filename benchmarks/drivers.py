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
import itertools
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlencode
from xml.etree import ElementTree

from twilio.request_validator import RequestValidator

from benchmarks.client import Connection
from benchmarks.dialogues import Dialogue, Step
from benchmarks.fakes import BotApi


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    keys: tuple[str, ...] | None  # None: no answer to check (an error status)
    duplicate: bool = False
    deferred: bool = False  # the replies come later, another way: checked by `settle`


@dataclass
class Settled:
    """What `Driver.settle` found once the replies sent another way had arrived:
    a verdict per turn, examples of the failures, and how delivery went."""

    verdicts: Counter[str] = field(default_factory=Counter)
    samples: list[dict[str, Any]] = field(default_factory=list)
    delivery: dict[str, Any] = field(default_factory=dict)


class Lane(Protocol):
    async def turn(self, dialogue: Dialogue, step: Step, origin: float | None = None) -> Answer:
        """Send `step`, return the answer. `origin` (`perf_counter`): when the message
        was due, for channels that measure their replies' lag (open loop)."""
        ...

    def close(self) -> None: ...


class Driver(Protocol):
    name: str

    @property
    def skip_reason(self) -> str | None: ...

    async def prepare(self, dialogues: list[Dialogue], connections: int) -> None: ...

    async def lane(self) -> Lane: ...

    async def settle(self, started: float, ended: float) -> Settled | None:
        """After a phase (`perf_counter` times): wait for replies that leave
        through the outbox and check them; None for channels that answer inline."""
        ...


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

    async def turn(self, dialogue: Dialogue, step: Step, origin: float | None = None) -> Answer:
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

    async def settle(self, started: float, ended: float) -> Settled | None:
        return None


# --- telling replies apart by their words ---------------------------------------------------


class ReplyTexts:
    """Which catalogue key a message was rendered from, for channels whose answers
    carry only text: each key's English words before its first placeholder.
    `channels`: also the channels' own words (Telegram's share-contact hint)."""

    def __init__(self, messages_dir: Path, *, channels: bool = False) -> None:
        messages = json.loads((messages_dir / "en.json").read_text(encoding="utf-8"))
        if channels:
            messages |= json.loads(
                (messages_dir / "channels" / "en.json").read_text(encoding="utf-8"))
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

    def starts(self, body: str, key: str) -> bool:
        """Whether `body` is (the start of) the reply `key`."""
        return body.startswith(self._prefixes.get(key, "\x00"))


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

    async def turn(self, dialogue: Dialogue, step: Step, origin: float | None = None) -> Answer:
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

    async def settle(self, started: float, ended: float) -> Settled | None:
        return None


# --- Telegram ------------------------------------------------------------------------

TELEGRAM_PATH = "/webhooks/telegram"
TELEGRAM_PAYLOADS = Path(__file__).resolve().parent.parent / "tests" / "payloads" / "telegram"
FIRST_CHAT = 6_000_000_000  # private chat id = the shopper's user id; one chat per dialogue
SHARE_HINT = "telegram.share_phone_hint"  # the sender's extra message after `order.ask`
SETTLE_MAX_S = 300.0  # the longest wait for the outbox to deliver a phase's replies:
# long enough for a full run's backlog, so "lost" means lost, not late (the lag says late)
SETTLE_STALL_S = 5.0  # ...or this long without a new message
SETTLE_GRACE_S = 0.3  # once all arrived: time for a duplicate to show up


def _captured(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((TELEGRAM_PAYLOADS / f"{name}.json").read_text("utf-8"))
    return data


@dataclass(slots=True)
class _Sent:
    dialogue: Dialogue
    position: int
    step: Step
    answered: float  # perf_counter when the webhook answered (open loop: when it was due)


class TelegramLane:
    def __init__(self, connection: Connection, driver: TelegramDriver) -> None:
        self._connection = connection
        self._driver = driver
        self._headers = {"Content-Type": "application/json",
                         "X-Telegram-Bot-Api-Secret-Token": driver.secret}

    async def turn(self, dialogue: Dialogue, step: Step, origin: float | None = None) -> Answer:
        chat = int(dialogue.context["chat"])
        if step.redeliver:
            update_id = int(dialogue.message_ids[-1])  # Telegram retries the same update
        else:
            update_id = next(self._driver.update_ids)
            dialogue.message_ids.append(str(update_id))
        body = self._driver.update(update_id, chat, step)
        status, _ = await self._connection.request("POST", self._driver.path, body,
                                                    self._headers)
        if status != 200:
            return Answer(status, None)
        self._driver.ledger.setdefault(chat, []).append(
            _Sent(dialogue, dialogue.position, step,
                  time.perf_counter() if origin is None else origin))
        return Answer(status, step.expect, step.redeliver, deferred=True)

    def close(self) -> None:
        self._connection.close()


@dataclass
class TelegramDriver:
    """Updates in the captured Bot API shapes (`tests/payloads/telegram/`), signed
    with the secret token; the webhook's answer is only a 200, and the replies go
    through the outbox to the fake Bot API (`BotApi`), which writes each chat's
    messages down. Each dialogue has a chat of its own. `settle` waits for the
    outbox to deliver, then checks every chat's messages, in order, against what
    its steps expect (a redelivered update must add no message)."""

    host: str
    port: int
    secret: str
    bot: BotApi
    texts: ReplyTexts
    name: str = "telegram"
    share_hint: bool = True  # our bot follows `order.ask` with the share-contact offer
    first_chat: int = FIRST_CHAT
    path: str = TELEGRAM_PATH
    ledger: dict[int, list[_Sent]] = field(default_factory=dict)
    update_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(800_000_001))
    _chats: itertools.count[int] = field(init=False)

    def __post_init__(self) -> None:
        self._chats = itertools.count(self.first_chat)
        self._text = _captured("text")
        self._tap = _captured("callback_query")

    @property
    def skip_reason(self) -> str | None:
        return None

    async def lane(self) -> TelegramLane:
        return TelegramLane(await Connection.open(self.host, self.port), self)

    async def prepare(self, dialogues: list[Dialogue], connections: int) -> None:
        self.ledger = {}
        for dialogue in dialogues:
            dialogue.context["chat"] = str(next(self._chats))

    def update(self, update_id: int, chat: int, step: Step) -> bytes:
        if step.payload is not None:
            tap = self._tap["callback_query"]
            message = {**tap["message"], "chat": {**tap["message"]["chat"], "id": chat}}
            query = {**tap, "id": str(update_id), "from": {**tap["from"], "id": chat},
                     "message": message, "data": step.payload}
            return json.dumps({"update_id": update_id, "callback_query": query}).encode()
        said = self._text["message"]
        message = {**said, "message_id": update_id % 1_000_000, "date": int(time.time()),
                   "from": {**said["from"], "id": chat}, "chat": {**said["chat"], "id": chat},
                   "text": step.text or ""}
        return json.dumps({"update_id": update_id, "message": message}).encode()

    def _expected(self, sent: list[_Sent]) -> list[tuple[int, str]]:
        """(index into `sent`, reply key) for every message the chat must get."""
        keys = []
        for index, entry in enumerate(sent):
            if entry.step.redeliver:
                continue
            for key in entry.step.expect:
                keys.append((index, key))
                if key == "order.ask" and self.share_hint:
                    keys.append((index, SHARE_HINT))
        return keys

    async def settle(self, started: float, ended: float) -> Settled:
        wanted = {chat: len(self._expected(sent)) for chat, sent in self.ledger.items()}
        deadline = time.perf_counter() + SETTLE_MAX_S
        last_count, last_change = self.bot.messages, time.perf_counter()
        while True:
            now = time.perf_counter()
            if all(len(self.bot.sent.get(chat, ())) >= n for chat, n in wanted.items()):
                await asyncio.sleep(SETTLE_GRACE_S)
                break
            if self.bot.messages != last_count:
                last_count, last_change = self.bot.messages, now
            if now >= deadline or now - last_change >= SETTLE_STALL_S:
                break
            await asyncio.sleep(0.05)
        return self._check(started, ended)

    def _check(self, started: float, ended: float) -> Settled:
        settled = Settled()
        lags: list[float] = []
        arrivals: list[float] = []
        for chat, sent in self.ledger.items():
            bodies = self.bot.sent.get(chat, [])
            arrivals += [at for at, _ in bodies]
            expected = self._expected(sent)
            matched = 0
            last_at: dict[int, float] = {}
            stray: str | None = None
            for at, text in bodies:
                if matched < len(expected) and self.texts.starts(text, expected[matched][1]):
                    last_at[expected[matched][0]] = at
                    matched += 1
                elif matched and self.texts.identify(text) == "?":
                    last_at[expected[matched - 1][0]] = at  # a long reply's next piece
                else:
                    stray = text
                    break
            if stray is None and matched == len(expected):
                blame, verdict = len(sent), "ok"
            elif stray is None:
                blame, verdict = expected[matched][0], "lost"
            else:
                blame = expected[matched][0] if matched < len(expected) else len(sent) - 1
                key = self.texts.identify(stray)
                if key in {k for _, k in expected[:matched]}:
                    verdict = "duplicated"
                elif key in {k for _, k in expected[matched:]}:
                    verdict = "out_of_order"
                else:
                    verdict = "wrong"
            for index, entry in enumerate(sent[:blame]):
                settled.verdicts["ok"] += 1
                if index in last_at:
                    lags.append(last_at[index] - entry.answered)
            if verdict != "ok":
                settled.verdicts[verdict] += 1
                if len(settled.samples) < 8:
                    entry = sent[blame]
                    settled.samples.append({
                        "dialogue": entry.dialogue.kind.value, "step": entry.position,
                        "expected": list(entry.step.expect), "status": 200,
                        "got": [stray[:60]] if stray else [], "verdict": verdict,
                        "chat_messages": len(bodies), "chat_expected": len(expected),
                    })
        lags.sort()
        window = [at for at in arrivals if started <= at <= ended]
        finished = max([ended, *arrivals])
        settled.delivery = {
            # every update whose replies all came, over the time until the last came
            "updates_per_s_all_delivered": round(settled.verdicts["ok"] / (finished - started), 1)
            if finished > started else None,
            "messages": len(arrivals),
            "messages_in_window": len(window),
            "messages_per_s_in_window": round(len(window) / (ended - started), 1)
            if ended > started else None,
            "last_message_after_window_s": round(max(arrivals) - ended, 3) if arrivals else None,
            "lag_ms": {name: (round(lags[min(len(lags) - 1, int(q * len(lags)))] * 1000, 1)
                              if lags else None)
                       for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0))},
        }
        return settled


# --- the ceiling -----------------------------------------------------------------------

BARE_BODY = json.dumps(
    {"message_id": "m-000001", "text": "x" * 900, "conversation": "web:bench"}
).encode()
"""About 1 KB of JSON, the size of a chunky chat message or a Telegram update."""


class BareLane:
    def __init__(self, connection: Connection, path: str = "/bare") -> None:
        self._connection = connection
        self._raw = connection.build(
            "POST", path, BARE_BODY, {"Content-Type": "application/json"}
        )

    async def turn(self, dialogue: Dialogue, step: Step, origin: float | None = None) -> Answer:
        status, _ = await self._connection.send(self._raw)
        return Answer(status, step.expect if status == 200 else None)

    def close(self) -> None:
        self._connection.close()


@dataclass
class BareDriver:
    """The ceiling (`/bare`), or with `path="/bare-redis"` the reference route that
    adds one Redis GET and one SET."""

    host: str
    port: int
    name: str = "bare"
    path: str = "/bare"

    @property
    def skip_reason(self) -> str | None:
        return None

    async def lane(self) -> BareLane:
        return BareLane(await Connection.open(self.host, self.port), self.path)

    async def prepare(self, dialogues: list[Dialogue], connections: int) -> None:
        return None

    async def settle(self, started: float, ended: float) -> Settled | None:
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

    async def settle(self, started: float, ended: float) -> Settled | None:
        return None
