"""Local stand-ins for the Telegram Bot API and Twilio's REST API: small Starlette
apps, served with `tests.live.serving`, recording every request, so end-to-end tests
check what the bot actually sent. Failures are scripted per test
(a 429 with `retry_after`, a chat that blocked the bot)."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float
    status: int
    client_port: int = 0  # the caller's TCP port: one per connection it opened


@dataclass
class FakeTelegram:
    """`/bot<token>/<method>`; `sendMessage` results are Message objects."""

    token: str
    calls: list[Call] = field(default_factory=list)
    blocked: set[int] = field(default_factory=set)
    rate_limit_next: int = 0  # answer this many sendMessage calls with 429
    retry_after: int = 1
    delay: float = 0.0  # seconds before answering a sendMessage
    url: str = ""
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(100))

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/bot{token}/{method}", self._call, methods=["POST"])])

    def sent(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        """The messages Telegram accepted, oldest first."""
        return [c.params for c in self.calls if c.method == "sendMessage" and c.status == 200
                and (chat_id is None or c.params["chat_id"] == chat_id)]

    def attempts(self, chat_id: int) -> list[Call]:
        return [c for c in self.calls
                if c.method == "sendMessage" and c.params["chat_id"] == chat_id]

    async def _call(self, request: Request) -> JSONResponse:
        if request.path_params["token"] != self.token:
            return JSONResponse({"ok": False, "error_code": 401,
                                 "description": "Unauthorized"}, status_code=401)
        method = request.path_params["method"]
        form = await request.form()
        params: dict[str, Any] = {}
        for key, value in form.items():
            assert isinstance(value, str)
            try:
                params[key] = json.loads(value)
            except ValueError:
                params[key] = value
        if self.delay and method == "sendMessage":
            await asyncio.sleep(self.delay)
        status, body = self._answer(method, params)
        port = request.client.port if request.client else 0
        self.calls.append(Call(method, params, time.monotonic(), status, port))
        return JSONResponse(body, status_code=status)

    def _answer(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        bot = {"id": 555000111, "is_bot": True, "first_name": "Order Help",
               "username": "OrderHelpBot"}
        if method == "getMe":
            return 200, {"ok": True, "result": bot}
        if method == "sendMessage":
            chat_id = int(params["chat_id"])
            if chat_id in self.blocked:
                return 403, {"ok": False, "error_code": 403,
                             "description": "Forbidden: bot was blocked by the user"}
            if self.rate_limit_next > 0:
                self.rate_limit_next -= 1
                return 429, {"ok": False, "error_code": 429,
                             "description": f"Too Many Requests: retry after {self.retry_after}",
                             "parameters": {"retry_after": self.retry_after}}
            chat = {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"}
            message = {"message_id": next(self._ids), "date": int(time.time()), "chat": chat,
                       "from": bot, "text": params["text"]}
            return 200, {"ok": True, "result": message}
        if method == "setWebhook":
            self.url = str(params.get("url", ""))
            return 200, {"ok": True, "result": True, "description": "Webhook was set"}
        if method == "getWebhookInfo":
            return 200, {"ok": True, "result": {"url": self.url, "has_custom_certificate": False,
                                                "pending_update_count": 0,
                                                "max_connections": 40}}
        return 400, {"ok": False, "error_code": 400, "description": f"Unknown method {method}"}


@dataclass
class FakeTwilio:
    """`POST /2010-04-01/Accounts/<sid>/Messages.json`, with HTTP Basic auth."""

    account_sid: str
    auth_token: str
    messages: list[dict[str, str]] = field(default_factory=list)
    refuse_next: int = 0  # answer this many with 400, code 63016 (outside the window)
    throttle_next: int = 0  # answer this many with 429 (code 20429)
    delay: float = 0.0  # seconds before answering
    client_ports: list[int] = field(default_factory=list)  # the caller's port, per request
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/2010-04-01/Accounts/{sid}/Messages.json", self._create,
                                       methods=["POST"])])

    async def _create(self, request: Request) -> JSONResponse:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if (request.headers.get("authorization") != f"Basic {expected}"
                or request.path_params["sid"] != self.account_sid):
            return JSONResponse({"code": 20003, "message": "Authenticate", "status": 401},
                                status_code=401)
        form = {k: str(v) for k, v in (await request.form()).items()}
        self.client_ports.append(request.client.port if request.client else 0)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.throttle_next > 0:
            self.throttle_next -= 1
            return JSONResponse({"code": 20429, "status": 429, "message": "Too Many Requests"},
                                status_code=429)
        if self.refuse_next > 0:
            self.refuse_next -= 1
            return JSONResponse({"code": 63016, "status": 400, "message":
                                 "Failed to send freeform message: outside the allowed window"},
                                status_code=400)
        self.messages.append(form)
        sid = f"SM{next(self._ids):032x}"
        return JSONResponse({"sid": sid, "account_sid": self.account_sid, "status": "queued",
                             "to": form.get("To"), "from": form.get("From"),
                             "body": form.get("Body", ""), "num_segments": "1",
                             "direction": "outbound-api", "api_version": "2010-04-01"},
                            status_code=201)
