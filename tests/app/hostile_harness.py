"""Every parser of outside input, on one app, each request signed for real: the web
chat API, the Telegram webhook, the Twilio form, each carrier format and the inbox
JSON API. For the hostile-input tests and the property tests: what Redis holds is
dumped before and after, so "changed nothing" is checked, not assumed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as aioredis
from app_harness import WEB_CHAT_SECRET, auth, running, start_session
from channel_harness import PUBLIC_URL, SECRET_HEADER, TELEGRAM_SECRET, TWILIO_TOKEN
from channel_harness import channel_settings as _channel_settings
from inbox_harness import ADMIN, ADMIN_PASSWORD

from app.settings import Settings
from tests.channel_payloads import twilio_signature

SHIPROCKET_TOKEN = "sr-token-for-tests"
AFTERSHIP_SECRET = "aftership-secret-for-tests"
CARRIER_SECRET = "generic-carrier-secret-for-tests"
__all__ = ["WEB_CHAT_SECRET", "Hostile", "everything_on", "snapshot"]


def everything_settings(redis_url: str, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "shiprocket_webhook_token": SHIPROCKET_TOKEN,
        "aftership_webhook_secret": AFTERSHIP_SECRET,
        "carrier_webhook_secret": CARRIER_SECRET,
        "inbox_admin_email": ADMIN,
        "inbox_admin_password": ADMIN_PASSWORD,
        "inbox_cookie_secret": "test-inbox-cookie-secret",
        "quiet_hours": "",
    }
    values.update(overrides)
    return _channel_settings(redis_url, data_dir, **values)


async def snapshot(redis: aioredis.Redis) -> dict[bytes, bytes | None]:
    """Every key and its serialised value."""
    return {key: await redis.dump(key) for key in await redis.keys("*")}


@dataclass
class Hostile:
    """Posts raw bodies to each parser, past its signature or login."""

    client: httpx.AsyncClient
    web_token: str = ""
    csrf: str = ""
    staff_cookie: str = ""  # sent by hand: the cookie is Secure (PUBLIC_URL is https)

    async def web_message(self, body: bytes) -> httpx.Response:
        return await self.client.post("/api/chat/messages", content=body,
                                      headers={**auth(self.web_token),
                                               "Content-Type": "application/json"})

    async def web_session(self, body: bytes) -> httpx.Response:
        return await self.client.post("/api/chat/sessions", content=body,
                                      headers={"Content-Type": "application/json"})

    async def telegram(self, body: bytes) -> httpx.Response:
        return await self.client.post("/webhooks/telegram", content=body,
                                      headers={SECRET_HEADER: TELEGRAM_SECRET,
                                               "Content-Type": "application/json"})

    async def whatsapp(self, form: dict[str, str], path: str = "/webhooks/whatsapp"
                       ) -> httpx.Response:
        signature = twilio_signature(PUBLIC_URL + path, form, TWILIO_TOKEN)
        return await self.client.post(path, data=form,
                                      headers={"X-Twilio-Signature": signature})

    async def generic(self, body: bytes) -> httpx.Response:
        stamp = int(time.time())
        mac = hmac.new(CARRIER_SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256)
        return await self.client.post("/webhooks/logistics/generic", content=body, headers={
            "X-Signature": f"sha256={mac.hexdigest()}", "X-Timestamp": str(stamp),
            "Content-Type": "application/json"})

    async def shiprocket(self, body: bytes) -> httpx.Response:
        return await self.client.post("/webhooks/logistics/shiprocket", content=body,
                                      headers={"x-api-key": SHIPROCKET_TOKEN,
                                               "Content-Type": "application/json"})

    async def aftership(self, body: bytes) -> httpx.Response:
        mac = hmac.new(AFTERSHIP_SECRET.encode(), body, hashlib.sha256).digest()
        return await self.client.post("/webhooks/logistics/aftership", content=body,
                                      headers={"aftership-hmac-sha256":
                                               base64.b64encode(mac).decode(),
                                               "Content-Type": "application/json"})

    async def inbox(self, path: str, body: bytes) -> httpx.Response:
        """A logged-in admin's JSON call (`/api/inbox/session` is the login itself)."""
        headers = {"Content-Type": "application/json"}
        if path != "/api/inbox/session":
            headers.update({"X-CSRF-Token": self.csrf, "Cookie": self.staff_cookie})
        return await self.client.post(path, content=body, headers=headers)

    async def log_in(self) -> None:
        response = await self.client.post("/api/inbox/session",
                                          json={"email": ADMIN, "password": ADMIN_PASSWORD})
        assert response.status_code == 200, response.text
        self.csrf = response.json()["csrf"]
        self.staff_cookie = f"ohb_staff={response.cookies['ohb_staff']}"


@asynccontextmanager
async def everything_on(redis_url: str, data_dir: Path) -> AsyncIterator[Hostile]:
    """The app with every channel, every carrier and the inbox on; a web chat session
    and an admin's login ready."""
    async with running(everything_settings(redis_url, data_dir)) as client:
        hostile = Hostile(client)
        hostile.web_token, _ = await start_session(client)
        await hostile.log_in()
        yield hostile


def deep(levels: int = 5000) -> bytes:
    """JSON nested deeper than the parser's recursion allows (about 1,000 levels), and
    still under every route's size limit: `[[[[...]]]]`."""
    return b"[" * levels + b"]" * levels


def as_json(data: Any) -> bytes:
    """`json.dumps` keeps a lone surrogate as the escape `\\ud800`, as a client would send."""
    return json.dumps(data).encode()
