"""A local stand-in for a WooCommerce shop's REST API v3 and the Shipment Tracking
extension: a Starlette app (serve it with `tests.live.serving`) holding our demo
orders translated to WooCommerce's order JSON, keeping changes in memory.

    fake = FakeWooCommerce.seeded(orders)
    async with serving(fake.app(), lifespan="off") as (url, _server): ...

Routes (HTTP Basic auth with the consumer key and secret, else 401):

    GET  /wp-json/wc/v3/orders              search, include, customer, status,
                                            page, per_page (<= 100), orderby, order
    GET  /wp-json/wc/v3/orders/{id}
    PUT|POST /wp-json/wc/v3/orders/{id}     status, billing, shipping, meta_data
    GET|POST /wp-json/wc/v3/orders/{id}/refunds
    POST /wp-json/wc/v3/orders/{id}/notes
    GET|POST /wp-json/wc-shipment-tracking/v3/orders/{id}/shipment-trackings

Order ids are not order numbers (numbers are ours, as a sequential-numbers plugin
would show them), so a client that finds orders by id alone fails here as it would
in such a shop. Order search is WooCommerce's: a substring of billing and shipping
fields, item names, or the id; the number is searched too, as those plugins do.

Failures are scripted per test with `script(kind, method=..., path=..., times=...)`:
"500", "garbage" (a 200 with an HTML page), "401", "400" (a
`woocommerce_rest_*` refusal), and "slow" (answers after
`slow_seconds`, having made the change first, like a shop that commits and then
stalls).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import phonenumbers
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from orders.models import (
    Fulfilment,
    Order,
    OrderStatus,
    PackageStatus,
    PaymentMethod,
    PaymentStatus,
    RefundStatus,
)

CONSUMER_KEY = "ck_0123456789abcdef0123456789abcdef01234567"
CONSUMER_SECRET = "cs_76543210fedcba9876543210fedcba9876543210"
FIRST_ID = 4101
STATUSES = ("pending", "processing", "on-hold", "completed", "cancelled", "refunded", "failed",
            "delivered", "ready-pickup")
"""WooCommerce's statuses, and the custom ones tracking plugins add."""
GATEWAYS = {
    PaymentMethod.CARD: ("stripe", "Credit Card (Stripe)"),
    PaymentMethod.UPI: ("razorpay", "UPI (Razorpay)"),
    PaymentMethod.WALLET: ("paytm", "Paytm Wallet"),
    PaymentMethod.GIFT_CARD: ("gift_card", "Gift card"),
    PaymentMethod.COD: ("cod", "Cash on delivery"),
}
PROVIDERS = {"Delhivery": "https://track.example-courier.in/delhivery/%1$s"}
"""Shipment Tracking's predefined providers (the rest are custom providers)."""
TRACKING_META = "_wc_shipment_tracking_items"


def _gmt(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _money(amount: Decimal) -> str:
    return f"{amount:.2f}"


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message, "data": {"status": status}},
                        status_code=status)


def _split(name: str) -> tuple[str, str]:
    first, _, last = name.strip().partition(" ")
    return first, last


@dataclass
class Fault:
    kind: str
    method: str
    path: str
    times: int


@dataclass
class FakeWooCommerce:
    consumer_key: str = CONSUMER_KEY
    consumer_secret: str = CONSUMER_SECRET
    orders: dict[int, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    notes: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    """(method, path) of every request that passed auth, in order; no query strings."""
    faults: list[Fault] = field(default_factory=list)
    gateway_refunds: bool = True
    """False: the gateway cannot refund (`api_refund` fails as WooCommerce fails it)."""
    slow_seconds: float = 2.0
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(90001))

    # seeding ---------------------------------------------------------------------

    @classmethod
    def seeded(cls, orders: list[Order], **options: Any) -> FakeWooCommerce:
        fake = cls(**options)
        for index, order in enumerate(orders):
            fake.add(order, FIRST_ID + index)
        return fake

    def add(self, order: Order, order_id: int) -> dict[str, Any]:
        """Put one of our orders in the shop, as WooCommerce would hold it."""
        raw, refunds = self._translate(order, order_id)
        self.orders[order_id] = raw
        self.refunds[order_id] = refunds
        return raw

    def by_number(self, number: str) -> dict[str, Any]:
        return next(o for o in self.orders.values() if o["number"] == number)

    def script(self, kind: str, *, method: str = "*", path: str = "", times: int = 1) -> None:
        """Answer the next `times` matching requests with a failure (see module doc)."""
        self.faults.append(Fault(kind, method, path, times))

    def _translate(self, order: Order, order_id: int) -> tuple[dict[str, Any], list[Any]]:
        payment = order.payment
        gateway, title = GATEWAYS[payment.method]
        phone = phonenumbers.parse(order.customer.phone)
        region = phonenumbers.region_code_for_number(phone) or "IN"
        first, last = _split(order.customer.name)
        address = order.shipping_address
        shipping = {"first_name": "", "last_name": "", "company": "", "address_1": "",
                    "address_2": "", "city": "", "state": "", "postcode": "", "country": "",
                    "phone": ""}
        if address is not None:
            ship_first, ship_last = _split(address.name)
            shipping |= {"first_name": ship_first, "last_name": ship_last,
                         "address_1": address.line1, "address_2": address.line2,
                         "city": address.city, "state": address.region,
                         "postcode": address.postal_code, "country": address.country}
        billing = {**shipping, "first_name": first, "last_name": last,
                   "country": shipping["country"] or region,
                   "email": order.customer.email,
                   "phone": phonenumbers.format_number(
                       phone, phonenumbers.PhoneNumberFormat.NATIONAL)}
        refunds = [self._refund_of(r.amount, r.initiated_at or r.completed_at
                                   or order.placed_at, payment.method)
                   for r in order.refunds if r.status is not RefundStatus.NOT_STARTED]
        refunded = sum((r.amount for r in order.refunds
                        if r.status is not RefundStatus.NOT_STARTED), Decimal("0"))
        delivered = [p.delivered_at for p in order.packages if p.delivered_at]
        shipped = [e.at for p in order.packages for e in p.events
                   if e.status not in (None, PackageStatus.AT_WAREHOUSE)]
        completed = max(delivered) if order.status is OrderStatus.DELIVERED and delivered else (
            min(shipped) if shipped else None)
        modified = max([order.placed_at, *(e.at for p in order.packages for e in p.events),
                        *([order.cancelled_at] if order.cancelled_at else [])])
        paid = payment.status in (PaymentStatus.PAID, PaymentStatus.REFUNDED,
                                  PaymentStatus.PARTIALLY_REFUNDED)
        raw: dict[str, Any] = {
            "id": order_id, "parent_id": 0, "number": order.number,
            "order_key": f"wc_order_{hashlib.sha1(order.number.encode()).hexdigest()[:13]}",
            "created_via": "checkout", "version": "9.8.5",
            "status": self._status(order, refunded),
            "currency": order.currency, "currency_symbol": "",
            "date_created": _gmt(order.placed_at), "date_created_gmt": _gmt(order.placed_at),
            "date_modified": _gmt(modified), "date_modified_gmt": _gmt(modified),
            "discount_total": "0.00", "discount_tax": "0.00",
            "shipping_total": _money(order.shipping_fee), "shipping_tax": "0.00",
            "cart_tax": "0.00", "total": _money(payment.amount), "total_tax": "0.00",
            "prices_include_tax": False, "customer_id": 0, "customer_ip_address": "",
            "customer_user_agent": "", "customer_note": "",
            "billing": billing, "shipping": shipping,
            "payment_method": gateway, "payment_method_title": title,
            "transaction_id": f"txn_{order_id}" if paid else "",
            "date_paid": _gmt(order.placed_at) if paid else None,
            "date_paid_gmt": _gmt(order.placed_at) if paid else None,
            "date_completed": _gmt(completed), "date_completed_gmt": _gmt(completed),
            "cart_hash": "", "meta_data": [],
            "line_items": [self._line(item.name, item.sku, item.quantity, item.unit_price)
                           for item in order.items],
            "tax_lines": [], "shipping_lines": [self._shipping_line(order)],
            "fee_lines": [], "coupon_lines": [],
            "refunds": [{"id": r["id"], "reason": r["reason"], "total": f"-{r['amount']}"}
                        for r in refunds],
            "set_paid": False,
        }
        items = []
        for package in order.packages:
            if package.status is PackageStatus.AT_WAREHOUSE or not package.tracking_number:
                continue
            left = [e.at for e in package.events
                    if e.status not in (None, PackageStatus.AT_WAREHOUSE)]
            items.append(self._tracking_item(package.carrier or "", package.tracking_number,
                                             package.tracking_url or "",
                                             min(left).date() if left else order.placed_at.date()))
        if items:
            raw["meta_data"].append({"id": next(self._ids), "key": TRACKING_META,
                                     "value": items})
        return raw, refunds

    @staticmethod
    def _status(order: Order, refunded: Decimal) -> str:
        fully_refunded = refunded > 0 and refunded >= order.payment.amount
        match order.status:
            case OrderStatus.PLACED:
                return "pending" if order.payment.status is PaymentStatus.PENDING else "processing"
            case OrderStatus.PROCESSING:
                return "processing"
            case OrderStatus.SHIPPED:
                ready = any(p.status is PackageStatus.READY_FOR_PICKUP for p in order.packages)
                return "ready-pickup" if ready else "completed"
            case OrderStatus.DELIVERED:
                if fully_refunded:
                    return "refunded"
                return "completed" if order.fulfilment is Fulfilment.STORE_PICKUP else "delivered"
            case OrderStatus.CANCELLED:
                return "refunded" if fully_refunded else "cancelled"
            case OrderStatus.PAYMENT_FAILED:
                return "failed"

    def _line(self, name: str, sku: str, quantity: int, unit_price: Decimal) -> dict[str, Any]:
        total = _money(unit_price * quantity)
        return {"id": next(self._ids), "name": name,
                "product_id": int(hashlib.sha1(sku.encode()).hexdigest()[:6], 16),
                "variation_id": 0, "quantity": quantity, "tax_class": "",
                "subtotal": total, "subtotal_tax": "0.00", "total": total, "total_tax": "0.00",
                "taxes": [], "meta_data": [], "sku": sku, "price": float(unit_price),
                "image": {"id": "", "src": ""}, "parent_name": None}

    def _shipping_line(self, order: Order) -> dict[str, Any]:
        line: dict[str, Any] = {"id": next(self._ids), "method_title": "Flat rate",
                                "method_id": "flat_rate", "instance_id": "1",
                                "total": _money(order.shipping_fee), "total_tax": "0.00",
                                "taxes": [], "meta_data": []}
        if order.fulfilment is Fulfilment.STORE_PICKUP:
            place, _, where = (order.pickup_store or "").partition(", ")
            line |= {"method_title": "Pickup", "method_id": "pickup_location",
                     "instance_id": "0", "meta_data": [
                         {"id": next(self._ids), "key": "pickup_location", "value": place},
                         {"id": next(self._ids), "key": "pickup_address", "value": where}]}
        return line

    def _tracking_item(self, carrier: str, number: str, link: str, shipped: date
                       ) -> dict[str, Any]:
        predefined = carrier in PROVIDERS
        stamp = int(datetime(shipped.year, shipped.month, shipped.day, tzinfo=UTC).timestamp())
        return {
            "tracking_provider": carrier.lower() if predefined else "",
            "custom_tracking_provider": "" if predefined else carrier,
            "custom_tracking_link": "" if predefined else link,
            "tracking_number": number,
            "date_shipped": str(stamp),
            "tracking_id": hashlib.md5(f"{number}{stamp}".encode(),
                                       usedforsecurity=False).hexdigest(),
        }

    def _refund_of(self, amount: Decimal, made: datetime, method: PaymentMethod,
                   *, reason: str = "", meta: list[dict[str, Any]] | None = None,
                   api: bool | None = None) -> dict[str, Any]:
        return {"id": next(self._ids), "date_created": _gmt(made), "date_created_gmt": _gmt(made),
                "amount": _money(amount), "reason": reason, "refunded_by": 1,
                "refunded_payment": (method is not PaymentMethod.COD) if api is None else api,
                "meta_data": meta or [], "line_items": [], "shipping_lines": [],
                "tax_lines": [], "fee_lines": []}

    # serving ---------------------------------------------------------------------

    def app(self) -> Starlette:
        api, tracking = "/wp-json/wc/v3", "/wp-json/wc-shipment-tracking/v3"
        return Starlette(routes=[
            Route(f"{api}/orders", self._guard(self._list), methods=["GET"]),
            Route(f"{api}/orders/{{id:int}}", self._guard(self._one),
                  methods=["GET", "PUT", "POST", "PATCH"]),
            Route(f"{api}/orders/{{id:int}}/refunds", self._guard(self._refunds),
                  methods=["GET", "POST"]),
            Route(f"{api}/orders/{{id:int}}/notes", self._guard(self._notes), methods=["POST"]),
            Route(f"{tracking}/orders/{{id:int}}/shipment-trackings", self._guard(self._trackings),
                  methods=["GET", "POST"]),
        ])

    def count(self, method: str, suffix: str) -> int:
        return sum(1 for m, p in self.calls if m == method and p.endswith(suffix))

    def _guard(self, handler: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            if not self._authorised(request):
                return _error(401, "woocommerce_rest_authentication_error",
                              "Consumer key is invalid.")
            self.calls.append((request.method, request.url.path))
            fault = self._fault(request)
            if fault == "500":
                return PlainTextResponse("There has been a critical error on this website.",
                                         status_code=500)
            if fault == "garbage":
                return PlainTextResponse("<html><body>Just a moment...</body></html>",
                                         media_type="text/html")
            if fault == "400":
                return _error(400, "woocommerce_rest_invalid_order_status",
                              "The order cannot be changed now.")
            if fault == "401":
                return _error(401, "woocommerce_rest_cannot_view",
                              "Sorry, you cannot list resources.")
            response: Response = await handler(request)
            if fault == "slow":
                await asyncio.sleep(self.slow_seconds)
            return response
        return endpoint

    def _authorised(self, request: Request) -> bool:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            key, _, secret = base64.b64decode(encoded).decode().partition(":")
        except ValueError:
            return False
        return key == self.consumer_key and secret == self.consumer_secret

    def _fault(self, request: Request) -> str | None:
        for fault in self.faults:
            if fault.times > 0 and fault.method in ("*", request.method) and (
                fault.path in request.url.path
            ):
                fault.times -= 1
                return fault.kind
        return None

    def _missing(self) -> JSONResponse:
        return _error(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")

    async def _list(self, request: Request) -> Response:
        q = request.query_params
        per_page, page = int(q.get("per_page", "10")), int(q.get("page", "1"))
        if not 1 <= per_page <= 100:
            return _error(400, "rest_invalid_param", "Invalid parameter(s): per_page")
        found = list(self.orders.values())
        if q.get("include"):
            ids = {int(i) for i in q["include"].split(",") if i.strip().isdigit()}
            found = [o for o in found if o["id"] in ids]
        if q.get("status") and q["status"] != "any":
            wanted = set(q["status"].split(","))
            found = [o for o in found if o["status"] in wanted]
        if q.get("customer"):
            found = [o for o in found if str(o["customer_id"]) == q["customer"]]
        if q.get("search"):
            found = [o for o in found if _matches(o, q["search"])]
        found.sort(key=lambda o: (o["date_created_gmt"], o["id"]),
                   reverse=q.get("order", "desc") == "desc")
        pages = max(1, -(-len(found) // per_page))
        chunk = found[(page - 1) * per_page: page * per_page]
        return JSONResponse(chunk, headers={"X-WP-Total": str(len(found)),
                                            "X-WP-TotalPages": str(pages)})

    async def _one(self, request: Request) -> Response:
        order = self.orders.get(request.path_params["id"])
        if order is None:
            return self._missing()
        if request.method == "GET":
            return JSONResponse(order)
        body = await request.json()
        status = body.get("status")
        if status is not None and status not in STATUSES:
            return _error(400, "rest_invalid_param", "Invalid parameter(s): status")
        if status is not None:
            order["status"] = status
        for part in ("billing", "shipping"):
            if isinstance(body.get(part), dict):
                order[part] = {**order[part], **body[part]}
        for entry in body.get("meta_data") or []:
            _update_meta(order["meta_data"], entry, self._ids)
        order["date_modified"] = order["date_modified_gmt"] = _gmt(self.now)
        return JSONResponse(order)

    async def _refunds(self, request: Request) -> Response:
        order_id = request.path_params["id"]
        order = self.orders.get(order_id)
        if order is None:
            return self._missing()
        made = self.refunds.setdefault(order_id, [])
        if request.method == "GET":
            return JSONResponse(list(reversed(made)))
        body = await request.json()
        amount = Decimal(str(body.get("amount") or "0"))
        if amount <= 0:
            return _error(400, "woocommerce_rest_invalid_order_refund",
                          "Refund amount must be greater than zero.")
        left = Decimal(order["total"]) - sum(Decimal(r["amount"]) for r in made)
        if amount > left:
            return _error(500, "woocommerce_rest_cannot_create_order_refund",
                          "Invalid refund amount.")
        api = bool(body.get("api_refund", True))
        if api and (not self.gateway_refunds or order["payment_method"] == "cod"):
            return _error(500, "woocommerce_rest_cannot_create_order_refund",
                          "The payment gateway for this order does not support automatic "
                          "refunds.")
        meta: list[dict[str, Any]] = []
        for entry in body.get("meta_data") or []:
            _update_meta(meta, entry, self._ids)
        refund = self._refund_of(amount, self.now, PaymentMethod.CARD,
                                 reason=str(body.get("reason") or ""), meta=meta, api=api)
        made.append(refund)
        order["refunds"].append({"id": refund["id"], "reason": refund["reason"],
                                 "total": f"-{refund['amount']}"})
        if amount == left:
            order["status"] = "refunded"  # WooCommerce's own rule for a full refund
        return JSONResponse(refund, status_code=201)

    async def _notes(self, request: Request) -> Response:
        order_id = request.path_params["id"]
        if order_id not in self.orders:
            return self._missing()
        body = await request.json()
        note = {"id": next(self._ids), "author": "WooCommerce",
                "date_created": _gmt(self.now), "date_created_gmt": _gmt(self.now),
                "note": str(body.get("note", "")),
                "customer_note": bool(body.get("customer_note", False))}
        self.notes.setdefault(order_id, []).append(note)
        return JSONResponse(note, status_code=201)

    async def _trackings(self, request: Request) -> Response:
        order = self.orders.get(request.path_params["id"])
        if order is None:
            return self._missing()
        meta = next((m for m in order["meta_data"] if m["key"] == TRACKING_META), None)
        if request.method == "POST":
            body = await request.json()
            provider = str(body.get("tracking_provider") or "")
            carrier = next((name for name in PROVIDERS if name.lower() == provider.lower()),
                           str(body.get("custom_tracking_provider") or provider))
            shipped = date.fromisoformat(body["date_shipped"]) if body.get("date_shipped") else (
                self.now.date())
            item = self._tracking_item(carrier, str(body["tracking_number"]),
                                       str(body.get("custom_tracking_link") or ""), shipped)
            if meta is None:
                meta = {"id": next(self._ids), "key": TRACKING_META, "value": []}
                order["meta_data"].append(meta)
            meta["value"].append(item)
            return JSONResponse(_shown(item), status_code=201)
        return JSONResponse([_shown(i) for i in (meta or {}).get("value", [])])


def _shown(item: dict[str, Any]) -> dict[str, Any]:
    """A tracking item as Shipment Tracking's route shows it."""
    number = item["tracking_number"]
    named = next((n for n in PROVIDERS if n.lower() == item["tracking_provider"]), "")
    link = (PROVIDERS[named] if named else item["custom_tracking_link"]).replace("%1$s", number)
    shipped = datetime.fromtimestamp(int(item["date_shipped"]), UTC).date()
    return {"tracking_id": item["tracking_id"],
            "tracking_provider": named or item["custom_tracking_provider"],
            "tracking_link": link, "tracking_number": number,
            "date_shipped": shipped.isoformat()}


def _update_meta(meta: list[dict[str, Any]], entry: dict[str, Any],
                 ids: itertools.count[int]) -> None:
    """WooCommerce's `update_meta_data`: by id, else the entry with that key, else new."""
    key, value = entry.get("key"), entry.get("value")
    for existing in meta:
        if ("id" in entry and existing["id"] == entry["id"]) or (
            "id" not in entry and existing["key"] == key
        ):
            existing["value"] = json.loads(json.dumps(value))
            return
    meta.append({"id": next(ids), "key": key, "value": json.loads(json.dumps(value))})


def _matches(order: dict[str, Any], term: str) -> bool:
    term = term.strip().lower()
    if term.isdigit() and int(term) == order["id"]:
        return True
    fields = [order["number"], *order["billing"].values(), *order["shipping"].values(),
              *(item["name"] for item in order["line_items"])]
    return any(term in str(value).lower() for value in fields)
