"""Eligibility rules as tables over small orders built here."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from orders.eligibility import (
    Reason,
    Verdict,
    check_cancel,
    check_delivery_change,
    check_exchange,
    check_refund,
    check_replacement,
    check_return,
    check_track,
    check_variant,
    fits,
    returnable_quantity,
)
from orders.models import (
    Customer,
    Fulfilment,
    Order,
    OrderItem,
    OrderStatus,
    Package,
    PackageStatus,
    Payment,
    PaymentMethod,
    PaymentStatus,
    Refund,
    RefundCause,
    RefundStatus,
    Replacement,
    ReplacementStatus,
    Return,
    ReturnLine,
    ReturnReason,
    ReturnStatus,
    Variant,
)
from orders.policy import Action, Policy

IST = ZoneInfo("Asia/Kolkata")
POLICY = Policy(timezone="Asia/Kolkata")


def ist(y: int, m: int, d: int, h: int = 12, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=IST)


# --- builders --------------------------------------------------------------------------


def item(line_id: str = "1", qty: int = 1, **kw: Any) -> OrderItem:
    return OrderItem(
        line_id=line_id, sku=f"SKU-{line_id}", name=f"Item {line_id}", quantity=qty,
        unit_price=Decimal("499.00"), **kw,
    )  # fmt: skip


def pkg(
    lines: tuple[str, ...] = ("1",),
    status: PackageStatus = PackageStatus.DELIVERED,
    delivered_at: datetime | None = None,
) -> Package:
    if status is PackageStatus.DELIVERED and delivered_at is None:
        delivered_at = ist(2025, 5, 16, 14)
    return Package(
        package_id=f"P-{'-'.join(lines)}", line_ids=list(lines), status=status,
        carrier="Delhivery", estimated_delivery=date(2025, 5, 16), delivered_at=delivered_at,
    )  # fmt: skip


def order(
    *,
    status: OrderStatus = OrderStatus.DELIVERED,
    items: list[OrderItem] | None = None,
    packages: list[Package] | None = None,
    method: PaymentMethod = PaymentMethod.UPI,
    pay: PaymentStatus = PaymentStatus.PAID,
    placed_at: datetime | None = None,
    **kw: Any,
) -> Order:
    items = items or [item()]
    if packages is None:
        packages = [pkg(tuple(i.line_id for i in items))]
    return Order(
        number="100999",
        placed_at=placed_at or ist(2025, 5, 12, 20),
        status=status,
        customer=Customer(name="Asha", email="asha@example.in", phone="+919812345678"),
        currency="INR",
        items=items,
        payment=Payment(method=method, status=pay, amount=Decimal("499.00")),
        packages=packages,
        **kw,
    )


def not_shipped(**kw: Any) -> Order:
    return order(
        status=OrderStatus.PROCESSING, packages=[pkg(status=PackageStatus.AT_WAREHOUSE)], **kw
    )


def returned(qty: int, status: ReturnStatus = ReturnStatus.REQUESTED) -> Return:
    return Return(
        return_id="R-100999-1",
        lines=[ReturnLine(line_id="1", quantity=qty, reason=ReturnReason.DEFECTIVE)],
        status=status,
        created_at=ist(2025, 5, 20),
    )


def replacing(qty: int, status: ReplacementStatus) -> Replacement:
    return Replacement(
        replacement_id="X-100999-1", line_id="1", quantity=qty, reason=ReturnReason.DAMAGED,
        status=status, created_at=ist(2025, 5, 20),
    )  # fmt: skip


def answer(v: Verdict) -> tuple[bool, Reason]:
    return v.ok, v.reason


NOW = ist(2025, 6, 10)
ONLY_TRACK = Policy(timezone="Asia/Kolkata", allowed=frozenset({Action.TRACK}))

# --- cancel ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("o", "expected", "facts"),
    [
        pytest.param(
            order(status=OrderStatus.PLACED, packages=[]), Reason.OK, {}, id="placed-no-package"
        ),
        pytest.param(not_shipped(), Reason.OK, {}, id="processing-prepaid"),
        pytest.param(
            not_shipped(method=PaymentMethod.COD, pay=PaymentStatus.DUE_ON_DELIVERY),
            Reason.OK,
            {},
            id="processing-cod",
        ),
        pytest.param(
            order(
                status=OrderStatus.PROCESSING,
                items=[item("1"), item("2")],
                packages=[
                    pkg(("1",), PackageStatus.AT_COURIER_FACILITY),
                    pkg(("2",), PackageStatus.AT_WAREHOUSE),
                ],
            ),
            Reason.ALREADY_SHIPPED,
            {"shipped_packages": 1, "packages": 2},
            id="one-of-two-packages-shipped",
        ),
        pytest.param(
            order(status=OrderStatus.SHIPPED, packages=[pkg(status=PackageStatus.AT_SORT_CENTRE)]),
            Reason.ALREADY_SHIPPED,
            {"order_status": "shipped", "shipped_packages": 1},
            id="shipped",
        ),
        pytest.param(
            order(), Reason.ALREADY_DELIVERED, {"delivered_on": date(2025, 5, 16)}, id="delivered"
        ),
        pytest.param(
            order(status=OrderStatus.CANCELLED, packages=[], cancelled_at=ist(2025, 6, 1, 23, 45)),
            Reason.ALREADY_CANCELLED,
            {"cancelled_on": date(2025, 6, 1)},
            id="cancelled-late-evening-local",
        ),
        pytest.param(
            order(status=OrderStatus.PAYMENT_FAILED, pay=PaymentStatus.FAILED, packages=[]),
            Reason.PAYMENT_FAILED,
            {"payment_method": "upi"},
            id="payment-failed",
        ),
    ],
)
def test_cancel_only_before_anything_ships(
    o: Order, expected: Reason, facts: dict[str, Any]
) -> None:
    verdict = check_cancel(o, POLICY, NOW)
    assert answer(verdict) == (expected is Reason.OK, expected)
    assert facts.items() <= verdict.facts.items()


def test_every_check_refuses_an_action_the_policy_forbids() -> None:
    o = not_shipped()
    d = order()
    assert check_cancel(o, ONLY_TRACK, NOW).reason is Reason.NOT_ALLOWED
    assert check_delivery_change(o, ONLY_TRACK, NOW).reason is Reason.NOT_ALLOWED
    assert check_return(d, "1", 1, ONLY_TRACK, NOW).reason is Reason.NOT_ALLOWED
    assert check_replacement(d, "1", None, ONLY_TRACK, NOW).reason is Reason.NOT_ALLOWED
    refund = check_refund(order(returns=[returned(1)]), ONLY_TRACK)
    assert refund.reason is Reason.NOT_ALLOWED
    assert refund.facts == {"action": "refund"}
    no_track = Policy(allowed=frozenset({Action.CANCEL}))
    assert check_track(o, no_track).reason is Reason.NOT_ALLOWED
    assert not fits(o, Action.TRACK, no_track, NOW)
    assert check_cancel(o, no_track, NOW).ok


# --- the return window -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "ok", "days_since"),
    [
        pytest.param(ist(2025, 6, 14, 23, 59), True, 29, id="day-before-last"),
        pytest.param(ist(2025, 6, 15, 0, 1), True, 30, id="last-day-morning"),
        pytest.param(ist(2025, 6, 15, 23, 59), True, 30, id="last-day-night"),
        pytest.param(ist(2025, 6, 16, 0, 0), False, 31, id="day-after"),
        pytest.param(ist(2025, 8, 1), False, 77, id="long-after"),
    ],
)
def test_window_open_through_its_last_day(now: datetime, ok: bool, days_since: int) -> None:
    verdict = check_return(order(), "1", 1, POLICY, now)
    assert verdict.ok is ok
    if ok:
        assert verdict.facts["last_day"] == date(2025, 6, 15)
    else:
        assert verdict.reason is Reason.WINDOW_CLOSED
        assert verdict.facts == {
            "delivered_on": date(2025, 5, 16),
            "counted_from": date(2025, 5, 16),
            "window_starts": "delivery",
            "days_since": days_since,
            "window_days": 30,
            "last_day": date(2025, 6, 15),
        }


def test_window_counted_from_the_order_date_when_the_merchant_says_so() -> None:
    o = order(placed_at=ist(2025, 5, 10, 9), packages=[pkg(delivered_at=ist(2025, 5, 20, 15))])
    now = ist(2025, 6, 10)
    from_delivery = check_return(o, "1", 1, POLICY, now)
    from_order = check_return(o, "1", 1, POLICY.model_copy(update={"window_starts": "order"}), now)
    assert from_delivery.ok
    assert from_delivery.facts["last_day"] == date(2025, 6, 19)
    assert answer(from_order) == (False, Reason.WINDOW_CLOSED)
    assert from_order.facts["ordered_on"] == date(2025, 5, 10)
    assert from_order.facts["window_starts"] == "order"
    assert from_order.facts["days_since"] == 31
    assert "delivered_on" not in from_order.facts


def test_delivered_late_evening_counts_as_that_local_day() -> None:
    """23:30 in Kolkata is 18:00 UTC the same day; 00:30 the next day is still the
    previous day in UTC. The merchant's timezone decides."""
    late = order(packages=[pkg(delivered_at=ist(2025, 5, 16, 23, 30))])
    assert check_return(late, "1", 1, POLICY, ist(2025, 6, 15, 23, 59)).ok
    closed = check_return(late, "1", 1, POLICY, ist(2025, 6, 16, 0, 1))
    assert closed.reason is Reason.WINDOW_CLOSED
    assert closed.facts["delivered_on"] == date(2025, 5, 16)

    after_midnight = order(packages=[pkg(delivered_at=ist(2025, 5, 17, 0, 30))])
    now = ist(2025, 6, 16, 12)
    assert check_return(after_midnight, "1", 1, POLICY, now).ok
    in_utc = check_return(after_midnight, "1", 1, Policy(timezone="UTC"), now)
    assert in_utc.reason is Reason.WINDOW_CLOSED
    assert in_utc.facts["delivered_on"] == date(2025, 5, 16)


def test_zero_day_window_allows_the_delivery_day_only() -> None:
    policy = Policy(timezone="Asia/Kolkata", return_window_days=0)
    assert check_return(order(), "1", 1, policy, ist(2025, 5, 16, 22)).ok
    assert check_return(order(), "1", 1, policy, ist(2025, 5, 17, 8)).reason is (
        Reason.WINDOW_CLOSED
    )


# --- what can be returned --------------------------------------------------------------

IN_WINDOW = ist(2025, 6, 1)


@pytest.mark.parametrize(
    ("o", "line", "qty", "expected", "facts"),
    [
        pytest.param(order(items=[item(qty=3)]), "1", 3, Reason.OK, {"left": 3}, id="all-three"),
        pytest.param(
            order(items=[item(qty=3)]),
            "1",
            4,
            Reason.QUANTITY_TOO_HIGH,
            {"requested": 4, "left": 3},
            id="more-than-bought",
        ),
        pytest.param(order(items=[item(qty=3)]), "1", 0, Reason.BAD_QUANTITY, {}, id="zero"),
        pytest.param(
            order(items=[item(qty=3)], returns=[returned(2)]),
            "1",
            2,
            Reason.QUANTITY_TOO_HIGH,
            {"left": 1},
            id="partly-returned",
        ),
        pytest.param(
            order(items=[item(qty=3)], returns=[returned(2, ReturnStatus.REJECTED)]),
            "1",
            3,
            Reason.OK,
            {"left": 3},
            id="rejected-return-frees-units",
        ),
        pytest.param(
            order(items=[item(qty=2)], returns=[returned(2, ReturnStatus.COMPLETED)]),
            "1",
            1,
            Reason.NOTHING_LEFT_TO_RETURN,
            {"quantity": 2},
            id="all-returned",
        ),
        pytest.param(
            order(items=[item(qty=2)], replacements=[replacing(1, ReplacementStatus.SHIPPED)]),
            "1",
            2,
            Reason.QUANTITY_TOO_HIGH,
            {"left": 1},
            id="unit-in-open-replacement",
        ),
        pytest.param(
            order(items=[item(qty=2)], replacements=[replacing(1, ReplacementStatus.DELIVERED)]),
            "1",
            2,
            Reason.OK,
            {},
            id="replacement-delivered",
        ),
        pytest.param(
            order(items=[item(returnable=False)]),
            "1",
            1,
            Reason.NOT_RETURNABLE,
            {"item": "Item 1"},
            id="not-returnable",
        ),
        pytest.param(order(), "9", 1, Reason.UNKNOWN_ITEM, {"line_id": "9"}, id="unknown-line"),
        pytest.param(
            order(
                status=OrderStatus.SHIPPED, packages=[pkg(status=PackageStatus.OUT_FOR_DELIVERY)]
            ),
            "1",
            1,
            Reason.NOT_DELIVERED,
            {"package_status": "out_for_delivery", "estimated_delivery": date(2025, 5, 16)},
            id="out-for-delivery",
        ),
        pytest.param(
            order(status=OrderStatus.PLACED, packages=[]),
            "1",
            1,
            Reason.NOT_DELIVERED,
            {"package_status": "not_packed"},
            id="not-packed",
        ),
        pytest.param(
            order(status=OrderStatus.CANCELLED, packages=[]),
            "1",
            1,
            Reason.ALREADY_CANCELLED,
            {},
            id="cancelled",
        ),
    ],
)
def test_return_quantities_and_items(
    o: Order, line: str, qty: int, expected: Reason, facts: dict[str, Any]
) -> None:
    verdict = check_return(o, line, qty, POLICY, IN_WINDOW)
    assert answer(verdict) == (expected is Reason.OK, expected)
    assert facts.items() <= verdict.facts.items()


def test_partly_delivered_order_returns_only_the_delivered_package() -> None:
    o = order(
        status=OrderStatus.SHIPPED,
        items=[item("1"), item("2")],
        packages=[pkg(("1",)), pkg(("2",), PackageStatus.AT_DELIVERY_STATION)],
    )
    assert check_return(o, "1", 1, POLICY, IN_WINDOW).ok
    assert check_return(o, "2", 1, POLICY, IN_WINDOW).reason is Reason.NOT_DELIVERED
    assert fits(o, Action.RETURN, POLICY, IN_WINDOW)


def test_returnable_quantity_counts_returns_and_open_replacements() -> None:
    o = order(
        items=[item(qty=5)],
        returns=[returned(1), returned(2, ReturnStatus.REJECTED)],
        replacements=[replacing(1, ReplacementStatus.REQUESTED)],
    )
    assert returnable_quantity(o, "1") == 3
    assert returnable_quantity(o, "nope") == 0


# --- replacement -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("o", "reason", "now", "expected"),
    [
        pytest.param(order(), ReturnReason.DAMAGED, IN_WINDOW, Reason.OK, id="damaged"),
        pytest.param(order(), None, IN_WINDOW, Reason.OK, id="reason-not-yet-given"),
        pytest.param(
            order(),
            ReturnReason.ORDERED_BY_MISTAKE,
            IN_WINDOW,
            Reason.REASON_NOT_COVERED,
            id="ordered-by-mistake",
        ),
        pytest.param(order(), ReturnReason.OTHER, IN_WINDOW, Reason.REASON_NOT_COVERED, id="other"),
        pytest.param(
            order(items=[item(in_stock=False)]),
            ReturnReason.WRONG_ITEM,
            IN_WINDOW,
            Reason.OUT_OF_STOCK,
            id="out-of-stock",
        ),
        pytest.param(
            order(items=[item(returnable=False)]),
            ReturnReason.DEFECTIVE,
            IN_WINDOW,
            Reason.OK,
            id="non-returnable-but-defective",
        ),
        pytest.param(
            order(items=[item(in_stock=False)]),
            ReturnReason.DAMAGED,
            ist(2025, 6, 16),
            Reason.WINDOW_CLOSED,
            id="window-closed-before-stock",
        ),
        pytest.param(
            order(status=OrderStatus.SHIPPED, packages=[pkg(status=PackageStatus.LOST)]),
            ReturnReason.DAMAGED,
            IN_WINDOW,
            Reason.NOT_DELIVERED,
            id="lost",
        ),
        pytest.param(
            order(replacements=[replacing(1, ReplacementStatus.APPROVED)]),
            ReturnReason.DAMAGED,
            IN_WINDOW,
            Reason.NOTHING_LEFT_TO_RETURN,
            id="already-being-replaced",
        ),
    ],
)
def test_replacement(
    o: Order, reason: ReturnReason | None, now: datetime, expected: Reason
) -> None:
    verdict = check_replacement(o, "1", reason, POLICY, now)
    assert answer(verdict) == (expected is Reason.OK, expected)
    if expected is Reason.REASON_NOT_COVERED:
        assert verdict.facts == {"return_reason": reason}


# --- delivery change -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("o", "expected"),
    [
        pytest.param(not_shipped(), Reason.OK, id="processing"),
        pytest.param(
            not_shipped(fulfilment=Fulfilment.STORE_PICKUP, pickup_store="Koramangala"),
            Reason.PICKUP_ORDER,
            id="store-pickup",
        ),
        pytest.param(
            not_shipped(fulfilment=Fulfilment.SHIP_TO_STORE), Reason.PICKUP_ORDER, id="to-store"
        ),
        pytest.param(
            order(status=OrderStatus.SHIPPED, packages=[pkg(status=PackageStatus.AT_SORT_CENTRE)]),
            Reason.ALREADY_SHIPPED,
            id="shipped",
        ),
        pytest.param(order(), Reason.ALREADY_DELIVERED, id="delivered"),
        pytest.param(
            order(status=OrderStatus.CANCELLED, packages=[]), Reason.ALREADY_CANCELLED, id="cxl"
        ),
        pytest.param(
            order(status=OrderStatus.PAYMENT_FAILED, packages=[]),
            Reason.PAYMENT_FAILED,
            id="payment-failed",
        ),
    ],
)
def test_delivery_change_only_before_shipping_and_for_home_delivery(
    o: Order, expected: Reason
) -> None:
    verdict = check_delivery_change(o, POLICY, NOW)
    assert answer(verdict) == (expected is Reason.OK, expected)
    if expected is Reason.PICKUP_ORDER:
        assert verdict.facts["fulfilment"] == o.fulfilment.value


# --- refund and track ------------------------------------------------------------------

REFUND = Refund(
    refund_id="RF-100999-1",
    cause=RefundCause.CANCELLATION,
    amount=Decimal("499.00"),
    method=PaymentMethod.CARD,
    status=RefundStatus.PROCESSING,
)


@pytest.mark.parametrize(
    ("o", "ok", "facts"),
    [
        pytest.param(
            order(status=OrderStatus.CANCELLED, packages=[], refunds=[REFUND]),
            True,
            {"refunds": 1},
            id="cancelled-prepaid",
        ),
        pytest.param(
            order(
                status=OrderStatus.CANCELLED,
                packages=[],
                method=PaymentMethod.COD,
                pay=PaymentStatus.DUE_ON_DELIVERY,
            ),
            False,
            {"payment_method": "cod", "order_status": "cancelled"},
            id="cancelled-cod",
        ),
        pytest.param(
            order(returns=[returned(1)]),
            True,
            {"refunds": 0, "pending_returns": 1},
            id="return-requested-refund-not-started",
        ),
        pytest.param(
            order(returns=[returned(1, ReturnStatus.REJECTED)]), False, {}, id="return-rejected"
        ),
        pytest.param(order(), False, {"order_status": "delivered"}, id="nothing"),
    ],
)
def test_refund_status_needs_a_refund_or_a_pending_return(
    o: Order, ok: bool, facts: dict[str, Any]
) -> None:
    verdict = check_refund(o, POLICY)
    assert answer(verdict) == (ok, Reason.OK if ok else Reason.NO_REFUND)
    assert facts.items() <= verdict.facts.items()


def test_tracking_works_even_for_cancelled_and_failed_orders() -> None:
    cancelled = order(status=OrderStatus.CANCELLED, packages=[])
    failed = order(status=OrderStatus.PAYMENT_FAILED, packages=[])
    assert check_track(cancelled).facts == {"order_status": "cancelled"}
    assert check_track(failed, POLICY).ok


# --- listing the orders that fit --------------------------------------------------------


@pytest.mark.parametrize(
    ("o", "now", "expected"),
    [
        pytest.param(
            not_shipped(), NOW, {Action.TRACK, Action.CANCEL, Action.DELIVERY}, id="processing"
        ),
        pytest.param(
            order(status=OrderStatus.SHIPPED, packages=[pkg(status=PackageStatus.AT_SORT_CENTRE)]),
            NOW,
            {Action.TRACK},
            id="in-transit",
        ),
        pytest.param(
            order(),
            ist(2025, 5, 20),
            {Action.TRACK, Action.RETURN, Action.REPLACE},
            id="just-delivered",
        ),
        pytest.param(order(), IN_WINDOW, {Action.RETURN, Action.REPLACE}, id="delivered-weeks-ago"),
        pytest.param(order(), ist(2025, 7, 1), set(), id="delivered-long-ago"),
        pytest.param(
            order(items=[item(returnable=False, in_stock=False)]),
            IN_WINDOW,
            set(),
            id="nothing-returnable-or-replaceable",
        ),
        pytest.param(
            order(status=OrderStatus.CANCELLED, packages=[], refunds=[REFUND]),
            NOW,
            {Action.REFUND},
            id="cancelled-with-refund",
        ),
        pytest.param(
            order(returns=[returned(1)]), IN_WINDOW, {Action.REFUND}, id="returned-single-unit"
        ),
        pytest.param(
            order(status=OrderStatus.PAYMENT_FAILED, packages=[]), NOW, set(), id="failed"
        ),
    ],
)
def test_fits_lists_orders_for_each_action(o: Order, now: datetime, expected: set[Action]) -> None:
    assert {a for a in Action if fits(o, a, POLICY, now)} == expected


def test_reason_values_are_catalogue_keys() -> None:
    for reason in Reason:
        assert re.fullmatch(r"[a-z]+(_[a-z]+)*", reason.value), reason
        assert reason.value == reason.name.lower()


def test_window_facts_do_not_depend_on_the_now_offset() -> None:
    """`now` may come in UTC; the local day is still what counts."""
    in_utc = ist(2025, 6, 16, 0, 0).astimezone(UTC)  # 18:30 UTC on the 15th
    assert check_return(order(), "1", 1, POLICY, in_utc).reason is Reason.WINDOW_CLOSED


# --- exchange for another variant --------------------------------------------------------


def kurta(line_id: str = "1", qty: int = 1, **kw: Any) -> OrderItem:
    return item(line_id, qty, product_id="KURTA", options={"size": "M"}, **kw)


def variant(size: str, price: str, in_stock: bool = True) -> Variant:
    return Variant(variant_id=f"K-{size}", sku=f"K-{size}", title=size,
                   options={"size": size}, unit_price=Decimal(price), in_stock=in_stock)


@pytest.mark.parametrize(
    ("o", "policy", "now", "expected"),
    [
        pytest.param(order(items=[kurta()]), POLICY, IN_WINDOW, Reason.OK, id="ok"),
        pytest.param(order(), POLICY, IN_WINDOW, Reason.NO_VARIANTS, id="no-variants"),
        pytest.param(order(items=[kurta(returnable=False)]), POLICY, IN_WINDOW,
                     Reason.NOT_RETURNABLE, id="non-returnable"),
        pytest.param(order(items=[kurta(in_stock=False)]), POLICY, IN_WINDOW, Reason.OK,
                     id="own-variant-sold-out-does-not-matter"),
        pytest.param(order(items=[kurta()]), POLICY, ist(2025, 6, 16), Reason.WINDOW_CLOSED,
                     id="window-closed"),
        pytest.param(not_shipped(items=[kurta()]), POLICY, IN_WINDOW, Reason.NOT_DELIVERED,
                     id="not-delivered"),
        pytest.param(order(items=[kurta(qty=2)], replacements=[
            replacing(1, ReplacementStatus.DELIVERED)]), POLICY, IN_WINDOW,
            Reason.ALREADY_REPLACED, id="one-per-item"),
        pytest.param(order(items=[kurta(qty=2)], replacements=[
            replacing(1, ReplacementStatus.DELIVERED)]),
            Policy(timezone="Asia/Kolkata", replacement_limit="none"), IN_WINDOW, Reason.OK,
            id="no-limit"),
        pytest.param(order(items=[kurta(), kurta("2")], packages=[pkg(("1", "2"))],
                           replacements=[replacing(1, ReplacementStatus.REQUESTED)]),
                     POLICY, IN_WINDOW, Reason.OK, id="another-item-per-item"),
        pytest.param(order(items=[kurta(), kurta("2")], packages=[pkg(("1", "2"))],
                           replacements=[replacing(1, ReplacementStatus.REQUESTED)]),
                     Policy(timezone="Asia/Kolkata", replacement_limit="order"), IN_WINDOW,
                     Reason.ALREADY_REPLACED, id="another-item-per-order"),
        pytest.param(order(items=[kurta()]), ONLY_TRACK, IN_WINDOW, Reason.NOT_ALLOWED,
                     id="not-allowed"),
    ],
)
def test_exchange(o: Order, policy: Policy, now: datetime, expected: Reason) -> None:
    line = "2" if "2" in {i.line_id for i in o.items} and o.replacements else "1"
    assert answer(check_exchange(o, line, policy, now)) == (expected is Reason.OK, expected)


@pytest.mark.parametrize(
    ("chosen", "expected", "difference"),
    [
        (variant("L", "699.00"), Reason.OK, "200.00"),
        (variant("S", "349.00"), Reason.OK, "-150.00"),
        (variant("XL", "699.00", in_stock=False), Reason.OUT_OF_STOCK, None),
        (None, Reason.VARIANT_UNAVAILABLE, None),
    ],
)
def test_the_variant_asked_for(chosen: Variant | None, expected: Reason,
                               difference: str | None) -> None:
    verdict = check_variant(order(items=[kurta()]), "1", chosen)
    assert answer(verdict) == (expected is Reason.OK, expected)
    if difference is not None:
        assert verdict.facts["price_difference"] == difference


def test_the_same_variant_is_no_exchange() -> None:
    same = Variant(variant_id="x", sku="SKU-1", title="M", unit_price=Decimal("499.00"))
    assert check_variant(order(items=[kurta()]), "1", same).reason is Reason.VARIANT_UNAVAILABLE


def test_exchange_orders_are_listed_for_the_exchange_action() -> None:
    assert fits(order(items=[kurta()]), Action.EXCHANGE, POLICY, IN_WINDOW)
    assert not fits(order(), Action.EXCHANGE, POLICY, IN_WINDOW)
