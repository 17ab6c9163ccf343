"""The page at `/` in a real browser (Chromium through Playwright) against the app
served by uvicorn: tap buttons, type, follow a link, and nothing typed runs as code.

Needs the `playwright` package and a Chromium on the machine (Debian: `apt-get install
chromium`); Playwright's own browser download is not used.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
import uvicorn
from app_harness import make_settings

from app.main import create_app

CHROMIUM = next(
    (path for name in ("chromium", "chromium-browser") if (path := shutil.which(name))), None
)
playwright_api = pytest.importorskip("playwright.async_api")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine")


@pytest.fixture
async def base_url(redis: aioredis.Redis, redis_url: str, tmp_path: Path) -> AsyncIterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(make_settings(redis_url, tmp_path)), log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        assert not task.done(), "the server did not start"
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def test_a_shopper_tracks_an_order_in_the_browser(base_url: str) -> None:
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = await browser.new_page()
            problems: list[str] = []
            page.on("pageerror", lambda exc: problems.append(str(exc)))
            page.on(
                "console",
                lambda msg: problems.append(msg.text) if msg.type == "error" else None,
            )
            await page.goto(base_url + "/")

            await page.get_by_role("button", name="Track order").click()
            await page.get_by_text("Which order would you like to track?").wait_for()
            await page.fill("#text", "100003")
            await page.press("#text", "Enter")
            await page.get_by_text("To protect your details").wait_for()
            await page.fill("#text", "ananya.iyer@example.in")
            await page.press("#text", "Enter")
            link = page.get_by_role("link", name="Track package")
            await link.wait_for()
            assert (await link.get_attribute("href") or "").startswith("https://")
            assert await link.get_attribute("rel") == "noopener noreferrer"

            typed = "<img src=x onerror=\"document.title='owned'\">"
            await page.fill("#text", typed)
            await page.press("#text", "Enter")
            await page.locator(".me", has_text="<img src=x").wait_for()
            assert await page.locator("#log img").count() == 0
            assert await page.title() != "owned"
            assert problems == []
        finally:
            await browser.close()
