"""End to end (issue 7, "Done when"): a signed carrier update reaches the shoppers who
asked to be kept posted, once, on their own channel.

The app runs with its in-process worker against a local fake Telegram Bot API. Two
Telegram shoppers open order 100003 and tap "Keep me posted"; one of them then says
"stop". A carrier posts a signed update: the first shopper gets exactly one message,
the replayed update sends nothing more, and the second shopper gets nothing.

"Nothing more" is shown without waiting for time to pass: after the replay a marker
message is queued for each shopper, and the outbox sends a conversation's messages
in queue order, so once the marker arrived, anything queued before it has too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from app_harness import running
from channel_harness import TelegramShopper, channel_settings
from fake_providers import FakeTelegram

from conversation.outbox import Outbox
from conversation.types import Channel, Reply
from tests.live import eventually

CARRIER_SECRET = "generic-carrier-secret-for-e2e"
ANANYA = "ananya.iyer@example.in"  # order 100003: shipped, at the courier's facility
KEPT_POSTED, STOPPED = 7101, 7102


@pytest.fixture
async def client(redis: aioredis.Redis, redis_url: str, tmp_path: Path,
                 telegram_api: FakeTelegram) -> AsyncIterator[httpx.AsyncClient]:
    settings = channel_settings(redis_url, tmp_path, worker_in_process=True,
                                telegram_api_url=telegram_api.url,
                                carrier_webhook_secret=CARRIER_SECRET, quiet_hours="")
    async with running(settings) as client:
        yield client


OCCURRED_AT = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
"""One time for the event however often it is sent: the carrier's retry, or the same
event under a new id, is the same event only when its time is the same."""


def signed_update(**changes: Any) -> tuple[bytes, dict[str, str]]:
    """A carrier's update in the generic format, signed as the README says."""
    data = {"event_id": "evt-ofd-100003", "order_number": "100003",
            "tracking_number": "DL7040055433", "carrier": "Delhivery",
            "status": "out_for_delivery",
            "occurred_at": OCCURRED_AT,
            "location": "Koramangala delivery hub", **changes}
    body = json.dumps(data).encode()
    stamp = str(int(time.time()))
    mac = hmac.new(CARRIER_SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256)
    return body, {"X-Signature": "sha256=" + mac.hexdigest(), "X-Timestamp": stamp,
                  "Content-Type": "application/json"}


async def keep_posted(shopper: TelegramShopper) -> None:
    """Open order 100003 (number, then the email on it) and tap "Keep me posted"."""
    await shopper.say("hi")
    await shopper.tap("m:track")
    await shopper.say("100003")
    snapshot = await shopper.say(ANANYA)
    assert any("Order #100003" in r.text for r in snapshot.replies), snapshot.text
    subscribed = await shopper.tap("Keep me posted")
    assert "notify.subscribed" in subscribed.keys, subscribed.keys


async def marker_arrives(redis: aioredis.Redis, telegram_api: FakeTelegram, chat: int) -> None:
    """Queue a marker behind everything queued for `chat` so far and wait for it."""
    text = f"marker {chat} {time.monotonic_ns()}"
    await Outbox(redis).enqueue(Channel.TELEGRAM, f"telegram:{chat}", [Reply("test.marker", text)])
    await eventually(lambda: any(m["text"] == text for m in telegram_api.sent(chat)))


async def test_a_signed_carrier_update_tells_kept_posted_shoppers_once(
    client: httpx.AsyncClient, redis: aioredis.Redis, telegram_api: FakeTelegram
) -> None:
    kept = TelegramShopper(client, redis, user_id=KEPT_POSTED)
    stopped = TelegramShopper(client, redis, user_id=STOPPED)
    await keep_posted(kept)
    await keep_posted(stopped)
    said = await stopped.say("stop")
    assert "no more shipping updates (order 100003)" in said.text, said.text
    for chat in (KEPT_POSTED, STOPPED):  # everything of the dialogue has been sent
        await marker_arrives(redis, telegram_api, chat)
    before = {chat: len(telegram_api.sent(chat)) for chat in (KEPT_POSTED, STOPPED)}

    body, headers = signed_update()
    response = await client.post("/webhooks/logistics/generic", content=body, headers=headers)
    assert response.json() == {"applied": 1, "duplicates": 0, "unmatched": 0, "rejected": []}
    await eventually(lambda: len(telegram_api.sent(KEPT_POSTED)) == before[KEPT_POSTED] + 1)
    [told] = telegram_api.sent(KEPT_POSTED)[before[KEPT_POSTED]:]
    assert "100003" in told["text"] and "out for delivery" in told["text"]
    buttons = [b for row in told["reply_markup"]["inline_keyboard"] for b in row]
    assert {"text": "See order", "callback_data": "o:100003"} in buttons

    replay_body, replay_headers = signed_update()  # the carrier's retry, signed afresh
    again = await client.post("/webhooks/logistics/generic", content=replay_body,
                              headers=replay_headers)
    assert again.json() == {"applied": 0, "duplicates": 1, "unmatched": 0, "rejected": []}
    same_event = signed_update(event_id="evt-ofd-100003-resent")
    resent = await client.post("/webhooks/logistics/generic", content=same_event[0],
                               headers=same_event[1])
    assert resent.json() == {"applied": 0, "duplicates": 1, "unmatched": 0, "rejected": []}

    for chat in (KEPT_POSTED, STOPPED):
        await marker_arrives(redis, telegram_api, chat)
    after_kept = telegram_api.sent(KEPT_POSTED)[before[KEPT_POSTED]:]
    assert [m["text"] for m in after_kept[1:]] == [after_kept[-1]["text"]]  # only the marker
    assert len(after_kept) == 2
    after_stopped = telegram_api.sent(STOPPED)[before[STOPPED]:]
    assert len(after_stopped) == 1 and after_stopped[0]["text"].startswith("marker")

    reply = await kept.say("where is it")  # a reply lands in that order's context
    assert reply.replies, "the shopper got an answer"
