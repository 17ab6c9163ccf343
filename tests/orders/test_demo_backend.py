"""The demo shop in a real Redis: loading, lookups, changes, idempotency, races."""

from __future__ import annotations

import asyncio
import socket
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from orders.backend import ActionOutcome, ActionRefused, BackendUnavailable
from orders.demo import DemoBackend
from orders.loading import DEMO_ORDERS_FILE, load_order_file
from orders.models import (
    Address,
    Order,
    OrderStatus,
    PaymentMethod,
    RefundCause,
    RefundStatus,
    ReplacementStatus,
    ReturnLine,
    ReturnReason,
    ReturnStatus,
)
from orders.policy import CHANGES, Policy

IST = ZoneInfo("Asia/Kolkata")
NOW = datetime(2026, 2, 10, 15, 0, tzinfo=IST)
POLICY = Policy(timezone="Asia/Kolkata")
PRIYA = "+919812345678"


@pytest.fixture(scope="module")
def sample() -> list[Order]:
    return load_order_file(DEMO_ORDERS_FILE, NOW)


@pytest.fixture
async def shop(redis: aioredis.Redis, sample: list[Order]) -> DemoBackend:
    backend = DemoBackend(redis, clock=lambda: NOW, policy=POLICY)
    assert await backend.load(sample)
    return backend


async def must_get(shop: DemoBackend, number: str) -> Order:
    order = await shop.get_order(number)
    assert order is not None
    return order


def line(quantity: int = 1, line_id: str = "1") -> list[ReturnLine]:
    return [ReturnLine(line_id=line_id, quantity=quantity, reason=ReturnReason.DAMAGED)]


# --- loading ---------------------------------------------------------------------------


async def test_loads_once_so_a_restart_keeps_changes(
    redis: aioredis.Redis, shop: DemoBackend, sample: list[Order]
) -> None:
    await shop.cancel("100001", idempotency_key="k1")
    restarted = DemoBackend(redis, clock=lambda: NOW, policy=POLICY)
    assert await restarted.load(sample) is False
    assert (await must_get(restarted, "100001")).status is OrderStatus.CANCELLED
    assert await redis.exists("ohb:order:{100001}")  # one hash tag per order

    assert await restarted.load(sample, replace=True) is True
    assert (await must_get(restarted, "100001")).status is OrderStatus.PLACED
    again = await restarted.cancel("100001", idempotency_key="k1")  # old key forgotten
    assert again.order.status is OrderStatus.CANCELLED
    assert len(again.order.refunds) == 1


async def test_prefix_keeps_two_shops_apart(redis: aioredis.Redis, sample: list[Order]) -> None:
    one = DemoBackend(redis, prefix="a:", clock=lambda: NOW, policy=POLICY)
    two = DemoBackend(redis, prefix="b:", clock=lambda: NOW, policy=POLICY)
    assert await one.load(sample[:3])
    assert await two.load(sample[:1])
    await two.load([], replace=True)
    assert await two.get_order(sample[0].number) is None
    assert await one.get_order(sample[0].number) == sample[0]


# --- lookups ---------------------------------------------------------------------------


async def test_get_order_as_typed(shop: DemoBackend, sample: list[Order]) -> None:
    expected = next(o for o in sample if o.number == "100008")
    for typed in ("100008", "#100008", " 100008 "):
        assert await shop.get_order(typed) == expected
    for wrong in ("999999", "", "100008}", "1000*", "x" * 200):
        assert await shop.get_order(wrong) is None


@pytest.mark.parametrize(
    "typed", ["+919812345678", "+91 98123 45678", "09812345678", "919812345678", "98123-45678"]
)
async def test_find_by_phone_in_any_spelling_newest_first(
    shop: DemoBackend, sample: list[Order], typed: str
) -> None:
    found = await shop.find_orders(phone=typed)
    expected = sorted(
        (o for o in sample if o.customer.phone == PRIYA), key=lambda o: o.placed_at, reverse=True
    )
    assert [o.number for o in found] == [o.number for o in expected]
    assert len(found) >= 4
    assert found[0].placed_at > found[-1].placed_at


async def test_find_by_email_ignores_case_and_spaces(shop: DemoBackend) -> None:
    stored_in_capitals = await shop.find_orders(email="rahul.verma@example.com")
    assert {o.customer.name for o in stored_in_capitals} == {"Rahul Verma"}
    assert len(stored_in_capitals) >= 2
    shouted = await shop.find_orders(email="  PRIYA.SHARMA@Example.IN ")
    assert shouted == await shop.find_orders(phone=PRIYA)


async def test_find_needs_every_given_identifier_to_match(shop: DemoBackend) -> None:
    assert await shop.find_orders(phone=PRIYA, email="rahul.verma@example.com") == []
    both = await shop.find_orders(phone=PRIYA, email="priya.sharma@example.in")
    assert both == await shop.find_orders(phone=PRIYA)
    assert await shop.find_orders(phone="not a phone") == []
    assert await shop.find_orders(phone="+919000000001") == []
    assert await shop.find_orders(email=" ") == []
    assert await shop.find_orders() == []


# --- changes ---------------------------------------------------------------------------


async def test_cancel_prepaid_starts_a_refund_to_the_original_method(shop: DemoBackend) -> None:
    before = await must_get(shop, "100001")
    assert before.payment.method is PaymentMethod.UPI
    outcome = await shop.cancel("100001", idempotency_key="tap-1")
    order = outcome.order
    assert order.status is OrderStatus.CANCELLED
    assert order.cancelled_at == NOW
    [refund] = order.refunds
    assert refund.cause is RefundCause.CANCELLATION
    assert refund.status is RefundStatus.PROCESSING
    assert refund.amount == before.payment.amount
    assert refund.method is PaymentMethod.UPI
    assert refund.expected_by == date(2026, 2, 17)
    assert outcome.reference == refund.refund_id
    assert await shop.get_order("100001") == order


async def test_cancel_cod_has_nothing_to_refund(shop: DemoBackend) -> None:
    outcome = await shop.cancel("100002", idempotency_key="tap-1")
    assert outcome.order.status is OrderStatus.CANCELLED
    assert outcome.order.payment.method is PaymentMethod.COD
    assert outcome.order.refunds == []
    assert outcome.reference is None


@pytest.mark.parametrize(
    "number",
    ["100004", "100006", "100007", "100008", "100014", "100017"],
    ids=["shipped", "out-for-delivery", "ready-for-pickup", "delivered", "cancelled", "failed"],
)
async def test_shop_refuses_cancel_it_cannot_honour(shop: DemoBackend, number: str) -> None:
    before = await must_get(shop, number)
    with pytest.raises(ActionRefused, match=number):
        await shop.cancel(number, idempotency_key="tap-1")
    assert await shop.get_order(number) == before


async def test_unknown_order_is_refused(shop: DemoBackend) -> None:
    with pytest.raises(ActionRefused):
        await shop.cancel("999999", idempotency_key="k")
    with pytest.raises(ActionRefused):
        await shop.cancel("1}{2", idempotency_key="k")


async def test_same_key_is_one_change_with_the_first_outcome(
    redis: aioredis.Redis, shop: DemoBackend
) -> None:
    first = await shop.start_return("100008", line(1), idempotency_key="ret-1")
    second = await shop.start_return("100008", line(1), idempotency_key="ret-1")
    assert first == second
    assert first.reference == "R-100008-1"
    stored = await must_get(shop, "100008")
    assert [r.return_id for r in stored.returns] == ["R-100008-1"]
    ttl = await redis.ttl("ohb:idem:{100008}:ret-1")
    assert 0 < ttl <= timedelta(days=7).total_seconds()

    cancel = await shop.cancel("100001", idempotency_key="c")
    assert await shop.cancel("100001", idempotency_key="c") == cancel
    assert len((await must_get(shop, "100001")).refunds) == 1
    with pytest.raises(ActionRefused, match="already_cancelled"):
        await shop.cancel("100001", idempotency_key="another tap")


async def test_key_reused_for_a_different_change_is_refused(shop: DemoBackend) -> None:
    await shop.start_return("100008", line(1), idempotency_key="k")
    with pytest.raises(ActionRefused, match="different change"):
        await shop.start_return("100008", line(2), idempotency_key="k")
    assert len((await must_get(shop, "100008")).returns) == 1


async def test_return_starts_requested_without_a_refund(shop: DemoBackend) -> None:
    outcome = await shop.start_return("100008", line(2), idempotency_key="k")
    [created] = outcome.order.returns
    assert created.status is ReturnStatus.REQUESTED
    assert created.created_at == NOW
    assert created.refund_id is None
    assert outcome.order.refunds == []
    with pytest.raises(ActionRefused, match="nothing_left_to_return"):
        await shop.start_return("100008", line(1), idempotency_key="k2")


@pytest.mark.parametrize(
    ("number", "lines", "why"),
    [
        ("100009", line(1), "window_closed"),
        ("100034", line(1), "window_closed"),
        ("100025", line(1), "not_returnable"),
        ("100006", line(1), "not_delivered"),
        ("100008", line(3), "quantity_too_high"),
        ("100008", [*line(2), *line(1)], "quantity_too_high"),
        ("100008", line(1, "7"), "unknown_item"),
        ("100008", [], "at least one line"),
    ],
)
async def test_shop_refuses_returns_it_cannot_take(
    shop: DemoBackend, number: str, lines: list[ReturnLine], why: str
) -> None:
    before = await must_get(shop, number)
    with pytest.raises(ActionRefused, match=why):
        await shop.start_return(number, lines, idempotency_key="k")
    assert await shop.get_order(number) == before


async def test_last_day_return_is_accepted(shop: DemoBackend) -> None:
    outcome = await shop.start_return("100010", line(1), idempotency_key="k")
    assert outcome.reference == "R-100010-1"


async def test_replacement(shop: DemoBackend) -> None:
    with pytest.raises(ActionRefused, match="quantity"):
        await shop.replace("100008", "1", 9, ReturnReason.DAMAGED, idempotency_key="q")
    outcome = await shop.replace("100008", "1", 1, ReturnReason.DAMAGED, idempotency_key="k")
    [made] = outcome.order.replacements
    assert (made.replacement_id, made.status, made.quantity) == (
        "X-100008-1",
        ReplacementStatus.REQUESTED,
        1,
    )
    assert outcome.reference == "X-100008-1"
    with pytest.raises(ActionRefused, match="out_of_stock"):
        await shop.replace("100026", "1", 1, ReturnReason.DEFECTIVE, idempotency_key="k")
    with pytest.raises(ActionRefused, match="reason_not_covered"):
        await shop.replace("100008", "2", 1, ReturnReason.ORDERED_BY_MISTAKE, idempotency_key="o")
    with pytest.raises(ActionRefused, match="already_replaced"):  # one per item
        await shop.replace("100008", "1", 1, ReturnReason.DEFECTIVE, idempotency_key="again")


async def test_change_delivery_before_shipping_only(shop: DemoBackend) -> None:
    new_day = date(2026, 2, 14)
    dated = await shop.change_delivery("100001", delivery_date=new_day, idempotency_key="d")
    assert dated.order.requested_delivery_date == new_day
    assert dated.order.shipping_address == (await must_get(shop, "100001")).shipping_address

    home = Address(
        name="Deepak Kumar",
        line1="12 Fraser Road",
        city="Patna",
        postal_code="800001",
        country="IN",
    )
    moved = await shop.change_delivery("100036", address=home, idempotency_key="a")
    assert (await must_get(shop, "100036")).shipping_address == home == moved.order.shipping_address

    for number, kwargs, why in [
        ("100001", {"delivery_date": date(2026, 2, 10)}, "after today"),
        ("100001", {}, "nothing to change"),
        ("100007", {"address": home}, "pickup_order"),
        ("100004", {"address": home}, "already_shipped"),
    ]:
        with pytest.raises(ActionRefused, match=why):
            await shop.change_delivery(number, idempotency_key=f"x-{why}", **kwargs)  # type: ignore[arg-type]


async def test_supports_every_change(shop: DemoBackend) -> None:
    assert shop.supports == CHANGES


# --- races -----------------------------------------------------------------------------


async def settle(calls: list[object]) -> tuple[list[ActionOutcome], list[BaseException]]:
    results = await asyncio.gather(*calls, return_exceptions=True)  # type: ignore[call-overload]
    done = [r for r in results if isinstance(r, ActionOutcome)]
    failed = [r for r in results if isinstance(r, BaseException)]
    return done, failed


async def test_concurrent_returns_never_exceed_the_quantity(shop: DemoBackend) -> None:
    before = await must_get(shop, "100027")  # 3 bought, 1 already returned
    assert before.items[0].quantity - before.returned_quantity("1") == 2
    done, failed = await settle(
        [shop.start_return("100027", line(1), idempotency_key=f"k{i}") for i in range(20)]
    )
    assert len(done) == 2
    assert len(failed) == 18
    assert all(isinstance(e, ActionRefused) for e in failed)
    after = await must_get(shop, "100027")
    assert after.returned_quantity("1") == 3
    assert sorted(o.reference or "" for o in done) == ["R-100027-2", "R-100027-3"]


async def test_concurrent_cancels_cancel_and_refund_once(shop: DemoBackend) -> None:
    done, failed = await settle(
        [shop.cancel("100001", idempotency_key=f"tap-{i}") for i in range(20)]
    )
    assert len(done) == 1
    assert all(isinstance(e, ActionRefused) for e in failed)
    assert len((await must_get(shop, "100001")).refunds) == 1


async def test_concurrent_repeats_of_one_key_agree(shop: DemoBackend) -> None:
    done, failed = await settle(
        [
            shop.replace("100008", "1", 1, ReturnReason.DAMAGED, idempotency_key="same")
            for _ in range(20)
        ]
    )
    assert failed == []
    assert {o.reference for o in done} == {"X-100008-1"}
    assert len((await must_get(shop, "100008")).replacements) == 1


async def test_cancel_racing_a_delivery_change_stays_consistent(shop: DemoBackend) -> None:
    calls: list[object] = []
    for i in range(10):
        calls.append(shop.cancel("100036", idempotency_key=f"c{i}"))
        calls.append(
            shop.change_delivery(
                "100036", delivery_date=date(2026, 2, 20 + i % 5), idempotency_key=f"d{i}"
            )
        )
    done, failed = await settle(calls)
    assert len(done) + len(failed) == 20
    final = await must_get(shop, "100036")
    assert final.status is OrderStatus.CANCELLED
    # every delivery change that succeeded happened before the one cancellation
    assert sum(1 for o in done if o.order.status is OrderStatus.CANCELLED) == 1


# --- Redis trouble ---------------------------------------------------------------------


async def test_survives_a_reconnect(
    redis_url: str, shop: DemoBackend, redis: aioredis.Redis
) -> None:
    assert await shop.get_order("100001") is not None
    killer = aioredis.Redis.from_url(redis_url)
    try:
        killed = await killer.client_kill_filter(_type="normal", skipme=True)
        assert killed >= 1
    finally:
        await killer.aclose()
    assert await shop.get_order("100001") is not None
    outcome = await shop.cancel("100001", idempotency_key="after-reconnect")
    assert outcome.order.status is OrderStatus.CANCELLED


async def test_unreachable_redis_is_backend_unavailable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # no client-side retries, so the test is quick; the backend still tries 3 times
    client = aioredis.Redis(
        host="127.0.0.1", port=port, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)
    )
    shop = DemoBackend(client, clock=lambda: NOW)
    try:
        with pytest.raises(BackendUnavailable):
            await shop.get_order("100001")
        with pytest.raises(BackendUnavailable):
            await shop.find_orders(phone=PRIYA)
        with pytest.raises(BackendUnavailable):
            await shop.cancel("100001", idempotency_key="k")
        with pytest.raises(BackendUnavailable):
            await shop.load([])
    finally:
        await client.aclose()
