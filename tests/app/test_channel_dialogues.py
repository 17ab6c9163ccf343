"""Whole dialogues on Telegram and WhatsApp, through the real webhooks, signatures and
renderers: what was so far only checked through the web chat engine."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from channel_harness import TelegramShopper, WhatsAppShopper, channel_settings, outbox_entries
from starlette.types import Receive, Scope, Send

from app.main import create_app
from app.resources import Resources
from conversation.outbox import replies_from_data


@pytest.fixture
async def app_state(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path
) -> AsyncIterator[tuple[httpx.AsyncClient, Resources]]:
    """The app as `app_harness.running` runs it, and its resources (for the staff side)."""
    app = create_app(channel_settings(redis_url, tmp_path))
    async with app.router.lifespan_context(app) as state:

        async def with_state(scope: Scope, receive: Receive, send: Send) -> None:
            scope["state"] = dict(state or {})
            await app(scope, receive, send)

        transport = httpx.ASGITransport(app=with_state)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client, state["resources"]


@pytest.fixture
def client(app_state: tuple[httpx.AsyncClient, Resources]) -> httpx.AsyncClient:
    return app_state[0]


@pytest.fixture
def resources(app_state: tuple[httpx.AsyncClient, Resources]) -> Resources:
    return app_state[1]


@pytest.fixture
def priya(client: httpx.AsyncClient) -> WhatsAppShopper:
    return WhatsAppShopper(client)  # +919812345678: five orders in the demo shop


@pytest.fixture
def telegram(client: httpx.AsyncClient, redis: aioredis.Redis) -> TelegramShopper:
    return TelegramShopper(client, redis)


# ---- language ----------------------------------------------------------------------------------


async def test_whatsapp_first_reply_follows_a_hindi_first_message(priya: WhatsAppShopper) -> None:
    await priya.say("नमस्ते, मेरा ऑर्डर कहाँ है?")
    assert "नमस्ते" in priya.text and "Hello" not in priya.text


async def test_whatsapp_first_reply_follows_an_english_first_message(
    priya: WhatsAppShopper
) -> None:
    await priya.say("Hello, where is my order?")
    assert "ऑर्डर" not in priya.text and "order" in priya.text


async def test_whatsapp_switches_back_to_english_by_name(priya: WhatsAppShopper) -> None:
    await priya.say("नमस्ते")
    await priya.say("English")
    assert "English" in priya.text and "Track order" in priya.text


async def test_telegram_language_button_in_the_menu(telegram: TelegramShopper) -> None:
    await telegram.say("hi")
    await telegram.tap("lang")
    await telegram.tap("lang:hi")
    assert telegram.last.keys[0] == "language.set" and "हिंदी" in telegram.last.text


# ---- replacement -------------------------------------------------------------------------------


async def test_whatsapp_replacement_becomes_a_request_with_items_and_amount(
    priya: WhatsAppShopper, resources: Resources
) -> None:
    await priya.say("hi")
    await priya.choose("Return or replace")  # her proven number finds the one order that fits
    assert "Order #100008" in priya.text
    await priya.choose("Cotton Kurta")
    await priya.choose("Replace it")
    await priya.choose("1")
    await priya.choose("Arrived damaged")
    assert "send a photo of the Cotton Kurta" in priya.text  # optional: for staff to see
    await priya.choose("Skip")
    assert "Replace 1 × Cotton Kurta" in priya.text and "₹" in priya.text
    assert "costs you nothing" in priya.text
    await priya.choose("Yes, go ahead")
    assert "request to replace" in priya.text
    [ticket] = await resources.tickets.list_open()
    assert ticket.kind == "request" and ticket.request and ticket.request["action"] == "replace"


async def test_telegram_replacement_of_a_second_item_is_refused_by_the_limit(
    telegram: TelegramShopper,
) -> None:
    await telegram.say("replace")
    await telegram.say("100008")
    await telegram.say("+91 98123 45678")
    await telegram.tap("i:1")
    await telegram.tap("q:1")
    await telegram.tap("r:DEFECTIVE")
    await telegram.tap("photo:skip")
    await telegram.tap("yes")
    assert telegram.last.keys == ["request.opened"]
    said = await telegram.say("replace")
    assert said.keys == ["reason.pick"] and "Phone Case" in said.text  # the kurta has one


# ---- a completed delivery change ----------------------------------------------------------------


async def test_telegram_delivery_date_change_is_carried_out(telegram: TelegramShopper) -> None:
    await telegram.say("hi")
    await telegram.tap("m:delivery")
    await telegram.say("100001")
    await telegram.say("priya.sharma@example.in")
    await telegram.tap("d:date")
    date_button = next(b for b in telegram.last.buttons if b.payload.startswith("dt:"))
    await telegram.tap(date_button.payload)
    assert telegram.last.keys == ["confirm.delivery"] and "Order total: ₹" in telegram.last.text
    said = await telegram.tap("yes")
    assert said.keys == ["done.delivery_date"]


async def test_whatsapp_delivery_address_change_is_carried_out(
    priya: WhatsAppShopper,
) -> None:
    await priya.say("I need to change my delivery address")  # one order fits: 100001
    await priya.choose("Delivery address")
    await priya.say("Flat 12, Lake View Apartments, Indiranagar, Bengaluru 560038")
    assert "Cotton Kurta" in priya.text and "Order total" in priya.text
    await priya.choose("Yes, go ahead")
    assert "Lake View Apartments" in priya.text and "Done" in priya.text


# ---- multi-package orders -----------------------------------------------------------------------


async def test_whatsapp_two_packages_are_shown_each_with_its_link(
    client: httpx.AsyncClient,
) -> None:
    meera = WhatsAppShopper(client, phone="+919822334455")
    await meera.say("track 100011")
    assert "Package 1 of 2" in meera.text and "Package 2 of 2" in meera.text
    assert "Track package 1: https://" in meera.text and "Track package 2: https://" in meera.text


async def test_telegram_two_packages_are_shown_each_with_its_link(
    telegram: TelegramShopper,
) -> None:
    await telegram.say("where is 100011")
    said = await telegram.say("meera.joshi@example.in")
    assert "Package 1 of 2" in said.text and "Package 2 of 2" in said.text
    assert sum(1 for link in said.links if link.url.startswith("https://")) == 2


# ---- cash on delivery ---------------------------------------------------------------------------


async def test_whatsapp_cod_cancel_says_nothing_was_paid(client: httpx.AsyncClient) -> None:
    rahul = WhatsAppShopper(client, phone="+919876543210")
    await rahul.say("cancel my order")
    assert "nothing has been paid yet" in rahul.text
    await rahul.choose("Yes, go ahead")
    assert "cash on delivery" in rahul.text and "refund" in rahul.text


async def test_telegram_cod_return_then_refund_status_says_where_the_money_goes(
    telegram: TelegramShopper,
) -> None:
    await telegram.say("return 100010")  # delivered, paid cash on delivery
    said = await telegram.say("+91 98765 43210")
    for _ in range(4):  # item, quantity, reason: whatever this order needs asking
        if said.keys == ["confirm.return"]:
            break
        said = await telegram.tap(said.buttons[0].payload)
    assert said.keys == ["confirm.return"] and "Refund for these: ₹" in said.text
    said = await telegram.tap("yes")
    assert said.keys == ["done.return"]
    said = await telegram.say("refund status")
    assert said.keys == ["refund.header"]
    assert "bank account or UPI you give us" in said.text and "after the return is picked up" \
        in said.text


async def test_telegram_prepaid_snapshot_has_no_cod_hint(telegram: TelegramShopper) -> None:
    await telegram.say("100003")
    said = await telegram.say("ananya.iyer@example.in")
    assert said.keys[0] == "snapshot.header" and "cash on delivery" not in said.text


# ---- the rating after a resolved hand-off -------------------------------------------------------


async def _resolved(resources: Resources, conversation: str) -> None:
    [ticket] = [t for t in await resources.tickets.list_open() if t.conversation == conversation]
    await resources.engine.resolve_ticket(ticket.id)


async def test_telegram_rating_is_one_to_five_and_skip(
    telegram: TelegramShopper, resources: Resources
) -> None:
    await telegram.say("agent")
    await telegram.say("The lid of my pressure cooker is missing")
    await _resolved(resources, telegram.conversation)
    said = await telegram.new_replies()
    telegram.last = said
    assert said.keys == ["handoff.resolved"]
    assert [b.payload for b in said.buttons] == [*(f"rate:{n}" for n in range(1, 6)), "rate:skip"]
    said = await telegram.tap("rate:4")
    assert said.keys == ["rate.thanks"]
    [ticket] = await resources.tickets.list_resolved()
    assert ticket.rating == 4


async def test_whatsapp_rating_is_typed_as_a_number_or_skipped(
    priya: WhatsAppShopper, resources: Resources, redis: aioredis.Redis
) -> None:
    await priya.say("agent")
    await priya.say("The lid of my pressure cooker is missing")
    await _resolved(resources, priya.conversation)
    told: list[Any] = [replies_from_data(json.loads(e["replies"]))
                       for e in await outbox_entries(redis)
                       if e["conversation"] == priya.conversation]
    [question] = told[-1]
    assert [b.label for b in question.buttons] == ["1", "2", "3", "4", "5", "Skip"]
    await priya.say("6")  # the sixth choice: Skip
    assert "What can I help you with?" in priya.text
    [ticket] = await resources.tickets.list_resolved()
    assert ticket.rating is None


# ---- a hand-off taken back ----------------------------------------------------------------------


async def test_whatsapp_back_to_the_bot_by_its_number_withdraws_the_hand_off(
    priya: WhatsAppShopper, resources: Resources
) -> None:
    await priya.say("agent")
    await priya.say("My parcel 100008 arrived open")
    assert "1. Back to the bot" in priya.text
    await priya.choose("Back to the bot")
    assert "withdrawn" in priya.text and "1. Track order" in priya.text
    [ticket] = await resources.tickets.list_resolved()
    assert ticket.closed_reason == "withdrawn"


async def test_telegram_stop_during_a_hand_off_withdraws_it_and_says_goodbye(
    telegram: TelegramShopper, resources: Resources
) -> None:
    await telegram.say("agent")
    said = await telegram.say("Where is my parcel 100003?")
    assert "back" in [b.payload for b in said.buttons]
    said = await telegram.say("stop")
    assert said.keys == ["handoff.withdrawn", "stop.bye"]
    assert "stopped" in said.text
    [ticket] = await resources.tickets.list_resolved()
    assert ticket.closed_reason == "withdrawn"


# ---- exchange for another size or colour -------------------------------------------------------


async def test_whatsapp_exchange_for_a_bigger_size_states_the_difference_before_the_yes(
    client: httpx.AsyncClient,
) -> None:
    nisha = WhatsAppShopper(client, phone="+919880012345")  # order 100038: a kurta in M
    await nisha.say("hi")
    await nisha.choose("Return or replace")
    assert "Cotton Kurta, Indigo, M" in nisha.text and "another size or colour" in nisha.text
    await nisha.choose("Exchange for another size or colour")
    assert "Indigo, L · ₹200.00 more" in nisha.text and "XL" not in nisha.text
    await nisha.choose("Indigo, L")
    assert "Exchange 1 × Cotton Kurta, Indigo, M from order #100038 for Indigo, L?" in nisha.text
    assert "The new size costs ₹200.00 more; you will get a payment link" in nisha.text
    await nisha.choose("Yes, go ahead")
    assert "exchange X-100038-1 is registered" in nisha.text
    assert "payment link for the difference of ₹200.00" in nisha.text


async def test_telegram_exchange_for_a_smaller_size_is_refunded_to_upi(
    telegram: TelegramShopper,
) -> None:
    await telegram.say("hi")
    await telegram.tap("m:rr")
    await telegram.say("100038")
    await telegram.say("nisha.rao@example.in")
    assert telegram.last.keys == ["rr.pick_any"]
    await telegram.tap("rr:exchange")
    assert [b.label for b in telegram.last.buttons][:3] == [
        "Indigo, S · ₹150.00 less", "Indigo, L · ₹200.00 more", "Maroon, M · same price"]
    await telegram.tap("Indigo, S · ₹150.00 less")
    assert "₹150.00 less; the difference will be refunded to your UPI" in telegram.last.text
    await telegram.tap("yes")
    assert telegram.last.keys == ["done.exchange"]
    assert "refunded to your UPI" in telegram.last.text
