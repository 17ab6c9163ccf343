"""`POST /webhooks/whatsapp` and `/webhooks/whatsapp/status` with the real app and
Twilio's real validator: signatures, every path of the dialogue answered in TwiML,
numbered choices, redelivery, media, Hindi and emoji, long answers, statuses."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from app_harness import running
from channel_harness import (
    PUBLIC_URL,
    TWILIO_TOKEN,
    WhatsAppShopper,
    channel_settings,
    outbox_entries,
    twiml_bodies,
)

from channels.reachability import Reachability
from channels.split import utf16_len
from channels.whatsapp import MAX_BODY_CHARS
from channels.whatsapp_status import DeliveryStatuses
from conversation.tickets import TicketStore
from records.db import Database
from tests.channel_payloads import twilio_form, twilio_signature
from tests.conftest import RedisCommands

HX = "HX" + "ab" * 16


@pytest.fixture
async def client(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    async with running(channel_settings(redis_url, tmp_path)) as client:
        yield client


@pytest.fixture
def priya(client: httpx.AsyncClient) -> WhatsAppShopper:
    return WhatsAppShopper(client)  # +919812345678: five orders in the demo shop


async def snapshot(redis: aioredis.Redis) -> dict[bytes, bytes | None]:
    return {key: await redis.dump(key) for key in await redis.keys("*")}


@pytest.mark.parametrize("how", ["missing", "wrong token", "http url", "changed body", "garbage"])
async def test_bad_or_missing_signatures_are_refused_and_nothing_is_stored(
    priya: WhatsAppShopper, redis: aioredis.Redis, how: str
) -> None:
    form = twilio_form("text", Body="100001")
    url = PUBLIC_URL + "/webhooks/whatsapp"
    signature: str | None = {
        "missing": None,
        "wrong token": twilio_signature(url, form, "not-the-token"),
        "http url": twilio_signature(url.replace("https", "http"), form, TWILIO_TOKEN),
        "changed body": twilio_signature(url, {**form, "Body": "100002"}, TWILIO_TOKEN),
        "garbage": "bm90IGEgc2lnbmF0dXJl",
    }[how]
    before = await snapshot(redis)
    response = await priya.post(form, signature=signature)
    assert response.status_code == 403
    assert await snapshot(redis) == before


async def test_status_callbacks_need_a_signature_too(
    priya: WhatsAppShopper, redis: aioredis.Redis
) -> None:
    before = await snapshot(redis)
    response = await priya.post(twilio_form("status_failed"), path="/webhooks/whatsapp/status",
                                signature=None)
    assert response.status_code == 403
    assert await snapshot(redis) == before


async def test_without_its_secrets_the_channel_is_off(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path
) -> None:
    settings = channel_settings(redis_url, tmp_path, twilio_auth_token=None)
    async with running(settings) as client:
        assert (await client.post("/webhooks/whatsapp", data={})).status_code == 404
        assert (await client.post("/webhooks/whatsapp/status", data={})).status_code == 404


async def test_the_menu_is_numbered_and_track_lists_the_proven_shoppers_orders(
    priya: WhatsAppShopper
) -> None:
    bodies = await priya.say("hi")
    assert bodies[0].startswith("Hi! I can help with your orders")
    assert "1. Track order" in bodies[1] and "6. Talk to us" in bodies[1]
    await priya.say("1")
    assert "#100001" in priya.text  # her orders, found by the proven number
    await priya.choose("#100003") if "#100003" in priya.text else await priya.choose("#100001")
    assert priya.text.startswith("Order #1000")


async def test_cancel(priya: WhatsAppShopper) -> None:
    await priya.say("hi")
    await priya.choose("Cancel")
    assert "Cancel order #100001?" in priya.text
    await priya.choose("Yes, go ahead")
    assert priya.text.startswith("Done: order #100001 is cancelled.")


async def test_return(priya: WhatsAppShopper) -> None:
    await priya.say("hi")
    await priya.choose("Return or replace")
    await priya.choose("Cotton Kurta")
    await priya.choose("Return for a refund")
    await priya.choose("1")  # quantity 1 (the numbered choice labelled "1")
    await priya.choose("Arrived damaged")
    await priya.choose("Yes, go ahead")
    assert "Done: your return" in priya.text
    assert "shipping fees are not refunded" in priya.text


async def test_refund_status(priya: WhatsAppShopper) -> None:
    await priya.say("hi")
    await priya.choose("Refund status")
    await priya.choose("#100014")
    assert priya.text.startswith("Refunds for order #100014:")


async def test_a_delivery_change_after_shipping_is_refused_with_the_reason(
    client: httpx.AsyncClient
) -> None:
    ananya = WhatsAppShopper(client, phone="+919845012345")
    await ananya.say("hi")
    await ananya.say("I want to change the delivery address of order 100003")
    assert "I can't change the delivery of order #100003" in ananya.text
    assert "already left our warehouse" in ananya.text


async def test_hand_off_opens_a_whatsapp_ticket_and_files_later_messages(db: Database,
    priya: WhatsAppShopper, redis: aioredis.Redis
) -> None:
    await priya.say("hi")
    await priya.choose("Talk to us")
    await priya.say("The kurta colour is not what the photo showed 😕")
    assert "Your request T-" in priya.text
    [ticket] = await TicketStore(db, redis).list_open()
    assert ticket.channel == "whatsapp"
    assert ticket.conversation == "whatsapp:+919812345678"
    await priya.say("Any update?")
    assert "was added to request" in priya.text
    log = await TicketStore(db, redis).log(ticket.id)
    assert [line["text"] for line in log if line["who"] == "shopper"] == ["Any update?"]


async def test_a_number_from_the_second_reply_of_a_turn_means_that_choice(
    priya: WhatsAppShopper
) -> None:
    await priya.say("hi")
    await priya.say("blah")
    bodies = await priya.say("blah blah")  # second miss: menu again, then "talk to a person?"
    assert "1. Track order" in bodies[-2] and "6. Talk to us" in bodies[-2]
    assert "Talk to us" in bodies[-1] and "7. " not in bodies[-1]  # one button, offered once
    await priya.say("6")
    assert "describe the problem" in priya.text


async def test_a_number_out_of_range_is_explained(priya: WhatsAppShopper) -> None:
    await priya.say("hi")
    await priya.say("9")
    assert "Please pick a number from 1 to 7." in priya.text


async def test_quick_reply_and_list_taps_work_like_numbers(priya: WhatsAppShopper) -> None:
    await priya.say("hi")
    await priya.send("list_reply")  # ListId m:refund
    assert "Which order would you like to check the refund of?" in priya.text
    await priya.send("button_reply", ButtonPayload="menu", ButtonText="Menu", Body="Menu")
    assert "1. Track order" in priya.text


async def test_media_and_location_get_the_i_read_text_answer(priya: WhatsAppShopper) -> None:
    await priya.say("hi")
    await priya.send("image")
    assert priya.bodies[0] == "I can only read text for now. Please type your question."
    assert "1. Track order" in priya.text
    await priya.send("location")
    assert priya.bodies[0] == "I can only read text for now. Please type your question."


async def test_a_first_message_that_is_only_a_photo_gets_the_same_answer(
    priya: WhatsAppShopper
) -> None:
    await priya.send("image")
    assert "I can only read text" in priya.text
    assert "Thanks, I know who you are now" not in priya.text


async def test_hindi_and_emoji(client: httpx.AsyncClient) -> None:
    shopper = WhatsAppShopper(client, phone="+919811122334")
    await shopper.say("नमस्ते 🙏")
    assert any("\u0900" <= ch <= "\u097f" for ch in shopper.text)
    assert "1. " in shopper.text


async def test_a_redelivered_message_is_answered_again_and_changes_nothing(
    priya: WhatsAppShopper, redis: aioredis.Redis
) -> None:
    await priya.say("hi")
    form = twilio_form("text", Body="2")
    first = await priya.post(form)
    transcript_key = b"ohb:conv:{whatsapp:+919812345678}:transcript"
    lines = await redis.llen(transcript_key)
    again = await priya.post(form)
    assert again.status_code == 200
    # Twilio retries only when it did not get our answer, so it gets the same one
    assert twiml_bodies(again.text) == twiml_bodies(first.text)
    assert await redis.llen(transcript_key) == lines
    assert await outbox_entries(redis) == []


async def test_long_answers_are_split_under_1600(
    client: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    shopper = WhatsAppShopper(client)
    await shopper.say("hi")
    await shopper.say("agent")
    issue = ("The parcel was wet 🌧️ and the box torn. " * 120).strip()  # ~4,900 characters
    await shopper.say(issue[:1600])
    await shopper.say(issue)  # filed on the ticket; the answer is short
    assert all(utf16_len(body) <= MAX_BODY_CHARS for body in shopper.bodies)


async def test_the_window_opens_with_each_message(
    priya: WhatsAppShopper, redis: aioredis.Redis
) -> None:
    await priya.say("hi")
    assert await Reachability(redis).last_inbound(priya.conversation) is not None


async def test_an_ordinary_turn_opens_the_window_within_its_two_round_trips(
    priya: WhatsAppShopper, redis: aioredis.Redis, redis_commands: RedisCommands
) -> None:
    await priya.say("hi")
    reachability = Reachability(redis)
    first = await reachability.last_inbound(priya.conversation)
    await asyncio.sleep(0.01)
    redis_commands.count()
    await priya.say("menu")
    assert redis_commands.stop() == ["EVALSHA", "EVALSHA"]  # begin (with the window), finish
    later = await reachability.last_inbound(priya.conversation)
    assert first is not None and later is not None and later > first


async def test_status_callbacks_are_recorded_forward_only(
    priya: WhatsAppShopper, redis: aioredis.Redis
) -> None:
    path = "/webhooks/whatsapp/status"
    statuses = DeliveryStatuses(redis)
    sid = twilio_form("status_failed")["MessageSid"]
    sent = twilio_form("status_delivered", MessageStatus="sent", SmsStatus="sent")
    assert (await priya.post(sent, path=path)).status_code == 204
    assert (await priya.post(twilio_form("status_failed"), path=path)).status_code == 204
    assert (await priya.post(sent, path=path)).status_code == 204  # late: ignored
    recorded = await statuses.get(sid)
    assert recorded is not None
    assert (recorded.status, recorded.error_code) == ("undelivered", "63016")
    [failure] = await statuses.failures("whatsapp:+919812345678")
    assert failure["sid"] == sid and failure["error_code"] == "63016"
    assert await redis.ttl(statuses.status_key(sid)) > 0


async def test_with_interactive_templates_replies_go_through_the_outbox(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path
) -> None:
    settings = channel_settings(redis_url, tmp_path,
                                twilio_content_templates={"quick_reply": {"2": HX}})
    async with running(settings) as client:
        priya = WhatsAppShopper(client)
        assert await priya.say("hi") == []  # an empty <Response/>
        [entry] = await outbox_entries(redis)
        assert entry["channel"] == "whatsapp"
        assert entry["conversation"] == "whatsapp:+919812345678"
        assert "Track order" in entry["replies"]
