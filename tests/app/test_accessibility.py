"""WCAG 2.1 A and AA in a real browser: axe-core (vendored, see tests/axe.py) finds no
violation on any page a shopper or a staff member sees, in the states they see it.

Each page is one line of `AUDITED`: its path, the window size, whether staff log in
first, and what to do on it before the audit. A new page gets a new line.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from inbox_harness import WebShopper
from page_harness import (
    DESKTOP,
    PHONE,
    Page,
    log_in,
    new_page,
    open_chat,
    served,
    track_in_transit,
)

from tests.axe import audit, explain
from tests.browser import launch, needs_chromium

pytestmark = needs_chromium


async def chat_with_an_order(page: Page) -> None:
    """The widget open, after a finished tracking flow: bubbles both ways, timestamps,
    quick replies, a tracking link."""
    await open_chat(page)
    await track_in_transit(page)


async def wrong_password(page: Page) -> None:
    await page.get_by_label("Email").fill("someone@shop.example")
    await page.get_by_label("Password").fill("not the password")
    await page.get_by_role("button", name="Log in").click()
    await page.get_by_role("alert").wait_for()
    # the page itself comes with 401, which the console reports
    page.problems[:] = [p for p in page.problems if "status of 401" not in p]


async def canned_replies_open(page: Page) -> None:
    await page.get_by_role("button", name="Insert a canned reply").click()
    await page.get_by_role("menu").wait_for()


async def staff_replied(page: Page) -> None:
    await page.get_by_label("Reply to the shopper").fill("Sorry about the lamp!")
    await page.get_by_role("button", name="Send reply").click()
    await page.locator('.line.staff [data-state="sent"]').wait_for()


@dataclass(frozen=True)
class Audited:
    name: str
    path: str
    size: tuple[int, int] = (DESKTOP["width"], DESKTOP["height"])  # the window's
    staff: bool = False  # log in first
    then: Callable[[Page], Awaitable[None]] | None = None


PHONE_SIZE = (PHONE["width"], PHONE["height"])
AUDITED = [
    Audited("shop page, chat closed", "/"),
    Audited("shop page, chat open", "/", then=chat_with_an_order),
    Audited("shop page on a phone, chat closed", "/", PHONE_SIZE),
    Audited("shop page on a phone, chat open", "/", PHONE_SIZE, then=chat_with_an_order),
    Audited("inbox login", "/inbox/login"),
    Audited("inbox login, wrong password", "/inbox/login", then=wrong_password),
    Audited("inbox list", "/inbox", staff=True),
    Audited("inbox ticket", "/inbox/tickets/T-1001", staff=True),
    Audited("inbox ticket, canned replies open", "/inbox/tickets/T-1001", staff=True,
            then=canned_replies_open),
    Audited("inbox ticket after a reply", "/inbox/tickets/T-1001", staff=True,
            then=staff_replied),
]


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    async with launch() as launched:
        yield launched


@pytest.fixture
async def base_url(redis: aioredis.Redis, redis_url: str, tmp_path: Path) -> AsyncIterator[str]:
    """The app with one hand-off ticket (T-1001, about order 100006) to look at."""
    async with served(redis_url, tmp_path) as url:
        async with httpx.AsyncClient(base_url=url) as client:
            await WebShopper(client).hand_off("My parcel 100006 arrived open, the lamp broke")
        yield url


@pytest.mark.parametrize("audited", AUDITED, ids=[a.name for a in AUDITED])
async def test_no_wcag_2_1_aa_violations(audited: Audited, browser: Any, base_url: str) -> None:
    width, height = audited.size
    page = await new_page(browser, {"width": width, "height": height})
    try:
        if audited.staff:
            await log_in(page, base_url, then=audited.path)
        else:
            await page.goto(base_url + audited.path)
        if audited.then:
            await audited.then(page)
        await page.wait_for_timeout(250)  # let an opening animation end before colours are read
        assert page.problems == []  # before axe, whose own <style> the page's CSP refuses
        violations = await audit(page)
        assert violations == [], explain(violations)
    finally:
        await page.context.close()
