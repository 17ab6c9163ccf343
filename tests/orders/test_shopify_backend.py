"""The Shopify back-end against a fake store on a real local server
(`tests/fakes/shopify.py`): reading Shopify's orders into ours, lookups, cancel and
returns with their idempotency marks, and every way the API can fail."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from orders.backend import ActionRefused, BackendUnavailable
from orders.eligibility import local_date
from orders.loading import DEMO_ORDERS_FILE, load_order_file
from orders.models import (
    Address,
    Fulfilment,
    Order,
    OrderStatus,
    PackageStatus,
    PaymentMethod,
    PaymentStatus,
    RefundCause,
    RefundStatus,
    ReturnLine,
    ReturnReason,
    ReturnStatus,
)
from orders.policy import Action, Policy
from orders.shopify import ShopifyBackend
from orders.tracking import CarrierUpdate
from tests.fakes.shopify import FakeShopify
from tests.live import free_socket, serving, url_of

NOW = datetime(2026, 11, 17, 5, 30, tzinfo=UTC)
POLICY = Policy(timezone="Asia/Kolkata")
PRIYA = ("+919812345678", "priya.sharma@example.in")
Shop = tuple[FakeShopify, ShopifyBackend]
Open = Callable[..., AbstractAsyncContextManager[Shop]]


@pytest.fixture(scope="module")
def demo_orders() -> list[Order]:
    return load_order_file(DEMO_ORDERS_FILE, NOW)


@pytest.fixture
def open_shop(demo_orders: list[Order]) -> Open:
    """A fresh fake store and a back-end on it; `client_timeout` is the client's, the rest
    go to `ShopifyBackend` (waits are short, so the tests are quick)."""

    @asynccontextmanager
    async def opened(client_timeout: float = 5.0, **options: object) -> AsyncIterator[Shop]:
        fake = FakeShopify(demo_orders, clock=lambda: NOW)
        settings: dict[str, object] = {
            "retry_delay": 0.01, "max_wait": 0.01, "poll_interval": 0.01, "cancel_wait": 2.0,
        } | options
        async with serving(fake.app(), lifespan="off") as (url, _), httpx.AsyncClient(
            timeout=httpx.Timeout(client_timeout)
        ) as client:
            backend = ShopifyBackend(client, url, fake.token, api_version="2025-10",
                                     policy=POLICY, clock=lambda: NOW, **settings)  # type: ignore[arg-type]
            yield fake, backend

    return opened


@pytest.fixture
async def shop(open_shop: Open) -> AsyncIterator[Shop]:
    async with open_shop() as opened:
        yield opened


async def must_get(backend: ShopifyBackend, number: str) -> Order:
    order = await backend.get_order(number)
    assert order is not None
    return order


# --- reading Shopify's orders --------------------------------------------------------


async def test_every_demo_order_reads_back_as_itself(
    shop: Shop, demo_orders: list[Order]
) -> None:
    """All that Shopify can hold comes back unchanged; what it cannot is listed."""
    _, backend = shop
    in_transit = {PackageStatus.AT_COURIER_FACILITY, PackageStatus.AT_SORT_CENTRE,
                  PackageStatus.AT_DELIVERY_STATION}
    for want in demo_orders:
        got = await must_get(backend, want.number)
        for field in ("number", "placed_at", "status", "customer", "currency",
                      "shipping_fee", "payment", "fulfilment", "shipping_address",
                      "pickup_store", "cancelled_at"):
            assert getattr(got, field) == getattr(want, field), (want.number, field)
        # a product is Shopify's own id, and its variants are read live, not with the order
        assert [i.model_copy(update={"product_id": None, "variants": []}) for i in got.items] == [
            i.model_copy(update={"product_id": None, "variants": []}) for i in want.items]
        assert [i.product_id is None for i in got.items] == [
            i.product_id is None for i in want.items], want.number
        shipped = [p for p in want.packages if p.status is not PackageStatus.AT_WAREHOUSE
                   or want.status not in (OrderStatus.CANCELLED, OrderStatus.PAYMENT_FAILED)]
        assert len(got.packages) == len(shipped), want.number
        for mine, theirs in zip(shipped, got.packages, strict=True):
            # Shopify has one "in transit": facility, sort centre, station read as sort centre
            fold = PackageStatus.AT_SORT_CENTRE if mine.status in in_transit - {
                PackageStatus.AT_COURIER_FACILITY} else mine.status
            assert theirs.status is fold, want.number
            assert (theirs.line_ids, theirs.estimated_delivery) == (
                mine.line_ids, mine.estimated_delivery), want.number
            if mine.status is PackageStatus.AT_WAREHOUSE:
                continue  # a fulfilment order: no carrier or events until it ships
            assert (theirs.line_ids, theirs.carrier, theirs.tracking_number,
                    theirs.tracking_url, theirs.estimated_delivery, theirs.delivered_at) == (
                mine.line_ids, mine.carrier, mine.tracking_number, mine.tracking_url,
                mine.estimated_delivery, mine.delivered_at), want.number
            assert [e.at for e in theirs.events] == [e.at for e in mine.events]
            assert [e.location for e in theirs.events] == [e.location for e in mine.events]
        assert [(r.cause, r.amount, r.method, r.status, r.initiated_at, r.completed_at)
                for r in got.refunds] == [
            (r.cause, r.amount, r.method, r.status, r.initiated_at, r.completed_at)
            for r in want.refunds], want.number
        for r in got.refunds:  # Shopify has no expected date: ours is an estimate
            assert (r.expected_by is None) is (r.status is RefundStatus.COMPLETED)
        assert got.replacements == []  # Shopify has none
        assert len(got.returns) == len(want.returns), want.number


async def test_processing_refund_is_expected_seven_days_after_it_started(shop: Shop) -> None:
    _, backend = shop
    order = await must_get(backend, "100014")
    [refund] = order.refunds
    assert refund.status is RefundStatus.PROCESSING and refund.method is PaymentMethod.CARD
    assert refund.initiated_at is not None
    assert refund.expected_by == local_date(refund.initiated_at, POLICY) + timedelta(days=7)


async def test_tracking_pickup_and_pickup_point(shop: Shop) -> None:
    _, backend = shop
    out = await must_get(backend, "100006")
    [package] = out.packages
    assert package.status is PackageStatus.OUT_FOR_DELIVERY and package.carrier == "Ekart"
    assert package.tracking_url and package.tracking_url.startswith("https://")
    assert package.events[-1].status is PackageStatus.OUT_FOR_DELIVERY
    pickup = await must_get(backend, "100007")
    assert pickup.fulfilment is Fulfilment.STORE_PICKUP
    assert pickup.pickup_store and "Koramangala" in pickup.pickup_store
    assert pickup.packages[0].status is PackageStatus.READY_FOR_PICKUP
    point = await must_get(backend, "100032")
    assert point.fulfilment is Fulfilment.SHIP_TO_STORE and point.shipping_address is None
    lost = await must_get(backend, "100035")
    assert lost.packages[0].status is PackageStatus.LOST
    assert lost.packages[0].events[-1].status is None  # Shopify's FAILURE, in its words
    assert lost.packages[0].events[-1].carrier_status


async def test_payment_states(shop: Shop) -> None:
    _, backend = shop
    failed = await must_get(backend, "100017")
    assert failed.status is OrderStatus.PAYMENT_FAILED and failed.packages == []
    assert failed.payment.status is PaymentStatus.FAILED
    cod = await must_get(backend, "100010")
    assert (cod.payment.method, cod.payment.status) == (PaymentMethod.COD,
                                                        PaymentStatus.COLLECTED)
    assert (await must_get(backend, "100007")).payment.method is PaymentMethod.GIFT_CARD


async def test_order_by_name_exact_only(shop: Shop) -> None:
    fake, backend = shop
    assert (await must_get(backend, "#100001")).number == "100001"
    assert (await must_get(backend, " 100001 ")).number == "100001"
    assert await backend.get_order("10000") is None  # Shopify's search matches 100001...
    assert await backend.get_order("999999") is None
    before = len(fake.calls)
    assert await backend.get_order("100001 OR name:*") is None
    assert await backend.get_order("") is None
    assert len(fake.calls) == before  # never sent


async def test_a_shoppers_orders_by_phone_or_email(shop: Shop) -> None:
    fake, backend = shop
    by_phone = await backend.find_orders(phone="098123 45678")
    by_email = await backend.find_orders(email="  Priya.Sharma@EXAMPLE.in ")
    numbers = [o.number for o in by_phone]
    assert numbers == [o.number for o in by_email]
    assert set(numbers) == {"100001", "100008", "100014", "100018", "100037"}
    assert [o.placed_at for o in by_phone] == sorted((o.placed_at for o in by_phone),
                                                     reverse=True)
    assert await backend.find_orders(phone=PRIYA[0], email=PRIYA[1]) != []
    assert await backend.find_orders(phone=PRIYA[0], email="vikram.singh@example.com") == []
    assert await backend.find_orders(phone="+919000000001") == []
    before = len(fake.calls)
    assert await backend.find_orders(email='x" OR email:*') == []
    assert await backend.find_orders(phone="not a phone") == []
    assert await backend.find_orders() == []
    assert len(fake.calls) == before


async def test_supports_cancel_return_and_exchange_only(shop: Shop) -> None:
    _, backend = shop
    assert backend.supports == frozenset({Action.CANCEL, Action.RETURN, Action.EXCHANGE})
    with pytest.raises(ActionRefused):
        await backend.replace("100008", "1", 1, ReturnReason.DAMAGED, idempotency_key="k")
    update = CarrierUpdate(provider="generic", event_id="e1", order_number="100006",
                           status=PackageStatus.DELIVERED, carrier_status="Delivered", at=NOW)
    assert await backend.record_tracking(update) is None


# --- cancel ------------------------------------------------------------------------


async def test_cancel_prepaid_refunds_to_upi_and_is_tagged(shop: Shop) -> None:
    fake, backend = shop
    outcome = await backend.cancel("100001", idempotency_key="key-1")
    order = outcome.order
    assert order.status is OrderStatus.CANCELLED and order.cancelled_at == NOW
    [refund] = order.refunds
    assert (refund.cause, refund.method, refund.status) == (
        RefundCause.CANCELLATION, PaymentMethod.UPI, RefundStatus.PROCESSING)
    assert refund.amount == order.payment.amount and refund.expected_by is not None
    assert outcome.reference == refund.refund_id
    assert fake.changes == ["tagsAdd", "orderCancel"]
    assert [t for t in fake.order("100001")["tags"] if t.startswith("order-help-cancel-")]
    assert "CancelJob" in fake.calls


async def test_cancel_again_with_the_same_key_is_the_first_outcome(shop: Shop) -> None:
    fake, backend = shop
    first = await backend.cancel("100001", idempotency_key="key-1")
    again = await backend.cancel("#100001", idempotency_key="key-1")
    assert again == first
    assert fake.changes == ["tagsAdd", "orderCancel"]
    with pytest.raises(ActionRefused, match="already_cancelled"):
        await backend.cancel("100001", idempotency_key="another tap")
    assert fake.changes == ["tagsAdd", "orderCancel"]


async def test_cancel_cash_on_delivery_has_nothing_to_refund(shop: Shop) -> None:
    _, backend = shop
    outcome = await backend.cancel("100002", idempotency_key="k")
    assert outcome.order.status is OrderStatus.CANCELLED
    assert outcome.reference is None and outcome.order.refunds == []
    assert outcome.order.payment.status is PaymentStatus.DUE_ON_DELIVERY


@pytest.mark.parametrize("number", ["100003", "100014", "100017", "nope"])
async def test_cancel_refused_before_any_change(shop: Shop, number: str) -> None:
    fake, backend = shop
    with pytest.raises(ActionRefused):
        await backend.cancel(number, idempotency_key="k")
    assert fake.changes == []


async def test_cancel_waits_for_shopifys_job(open_shop: Open) -> None:
    async with open_shop() as (fake, backend):
        fake.cancel_lag_polls = 3
        outcome = await backend.cancel("100001", idempotency_key="k")
        assert outcome.order.status is OrderStatus.CANCELLED
        assert fake.calls.count("CancelJob") == 4


async def test_cancel_not_confirmed_in_time_is_not_reported_done(open_shop: Open) -> None:
    async with open_shop(cancel_wait=0.05) as (fake, backend):
        fake.cancel_lag_polls = 10_000
        with pytest.raises(BackendUnavailable, match="not confirmed"):
            await backend.cancel("100001", idempotency_key="k")
        fake.run_jobs()  # Shopify catches up; the shopper asks again
        outcome = await backend.cancel("100001", idempotency_key="k")
        assert outcome.order.status is OrderStatus.CANCELLED
        assert fake.changes.count("orderCancel") == 1


async def test_slow_cancel_times_out_and_asking_again_does_not_cancel_twice(
    open_shop: Open,
) -> None:
    async with open_shop(client_timeout=0.5) as (fake, backend):
        fake.slow_seconds = 1.5
        fake.fail("OrderCancel", "slow")
        with pytest.raises(BackendUnavailable):
            await backend.cancel("100001", idempotency_key="k")
        assert fake.calls.count("OrderCancel") == 1  # a change is never resent
        outcome = await backend.cancel("100001", idempotency_key="k")
        assert outcome.order.status is OrderStatus.CANCELLED
        assert len(outcome.order.refunds) == 1
        assert fake.changes.count("orderCancel") == 1
        assert fake.calls.count("OrderCancel") == 1


@pytest.mark.parametrize("fault", ["500", "429", "throttled", "garbage", "errors"])
async def test_a_failed_cancel_is_unavailable_and_not_retried(shop: Shop, fault: str) -> None:
    fake, backend = shop
    fake.fail("OrderCancel", fault)
    with pytest.raises(BackendUnavailable):
        await backend.cancel("100001", idempotency_key="k")
    assert fake.calls.count("OrderCancel") == 1
    assert (await must_get(backend, "100001")).status is OrderStatus.PLACED
    outcome = await backend.cancel("100001", idempotency_key="k")
    assert outcome.order.status is OrderStatus.CANCELLED


# --- returns -----------------------------------------------------------------------


async def test_return_is_requested_with_our_reason(shop: Shop) -> None:
    fake, backend = shop
    lines = [ReturnLine(line_id="1", quantity=1, reason=ReturnReason.DAMAGED)]
    outcome = await backend.start_return("100008", lines, idempotency_key="r-1")
    assert outcome.reference == "100008-R1"
    [ret] = outcome.order.returns
    assert (ret.return_id, ret.status, ret.lines) == ("100008-R1", ReturnStatus.REQUESTED, lines)
    [item] = fake.order("100008")["returns"]["nodes"][0]["returnLineItems"]["nodes"]
    assert item["returnReason"] == "DEFECTIVE"  # Shopify's list has no "damaged"
    assert "DAMAGED" in item["customerNote"]


async def test_return_again_with_the_same_key_is_one_return(shop: Shop) -> None:
    fake, backend = shop
    lines = [ReturnLine(line_id="1", quantity=1, reason=ReturnReason.WRONG_ITEM)]
    first = await backend.start_return("100008", lines, idempotency_key="r-1")
    again = await backend.start_return("100008", lines, idempotency_key="r-1")
    assert again.reference == first.reference and len(again.order.returns) == 1
    assert fake.changes == ["returnRequest"]
    other = [ReturnLine(line_id="1", quantity=2, reason=ReturnReason.WRONG_ITEM)]
    with pytest.raises(ActionRefused, match="reused"):
        await backend.start_return("100008", other, idempotency_key="r-1")
    second = await backend.start_return("100008", lines, idempotency_key="r-2")
    assert second.reference == "100008-R2"


@pytest.mark.parametrize(("number", "line_id"), [
    ("100009", "1"),  # the window has closed
    ("100025", "1"),  # tagged final-sale
    ("100006", "1"),  # not delivered yet
])
async def test_return_refused_before_any_change(shop: Shop, number: str, line_id: str) -> None:
    fake, backend = shop
    lines = [ReturnLine(line_id=line_id, quantity=1, reason=ReturnReason.OTHER)]
    with pytest.raises(ActionRefused):
        await backend.start_return(number, lines, idempotency_key="k")
    assert fake.changes == []


async def test_shopify_refusing_a_change_is_refused(shop: Shop) -> None:
    fake, backend = shop
    fake.fail("ReturnRequest", "refuse")
    lines = [ReturnLine(line_id="1", quantity=1, reason=ReturnReason.OTHER)]
    with pytest.raises(ActionRefused, match="shop's rules"):
        await backend.start_return("100008", lines, idempotency_key="k")
    fake.fail("OrderCancel", "refuse")
    with pytest.raises(ActionRefused, match="shop's rules"):
        await backend.cancel("100001", idempotency_key="k")
    assert fake.changes == ["tagsAdd"]  # the mark alone: the order is as it was
    assert (await must_get(backend, "100001")).status is OrderStatus.PLACED
    assert (await must_get(backend, "100008")).returns == []


async def test_more_units_than_were_fulfilled_are_refused(shop: Shop) -> None:
    fake, backend = shop
    fulfilment = fake.order("100008")["fulfillments"][0]
    for item in fulfilment["fulfillmentLineItems"]["nodes"]:
        item["quantity"] = 0  # Shopify counts none of them shipped
    lines = [ReturnLine(line_id="1", quantity=1, reason=ReturnReason.OTHER)]
    with pytest.raises(ActionRefused, match="fulfilled units"):
        await backend.start_return("100008", lines, idempotency_key="k")
    assert fake.changes == []


# --- delivery changes (carried out when staff approve a request) ---------------------


async def test_address_change_keeps_the_city_and_is_written_once(shop: Shop) -> None:
    fake, backend = shop
    old = (await must_get(backend, "100001")).shipping_address
    assert old is not None
    new = Address(name=old.name, line1="12 MG Road, flat 4", city="", postal_code="",
                  country="IN")
    outcome = await backend.change_delivery("100001", address=new, idempotency_key="d")
    got = outcome.order.shipping_address
    assert got is not None
    assert (got.line1, got.city, got.postal_code, got.name) == (
        "12 MG Road, flat 4", old.city, old.postal_code, old.name)
    await backend.change_delivery("100001", address=new, idempotency_key="d")
    assert fake.changes == ["orderUpdate"]


async def test_delivery_date_and_shipped_orders_are_refused(shop: Shop) -> None:
    fake, backend = shop
    with pytest.raises(ActionRefused, match="no delivery date"):
        await backend.change_delivery("100001", delivery_date=date(2026, 11, 25),
                                      idempotency_key="d")
    address = Address(name="A", line1="1 Road", city="Pune", postal_code="411001", country="IN")
    with pytest.raises(ActionRefused):
        await backend.change_delivery("100003", address=address, idempotency_key="d")
    assert fake.changes == []


# --- the API failing ----------------------------------------------------------------


@pytest.mark.parametrize("fault", ["500", "429", "throttled", "garbage", "not-graphql",
                                   "no-data", "slow"])
async def test_reads_try_again_after_a_passing_failure(open_shop: Open, fault: str) -> None:
    async with open_shop(client_timeout=0.5) as (fake, backend):
        fake.slow_seconds = 1.0
        fake.fail("OrderById", fault)
        assert (await must_get(backend, "100006")).number == "100006"
        assert fake.calls.count("OrderById") == 2


async def test_reads_give_up_after_three_tries(shop: Shop) -> None:
    fake, backend = shop
    fake.fail("OrdersBySearch", "500", "throttled", "garbage")
    with pytest.raises(BackendUnavailable):
        await backend.get_order("100006")
    assert fake.calls.count("OrdersBySearch") == 3


async def test_graphql_errors_are_not_retried(shop: Shop) -> None:
    fake, backend = shop
    fake.fail("CustomersByPhone", "errors")
    with pytest.raises(BackendUnavailable):
        await backend.find_orders(phone=PRIYA[0])
    assert fake.calls.count("CustomersByPhone") == 1


async def test_an_order_of_unexpected_shape_is_unavailable(shop: Shop) -> None:
    fake, backend = shop
    fake.order("100006")["lineItems"] = "surprise"
    with pytest.raises(BackendUnavailable):
        await backend.get_order("100006")
    fake.order("100008")["createdAt"] = "yesterday"
    with pytest.raises(BackendUnavailable):
        await backend.get_order("100008")


async def test_wrong_token_version_or_host(demo_orders: list[Order]) -> None:
    fake = FakeShopify(demo_orders, clock=lambda: NOW)
    async with serving(fake.app(), lifespan="off") as (url, _), httpx.AsyncClient(
        timeout=2.0
    ) as client:
        for backend in (ShopifyBackend(client, url, "shpat_wrong", policy=POLICY),
                        ShopifyBackend(client, url, fake.token, api_version="2019-04")):
            with pytest.raises(BackendUnavailable, match="HTTP 40"):
                await backend.get_order("100001")
        closed = free_socket()
        gone = url_of(closed)
        closed.close()
        backend = ShopifyBackend(client, gone, fake.token, retry_delay=0.01)
        with pytest.raises(BackendUnavailable, match="network"):
            await backend.get_order("100001")
    assert fake.calls == []


async def test_nothing_personal_or_secret_in_the_logs(
    shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    fake, backend = shop
    caplog.set_level(logging.DEBUG)
    fake.fail("*", "500", "throttled", "errors")
    with pytest.raises(BackendUnavailable):
        await backend.find_orders(email=PRIYA[1])
    await backend.find_orders(phone=PRIYA[0])
    fake.fail("OrderCancel", "errors")
    with pytest.raises(BackendUnavailable):
        await backend.cancel("100001", idempotency_key="k")
    text = caplog.text.casefold()
    assert "shopify" in text  # it did log
    for secret in ("priya", "98123", "45678", "example.in", fake.token.casefold()):
        assert secret not in text


# ---- exchange for another variant --------------------------------------------------------------


async def test_a_line_with_variants_reads_its_product_and_options(shop: Shop) -> None:
    _, backend = shop
    [item] = (await must_get(backend, "100038")).items
    assert item.product_id is not None and item.options == {"size": "M", "colour": "Indigo"}
    variants = await backend.variants("100038", "1")
    assert [(v.title, str(v.unit_price), v.in_stock, v.options) for v in variants] == [
        ("Indigo, S", "1149.00", True, {"size": "S", "colour": "Indigo"}),
        ("Indigo, L", "1499.00", True, {"size": "L", "colour": "Indigo"}),
        ("Indigo, XL", "1499.00", False, {"size": "XL", "colour": "Indigo"}),
        ("Maroon, M", "1299.00", True, {"size": "M", "colour": "Maroon"})]
    assert await backend.variants("100008", "1") == []  # no variants: nothing is read
    assert "ProductVariants" in fake_calls(shop)


def fake_calls(shop: Shop) -> list[str]:
    return shop[0].calls


async def test_an_exchange_is_a_return_with_an_exchange_line_made_once(shop: Shop) -> None:
    fake, backend = shop
    large = next(v for v in await backend.variants("100038", "1") if v.title == "Indigo, L")
    outcome = await backend.exchange("100038", "1", 1, large.variant_id, idempotency_key="x1")
    [made] = outcome.order.replacements
    assert (made.replacement_id, made.new_variant_id, made.new_variant, made.price_difference
            ) == (outcome.reference, large.variant_id, "Indigo, L", 200)
    assert outcome.order.returns == []  # an exchange is not read as a plain return
    [ret] = fake.order("100038")["returns"]["nodes"]
    assert ret["status"] == "OPEN"
    assert ret["exchangeLineItems"]["nodes"][0]["variantId"].endswith(f"/{large.variant_id}")
    again = await backend.exchange("100038", "1", 1, large.variant_id, idempotency_key="x1")
    assert again.reference == outcome.reference and fake.changes == ["returnCreate"]
    with pytest.raises(ActionRefused):  # the same key for another variant
        await backend.exchange("100038", "1", 1, "999", idempotency_key="x1")


async def test_an_exchange_for_a_variant_out_of_stock_or_a_second_one_is_refused(
    shop: Shop,
) -> None:
    fake, backend = shop
    variants = {v.title: v for v in await backend.variants("100038", "1")}
    with pytest.raises(ActionRefused, match="out_of_stock"):
        await backend.exchange("100038", "1", 1, variants["Indigo, XL"].variant_id,
                               idempotency_key="x-xl")
    await backend.exchange("100038", "1", 1, variants["Maroon, M"].variant_id,
                           idempotency_key="x-m")
    with pytest.raises(ActionRefused):  # the unit is under exchange (and one per item)
        await backend.exchange("100038", "1", 1, variants["Indigo, S"].variant_id,
                               idempotency_key="x-s")
    assert fake.changes == ["returnCreate"]


async def test_a_refused_return_create_changes_nothing(shop: Shop) -> None:
    fake, backend = shop
    large = next(v for v in await backend.variants("100038", "1") if v.title == "Indigo, L")
    fake.fail("ReturnCreate", "refuse")
    with pytest.raises(ActionRefused):
        await backend.exchange("100038", "1", 1, large.variant_id, idempotency_key="x2")
    assert (await must_get(backend, "100038")).replacements == []
