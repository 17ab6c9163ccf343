"""Our orders written the way Shopify's Admin GraphQL API (2025-10) shows them, to
seed the fake store (`tests/fakes/shopify.py`).

What Shopify cannot hold is dropped or folded, as a real store would have it:
replacements vanish; courier facility, sort centre and delivery station are all
"in transit"; a package still at the warehouse is an open fulfilment order, not a
fulfilment; a cancelled order's unshipped lines are in a closed fulfilment order;
approved, in-transit and received returns are all OPEN.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from orders.models import (
    Fulfilment,
    Order,
    OrderItem,
    OrderStatus,
    Package,
    PackageStatus,
    PaymentMethod,
    PaymentStatus,
    RefundStatus,
    ReturnReason,
    ReturnStatus,
)

GATEWAY = {
    PaymentMethod.CARD: "shopify_payments",
    PaymentMethod.UPI: "razorpay_upi",
    PaymentMethod.WALLET: "paytm_wallet",
    PaymentMethod.GIFT_CARD: "gift_card",
    PaymentMethod.COD: "Cash on Delivery (COD)",
}
DISPLAY_STATUS = {
    PackageStatus.AT_WAREHOUSE: "LABEL_PRINTED",
    PackageStatus.AT_COURIER_FACILITY: "CARRIER_PICKED_UP",
    PackageStatus.AT_SORT_CENTRE: "IN_TRANSIT",
    PackageStatus.AT_DELIVERY_STATION: "IN_TRANSIT",
    PackageStatus.OUT_FOR_DELIVERY: "OUT_FOR_DELIVERY",
    PackageStatus.READY_FOR_PICKUP: "READY_FOR_PICKUP",
    PackageStatus.DELIVERED: "DELIVERED",
    PackageStatus.DELIVERY_FAILED: "ATTEMPTED_DELIVERY",
    PackageStatus.RETURNED_TO_ORIGIN: "NOT_DELIVERED",
    PackageStatus.LOST: "FAILURE",
}
EVENT_STATUS = DISPLAY_STATUS | {
    PackageStatus.RETURNED_TO_ORIGIN: "FAILURE",
}
RETURN_REASON = {
    ReturnReason.DAMAGED: "DEFECTIVE",
    ReturnReason.DEFECTIVE: "DEFECTIVE",
    ReturnReason.WRONG_ITEM: "WRONG_ITEM",
    ReturnReason.ORDERED_BY_MISTAKE: "UNWANTED",
    ReturnReason.OTHER: "OTHER",
}
RETURN_STATUS = {
    ReturnStatus.REQUESTED: "REQUESTED",
    ReturnStatus.APPROVED: "OPEN",
    ReturnStatus.IN_TRANSIT: "OPEN",
    ReturnStatus.RECEIVED: "OPEN",
    ReturnStatus.REFUND_INITIATED: "OPEN",
    ReturnStatus.COMPLETED: "CLOSED",
    ReturnStatus.REJECTED: "DECLINED",
}
WAREHOUSE = "Bhiwandi warehouse"


def stamp(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def noon(day: date) -> str:
    return stamp(datetime.combine(day, time(12), tzinfo=UTC)) or ""


def money(amount: Decimal, currency: str) -> dict[str, Any]:
    value = {"amount": str(amount), "currencyCode": currency}
    return {"presentmentMoney": value, "shopMoney": value}


class Ids:
    """Shopify's global ids, one counter for the whole store."""

    def __init__(self) -> None:
        self._next = itertools.count(1001)

    def __call__(self, kind: str) -> str:
        return f"gid://shopify/{kind}/{next(self._next)}"


def customer_of(order: Order, ids: Ids) -> dict[str, Any]:
    return {
        "id": ids("Customer"),
        "displayName": order.customer.name,
        "defaultEmailAddress": {"emailAddress": order.customer.email},
        "defaultPhoneNumber": {"phoneNumber": order.customer.phone},
    }


def selected_options(options: dict[str, str]) -> list[dict[str, str]]:
    """Our option names as a Shopify store names them ("colour" -> "Color")."""
    return [{"name": "Color" if name == "colour" else name.capitalize(), "value": value}
            for name, value in options.items()]


def _variant_node(ids: Ids, sku: str, title: str, options: dict[str, str], price: Decimal,
                  in_stock: bool) -> dict[str, Any]:
    return {"id": ids("ProductVariant"), "sku": sku, "title": title, "price": str(price),
            "availableForSale": in_stock, "inventoryQuantity": 25 if in_stock else 0,
            "selectedOptions": selected_options(options)}


def _line(item: OrderItem, cur: str, ids: Ids, products: dict[str, dict[str, Any]]
          ) -> dict[str, Any]:
    """A line item; a line with variants has its product (and its variants) in `products`."""
    product: dict[str, Any] = {"tags": [] if item.returnable else ["final-sale"]}
    variant: dict[str, Any] = {"inventoryQuantity": 25 if item.in_stock else 0}
    if item.product_id is not None:
        known = products.get(item.product_id)
        own = _variant_node(ids, item.sku, ", ".join(item.options.values()), item.options,
                            item.unit_price, item.in_stock)
        if known is None:
            known = products[item.product_id] = {"id": ids("Product"), "variants": {"nodes": [
                own, *(_variant_node(ids, v.sku, v.title, v.options, v.unit_price, v.in_stock)
                       for v in item.variants)]}}
        else:
            known["variants"]["nodes"].append(own)
        product |= {"id": known["id"], "hasOnlyDefaultVariant": False}
        variant |= {"id": own["id"], "selectedOptions": own["selectedOptions"]}
    return {"id": ids("LineItem"), "sku": item.sku, "name": item.name,
            "quantity": item.quantity, "originalUnitPriceSet": money(item.unit_price, cur),
            "product": product, "variant": variant}


def shopify_order(order: Order, customer: dict[str, Any], ids: Ids,
                  products: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """`order` as the fields of `orders.shopify_queries.ORDER_FIELDS` show it; the
    products of lines with variants are added to `products` (product id -> product)."""
    cur = order.currency
    gateway = GATEWAY[order.payment.method]
    products = {} if products is None else products
    lines = {item.line_id: _line(item, cur, ids, products) for item in order.items}
    quantity = {item.line_id: item.quantity for item in order.items}
    pickup = order.fulfilment is not Fulfilment.SHIP_TO_HOME
    method = {
        Fulfilment.SHIP_TO_HOME: "SHIPPING",
        Fulfilment.SHIP_TO_STORE: "PICKUP_POINT",
        Fulfilment.STORE_PICKUP: "PICK_UP",
    }[order.fulfilment]
    fulfillments: list[dict[str, Any]] = []
    fulfillment_orders: list[dict[str, Any]] = []
    fli_of: dict[str, str] = {}  # our line id -> its fulfillment line item id
    for package in order.packages:
        delivery = {
            "methodType": method,
            "presentedName": order.pickup_store if pickup else "Standard",
            "maxDeliveryDateTime": noon(package.estimated_delivery),
        }
        shipped = package.status is not PackageStatus.AT_WAREHOUSE
        status = "CLOSED" if shipped else (
            "CANCELLED" if order.status is OrderStatus.CANCELLED
            else "OPEN" if order.status is OrderStatus.PLACED else "IN_PROGRESS")
        fulfillment_orders.append({
            "id": ids("FulfillmentOrder"),
            "status": status,
            "deliveryMethod": delivery,
            "assignedLocation": {"name": WAREHOUSE},
            "lineItems": {"nodes": [
                {"remainingQuantity": 0 if shipped else quantity[lid],
                 "lineItem": {"id": lines[lid]["id"]}}
                for lid in package.line_ids
            ]},
        })
        if shipped:
            fulfillments.append(_fulfillment(order, package, lines, quantity, fli_of, ids))
    if not order.packages:
        fulfillment_orders.append({
            "id": ids("FulfillmentOrder"),
            "status": "CANCELLED" if order.status is OrderStatus.CANCELLED else "OPEN",
            "deliveryMethod": {"methodType": method, "presentedName": order.pickup_store,
                               "maxDeliveryDateTime": None},
            "assignedLocation": {"name": WAREHOUSE},
            "lineItems": {"nodes": [
                {"remainingQuantity": 0 if order.status is OrderStatus.CANCELLED
                 else quantity[lid], "lineItem": {"id": line["id"]}}
                for lid, line in lines.items()
            ]},
        })
    fulfilled = sum(quantity[lid] for f in order.packages if f.status
                    is not PackageStatus.AT_WAREHOUSE for lid in f.line_ids)
    fulfilment_status = (
        "FULFILLED" if fulfilled == sum(quantity.values())
        else "PARTIALLY_FULFILLED" if fulfilled
        else "IN_PROGRESS" if order.status is OrderStatus.PROCESSING else "UNFULFILLED")

    charge_status = {
        PaymentStatus.FAILED: "FAILURE",
        PaymentStatus.PENDING: "PENDING",
        PaymentStatus.DUE_ON_DELIVERY: "PENDING",
    }.get(order.payment.status, "SUCCESS")
    kind = "AUTHORIZATION" if order.payment.status is PaymentStatus.FAILED else "SALE"
    transactions = [{
        "kind": kind, "status": charge_status, "gateway": gateway,
        "processedAt": stamp(order.placed_at), "amountSet": money(order.payment.amount, cur),
    }]
    financial = {
        PaymentStatus.PAID: "PAID",
        PaymentStatus.COLLECTED: "PAID",
        PaymentStatus.PENDING: "PENDING",
        PaymentStatus.DUE_ON_DELIVERY: "VOIDED" if order.status is OrderStatus.CANCELLED
        else "PENDING",
        PaymentStatus.FAILED: "EXPIRED",
        PaymentStatus.REFUNDED: "REFUNDED",
        PaymentStatus.PARTIALLY_REFUNDED: "PARTIALLY_REFUNDED",
    }[order.payment.status]

    returns = []
    return_gid: dict[str, str] = {}
    for k, ret in enumerate(order.returns, start=1):
        gid = ids("Return")
        return_gid[ret.return_id] = gid
        returns.append({
            "id": gid,
            "name": f"#{order.number}-R{k}",
            "status": RETURN_STATUS[ret.status],
            "createdAt": stamp(ret.created_at),
            "decline": {"reason": "OTHER", "note": ret.rejection_reason}
            if ret.status is ReturnStatus.REJECTED else None,
            "returnLineItems": {"nodes": [
                {"id": ids("ReturnLineItem"), "quantity": line.quantity,
                 "returnReason": RETURN_REASON[line.reason], "customerNote": None,
                 "fulfillmentLineItem": {"id": fli_of.get(line.line_id),
                                         "lineItem": {"id": lines[line.line_id]["id"]}}}
                for line in ret.lines
            ]},
        })
    refunds = []
    for refund in order.refunds:
        linked = next((return_gid[r.return_id] for r in order.returns
                       if r.refund_id == refund.refund_id), None)
        done = refund.status is RefundStatus.COMPLETED
        refunds.append({
            "id": ids("Refund"),
            "createdAt": stamp(refund.initiated_at or order.cancelled_at or order.placed_at),
            "return": {"id": linked} if linked else None,
            "totalRefundedSet": money(refund.amount, cur),
            "transactions": {"nodes": [{
                "kind": "REFUND", "status": "SUCCESS" if done else "PENDING",
                "gateway": GATEWAY[refund.method],
                "processedAt": stamp(refund.completed_at) if done else None,
            }]},
        })
    address = order.shipping_address
    return {
        "id": ids("Order"),
        "name": f"#{order.number}",
        "createdAt": stamp(order.placed_at),
        "cancelledAt": stamp(order.cancelled_at),
        "cancelReason": "CUSTOMER" if order.cancelled_at else None,
        "tags": [],
        "email": order.customer.email,
        "phone": order.customer.phone,
        "presentmentCurrencyCode": cur,
        "displayFinancialStatus": financial,
        "displayFulfillmentStatus": fulfilment_status,
        "paymentGatewayNames": [gateway],
        "customer": customer,
        "totalPriceSet": money(order.payment.amount, cur),
        "totalShippingPriceSet": money(order.shipping_fee, cur),
        "shippingAddress": None if address is None else {
            "name": address.name,
            "firstName": address.name.rpartition(" ")[0] or None,
            "lastName": address.name.rpartition(" ")[2],
            "address1": address.line1,
            "address2": address.line2 or None,
            "city": address.city,
            "province": address.region or None,
            "provinceCode": None,
            "zip": address.postal_code,
            "countryCodeV2": address.country,
        },
        "lineItems": {"nodes": list(lines.values())},
        "fulfillmentOrders": {"nodes": fulfillment_orders},
        "fulfillments": fulfillments,
        "transactions": transactions,
        "refunds": refunds,
        "returns": {"nodes": returns},
    }


def _fulfillment(
    order: Order, package: Package, lines: dict[str, dict[str, Any]],
    quantity: dict[str, int], fli_of: dict[str, str], ids: Ids,
) -> dict[str, Any]:
    pickup = order.fulfilment is Fulfilment.STORE_PICKUP
    display = DISPLAY_STATUS[package.status]
    if pickup and package.status is PackageStatus.DELIVERED:
        display = "PICKED_UP"
    items = []
    for lid in package.line_ids:
        fli = ids("FulfillmentLineItem")
        fli_of[lid] = fli
        items.append({"id": fli, "quantity": quantity[lid], "lineItem": {"id": lines[lid]["id"]}})
    events = []
    for event in package.events:
        status = EVENT_STATUS.get(event.status) if event.status else "DELAYED"
        if pickup and event.status is PackageStatus.DELIVERED:
            status = "PICKED_UP"
        city, _, rest = event.location.partition(", ")
        events.append({
            "status": status, "happenedAt": stamp(event.at),
            "message": event.description or event.carrier_status or "",
            "city": city or None, "province": rest or None, "country": None,
        })
    first = min((e.at for e in package.events), default=order.placed_at)
    return {
        "id": ids("Fulfillment"),
        "createdAt": stamp(first),
        "status": "SUCCESS",
        "displayStatus": display,
        "estimatedDeliveryAt": noon(package.estimated_delivery),
        "deliveredAt": stamp(package.delivered_at),
        "trackingInfo": [{"company": package.carrier, "number": package.tracking_number,
                          "url": package.tracking_url}] if package.carrier else [],
        "events": {"nodes": events},
        "fulfillmentLineItems": {"nodes": items},
    }
