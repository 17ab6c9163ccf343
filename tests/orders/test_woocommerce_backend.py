"""The WooCommerce back-end against a local fake of WooCommerce's REST API v3 and the
Shipment Tracking extension (`tests/fakes/woocommerce.py`), seeded with the demo orders."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import redis.asyncio as aioredis

from orders.backend import ActionRefused, BackendUnavailable
from orders.loading import DEMO_ORDERS_FILE, load_order_file
from orders.models import (
    Address,
    Order,
    OrderStatus,
    PackageStatus,
    PaymentMethod,
    PaymentStatus,
    RefundStatus,
    ReturnLine,
    ReturnReason,
)
from orders.policy import Action, Policy
from orders.tracking import CarrierUpdate
from orders.woocommerce import WooCommerceBackend
from orders.woocommerce_mapping import IDEMPOTENCY_META, TRANSIT_DAYS, meta_value, to_order
from records.db import Database
from tests.fakes.woocommerce import CONSUMER_KEY, CONSUMER_SECRET, FakeWooCommerce
from tests.live import serving

IST = ZoneInfo("Asia/Kolkata")
NOW = datetime(2026, 2, 10, 15, 0, tzinfo=IST)
POLICY = Policy(timezone="Asia/Kolkata")
TIMEOUT = 0.5
"""Client timeout in these tests; a "slow" fake answers after three times that."""


@pytest.fixture(scope="module")
def sample() -> list[Order]:
    return load_order_file(DEMO_ORDERS_FILE, NOW)


@pytest.fixture
def fake(sample: list[Order]) -> FakeWooCommerce:
    return FakeWooCommerce.seeded(sample, now=NOW, slow_seconds=3 * TIMEOUT)


@pytest.fixture
async def shop_url(fake: FakeWooCommerce) -> AsyncIterator[str]:
    async with serving(fake.app(), lifespan="off") as (url, _server):
        yield url


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(TIMEOUT)) as opened:
        yield opened


async def _no_sleep(_seconds: float) -> None:
    return None


def backend_for(client: httpx.AsyncClient, url: str, secret: str = CONSUMER_SECRET,
                **options: Any) -> WooCommerceBackend:
    return WooCommerceBackend(client, url, CONSUMER_KEY, secret, policy=POLICY,
                              clock=lambda: NOW, sleep=_no_sleep, **options)


@pytest.fixture
def shop(client: httpx.AsyncClient, shop_url: str) -> WooCommerceBackend:
    return backend_for(client, shop_url)


async def must_get(shop: WooCommerceBackend, number: str) -> Order:
    order = await shop.get_order(number)
    assert order is not None
    return order


# --- reading ---------------------------------------------------------------------------


def _expected_status(order: Order) -> OrderStatus:
    """What WooCommerce can tell: a paid order that was just placed is "processing"."""
    return OrderStatus.PROCESSING if order.status is OrderStatus.PLACED else order.status


async def test_every_demo_order_reads_back_as_the_shop_holds_it(
    shop: WooCommerceBackend, sample: list[Order], fake: FakeWooCommerce
) -> None:
    for ours in sample:
        woo = await must_get(shop, ours.number)
        assert fake.by_number(ours.number)["id"] != int(ours.number)  # found by number
        assert woo.status is _expected_status(ours), ours.number
        assert woo.customer == ours.customer, ours.number
        assert woo.payment.method is ours.payment.method, ours.number
        assert woo.payment.amount == ours.payment.amount, ours.number
        assert [(i.name, i.sku, i.quantity, i.unit_price) for i in woo.items] == [
            (i.name, i.sku, i.quantity, i.unit_price) for i in ours.items], ours.number
        assert woo.shipping_fee == ours.shipping_fee
        assert woo.fulfilment is ours.fulfilment or ours.fulfilment.value == "ship_to_store"
        assert woo.pickup_store == (ours.pickup_store if woo.pickup_store else None)
        shipped = [p for p in ours.packages if p.status is not PackageStatus.AT_WAREHOUSE]
        if shipped and all(p.tracking_number for p in shipped):
            assert {p.tracking_number for p in woo.packages} == {
                p.tracking_number for p in shipped}, ours.number


async def test_out_for_delivery_is_with_the_courier_with_a_custom_provider_link(
    shop: WooCommerceBackend, sample: list[Order]
) -> None:
    ours = next(o for o in sample if o.number == "100006")
    order = await must_get(shop, "#100006")
    assert order.status is OrderStatus.SHIPPED
    [package] = order.packages
    assert package.status is PackageStatus.AT_COURIER_FACILITY  # no carrier progress in Woo
    assert package.carrier == "Ekart"
    assert package.tracking_url == ours.packages[0].tracking_url
    shipped_on = min(e.at for e in ours.packages[0].events
                     if e.status is not PackageStatus.AT_WAREHOUSE).date()
    assert package.estimated_delivery == shipped_on + timedelta(days=TRANSIT_DAYS)


async def test_a_predefined_provider_gets_its_name_and_link_from_shipment_tracking(
    shop: WooCommerceBackend, fake: FakeWooCommerce
) -> None:
    order = await must_get(shop, "100011")
    delhivery = next(p for p in order.packages if p.tracking_number == "DL7040158380")
    assert delhivery.carrier == "Delhivery"
    assert delhivery.tracking_url == "https://track.example-courier.in/delhivery/DL7040158380"
    assert fake.count("GET", "/shipment-trackings") == 1


async def test_delivered_and_refunds(shop: WooCommerceBackend, sample: list[Order]) -> None:
    delivered = await must_get(shop, "100008")
    ours = next(o for o in sample if o.number == "100008")
    assert delivered.status is OrderStatus.DELIVERED
    assert [p.delivered_at for p in delivered.packages] == [ours.packages[0].delivered_at]

    processing = await must_get(shop, "100014")  # refunded by the gateway two days ago
    assert processing.status is OrderStatus.CANCELLED
    assert processing.payment.status is PaymentStatus.REFUNDED
    [refund] = processing.refunds
    assert refund.status is RefundStatus.PROCESSING and refund.expected_by is not None
    assert refund.amount == Decimal("4999.00") and refund.method is PaymentMethod.CARD

    completed = await must_get(shop, "100015")
    assert [r.status for r in completed.refunds] == [RefundStatus.COMPLETED]


async def test_unknown_and_odd_numbers(shop: WooCommerceBackend, fake: FakeWooCommerce) -> None:
    assert await shop.get_order("999999") is None
    first = str(min(fake.orders))  # an order id is not an order number
    assert await shop.get_order(first) is None
    calls = len(fake.calls)
    assert await shop.get_order("../orders") is None
    assert len(fake.calls) == calls  # not sent


async def test_find_by_email_any_case_newest_first(
    shop: WooCommerceBackend, sample: list[Order]
) -> None:
    found = await shop.find_orders(email="  rahul.verma@EXAMPLE.com ")
    expected = [o for o in sample if o.customer.email.lower() == "rahul.verma@example.com"]
    assert [o.number for o in found] == [
        o.number for o in sorted(expected, key=lambda o: o.placed_at, reverse=True)]


async def test_find_by_phone_as_typed_and_both_must_match(
    shop: WooCommerceBackend, sample: list[Order]
) -> None:
    priya = {o.number for o in sample if o.customer.phone == "+919812345678"}
    assert {o.number for o in await shop.find_orders(phone="098123 45678")} == priya
    assert {o.number for o in await shop.find_orders(
        phone="+91 98123 45678", email="priya.sharma@example.in")} == priya
    assert await shop.find_orders(phone="+919812345678", email="rahul.verma@example.com") == []
    assert await shop.find_orders(phone="12") == []
    assert await shop.find_orders(email=" ") == []
    assert await shop.find_orders() == []


# --- cancelling ------------------------------------------------------------------------


async def test_cancel_prepaid_refunds_through_the_gateway_once(
    shop: WooCommerceBackend, fake: FakeWooCommerce
) -> None:
    outcome = await shop.cancel("100001", idempotency_key="k1")
    assert outcome.order.status is OrderStatus.CANCELLED
    [refund] = outcome.order.refunds
    assert outcome.reference == refund.refund_id
    assert refund.status is RefundStatus.PROCESSING and refund.amount == Decimal("1698.00")
    raw = fake.by_number("100001")
    assert raw["status"] == "cancelled"  # refunded in full (WooCommerce: refunded), cancelled
    [made] = fake.refunds[raw["id"]]
    assert made["refunded_payment"] is True and meta_value(made, IDEMPOTENCY_META) == "k1"

    calls = len(fake.calls)
    again = await shop.cancel("100001", idempotency_key="k1")
    assert again.reference == outcome.reference and again.order == outcome.order
    assert {m for m, _ in fake.calls[calls:]} == {"GET"}  # looked, changed nothing
    with pytest.raises(ActionRefused, match="already_cancelled"):
        await shop.cancel("100001", idempotency_key="k2")
    assert len(fake.refunds[raw["id"]]) == 1


async def test_cancel_cash_on_delivery_refunds_nothing(
    shop: WooCommerceBackend, fake: FakeWooCommerce
) -> None:
    outcome = await shop.cancel("100002", idempotency_key="k1")
    assert outcome.order.status is OrderStatus.CANCELLED and outcome.reference is None
    assert outcome.order.cancelled_at == NOW
    assert fake.by_number("100002")["status"] == "cancelled"
    assert fake.count("POST", "/refunds") == 0


async def test_cancel_refused_once_shipped_or_when_woocommerce_says_no(
    shop: WooCommerceBackend, fake: FakeWooCommerce
) -> None:
    with pytest.raises(ActionRefused, match="already_shipped"):
        await shop.cancel("100006", idempotency_key="k1")
    with pytest.raises(ActionRefused, match="not found"):
        await shop.cancel("999999", idempotency_key="k1")
    raw = fake.by_number("100002")
    fake.script("400", method="PUT")
    with pytest.raises(ActionRefused, match="woocommerce_rest_invalid_order_status"):
        await shop.cancel("100002", idempotency_key="k1")
    assert raw["status"] == "processing" and fake.count("POST", "/refunds") == 0


async def test_a_refunded_order_whose_cancel_is_refused_reads_cancelled_with_a_note(
    shop: WooCommerceBackend, fake: FakeWooCommerce
) -> None:
    raw = fake.by_number("100001")
    fake.script("400", method="PUT")
    outcome = await shop.cancel("100001", idempotency_key="k1")
    assert raw["status"] == "refunded"  # WooCommerce's own rule after a full refund
    assert outcome.order.status is OrderStatus.CANCELLED
    assert outcome.reference == outcome.order.refunds[0].refund_id
    assert "cancel this order by hand" in fake.notes[raw["id"]][0]["note"]


async def test_a_tracking_number_added_in_the_shop_stops_a_cancel(
    shop: WooCommerceBackend, fake: FakeWooCommerce, client: httpx.AsyncClient, shop_url: str
) -> None:
    raw = fake.by_number("100001")
    added = await client.post(
        f"{shop_url}/wp-json/wc-shipment-tracking/v3/orders/{raw['id']}/shipment-trackings",
        auth=(CONSUMER_KEY, CONSUMER_SECRET),
        json={"tracking_provider": "Delhivery", "tracking_number": "DL1", "date_shipped":
              NOW.date().isoformat()})
    assert added.status_code == 201
    order = await must_get(shop, "100001")
    assert order.status is OrderStatus.SHIPPED
    assert order.packages[0].tracking_url == "https://track.example-courier.in/delhivery/DL1"
    with pytest.raises(ActionRefused, match="already_shipped"):
        await shop.cancel("100001", idempotency_key="k1")


async def test_a_cancel_whose_answers_were_lost_reads_cancelled_and_is_finished_once(
    shop: WooCommerceBackend, fake: FakeWooCommerce
) -> None:
    raw = fake.by_number("100001")
    fake.script("slow", method="POST", path="/refunds")  # refunded, the answer comes too late
    with pytest.raises(BackendUnavailable):
        await shop.cancel("100001", idempotency_key="k1")
    assert raw["status"] == "refunded" and len(fake.refunds[raw["id"]]) == 1
    read = await must_get(shop, "100001")  # what the shopper sees next: the truth
    assert read.status is OrderStatus.CANCELLED and len(read.refunds) == 1

    fake.script("slow", method="PUT")  # cancelled, the answer comes too late
    with pytest.raises(BackendUnavailable):
        await shop.cancel("100001", idempotency_key="k1")
    assert raw["status"] == "cancelled"
    assert meta_value(raw, IDEMPOTENCY_META)["k1"]["state"] == "done"

    puts = fake.count("PUT", "")
    outcome = await shop.cancel("100001", idempotency_key="k1")
    assert outcome.order.status is OrderStatus.CANCELLED
    assert outcome.reference == str(fake.refunds[raw["id"]][0]["id"])
    assert fake.count("POST", "/refunds") == 1 and len(fake.refunds[raw["id"]]) == 1
    assert fake.count("PUT", "") == puts  # the key was found: nothing done again


async def test_a_refund_the_gateway_refuses_leaves_a_note_and_claims_no_refund(
    shop: WooCommerceBackend, fake: FakeWooCommerce
) -> None:
    fake.gateway_refunds = False
    outcome = await shop.cancel("100001", idempotency_key="k1")
    assert outcome.order.status is OrderStatus.CANCELLED
    assert outcome.reference is None and outcome.order.refunds == []
    raw = fake.by_number("100001")
    [note] = fake.notes[raw["id"]]
    assert "refund this order by hand" in note["note"] and note["customer_note"] is False
    assert raw["status"] == "cancelled"
    again = await shop.cancel("100001", idempotency_key="k1")
    assert again.reference is None and fake.count("POST", "/refunds") == 1


# --- delivery changes ------------------------------------------------------------------


NEW_ADDRESS = Address(name="Priya Sharma", line1="7, 100 Feet Road", line2="HAL 2nd Stage",
                      city="Bengaluru", region="Karnataka", postal_code="560008", country="IN")


async def test_change_address_while_unshipped_once_per_key(
    shop: WooCommerceBackend, fake: FakeWooCommerce
) -> None:
    outcome = await shop.change_delivery("100001", address=NEW_ADDRESS, idempotency_key="d1")
    assert outcome.order.shipping_address == NEW_ADDRESS and outcome.reference is None
    raw = fake.by_number("100001")
    assert raw["shipping"]["address_1"] == NEW_ADDRESS.line1
    assert raw["shipping"]["first_name"] == "Priya" and raw["shipping"]["last_name"] == "Sharma"
    again = await shop.change_delivery("100001", address=NEW_ADDRESS, idempotency_key="d1")
    assert again.order == outcome.order and fake.count("PUT", f"/orders/{raw['id']}") == 1
    with pytest.raises(ActionRefused, match="already used for delivery"):
        await shop.cancel("100001", idempotency_key="d1")


async def test_change_delivery_day_is_kept_on_the_order_with_a_note(
    shop: WooCommerceBackend, fake: FakeWooCommerce
) -> None:
    day = NOW.date() + timedelta(days=3)
    outcome = await shop.change_delivery("100001", delivery_date=day, idempotency_key="d1")
    assert outcome.order.requested_delivery_date == day
    raw = fake.by_number("100001")
    assert meta_value(raw, "requested_delivery_date") == day.isoformat()
    assert day.isoformat() in fake.notes[raw["id"]][0]["note"]
    with pytest.raises(ActionRefused, match="after today"):
        await shop.change_delivery("100001", delivery_date=NOW.date(), idempotency_key="d2")


async def test_change_delivery_refused_after_shipping_or_for_pickup(
    shop: WooCommerceBackend,
) -> None:
    with pytest.raises(ActionRefused, match="already_shipped"):
        await shop.change_delivery("100006", address=NEW_ADDRESS, idempotency_key="d1")
    with pytest.raises(ActionRefused, match="pickup_order"):
        await shop.change_delivery("100007", address=NEW_ADDRESS, idempotency_key="d1")
    with pytest.raises(ActionRefused, match="nothing to change"):
        await shop.change_delivery("100001", idempotency_key="d1")


async def test_what_woocommerce_cannot_do(shop: WooCommerceBackend, fake: FakeWooCommerce
                                          ) -> None:
    assert shop.supports == frozenset({Action.CANCEL, Action.DELIVERY})
    with pytest.raises(ActionRefused):
        await shop.start_return("100008", [ReturnLine(
            line_id="1", quantity=1, reason=ReturnReason.DAMAGED)], idempotency_key="r1")
    with pytest.raises(ActionRefused):
        await shop.replace("100008", "1", 1, ReturnReason.DAMAGED, idempotency_key="r1")
    update = CarrierUpdate(provider="generic", event_id="e1", order_number="100006",
                           status=PackageStatus.DELIVERED, carrier_status="Delivered",
                           at=NOW)
    assert await shop.record_tracking(update) is None
    assert fake.calls == []


# --- faults ----------------------------------------------------------------------------


async def test_a_read_is_retried_after_a_500(shop: WooCommerceBackend, fake: FakeWooCommerce
                                             ) -> None:
    fake.script("500", method="GET", times=1)
    assert (await must_get(shop, "100006")).number == "100006"
    assert fake.count("GET", "/orders") == 3  # include (500, again), then search


@pytest.mark.parametrize("kind", ["500", "garbage", "slow"])
async def test_a_shop_that_keeps_failing_is_unavailable(
    shop: WooCommerceBackend, fake: FakeWooCommerce, kind: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake.script(kind, times=10)
    with caplog.at_level(logging.WARNING), pytest.raises(BackendUnavailable):
        await shop.find_orders(email="priya.sharma@example.in", phone="+919812345678")
    assert fake.count("GET", "/orders") == 3  # tried three times
    assert "priya" not in caplog.text and "45678" not in caplog.text


async def test_a_malformed_order_is_unavailable(
    shop: WooCommerceBackend, fake: FakeWooCommerce
) -> None:
    fake.by_number("100006")["total"] = "about 3000"
    with pytest.raises(BackendUnavailable, match="malformed"):
        await shop.get_order("100006")


async def test_a_change_is_never_retried(shop: WooCommerceBackend, fake: FakeWooCommerce
                                         ) -> None:
    fake.script("500", method="PUT", times=5)
    with pytest.raises(BackendUnavailable):
        await shop.cancel("100002", idempotency_key="k1")
    assert fake.count("PUT", "") == 1


async def test_wrong_keys_are_unavailable_and_logged_as_wrong_keys(
    client: httpx.AsyncClient, shop_url: str, fake: FakeWooCommerce,
    caplog: pytest.LogCaptureFixture,
) -> None:
    shop = backend_for(client, shop_url, secret="cs_wrong_secret")
    with caplog.at_level(logging.ERROR), pytest.raises(BackendUnavailable):
        await shop.get_order("100006")
    assert "WOOCOMMERCE_CONSUMER_KEY" in caplog.text and "Read/Write" in caplog.text
    assert "cs_wrong_secret" not in caplog.text and CONSUMER_KEY not in caplog.text
    assert fake.calls == []  # refused at the door, not retried into the shop


async def test_an_unreachable_shop_is_unavailable(client: httpx.AsyncClient) -> None:
    from tests.live import free_socket, url_of

    sock = free_socket()  # bound, never listening
    try:
        shop = backend_for(client, url_of(sock))
        with pytest.raises(BackendUnavailable):
            await shop.get_order("100001")
    finally:
        sock.close()


def test_dates_are_read_as_utc(sample: list[Order]) -> None:
    fake = FakeWooCommerce.seeded(sample[:1], now=NOW)
    [raw] = fake.orders.values()
    order = to_order(raw, [], {}, now=NOW, policy=POLICY)
    assert order.placed_at.utcoffset() == timedelta(0)
    assert order.placed_at == sample[0].placed_at


# --- through the real Engine -----------------------------------------------------------


async def test_slow_only_on_the_change_the_shopper_hears_the_truth_and_nothing_is_done_twice(
    shop: WooCommerceBackend, fake: FakeWooCommerce, redis: aioredis.Redis, db: Database
) -> None:
    from tests.contract.shopper import engine_for
    from tests.conversation.chat import Chat

    chat = Chat(engine_for(db, redis, shop, lambda: NOW))
    fake.script("slow", method="POST", path="/refunds")  # refunded; the answer comes late
    await chat.say("hi")
    await chat.tap("Cancel")
    await chat.say("100001")
    await chat.say("priya.sharma@example.in")
    assert chat.keys == ["confirm.cancel"]  # reads are fast
    await chat.tap("Yes, go ahead")
    assert chat.keys == ["shop.unconfirmed"]
    assert "refund of" not in chat.text and "Talk to us" in chat.labels

    await chat.say("cancel 100001")  # asking again: the shop's truth, nothing done again
    assert chat.keys == ["refusal.header"] and "already been cancelled" in chat.text
    assert fake.count("POST", "/refunds") == 1
    assert len(fake.refunds[fake.by_number("100001")["id"]]) == 1
