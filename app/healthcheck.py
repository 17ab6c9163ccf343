"""`python -m app healthcheck [--worker]`: the container's HEALTHCHECK.

Web: `GET http://127.0.0.1:$PORT/healthz` answers 200 within the timeout. Worker:
its beat file (touched with every heartbeat, `BEAT_FILE`) is younger than the
heartbeat's TTL, so a worker stuck or dead is restarted. Standard library only,
so it costs little every 30 seconds.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

BEAT_FILE = Path(tempfile.gettempdir()) / "orderhelp-worker.beat"
BEAT_MAX_AGE_S = 30
TIMEOUT_S = 4


def touch_beat_file() -> None:
    """Best effort: a read-only /tmp only costs the container check."""
    with contextlib.suppress(OSError):
        BEAT_FILE.touch()


def check(port: int, *, worker: bool) -> str | None:
    """None when healthy, else what is wrong."""
    if worker:
        try:
            age = time.time() - BEAT_FILE.stat().st_mtime
        except FileNotFoundError:
            return "no worker heartbeat yet"
        return None if age <= BEAT_MAX_AGE_S else f"last worker heartbeat {age:.0f}s ago"
    url = f"http://127.0.0.1:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            return None if response.status == 200 else f"/healthz answered {response.status}"
    except (urllib.error.URLError, OSError) as exc:
        return f"/healthz did not answer ({type(exc).__name__})"
