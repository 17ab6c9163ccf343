"""Keyboard only, in a real browser: the chat widget from its launcher to a finished
tracking flow and back, and the inbox from the login form to a sent reply, with
`keyboard.press`/`keyboard.type` and no mouse. Focus is checked after every step
that could move it: each bot answer, each live update of the inbox.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from app_harness import WEB_CHAT_SECRET
from inbox_harness import ADMIN, ADMIN_PASSWORD, WebShopper, api_login
from page_harness import (
    DESKTOP,
    IN_TRANSIT,
    PHONE,
    Page,
    chat_log,
    new_page,
    served,
    widget_focus,
)

from channels.web import TokenSigner
from conversation.outbox import Outbox
from conversation.types import Channel, Reply
from tests.browser import launch, needs_chromium

pytestmark = needs_chromium
ATTACH = "Attach a photo or PDF"  # the widget's attach button, before the box


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    async with launch() as launched:
        yield launched


@pytest.fixture
async def base_url(redis: aioredis.Redis, redis_url: str, tmp_path: Path) -> AsyncIterator[str]:
    async with served(redis_url, tmp_path) as url:
        yield url


# --- the widget -----------------------------------------------------------------------


async def on_launcher(page: Page) -> bool:
    return bool(await page.evaluate(
        "() => document.querySelector('ohb-chat').shadowRoot.activeElement"
        "?.classList.contains('launcher') ?? false"))


async def announced(page: Page, text: str) -> None:
    """Wait until the widget's polite live region says `text` (it speaks shortly after
    a message arrives, so a screen reader notices the change)."""
    await page.locator("ohb-chat [aria-live=polite]", has_text=text).first.wait_for(
        state="attached")


async def answer(page: Page, text: str, then: str) -> None:
    """Type into the focused message box, send with Enter, wait for the bot's answer."""
    await page.keyboard.type(text)
    await page.keyboard.press("Enter")
    await chat_log(page).get_by_text(then).wait_for()


async def conversation_of(page: Page, base_url: str) -> str:
    stored = await page.evaluate("(key) => localStorage.getItem(key)", "ohb-chat:" + base_url)
    return TokenSigner(WEB_CHAT_SECRET).verify(json.loads(stored)["token"]).conversation


async def test_a_shopper_tracks_an_order_with_the_keyboard_alone(
    browser: Any, base_url: str, redis: aioredis.Redis
) -> None:
    page = await new_page(browser, DESKTOP)
    try:
        await page.goto(base_url + "/")
        await page.get_by_role("button", name="Open chat").wait_for()  # the script is async
        await page.keyboard.press("Shift+Tab")  # from the end of the page: the launcher
        assert await widget_focus(page) == "Open chat"
        await page.keyboard.press("Enter")
        dialog = page.get_by_role("dialog", name="Mitti & Co.")
        await dialog.wait_for()
        await page.get_by_role("button", name="Track order").wait_for()
        assert await widget_focus(page) == "Message"
        assert await dialog.get_attribute("aria-modal") == "false"  # beside the page, not over it
        await announced(page, "What can I help you with?")

        # The menu is two Shift+Tabs away (past the attach button), and arrow keys walk it.
        await page.keyboard.press("Shift+Tab")
        assert await widget_focus(page) == ATTACH
        await page.keyboard.press("Shift+Tab")
        assert await widget_focus(page) == "Track order"
        await page.keyboard.press("ArrowRight")
        assert await widget_focus(page) == "Cancel"
        await page.keyboard.press("End")
        assert await widget_focus(page) == "Language · भाषा"  # the menu's last button
        await page.keyboard.press("ArrowRight")  # round to the first
        assert await widget_focus(page) == "Track order"
        await page.keyboard.press("Enter")
        await chat_log(page).get_by_text("Which order would you like to track?").wait_for()
        assert await widget_focus(page) == "Message"  # back in the box, ready to type

        number, email = IN_TRANSIT
        await answer(page, number, "To protect your details")
        assert await widget_focus(page) == "Message"  # the answer did not take focus
        await announced(page, "To protect your details")
        await answer(page, email, "Order #100003")
        assert await widget_focus(page) == "Message"
        await announced(page, "Order #100003")

        # The answer's tracking link and buttons: past the attach button, then the arrows.
        toolbar = chat_log(page).get_by_role("toolbar", name="Quick replies").last
        names = await toolbar.locator("a, button").evaluate_all(
            "els => els.map((e) => e.getAttribute('aria-label') || e.textContent.trim())")
        assert names[0] == "Track package (opens in a new tab)" and names[-1] == "Menu"
        await page.keyboard.press("Shift+Tab")
        assert await widget_focus(page) == ATTACH
        await page.keyboard.press("Shift+Tab")
        assert await widget_focus(page) == names[0]
        await page.keyboard.press("ArrowRight")
        assert await widget_focus(page) == names[1]
        await page.keyboard.press("ArrowLeft")
        assert await widget_focus(page) == names[0]

        # A staff message arrives while focus is on the link: it is read out, and the
        # redrawn conversation gives focus back to the same link.
        conversation = await conversation_of(page, base_url)
        await Outbox(redis).enqueue(Channel.WEB, conversation,
                                    [Reply("staff.reply", "Asha here, it moves today.")])
        await chat_log(page).get_by_text("Asha here, it moves today.").wait_for()
        await announced(page, "Asha here, it moves today.")
        assert await widget_focus(page) == names[0]
        await page.keyboard.press("Shift+Tab")
        assert await widget_focus(page) == "Conversation"  # the log scrolls by keyboard
        await page.keyboard.press("Shift+Tab")
        assert await widget_focus(page) == "Close chat"
        await page.keyboard.press("Shift+Tab")
        assert await on_launcher(page)  # the launcher, before the panel it opened

        # Forward again: past the box and Send, Tab leaves the chat for the page.
        for expected in ("Close chat", "Conversation", names[0], ATTACH, "Message", "Send"):
            await page.keyboard.press("Tab")
            assert await widget_focus(page) == expected
        await page.keyboard.press("Tab")
        assert await widget_focus(page) == ""

        # And back: Escape closes the chat and focus returns to its launcher.
        await page.keyboard.press("Shift+Tab")
        assert await widget_focus(page) == "Send"
        await page.keyboard.press("Escape")
        await dialog.wait_for(state="hidden")
        assert await on_launcher(page)
        assert await widget_focus(page) == "Open chat"
        assert page.problems == []
    finally:
        await page.context.close()


async def test_on_a_phone_the_open_chat_holds_the_focus(browser: Any, base_url: str) -> None:
    page = await new_page(browser, PHONE)
    try:
        await page.goto(base_url + "/")
        await page.get_by_role("button", name="Open chat").wait_for()  # the script is async
        await page.keyboard.press("Shift+Tab")
        await page.keyboard.press("Enter")
        dialog = page.locator("ohb-chat [role=dialog]")
        await page.get_by_role("button", name="Track order").wait_for()
        assert await dialog.get_attribute("aria-modal") == "true"  # it covers the page
        assert await widget_focus(page) == "Message"

        # Tab and Shift+Tab go round inside the panel, never to the page behind it.
        cycle = ["Send", "Close chat", "Conversation", "Track order", ATTACH, "Message"]
        for expected in cycle * 2:
            await page.keyboard.press("Tab")
            assert await widget_focus(page) == expected
        for expected in list(reversed(cycle))[1:] + list(reversed(cycle)):
            await page.keyboard.press("Shift+Tab")
            assert await widget_focus(page) == expected

        # Focus put on the page behind (a screen reader's cursor, a page script) comes back.
        await page.evaluate("() => document.querySelector('a.brand').focus()")
        assert await widget_focus(page) == "Message"

        await page.keyboard.press("Escape")
        await dialog.wait_for(state="hidden")
        assert await on_launcher(page)
        assert await dialog.get_attribute("aria-modal") == "false"
        assert page.problems == []
    finally:
        await page.context.close()


# --- the inbox ------------------------------------------------------------------------


async def focused_id(page: Page) -> str:
    return str(await page.evaluate("() => document.activeElement.id"))


async def tab_to(page: Page, is_it: str, within: int = 40) -> None:
    """Press Tab until `is_it` (JS, given the focused element) is true."""
    for _ in range(within):
        await page.keyboard.press("Tab")
        if await page.evaluate(f"() => ({is_it})(document.activeElement)"):
            return
    raise AssertionError(f"{is_it} not reached in {within} Tabs")


async def test_an_agent_logs_in_and_replies_with_the_keyboard_alone(
    browser: Any, base_url: str
) -> None:
    page = await new_page(browser, {"width": 1280, "height": 800})
    try:
        async with httpx.AsyncClient(base_url=base_url) as client:
            await WebShopper(client).hand_off("Where is my refund for 100014?")

            await page.goto(base_url + "/inbox")
            assert "/inbox/login" in page.url
            assert await focused_id(page) == "email"
            await page.keyboard.type(ADMIN)
            await page.keyboard.press("Tab")
            await page.keyboard.type(ADMIN_PASSWORD)
            await page.keyboard.press("Enter")
            await page.wait_for_url(base_url + "/inbox")

            # The skip link comes first and goes to the main content.
            await page.keyboard.press("Tab")
            assert await page.evaluate("() => document.activeElement.textContent") == (
                "Skip to main content")
            await page.keyboard.press("Enter")
            assert await focused_id(page) == "main"
            await page.keyboard.press("Tab")
            open_tab = page.get_by_role("link", name="Open, 1 ticket")
            assert await open_tab.get_attribute("aria-current") == "page"
            assert await focused_id(page) == "tab-open"

            # A live update redraws the tabs: focus stays on the same tab.
            shopper = WebShopper(client)
            await shopper.hand_off("My parcel 100006 arrived open and the lamp is broken")
            await page.locator('tr[data-ticket="T-1002"]').wait_for()
            await page.get_by_role("link", name="Open, 2 tickets").wait_for()
            assert await focused_id(page) == "tab-open"
            assert await page.locator("#announce").text_content() == "New ticket T-1002"

            await tab_to(page, "el => el.textContent.trim() === 'T-1002'")
            await page.keyboard.press("Enter")
            await page.wait_for_url(base_url + "/inbox/tickets/T-1002")

            await tab_to(page, "el => el.textContent.trim() === 'Take it'")
            await page.keyboard.press("Enter")
            await page.locator("#head").get_by_text(f"assigned to {ADMIN}").wait_for()
            assert await focused_id(page) == "ticket-title"  # not lost on the body

            # A live update with focus in the redrawn header: the same control keeps
            # focus and the choice not yet submitted.
            await tab_to(page, "el => el.id === 'assign-to'")
            await page.keyboard.press("ArrowUp")  # "Unassigned", not submitted
            chosen = await page.input_value("#assign-to")
            await shopper.send("Is anyone there?")
            await page.locator("#transcript").get_by_text("Is anyone there?").wait_for()
            assert await focused_id(page) == "assign-to"
            assert await page.input_value("#assign-to") == chosen
            assert "Is anyone there?" in str(await page.locator("#announce").text_content())

            # Canned replies: arrows browse without inserting; Enter inserts.
            await tab_to(page, "el => el.id === 'canned-button'")
            await page.keyboard.press("ArrowDown")
            menu = page.get_by_role("menu")
            await menu.wait_for()
            await page.keyboard.press("ArrowDown")
            await page.keyboard.press("ArrowDown")
            await page.keyboard.press("ArrowUp")
            assert await page.input_value("#reply-text") == ""
            second = page.get_by_role("menuitem").nth(1)
            assert await second.evaluate("el => el === document.activeElement")
            await page.keyboard.press("Escape")
            await menu.wait_for(state="hidden")
            assert await focused_id(page) == "canned-button"
            assert await page.input_value("#reply-text") == ""
            await page.keyboard.press("ArrowDown")
            await page.keyboard.press("Enter")
            await menu.wait_for(state="hidden")
            assert await focused_id(page) == "reply-text"
            assert "looking into this" in await page.input_value("#reply-text")

            await page.keyboard.press("Control+A")
            await page.keyboard.type("Sorry about the lamp! A replacement ships today.")
            await tab_to(page, "el => el.textContent.trim() === 'Send reply'")
            await page.keyboard.press("Enter")
            await page.locator(".line.staff", has_text="Sorry about the lamp!").wait_for()
            assert await focused_id(page) == "reply-text"  # ready for the next reply

            # The delivery state of the reply updates live; focus and a draft stay.
            await page.keyboard.type("Draft")
            await page.locator('.line.staff [data-state="sent"]').wait_for()
            await shopper.send("Thank you!")
            await page.locator("#transcript").get_by_text("Thank you!").wait_for()
            assert await focused_id(page) == "reply-text"
            assert await page.input_value("#reply-text") == "Draft"

            # A field the agent left alone shows what changed elsewhere.
            async with httpx.AsyncClient(base_url=base_url) as colleague:
                csrf = await api_login(colleague)
                moved = await colleague.post("/api/inbox/tickets/T-1002/assign", headers=csrf,
                                             json={"assignee": None})
                assert moved.status_code == 200, moved.text
            await page.locator("#head").get_by_text("· unassigned").wait_for()
            assert await page.input_value("#assign-to") == ""
            assert await focused_id(page) == "reply-text"
        assert page.problems == []
    finally:
        await page.context.close()
