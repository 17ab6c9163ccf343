"""The providers' outbound APIs, answered locally: every request gets `200 {}`-like
answers and is counted. Runs in the benchmark process (the client's core)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable

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
