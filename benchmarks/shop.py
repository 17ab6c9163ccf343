"""The demo shop scaled to thousands of shoppers.

Every shopper gets copies of three sample orders (see docs/demo-orders.md), with
their own order numbers, phone and email, so no two simulated shoppers ever touch
the same order and each dialogue's answers are known in advance:

    placed    copy of 100001: just placed, prepaid by UPI  -> cancel
    shipped   copy of 100006: out for delivery             -> track, hand-off
    delivered copy of 100008: delivered 10 days ago        -> return one kurta
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from orders.loading import DEMO_ORDERS_FILE, load_order_file
from orders.models import Order

TEMPLATES = {"placed": "100001", "shipped": "100006", "delivered": "100008"}
FIRST_NUMBER = 5_000_000  # seven digits: the dialogue recognises 5 to 8 digit numbers


@dataclass(frozen=True, slots=True)
class Shopper:
    index: int
    email: str
    phone: str
    placed: str
    shipped: str
    delivered: str


def shopper(index: int) -> Shopper:
    base = FIRST_NUMBER + index * len(TEMPLATES)
    return Shopper(
        index=index,
        email=f"shopper{index}@bench.example.com",
        phone=f"+9170{index:08d}",
        placed=str(base),
        shipped=str(base + 1),
        delivered=str(base + 2),
    )


def scaled_shop(shoppers: int, now: datetime | None = None) -> list[Order]:
    """`shoppers` × 3 orders, dates shifted to today like the sample's."""
    sample = {o.number: o for o in load_order_file(DEMO_ORDERS_FILE, now or datetime.now(UTC))}
    templates = {kind: sample[number] for kind, number in TEMPLATES.items()}
    orders: list[Order] = []
    for index in range(shoppers):
        who = shopper(index)
        for kind, template in templates.items():
            customer = template.customer.model_copy(update={"email": who.email, "phone": who.phone})
            orders.append(
                template.model_copy(update={"number": getattr(who, kind), "customer": customer})
            )
    return orders
