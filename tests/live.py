"""A real HTTP server inside a test: an ASGI app served by uvicorn on 127.0.0.1, on a
port the kernel picked, and a wait for a condition that comes true in the background.

    async with serving(app) as (base_url, server):
        ...

The socket is bound before uvicorn starts and handed to it, so no other process can
take the port in between. A test that needs the address before it can build the app
(a `PUBLIC_URL` setting, an allowed origin) binds one first with `free_socket()` and
passes it as `sock=`.
"""

from __future__ import annotations

import asyncio
import inspect
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import uvicorn

# What every test server has unless the test says otherwise: quiet logs, the app's
# lifespan run (a failed startup stops the server), and no WebSocket protocol (none
# of the apps under test speak it).
DEFAULTS: dict[str, Any] = {"log_level": "warning", "lifespan": "on", "ws": "none"}


def free_socket() -> socket.socket:
    """A TCP socket bound to a free port on 127.0.0.1, not yet listening."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def url_of(sock: socket.socket, host: str = "127.0.0.1") -> str:
    return f"http://{host}:{sock.getsockname()[1]}"


@asynccontextmanager
async def serving(
    app: Any,
    *,
    sock: socket.socket | None = None,
    start_within: float = 10.0,
    stop_within: float = 10.0,
    **uvicorn_options: Any,
) -> AsyncIterator[tuple[str, uvicorn.Server]]:
    """Serve `app` until the block ends; yields its base URL and the uvicorn server.

    `uvicorn_options` go to `uvicorn.Config` over `DEFAULTS` (e.g. `lifespan="off"`,
    `timeout_graceful_shutdown=1`). `sock` is closed at the end, passed in or not.
    """
    if sock is None:
        sock = free_socket()
    server = uvicorn.Server(uvicorn.Config(app, **(DEFAULTS | uvicorn_options)))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        deadline = time.monotonic() + start_within
        while not server.started:
            assert not task.done(), "the server did not start"
            assert time.monotonic() < deadline, f"the server did not start in {start_within} s"
            await asyncio.sleep(0.01)
        yield url_of(sock), server
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, stop_within)
        sock.close()


async def eventually(
    check: Callable[[], Awaitable[bool] | bool], within: float = 10.0, every: float = 0.02
) -> None:
    """Wait until `check()` (a plain or an async function) is true, asking every `every`
    seconds; fail after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(every)
