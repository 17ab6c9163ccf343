"""The HTTP order back-end against the reference shop on a real local server, with
chosen faults put in front of chosen routes (slow, 500, malformed answers).

The fault tests talk through the real Engine: the shopper must be told the truth,
nothing the shop did not confirm is reported done, and no change happens twice
(counted at the shop: one idempotency record per change carried out)."""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.reference_shop import PREFIX, create_reference_shop, serve
from app.settings import Settings
from conversation.tickets import TicketStore
from orders.backend import ActionRefused, BackendUnavailable
from orders.demo import DemoBackend
from orders.http_backend import DEFAULT_SUPPORTS, HttpBackend
from orders.http_contract import render
from orders.http_wire import wire_key
from orders.loading import DEMO_ORDERS_FILE, load_order_file
from orders.models import OrderStatus, ReturnLine, ReturnReason
from orders.policy import CHANGES, Action, Policy
from orders.tracking import CarrierUpdate
from records.db import Database
from tests.contract.shopper import TIMEZONE, engine_for
from tests.conversation.chat import Chat
from tests.conversation.conftest import NOW, Clock
from tests.live import serving

TOKEN = "test-token"
TIMEOUT = 0.25
"""The bot's timeout per call here; a slow route takes SLOW seconds, far longer."""
SLOW = 1.0
CONTRACT_FILE = Path(__file__).parents[2] / "docs" / "order-api.openapi.json"

PRIYA_PLACED = ("100001", "priya.sharma@example.in")
VIKRAM_OUT_FOR_DELIVERY = ("100006", "vikram.singh@example.com")
GARBAGE = json.dumps({
    "number": "100001", "status": "cancelled?",
    "customer": {"name": "Priya Sharma", "email": "priya.sharma@example.in"},
}).encode()
"""Well-formed JSON, not the contract's, with personal data the log must leave out."""
PERSONAL = ["Priya", "priya.sharma", "98123", "Vikram", "vikram.singh", "98111", "Sharma"]


@dataclass
class Faults:
    """ASGI middleware in front of the reference shop: counts calls per route, and
    answers the routes matching a rule with its fault instead of (or after) the shop.

    slow     the shop carries the call out, its answer comes SLOW seconds late
    error    500, the shop never sees the call
    garbage  the shop carries the call out, the answer is 200 with a body that is
             not the contract's"""

    app: ASGIApp
    rules: list[tuple[str, re.Pattern[str]]] = field(default_factory=list)
    hits: Counter[str] = field(default_factory=Counter)
    keys: list[str] = field(default_factory=list)

    def add(self, fault: str, route: str) -> None:
        self.rules.append((fault, re.compile(route)))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = f"{scope['method']} {scope['path']}"
        self.hits[route] += 1
        key = dict(scope["headers"]).get(b"idempotency-key")
        if key:
            self.keys.append(key.decode())
        fault = next((f for f, pattern in self.rules if pattern.fullmatch(route)), None)
        if fault is None:
            await self.app(scope, receive, send)
            return
        if fault == "error":
            await _send(send, 500, b'{"error": "internal", "message": "boom"}')
            return
        answer: list[Message] = []

        async def keep(message: Message) -> None:
            answer.append(message)

        await self.app(scope, receive, keep)
        if fault == "garbage":
            await _send(send, 200, GARBAGE)
            return
        await asyncio.sleep(SLOW)
        for message in answer:
            await send(message)


async def _send(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@dataclass
class Setup:
    faults: Faults
    shop: DemoBackend  # the shop's own store, to see what really changed
    backend: HttpBackend
    redis: aioredis.Redis
    clock: Clock
    url: str
    db: Database

    def chat(self, policy: Policy | None = None) -> Chat:
        return Chat(engine_for(self.db, self.redis, self.backend, self.clock, policy))

    async def changes_made(self) -> int:
        """Changes the shop carried out: each leaves one idempotency record."""
        return len([k async for k in self.redis.scan_iter(match=f"{PREFIX}idem:*")])


async def _setup(redis: aioredis.Redis, db: Database, **shop_options: Any
                 ) -> AsyncIterator[Setup]:
    clock = Clock(NOW)
    shop = DemoBackend(redis, prefix=PREFIX, clock=clock, policy=Policy(timezone=TIMEZONE))
    await shop.load(load_order_file(DEMO_ORDERS_FILE, NOW))
    faults = Faults(create_reference_shop(shop, TOKEN, **shop_options))
    async with serving(faults, lifespan="off") as (url, _server), httpx.AsyncClient(
        timeout=httpx.Timeout(TIMEOUT)
    ) as client:
        yield Setup(faults, shop, HttpBackend(client, url, TOKEN), redis, clock, url,
                    db)


@pytest.fixture
async def setup(redis: aioredis.Redis, db: Database) -> AsyncIterator[Setup]:
    async for opened in _setup(redis, db):
        yield opened


async def open_order(chat: Chat, menu_label: str, order: tuple[str, str]) -> None:
    await chat.say("hi")
    await chat.tap(menu_label)
    await chat.say(order[0])
    await chat.say(order[1])


def assert_nothing_personal_logged(caplog: pytest.LogCaptureFixture) -> None:
    for record in caplog.records:
        text = record.getMessage()
        assert not any(p.casefold() in text.casefold() for p in PERSONAL), text


# ---- faults, through the real Engine ---------------------------------------------------


async def test_shop_timing_out_is_told_plainly_and_a_person_is_offered(db: Database,
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    setup.faults.add("slow", r".*")
    chat = setup.chat()
    await open_order(chat, "Track order", VIKRAM_OUT_FOR_DELIVERY)
    assert chat.keys == ["shop.unavailable"]
    assert "can't reach the shop's order system" in chat.text
    assert "Talk to us" in chat.labels
    assert setup.faults.hits["GET /orders/100006"] == 3  # retried, then given up
    assert "Vikram" not in chat.text
    assert "failed (ReadTimeout), try 3 of 3; giving up" in caplog.text

    await chat.tap("Talk to us")  # the person offered is really there
    await chat.say("My parcel is late and the tracking page is down")
    assert chat.keys[0] == "handoff.opened"
    assert [t.kind for t in await TicketStore(db, setup.redis).list_open()] == ["handoff"]
    assert_nothing_personal_logged(caplog)


async def test_shop_answering_500_to_a_change_is_told_and_nothing_is_reported_done(
    setup: Setup,
) -> None:
    chat = setup.chat()
    await open_order(chat, "Cancel", PRIYA_PLACED)
    assert chat.keys == ["confirm.cancel"]
    setup.faults.add("error", r"POST /orders/100001/cancel")
    await chat.tap("Yes, go ahead")
    assert chat.keys == ["shop.unconfirmed"]
    assert "Done" not in chat.text and "refund" not in chat.text
    assert setup.faults.hits["POST /orders/100001/cancel"] == 3
    assert len(set(setup.faults.keys)) == 1  # every retry carried the same key
    order = await setup.shop.get_order("100001")
    assert order is not None and order.status is OrderStatus.PLACED
    assert await setup.changes_made() == 0

    setup.faults.rules.clear()  # the shop is back: asking again does it, once
    await chat.say("cancel 100001")
    await chat.tap("Yes, go ahead")
    assert chat.keys == ["done.cancel"]
    assert await setup.changes_made() == 1
    assert set(setup.faults.keys) == {wire_key("cancel:100001:::::")}


async def test_shop_answering_a_malformed_order_is_told_and_logged_without_personal_data(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    setup.faults.add("garbage", r"GET /orders/100006")
    chat = setup.chat()
    await open_order(chat, "Track order", VIKRAM_OUT_FOR_DELIVERY)
    assert chat.keys == ["shop.unavailable"]
    assert "Vikram" not in chat.text and "Ekart" not in chat.text
    assert setup.faults.hits["GET /orders/100006"] == 1  # a wrong body is not retried
    messages = [r.getMessage() for r in caplog.records if r.name == "orders.http_backend"]
    assert any("GET /orders/{number} answered a body that is not the contract's" in m
               and "status: enum" in m for m in messages), messages
    assert_nothing_personal_logged(caplog)


async def test_malformed_answer_to_a_change_is_not_reported_done_nor_done_twice(
    setup: Setup,
) -> None:
    chat = setup.chat()
    await open_order(chat, "Cancel", PRIYA_PLACED)
    setup.faults.add("garbage", r"POST /orders/100001/cancel")
    await chat.tap("Yes, go ahead")
    assert chat.keys == ["shop.unconfirmed"]
    assert "Done" not in chat.text
    assert setup.faults.hits["POST /orders/100001/cancel"] == 1
    assert await setup.changes_made() == 1  # the shop did it; the bot did not claim it

    setup.faults.rules.clear()
    await chat.say("cancel 100001")  # the shopper tries again: the truth, from the shop
    assert chat.keys == ["refusal.header"]
    assert "already been cancelled" in chat.text
    assert await setup.changes_made() == 1


async def test_shop_slow_only_on_the_change_makes_it_once_and_reports_nothing_done(
    setup: Setup,
) -> None:
    setup.faults.add("slow", r"POST /orders/100001/cancel")
    chat = setup.chat()
    await open_order(chat, "Cancel", PRIYA_PLACED)
    assert chat.keys == ["confirm.cancel"]  # reads are fast
    await chat.tap("Yes, go ahead")
    assert chat.keys == ["shop.unconfirmed"]
    assert "Done" not in chat.text and "refund of" not in chat.text
    assert setup.faults.hits["POST /orders/100001/cancel"] == 3
    assert len(set(setup.faults.keys)) == 1
    order = await setup.shop.get_order("100001")
    assert order is not None and order.status is OrderStatus.CANCELLED
    assert len(order.refunds) == 1  # three tries, one cancellation, one refund
    assert await setup.changes_made() == 1

    setup.faults.rules.clear()
    await chat.say("cancel 100001")
    assert "already been cancelled" in chat.text
    order = await setup.shop.get_order("100001")
    assert order is not None and len(order.refunds) == 1


async def test_shop_down_after_the_order_is_known_still_reaches_a_person(
    db: Database, setup: Setup
) -> None:
    chat = setup.chat()
    await open_order(chat, "Cancel", PRIYA_PLACED)
    setup.faults.add("error", r".*")
    await chat.tap("Yes, go ahead")
    assert chat.keys == ["shop.unconfirmed"]
    await chat.tap("Talk to us")
    await chat.say("I need this order cancelled before it ships")
    assert chat.keys[0] == "handoff.opened", chat.text
    ticket = (await TicketStore(db, setup.redis).list_open())[0]
    assert ticket.order == "100001"


# ---- the back-end itself ------------------------------------------------------------------


async def test_reads_orders_and_finds_them_by_phone_and_email(setup: Setup) -> None:
    backend = setup.backend
    order = await backend.get_order("#100001")
    assert order is not None and order == await setup.shop.get_order("100001")
    assert await backend.get_order("999999") is None
    assert await backend.get_order("../admin") is None  # never put on the wire
    by_phone = await backend.find_orders(phone="+91 98123 45678")
    by_email = await backend.find_orders(email="PRIYA.SHARMA@example.in")
    assert [o.number for o in by_phone] == [o.number for o in by_email]
    assert len(by_phone) == 5 and by_phone == sorted(by_phone, key=lambda o: o.placed_at,
                                                     reverse=True)
    assert await backend.find_orders(phone="+919812345678", email="arjun.nair@example.com") == []
    assert await backend.find_orders() == []
    assert setup.faults.hits["GET /orders/../admin"] == 0


async def test_wrong_token_is_unavailable_and_says_which_setting(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        backend = HttpBackend(client, setup.url, "not-the-token")
        with pytest.raises(BackendUnavailable):
            await backend.get_order("100001")
    assert setup.faults.hits["GET /orders/100001"] == 1  # no retry fixes a wrong token
    assert "check ORDER_API_TOKEN" in caplog.text
    assert "not-the-token" not in caplog.text


async def test_a_repeated_change_is_one_change_and_a_reused_key_is_refused(
    setup: Setup,
) -> None:
    backend = setup.backend
    lines = [ReturnLine(line_id="1", quantity=1, reason=ReturnReason.DAMAGED)]
    first = await backend.start_return("100008", lines, idempotency_key="k1")
    again = await backend.start_return("100008", lines, idempotency_key="k1")
    assert first.reference and first.reference == again.reference
    assert first.order == again.order and len(again.order.returns) == 1
    other = [ReturnLine(line_id="1", quantity=2, reason=ReturnReason.DAMAGED)]
    with pytest.raises(ActionRefused):
        await backend.start_return("100008", other, idempotency_key="k1")
    with pytest.raises(ActionRefused):  # the shop's own rules: nothing left to cancel
        await backend.cancel("100014", idempotency_key="k2")
    with pytest.raises(ActionRefused):
        await backend.cancel("999999", idempotency_key="k3")
    assert await setup.changes_made() == 1


async def test_every_change_route_carries_its_body(setup: Setup) -> None:
    backend = setup.backend
    replaced = await backend.replace("100008", "2", 1, ReturnReason.WRONG_ITEM,
                                     idempotency_key="r1")
    assert replaced.reference == replaced.order.replacements[-1].replacement_id
    order = await setup.shop.get_order("100001")
    assert order is not None and order.shipping_address is not None
    address = order.shipping_address.model_copy(update={"line1": "Flat 4B, Lotus Towers"})
    moved = await backend.change_delivery("100001", address=address, idempotency_key="d1")
    assert moved.order.shipping_address == address
    cancelled = await backend.cancel("100001", idempotency_key="c1")
    assert cancelled.order.status is OrderStatus.CANCELLED
    assert cancelled.reference == cancelled.order.refunds[-1].refund_id
    update = CarrierUpdate(provider="generic", event_id="e1", order_number="100006",
                           status=None, carrier_status="Held at customs", at=NOW)
    assert await backend.record_tracking(update) is None  # the overlay keeps carrier events


async def test_capabilities_come_from_the_shop(redis: aioredis.Redis, db: Database) -> None:
    async for setup in _setup(redis, db, supports=frozenset({Action.CANCEL})):
        backend = setup.backend
        assert backend.supports == DEFAULT_SUPPORTS  # before the shop was asked
        await backend.get_order("100001")
        assert backend.supports == frozenset({Action.CANCEL})
        await backend.get_order("100002")
        assert setup.faults.hits["GET /capabilities"] == 1  # kept, not asked per call
        with pytest.raises(ActionRefused):  # 501 not_supported
            await backend.replace("100008", "2", 1, ReturnReason.WRONG_ITEM,
                                  idempotency_key="r1")
        chat = setup.chat()  # so the dialogue makes delivery changes staff requests
        await open_order(chat, "Change delivery", PRIYA_PLACED)
        await chat.tap("Delivery date")
        await chat.tap(chat.buttons[0].label)
        assert "as a request" in chat.text
        await chat.tap("Yes, go ahead")
        assert chat.keys == ["request.opened"]
        assert await setup.changes_made() == 0


async def test_a_shop_without_capabilities_does_every_change(setup: Setup) -> None:
    setup.faults.add("error", r"GET /capabilities")
    await setup.backend.get_order("100001")
    assert setup.backend.supports == DEFAULT_SUPPORTS  # a failed read keeps the default


async def test_changes_need_an_idempotency_key_and_a_token(setup: Setup) -> None:
    async with httpx.AsyncClient(base_url=setup.url) as client:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        missing = await client.post("/orders/100001/cancel", json={}, headers=auth)
        assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
        no_token = await client.get("/orders/100001")
        assert no_token.status_code == 401 and no_token.json()["error"] == "unauthorized"
        refused = await client.post("/orders/100006/cancel", json={},
                                    headers=auth | {"Idempotency-Key": "x1"})
        assert refused.status_code == 409
        assert refused.json() | {"message": ""} == {
            "error": "refused", "message": "", "reason": "already_shipped"}
    assert await setup.changes_made() == 0


def test_the_published_contract_is_generated_from_the_wire_models() -> None:
    assert CONTRACT_FILE.read_text(encoding="utf-8") == render(), (
        "regenerate: python -m orders.http_contract > docs/order-api.openapi.json"
    )
    contract = json.loads(CONTRACT_FILE.read_text(encoding="utf-8"))
    assert set(contract["paths"]) == {
        "/capabilities", "/orders/{number}", "/orders/search", "/orders/{number}/cancel",
        "/orders/{number}/returns", "/orders/{number}/replacements", "/orders/{number}/delivery",
        "/orders/{number}/exchanges", "/orders/{number}/lines/{line_id}/variants",
    }


async def test_an_answer_about_another_order_is_not_believed(setup: Setup) -> None:
    other = await setup.shop.get_order("100006")
    assert other is not None

    async def answer_with_another_order(scope: Scope, receive: Receive, send: Send) -> None:
        await _send(send, 200, other.model_dump_json().encode())

    async with serving(answer_with_another_order, lifespan="off") as (url, _server), \
            httpx.AsyncClient(timeout=TIMEOUT) as client:
        backend = HttpBackend(client, url, TOKEN)
        with pytest.raises(BackendUnavailable):
            await backend.get_order("100001")
        with pytest.raises(BackendUnavailable):
            await backend.cancel("100001", idempotency_key="c1")


async def test_the_reference_shop_command_needs_a_token() -> None:
    assert await serve(Settings(order_api_token=None), "127.0.0.1", 0) == 2


# ---- exchange for another variant ---------------------------------------------------------------


async def test_variants_and_an_exchange_over_the_wire(setup: Setup) -> None:
    variants = await setup.backend.variants("100038", "1")
    assert [(v.title, str(v.unit_price), v.in_stock) for v in variants] == [
        ("Indigo, S", "1149.00", True), ("Indigo, L", "1499.00", True),
        ("Indigo, XL", "1499.00", False), ("Maroon, M", "1299.00", True)]
    outcome = await setup.backend.exchange("100038", "1", 1, "SKU-APP-KUR-IND-L",
                                           idempotency_key="ex-1")
    again = await setup.backend.exchange("100038", "1", 1, "SKU-APP-KUR-IND-L",
                                         idempotency_key="ex-1")
    assert outcome.reference == again.reference == "X-100038-1"
    [made] = outcome.order.replacements
    assert made.new_variant == "Indigo, L" and made.price_difference == 200
    assert await setup.changes_made() == 1


async def test_an_exchange_the_shop_refuses_changes_nothing(setup: Setup) -> None:
    with pytest.raises(ActionRefused):  # XL is out of stock
        await setup.backend.exchange("100038", "1", 1, "SKU-APP-KUR-IND-XL",
                                     idempotency_key="ex-xl")
    with pytest.raises(ActionRefused):  # an item with no variants
        await setup.backend.exchange("100008", "1", 1, "SKU-APP-KUR-IND-L",
                                     idempotency_key="ex-other")
    assert await setup.changes_made() == 0


async def test_a_line_without_variants_and_an_unknown_line_have_none(setup: Setup) -> None:
    assert await setup.backend.variants("100008", "1") == []
    assert await setup.backend.variants("100038", "9") == []  # 404 from the shop


async def test_a_shop_that_does_not_declare_exchanges_is_not_asked_for_one(
    redis: aioredis.Redis, db: Database,
) -> None:
    async for opened in _setup(redis, db, supports=CHANGES - {Action.EXCHANGE}):
        await opened.backend.get_order("100038")  # reads the capabilities alongside
        assert Action.EXCHANGE not in opened.backend.supports
        chat = opened.chat()
        await open_order(chat, "Return or replace", ("100038", "nisha.rao@example.in"))
        assert "Exchange for another size or colour" not in chat.labels
