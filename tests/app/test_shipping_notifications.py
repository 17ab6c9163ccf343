"""A shipping notification on WhatsApp, from the subscription to Twilio: the real
engine, notifier, worker and WhatsApp sender against a local fake of Twilio's REST
API. Inside the 24-hour window it goes as free text; outside it only through the
merchant's `out_of_window` template, and with none it is recorded as not sent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from app_harness import make_settings
from fake_providers import FakeTwilio
from pydantic import ValidationError

from app.resources import open_resources, outbox_for
from app.settings import Settings
from app.worker import run_worker
from channels.reachability import Reachability
from channels.twilio_transport import AiohttpTwilioClient
from channels.whatsapp_content import ContentTemplates
from channels.whatsapp_sender import WhatsAppSender, make_client
from conversation.audit import AuditLog
from conversation.catalogue import Catalogue
from conversation.delivery import DeliveryStates
from conversation.engine import Engine
from conversation.notifier import NoticeDesk, ShopperNotifier
from conversation.outbox import Outbox, RetryPolicy
from conversation.quiet_hours import QuietHours
from conversation.tickets import TicketStore
from conversation.types import Channel, Identity, Inbound
from orders.demo import DemoBackend
from orders.loading import DEMO_ORDERS_FILE, load_order_file
from orders.models import PackageStatus
from orders.policy import Policy
from orders.tracking import CarrierUpdate, notable_change
from records.db import Database
from templates import MESSAGES_DIR
from tests.live import eventually, serving

NOW = datetime(2026, 11, 17, 5, 30, tzinfo=UTC)
SID = "ACa1b2c3d4e5f60718293a4b5c6d7e8f90"
TOKEN = "twilio-auth-token-for-tests"
FROM = "whatsapp:+14155238886"
HX_WINDOW = "HX" + "ab" * 16
ANANYA = "whatsapp:+919845012345"  # owns order 100003, shipped, at the courier's facility


@pytest.fixture
async def shop(redis: aioredis.Redis) -> DemoBackend:
    backend = DemoBackend(redis, clock=lambda: NOW)
    await backend.load(load_order_file(DEMO_ORDERS_FILE, NOW))
    return backend


@pytest.fixture
def engine(redis: aioredis.Redis, shop: DemoBackend, db: Database) -> Engine:
    return Engine(redis, shop, policy=Policy(timezone="Asia/Kolkata"),
                  catalogue=Catalogue.load(MESSAGES_DIR), tickets=TicketStore(db, redis),
                  audit=AuditLog(db, redis),
                  outbox=Outbox(redis), clock=lambda: NOW)


@pytest.fixture
async def twilio_url() -> AsyncIterator[tuple[FakeTwilio, str]]:
    fake = FakeTwilio(SID, TOKEN)
    async with serving(fake.app(), lifespan="off") as (url, _):
        yield fake, url


@pytest.fixture
def twilio(twilio_url: tuple[FakeTwilio, str]) -> FakeTwilio:
    return twilio_url[0]


@asynccontextmanager
async def worker(redis: aioredis.Redis, twilio_url: str,
                 templates: ContentTemplates) -> AsyncIterator[Outbox]:
    """The worker with the WhatsApp sender, against the fake Twilio."""
    http = AiohttpTwilioClient()
    client = make_client(SID, TOKEN, twilio_url, http)
    sender = WhatsAppSender(client, redis, sender=FROM, status_callback=None,
                            templates=templates)
    outbox = Outbox(redis, retry=RetryPolicy(max_attempts=2, base=0.01, cap=0.02),
                    block=0.05, recheck=0.01)
    stop = asyncio.Event()
    task = asyncio.create_task(run_worker(redis, prefix="ohb:", stop=stop, consumer_name="w1",
                                          senders={Channel.WHATSAPP: sender.deliver},
                                          outbox=outbox))
    try:
        yield outbox
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await http.aclose()


async def subscribe_and_ship(engine: Engine, shop: DemoBackend, redis: aioredis.Redis,
                             *, hold: bool = False) -> int:
    """Ananya opens her order on WhatsApp and asks to be kept posted; then the
    carrier says it is out for delivery. Returns the messages the notifier queued.
    `hold`: as if it came in quiet hours that ended a moment ago (not yet released)."""
    for n, (text, payload) in enumerate([("100003", None), ("Keep me posted", "n:100003")]):
        result = await engine.handle(Inbound(Channel.WHATSAPP, ANANYA, f"SM{n}", text, payload,
                                             identity=Identity(phone="+919845012345")))
    assert [r.key for r in result.replies] == ["notify.subscribed"]
    update = CarrierUpdate(provider="generic", event_id="e1", order_number="100003",
                           status=PackageStatus.OUT_FOR_DELIVERY,
                           carrier_status="out_for_delivery", at=NOW)
    applied = await shop.record_tracking(update)
    assert applied is not None
    change = notable_change(applied, update)
    assert change is not None
    assert engine.outbox is not None
    notifier = ShopperNotifier(NoticeDesk(redis, engine.outbox), engine.subscriptions,
                               engine.render, quiet=QuietHours.parse(""))
    if hold:
        [subscriber] = await engine.subscriptions.subscribers("100003")
        notice = notifier.notice(change, subscriber)
        return int(await notifier.desk.hold(notice, datetime.now(UTC) - timedelta(seconds=1)))
    return await notifier.order_changed(change)


def _failed(redis: aioredis.Redis, outbox: Outbox) -> Callable[[], Awaitable[bool]]:
    """The dead letter's delivery state says failed (what the inbox shows: not sent)."""

    async def failed() -> bool:
        letters = await outbox.dead_letters()
        if not letters:
            return False
        states = await DeliveryStates(redis).get_many([letters[0].message.id])
        return states.get(letters[0].message.id, {}).get("state") == "failed"
    return failed


async def _empty(outbox: Outbox) -> bool:
    return await outbox.backlog() == 0


async def test_outside_the_window_without_a_template_it_is_recorded_as_not_sent(
    engine: Engine, shop: DemoBackend, redis: aioredis.Redis, twilio: FakeTwilio,
    twilio_url: tuple[FakeTwilio, str],
) -> None:
    assert await subscribe_and_ship(engine, shop, redis) == 1
    async with worker(redis, twilio_url[1], ContentTemplates()) as outbox:
        await eventually(_failed(redis, outbox))
    [letter] = await outbox.dead_letters()
    assert letter.message.conversation == ANANYA
    assert letter.message.replies[0].key == "notify.out_for_delivery"
    assert "24-hour" in letter.error
    assert twilio.messages == []
    assert await outbox.backlog() == 0


async def test_outside_the_window_it_goes_through_the_configured_template(
    engine: Engine, shop: DemoBackend, redis: aioredis.Redis, twilio: FakeTwilio,
    twilio_url: tuple[FakeTwilio, str],
) -> None:
    assert await subscribe_and_ship(engine, shop, redis) == 1
    async with worker(redis, twilio_url[1], ContentTemplates(out_of_window=HX_WINDOW)) as outbox:
        await eventually(lambda: len(twilio.messages) == 1)
        await eventually(lambda: _empty(outbox))
    [sent] = twilio.messages
    assert sent["To"] == ANANYA and sent["From"] == FROM
    assert sent["ContentSid"] == HX_WINDOW
    assert "Order 100003 is out for delivery today." in sent["ContentVariables"]
    assert "Body" not in sent
    assert await outbox.dead_letters() == []


async def test_inside_the_window_it_goes_as_text_with_numbered_choices(
    engine: Engine, shop: DemoBackend, redis: aioredis.Redis, twilio: FakeTwilio,
    twilio_url: tuple[FakeTwilio, str],
) -> None:
    await Reachability(redis).record_inbound(ANANYA, datetime.now(UTC) - timedelta(hours=1))
    assert await subscribe_and_ship(engine, shop, redis) == 1
    async with worker(redis, twilio_url[1], ContentTemplates(out_of_window=HX_WINDOW)):
        await eventually(lambda: len(twilio.messages) == 1)
    [sent] = twilio.messages
    assert "ContentSid" not in sent
    assert sent["Body"].startswith("Order 100003 is out for delivery today.")
    assert "1. See order" in sent["Body"] and "2. Stop updates" in sent["Body"]


async def test_the_worker_releases_a_notification_held_through_quiet_hours(
    engine: Engine, shop: DemoBackend, redis: aioredis.Redis, twilio: FakeTwilio,
    twilio_url: tuple[FakeTwilio, str],
) -> None:
    await Reachability(redis).record_inbound(ANANYA, datetime.now(UTC) - timedelta(hours=1))
    assert await subscribe_and_ship(engine, shop, redis, hold=True) == 1
    assert engine.outbox is not None and await engine.outbox.backlog() == 0  # held, not sent
    async with worker(redis, twilio_url[1], ContentTemplates()):
        await eventually(lambda: len(twilio.messages) == 1)
    [sent] = twilio.messages
    assert sent["Body"].startswith("Order 100003 is out for delivery today.")
    assert await NoticeDesk(redis, Outbox(redis)).held() == []


def test_quiet_hours_setting_is_checked_at_start() -> None:
    with pytest.raises(ValidationError, match="21:00-09:00"):
        Settings(quiet_hours="9pm-9am", _env_file=None)
    assert Settings(quiet_hours="", _env_file=None).quiet_hours == ""


async def test_the_app_resources_carry_the_notifier(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path,
) -> None:
    settings = make_settings(redis_url, tmp_path, quiet_hours="")
    async with open_resources(settings) as resources:
        conversation = "web:kept-posted"
        for n, (text, payload) in enumerate([("100003", None), ("ananya.iyer@example.in", None),
                                             ("Keep me posted", "n:100003")]):
            result = await resources.engine.handle(
                Inbound(Channel.WEB, conversation, f"m{n}", text, payload))
        assert [r.key for r in result.replies] == ["notify.subscribed"]
        update = CarrierUpdate(provider="generic", event_id="e1", order_number="100003",
                               status=PackageStatus.OUT_FOR_DELIVERY,
                               carrier_status="out_for_delivery", at=datetime.now(UTC))
        assert isinstance(resources.backend, DemoBackend)
        applied = await resources.backend.record_tracking(update)
        assert applied is not None
        change = notable_change(applied, update)
        assert change is not None
        assert await resources.notifier.order_changed(change) == 1
        assert await resources.notifier.order_changed(change) == 0
        assert await outbox_for(settings, redis).backlog() == 1
