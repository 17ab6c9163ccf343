"""A local stand-in for one Shopify store's Admin GraphQL API (2025-10).

    fake = FakeShopify(orders, clock=clock)
    async with serving(fake.app(), lifespan="off") as (url, _):
        backend = ShopifyBackend(client, url, fake.token, ...)

`POST /admin/api/{version}/graphql.json`, checked like Shopify checks it (the
`X-Shopify-Access-Token` header, the API version), answering each named operation
that `orders.shopify` sends with the shapes of Shopify's documentation, including
`extensions.cost`. There is no GraphQL parser: the operation name picks the
answer, and the answer holds every field the back-end asks for. The store starts
from our orders (`tests/fakes/shopify_data.py`) and keeps its changes in memory.

Faults are scripted per operation (or "*" for any): `fake.fail("OrderCancel",
"500")` answers the next OrderCancel with HTTP 500. Kinds: "500", "429" (with
Retry-After), "throttled" (Shopify's THROTTLED error, HTTP 200), "garbage" (an
HTML page), "not-graphql" (a JSON list), "no-data", "errors" (a GraphQL error
that is not throttling), "refuse" (a mutation's `userErrors`, the shop's own
rules saying no), and "slow" (do the work, then answer after
`slow_seconds`: the change is made though the caller gave up). `calls` records
every operation received; `changes` every mutation that changed the store.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from orders.models import Order
from tests.fakes.shopify_data import Ids, customer_of, money, shopify_order, stamp

VERSION = "2025-10"
TOKEN = "shpat_fake_0123456789abcdef"
COST = {"requestedQueryCost": 52, "actualQueryCost": 14,
        "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": 1986.0,
                           "restoreRate": 100.0}}
THROTTLED = {
    "errors": [{"message": "Throttled", "extensions": {
        "code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
    "extensions": {"cost": {"requestedQueryCost": 752, "actualQueryCost": None,
                            "throttleStatus": {"maximumAvailable": 2000.0,
                                               "currentlyAvailable": 747.0,
                                               "restoreRate": 100.0}}},
}
REFUSALS = {
    "OrderTagsAdd": ("tagsAdd", "userErrors"),
    "OrderCancel": ("orderCancel", "orderCancelUserErrors"),
    "ReturnRequest": ("returnRequest", "userErrors"),
    "ReturnCreate": ("returnCreate", "userErrors"),
    "OrderUpdate": ("orderUpdate", "userErrors"),
}
"""Mutation -> its payload field and its errors field, for the "refuse" fault."""
_TERM = re.compile(r'(\w+):("(?:[^"\\]|\\.)*"|\S+)')
_LIVE_FO = {"OPEN", "IN_PROGRESS", "SCHEDULED", "ON_HOLD"}

Handler = Callable[[dict[str, Any]], dict[str, Any]]


def _error(message: str, code: str) -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {"code": code}}]}


def _user_error(message: str, code: str, field: str) -> dict[str, Any]:
    return {"field": [field], "message": message, "code": code}


class FakeShopify:
    def __init__(
        self, orders: list[Order], *, clock: Callable[[], datetime] | None = None,
        token: str = TOKEN, version: str = VERSION,
    ) -> None:
        self.token = token
        self.version = version
        self.clock = clock or (lambda: datetime.now(UTC))
        self.slow_seconds = 2.0
        self.cancel_lag_polls = 0
        """CancelJob polls that answer done=false before the cancel is carried out."""
        self.calls: list[str] = []
        self.changes: list[str] = []
        self._faults: dict[str, list[str]] = defaultdict(list)
        self._ids = Ids()
        self.customers: dict[str, dict[str, Any]] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        self.products: dict[str, dict[str, Any]] = {}  # our product id -> Shopify's product
        self._jobs: dict[str, dict[str, Any]] = {}
        by_email: dict[str, dict[str, Any]] = {}
        for order in orders:
            key = order.customer.email.casefold()
            if key not in by_email:
                by_email[key] = customer_of(order, self._ids)
                self.customers[by_email[key]["id"]] = by_email[key]
            raw = shopify_order(order, by_email[key], self._ids, self.products)
            self.orders[raw["id"]] = raw

    # --- test controls -------------------------------------------------------------

    def fail(self, operation: str, *faults: str) -> None:
        self._faults[operation].extend(faults)

    def run_jobs(self) -> None:
        """Carry out every cancel job still waiting (Shopify catching up)."""
        for job in self._jobs.values():
            if not job["done"]:
                job["run"]()
                job["done"] = True

    def order(self, number: str) -> dict[str, Any]:
        return next(o for o in self.orders.values() if o["name"] == f"#{number}")

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/admin/api/{version}/graphql.json", self._graphql,
                                       methods=["POST"])])

    # --- the endpoint --------------------------------------------------------------

    async def _graphql(self, request: Request) -> Response:
        if request.path_params["version"] != self.version:
            return JSONResponse({"errors": "Not Found"}, status_code=404)
        if request.headers.get("x-shopify-access-token") != self.token:
            return JSONResponse({"errors": "[API] Invalid API key or access token "
                                           "(unrecognized login or wrong password)"},
                                status_code=401)
        body = await request.json()
        operation = body.get("operationName") or ""
        self.calls.append(operation)
        handler = self._handlers().get(operation)
        declared = re.search(rf"\b(query|mutation) {re.escape(operation)}\b",
                             body.get("query") or "")
        if handler is None or declared is None:
            return JSONResponse(_error(f"Unknown operation {operation!r}", "undefinedField"))
        queue = self._faults[operation] or self._faults["*"]
        fault = queue.pop(0) if queue else None
        if fault == "refuse" and operation in REFUSALS:
            field, errors = REFUSALS[operation]
            refusal = _user_error("Not allowed by the shop's rules.", "INVALID", "input")
            return JSONResponse({"data": {field: {errors: [refusal]}},
                                 "extensions": {"cost": COST}})
        if fault is not None and fault != "slow":
            return self._faulty(fault)
        variables = body.get("variables") or {}
        answer = handler(variables)
        if fault == "slow":
            await asyncio.sleep(self.slow_seconds)
        if "errors" in answer:
            return JSONResponse(answer)
        return JSONResponse({"data": answer, "extensions": {"cost": COST}})

    def _faulty(self, fault: str) -> Response:
        match fault:
            case "500":
                return JSONResponse({"errors": "Internal Server Error"}, status_code=500)
            case "429":
                return JSONResponse(THROTTLED, status_code=429, headers={"Retry-After": "1.0"})
            case "throttled":
                return JSONResponse(THROTTLED)
            case "garbage":
                return Response("<html><body>Oops</body></html>", media_type="text/html")
            case "not-graphql":
                return JSONResponse(["surprise"])
            case "no-data":
                return JSONResponse({"data": None})
            case "errors":
                return JSONResponse(_error("Access denied for order field.", "ACCESS_DENIED"))
        raise ValueError(f"unknown fault {fault!r}")

    def _handlers(self) -> dict[str, Handler]:
        return {
            "OrdersBySearch": self._orders_by_search,
            "OrderById": lambda v: {"order": self.orders.get(v["id"])},
            "CustomersByPhone": self._customers_by_phone,
            "CancelJob": self._job,
            "OrderTagsAdd": self._tags_add,
            "OrderCancel": self._order_cancel,
            "ReturnRequest": self._return_request,
            "ReturnCreate": self._return_create,
            "OrderUpdate": self._order_update,
            "ProductVariants": self._product_variants,
        }

    def _product_variants(self, variables: dict[str, Any]) -> dict[str, Any]:
        product = next((p for p in self.products.values() if p["id"] == variables["id"]), None)
        return {"product": product}

    # --- reads ---------------------------------------------------------------------

    def _orders_by_search(self, variables: dict[str, Any]) -> dict[str, Any]:
        """Shopify's search is loose: a name term matches names that start with it."""
        def matches(order: dict[str, Any], key: str, value: str) -> bool:
            match key:
                case "name":
                    return str(order["name"]).lstrip("#").startswith(value.lstrip("#"))
                case "email":
                    return str(order["email"]).casefold() == value.casefold()
                case "customer_id":
                    return str(order["customer"]["id"]).endswith(f"/{value}")
            return False

        terms = [(k, v.strip('"')) for k, v in _TERM.findall(variables["query"])]
        found = [o for o in self.orders.values() if any(matches(o, k, v) for k, v in terms)]
        found.sort(key=lambda o: str(o["createdAt"]), reverse=True)
        return {"orders": {"nodes": [{"id": o["id"], "name": o["name"]}
                                     for o in found[: int(variables["first"])]]}}

    def _customers_by_phone(self, variables: dict[str, Any]) -> dict[str, Any]:
        terms = dict((k, v.strip('"')) for k, v in _TERM.findall(variables["query"]))
        phone = terms.get("phone", "").replace(" ", "")
        return {"customers": {"nodes": [
            {"id": c["id"], "defaultPhoneNumber": c["defaultPhoneNumber"]}
            for c in self.customers.values()
            if c["defaultPhoneNumber"]["phoneNumber"].replace(" ", "") == phone
        ]}}

    def _job(self, variables: dict[str, Any]) -> dict[str, Any]:
        job = self._jobs.get(variables["id"])
        if job is None:
            return {"job": None}
        if job["lag"] > 0:
            job["lag"] -= 1
        elif not job["done"]:
            job["run"]()
            job["done"] = True
        return {"job": {"id": variables["id"], "done": job["done"]}}

    # --- mutations -----------------------------------------------------------------

    def _tags_add(self, variables: dict[str, Any]) -> dict[str, Any]:
        order = self.orders.get(variables["id"])
        if order is None:
            return {"tagsAdd": {"node": None, "userErrors": [
                {"field": ["id"], "message": "Order does not exist"}]}}
        for tag in variables["tags"]:
            if tag not in order["tags"]:
                order["tags"].append(tag)
        self.changes.append("tagsAdd")
        return {"tagsAdd": {"node": {"id": order["id"]}, "userErrors": []}}

    def _order_cancel(self, variables: dict[str, Any]) -> dict[str, Any]:
        missing = [k for k in ("orderId", "refundMethod", "restock", "reason")
                   if variables.get(k) is None]
        if missing:
            return _error(f"Variable ${missing[0]} of non-null type was not provided.",
                          "INVALID_VARIABLE")
        order = self.orders.get(variables["orderId"])
        errors = []
        if order is None:
            errors.append(_user_error("Order does not exist.", "NOT_FOUND", "orderId"))
        elif order["cancelledAt"] or any(j["order"] == order["id"] and not j["done"]
                                         for j in self._jobs.values()):
            errors.append(_user_error("Order has already been cancelled.", "INVALID",
                                      "orderId"))
        elif order["fulfillments"]:
            errors.append(_user_error("Cannot cancel a fulfilled order.", "INVALID",
                                      "orderId"))
        if errors or order is None:
            return {"orderCancel": {"job": None, "orderCancelUserErrors": errors}}
        refund = bool(variables["refundMethod"].get("originalPaymentMethodsRefund"))

        def run() -> None:
            self._cancel(order, refund)

        job_id = f"gid://shopify/Job/{uuid.uuid4()}"
        self._jobs[job_id] = {"order": order["id"], "done": False,
                              "lag": self.cancel_lag_polls, "run": run}
        if self.cancel_lag_polls == 0:
            run()
            self._jobs[job_id]["done"] = True
        return {"orderCancel": {"job": {"id": job_id, "done": False},
                                "orderCancelUserErrors": []}}

    def _cancel(self, order: dict[str, Any], refund: bool) -> None:
        now = self.clock()
        order["cancelledAt"] = stamp(now)
        order["cancelReason"] = "CUSTOMER"
        for fo in order["fulfillmentOrders"]["nodes"]:
            if fo["status"] in _LIVE_FO:
                fo["status"] = "CANCELLED"
        paid = order["displayFinancialStatus"] == "PAID"
        if refund and paid:
            total = order["totalPriceSet"]["presentmentMoney"]
            order["refunds"].append({
                "id": self._ids("Refund"), "createdAt": stamp(now), "return": None,
                "totalRefundedSet": money(total["amount"], total["currencyCode"]),
                "transactions": {"nodes": [{
                    "kind": "REFUND", "status": "PENDING",
                    "gateway": order["paymentGatewayNames"][0], "processedAt": None}]},
            })
        elif order["displayFinancialStatus"] == "PENDING":
            order["displayFinancialStatus"] = "VOIDED"
        self.changes.append("orderCancel")

    def _return_request(self, variables: dict[str, Any]) -> dict[str, Any]:
        return self._new_return(variables["input"], "returnRequest", "customerNote",
                                "REQUESTED")

    def _return_create(self, variables: dict[str, Any]) -> dict[str, Any]:
        """A return approved at once (OPEN), with exchange line items: Shopify's guide
        to exchanges. Each exchange variant must be for sale."""
        data = variables["returnInput"]
        exchange = []
        for k, line in enumerate(data.get("exchangeLineItems") or []):
            variant = next((v for p in self.products.values() for v in p["variants"]["nodes"]
                            if v["id"] == line.get("variantId")), None)
            if variant is None or not variant["availableForSale"]:
                return {"returnCreate": {"return": None, "userErrors": [_user_error(
                    "Variant is not available.", "INVALID",
                    f"exchangeLineItems.{k}.variantId")]}}
            exchange.append({"id": self._ids("ExchangeLineItem"), "variantId": variant["id"],
                             "quantity": int(line["quantity"])})
        answer = self._new_return(data, "returnCreate", "returnReasonNote", "OPEN")
        created = (answer["returnCreate"]["return"] or {}).get("id")
        for order in self.orders.values():
            for ret in order["returns"]["nodes"]:
                if ret["id"] == created:
                    ret["exchangeLineItems"] = {"nodes": exchange}
        return answer

    def _new_return(self, data: dict[str, Any], field: str, note: str, status: str
                    ) -> dict[str, Any]:
        order = self.orders.get(str(data.get("orderId")))
        if order is None:
            return {field: {"return": None, "userErrors": [
                _user_error("Order does not exist.", "NOT_FOUND", "orderId")]}}
        units: dict[str, tuple[int, str]] = {}
        for f in order["fulfillments"]:
            for n in f["fulfillmentLineItems"]["nodes"]:
                units[n["id"]] = (n["quantity"], n["lineItem"]["id"])
        for ret in order["returns"]["nodes"]:
            if ret["status"] in ("DECLINED", "CANCELED"):
                continue
            for n in ret["returnLineItems"]["nodes"]:
                fli = n["fulfillmentLineItem"]["id"]
                if fli in units:
                    units[fli] = (units[fli][0] - n["quantity"], units[fli][1])
        items = []
        for k, line in enumerate(data.get("returnLineItems") or []):
            fli = line.get("fulfillmentLineItemId")
            if fli not in units or not 0 < int(line["quantity"]) <= units[fli][0]:
                return {field: {"return": None, "userErrors": [_user_error(
                    "Quantity is not returnable.", "INVALID",
                    f"returnLineItems.{k}.quantity")]}}
            items.append({
                "id": self._ids("ReturnLineItem"), "quantity": int(line["quantity"]),
                "returnReason": line["returnReason"], note: line.get(note),
                "fulfillmentLineItem": {"id": fli, "lineItem": {"id": units[fli][1]}},
            })
        if not items:
            return {field: {"return": None, "userErrors": [_user_error(
                "Return line items can't be blank.", "BLANK", "returnLineItems")]}}
        created = {
            "id": self._ids("Return"),
            "name": f"{order['name']}-R{len(order['returns']['nodes']) + 1}",
            "status": status,
            "createdAt": stamp(self.clock()),
            "decline": None,
            "returnLineItems": {"nodes": items},
        }
        order["returns"]["nodes"].append(created)
        self.changes.append(field)
        return {field: {"return": {k: created[k] for k in ("id", "name", "status")},
                        "userErrors": []}}

    def _order_update(self, variables: dict[str, Any]) -> dict[str, Any]:
        data = variables["input"]
        order = self.orders.get(data.get("id"))
        if order is None:
            return {"orderUpdate": {"order": None, "userErrors": [
                {"field": ["id"], "message": "Order does not exist"}]}}
        new = data.get("shippingAddress")
        if new is not None:
            if not new.get("address1"):
                return {"orderUpdate": {"order": None, "userErrors": [
                    {"field": ["shippingAddress", "address1"], "message": "can't be blank"}]}}
            old = order["shippingAddress"] or {}
            first, last = new.get("firstName") or "", new.get("lastName") or ""
            order["shippingAddress"] = {
                "name": " ".join(p for p in (first, last) if p),
                "firstName": first or None, "lastName": last or None,
                "address1": new["address1"], "address2": new.get("address2"),
                "city": new.get("city"),
                "province": old.get("province") if new.get("provinceCode") == old.get(
                    "provinceCode") else new.get("provinceCode"),
                "provinceCode": new.get("provinceCode"), "zip": new.get("zip"),
                "countryCodeV2": new.get("countryCode"),
            }
            self.changes.append("orderUpdate")
        return {"orderUpdate": {"order": {"id": order["id"]}, "userErrors": []}}
