"""Carrier updates kept beside a shop's orders (`TrackedBackend`), in a real Redis.

The shop here is the demo shop under its own prefix: a real `OrderBackend` that
knows nothing of the updates, as a merchant's API would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis

from orders.demo import DemoBackend
from orders.loading import DEMO_ORDERS_FILE, load_order_file
from orders.models import Order, OrderStatus, PackageStatus
from orders.overlay import TRACKING_TTL, TrackedBackend
from orders.policy import Policy
from orders.tracking import CarrierUpdate

NOW = datetime.now(UTC).replace(microsecond=0)
KEY = "ohb:tracking:{100003}"


@pytest.fixture
async def shop(redis: aioredis.Redis) -> DemoBackend:
    backend = DemoBackend(redis, prefix="shop:", policy=Policy())
    assert await backend.load(load_order_file(DEMO_ORDERS_FILE, NOW))
    return backend


@pytest.fixture
def tracked(shop: DemoBackend, redis: aioredis.Redis) -> TrackedBackend:
    return TrackedBackend(shop, redis, prefix="ohb:")


def update(**changes: Any) -> CarrierUpdate:
    values: dict[str, Any] = {
        "provider": "generic", "event_id": "evt-1", "order_number": "100003",
        "tracking_number": "DL7040055433", "status": PackageStatus.OUT_FOR_DELIVERY,
        "carrier_status": "out_for_delivery", "at": NOW, "location": "Bengaluru",
    }
    values.update(changes)
    return CarrierUpdate(**values)


async def package_of(backend: TrackedBackend | DemoBackend, number: str = "100003") -> Any:
    order = await backend.get_order(number)
    assert order is not None
    return order.packages[0]


async def test_an_update_is_kept_beside_the_shop_and_shown_on_its_order(
    tracked: TrackedBackend, shop: DemoBackend, redis: aioredis.Redis
) -> None:
    applied = await tracked.record_tracking(update())
    assert applied is not None and applied.recorded
    assert (applied.before, applied.after) == (PackageStatus.AT_COURIER_FACILITY,
                                               PackageStatus.OUT_FOR_DELIVERY)
    package = await package_of(tracked)
    assert package.status is PackageStatus.OUT_FOR_DELIVERY
    assert package.events[-1].location == "Bengaluru"
    assert (await package_of(shop)).status is PackageStatus.AT_COURIER_FACILITY  # shop untouched
    ttl = await redis.ttl(KEY)
    assert TRACKING_TTL.total_seconds() - 60 < ttl <= TRACKING_TTL.total_seconds()


async def test_a_replay_returns_not_recorded_and_writes_nothing(
    tracked: TrackedBackend, redis: aioredis.Redis
) -> None:
    await tracked.record_tracking(update())
    before = await redis.hgetall(KEY)
    await redis.expire(KEY, 100)
    for replay in (update(), update(event_id="evt-other-id-same-event")):
        applied = await tracked.record_tracking(replay)
        assert applied is not None and not applied.recorded
        assert applied.before is applied.after is PackageStatus.OUT_FOR_DELIVERY
    assert await redis.hgetall(KEY) == before
    assert await redis.ttl(KEY) <= 100  # not even the expiry was renewed


async def test_an_unknown_order_or_package_is_none_and_writes_nothing(
    tracked: TrackedBackend, redis: aioredis.Redis
) -> None:
    assert await tracked.record_tracking(update(order_number="999999")) is None
    assert await tracked.record_tracking(update(order_number=None)) is None
    assert await tracked.record_tracking(update(order_number="100016")) is None  # no packages
    assert await redis.keys("ohb:tracking:*") == []


async def test_updates_merge_oldest_first_whatever_order_they_came_in(
    tracked: TrackedBackend,
) -> None:
    await tracked.record_tracking(update(event_id="late", at=NOW,
                                         status=PackageStatus.DELIVERED,
                                         carrier_status="delivered"))
    applied = await tracked.record_tracking(update(event_id="early",
                                                   at=NOW - timedelta(hours=3)))
    assert applied is not None and applied.recorded
    package = await package_of(tracked)
    assert package.status is PackageStatus.DELIVERED
    assert package.delivered_at == NOW
    assert [e.carrier_status for e in package.events[-2:]] == ["out_for_delivery", "delivered"]


async def test_an_unknown_status_is_kept_verbatim_and_moves_nothing(
    tracked: TrackedBackend,
) -> None:
    applied = await tracked.record_tracking(update(status=None,
                                                   carrier_status="Held at customs"))
    assert applied is not None and applied.recorded and applied.after is applied.before
    package = await package_of(tracked)
    assert package.status is PackageStatus.AT_COURIER_FACILITY
    assert package.events[-1].status is None
    assert package.events[-1].carrier_status == "Held at customs"


async def test_find_orders_and_changes_return_merged_orders(
    tracked: TrackedBackend,
) -> None:
    await tracked.record_tracking(update())
    [mine] = [o for o in await tracked.find_orders(email="ananya.iyer@example.in")
              if o.number == "100003"]
    assert mine.packages[0].status is PackageStatus.OUT_FOR_DELIVERY

    label = update(order_number="100002", tracking_number="BD7040023757", status=None,
                   carrier_status="Label printed", event_id="lbl")
    assert (await tracked.record_tracking(label)) is not None
    outcome = await tracked.cancel("100002", idempotency_key="k1")
    assert outcome.order.status is OrderStatus.CANCELLED  # the shop cancelled it
    assert outcome.order.packages[0].events[-1].carrier_status == "Label printed"
    assert tracked.supports == tracked.inner.supports


async def test_orders_without_updates_are_the_shops_own(
    tracked: TrackedBackend, shop: DemoBackend
) -> None:
    order: Order | None = await tracked.get_order("100008")
    assert order == await shop.get_order("100008")
    assert await tracked.get_order("999999") is None
    assert await tracked.find_orders(phone="+10000000000") == []
