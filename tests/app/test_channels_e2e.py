"""End to end: the app (with its in-process worker) against a local fake Telegram
Bot API and a local fake Twilio REST API, checking what was actually sent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from app_harness import running
from channel_harness import (
    PUBLIC_URL,
    TELEGRAM_TOKEN,
    TWILIO_SID,
    TWILIO_TOKEN,
    WHATSAPP_FROM,
    TelegramShopper,
    WhatsAppShopper,
    channel_settings,
)
from fake_providers import FakeTelegram, FakeTwilio

from app.settings import Settings
from app.telegram_cli import run as telegram_command
from channels.reachability import Reachability
from conversation.outbox import Outbox
from conversation.types import Button, Channel, Reply
from tests.live import eventually, serving

HX_QUICK = "HX" + "12" * 16
HX_WINDOW = "HX" + "34" * 16


@pytest.fixture
async def twilio_api() -> AsyncIterator[FakeTwilio]:
    fake = FakeTwilio(TWILIO_SID, TWILIO_TOKEN)
    async with serving(fake.app(), lifespan="off") as (url, _server):
        fake.url = url  # type: ignore[attr-defined]
        yield fake


def e2e_settings(redis_url: str, tmp_path: Path, telegram_api: FakeTelegram,
                 twilio_api: FakeTwilio, **overrides: object) -> Settings:
    return channel_settings(
        redis_url, tmp_path, worker_in_process=True,
        telegram_api_url=telegram_api.url, twilio_api_url=twilio_api.url,  # type: ignore[attr-defined]
        **overrides,
    )


@pytest.fixture
async def client(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path,
    telegram_api: FakeTelegram, twilio_api: FakeTwilio,
) -> AsyncIterator[httpx.AsyncClient]:
    async with running(e2e_settings(redis_url, tmp_path, telegram_api, twilio_api)) as client:
        yield client


async def test_telegram_replies_are_sent_with_keyboards_links_and_escaping(
    client: httpx.AsyncClient, redis: aioredis.Redis, telegram_api: FakeTelegram
) -> None:
    assert any(c.method == "getMe" for c in telegram_api.calls)  # the Bot was initialised
    shopper = TelegramShopper(client, redis)
    await shopper.send("start_deep_link")  # /start 100003
    await eventually(lambda: len(telegram_api.sent(7001)) == 2)
    welcome, ask = telegram_api.sent(7001)
    assert welcome["parse_mode"] == "HTML"
    assert welcome["text"].startswith("Hi! I can help")
    assert "order #100003" in ask["text"]
    assert ask["reply_markup"]["inline_keyboard"] == [[{"text": "Menu", "callback_data": "menu"}]]

    await shopper.say("ananya.iyer@example.in")
    await eventually(lambda: len(telegram_api.sent(7001)) >= 3)
    snapshot = telegram_api.sent(7001)[2]
    assert snapshot["text"].startswith("Order #100003")
    rows = snapshot["reply_markup"]["inline_keyboard"]
    urls = [button["url"] for [button] in rows if "url" in button]
    assert urls and urls[0].startswith("https://")
    assert any(button.get("callback_data") == "menu" for [button] in rows)


async def test_telegram_escapes_data_in_html(
    client: httpx.AsyncClient, redis: aioredis.Redis, telegram_api: FakeTelegram
) -> None:
    await Outbox(redis).enqueue(Channel.TELEGRAM, "telegram:7004", [
        Reply("staff.reply", "Your <b>order</b> & the \"gift\" box", (Button("Menu", "menu"),)),
    ])
    await eventually(lambda: len(telegram_api.sent(7004)) == 1)
    [sent] = telegram_api.sent(7004)
    assert sent["text"] == "Your &lt;b&gt;order&lt;/b&gt; &amp; the \"gift\" box"


async def test_the_share_phone_button_is_offered_and_removed(
    client: httpx.AsyncClient, redis: aioredis.Redis, telegram_api: FakeTelegram
) -> None:
    shopper = TelegramShopper(client, redis, user_id=7005)
    await shopper.say("hi")
    await shopper.tap("m:track")
    await eventually(lambda: any("keyboard" in m.get("reply_markup", {})
                                 for m in telegram_api.sent(7005)))
    offer = telegram_api.sent(7005)[-1]
    [[button]] = offer["reply_markup"]["keyboard"]
    assert button == {"text": "📱 Share my phone number", "request_contact": True}
    count = len(telegram_api.sent(7005))
    await shopper.send("contact_own")
    await eventually(lambda: len(telegram_api.sent(7005)) >= count + 2)
    thanks = telegram_api.sent(7005)[count]
    assert thanks["text"].startswith("Thanks, I know who you are now")
    assert thanks["reply_markup"] == {"remove_keyboard": True}


async def test_a_429_is_waited_out_and_the_message_sent(
    client: httpx.AsyncClient, redis: aioredis.Redis, telegram_api: FakeTelegram
) -> None:
    telegram_api.rate_limit_next = 1
    shopper = TelegramShopper(client, redis, user_id=7006)
    await shopper.say("hi")
    await eventually(lambda: len(telegram_api.sent(7006)) == 2)
    attempts = telegram_api.attempts(7006)
    assert [a.status for a in attempts] == [429, 200, 200]
    assert attempts[1].at - attempts[0].at >= 0.95  # retry_after = 1 s
    assert attempts[0].params["text"] == attempts[1].params["text"]  # the same message, once


async def test_a_403_marks_the_chat_unreachable_and_stops_sending(
    client: httpx.AsyncClient, redis: aioredis.Redis, telegram_api: FakeTelegram
) -> None:
    telegram_api.blocked.add(7007)
    shopper = TelegramShopper(client, redis, user_id=7007)
    await shopper.say("hi")
    outbox = Outbox(redis)
    await eventually(lambda: outbox.dead_letters())
    assert await Reachability(redis).unreachable("telegram:7007") is not None
    [letter] = await outbox.dead_letters()
    assert "Undeliverable" in letter.error and "blocked" in letter.error
    await shopper.say("hello?")
    await eventually(lambda: _dead_count(outbox, 2))
    assert len(telegram_api.attempts(7007)) == 1  # the second never reached Telegram


async def _dead_count(outbox: Outbox, count: int) -> bool:
    return len(await outbox.dead_letters()) == count


async def test_a_proactive_whatsapp_message_goes_through_twilio_rest(
    client: httpx.AsyncClient, redis: aioredis.Redis, twilio_api: FakeTwilio
) -> None:
    priya = WhatsAppShopper(client)
    await priya.say("hi")  # opens the 24-hour window
    await Outbox(redis).enqueue(Channel.WHATSAPP, priya.conversation, [
        Reply("handoff.resolved", "Your request T-1001 has been resolved.",
              (Button("Track order", "m:track"), Button("Menu", "menu"))),
    ])
    await eventually(lambda: len(twilio_api.messages) == 1)
    [sent] = twilio_api.messages
    assert sent["To"] == "whatsapp:+919812345678"
    assert sent["From"] == WHATSAPP_FROM
    assert sent["Body"] == "Your request T-1001 has been resolved.\n1. Track order\n2. Menu"
    assert sent["StatusCallback"].startswith(PUBLIC_URL + "/webhooks/whatsapp/status?outbox=")


async def test_outside_the_window_without_a_template_nothing_is_sent(
    client: httpx.AsyncClient, redis: aioredis.Redis, twilio_api: FakeTwilio
) -> None:
    outbox = Outbox(redis)
    await outbox.enqueue(Channel.WHATSAPP, "whatsapp:+919876543210",
                         [Reply("staff.reply", "Your refund was approved.")])
    await eventually(lambda: outbox.dead_letters())
    [letter] = await outbox.dead_letters()
    assert "24-hour" in letter.error and "must write first" in letter.error
    assert twilio_api.messages == []


async def test_outside_the_window_the_configured_template_is_sent(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path,
    telegram_api: FakeTelegram, twilio_api: FakeTwilio,
) -> None:
    settings = e2e_settings(redis_url, tmp_path, telegram_api, twilio_api,
                            twilio_content_templates={"out_of_window": HX_WINDOW})
    async with running(settings):
        await Outbox(redis).enqueue(Channel.WHATSAPP, "whatsapp:+919876543210",
                                    [Reply("staff.reply", "Your refund\nwas approved.")])
        await eventually(lambda: len(twilio_api.messages) == 1)
    [sent] = twilio_api.messages
    assert sent["ContentSid"] == HX_WINDOW
    assert sent["ContentVariables"] == '{"1": "Your refund was approved."}'
    assert "Body" not in sent


async def test_quick_reply_templates_are_sent_as_content(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path,
    telegram_api: FakeTelegram, twilio_api: FakeTwilio,
) -> None:
    settings = e2e_settings(redis_url, tmp_path, telegram_api, twilio_api,
                            twilio_content_templates={"quick_reply": {"2": HX_QUICK}})
    async with running(settings) as client:
        priya = WhatsAppShopper(client)
        await priya.say("hi")
        await priya.say("2")  # Cancel: her one cancellable order, then "Yes / No"
        await eventually(lambda: any(m.get("ContentSid") == HX_QUICK
                                     for m in twilio_api.messages))
        quick = next(m for m in twilio_api.messages if m.get("ContentSid") == HX_QUICK)
        assert '"2": "Yes, go ahead"' in quick["ContentVariables"]
        assert '"3": "yes"' in quick["ContentVariables"]
        assert priya.bodies == []  # the TwiML was empty: everything went by REST
        # tapping the quick reply comes back as ButtonPayload
        await priya.send("button_reply", ButtonPayload="yes", ButtonText="Yes, go ahead",
                         Body="Yes, go ahead")
        await eventually(lambda: any("is cancelled" in m.get("ContentVariables", "")
                                     for m in twilio_api.messages))


async def test_set_webhook_and_webhook_info(
    redis_url: str, tmp_path: Path, telegram_api: FakeTelegram, twilio_api: FakeTwilio,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = e2e_settings(redis_url, tmp_path, telegram_api, twilio_api)
    assert await telegram_command(settings, "set-webhook") == 0
    [call] = [c for c in telegram_api.calls if c.method == "setWebhook"]
    assert call.params["url"] == PUBLIC_URL + "/webhooks/telegram"
    assert call.params["secret_token"] == settings.telegram_webhook_secret.get_secret_value()  # type: ignore[union-attr]
    assert call.params["allowed_updates"] == ["message", "edited_message", "callback_query",
                                              "my_chat_member"]
    assert await telegram_command(settings, "webhook-info") == 0
    out = capsys.readouterr().out
    assert "Telegram answered: ok" in out
    assert '"pending_update_count": 0' in out
    assert TELEGRAM_TOKEN not in out


async def test_a_staff_reply_on_telegram_starts_with_the_persons_name(
    client: httpx.AsyncClient, redis: aioredis.Redis, telegram_api: FakeTelegram
) -> None:
    await Outbox(redis).enqueue(Channel.TELEGRAM, "telegram:7011", [
        Reply("staff.reply", "Your parcel ships <today>", author="Asha"),
    ])
    await eventually(lambda: len(telegram_api.sent(7011)) == 1)
    [sent] = telegram_api.sent(7011)
    assert sent["text"] == "Asha: Your parcel ships &lt;today&gt;"


async def test_a_staff_reply_on_whatsapp_starts_with_the_persons_name(
    client: httpx.AsyncClient, redis: aioredis.Redis, twilio_api: FakeTwilio
) -> None:
    priya = WhatsAppShopper(client)
    await priya.say("hi")  # opens the 24-hour window
    await Outbox(redis).enqueue(Channel.WHATSAPP, priya.conversation, [
        Reply("staff.reply", "Your parcel ships today.", author="Asha"),
    ])
    await eventually(lambda: len(twilio_api.messages) == 1)
    assert twilio_api.messages[0]["Body"] == "Asha: Your parcel ships today."
