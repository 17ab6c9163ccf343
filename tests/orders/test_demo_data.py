"""The shipped demo shop: it loads, moves with the calendar, and shows every case."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from orders.eligibility import (
    Reason,
    check_cancel,
    check_delivery_change,
    check_exchange,
    check_refund,
    check_replacement,
    check_return,
    fits,
    local_date,
    returnable_quantity,
)
from orders.loading import DEMO_ORDERS_FILE, OrderFileError, load_order_file
from orders.models import (
    Fulfilment,
    Order,
    OrderStatus,
    PackageStatus,
    PaymentMethod,
    PaymentStatus,
    RefundStatus,
    ReplacementStatus,
    ReturnReason,
    ReturnStatus,
)
from orders.phones import normalise_phone
from orders.policy import Action, Policy

IST = ZoneInfo("Asia/Kolkata")
NOW = datetime(2026, 2, 10, 15, 0, tzinfo=IST)
TODAY = NOW.date()
POLICY = Policy(timezone="Asia/Kolkata")
DOC = Path(__file__).parents[2] / "docs" / "demo-orders.md"


@pytest.fixture(scope="module")
def orders() -> dict[str, Order]:
    return {o.number: o for o in load_order_file(DEMO_ORDERS_FILE, NOW)}


def pkg_states(o: Order) -> list[PackageStatus]:
    return [p.status for p in o.packages]


def reason(o: Order, action: Callable[..., object]) -> Reason:
    verdict = action(o, POLICY, NOW)
    return verdict.reason  # type: ignore[attr-defined,no-any-return]


def return_verdict(o: Order, line: str = "1", qty: int = 1, now: datetime = NOW) -> Reason:
    return check_return(o, line, qty, POLICY, now).reason


def has_return(status: ReturnStatus) -> Callable[[Order], bool]:
    return lambda o: [r.status for r in o.returns] == [status]


def last_day_case(o: Order) -> bool:
    today = check_return(o, "1", 1, POLICY, NOW)
    tomorrow = check_return(o, "1", 1, POLICY, NOW + timedelta(days=1))
    return (
        today.ok
        and today.facts["last_day"] == TODAY
        and tomorrow.reason is Reason.WINDOW_CLOSED
        and tomorrow.facts["days_since"] == 31
        and tomorrow.facts["last_day"] == TODAY
    )


def closed_since(days: int) -> Callable[[Order], bool]:
    def check(o: Order) -> bool:
        verdict = check_return(o, "1", 1, POLICY, NOW)
        return verdict.reason is Reason.WINDOW_CLOSED and verdict.facts["days_since"] == days

    return check


CASES: dict[str, tuple[str, Callable[[Order], bool]]] = {
    "100001": (
        "just placed, nothing packed yet",
        lambda o: (
            o.status is OrderStatus.PLACED
            and local_date(o.placed_at, POLICY) == TODAY
            and check_cancel(o, POLICY, NOW).ok
            and check_delivery_change(o, POLICY, NOW).ok
            and all(p.carrier is None and p.tracking_url is None for p in o.packages)
        ),
    ),
    "100002": (
        "processing, COD, no tracking URL yet",
        lambda o: (
            o.status is OrderStatus.PROCESSING
            and o.payment.method is PaymentMethod.COD
            and bool(o.packages[0].tracking_number)
            and o.packages[0].tracking_url is None
            and check_cancel(o, POLICY, NOW).ok
        ),
    ),
    "100003": (
        "at the courier facility",
        lambda o: (
            pkg_states(o) == [PackageStatus.AT_COURIER_FACILITY]
            and reason(o, check_cancel) is Reason.ALREADY_SHIPPED
        ),
    ),
    "100004": ("at the sort centre", lambda o: pkg_states(o) == [PackageStatus.AT_SORT_CENTRE]),
    "100005": (
        "at the delivery station, COD",
        lambda o: (
            pkg_states(o) == [PackageStatus.AT_DELIVERY_STATION]
            and o.payment.status is PaymentStatus.DUE_ON_DELIVERY
        ),
    ),
    "100006": ("out for delivery", lambda o: pkg_states(o) == [PackageStatus.OUT_FOR_DELIVERY]),
    "100007": (
        "store pickup, ready for pickup",
        lambda o: (
            o.fulfilment is Fulfilment.STORE_PICKUP
            and pkg_states(o) == [PackageStatus.READY_FOR_PICKUP]
            and o.packages[0].tracking_url is None
            and o.pickup_store is not None
            and reason(o, check_delivery_change) is Reason.PICKUP_ORDER
        ),
    ),
    "100008": (
        "delivered inside the window, quantity 2",
        lambda o: check_return(o, "1", 2, POLICY, NOW).ok and o.items[0].quantity == 2,
    ),
    "100009": ("delivered 45 days ago", closed_since(45)),
    "100010": ("last day of the return window", last_day_case),
    "100011": (
        "partly delivered over two packages",
        lambda o: (
            o.status is OrderStatus.SHIPPED
            and len(o.packages) == 2
            and pkg_states(o).count(PackageStatus.DELIVERED) == 1
            and return_verdict(o, "1") is Reason.OK
            and return_verdict(o, "2") is Reason.NOT_DELIVERED
        ),
    ),
    "100012": ("delivery failed", lambda o: pkg_states(o) == [PackageStatus.DELIVERY_FAILED]),
    "100013": (
        "returned to origin",
        lambda o: pkg_states(o) == [PackageStatus.RETURNED_TO_ORIGIN],
    ),
    "100014": (
        "cancelled prepaid, refund processing",
        lambda o: (
            o.status is OrderStatus.CANCELLED
            and o.payment.method is not PaymentMethod.COD
            and [r.status for r in o.refunds] == [RefundStatus.PROCESSING]
            and o.refunds[0].expected_by is not None
            and o.refunds[0].expected_by > TODAY
        ),
    ),
    "100015": (
        "cancelled, refund completed",
        lambda o: (
            o.status is OrderStatus.CANCELLED
            and [r.status for r in o.refunds] == [RefundStatus.COMPLETED]
            and o.payment.status is PaymentStatus.REFUNDED
        ),
    ),
    "100016": (
        "cancelled COD, nothing to refund",
        lambda o: (
            o.status is OrderStatus.CANCELLED
            and o.payment.method is PaymentMethod.COD
            and check_refund(o, POLICY).reason is Reason.NO_REFUND
        ),
    ),
    "100017": (
        "payment failed",
        lambda o: (
            o.status is OrderStatus.PAYMENT_FAILED
            and o.payment.status is PaymentStatus.FAILED
            and reason(o, check_cancel) is Reason.PAYMENT_FAILED
        ),
    ),
    "100018": (
        "return requested, refund not started",
        lambda o: has_return(ReturnStatus.REQUESTED)(o) and not o.refunds and check_refund(o).ok,
    ),
    "100019": ("return approved", has_return(ReturnStatus.APPROVED)),
    "100020": ("return in transit", has_return(ReturnStatus.IN_TRANSIT)),
    "100021": ("return received", has_return(ReturnStatus.RECEIVED)),
    "100022": (
        "return refund initiated",
        lambda o: (
            has_return(ReturnStatus.REFUND_INITIATED)(o)
            and [r.status for r in o.refunds] == [RefundStatus.PROCESSING]
        ),
    ),
    "100023": (
        "return completed",
        lambda o: (
            has_return(ReturnStatus.COMPLETED)(o)
            and [r.status for r in o.refunds] == [RefundStatus.COMPLETED]
        ),
    ),
    "100024": (
        "return rejected",
        lambda o: has_return(ReturnStatus.REJECTED)(o) and bool(o.returns[0].rejection_reason),
    ),
    "100025": (
        "not returnable item",
        lambda o: (
            return_verdict(o, "1") is Reason.NOT_RETURNABLE
            and return_verdict(o, "3") is Reason.OK
            and check_replacement(o, "1", ReturnReason.DAMAGED, POLICY, NOW).ok
        ),
    ),
    "100026": (
        "out of stock, no replacement",
        lambda o: (
            check_replacement(o, "1", ReturnReason.DEFECTIVE, POLICY, NOW).reason
            is Reason.OUT_OF_STOCK
            and return_verdict(o) is Reason.OK
        ),
    ),
    "100027": (
        "partial return already made",
        lambda o: (
            o.items[0].quantity == 3
            and returnable_quantity(o, "1") == 2
            and return_verdict(o, "1", 3) is Reason.QUANTITY_TOO_HIGH
        ),
    ),
    "100028": (
        "US customer, UPS",
        lambda o: (
            o.customer.phone.startswith("+1")
            and o.currency == "USD"
            and o.packages[0].carrier == "UPS"
        ),
    ),
    "100029": (
        "UK customer, DHL, delivered",
        lambda o: (
            o.customer.phone.startswith("+44")
            and o.currency == "GBP"
            and o.packages[0].carrier == "DHL"
            and return_verdict(o) is Reason.OK
        ),
    ),
    "100030": (
        "wallet, delivered late evening",
        lambda o: (
            o.payment.method is PaymentMethod.WALLET
            and o.packages[0].delivered_at is not None
            and o.packages[0].delivered_at.astimezone(IST).hour >= 22
        ),
    ),
    "100031": (
        "gift card, shipped",
        lambda o: o.payment.method is PaymentMethod.GIFT_CARD and o.status is OrderStatus.SHIPPED,
    ),
    "100032": (
        "ship to store",
        lambda o: (
            o.fulfilment is Fulfilment.SHIP_TO_STORE
            and reason(o, check_delivery_change) is Reason.PICKUP_ORDER
        ),
    ),
    "100033": (
        "replacement requested",
        lambda o: (
            [r.status for r in o.replacements] == [ReplacementStatus.REQUESTED]
            and check_replacement(o, "1", ReturnReason.DAMAGED, POLICY, NOW).reason
            is Reason.NOTHING_LEFT_TO_RETURN
        ),
    ),
    "100034": ("window closed since yesterday", closed_since(31)),
    "100035": ("package lost", lambda o: pkg_states(o) == [PackageStatus.LOST]),
    "100036": (
        "processing with a requested delivery date",
        lambda o: (
            o.status is OrderStatus.PROCESSING
            and o.requested_delivery_date is not None
            and o.requested_delivery_date > TODAY
        ),
    ),
    "100038": (
        "variants to exchange for: cheaper, dearer, same price, out of stock",
        lambda o: (
            check_exchange(o, "1", POLICY, NOW).ok
            and sorted((v.unit_price > o.items[0].unit_price, v.unit_price
                        < o.items[0].unit_price, v.in_stock) for v in o.items[0].variants)
            == [(False, False, True), (False, True, True), (True, False, False),
                (True, False, True)]
        ),
    ),
    "100037": (
        "delivered long ago, not listed to track",
        lambda o: o.status is OrderStatus.DELIVERED and not fits(o, Action.TRACK, POLICY, NOW),
    ),
}


@pytest.mark.parametrize(("number", "case"), [(n, c[0]) for n, c in CASES.items()])
def test_every_documented_case_exists(orders: dict[str, Order], number: str, case: str) -> None:
    assert number in orders, case
    assert CASES[number][1](orders[number]), f"{number} no longer shows: {case}"


def test_the_doc_table_lists_every_case_with_the_shoppers_contact(
    orders: dict[str, Order],
) -> None:
    rows = {
        m.group(1): m.group(0)
        for m in re.finditer(r"^\| (\d{6}) \|.*$", DOC.read_text(encoding="utf-8"), re.M)
    }
    assert set(rows) == set(orders), "docs/demo-orders.md and the sample disagree"
    for number, row in rows.items():
        customer = orders[number].customer
        assert customer.phone in row and customer.email in row, number


def test_enough_orders_and_shoppers(orders: dict[str, Order]) -> None:
    assert len(orders) >= 30
    customers = {o.customer.phone: o.customer for o in orders.values()}
    assert len(customers) >= 10
    assert len({c.email.lower() for c in customers.values()}) == len(customers)
    for customer in customers.values():
        assert normalise_phone(customer.phone) == customer.phone, customer.name
        assert re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z.]+", customer.email, re.I), customer.name
    assert all(re.fullmatch(r"1000\d\d", n) for n in orders)
    assert sum(1 for c in customers.values() if not c.phone.startswith("+91")) >= 2


def test_every_payment_method_is_used_paid_or_cod(orders: dict[str, Order]) -> None:
    paid = {
        o.payment.method for o in orders.values() if o.payment.status is not PaymentStatus.FAILED
    }
    assert paid == set(PaymentMethod)
    for o in orders.values():
        expected = sum((i.unit_price * i.quantity for i in o.items), o.shipping_fee)
        assert o.payment.amount == expected, o.number


def test_packages_tell_a_consistent_story(orders: dict[str, Order]) -> None:
    for o in orders.values():
        lines = [line for p in o.packages for line in p.line_ids]
        assert len(lines) == len(set(lines)), o.number
        assert set(lines) <= {i.line_id for i in o.items}, o.number
        for p in o.packages:
            delivered = p.status is PackageStatus.DELIVERED
            assert (p.delivered_at is not None) == delivered, p.package_id
            if p.tracking_url:
                assert p.tracking_number and p.tracking_number in p.tracking_url
                assert p.tracking_url.startswith("https://")
            if p.events:
                assert p.events[-1].status is p.status, p.package_id
                times = [e.at for e in p.events]
                assert times == sorted(times), p.package_id
                assert o.placed_at < times[0], o.number
                assert all(e.location for e in p.events), p.package_id
            if delivered:
                assert p.delivered_at == p.events[-1].at
            if o.fulfilment is Fulfilment.STORE_PICKUP:
                assert p.tracking_url is None and p.carrier is None


def test_nothing_happens_after_now(orders: dict[str, Order]) -> None:
    for o in orders.values():
        moments = [o.placed_at, *(e.at for p in o.packages for e in p.events)]
        moments += [r.created_at for r in o.returns]
        assert max(moments) <= NOW, o.number


def test_dates_move_with_today() -> None:
    later = NOW + timedelta(days=100, hours=3)
    before = {o.number: o for o in load_order_file(DEMO_ORDERS_FILE, NOW)}
    after = {o.number: o for o in load_order_file(DEMO_ORDERS_FILE, later)}
    shift = timedelta(days=100)
    for number, o in before.items():
        moved = after[number]
        assert moved.placed_at == o.placed_at + shift
        for p, q in zip(o.packages, moved.packages, strict=True):
            assert q.estimated_delivery == p.estimated_delivery + shift
            assert [e.at for e in q.events] == [e.at + shift for e in p.events]
        for r, s in zip(o.refunds, moved.refunds, strict=True):
            assert s.expected_by == (r.expected_by + shift if r.expected_by else None)
        assert moved.items == o.items and moved.payment == o.payment
    # the last-day order is on its last day whatever the date
    last = after["100010"].packages[0].delivered_at
    assert last is not None
    assert later.date() - local_date(last, POLICY) == timedelta(days=30)


def test_file_written_as_of_a_fixed_day() -> None:
    raw = json.loads(DEMO_ORDERS_FILE.read_text(encoding="utf-8"))
    as_of = date.fromisoformat(raw["as_of"][:10])
    unshifted = {
        o.number: o for o in load_order_file(DEMO_ORDERS_FILE, datetime.fromisoformat(raw["as_of"]))
    }
    delivered = unshifted["100010"].packages[0].delivered_at
    assert delivered is not None
    assert (as_of - delivered.date()).days == 30


def write(tmp_path: Path, payload: object) -> Path:
    path = tmp_path / "orders.json"
    path.write_text(json.dumps(payload), encoding="utf-8")
    return path


def test_bad_file_names_the_file_the_order_and_the_field(tmp_path: Path) -> None:
    raw = json.loads(DEMO_ORDERS_FILE.read_text(encoding="utf-8"))
    raw["orders"][2]["customer"].pop("phone")
    raw["orders"][4]["status"] = "teleported"
    raw["orders"][5]["colour"] = "red"
    path = write(tmp_path, raw)
    with pytest.raises(OrderFileError) as caught:
        load_order_file(path, NOW)
    message = str(caught.value)
    assert str(path) in message
    assert "orders.2.customer.phone (order 100003): Field required" in message
    assert "orders.4.status (order 100005)" in message
    assert "orders.5.colour (order 100006): Extra inputs are not permitted" in message


@pytest.mark.parametrize(
    ("content", "expected"),
    [("{not json", "Invalid JSON"), ('{"as_of": null}', "orders: Field required")],
)
def test_unreadable_file_is_a_clear_error(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "orders.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(OrderFileError, match=expected):
        load_order_file(path, NOW)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(OrderFileError, match="cannot read"):
        load_order_file(tmp_path / "nope.json", NOW)


def test_file_without_as_of_is_not_shifted(tmp_path: Path) -> None:
    raw = json.loads(DEMO_ORDERS_FILE.read_text(encoding="utf-8"))
    first = raw["orders"][0]
    path = write(tmp_path, {"orders": [first]})
    [loaded] = load_order_file(path, NOW)
    assert loaded.placed_at == datetime.fromisoformat(first["placed_at"])
