"""Trying a call to a shop's API again after a failure that may pass.

One rule for every back-end that talks to a shop over HTTP: up to `tries` tries,
`backoff[i]` seconds between them (the last pause repeats; a server's own hint,
such as Shopify's throttle status, wins, capped at `max_wait`), and no try that
would start more than `budget` seconds after the first, so a turn stays well inside
the channels' webhook budgets. What counts as transient, and which calls may be
tried again at all, is each back-end's decision.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


class Transient(Exception):
    """One try failed in a way another try may not; `wait` is the server's own hint."""

    def __init__(self, reason: str, wait: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.wait = wait


async def with_retries(
    call: Callable[[], Awaitable[T]],
    *,
    tries: int,
    backoff: Sequence[float],
    budget: float,
    max_wait: float = math.inf,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    on_failure: Callable[[Transient, int, bool], None] | None = None,
) -> T:
    """`call()` until it succeeds or the tries or the budget run out; then the last
    `Transient` is raised. `on_failure(exc, attempt, last)` hears of every failed try."""
    started = time.monotonic()
    attempt = 0
    while True:
        attempt += 1
        try:
            return await call()
        except Transient as exc:
            if exc.wait is not None:
                pause = exc.wait
            else:
                pause = backoff[min(attempt, len(backoff)) - 1] if backoff else 0.0
            pause = min(pause, max_wait)
            last = attempt >= tries or time.monotonic() - started + pause > budget
            if on_failure is not None:
                on_failure(exc, attempt, last)
            if last:
                raise
            await sleep(pause)
