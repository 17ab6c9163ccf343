"""Shopify's order (Admin GraphQL shapes) read into our `Order`.

Pure functions over the JSON of `shopify_queries.ORDER_FIELDS`; any shape they do
not expect raises `ShapeError`, which the back-end reports as the shop being
unavailable (never half an order).

How Shopify's words become ours, and what is lost on the way:
- number: the order's `name` without "#"; line ids are the 1-based position of
  the line in the order (Shopify keeps that order), so they stay short for chat
  buttons; `line_gids` maps them back before a change.
- order status: `cancelledAt` -> cancelled; an EXPIRED payment (or only failed
  payment transactions) -> payment_failed; every line in a delivered (or picked
  up) fulfilment -> delivered; any fulfilment -> shipped; otherwise UNFULFILLED
  -> placed and any other fulfilment status (IN_PROGRESS, ON_HOLD...) -> processing.
- packages: one per fulfilment (id "F<legacy id>"), status from its
  `displayStatus`; lines not yet fulfilled, in open fulfilment orders, make one
  package at the warehouse ("FO<legacy id>"). Shopify has one "in transit"
  state, so courier facility, sort centre and delivery station all read back as
  at_sort_centre (picked up by the carrier reads at_courier_facility).
  Events with no place in our taxonomy (DELAYED, FAILURE) keep Shopify's words.
- payment method: guessed from the gateway name ("Cash on Delivery (COD)",
  "gift_card", a name with "upi", a wallet's name), else card.
- refunds: cause return when linked to a return, else cancellation; completed
  when every refund transaction succeeded, else processing; Shopify has no
  expected date, so it is the start plus `REFUND_DAYS` (an estimate).
- returns: REQUESTED -> requested, OPEN -> approved (refund_initiated once a
  refund is linked), CLOSED -> completed (received without a refund),
  DECLINED/CANCELED -> rejected. The reason is ours when the return was made by
  this bot (kept in the line's note), else the closest of Shopify's reasons.
- items: non-returnable when the product carries a tag of
  `NON_RETURNABLE_TAGS` (Shopify has no such flag); in stock unless the variant
  counts none left.
- variants: a line whose product has more than its default variant names the
  product (`product_id`, its legacy id) and its own options (option names
  lower-cased, "color" written "colour"); the other variants are read live
  (`ShopifyBackend.variants`), not with the order.
- exchanges: a return this bot made with exchange line items (its line note says
  `EXCHANGE`, with the new variant, the price difference and its title) reads as a
  `Replacement` with that variant: REQUESTED -> requested, OPEN -> approved,
  CLOSED -> delivered; declined or cancelled ones are left out.
- Shopify has no replacements of the same item, nor a requested delivery date.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from .eligibility import local_date
from .models import (
    Address,
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
    TrackingEvent,
)
from .policy import Policy

NON_RETURNABLE_TAGS = frozenset({"final-sale", "non-returnable", "no-returns"})
"""Product tags that make an item non-returnable (Shopify has no such flag)."""
REFUND_DAYS = 7
"""Days a processing refund is expected to take (the demo shop's rule)."""

Json = Mapping[str, Any]


class ShapeError(ValueError):
    """Shopify answered with a shape we cannot read."""


# --- Shopify's enums, ours ---------------------------------------------------------

PACKAGE_STATUS: dict[str, PackageStatus] = {
    "LABEL_PRINTED": PackageStatus.AT_WAREHOUSE,
    "LABEL_PURCHASED": PackageStatus.AT_WAREHOUSE,
    "LABEL_VOIDED": PackageStatus.AT_WAREHOUSE,
    "SUBMITTED": PackageStatus.AT_WAREHOUSE,
    "CONFIRMED": PackageStatus.AT_COURIER_FACILITY,
    "FULFILLED": PackageStatus.AT_COURIER_FACILITY,
    "MARKED_AS_FULFILLED": PackageStatus.AT_COURIER_FACILITY,
    "CARRIER_PICKED_UP": PackageStatus.AT_COURIER_FACILITY,
    "IN_TRANSIT": PackageStatus.AT_SORT_CENTRE,
    "DELAYED": PackageStatus.AT_SORT_CENTRE,
    "OUT_FOR_DELIVERY": PackageStatus.OUT_FOR_DELIVERY,
    "READY_FOR_PICKUP": PackageStatus.READY_FOR_PICKUP,
    "DELIVERED": PackageStatus.DELIVERED,
    "PICKED_UP": PackageStatus.DELIVERED,
    "ATTEMPTED_DELIVERY": PackageStatus.DELIVERY_FAILED,
    "NOT_DELIVERED": PackageStatus.RETURNED_TO_ORIGIN,
    "FAILURE": PackageStatus.LOST,
}
"""Fulfillment.displayStatus -> package status (CANCELED fulfilments are skipped;
an unknown value reads as handed to the carrier)."""

EVENT_STATUS: dict[str, PackageStatus] = {
    "LABEL_PRINTED": PackageStatus.AT_WAREHOUSE,
    "LABEL_PURCHASED": PackageStatus.AT_WAREHOUSE,
    "CONFIRMED": PackageStatus.AT_WAREHOUSE,
    "CARRIER_PICKED_UP": PackageStatus.AT_COURIER_FACILITY,
    "IN_TRANSIT": PackageStatus.AT_SORT_CENTRE,
    "OUT_FOR_DELIVERY": PackageStatus.OUT_FOR_DELIVERY,
    "READY_FOR_PICKUP": PackageStatus.READY_FOR_PICKUP,
    "DELIVERED": PackageStatus.DELIVERED,
    "PICKED_UP": PackageStatus.DELIVERED,
    "ATTEMPTED_DELIVERY": PackageStatus.DELIVERY_FAILED,
}
"""FulfillmentEvent.status -> event status; others keep Shopify's words."""

RETURN_REASON_TO_SHOPIFY: dict[ReturnReason, str] = {
    ReturnReason.DAMAGED: "DEFECTIVE",
    ReturnReason.DEFECTIVE: "DEFECTIVE",
    ReturnReason.WRONG_ITEM: "WRONG_ITEM",
    ReturnReason.ORDERED_BY_MISTAKE: "UNWANTED",
    ReturnReason.OTHER: "OTHER",
}
RETURN_REASON_FROM_SHOPIFY: dict[str, ReturnReason] = {
    "DEFECTIVE": ReturnReason.DEFECTIVE,
    "WRONG_ITEM": ReturnReason.WRONG_ITEM,
    "UNWANTED": ReturnReason.ORDERED_BY_MISTAKE,
}

_OPEN_FULFILMENT_ORDER = frozenset({"OPEN", "IN_PROGRESS", "SCHEDULED", "ON_HOLD"})
_NOTE = re.compile(r"\(order-help ref ([0-9a-f]{12})\): ([A-Z_]+)")


def return_note(ref: str, reason: ReturnReason) -> str:
    """The line note of a return this bot asks for: the shopper's own reason
    (Shopify's list has no "damaged") and the change's reference, so a retried
    request finds the return it already made."""
    return f"Asked in the order-help chat (order-help ref {ref}): {reason.value}"


_EXCHANGE_NOTE = re.compile(
    r"\(order-help ref ([0-9a-f]{12})\): EXCHANGE (\d+) (-?\d+(?:\.\d+)?) ?(.*)")


def exchange_note(ref: str, variant_id: str, difference: Decimal, title: str) -> str:
    """The line note of a return-with-exchange this bot creates: the change's
    reference, the new variant, the price difference and the variant's title (at
    most 255 characters, Shopify's limit)."""
    note = (f"Exchange asked in the order-help chat (order-help ref {ref}): "
            f"EXCHANGE {variant_id} {difference} {title}")
    return note[:255]


def exchange_ref(note: str | None) -> tuple[str, str, Decimal, str] | None:
    """(ref, variant id, price difference, title) of an exchange note, if it is one."""
    match = _EXCHANGE_NOTE.search(note or "")
    if match is None:
        return None
    return match.group(1), match.group(2), Decimal(match.group(3)), match.group(4).strip()


def line_note(line: Json) -> str:
    """A return line's note: `customerNote` (a return request) or `returnReasonNote`
    (a return the bot created, with an exchange)."""
    return _text(line.get("customerNote")) or _text(line.get("returnReasonNote"))


def note_ref(note: str | None) -> tuple[str, ReturnReason] | None:
    match = _NOTE.search(note or "")
    if match is None or match.group(2) not in ReturnReason.__members__:
        return None
    return match.group(1), ReturnReason(match.group(2))


# --- small readers -----------------------------------------------------------------


def gid_tail(gid: str) -> str:
    """"gid://shopify/Order/123" -> "123"."""
    return gid.rsplit("/", 1)[-1]


def _nodes(value: Any) -> list[Json]:
    """A connection's nodes, or a plain list (Shopify uses both)."""
    if value is None:
        return []
    if isinstance(value, Mapping):
        value = value.get("nodes")
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise ShapeError("expected a list of objects")
    return value


def _obj(value: Any) -> Json:
    if not isinstance(value, Mapping):
        raise ShapeError("expected an object")
    return value


def _time(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ShapeError("expected a date-time")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ShapeError("bad date-time") from exc
    if moment.tzinfo is None:
        raise ShapeError("date-time without a timezone")
    return moment


def _money(value: Any) -> Decimal:
    money = _obj(_obj(value).get("presentmentMoney"))
    try:
        return Decimal(str(money["amount"]))
    except (KeyError, InvalidOperation) as exc:
        raise ShapeError("bad money") from exc


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def payment_method(gateway: str) -> PaymentMethod:
    name = gateway.casefold()
    if "gift_card" in name or "gift card" in name:
        return PaymentMethod.GIFT_CARD
    if "cash on delivery" in name or re.search(r"\bcod\b", name):
        return PaymentMethod.COD
    if "upi" in name:
        return PaymentMethod.UPI
    if any(w in name for w in ("wallet", "paytm", "phonepe", "mobikwik", "paypal", "amazon pay")):
        return PaymentMethod.WALLET
    return PaymentMethod.CARD


# --- the order ---------------------------------------------------------------------


def line_gids(raw: Json) -> dict[str, str]:
    """Our line id (position) -> Shopify's LineItem id."""
    return {str(i): _text(line.get("id")) for i, line in
            enumerate(_nodes(raw.get("lineItems")), start=1)}


def order_from_shopify(raw: Json, policy: Policy) -> Order:
    try:
        return _order(raw, policy)
    except (KeyError, TypeError, ValidationError) as exc:
        raise ShapeError(f"unexpected order shape: {type(exc).__name__}") from exc


def _order(raw: Json, policy: Policy) -> Order:
    line_of = {gid: lid for lid, gid in line_gids(raw).items()}
    items = [
        OrderItem(
            line_id=str(i),
            sku=_text(line.get("sku")),
            name=_text(line.get("name")),
            quantity=int(line["quantity"]),
            unit_price=_money(line["originalUnitPriceSet"]),
            returnable=_returnable(line),
            in_stock=_in_stock(line),
            product_id=_product_id(line),
            options=variant_options(line.get("variant")),
        )
        for i, line in enumerate(_nodes(raw.get("lineItems")), start=1)
    ]
    cancelled_at = _time(raw.get("cancelledAt"))
    fulfilment, pickup_store, fo_packages = _fulfilment_orders(raw, line_of)
    payment = _payment(raw)
    waiting = cancelled_at is None and payment.status is not PaymentStatus.FAILED
    packages = _fulfilments(raw, line_of) + (fo_packages if waiting else [])
    refunds = _refunds(raw, payment.method, cancelled_at is not None, policy)
    number = _text(raw["name"]).removeprefix("#")
    return Order(
        number=number,
        placed_at=_time(raw["createdAt"]),
        status=_status(raw, packages, payment, cancelled_at),
        customer=_customer(raw),
        currency=_text(raw.get("presentmentCurrencyCode")),
        items=items,
        shipping_fee=_money(raw["totalShippingPriceSet"]) if raw.get("totalShippingPriceSet")
        else Decimal("0"),
        payment=payment,
        fulfilment=fulfilment,
        shipping_address=_address(raw.get("shippingAddress")),
        pickup_store=pickup_store,
        packages=packages,
        refunds=refunds,
        returns=_returns(raw, line_of),
        replacements=_exchanges(raw, line_of),
        cancelled_at=cancelled_at,
    )


def _returnable(line: Json) -> bool:
    tags = (line.get("product") or {}).get("tags") or []
    return not any(str(tag).casefold() in NON_RETURNABLE_TAGS for tag in tags)


def _product_id(line: Json) -> str | None:
    product = line.get("product") or {}
    gid = product.get("id")
    if not isinstance(gid, str) or product.get("hasOnlyDefaultVariant") is not False:
        return None
    return gid_tail(gid)


def variant_options(variant: Any) -> dict[str, str]:
    """A variant's `selectedOptions` as {"size": "M", "colour": "Blue"}."""
    options = {}
    for option in (variant or {}).get("selectedOptions") or []:
        name = _text(option.get("name")).casefold().replace("color", "colour")
        if name and name != "title":  # "Title: Default Title" is no option
            options[name] = _text(option.get("value"))
    return options


def _in_stock(line: Json) -> bool:
    """Unknown (no variant, untracked) counts as in stock: staff decide."""
    count = (line.get("variant") or {}).get("inventoryQuantity")
    return not isinstance(count, int) or count > 0


def _customer(raw: Json) -> Customer:
    customer = raw.get("customer") or {}
    email = _text(raw.get("email")) or _text(
        (customer.get("defaultEmailAddress") or {}).get("emailAddress"))
    phone = _text((customer.get("defaultPhoneNumber") or {}).get("phoneNumber")) or _text(
        raw.get("phone"))
    address = raw.get("shippingAddress") or {}
    name = _text(customer.get("displayName")) or _text(address.get("name"))
    return Customer(name=name, email=email, phone=phone)


def _address(raw: Any) -> Address | None:
    if not raw:
        return None
    address = _obj(raw)
    name = _text(address.get("name")) or " ".join(
        part for part in (_text(address.get("firstName")), _text(address.get("lastName"))) if part)
    return Address(
        name=name,
        line1=_text(address.get("address1")),
        line2=_text(address.get("address2")),
        city=_text(address.get("city")),
        region=_text(address.get("province")) or _text(address.get("provinceCode")),
        postal_code=_text(address.get("zip")),
        country=_text(address.get("countryCodeV2")),
    )


def _payment(raw: Json) -> Payment:
    transactions = _nodes(raw.get("transactions"))
    gateways = [_text(t.get("gateway")) for t in transactions if t.get("kind") != "REFUND"]
    gateways += [_text(g) for g in raw.get("paymentGatewayNames") or []]
    method = payment_method(next((g for g in gateways if g), ""))
    financial = _text(raw.get("displayFinancialStatus"))
    charges = [t for t in transactions if t.get("kind") in ("SALE", "CAPTURE", "AUTHORIZATION")]
    failed = bool(charges) and all(t.get("status") in ("FAILURE", "ERROR") for t in charges)
    cod = method is PaymentMethod.COD
    status = {
        "PAID": PaymentStatus.COLLECTED if cod else PaymentStatus.PAID,
        "REFUNDED": PaymentStatus.REFUNDED,
        "PARTIALLY_REFUNDED": PaymentStatus.PARTIALLY_REFUNDED,
        "EXPIRED": PaymentStatus.FAILED,
        "VOIDED": PaymentStatus.DUE_ON_DELIVERY if cod else PaymentStatus.FAILED,
    }.get(financial, PaymentStatus.DUE_ON_DELIVERY if cod else PaymentStatus.PENDING)
    if failed and financial not in ("PAID", "REFUNDED", "PARTIALLY_REFUNDED"):
        status = PaymentStatus.FAILED
    return Payment(method=method, status=status, amount=_money(raw["totalPriceSet"]))


def _status(
    raw: Json, packages: list[Package], payment: Payment, cancelled_at: datetime | None
) -> OrderStatus:
    if cancelled_at is not None:
        return OrderStatus.CANCELLED
    if payment.status is PaymentStatus.FAILED:
        return OrderStatus.PAYMENT_FAILED
    shipped = [p for p in packages if not p.package_id.startswith("FO")]
    if shipped and len(shipped) == len(packages) and all(
        p.status is PackageStatus.DELIVERED for p in packages
    ):
        return OrderStatus.DELIVERED
    if shipped:
        return OrderStatus.SHIPPED
    if raw.get("displayFulfillmentStatus") == "UNFULFILLED":
        return OrderStatus.PLACED
    return OrderStatus.PROCESSING


def _fulfilment_orders(
    raw: Json, line_of: dict[str, str]
) -> tuple[Fulfilment, str | None, list[Package]]:
    """How the order travels (home, pickup point, store pickup), and the lines
    still waiting in the warehouse, as packages."""
    fulfilment, store = Fulfilment.SHIP_TO_HOME, None
    packages = []
    for fo in _nodes(raw.get("fulfillmentOrders")):
        method = fo.get("deliveryMethod") or {}
        kind = method.get("methodType")
        place = _text(method.get("presentedName")) or _text(
            (fo.get("assignedLocation") or {}).get("name"))
        if kind == "PICK_UP":
            fulfilment, store = Fulfilment.STORE_PICKUP, place or None
        elif kind == "PICKUP_POINT":
            fulfilment, store = Fulfilment.SHIP_TO_STORE, place or None
        if fo.get("status") not in _OPEN_FULFILMENT_ORDER:
            continue
        lines = [
            line_of[_text(_obj(n.get("lineItem")).get("id"))]
            for n in _nodes(fo.get("lineItems"))
            if int(n.get("remainingQuantity") or 0) > 0
            and _text(_obj(n.get("lineItem")).get("id")) in line_of
        ]
        if not lines:
            continue
        latest = _time(method.get("maxDeliveryDateTime"))
        packages.append(Package(
            package_id=f"FO{gid_tail(_text(fo['id']))}",
            line_ids=lines,
            status=PackageStatus.AT_WAREHOUSE,
            estimated_delivery=latest.date() if latest else _placed_day(raw),
        ))
    return fulfilment, store, packages


def _placed_day(raw: Json) -> date:
    placed = _time(raw["createdAt"])
    assert placed is not None
    return placed.date()


def _fulfilments(raw: Json, line_of: dict[str, str]) -> list[Package]:
    packages = []
    for f in _nodes(raw.get("fulfillments")):
        display = _text(f.get("displayStatus"))
        if display == "CANCELED":
            continue
        tracking = next(iter(_nodes(f.get("trackingInfo"))), {})
        lines = []
        for n in _nodes(f.get("fulfillmentLineItems")):
            line_id = line_of.get(_text(_obj(n.get("lineItem")).get("id")))
            if line_id and line_id not in lines:
                lines.append(line_id)
        delivered = _time(f.get("deliveredAt"))
        estimate = _time(f.get("estimatedDeliveryAt"))
        created = _time(f.get("createdAt"))
        day = (estimate or delivered or created)
        packages.append(Package(
            package_id=f"F{gid_tail(_text(f['id']))}",
            line_ids=lines,
            status=PACKAGE_STATUS.get(display, PackageStatus.AT_COURIER_FACILITY),
            carrier=_text(tracking.get("company")) or None,
            tracking_number=_text(tracking.get("number")) or None,
            tracking_url=_text(tracking.get("url")) or None,
            estimated_delivery=day.date() if day else _placed_day(raw),
            delivered_at=delivered,
            events=[_event(e) for e in _nodes(f.get("events"))],
        ))
    return packages


def _event(raw: Json) -> TrackingEvent:
    shopify = _text(raw.get("status"))
    status = EVENT_STATUS.get(shopify)
    message = _text(raw.get("message"))
    where = ", ".join(_text(raw.get(k)) for k in ("city", "province", "country") if raw.get(k))
    at = _time(raw.get("happenedAt"))
    if at is None:
        raise ShapeError("event without a time")
    words = None if status else (message or shopify.replace("_", " ").capitalize())
    return TrackingEvent(at=at, status=status, location=where, description=message,
                         carrier_status=words)


def _refunds(
    raw: Json, method: PaymentMethod, cancelled: bool, policy: Policy
) -> list[Refund]:
    refunds = []
    for r in _nodes(raw.get("refunds")):
        transactions = [t for t in _nodes(r.get("transactions")) if t.get("kind") == "REFUND"]
        done = bool(transactions) and all(t.get("status") == "SUCCESS" for t in transactions)
        started = _time(r.get("createdAt"))
        finished = max((t for t in (_time(t.get("processedAt")) for t in transactions) if t),
                       default=None)
        gateway = next((_text(t.get("gateway")) for t in transactions if t.get("gateway")), "")
        linked = r.get("return")
        cause = (RefundCause.RETURN if linked or not cancelled else RefundCause.CANCELLATION)
        refunds.append(Refund(
            refund_id=gid_tail(_text(r["id"])),
            cause=cause,
            amount=_money(r["totalRefundedSet"]),
            method=payment_method(gateway) if gateway else method,
            status=RefundStatus.COMPLETED if done else RefundStatus.PROCESSING,
            initiated_at=started,
            expected_by=None if done or started is None
            else local_date(started, policy) + timedelta(days=REFUND_DAYS),
            completed_at=(finished or started) if done else None,
        ))
    return refunds


def _refund_of_return(raw: Json, return_gid: str) -> str | None:
    for r in _nodes(raw.get("refunds")):
        linked = r.get("return")
        if isinstance(linked, Mapping) and linked.get("id") == return_gid:
            return gid_tail(_text(r["id"]))
    return None


def return_lines(ret: Json, line_of: Mapping[str, str]) -> list[ReturnLine]:
    lines = []
    for n in _nodes(ret.get("returnLineItems")):
        fli = n.get("fulfillmentLineItem") or {}
        line_id = line_of.get(_text((fli.get("lineItem") or {}).get("id")))
        if line_id is None:
            continue
        ours = note_ref(line_note(n))
        reason = ours[1] if ours else RETURN_REASON_FROM_SHOPIFY.get(
            _text(n.get("returnReason")), ReturnReason.OTHER)
        lines.append(ReturnLine(line_id=line_id, quantity=int(n["quantity"]), reason=reason))
    return lines


def return_refs(ret: Json) -> set[str]:
    """The change references in a return's line notes (returns this bot made)."""
    refs = set()
    for n in _nodes(ret.get("returnLineItems")):
        ours = note_ref(line_note(n)) or exchange_ref(line_note(n))
        if ours:
            refs.add(ours[0])
    return refs


def is_exchange(ret: Json) -> bool:
    return any(exchange_ref(line_note(n)) for n in _nodes(ret.get("returnLineItems")))


def plain_returns(raw: Json) -> list[Json]:
    """The order's returns that are not exchanges (those are `Replacement`s)."""
    return [ret for ret in _nodes(raw.get("returns")) if not is_exchange(ret)]


def exchange_lines(raw: Json, ref: str) -> list[tuple[Json, Json]]:
    """(return, line) of every live return line that the exchange `ref` made."""
    return [(ret, n) for ret in _nodes(raw.get("returns"))
            if ret.get("status") not in ("DECLINED", "CANCELED")
            for n in _nodes(ret.get("returnLineItems"))
            if (exchange_ref(line_note(n)) or ("",))[0] == ref]


def _exchanges(raw: Json, line_of: dict[str, str]) -> list[Replacement]:
    exchanges = []
    status_of = {"REQUESTED": ReplacementStatus.REQUESTED, "OPEN": ReplacementStatus.APPROVED,
                 "CLOSED": ReplacementStatus.DELIVERED}
    for ret in _nodes(raw.get("returns")):
        status = status_of.get(_text(ret.get("status")))
        created = _time(ret.get("createdAt"))
        if status is None or created is None:
            continue
        for n in _nodes(ret.get("returnLineItems")):
            ours = exchange_ref(line_note(n))
            line_id = line_of.get(_text(((n.get("fulfillmentLineItem") or {}).get(
                "lineItem") or {}).get("id")))
            if ours is None or line_id is None:
                continue
            exchanges.append(Replacement(
                replacement_id=return_id(ret), line_id=line_id, quantity=int(n["quantity"]),
                reason=ReturnReason.OTHER, status=status, created_at=created,
                new_variant_id=ours[1], new_variant=ours[3] or None, price_difference=ours[2]))
    return exchanges


def return_id(ret: Json) -> str:
    return _text(ret.get("name")).removeprefix("#") or gid_tail(_text(ret["id"]))


def _returns(raw: Json, line_of: dict[str, str]) -> list[Return]:
    returns = []
    for ret in plain_returns(raw):
        lines = return_lines(ret, line_of)
        created = _time(ret.get("createdAt"))
        if not lines or created is None:
            continue
        refund_id = _refund_of_return(raw, _text(ret["id"]))
        shopify = _text(ret.get("status"))
        decline = ret.get("decline") or {}
        status = {
            "REQUESTED": ReturnStatus.REQUESTED,
            "OPEN": ReturnStatus.REFUND_INITIATED if refund_id else ReturnStatus.APPROVED,
            "CLOSED": ReturnStatus.COMPLETED if refund_id else ReturnStatus.RECEIVED,
            "DECLINED": ReturnStatus.REJECTED,
            "CANCELED": ReturnStatus.REJECTED,
        }.get(shopify, ReturnStatus.REQUESTED)
        rejection = None
        if shopify == "DECLINED":
            rejection = _text(decline.get("note")) or _text(decline.get("reason")) or "declined"
        elif shopify == "CANCELED":
            rejection = "cancelled"
        returns.append(Return(
            return_id=return_id(ret), lines=lines, status=status, created_at=created,
            refund_id=refund_id, rejection_reason=rejection,
        ))
    return returns
