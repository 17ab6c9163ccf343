"""Shipping notifications as the shopper lives them: "Keep me posted" and "stop" in
the dialogue, one message per change per subscriber through the outbox, quiet
hours, and a reply that lands in the order's context. Real engine, real Redis,
the demo shop; carrier updates recorded by the demo shop as the webhook does."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis

from conversation.engine import Engine
from conversation.keys import Keys
from conversation.notifier import NoticeDesk, ShopperNotifier
from conversation.outbox import Outbox
from conversation.quiet_hours import BadQuietHours, QuietHours
from conversation.types import Channel
from orders.demo import DemoBackend
from orders.models import PackageStatus
from orders.tracking import CarrierUpdate, ChangeKind, OrderChange, notable_change
from tests.conversation.chat import Chat
from tests.conversation.conftest import NOW, Clock

SHIPPED = ("100003", "ananya.iyer@example.in")  # one package, at the courier's facility
DELIVERED = ("100008", "+91 98123 45678")
CANCELLED_REFUND_PROCESSING = ("100014", "priya.sharma@example.in")
PLACED = ("100001", "priya.sharma@example.in")

# 22:30 in Kolkata (quiet hours 21:00-09:00), and the morning after
NIGHT = datetime(2026, 11, 17, 17, 0, tzinfo=UTC)
MORNING = datetime(2026, 11, 18, 3, 31, tzinfo=UTC)  # 09:01 in Kolkata


@pytest.fixture
def outbox(engine: Engine) -> Outbox:
    assert engine.outbox is not None
    return engine.outbox


@pytest.fixture
def notifier(engine: Engine, redis: aioredis.Redis, outbox: Outbox,
             clock: Clock) -> ShopperNotifier:
    return ShopperNotifier(
        NoticeDesk(redis, outbox, clock=clock), engine.subscriptions, engine.render,
        quiet=QuietHours.parse("21:00-09:00", "Asia/Kolkata"), clock=clock,
    )


async def open_order(chat: Chat, order: tuple[str, str]) -> None:
    await chat.say("hi")
    await chat.say(order[0])
    assert chat.keys == ["verify.ask_factor"]
    await chat.say(order[1])
    assert chat.keys == ["snapshot.header"]


async def subscribed(engine: Engine, order: tuple[str, str], **chat: Any) -> Chat:
    shopper = Chat(engine, **chat)
    await open_order(shopper, order)
    await shopper.tap("n:" + order[0])
    assert shopper.keys == ["notify.subscribed"]
    return shopper


async def carrier_says(shop: DemoBackend, number: str, status: PackageStatus,
                       at: datetime) -> OrderChange:
    """A carrier update recorded in the shop, and the change it makes (as the webhook does)."""
    update = CarrierUpdate(provider="generic", event_id=f"{number}-{status.value}-{at}",
                           order_number=number, status=status, carrier_status=status.value,
                           at=at, location="Bengaluru")
    applied = await shop.record_tracking(update)
    assert applied is not None
    change = notable_change(applied, update)
    assert change is not None
    return change


async def queued(redis: aioredis.Redis, outbox: Outbox) -> list[tuple[str, dict[str, Any]]]:
    """Every message in the outbox, oldest first: (conversation, its one reply)."""
    entries: Any = await redis.xrange(outbox.stream_key)
    found = []
    for _, fields in entries:
        [reply] = json.loads(fields[b"replies"])
        found.append((fields[b"conversation"].decode(), reply))
    return found


# ---- subscribing and stopping ---------------------------------------------------------


async def test_keep_me_posted_button_subscribes_and_says_what_will_be_told(
    engine: Engine,
) -> None:
    chat = Chat(engine)
    await open_order(chat, SHIPPED)
    assert "Keep me posted" in chat.labels
    await chat.tap("Keep me posted")
    assert chat.keys == ["notify.subscribed"]
    assert "out for delivery" in chat.text and '"stop"' in chat.text
    [subscriber] = await engine.subscriptions.subscribers(SHIPPED[0])
    assert (subscriber.channel, subscriber.conversation, subscriber.locale) == (
        Channel.WEB, chat.conversation, "en")
    assert await engine.subscriptions.orders_of(chat.conversation) == [SHIPPED[0]]


@pytest.mark.parametrize("text", ["keep me posted", "Notify me please", "मुझे बताते रहना"])
async def test_typed_keep_me_posted_subscribes_to_the_order_in_context(
    engine: Engine, text: str
) -> None:
    chat = Chat(engine)
    await open_order(chat, SHIPPED)
    await chat.say(text)
    assert chat.keys == ["notify.subscribed"]
    [subscriber] = await engine.subscriptions.subscribers(SHIPPED[0])
    assert subscriber.locale == ("hi" if text.startswith("मु") else "en")


async def test_typed_keep_me_posted_without_an_order_asks_for_one(chat: Chat) -> None:
    await chat.say("hi")
    await chat.say("notify me")
    assert chat.keys == ["notify.which_order", "order.ask"]
    assert await chat.engine.subscriptions.orders_of(chat.conversation) == []


@pytest.mark.parametrize("order,offered", [
    (SHIPPED, True), (PLACED, True), (CANCELLED_REFUND_PROCESSING, True), (DELIVERED, False),
])
async def test_the_button_is_offered_only_while_something_can_still_happen(
    chat: Chat, order: tuple[str, str], offered: bool
) -> None:
    await open_order(chat, order)
    assert ("n:" + order[0] in [b.payload for b in chat.buttons]) is offered


async def test_a_followed_order_offers_stop_updates_instead_of_keep_me_posted(
    engine: Engine,
) -> None:
    chat = await subscribed(engine, SHIPPED)
    await chat.tap("Back to this order")
    assert chat.keys == ["snapshot.header"]
    assert "Keep me posted" not in chat.labels
    await chat.tap("Stop updates")
    assert chat.keys == ["notify.stopped"]
    assert await engine.subscriptions.orders_of(chat.conversation) == []
    await chat.tap("Back to this order")
    assert "Keep me posted" in chat.labels and "Stop updates" not in chat.labels


@pytest.mark.parametrize("text", ["stop updates", "unsubscribe", "अपडेट बंद करो"])
async def test_stop_updates_ends_every_subscription_and_confirms(
    engine: Engine, text: str
) -> None:
    chat = await subscribed(engine, SHIPPED)
    await chat.say(PLACED[0])
    await chat.say(PLACED[1])
    await chat.tap("n:" + PLACED[0])
    assert await engine.subscriptions.orders_of(chat.conversation) == [PLACED[0], SHIPPED[0]]
    await chat.say(text)
    assert chat.keys == ["notify.stopped"]
    assert PLACED[0] in chat.text and SHIPPED[0] in chat.text
    assert await engine.subscriptions.orders_of(chat.conversation) == []
    assert await engine.subscriptions.subscribers(SHIPPED[0]) == []
    await chat.say(text)
    assert chat.keys == ["notify.none"]


async def test_plain_stop_ends_the_updates_too(engine: Engine) -> None:
    chat = await subscribed(engine, SHIPPED)
    await chat.say("stop")
    assert chat.keys == ["stop.bye"]
    assert "no more shipping updates" in chat.text
    assert await engine.subscriptions.subscribers(SHIPPED[0]) == []
    await chat.say("stop")
    assert "no shipping updates to stop" in chat.text


async def test_stop_updates_works_while_a_person_has_the_conversation(engine: Engine) -> None:
    chat = await subscribed(engine, SHIPPED)
    await chat.say("agent")
    await chat.say("My parcel looks damaged in the photo the courier sent")
    assert chat.last is not None and chat.last.handed_off
    await chat.say("stop updates")
    assert chat.keys == ["notify.stopped"]
    assert await engine.subscriptions.subscribers(SHIPPED[0]) == []
    session = await engine.store.load(chat.conversation)
    assert session.ticket is not None  # still with the person


async def test_a_forged_payload_cannot_subscribe_to_an_order_never_proven(
    engine: Engine,
) -> None:
    stranger = Chat(engine)
    await open_order(stranger, PLACED)  # proved a different order
    await stranger.send("n", payload="n:" + SHIPPED[0])
    assert stranger.keys[0] == "button.stale"
    await stranger.send("keep me posted about 100003")
    assert stranger.keys != ["notify.subscribed"]
    assert await engine.subscriptions.subscribers(SHIPPED[0]) == []
    assert await engine.subscriptions.orders_of(stranger.conversation) == []


# ---- telling the shoppers -------------------------------------------------------------


async def test_a_change_queues_one_message_per_subscriber_in_their_language(
    engine: Engine, notifier: ShopperNotifier, shop: DemoBackend, redis: aioredis.Redis,
    outbox: Outbox,
) -> None:
    english = await subscribed(engine, SHIPPED)
    hindi = await subscribed(engine, SHIPPED, locale="hi")
    change = await carrier_says(shop, SHIPPED[0], PackageStatus.OUT_FOR_DELIVERY, NOW)
    assert change.kind is ChangeKind.OUT_FOR_DELIVERY
    assert await notifier.order_changed(change) == 2
    messages = dict(await queued(redis, outbox))
    assert messages.keys() == {english.conversation, hindi.conversation}
    en, hi = messages[english.conversation], messages[hindi.conversation]
    assert en["key"] == hi["key"] == "notify.out_for_delivery"
    assert en["text"].startswith("Order 100003 is out for delivery today.")
    assert hi["text"].startswith("ऑर्डर 100003 आज डिलीवरी के लिए निकल चुका है।")
    assert [(b["label"], b["payload"]) for b in en["buttons"]] == [
        ("See order", "o:100003"), ("Stop updates", "stop")]
    assert [b["label"] for b in hi["buttons"]] == ["ऑर्डर देखें", "अपडेट बंद करें"]
    [link] = en["links"]
    assert link["label"] == "Track package" and link["url"].startswith("https://")
    transcript = await engine.store.transcript(english.conversation)
    assert transcript[-1]["who"] == "bot"
    assert transcript[-1]["key"] == "notify.out_for_delivery"


async def test_the_same_change_twice_is_told_once(
    engine: Engine, notifier: ShopperNotifier, shop: DemoBackend, redis: aioredis.Redis,
    outbox: Outbox,
) -> None:
    await subscribed(engine, SHIPPED)
    change = await carrier_says(shop, SHIPPED[0], PackageStatus.OUT_FOR_DELIVERY, NOW)
    assert await notifier.order_changed(change) == 1
    assert await notifier.order_changed(change) == 0
    assert len(await queued(redis, outbox)) == 1


async def test_two_processes_reporting_the_same_change_tell_it_once(
    engine: Engine, notifier: ShopperNotifier, shop: DemoBackend, redis: aioredis.Redis,
    outbox: Outbox, clock: Clock,
) -> None:
    await subscribed(engine, SHIPPED)
    other = ShopperNotifier(NoticeDesk(redis, Outbox(redis), clock=clock),
                            engine.subscriptions, engine.render, clock=clock)
    change = await carrier_says(shop, SHIPPED[0], PackageStatus.OUT_FOR_DELIVERY, NOW)
    counts = await asyncio.gather(notifier.order_changed(change), other.order_changed(change))
    assert sorted(counts) == [0, 1]
    assert len(await queued(redis, outbox)) == 1


async def test_a_replay_days_later_is_not_told_again(
    engine: Engine, notifier: ShopperNotifier, shop: DemoBackend, redis: aioredis.Redis,
    outbox: Outbox, clock: Clock,
) -> None:
    chat = await subscribed(engine, SHIPPED)
    change = await carrier_says(shop, SHIPPED[0], PackageStatus.OUT_FOR_DELIVERY, NOW)
    assert await notifier.order_changed(change) == 1
    await redis.delete(Keys().seen(chat.conversation))  # as if 24 h went by
    clock.advance(days=2)
    assert await notifier.order_changed(change) == 0
    assert len(await queued(redis, outbox)) == 1


async def test_changes_are_queued_in_order_for_each_conversation(
    engine: Engine, notifier: ShopperNotifier, shop: DemoBackend, redis: aioredis.Redis,
    outbox: Outbox,
) -> None:
    chat = await subscribed(engine, SHIPPED)
    for status, minutes in ((PackageStatus.OUT_FOR_DELIVERY, 0), (PackageStatus.DELIVERED, 90)):
        change = await carrier_says(shop, SHIPPED[0], status, NOW + timedelta(minutes=minutes))
        assert await notifier.order_changed(change) == 1
    assert [(c, r["key"]) for c, r in await queued(redis, outbox)] == [
        (chat.conversation, "notify.out_for_delivery"), (chat.conversation, "notify.delivered")]


async def test_an_unsubscribed_conversation_is_told_nothing(
    engine: Engine, notifier: ShopperNotifier, shop: DemoBackend, redis: aioredis.Redis,
    outbox: Outbox,
) -> None:
    stays = await subscribed(engine, SHIPPED)
    leaves = await subscribed(engine, SHIPPED)
    await leaves.say("stop updates")
    change = await carrier_says(shop, SHIPPED[0], PackageStatus.OUT_FOR_DELIVERY, NOW)
    assert await notifier.order_changed(change) == 1
    assert [c for c, _ in await queued(redis, outbox)] == [stays.conversation]


async def test_an_order_nobody_follows_tells_nobody(
    notifier: ShopperNotifier, shop: DemoBackend, redis: aioredis.Redis, outbox: Outbox,
) -> None:
    change = await carrier_says(shop, SHIPPED[0], PackageStatus.OUT_FOR_DELIVERY, NOW)
    assert await notifier.order_changed(change) == 0
    assert await queued(redis, outbox) == []


# ---- quiet hours ----------------------------------------------------------------------


async def test_quiet_hours_hold_notices_then_release_them_once_in_order(
    engine: Engine, notifier: ShopperNotifier, shop: DemoBackend, redis: aioredis.Redis,
    outbox: Outbox, clock: Clock,
) -> None:
    chat = await subscribed(engine, SHIPPED)
    clock.now = NIGHT
    out = await carrier_says(shop, SHIPPED[0], PackageStatus.OUT_FOR_DELIVERY, NIGHT)
    assert await notifier.order_changed(out) == 1
    assert await notifier.order_changed(out) == 0  # reported again tonight: still one
    done = await carrier_says(shop, SHIPPED[0], PackageStatus.DELIVERED,
                              NIGHT + timedelta(minutes=20))
    assert await notifier.order_changed(done) == 1
    assert await queued(redis, outbox) == []  # nothing at night
    assert [n.replies[0].key for n in await notifier.desk.held()] == [
        "notify.out_for_delivery", "notify.delivered"]
    assert await notifier.desk.release_due() == 0  # still night
    clock.now = MORNING
    assert await notifier.desk.release_due() == 2
    assert await notifier.desk.release_due() == 0
    assert [(c, r["key"]) for c, r in await queued(redis, outbox)] == [
        (chat.conversation, "notify.out_for_delivery"), (chat.conversation, "notify.delivered")]
    assert await notifier.desk.held() == []
    assert await notifier.order_changed(out) == 0  # and a later replay tells nothing


async def test_a_change_after_quiet_hours_waits_for_the_held_one_before_it(
    engine: Engine, notifier: ShopperNotifier, shop: DemoBackend, redis: aioredis.Redis,
    outbox: Outbox, clock: Clock,
) -> None:
    await subscribed(engine, SHIPPED)
    clock.now = NIGHT
    out = await carrier_says(shop, SHIPPED[0], PackageStatus.OUT_FOR_DELIVERY, NIGHT)
    assert await notifier.order_changed(out) == 1
    clock.now = MORNING  # the worker has not released it yet when "delivered" comes
    done = await carrier_says(shop, SHIPPED[0], PackageStatus.DELIVERED, MORNING)
    assert await notifier.order_changed(done) == 1
    assert [r["key"] for _, r in await queued(redis, outbox)] == [
        "notify.out_for_delivery", "notify.delivered"]
    assert await notifier.desk.release_due() == 0


def test_quiet_hours_read_spans_over_midnight_and_refuse_nonsense() -> None:
    quiet = QuietHours.parse("21:00-09:00", "Asia/Kolkata")
    assert quiet.ends(NIGHT) == datetime(2026, 11, 18, 3, 30, tzinfo=UTC)
    assert quiet.ends(datetime(2026, 11, 17, 20, 0, tzinfo=UTC)) == datetime(
        2026, 11, 18, 3, 30, tzinfo=UTC)  # 01:30 local: ends the same morning
    assert quiet.ends(NOW) is None  # 11:00 local
    assert QuietHours.parse("13:00-14:00", "UTC").ends(
        datetime(2026, 1, 1, 13, 30, tzinfo=UTC)) == datetime(2026, 1, 1, 14, 0, tzinfo=UTC)
    assert QuietHours.parse("").ends(NIGHT) is None
    for bad in ("9pm-9am", "21:00", "25:00-09:00", "09:00-09:00"):
        with pytest.raises(BadQuietHours):
            QuietHours.parse(bad)


# ---- replying to a notification -------------------------------------------------------


@pytest.mark.parametrize("reply", ["where is it", "See order", "1"])
async def test_a_reply_to_a_notification_opens_the_orders_snapshot(
    engine: Engine, notifier: ShopperNotifier, shop: DemoBackend, reply: str,
) -> None:
    chat = await subscribed(engine, SHIPPED)
    await open_order(chat, PLACED)  # the shopper moved on to another order
    change = await carrier_says(shop, SHIPPED[0], PackageStatus.OUT_FOR_DELIVERY, NOW)
    assert await notifier.order_changed(change) == 1
    if reply == "See order":
        await chat.send(reply, payload="o:" + SHIPPED[0])
    else:
        await chat.say(reply)
    assert chat.keys == ["snapshot.header"]
    assert "#100003" in chat.text and "out for delivery" in chat.text


async def test_a_notification_to_a_conversation_whose_session_expired_keeps_its_language(
    engine: Engine, notifier: ShopperNotifier, shop: DemoBackend, redis: aioredis.Redis,
) -> None:
    chat = Chat(engine)
    await open_order(chat, SHIPPED)
    await chat.say("मुझे अपडेट देते रहना")  # Hindi, so the subscription is in Hindi
    assert chat.keys == ["notify.subscribed"]
    await redis.delete(Keys().session(chat.conversation))  # a week without a word
    change = await carrier_says(shop, SHIPPED[0], PackageStatus.OUT_FOR_DELIVERY, NOW)
    assert await notifier.order_changed(change) == 1
    await chat.say("stop")
    assert chat.keys == ["stop.bye"]  # no greeting: the notification was the last word
    assert "शिपिंग अपडेट" in chat.text  # answered in Hindi, the order's updates stopped
    assert await engine.subscriptions.subscribers(SHIPPED[0]) == []
