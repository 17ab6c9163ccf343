"""The providers' outbound APIs, answered locally: every request is counted and gets
a `200 {}`-like answer (Twilio) or what the Bot API answers (`BotApi`, which also
writes each chat's messages down for the reply checks). Runs in the benchmark
process (the client's core)."""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

Answer = Callable[[str, str, bytes], tuple[int, bytes]]


def _ok(method: str, path: str, body: bytes) -> tuple[int, bytes]:
    return 200, b"{}"


class FakeApi:
    """A tiny HTTP/1.1 server; `answer(method, path, body)` makes each response."""

    def __init__(self, name: str, answer: Answer = _ok) -> None:
        self.name = name
        self.requests: Counter[str] = Counter()
        self._answer = answer
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                length = 0
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                body = await reader.readexactly(length) if length else b""
                self.requests[path.split("?", 1)[0]] += 1
                status, answer = self._answer(method, path, body)
                writer.write(
                    f"HTTP/1.1 {status} OK\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(answer)}\r\n\r\n".encode() + answer
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()


class BotApi:
    """The Telegram Bot API's part the bot uses, answered like Telegram does, and
    every `sendMessage` written down per chat with the time it arrived (the
    words HTML-unescaped, as the shopper would read them).

    `FakeApi("telegram", BotApi().answer)` serves it."""

    def __init__(self) -> None:
        self.sent: dict[int, list[tuple[float, str]]] = defaultdict(list)
        self.messages = 0
        self._ids = itertools.count(1)

    def answer(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        name = path.rsplit("/", 1)[-1]
        if name == "getMe":
            return 200, json.dumps({"ok": True, "result": BOT_USER}).encode()
        if name != "sendMessage":
            return 200, b'{"ok":true,"result":true}'
        params = _params(body)
        chat_id = int(params["chat_id"])
        text = html.unescape(str(params.get("text", "")))
        self.sent[chat_id].append((time.perf_counter(), text))
        self.messages += 1
        message = {"message_id": next(self._ids), "date": int(time.time()),
                   "chat": {"id": chat_id, "type": "private", "first_name": "Bench"},
                   "from": BOT_USER, "text": text}
        return 200, json.dumps({"ok": True, "result": message}).encode()


BOT_USER = {"id": 555000111, "is_bot": True, "first_name": "Order Help",
            "username": "BenchOrderHelpBot"}


def _params(body: bytes) -> dict[str, Any]:
    """PTB posts a form (each value JSON-encoded when it is not a string); JSON too."""
    if body[:1] == b"{":
        data: dict[str, Any] = json.loads(body)
        return data
    return dict(parse_qsl(body.decode(), keep_blank_values=True))
