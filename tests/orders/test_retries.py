"""The one retry rule the shop back-ends share."""

from __future__ import annotations

import pytest

from orders.retries import Transient, with_retries


class Flaky:
    def __init__(self, failures: list[Transient | Exception]) -> None:
        self.failures = failures
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "ok"


async def test_tries_again_with_the_back_off_then_succeeds() -> None:
    pauses: list[float] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    call = Flaky([Transient("502"), Transient("timed out")])
    assert await with_retries(call, tries=3, backoff=(0.1, 0.3), budget=5, sleep=sleep) == "ok"
    assert (call.calls, pauses) == (3, [0.1, 0.3])


async def test_gives_up_after_the_tries_with_the_last_failure() -> None:
    heard: list[tuple[str, int, bool]] = []

    async def sleep(seconds: float) -> None:
        return None

    call = Flaky([Transient("one"), Transient("two"), Transient("three")])
    with pytest.raises(Transient, match="two"):
        await with_retries(call, tries=2, backoff=(0.1,), budget=5, sleep=sleep,
                           on_failure=lambda exc, n, last: heard.append((exc.reason, n, last)))
    assert heard == [("one", 1, False), ("two", 2, True)]


async def test_the_servers_hint_wins_capped_at_max_wait() -> None:
    pauses: list[float] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    call = Flaky([Transient("throttled", wait=9.0), Transient("throttled", wait=0.5)])
    assert await with_retries(call, tries=5, backoff=(0.1,), budget=60, max_wait=2.0,
                              sleep=sleep) == "ok"
    assert pauses == [2.0, 0.5]


async def test_no_try_starts_past_the_budget() -> None:
    call = Flaky([Transient("slow"), Transient("slow")])
    with pytest.raises(Transient):
        await with_retries(call, tries=5, backoff=(0.2,), budget=0.1)
    assert call.calls == 1  # the pause alone would have ended past the budget


async def test_other_errors_are_not_tried_again() -> None:
    call = Flaky([ValueError("a refusal")])
    with pytest.raises(ValueError):
        await with_retries(call, tries=3, backoff=(0.1,), budget=5)
    assert call.calls == 1
