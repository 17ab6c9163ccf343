"""Driving the app's pages in a real browser, shared by the accessibility tests: the
app served with its in-process worker, a staff login through the form, and the
shopper's moves in the chat widget.

The widget lives in an open shadow root; Playwright's role and text locators pierce
it, and `widget_focus` reads the element focused inside it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from inbox_harness import ADMIN, ADMIN_PASSWORD, inbox_settings

from app.main import create_app
from tests.live import free_socket, serving, url_of

Page = Any  # playwright's Page; the module is imported only when it is installed
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 360, "height": 640}
IN_TRANSIT = ("100003", "ananya.iyer@example.in")  # docs/demo-orders.md
TRACKING = "https://track.example-courier.in/**"


@asynccontextmanager
async def served(redis_url: str, data_dir: Path) -> AsyncIterator[str]:
    """The whole app (shop page, widget, chat API, inbox) on a free port; its URL."""
    sock = free_socket()
    settings = inbox_settings(redis_url, data_dir, worker_in_process=True,
                              public_url=url_of(sock))
    # A failed test may leave an event stream open: do not wait for it on shutdown.
    async with serving(create_app(settings), sock=sock, timeout_graceful_shutdown=1) as (url, _):
        yield url


async def new_page(browser: Any, viewport: dict[str, int] = DESKTOP, **options: Any) -> Page:
    """A page in a fresh context; script errors are collected in `page.problems`."""
    context = await browser.new_context(viewport=viewport, device_scale_factor=1, **options)
    context.set_default_timeout(10_000)
    await context.route(  # the courier's site, should a test follow a tracking link
        TRACKING, lambda route: route.fulfill(body="<h1>Courier</h1>", content_type="text/html"))
    page = await context.new_page()
    page.problems = []
    page.on("pageerror", lambda exc: page.problems.append(str(exc)))
    page.on("console", lambda m: page.problems.append(m.text) if m.type == "error" else None)
    return page


async def log_in(page: Page, base_url: str, then: str = "/inbox") -> None:
    await page.goto(base_url + "/inbox/login")
    await page.get_by_label("Email").fill(ADMIN)
    await page.get_by_label("Password").fill(ADMIN_PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(base_url + "/inbox")
    if then != "/inbox":
        await page.goto(base_url + then)


# --- the widget -----------------------------------------------------------------------


def chat_log(page: Page) -> Any:
    return page.get_by_role("log", name="Conversation")


async def open_chat(page: Page) -> None:
    await page.get_by_role("button", name="Open chat").click()
    await page.get_by_role("dialog").wait_for()
    await page.get_by_role("button", name="Track order").wait_for()


async def track_in_transit(page: Page) -> None:
    """Tap Track order and answer the two questions (with the mouse)."""
    await page.get_by_role("button", name="Track order").click()
    await chat_log(page).get_by_text("Which order would you like to track?").wait_for()
    box = page.get_by_role("textbox", name="Message")
    for answer in IN_TRANSIT:
        await box.fill(answer)
        await box.press("Enter")
    await page.get_by_role("link", name="Track package").wait_for()


async def widget_focus(page: Page) -> str:
    """The focused element inside the widget, by its name: '' when focus is elsewhere."""
    return str(await page.evaluate(
        """() => { const host = document.querySelector('ohb-chat');
                   if (!host || document.activeElement !== host) return '';
                   const f = host.shadowRoot.activeElement;
                   return f ? (f.getAttribute('aria-label') || f.textContent.trim()
                               || f.tagName.toLowerCase()) : ''; }"""))
