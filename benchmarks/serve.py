"""Run one ASGI app the way the benchmark measures it:

    python -m benchmarks.serve --factory app.main:create_app --port 8001 --cpu 0

One uvicorn worker with uvloop and httptools, pinned to one core where the OS
allows it (`os.sched_setaffinity`; elsewhere it runs unpinned and says so). Logging
is what `python -m app serve` configures (`LOG_LEVEL`, so the bot's own line per
turn stays), except uvicorn's access log, which is off unless `--access-log`: it
costs about 100 µs a request and would hide the framework's ceiling. Both the bot
and the bare ceiling run with the same flags.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys


def pin(cpu: int | None) -> bool:
    """Pin this process to `cpu`; False where the OS cannot."""
    if cpu is None or not hasattr(os, "sched_setaffinity"):
        return False
    try:
        os.sched_setaffinity(0, {cpu})
    except OSError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.serve")
    parser.add_argument("--factory", required=True, help="module:function that builds the app")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cpu", type=int, help="the core to pin this process to")
    parser.add_argument("--access-log", action="store_true", help="keep uvicorn's access log")
    args = parser.parse_args(argv)
    if not pin(args.cpu) and args.cpu is not None:
        print(f"serve: could not pin to core {args.cpu}; running unpinned", file=sys.stderr)

    import uvicorn

    from app.logs import uvicorn_log_config

    level = os.environ.get("LOG_LEVEL", "INFO").lower()
    logging.basicConfig(level=level.upper(), format="%(levelname)s %(name)s: %(message)s")
    uvicorn.run(
        args.factory,
        factory=True,
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        workers=1,
        lifespan="on",
        log_level=level,
        log_config=uvicorn_log_config(),
        access_log=args.access_log,
        timeout_graceful_shutdown=2,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
