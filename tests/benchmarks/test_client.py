"""The load generator's keep-alive client: a connection the server closed while it
sat idle (uvicorn's keep-alive timeout, between phases) is opened again for the next
request, so the benchmark does not count a request it never sent as a lost reply."""

from __future__ import annotations

import asyncio

import pytest

from benchmarks.client import Connection, HttpError

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


async def _serve_one_request_per_connection() -> tuple[asyncio.Server, int, list[int]]:
    """Answers one request, then closes the connection, as an idle timeout would."""
    served: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        served.append(1)
        writer.write(ANSWER)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], served


async def test_a_connection_closed_while_idle_is_opened_again() -> None:
    server, port, served = await _serve_one_request_per_connection()
    async with server:
        connection = await Connection.open("127.0.0.1", port)
        assert await connection.request("GET", "/") == (200, b"ok")
        await asyncio.sleep(0.05)  # the server has closed it by now
        assert await connection.request("GET", "/") == (200, b"ok")
        assert len(served) == 2
        connection.close()


async def test_a_connection_lost_during_a_request_still_fails_it() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    async with server:
        connection = await Connection.open("127.0.0.1", server.sockets[0].getsockname()[1])
        with pytest.raises(HttpError, match="lost"):
            await connection.request("GET", "/")
