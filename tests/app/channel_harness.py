"""Driving the Telegram and WhatsApp webhooks in tests: settings with both channels
on, and shoppers that post real-shaped, really signed requests.

A Telegram shopper reads their answers where the webhook leaves them, the outbox
(the worker is off in these tests; the end-to-end tests run it against fake
provider servers). A WhatsApp shopper reads them from the TwiML response.
"""

from __future__ import annotations

import json
import socket
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as aioredis
from app_harness import make_settings

from app.settings import Settings
from conversation.outbox import replies_from_data
from conversation.types import Button, LinkButton, Reply
from tests.channel_payloads import SHOPPER_ID, telegram_update, twilio_form, twilio_signature

TELEGRAM_TOKEN = "123456789:TEST-token_abcdefghijklmnopqrstuvwxyz1234"
TELEGRAM_SECRET = "tg-secret_0123456789-abc"
TWILIO_SID = "ACa1b2c3d4e5f60718293a4b5c6d7e8f90"
TWILIO_TOKEN = "twilio-auth-token-for-tests"
WHATSAPP_FROM = "whatsapp:+14155238886"
PUBLIC_URL = "https://bot.example.com"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def channel_settings(redis_url: str, data_dir: Path, **overrides: Any) -> Settings:
    """Both channels on; their APIs on a closed local port unless a test gives a fake."""
    nowhere = f"http://127.0.0.1:{closed_port()}"
    values: dict[str, Any] = {
        "public_url": PUBLIC_URL,
        "telegram_bot_token": TELEGRAM_TOKEN,
        "telegram_webhook_secret": TELEGRAM_SECRET,
        "telegram_api_url": nowhere,
        "twilio_account_sid": TWILIO_SID,
        "twilio_auth_token": TWILIO_TOKEN,
        "twilio_whatsapp_from": WHATSAPP_FROM,
        "twilio_api_url": nowhere,
    }
    values.update(overrides)
    return make_settings(redis_url, data_dir, **values)


async def outbox_entries(redis: aioredis.Redis, prefix: str = "ohb:") -> list[dict[str, Any]]:
    """Everything queued and not yet delivered, oldest first."""
    entries = await redis.xrange(f"{prefix}{{outbox}}")
    return [
        {"id": entry_id.decode(), **{k.decode(): v.decode() for k, v in fields.items()}}
        for entry_id, fields in entries
    ]


@dataclass
class Said:
    """What the bot answered one message: replies (Telegram) or bodies (WhatsApp)."""

    replies: tuple[Reply, ...] = ()

    @property
    def keys(self) -> list[str]:
        return [r.key for r in self.replies]

    @property
    def text(self) -> str:
        return "\n".join(r.text for r in self.replies)

    @property
    def buttons(self) -> list[Button]:
        return [b for r in self.replies for b in r.buttons]

    @property
    def links(self) -> list[LinkButton]:
        return [link for r in self.replies for link in r.links]


@dataclass
class TelegramShopper:
    client: httpx.AsyncClient
    redis: aioredis.Redis
    user_id: int = SHOPPER_ID
    language: str | None = None
    seen: set[str] = field(default_factory=set)
    last: Said = field(default_factory=Said)
    response: httpx.Response | None = None

    @property
    def conversation(self) -> str:
        return f"telegram:{self.user_id}"

    async def post(self, update: dict[str, Any], *, secret: str | None = TELEGRAM_SECRET
                   ) -> httpx.Response:
        headers = {SECRET_HEADER: secret} if secret is not None else {}
        self.response = await self.client.post("/webhooks/telegram", json=update,
                                               headers=headers)
        return self.response

    async def send(self, name: str, **changes: Any) -> Said:
        update = telegram_update(name, user_id=self.user_id, language=self.language, **changes)
        response = await self.post(update)
        assert response.status_code == 200, response.text
        self.last = await self.new_replies()
        return self.last

    async def say(self, text: str) -> Said:
        return await self.send("text", text=text)

    async def tap(self, label_or_payload: str) -> Said:
        for button in self.last.buttons:
            if label_or_payload in (button.label, button.payload):
                return await self.send("callback_query", data=button.payload)
        raise AssertionError(f"no button {label_or_payload!r} in {self.last.buttons}")

    async def new_replies(self) -> Said:
        replies: list[Reply] = []
        for entry in await outbox_entries(self.redis):
            if entry["conversation"] == self.conversation and entry["id"] not in self.seen:
                self.seen.add(entry["id"])
                replies.extend(replies_from_data(json.loads(entry["replies"])))
        return Said(tuple(replies))


def twiml_bodies(xml: str) -> list[str]:
    return [m.text or "" for m in ET.fromstring(xml).iter("Message")]


@dataclass
class WhatsAppShopper:
    client: httpx.AsyncClient
    phone: str = "+919812345678"
    bodies: list[str] = field(default_factory=list)
    response: httpx.Response | None = None

    @property
    def conversation(self) -> str:
        return f"whatsapp:{self.phone}"

    @property
    def text(self) -> str:
        return "\n".join(self.bodies)

    async def post(self, form: dict[str, str], *, path: str = "/webhooks/whatsapp",
                   signature: str | None = "sign", token: str = TWILIO_TOKEN) -> httpx.Response:
        headers = {}
        if signature == "sign":
            signature = twilio_signature(PUBLIC_URL + path, form, token)
        if signature is not None:
            headers["X-Twilio-Signature"] = signature
        self.response = await self.client.post(path, data=form, headers=headers)
        return self.response

    async def send(self, name: str = "text", **fields: str) -> list[str]:
        form = twilio_form(name, From=f"whatsapp:{self.phone}",
                           WaId=self.phone.lstrip("+"), **fields)
        response = await self.post(form)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/xml")
        self.bodies = twiml_bodies(response.text)
        return self.bodies

    async def say(self, text: str) -> list[str]:
        return await self.send("text", Body=text)

    def number_of(self, label: str) -> str:
        """The number shown before a choice whose label contains `label`."""
        for body in self.bodies:
            for line in body.splitlines():
                number, dot, rest = line.partition(". ")
                if dot and number.isdecimal() and label in rest:
                    return number
        raise AssertionError(f"no numbered choice {label!r} in {self.bodies}")

    async def choose(self, label: str) -> list[str]:
        return await self.say(self.number_of(label))
