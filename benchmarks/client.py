"""A small keep-alive HTTP/1.1 client on asyncio protocols.

httpx costs a few hundred microseconds of CPU per request, which would make the
load generator, not the server, the bottleneck. This client sends prebuilt
request bytes and parses only the status line, `Content-Length` and the body:
enough for the servers we start ourselves (uvicorn always sends a length for
these routes). One request at a time per connection; open several for concurrency.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping


class HttpError(ConnectionError):
    """The connection broke or the answer could not be read."""


class Connection(asyncio.Protocol):
    def __init__(self, host: str, port: int) -> None:
        self._host, self._port = host, port
        self._host_header = f"{host}:{port}".encode()
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self._need: int | None = None  # body length, once the head is read
        self._head_end = 0
        self._status = 0

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(lambda: cls(host, port), host, port)
        return protocol

    # asyncio.Protocol ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(HttpError(f"connection lost: {exc}"))

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._need is None:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self._buffer[:end]).split(b"\r\n")
            self._status = int(head[0].split(b" ", 2)[1])
            length = None
            for line in head[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if length is None:
                self._fail(HttpError("answer without Content-Length"))
                return
            self._head_end = end + 4
            self._need = length
        if len(self._buffer) >= self._head_end + self._need:
            body = bytes(self._buffer[self._head_end : self._head_end + self._need])
            del self._buffer[: self._head_end + self._need]
            self._need = None
            waiter, self._waiter = self._waiter, None
            if waiter is not None and not waiter.done():
                waiter.set_result((self._status, body))

    def _fail(self, exc: Exception) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        if self._transport is not None:
            self._transport.close()

    # requests --------------------------------------------------------------------

    def build(
        self, method: str, path: str, body: bytes = b"", headers: Mapping[str, str] | None = None
    ) -> bytes:
        lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: " + self._host_header]
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}".encode())
        lines.append(b"Content-Length: " + str(len(body)).encode())
        return b"\r\n".join(lines) + b"\r\n\r\n" + body

    async def send(self, raw: bytes) -> tuple[int, bytes]:
        """Send one prebuilt request; the status and the body of its answer."""
        if self._waiter is not None:
            raise RuntimeError("one request at a time per connection")
        if self._transport is None:
            await self._reopen()
        assert self._transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self._transport.write(raw)
        return await self._waiter

    async def _reopen(self) -> None:
        """The server closed this connection while it was idle (uvicorn's keep-alive
        timeout, 5 s, between phases): nothing was sent on it, so open another and send
        there, as any keep-alive client does. A connection lost during a request still
        fails the request."""
        self._buffer.clear()
        self._need = None
        await asyncio.get_running_loop().create_connection(lambda: self, self._host, self._port)

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: Mapping[str, str] | None = None
    ) -> tuple[int, bytes]:
        return await self.send(self.build(method, path, body, headers))

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
