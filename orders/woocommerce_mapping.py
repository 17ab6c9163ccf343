"""WooCommerce's order JSON (REST API v3) read into our `Order`.

Pure functions over the bodies of `GET /wc/v3/orders`, `.../refunds` and the
Shipment Tracking extension, apart from `orders.woocommerce`, which talks to the
API. They are kept apart because WooCommerce's shapes are loose (plugins add
statuses, gateways and meta; amounts are strings; `*_gmt` dates carry no offset)
and the model asks for more than WooCommerce knows, so most of this module is
guesses, named here in one place. Any shape they do not expect raises
`MalformedOrder`, which the back-end reports as the shop being unavailable
(never half an order).

What WooCommerce says, and what we make of it:

    pending, on-hold       placed, payment pending (on-hold: awaiting a transfer)
    processing             processing (paid, or cash on delivery), not shipped
    completed              shipped (Shipment Tracking's workflow marks an order
                           completed when it is dispatched); a local-pickup order
                           that is completed was collected: delivered
    delivered, shipped,    custom statuses that tracking plugins add (AST adds
      ready-pickup         "delivered"); delivered, shipped, ready for pickup
    cancelled              cancelled
    refunded               cancelled when it never shipped, else delivered
    failed                 payment failed
    anything else          processing, or shipped when it has tracking

Each Shipment Tracking item (order meta `_wc_shipment_tracking_items`) is a
package carrying the whole order (the extension does not say which items went in
which parcel). WooCommerce knows no carrier progress and no delivery estimate: a
shipped package is "with the courier", its estimate is the ship date plus
`TRANSIT_DAYS` (a guess, replaced as soon as a carrier update brings one; carrier
updates are kept beside the order by `orders.overlay.TrackedBackend`). A refund
the gateway made (`refunded_payment`) is processing for `REFUND_DAYS` after it was
made, then completed; a manual refund is completed when recorded. The payment
method is guessed from the gateway's id and title (`payment_method`); a billing
phone without a country code is read in the billing country, else
`DEFAULT_REGION`; the asked-for delivery day is read back from the order's meta
`requested_delivery_date`, and a cancellation's time from our idempotency record.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
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
)
from .phones import normalise_phone
from .policy import Action, Policy

TRACKING_META = "_wc_shipment_tracking_items"
IDEMPOTENCY_META = "_ohb_idempotency"
DELIVERY_DATE_META = "requested_delivery_date"
"""The delivery day a shopper asked for; no underscore, so staff see it among the
order's custom fields."""
TRANSIT_DAYS = 5
"""Days from the ship date to the estimated delivery (WooCommerce has no estimate)."""
REFUND_DAYS = 7
"""Days a gateway's refund is expected to take (WooCommerce does not say)."""
DEFAULT_REGION = "IN"
"""Region for a billing phone written without a country code, when the billing
address names no country."""
PICKUP_METHODS = frozenset({"local_pickup", "pickup_location"})
CENT = Decimal("0.01")


class MalformedOrder(ValueError):
    """An order body that is not WooCommerce's shape."""


def _dict(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedOrder("expected an object")
    return value


def _list(value: object) -> list[Any]:
    if not isinstance(value, list):
        raise MalformedOrder("expected a list")
    return value


def text(value: object) -> str:
    """A string field, stripped; anything else (null, a number) reads as empty."""
    return value.strip() if isinstance(value, str) else ""


def _money(value: object) -> Decimal:
    try:
        return Decimal(str(value if value not in (None, "") else "0"))
    except InvalidOperation as exc:
        raise MalformedOrder("not an amount") from exc


def _gmt(value: object) -> datetime | None:
    """WooCommerce's `*_gmt` fields: ISO 8601 without an offset, in UTC."""
    if not value:
        return None
    if not isinstance(value, str):
        raise MalformedOrder("not a date")
    moment = datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def meta_value(raw: Mapping[str, Any], key: str) -> Any:
    for entry in raw.get("meta_data") or []:
        if isinstance(entry, dict) and entry.get("key") == key:
            return entry.get("value")
    return None


def tracking_items(raw: Mapping[str, Any]) -> list[dict[str, Any]]:
    items = meta_value(raw, TRACKING_META)
    if not isinstance(items, list):
        return []
    return [i for i in items if isinstance(i, dict) and text(i.get("tracking_number"))]


def idempotency_records(raw: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    records = meta_value(raw, IDEMPOTENCY_META)
    if not isinstance(records, dict):
        return {}
    return {k: v for k, v in records.items() if isinstance(v, dict)}


def payment_method(method_id: str, title: str) -> PaymentMethod:
    """Gateways are plugins with their own ids: cash on delivery is WooCommerce's
    `cod`; the rest are told apart by id and title, and default to card."""
    words = f"{method_id} {title}".lower()
    if method_id == "cod" or "cash on delivery" in words:
        return PaymentMethod.COD
    if "upi" in words:
        return PaymentMethod.UPI
    if "gift" in words:
        return PaymentMethod.GIFT_CARD
    if "wallet" in words:
        return PaymentMethod.WALLET
    return PaymentMethod.CARD


def order_status(slug: str, *, shipped: bool, pickup: bool) -> OrderStatus:
    match slug:
        case "pending" | "on-hold":
            return OrderStatus.PLACED
        case "processing":
            return OrderStatus.SHIPPED if shipped else OrderStatus.PROCESSING
        case "completed":
            return OrderStatus.DELIVERED if pickup else OrderStatus.SHIPPED
        case "delivered":
            return OrderStatus.DELIVERED
        case "shipped" | "ready-pickup":
            return OrderStatus.SHIPPED
        case "cancelled":
            return OrderStatus.CANCELLED
        case "refunded":
            return OrderStatus.DELIVERED if shipped else OrderStatus.CANCELLED
        case "failed":
            return OrderStatus.PAYMENT_FAILED
        case _:
            return OrderStatus.SHIPPED if shipped else OrderStatus.PROCESSING


def _refunded_total(raw: Mapping[str, Any]) -> Decimal:
    return sum((abs(_money(_dict(r).get("total"))) for r in raw.get("refunds") or []),
               Decimal("0"))


def refund_left(raw: Mapping[str, Any]) -> Decimal:
    """What can still be refunded: the total less the refunds made."""
    return max(Decimal("0"), _money(raw.get("total")) - _refunded_total(raw))


def _payment(raw: Mapping[str, Any], slug: str, status: OrderStatus) -> Payment:
    method = payment_method(text(raw.get("payment_method")),
                            text(raw.get("payment_method_title")))
    total = _money(raw.get("total"))
    refunded = _refunded_total(raw)
    state: PaymentStatus
    if slug == "failed":
        state = PaymentStatus.FAILED
    elif refunded > 0 or slug == "refunded":
        full = slug == "refunded" or refunded >= total
        state = PaymentStatus.REFUNDED if full else PaymentStatus.PARTIALLY_REFUNDED
    elif method is PaymentMethod.COD:
        collected = status is OrderStatus.DELIVERED
        state = PaymentStatus.COLLECTED if collected else PaymentStatus.DUE_ON_DELIVERY
    elif slug in ("pending", "on-hold") or not raw.get("date_paid_gmt"):
        state = PaymentStatus.PENDING
    else:
        state = PaymentStatus.PAID
    return Payment(method=method, status=state, amount=total)


def _address(part: object) -> Address | None:
    fields = part if isinstance(part, dict) else {}
    country = text(fields.get("country")).upper()
    if not text(fields.get("address_1")) or len(country) != 2:
        return None
    name = " ".join(filter(None, (text(fields.get("first_name")),
                                  text(fields.get("last_name")))))
    return Address(
        name=name, line1=text(fields.get("address_1")), line2=text(fields.get("address_2")),
        city=text(fields.get("city")), region=text(fields.get("state")),
        postal_code=text(fields.get("postcode")), country=country,
    )


def _pickup_store(raw: Mapping[str, Any]) -> str | None:
    """The pickup location of a local-pickup order (WooCommerce's block checkout keeps
    it in the shipping line's meta), or None for a delivered order."""
    for line in raw.get("shipping_lines") or []:
        line = _dict(line)
        if line.get("method_id") in PICKUP_METHODS:
            where = [text(meta_value(line, "pickup_location")),
                     text(meta_value(line, "pickup_address"))]
            return ", ".join(filter(None, where)) or text(line.get("method_title"))
    return None


def _items(raw: Mapping[str, Any]) -> list[OrderItem]:
    items = []
    for line in _list(raw.get("line_items")):
        line = _dict(line)
        quantity = int(line["quantity"])
        if quantity < 1:
            continue
        paid = _money(line.get("total")) + _money(line.get("total_tax"))
        items.append(OrderItem(
            line_id=str(line["id"]), sku=text(line.get("sku")), name=text(line.get("name")),
            quantity=quantity, unit_price=(paid / quantity).quantize(CENT),
        ))
    return items


def _packages(
    raw: Mapping[str, Any], slug: str, status: OrderStatus, line_ids: list[str],
    links: Mapping[str, tuple[str, str]],
) -> list[Package]:
    order_id = raw["id"]
    delivered = status is OrderStatus.DELIVERED
    done_at = _gmt(raw.get("date_completed_gmt")) or _gmt(raw.get("date_modified_gmt"))
    packages = []
    for index, item in enumerate(tracking_items(raw), start=1):
        number = text(item.get("tracking_number"))
        shipped_on = _shipped_on(item) or (done_at or datetime.now(UTC)).date()
        tracking_id = text(item.get("tracking_id")) or f"{order_id}-{index}"
        link = text(item.get("custom_tracking_link")).replace("%1$s", number)
        named, routed = links.get(tracking_id, ("", ""))
        packages.append(Package(
            package_id=tracking_id, line_ids=line_ids,
            status=PackageStatus.DELIVERED if delivered else PackageStatus.AT_COURIER_FACILITY,
            carrier=text(item.get("custom_tracking_provider")) or named
            or text(item.get("tracking_provider")) or None,
            tracking_number=number,
            tracking_url=link or routed or None,
            estimated_delivery=(done_at.date() if delivered and done_at
                                else shipped_on + timedelta(days=TRANSIT_DAYS)),
            delivered_at=done_at if delivered else None,
        ))
    if packages or status not in (OrderStatus.SHIPPED, OrderStatus.DELIVERED):
        return packages
    # Shipped or delivered with no tracking: one package, as far as the shop knows.
    since = (done_at or datetime.now(UTC))
    if slug == "ready-pickup":
        package_status = PackageStatus.READY_FOR_PICKUP
    elif delivered:
        package_status = PackageStatus.DELIVERED
    else:
        package_status = PackageStatus.AT_COURIER_FACILITY
    return [Package(
        package_id=f"{order_id}-1", line_ids=line_ids, status=package_status,
        estimated_delivery=since.date() + timedelta(
            days=0 if package_status is not PackageStatus.AT_COURIER_FACILITY else TRANSIT_DAYS),
        delivered_at=done_at if delivered else None,
    )]


def _shipped_on(item: Mapping[str, Any]) -> date | None:
    """Shipment Tracking keeps `date_shipped` as a Unix timestamp (its REST route
    shows YYYY-MM-DD); either is read."""
    value = item.get("date_shipped")
    if value in (None, ""):
        return None
    written = str(value)
    if written.isdigit():
        return datetime.fromtimestamp(int(written), UTC).date()
    return date.fromisoformat(written[:10])


def _refund(
    raw: Mapping[str, Any], method: PaymentMethod, cause: RefundCause, now: datetime,
    policy: Policy,
) -> Refund:
    made = _gmt(raw.get("date_created_gmt")) or now
    amount = abs(_money(raw.get("amount")))
    if raw.get("refunded_payment"):
        expected = local_date(made, policy) + timedelta(days=REFUND_DAYS)
        done = local_date(now, policy) > expected
        return Refund(
            refund_id=str(raw["id"]), cause=cause, amount=amount, method=method,
            status=RefundStatus.COMPLETED if done else RefundStatus.PROCESSING,
            initiated_at=made, expected_by=expected,
        )
    return Refund(refund_id=str(raw["id"]), cause=cause, amount=amount, method=method,
                  status=RefundStatus.COMPLETED, initiated_at=made, completed_at=made)


def to_order(
    raw: Mapping[str, Any],
    refunds: list[Any],
    links: Mapping[str, tuple[str, str]],
    *,
    now: datetime,
    policy: Policy,
) -> Order:
    """Our order from WooCommerce's order JSON, its refunds (`GET .../refunds`) and
    Shipment Tracking's (provider name, link) by tracking id. Raises
    `MalformedOrder` when it is not that."""
    try:
        slug = text(raw.get("status"))
        pickup = _pickup_store(raw)
        status = order_status(slug, shipped=bool(tracking_items(raw)), pickup=pickup is not None)
        items = _items(raw)
        line_ids = [i.line_id for i in items]
        billing = raw.get("billing") if isinstance(raw.get("billing"), dict) else {}
        assert isinstance(billing, dict)
        country = text(billing.get("country")).upper() or DEFAULT_REGION
        phone = text(billing.get("phone"))
        name = " ".join(filter(None, (text(billing.get("first_name")),
                                      text(billing.get("last_name")))))
        payment = _payment(raw, slug, status)
        packages = _packages(raw, slug, status, line_ids, links)
        cause = RefundCause.RETURN if tracking_items(raw) else RefundCause.CANCELLATION
        cancelled_at = None
        if status is OrderStatus.CANCELLED:
            ours = [r.get("at") for r in idempotency_records(raw).values()
                    if r.get("action") == Action.CANCEL.value]
            cancelled_at = _gmt(ours[0]) if ours else _gmt(raw.get("date_modified_gmt"))
        asked = meta_value(raw, DELIVERY_DATE_META)
        return Order(
            number=str(raw["number"]),
            placed_at=_gmt(raw.get("date_created_gmt")) or now,
            status=status,
            customer=Customer(name=name, email=text(billing.get("email")),
                              phone=normalise_phone(phone, country) or phone),
            currency=text(raw.get("currency")).upper(),
            items=items,
            shipping_fee=_money(raw.get("shipping_total")) + _money(raw.get("shipping_tax")),
            payment=payment,
            fulfilment=Fulfilment.STORE_PICKUP if pickup is not None else Fulfilment.SHIP_TO_HOME,
            shipping_address=None if pickup is not None else _address(raw.get("shipping")),
            pickup_store=pickup,
            requested_delivery_date=date.fromisoformat(asked) if isinstance(asked, str) and asked
            else None,
            packages=packages,
            refunds=[_refund(_dict(r), payment.method, cause, now, policy) for r in refunds],
            cancelled_at=cancelled_at,
        )
    except (KeyError, TypeError, ValueError, AssertionError, ValidationError) as exc:
        raise MalformedOrder(type(exc).__name__) from exc
