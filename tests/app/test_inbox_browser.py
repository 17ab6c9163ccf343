"""The support inbox in a real browser (Chromium through Playwright) against the app
served by uvicorn with its in-process worker: a web shopper asks for a person, an
agent sees the ticket arrive live, takes it, replies, the shopper's web chat gets
the reply, the agent resolves, the shopper is asked to rate and gets the menu.

Needs the `playwright` package and a Chromium on the machine (Debian: `apt-get
install chromium`); Playwright's own browser download is not used. Takes the
README's screenshots (docs/screenshots/).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from app_harness import auth
from inbox_harness import ADMIN, ADMIN_PASSWORD, WebShopper, inbox_settings
from playwright.async_api import expect

from app.main import create_app
from conversation.tickets import Ticket, TicketStore
from records.db import Database
from tests.browser import launch, needs_chromium
from tests.live import free_socket, serving, url_of

pytestmark = needs_chromium
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
async def base_url(redis: aioredis.Redis, redis_url: str, tmp_path: Path) -> AsyncIterator[str]:
    sock = free_socket()
    settings = inbox_settings(redis_url, tmp_path, worker_in_process=True,
                              public_url=url_of(sock))
    app = create_app(settings)
    async with serving(app, sock=sock, timeout_graceful_shutdown=1) as (url, _server):
        yield url


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async with launch() as launched:
        yield launched


async def new_page(browser: Any, problems: list[str]) -> Any:
    page = await browser.new_page(viewport={"width": 1360, "height": 900})
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    return page


async def log_in(page: Any, base_url: str) -> None:
    await page.goto(base_url + "/inbox")
    assert "/inbox/login" in page.url  # anonymous: sent to the login page
    await page.fill("#email", ADMIN)
    await page.fill("#password", ADMIN_PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(base_url + "/inbox")


async def pushed(client: httpx.AsyncClient, token: str, want: str,
                 after: str | None = None) -> tuple[list[dict[str, Any]], str]:
    """Read the shopper's event stream until a reply with key `want` arrives."""
    headers = auth(token) | ({"Last-Event-ID": after} if after else {})
    seen: list[dict[str, Any]] = []
    last = after or ""
    async with asyncio.timeout(15), client.stream("GET", "/api/chat/events",
                                                  headers=headers) as stream:
        async for line in stream.aiter_lines():
            if line.startswith("id: "):
                last = line[4:]
            if line.startswith("data: "):
                seen.extend(json.loads(line[6:])["replies"])
                if any(r["key"] == want for r in seen):
                    return seen, last
    raise AssertionError(f"no {want} in {seen}")


async def test_an_agent_works_a_hand_off_live_from_login_to_rating(
    base_url: str, browser: Any, tmp_path: Path
) -> None:
    problems: list[str] = []
    page = await new_page(browser, problems)
    async with httpx.AsyncClient(base_url=base_url) as client:
        earlier = WebShopper(client)
        await earlier.hand_off("Where is my refund for 100014? It has been ten days.")
        await log_in(page, base_url)
        await page.get_by_role("link", name="T-1001").wait_for()
        await page.evaluate("window.notReloaded = true")

        shopper = WebShopper(client)
        await shopper.hand_off("My parcel 100006 arrived open and the lamp is broken")
        row = page.locator('tr[data-ticket="T-1002"]')
        await row.wait_for()  # arrived over the event stream, no reload
        assert await page.evaluate("window.notReloaded === true")
        assert await row.locator(".dot").count() == 1  # unread
        # the README's pictures change only when asked for: UPDATE_SCREENSHOTS=1
        shots = SCREENSHOTS if os.environ.get("UPDATE_SCREENSHOTS") else tmp_path
        shots.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(shots / "inbox-list.png"), caret="initial")

        await page.get_by_role("link", name="T-1002").click()
        await page.wait_for_url(base_url + "/inbox/tickets/T-1002")
        await page.locator("#order").get_by_text("#100006").wait_for()
        assert "out for delivery" in await page.locator("#order").inner_text()
        assert "lamp is broken" in await page.locator("#issue").inner_text()
        transcript = page.locator("#transcript")
        assert await transcript.locator(".line.shopper").count() >= 2
        assert await transcript.locator(".line.bot").count() >= 1

        await page.get_by_role("button", name="Take it").click()
        await page.locator("#head").get_by_text(f"assigned to {ADMIN}").wait_for()

        await page.get_by_role("button", name="Insert a canned reply").click()
        await page.get_by_role("menuitem", name="Looking into it").click()
        assert "looking into this" in await page.input_value("#reply-text")
        await page.fill("#reply-text", "Sorry about the lamp! A replacement ships today.")
        await page.get_by_role("button", name="Send reply").click()
        await page.locator('.line.staff [data-state="sent"]').wait_for(timeout=10_000)
        replies, cursor = await pushed(client, shopper.token, "staff.reply")
        assert replies[-1]["text"] == "Sorry about the lamp! A replacement ships today."

        await shopper.send("Thank you, waiting for it")  # filed on the ticket, live
        await transcript.get_by_text("Thank you, waiting for it").wait_for()
        assert shopper.keys == ["handoff.added"]  # the bot stays quiet
        await page.screenshot(path=str(shots / "inbox-ticket.png"), full_page=True,
                              caret="initial")

        await page.get_by_role("button", name="Resolve").click()
        await page.locator("#status").get_by_text("resolved").wait_for()
        replies, _ = await pushed(client, shopper.token, "handoff.resolved", cursor)
        question = next(r for r in replies if r["key"] == "handoff.resolved")
        assert [b["label"] for b in question["buttons"]] == ["1", "2", "3", "4", "5", "Skip"]
        await shopper.send("5", payload="rate:5")
        assert shopper.keys == ["rate.thanks"]
        await page.locator("#rating").wait_for()  # shown live
        assert "5/5" in await page.locator("#shopper").inner_text()
    assert problems == [], problems


async def test_a_shoppers_script_is_text_and_forms_need_the_token(
    base_url: str, browser: Any
) -> None:
    problems: list[str] = []
    dialogs: list[str] = []
    page = await new_page(browser, problems)
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    typed = "<script>alert('owned')</script><img src=x onerror=\"document.title='owned'\">"
    async with httpx.AsyncClient(base_url=base_url) as client:
        shopper = WebShopper(client)
        await shopper.hand_off(typed)
        await log_in(page, base_url)
        await page.get_by_role("link", name="T-1001").click()
        issue = page.locator("#issue")
        await issue.wait_for()
        assert await issue.inner_text() == typed
        assert await page.locator("#issue img, #issue script, #transcript img").count() == 0
        assert await page.title() != "owned" and dialogs == []

        refused = await page.request.post(base_url + "/inbox/tickets/T-1001/reply",
                                          form={"text": "no token"})
        assert refused.status == 403
        api = await page.request.post(base_url + "/api/inbox/tickets/T-1001/resolve")
        assert api.status == 403
        anonymous = await client.get("/api/inbox/tickets")
        assert anonymous.status_code == 401
        page_anonymous = await client.get("/inbox/tickets/T-1001")
        assert page_anonymous.status_code == 303
    assert "no token" not in await page.locator("#transcript").inner_text()
    assert [p for p in problems if "403" not in p] == [], problems


async def test_the_lists_pager_goes_older_and_newer_by_cursor(
    base_url: str, browser: Any, db: Database, redis: aioredis.Redis,
) -> None:
    store = TicketStore(db, redis)
    at = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
    for n in range(53):
        await store.create(Ticket(id="", kind="handoff", channel="web", conversation=f"web:{n}",
                                  created_at=at + timedelta(minutes=n),
                                  updated_at=at + timedelta(minutes=n), issue="lamp"))
    problems: list[str] = []
    page = await new_page(browser, problems)
    await log_in(page, base_url)
    pager = page.get_by_role("navigation", name="Pages")
    await expect(pager).to_contain_text("Page 1 of 2")

    await pager.get_by_role("link", name="Older →").click()
    await expect(pager).to_contain_text("Page 2 of 2")
    assert "before=" in page.url
    await expect(page.locator("tr[data-ticket]")).to_have_count(3)
    await expect(pager.get_by_role("link", name="Older →")).to_have_count(0)

    await pager.get_by_role("link", name="← Newer").click()
    await expect(pager).to_contain_text("Page 1 of 2")
    await expect(page.locator('tr[data-ticket="T-1053"]')).to_have_count(1)
    await expect(pager.get_by_role("link", name="← Newer")).to_have_count(0)
    assert problems == []
