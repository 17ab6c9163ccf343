"""The desk in Chromium: an agent tags and prioritises a ticket, sees an overdue
ticket flagged on the list, sees another agent typing on the same ticket, and opens
the reports page with its charts. `UPDATE_SCREENSHOTS=1` writes the pictures to
docs/screenshots/ (desk-*.png); otherwise to the test's own folder."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from inbox_harness import (
    ADMIN,
    ADMIN_PASSWORD,
    AGENT,
    AGENT_PASSWORD,
    WebShopper,
    add_agent,
    api_login,
    inbox_settings,
)
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import expect

from app.main import create_app
from conversation.tickets import Ticket, TicketStore
from tests.browser import launch, needs_chromium
from tests.live import free_socket, serving, url_of

pytestmark = needs_chromium
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
async def base_url(redis: aioredis.Redis, redis_url: str, tmp_path: Path) -> AsyncIterator[str]:
    sock = free_socket()
    settings = inbox_settings(redis_url, tmp_path, worker_in_process=True,
                              public_url=url_of(sock), business_hours="",
                              priority_rules="package:lost=urgent, refusal:window_closed=high")
    async with serving(create_app(settings), sock=sock, timeout_graceful_shutdown=1) as (
            url, _server):
        yield url


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async with launch() as launched:
        yield launched


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = SCREENSHOTS if os.environ.get("UPDATE_SCREENSHOTS") else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def logged_in(browser: Any, base_url: str, problems: list[str], email: str = ADMIN,
                    password: str = ADMIN_PASSWORD) -> Any:
    context = await browser.new_context(viewport={"width": 1280, "height": 820})
    page = await context.new_page()
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    await page.goto(base_url + "/inbox/login")
    await page.fill("#email", email)
    await page.fill("#password", password)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(base_url + "/inbox")
    return page


async def test_an_agent_tags_and_prioritises_a_ticket(
    base_url: str, browser: Any, shots: Path
) -> None:
    problems: list[str] = []
    async with httpx.AsyncClient(base_url=base_url) as client:
        await WebShopper(client).hand_off("My parcel 100006 arrived open and the lamp is broken")
    page = await logged_in(browser, base_url, problems)
    await page.get_by_role("link", name="T-1001").click()
    desk = page.locator("#desk")
    assert await desk.locator("#priority").text_content() == "normal"
    await page.fill("#add-tag", "Broken item, courier")
    await desk.get_by_role("button", name="Add").click()
    # Locator assertions, which retry across the page reload each form's answer makes (a
    # string predicate failed there: the element gone mid-reload, or the page's CSP).
    await expect(page.locator("#tags .tag")).to_have_count(2)
    assert await page.locator("#tags .tag span").all_text_contents() == ["broken item",
                                                                          "courier"]
    await desk.locator('select[name="priority"]').select_option("high")
    await desk.get_by_role("button", name="Set priority").click()
    await expect(desk.locator("#priority")).to_have_text("high")
    await page.locator("#transcript").get_by_text("priority set to high").wait_for()
    await desk.get_by_role("button", name="Remove tag courier").click()
    await expect(page.locator("#tags .tag")).to_have_count(1)
    await shoot(page.locator("#side"), shots / "desk-ticket.png")

    await page.goto(base_url + "/inbox?tag=broken+item")
    row = page.locator('tr[data-ticket="T-1001"]')
    assert await row.get_attribute("data-priority") == "high"
    assert "broken item" in await row.inner_text()
    assert problems == [], problems


async def test_an_overdue_ticket_stands_out_on_the_list(
    base_url: str, browser: Any, tickets: TicketStore, shots: Path
) -> None:
    problems: list[str] = []
    now = datetime.now(UTC)
    for hours, issue in ((30, "Waiting since yesterday for a call back"),
                         (0.2, "Where is my refund?")):
        at = now - timedelta(hours=hours)
        await tickets.create(Ticket(id="", kind="handoff", channel="whatsapp",
                                    conversation=f"whatsapp:+9198{int(hours * 10):08d}",
                                    created_at=at, updated_at=at, issue=issue))
    page = await logged_in(browser, base_url, problems)
    await page.goto(base_url + "/inbox?sort=due")
    late = page.locator('tr[data-ticket="T-1001"]')
    assert await late.get_attribute("data-overdue") == "true"
    assert "Overdue" in await late.inner_text()
    fresh = page.locator('tr[data-ticket="T-1002"]')
    assert await fresh.get_attribute("data-overdue") is None
    colour = await late.locator("td").first.evaluate("e => getComputedStyle(e).backgroundColor")
    assert colour != await fresh.locator("td").first.evaluate(
        "e => getComputedStyle(e).backgroundColor")
    await shoot(page.locator("table"), shots / "desk-overdue.png")
    assert problems == [], problems


async def test_an_agent_sees_another_agent_typing(
    base_url: str, browser: Any, shots: Path
) -> None:
    problems: list[str] = []
    async with httpx.AsyncClient(base_url=base_url) as client:
        await WebShopper(client).hand_off("The kurta is the wrong size")
        csrf = await api_login(client)
        await add_agent(client, csrf)
        await client.post(f"/api/inbox/staff/{AGENT}/desk", headers=csrf,
                          json={"display_name": "Asha"})
    admin = await logged_in(browser, base_url, problems)
    agent = await logged_in(browser, base_url, problems, AGENT, AGENT_PASSWORD)
    for page in (admin, agent):
        await page.goto(base_url + "/inbox/tickets/T-1001")
    banner = admin.locator("#presence")
    await banner.get_by_text("Asha is also viewing this ticket.").wait_for(timeout=15_000)
    await agent.locator("#reply-text").press_sequentially("Hello, I can help", delay=20)
    await admin.locator('#presence[data-typing="true"]').wait_for(timeout=15_000)
    assert await banner.inner_text() == "Asha is typing a reply…"
    await admin.screenshot(path=str(shots / "desk-typing.png"),
                           clip={"x": 0, "y": 0, "width": 1280, "height": 300})
    assert problems == [], problems


async def test_the_reports_page_shows_its_charts(
    base_url: str, browser: Any, shots: Path
) -> None:
    problems: list[str] = []
    async with httpx.AsyncClient(base_url=base_url) as client:
        csrf = await api_login(client)
        for _ in range(3):
            shopper = WebShopper(client)
            await shopper.start()
            await shopper.send("hi")
        for ticket, score in (("T-1001", 5), ("T-1002", 3)):
            shopper = WebShopper(client)
            await shopper.hand_off("My parcel 100006 arrived open")
            await client.post(f"/api/inbox/tickets/{ticket}/reply", headers=csrf,
                              json={"text": "Sorry! Sending a new one", "reply_id": "r"})
            await client.post(f"/api/inbox/tickets/{ticket}/resolve", headers=csrf)
            await shopper.send(str(score), payload=f"rate:{score}")
    page = await logged_in(browser, base_url, problems)
    await page.get_by_role("link", name="Reports").click()
    await page.wait_for_url(base_url + "/inbox/reports")
    assert await page.locator("#conversations").inner_text() == "5"
    assert await page.locator("#settled").inner_text() == "60%"
    assert await page.locator("svg").count() == 5
    bars = page.locator("#chart-conversations svg rect")
    assert await bars.count() >= 2
    box = await page.locator("#chart-conversations svg").bounding_box()
    assert box is not None and box["height"] > 100
    await shoot(page.locator("main"), shots / "desk-reports.png")
    assert problems == [], problems


async def shoot(locator: Any, path: Path) -> None:
    """A picture of a live area: a live update may swap it for a fresh copy while the
    picture is taken (the element is then detached); take it again."""
    for attempt in range(3):
        try:
            await locator.screenshot(path=str(path))
            return
        except PlaywrightError:
            if attempt == 2:
                raise
