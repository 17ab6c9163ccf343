"""The chat widget in a real browser: Chromium through Playwright, against the app
served by uvicorn on a free port, on the demo shop page at `/` and on a shop page of
another origin.

Needs the `playwright` package and a Chromium on the machine (Debian: `apt-get install
chromium`; `.ci/run` installs it when it can). Playwright's own browser download is
not used. Without a Chromium these tests are skipped, and say so.

`UPDATE_SCREENSHOTS=1 pytest tests/app/test_widget_browser.py` also writes the
README's screenshots to `docs/screenshots/`; otherwise they go to a temporary folder,
so an ordinary run leaves the tree clean (the pictures carry the time of day).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from app_harness import IDENTITY_SECRET, WEB_CHAT_SECRET, make_settings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from app.main import create_app
from channels.web import TokenSigner, sign_customer
from channels.web_push import WebPushLog
from conversation.outbox import Outbox
from conversation.types import Channel, Reply
from tests.browser import launch, needs_chromium
from tests.live import free_socket, serving, url_of

pytestmark = needs_chromium
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
DESKTOP = {"width": 1200, "height": 760}
PHONE = {"width": 360, "height": 640}
EMAIL = "ananya.iyer@example.in"
TRACKING = "https://track.example-courier.in/**"
Page = Any  # playwright's Page; the module is imported only when it is installed


# --- the server, the browser, a page ----------------------------------------------------


class Shop:
    """Another shop's site, on its own origin: `pages[path] = html`."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.pages: dict[str, str] = {}

    async def page(self, request: Request) -> Response:
        html = self.pages.get(request.url.path)
        return HTMLResponse(html) if html else Response(status_code=404)


@pytest.fixture
async def shop() -> AsyncIterator[Shop]:
    sock = free_socket()
    site = Shop(url_of(sock, host="localhost"))
    app = Starlette(routes=[Route("/{path:path}", site.page)])
    async with serving(app, sock=sock, lifespan="off", timeout_graceful_shutdown=1):
        yield site


@pytest.fixture
async def base_url(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path, shop: Shop
) -> AsyncIterator[str]:
    """The app on 127.0.0.1, with the in-process outbox worker; the `shop` fixture's
    origin may use its chat API."""
    settings = make_settings(
        redis_url, tmp_path, worker_in_process=True, web_allowed_origins=shop.origin
    )
    # A failed test may leave an event stream open: do not wait for it on shutdown.
    async with serving(create_app(settings), timeout_graceful_shutdown=1) as (url, _server):
        yield url


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    async with launch() as launched:
        yield launched


class Watch:
    """What went wrong in the page: script errors, console errors, alert boxes."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        self.console: list[str] = []
        self.dialogs: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("console", lambda m: self.console.append(m.text) if m.type == "error" else None)
        page.on("dialog", self._dialog)

    async def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        await dialog.dismiss()


@pytest.fixture
async def new_page(browser: Any, base_url: str) -> AsyncIterator[Any]:
    """Opens a page in a fresh context (its own localStorage); all closed at the end,
    before the server stops (so it has no open event stream to wait for)."""
    contexts: list[Any] = []

    async def open_page(viewport: dict[str, int] = DESKTOP, **options: Any) -> Page:
        context = await browser.new_context(viewport=viewport, device_scale_factor=1, **options)
        contexts.append(context)
        context.set_default_timeout(10_000)
        await context.route(
            TRACKING,
            lambda route: route.fulfill(body="<h1>Courier</h1>", content_type="text/html"),
        )
        page = await context.new_page()
        page.watch = Watch(page)
        return page

    try:
        yield open_page
    finally:
        for context in contexts:
            await context.close()


async def screenshot(page: Page, name: str, tmp_path: Path) -> None:
    folder = SCREENSHOTS if os.environ.get("UPDATE_SCREENSHOTS") else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(folder / name))


# --- helpers that act as the shopper ------------------------------------------------------


def chat(page: Page) -> Any:
    return page.get_by_role("dialog")


def log(page: Page) -> Any:
    """The conversation (not the screen reader's copy of the latest message)."""
    return page.get_by_role("log", name="Conversation")


async def open_chat(page: Page) -> None:
    await page.get_by_role("button", name="Open chat").click()
    await chat(page).wait_for()


async def say(page: Page, text: str) -> None:
    box = page.get_by_role("textbox", name="Message")
    await box.fill(text)
    await box.press("Enter")


async def focused(page: Page) -> str:
    return str(
        await page.evaluate(
            "() => { const f = document.querySelector('ohb-chat').shadowRoot.activeElement;"
            " return f ? (f.getAttribute('aria-label') || f.className) : ''; }"
        )
    )


async def stored(page: Page, base_url: str) -> dict[str, Any]:
    raw = await page.evaluate("(key) => localStorage.getItem(key)", "ohb-chat:" + base_url)
    return dict(json.loads(raw))


async def conversation_of(page: Page, base_url: str) -> str:
    token = (await stored(page, base_url))["token"]
    return TokenSigner(WEB_CHAT_SECRET).verify(token).conversation


async def track_100003(page: Page) -> Any:
    """Track an order by tapping the menu and answering the two questions."""
    await page.get_by_role("button", name="Track order").click()
    await log(page).get_by_text("Which order would you like to track?").wait_for()
    await say(page, "100003")
    await log(page).get_by_text("To protect your details").wait_for()
    await say(page, EMAIL)
    link = page.get_by_role("link", name="Track package")
    await link.wait_for()
    return link


# --- the tests ----------------------------------------------------------------------------


async def test_a_shopper_tracks_an_order_and_keeps_the_chat_across_a_reload(
    new_page: Any, base_url: str, tmp_path: Path
) -> None:
    page = await new_page()
    await page.goto(base_url + "/")
    assert not await chat(page).is_visible()
    await open_chat(page)
    assert await chat(page).get_attribute("aria-labelledby")
    assert await focused(page) == "Message"  # focus moved into the panel

    link = await track_100003(page)
    assert (await link.get_attribute("href") or "").startswith("https://track.example-courier")
    assert await link.get_attribute("target") == "_blank"
    assert await link.get_attribute("rel") == "noopener noreferrer"
    assert await log(page).get_by_text("You ·").count() >= 1  # timestamps
    await page.wait_for_timeout(200)  # let the open animation finish
    await screenshot(page, "widget-desktop.png", tmp_path)

    async with page.context.expect_page() as opened:
        await link.click()
    courier = await opened.value
    assert await courier.evaluate("() => window.opener") is None
    await courier.close()

    bubbles = await page.locator("ohb-chat .bubble").all_inner_texts()
    await page.reload()
    await page.get_by_role("link", name="Track package").wait_for()  # still open, same chat
    assert await page.locator("ohb-chat .bubble").all_inner_texts() == bubbles

    await page.get_by_role("textbox", name="Message").focus()
    await page.keyboard.press("Escape")
    await chat(page).wait_for(state="hidden")
    assert await focused(page) == "Open chat"  # focus went back to the launcher

    assert page.watch.errors == [] and page.watch.console == []


async def test_a_verified_customer_sees_their_orders_without_typing(
    new_page: Any, base_url: str
) -> None:
    page = await new_page()
    await page.goto(base_url + "/?as=priya")
    await open_chat(page)
    await page.get_by_role("button", name="Track order").click()
    await log(page).get_by_text("Which order would you like to track?").wait_for()
    await page.get_by_role("button", name="#100018").wait_for()
    await page.get_by_role("button", name="#100001").click()
    await log(page).get_by_text("Order #100001").wait_for()
    assert await log(page).get_by_text("Please type the order number").count() == 0
    assert await log(page).get_by_text("To protect your details").count() == 0
    assert page.watch.errors == []


def shop_page(base_url: str, signature: str) -> str:
    """A page of another shop origin with the one tag, signed by that shop's server."""
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Another shop</title></head><body><h1>Another shop</h1>
<script src="{base_url}/widget.js" async data-color="#1f5fbf"
        data-customer-email="priya.sharma@example.in"
        data-customer-signature="{signature}"></script></body></html>"""


@pytest.mark.parametrize("genuine", [True, False], ids=["signed", "forged"])
async def test_a_shop_on_another_origin_vouches_for_its_customer(
    new_page: Any, base_url: str, shop: Shop, genuine: bool
) -> None:
    email = "priya.sharma@example.in"
    signature = sign_customer(email, IDENTITY_SECRET if genuine else "a guessed secret")
    shop.pages["/account/orders"] = shop_page(base_url, signature)
    page = await new_page()
    await page.goto(shop.origin + "/account/orders")
    await open_chat(page)
    await page.get_by_role("button", name="Track order").click()
    await log(page).get_by_text("Which order would you like to track?").wait_for()
    if genuine:
        await page.get_by_role("button", name="#100001").wait_for()
    else:  # simply unverified, and not told why
        await log(page).get_by_text("Please type the order number").wait_for()
        assert await page.get_by_role("button", name="#100001").count() == 0
    assert page.watch.errors == [] and page.watch.console == []


async def test_staff_replies_arrive_live_and_after_time_away(
    new_page: Any, base_url: str, redis: aioredis.Redis
) -> None:
    page = await new_page()
    await page.goto(base_url + "/")
    await open_chat(page)
    await page.get_by_role("button", name="Track order").wait_for()
    conversation = await conversation_of(page, base_url)
    outbox = Outbox(redis)

    # Live, with the panel open.
    await outbox.enqueue(Channel.WEB, conversation, [Reply("staff.reply", "Hi, Asha here.")])
    await log(page).get_by_text("Hi, Asha here.").wait_for()

    # With the panel closed: an unread badge, and HTML shown as text.
    await page.keyboard.press("Escape")
    await chat(page).wait_for(state="hidden")
    html = "<img src=x onerror=alert(1)>"
    await outbox.enqueue(Channel.WEB, conversation, [Reply("staff.reply", html)])
    await page.get_by_role("button", name="Open chat, 1 unread message").wait_for()
    assert await page.locator("ohb-chat .badge").inner_text() == "1"
    await open_chat(page)
    await log(page).get_by_text(html).wait_for()
    assert await page.locator("ohb-chat img").count() == 0

    # Away from the page: nothing is missed, nothing is shown twice.
    await page.goto("about:blank")
    await outbox.enqueue(Channel.WEB, conversation, [Reply("staff.reply", "Your parcel moved.")])
    pushes = WebPushLog(redis)
    for _ in range(100):
        if len(await pushes.read(conversation)) == 3:
            break
        await asyncio.sleep(0.05)
    await page.goto(base_url + "/")
    await log(page).get_by_text("Your parcel moved.").wait_for()
    await page.wait_for_timeout(300)
    for text in ("Hi, Asha here.", html, "Your parcel moved."):
        assert await log(page).get_by_text(text, exact=True).count() == 1, text
    assert page.watch.dialogs == [] and page.watch.errors == []


async def test_the_panel_is_usable_on_a_phone(
    new_page: Any, base_url: str, tmp_path: Path
) -> None:
    page = await new_page(PHONE, is_mobile=True, has_touch=True)
    await page.goto(base_url + "/")
    launcher = page.get_by_role("button", name="Open chat")
    box = await launcher.bounding_box()
    assert box and box["x"] + box["width"] <= PHONE["width"] and box["height"] >= 44
    await open_chat(page)
    panel = await chat(page).bounding_box()
    assert panel == {"x": 0, "y": 0, **PHONE}  # the whole screen

    await track_100003(page)
    for control in (
        page.get_by_role("textbox", name="Message"),
        page.get_by_role("button", name="Send"),
        page.get_by_role("button", name="Menu"),
        page.get_by_role("link", name="Track package"),
    ):
        area = await control.bounding_box()
        assert area, control
        assert area["x"] >= 0 and area["x"] + area["width"] <= PHONE["width"]
        assert area["y"] >= 0 and area["y"] + area["height"] <= PHONE["height"]
        assert area["height"] >= 30  # big enough to tap
    assert await page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    await screenshot(page, "widget-phone.png", tmp_path)

    await page.get_by_role("button", name="Close chat").tap()
    await chat(page).wait_for(state="hidden")
    await page.get_by_role("button", name="Open chat").wait_for()
    assert page.watch.errors == []


async def test_html_typed_by_the_shopper_is_shown_as_text(new_page: Any, base_url: str) -> None:
    page = await new_page()
    await page.goto(base_url + "/")
    await open_chat(page)
    await page.get_by_role("button", name="Track order").wait_for()
    typed = "<img src=x onerror=\"document.title='owned'\">"
    await say(page, typed)
    await page.locator("ohb-chat .me .bubble", has_text="<img src=x").wait_for()
    await log(page).get_by_text("Sorry").first.wait_for()  # the bot answered it
    assert await page.locator("ohb-chat img").count() == 0
    assert await page.title() != "owned"
    assert page.watch.errors == [] and page.watch.dialogs == []


async def test_a_lost_answer_is_retried_once_with_the_same_message_id(
    new_page: Any, base_url: str
) -> None:
    """The server handles the message but the answer never reaches the browser: the
    widget says it cannot reach the chat, sends again with the same id, and the
    server answers with its first answer. The shopper sees one reply."""
    page = await new_page()
    sent: list[dict[str, Any]] = []
    answers: list[dict[str, Any]] = []

    async def lose_the_first_answer(route: Any) -> None:
        body = json.loads(route.request.post_data or "{}")
        if body.get("text") != "100003":
            await route.continue_()
            return
        sent.append(body)
        response = await route.fetch()  # the server gets it and answers...
        answers.append(await response.json())
        if len(sent) == 1:
            await asyncio.sleep(0.3)
            await route.abort("connectionreset")  # ...but the answer is lost
        else:
            await route.fulfill(response=response)

    await page.route("**/api/chat/messages", lose_the_first_answer)
    await page.goto(base_url + "/")
    await open_chat(page)
    await page.get_by_role("button", name="Track order").click()
    await log(page).get_by_text("Which order would you like to track?").wait_for()
    await say(page, "100003")
    offline = page.get_by_role("status").filter(has_text="Can't reach the chat. Retrying…")
    await offline.wait_for()
    await log(page).get_by_text("To protect your details").wait_for()
    await offline.wait_for(state="hidden")

    assert len(sent) == 2 and sent[0]["message_id"] == sent[1]["message_id"]
    assert [a["duplicate"] for a in answers] == [False, True]
    assert answers[0]["replies"] == answers[1]["replies"]
    assert await log(page).get_by_text("To protect your details").count() == 1
    assert await page.locator("ohb-chat .me .bubble", has_text="100003").count() == 1
    assert page.watch.errors == []


async def test_a_refused_message_shows_the_servers_error(new_page: Any, base_url: str) -> None:
    page = await new_page()
    await page.goto(base_url + "/")
    await open_chat(page)
    await page.get_by_role("button", name="Track order").wait_for()
    # The box stops at 1000 characters; a page script could still send more.
    await page.evaluate(
        "() => document.querySelector('ohb-chat').shadowRoot.querySelector('input')"
        ".removeAttribute('maxlength')"
    )
    await say(page, "x" * 1001)
    note = page.locator("ohb-chat .note")
    await note.wait_for()
    text = await note.inner_text()
    assert "does not fit the expected fields" in text and "1000 characters" in text

    await say(page, "menu")  # the chat carries on
    await log(page).get_by_text("What can I help you with?").nth(1).wait_for()
    assert await note.count() == 0
    assert page.watch.errors == []


async def test_a_refused_token_starts_a_new_conversation(new_page: Any, base_url: str) -> None:
    """An expired token, or one signed before the bot's secret changed: the message
    goes through in a new conversation, and the event stream follows it."""
    page = await new_page()
    await page.goto(base_url + "/")
    await open_chat(page)
    await page.get_by_role("button", name="Track order").wait_for()
    await page.evaluate(
        """(key) => { const s = JSON.parse(localStorage.getItem(key));
                      s.token = s.token.slice(0, -4) + 'AAAA';
                      localStorage.setItem(key, JSON.stringify(s)); }""",
        "ohb-chat:" + base_url,
    )
    await page.reload()
    await say(page, "100003")
    await log(page).get_by_text("To protect your details").wait_for()
    renewed = await stored(page, base_url)
    TokenSigner(WEB_CHAT_SECRET).verify(renewed["token"])  # a valid token again
    assert page.watch.errors == []


async def test_a_staff_reply_is_labelled_with_the_persons_name_and_the_shop(
    new_page: Any, base_url: str, redis: aioredis.Redis
) -> None:
    page = await new_page()
    await page.goto(base_url + "/")
    await open_chat(page)
    await page.get_by_role("button", name="Track order").wait_for()
    conversation = await conversation_of(page, base_url)
    await Outbox(redis).enqueue(Channel.WEB, conversation, [
        Reply("staff.reply", "Hi, I'm looking at your order.", author="Asha")])
    await log(page).get_by_text("Hi, I'm looking at your order.").wait_for()
    staff_row = page.locator("ohb-chat .row.staff")
    assert await staff_row.count() == 1
    assert await staff_row.locator(".by").inner_text() == "Asha · Mitti & Co."
    assert await page.locator("ohb-chat .row.bot .by").count() == 0  # the bot is not a person
    assert page.watch.errors == []
