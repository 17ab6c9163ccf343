"""The one rule for putting a carrier's update on an order, and what is worth telling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.settings import SAMPLE_ORDERS_FILE as SAMPLE
from orders.loading import load_order_file
from orders.models import Order, PackageStatus
from orders.tracking import (
    CarrierUpdate,
    ChangeKind,
    apply_update,
    notable_change,
    replayed_change,
)
from orders.tracking import find_package as find

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def shop() -> dict[str, Order]:
    return {o.number: o for o in load_order_file(SAMPLE, NOW)}


def update(order: Order, status: PackageStatus | None, *, words: str = "", minutes: int = 5,
           tracking: str | None = "") -> CarrierUpdate:
    package = order.packages[0]
    newest = max((e.at for e in package.events), default=NOW)
    return CarrierUpdate(
        provider="generic", event_id=f"e-{minutes}-{words or status}",
        order_number=order.number,
        tracking_number=package.tracking_number if tracking == "" else tracking,
        status=status, carrier_status=words or (status.value if status else "?"),
        at=newest + timedelta(minutes=minutes), location="Hub",
    )


def test_a_known_status_moves_the_package_and_is_worth_telling(shop: dict[str, Order]) -> None:
    order = shop["100004"]  # at the sort centre
    applied = apply_update(order, update(order, PackageStatus.OUT_FOR_DELIVERY))
    assert applied is not None and applied.recorded
    assert applied.order.packages[0].status is PackageStatus.OUT_FOR_DELIVERY
    assert len(applied.order.packages[0].events) == len(order.packages[0].events) + 1
    change = notable_change(applied, update(order, PackageStatus.OUT_FOR_DELIVERY))
    assert change is not None and change.kind is ChangeKind.OUT_FOR_DELIVERY
    assert change.key.startswith("100004:")


def test_the_same_event_twice_changes_nothing_and_tells_nothing(
    shop: dict[str, Order],
) -> None:
    order = shop["100004"]
    first = apply_update(order, update(order, PackageStatus.DELIVERED))
    assert first is not None
    again = apply_update(first.order, update(order, PackageStatus.DELIVERED))
    assert again is not None and not again.recorded
    assert again.order == first.order
    assert notable_change(again, update(order, PackageStatus.DELIVERED)) is None


def test_delivered_sets_the_delivery_time(shop: dict[str, Order]) -> None:
    order = shop["100006"]
    event = update(order, PackageStatus.DELIVERED)
    applied = apply_update(order, event)
    assert applied is not None
    assert applied.order.packages[0].delivered_at == event.at


def test_an_unknown_status_is_kept_verbatim_and_moves_nothing(shop: dict[str, Order]) -> None:
    order = shop["100004"]
    applied = apply_update(order, update(order, None, words="Held at customs: ID needed"))
    assert applied is not None and applied.recorded
    package = applied.order.packages[0]
    assert package.status is PackageStatus.AT_SORT_CENTRE
    assert package.events[-1].status is None
    assert package.events[-1].carrier_status == "Held at customs: ID needed"


def test_an_older_event_joins_the_history_without_moving_the_package(
    shop: dict[str, Order],
) -> None:
    order = shop["100006"]  # out for delivery
    late = update(order, PackageStatus.AT_SORT_CENTRE, minutes=-600)
    applied = apply_update(order, late)
    assert applied is not None and applied.recorded
    assert applied.order.packages[0].status is PackageStatus.OUT_FOR_DELIVERY
    assert notable_change(applied, late) is None


def test_first_movement_out_of_the_warehouse_is_shipped(shop: dict[str, Order]) -> None:
    order = next(o for o in shop.values() if o.packages
                 and o.packages[0].status is PackageStatus.AT_WAREHOUSE)
    event = update(order, PackageStatus.AT_COURIER_FACILITY)
    applied = apply_update(order, event)
    assert applied is not None
    change = notable_change(applied, event)
    assert change is not None and change.kind is ChangeKind.SHIPPED
    # moving on inside transit is not news
    onwards = update(order, PackageStatus.AT_SORT_CENTRE, minutes=60)
    later = apply_update(applied.order, onwards)
    assert later is not None and notable_change(later, onwards) is None


def test_an_unknown_tracking_number_falls_back_to_the_only_package(
    shop: dict[str, Order],
) -> None:
    order = shop["100004"]
    assert find(order, update(order, None, tracking="NOT-OURS")) is order.packages[0]


def test_an_order_without_packages_takes_no_update(shop: dict[str, Order]) -> None:
    order = next(o for o in shop.values() if not o.packages)
    assert apply_update(order, CarrierUpdate(
        provider="generic", event_id="x", order_number=order.number, status=None,
        carrier_status="?", at=NOW,
    )) is None


def test_a_retried_update_works_out_the_same_change_again(shop: dict[str, Order]) -> None:
    """A carrier retrying an update that was stored, but never told (a crash in between),
    gets the change again under the same key, so the notifier can still tell it once."""
    order = shop["100004"]
    event = update(order, PackageStatus.OUT_FOR_DELIVERY)
    first = apply_update(order, event)
    assert first is not None
    told = notable_change(first, event)
    again = apply_update(first.order, event)
    assert again is not None and not again.recorded
    assert notable_change(again, event) is None
    retold = replayed_change(again, event)
    assert retold is not None and told is not None
    assert (retold.kind, retold.key) == (told.kind, told.key)
    # once the parcel moved on, the old event is not news any more
    later = apply_update(first.order, update(order, PackageStatus.DELIVERED, minutes=90))
    assert later is not None
    stale = apply_update(later.order, event)
    assert stale is not None and replayed_change(stale, event) is None
