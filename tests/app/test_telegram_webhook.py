"""`POST /webhooks/telegram` with the real app: the secret token, every kind of
update, every path of the dialogue, redelivery, stale buttons, blocking. Replies
are read from the outbox, where the webhook queues them for the sender."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from app_harness import running
from channel_harness import (
    TELEGRAM_SECRET,
    TelegramShopper,
    channel_settings,
    outbox_entries,
)

from channels.reachability import Reachability
from conversation.keys import Keys
from conversation.store import SessionStore
from conversation.tickets import TicketStore
from records.db import Database
from tests.channel_payloads import telegram_update

PRIYA_EMAIL = "priya.sharma@example.in"


@pytest.fixture
async def client(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    async with running(channel_settings(redis_url, tmp_path)) as client:
        yield client


@pytest.fixture
def shopper(client: httpx.AsyncClient, redis: aioredis.Redis) -> TelegramShopper:
    return TelegramShopper(client, redis)


async def snapshot(redis: aioredis.Redis) -> dict[bytes, bytes | None]:
    return {key: await redis.dump(key) for key in await redis.keys("*")}


@pytest.mark.parametrize("secret", [None, "", "wrong-secret", TELEGRAM_SECRET + "x"])
async def test_a_missing_or_wrong_token_is_refused_and_nothing_is_stored(
    shopper: TelegramShopper, redis: aioredis.Redis, secret: str | None
) -> None:
    before = await snapshot(redis)
    response = await shopper.post(telegram_update("text", text="100001"), secret=secret)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert await snapshot(redis) == before


async def test_a_verified_body_that_is_not_an_update_is_a_400(
    client: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    before = await snapshot(redis)
    response = await client.post("/webhooks/telegram", content=b"{not json",
                                 headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET})
    assert response.status_code == 400
    assert await snapshot(redis) == before


async def test_without_its_secrets_the_channel_is_off(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path
) -> None:
    settings = channel_settings(redis_url, tmp_path, telegram_webhook_secret=None)
    async with running(settings) as client:
        response = await client.post("/webhooks/telegram", json=telegram_update("text"),
                                     headers={"X-Telegram-Bot-Api-Secret-Token": "x"})
        assert response.status_code == 404
        # the other channel keeps working
        assert (await client.post("/webhooks/whatsapp", data={})).status_code == 403


async def test_track_through_a_deep_link(shopper: TelegramShopper) -> None:
    said = await shopper.send("start_deep_link")  # /start 100003
    assert said.keys == ["welcome", "verify.ask_factor"]
    said = await shopper.say("ananya.iyer@example.in")
    assert said.keys[0] == "snapshot.header"
    assert "#100003" in said.text
    [link] = said.links
    assert link.url.startswith("https://")


async def test_cancel_with_order_number_and_email(shopper: TelegramShopper) -> None:
    await shopper.say("/start")
    said = await shopper.tap("m:cancel")
    assert said.keys == ["order.ask"]
    said = await shopper.say("100001")
    assert said.keys == ["verify.ask_factor"]
    said = await shopper.say(PRIYA_EMAIL)
    assert "confirm.cancel" in said.keys
    said = await shopper.tap("yes")
    assert said.keys[0] == "done.cancel"


async def test_a_shared_contact_proves_the_phone_and_lists_the_orders(
    shopper: TelegramShopper, redis: aioredis.Redis
) -> None:
    await shopper.say("hi")
    said = await shopper.tap("m:track")
    assert said.keys == ["order.ask"]
    said = await shopper.send("contact_own")
    assert said.keys == ["identity.thanks", "orders.pick"]
    assert any(b.payload == "o:100001" for b in said.buttons)
    session = await SessionStore(redis, Keys()).load(shopper.conversation)
    assert session.phone == "+919812345678"
    said = await shopper.tap("o:100001")
    assert said.keys[0] == "snapshot.header"


async def test_someone_elses_contact_proves_nothing(
    shopper: TelegramShopper, redis: aioredis.Redis
) -> None:
    await shopper.say("hi")
    await shopper.tap("m:track")
    said = await shopper.send("contact_other")
    assert said.keys[0] == "media.unsupported"
    assert "orders.pick" not in said.keys
    session = await SessionStore(redis, Keys()).load(shopper.conversation)
    assert session.phone is None


async def test_return_refund_and_a_refused_delivery_change(shopper: TelegramShopper) -> None:
    await shopper.say("hi")
    await shopper.send("contact_own")  # Priya, proven
    said = await shopper.tap("m:rr")
    assert said.keys == ["item.pick"]  # her one returnable order, 100008
    await shopper.tap("Cotton Kurta, Indigo, Size M × 2")
    await shopper.tap("rr:return")
    await shopper.tap("q:1")
    await shopper.tap("r:DAMAGED")
    said = await shopper.tap("yes")
    assert said.keys[0] == "done.return"
    assert "shipping fees are not refunded" in said.text

    said = await shopper.tap("menu")
    said = await shopper.tap("m:refund")
    assert said.keys == ["orders.pick"]
    said = await shopper.tap("o:100014")
    assert said.keys[0] == "refund.header"

    await shopper.tap("menu")
    said = await shopper.say("change delivery address of 100008")
    assert said.keys[0] == "refusal.header"
    assert "already been delivered" in said.text


async def test_hand_off_opens_a_telegram_ticket_and_files_later_messages(db: Database,
    shopper: TelegramShopper, redis: aioredis.Redis
) -> None:
    await shopper.say("hi")
    said = await shopper.tap("agent")
    assert said.keys == ["handoff.ask_issue"]
    said = await shopper.say("My parcel 100003 arrived open, with a torn box 📦")
    assert said.keys[0] == "handoff.opened"
    [ticket] = await TicketStore(db, redis).list_open()
    assert ticket.channel == "telegram"
    assert ticket.conversation == shopper.conversation
    said = await shopper.say("Any news?")
    assert said.keys == ["handoff.added"]
    log = await TicketStore(db, redis).log(ticket.id)
    assert [line["text"] for line in log if line["who"] == "shopper"] == ["Any news?"]


async def test_a_redelivered_update_is_answered_once(
    shopper: TelegramShopper, redis: aioredis.Redis
) -> None:
    update = telegram_update("text", text="hi")
    first = await shopper.post(update)
    assert first.status_code == 200
    queued = await outbox_entries(redis)
    again = await shopper.post(update)
    assert again.status_code == 200
    assert await outbox_entries(redis) == queued  # nothing new queued: nothing sent twice


async def test_a_stale_button_is_answered_with_a_notice(shopper: TelegramShopper) -> None:
    await shopper.say("hi")
    said = await shopper.send("callback_query_old_message")  # i:L2, from an old message
    assert said.keys[0] == "button.stale"
    assert shopper.response is not None
    answer = shopper.response.json()
    assert answer["method"] == "answerCallbackQuery"
    assert answer["callback_query_id"]
    assert answer["text"] == said.replies[0].text


async def test_every_tap_is_answered_so_the_spinner_stops(shopper: TelegramShopper) -> None:
    await shopper.say("hi")
    await shopper.tap("m:track")
    assert shopper.response is not None
    answer = shopper.response.json()
    assert answer == {"method": "answerCallbackQuery",
                      "callback_query_id": answer["callback_query_id"]}


async def test_media_only_and_location_get_the_i_read_text_answer(
    shopper: TelegramShopper
) -> None:
    await shopper.say("hi")
    said = await shopper.send("photo")
    assert said.keys[0] == "media.unsupported"
    assert "menu.prompt" in said.keys
    said = await shopper.send("location")
    assert said.keys[0] == "media.unsupported"


async def test_hindi_and_emoji(client: httpx.AsyncClient, redis: aioredis.Redis) -> None:
    shopper = TelegramShopper(client, redis, user_id=7002, language="hi")
    said = await shopper.say("नमस्ते 🙏")
    assert said.keys[0] == "welcome"
    assert any("\u0900" <= ch <= "\u097f" for ch in said.text)
    said = await shopper.say("मेरा ऑर्डर कहाँ है? 100003")
    assert said.keys == ["verify.ask_factor"]


async def test_edits_and_unknown_updates_are_acknowledged_and_ignored(
    shopper: TelegramShopper, redis: aioredis.Redis
) -> None:
    await shopper.say("hi")
    queued = await outbox_entries(redis)
    for name in ("edited_message", "message_reaction"):
        response = await shopper.post(telegram_update(name))
        assert response.status_code == 200
    assert await outbox_entries(redis) == queued


async def test_a_group_is_told_once_to_write_privately(
    shopper: TelegramShopper, redis: aioredis.Redis
) -> None:
    for _ in range(2):
        assert (await shopper.post(telegram_update("group_command"))).status_code == 200
    entries = [e for e in await outbox_entries(redis)
               if e["conversation"] == "telegram:-1001234567890"]
    assert len(entries) == 1
    assert "private chat" in entries[0]["replies"]


async def test_blocking_marks_the_chat_unreachable_and_unblocking_clears_it(
    shopper: TelegramShopper, redis: aioredis.Redis
) -> None:
    reach = Reachability(redis)
    await shopper.post(telegram_update("my_chat_member_kicked"))
    assert await reach.unreachable(shopper.conversation) is not None
    await shopper.post(telegram_update("my_chat_member_member"))
    assert await reach.unreachable(shopper.conversation) is None
