"""Order back-end over Shopify's Admin GraphQL API (`ORDER_BACKEND=shopify`).

One POST per operation to `{store}/admin/api/{version}/graphql.json` with the
`X-Shopify-Access-Token` header, through the app's pooled httpx client. The
documents are in `shopify_queries.py`, the reading of Shopify's order into ours
in `shopify_mapping.py`.

What it does: finds an order by name ("#100001" or "100001", exact match only),
lists a shopper's orders by email (orders search) or phone (customers search,
exact number, then their orders), cancels (`orderCancel`: refund to the original
payment methods, restock), starts returns (`returnRequest`, so the merchant
approves them as in the demo shop) and exchanges a line for another variant of
its product (the product's variants read live; `returnCreate` with the old unit
as a return line and the new variant as an exchange line item, as Shopify's
"Manage exchanges" guide does: Shopify then records the price difference as a
balance on the order, which the merchant collects or refunds). `supports` is
{cancel, return, exchange}: Shopify has no replacement order and no requested
delivery date, and the chat's free-text address does not fit Shopify's
structured one, so replacements and delivery changes become requests for staff.
When staff approve a delivery request, the address goes to the order with
`orderUpdate`; a date, or a replacement, is refused (staff make them in Shopify's
admin).

Idempotency: Shopify takes no idempotency key for `orderCancel`,
`returnRequest`, `returnCreate` or `orderUpdate` (the `@idempotent` directive
arrived in 2026-01, for refunds and inventory only), so every change reads the order first
and leaves a mark of its own:
- cancel adds the tag `order-help-cancel-<ref>` before `orderCancel`; an order
  already cancelled that carries the tag is this change done before (its first
  outcome is returned, nothing is sent), one without it is refused;
- a return carries `(order-help ref <ref>)` in each line's note; a return with
  the ref (not declined or cancelled) is this change done before; so does an
  exchange (with `EXCHANGE`, the variant and the price difference after it);
- an address already on the order is not written again.
`<ref>` is the first 12 hex digits of the SHA-256 of the idempotency key. If
Shopify refuses a change, the order is read again: when our mark shows it done
(a concurrent retry got there first), that is the outcome. Residual risk,
accepted: staff cancelling the order by hand between our tag and our cancel
makes that cancellation read as ours (the order is cancelled, as asked).

`orderCancel` runs as a job: the job is polled for up to `cancel_wait` seconds
and the order read again; an order not yet cancelled then is reported as
`BackendUnavailable` (never as done); asking again finds it by its tag.

Errors: HTTP 429, a GraphQL THROTTLED error, HTTP 5xx, timeouts, network errors
and bodies that are not GraphQL JSON are retried with back-off for reads
(`read_attempts` tries, pauses of 0.25 s then 0.5 s unless Retry-After or the
throttle status says otherwise, at most `max_wait`; no try starts `READ_BUDGET`
seconds after the first), never for changes; what remains is `BackendUnavailable`, as are
other HTTP statuses (401/403: a wrong token or missing access scope) and any
other GraphQL `errors`. A mutation's `userErrors` are `ActionRefused` (the
message, for staff, carries Shopify's own). Logs name the operation, status and
error codes, never variables or bodies (they hold emails and phone numbers).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx

from .backend import ActionOutcome, ActionRefused, BackendUnavailable
from .eligibility import (
    Verdict,
    check_cancel,
    check_delivery_change,
    check_exchange,
    check_return,
    check_variant,
)
from .models import (
    Address,
    Order,
    OrderStatus,
    RefundCause,
    ReturnLine,
    ReturnReason,
    Variant,
)
from .phones import normalise_phone
from .policy import Action, Policy
from .retries import Transient, with_retries
from .shopify_mapping import (
    RETURN_REASON_TO_SHOPIFY,
    Json,
    ShapeError,
    exchange_lines,
    exchange_note,
    exchange_ref,
    gid_tail,
    line_gids,
    line_note,
    order_from_shopify,
    return_id,
    return_lines,
    return_note,
    return_refs,
    variant_options,
)
from .shopify_queries import DOCUMENTS
from .tracking import CarrierUpdate, TrackingApplied

log = logging.getLogger(__name__)

SUPPORTED = frozenset({Action.CANCEL, Action.RETURN, Action.EXCHANGE})
CUSTOMER_ORDERS = 10
"""A shopper's newest orders listed; each is then read in full, by id."""
PARALLEL_READS = 4
"""Full-order reads in flight at once when listing a shopper's orders."""
CANCEL_TAG = "order-help-cancel-"
READ_BUDGET = 5.0
"""Seconds after a read's first try when no new try starts, so a turn stays inside
the channels' webhook budgets (Twilio waits 15 s)."""

_ORDER_NUMBER = re.compile(r"[A-Za-z0-9_-]{1,40}")
_EMAIL = re.compile(r"[^\s\"'\\()<>:]{1,64}@[^\s\"'\\()<>:@]{1,190}")
_DEAD_RETURN = frozenset({"DECLINED", "CANCELED"})


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _ref(idempotency_key: str) -> str:
    return hashlib.sha256(idempotency_key.encode()).hexdigest()[:12]


def _codes(errors: Any) -> list[str]:
    if isinstance(errors, str):
        return ["ERROR"]
    if not isinstance(errors, list):
        return ["ERROR"]
    codes = []
    for error in errors:
        ext = error.get("extensions") if isinstance(error, Mapping) else None
        code = ext.get("code") if isinstance(ext, Mapping) else None
        codes.append(code if isinstance(code, str) else "ERROR")
    return codes


def _throttle_wait(body: Mapping[str, Any]) -> float | None:
    """Seconds until the cost of the refused query is back in the bucket."""
    try:
        cost = body["extensions"]["cost"]
        status = cost["throttleStatus"]
        missing = float(cost["requestedQueryCost"]) - float(status["currentlyAvailable"])
        return max(0.0, missing / float(status["restoreRate"]))
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers["Retry-After"]))
    except (KeyError, ValueError):
        return None


def _refuse(number: str, action: Action, verdict: Verdict) -> ActionRefused:
    return ActionRefused(f"order {number}: {action.value} refused ({verdict.reason.value})")


def _get(data: Mapping[str, Any], key: str) -> Any:
    value = data.get(key)
    if value is not None and not isinstance(value, Mapping):
        raise BackendUnavailable(f"shopify: unexpected shape of {key}")
    return value


def _nodes(value: Any) -> list[Json]:
    nodes = value.get("nodes") if isinstance(value, Mapping) else value
    if nodes is None:
        return []
    if not isinstance(nodes, list) or not all(isinstance(n, Mapping) for n in nodes):
        raise BackendUnavailable("shopify: unexpected shape of a list")
    return nodes


class ShopifyBackend:
    """Order back-end over one Shopify store. `client` is the app's pooled httpx
    client (its timeout applies to each request); `policy` holds the shop's rules
    that every change is re-checked against."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        store_url: str,
        access_token: str,
        *,
        api_version: str = "2025-10",
        policy: Policy | None = None,
        clock: Callable[[], datetime] = _utc_now,
        read_attempts: int = 3,
        retry_delay: float = 0.25,
        max_wait: float = 2.0,
        cancel_wait: float = 3.0,
        poll_interval: float = 0.25,
        notify_customer: bool = True,
    ) -> None:
        self._client = client
        self._url = f"{store_url.rstrip('/')}/admin/api/{api_version}/graphql.json"
        self._headers = {
            "X-Shopify-Access-Token": access_token,
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        self._policy = policy or Policy()
        self._clock = clock
        self._read_attempts = max(1, read_attempts)
        self._retry_delay = retry_delay
        self._max_wait = max_wait
        self._cancel_wait = cancel_wait
        self._poll_interval = poll_interval
        self._notify_customer = notify_customer

    @property
    def supports(self) -> frozenset[Action]:
        return SUPPORTED

    # transport -------------------------------------------------------------------

    async def _post(self, operation: str, variables: Mapping[str, Any]) -> Json:
        """One request; `Transient` when another try may succeed."""
        body = {"query": DOCUMENTS[operation], "variables": variables,
                "operationName": operation}
        try:
            response = await self._client.post(self._url, json=body, headers=self._headers)
        except httpx.TimeoutException as exc:
            raise Transient("timed out") from exc
        except httpx.TransportError as exc:
            raise Transient(f"network error ({type(exc).__name__})") from exc
        status = response.status_code
        if status == 429:
            raise Transient("throttled (HTTP 429)", _retry_after(response))
        if status >= 500:
            raise Transient(f"HTTP {status}")
        if status != 200:
            raise BackendUnavailable(f"shopify {operation}: HTTP {status}")
        try:
            payload = response.json()
        except ValueError as exc:
            raise Transient("body is not JSON") from exc
        if not isinstance(payload, dict):
            raise Transient("body is not a GraphQL response")
        errors = payload.get("errors")
        if errors:
            codes = _codes(errors)
            if "THROTTLED" in codes:
                raise Transient("throttled", _throttle_wait(payload))
            log.warning("shopify %s: GraphQL errors %s", operation, ",".join(codes))
            raise BackendUnavailable(f"shopify {operation}: GraphQL errors {codes}")
        data = payload.get("data")
        if not isinstance(data, dict):
            raise Transient("response without data")
        return data

    async def _call(self, operation: str, variables: Mapping[str, Any], *, read: bool) -> Json:
        """A read is tried `read_attempts` times; a change once (a lost answer to
        a change is settled by the next call's look at the order, not by resending)."""
        attempts = self._read_attempts if read else 1

        def failed(exc: Transient, attempt: int, last: bool) -> None:
            log.warning("shopify %s: %s (try %d of %d)", operation, exc.reason, attempt, attempts)

        try:
            return await with_retries(
                lambda: self._post(operation, variables), tries=attempts,
                backoff=[self._retry_delay * 2 ** i for i in range(attempts)],
                budget=READ_BUDGET, max_wait=self._max_wait, on_failure=failed,
            )
        except Transient as exc:
            raise BackendUnavailable(f"shopify {operation}: {exc.reason}") from exc

    async def _mutate(
        self, operation: str, variables: Mapping[str, Any], field: str, errors_field: str
    ) -> Json:
        data = await self._call(operation, variables, read=False)
        payload: Json | None = _get(data, field)
        if payload is None:
            raise BackendUnavailable(f"shopify {operation}: no {field} in the answer")
        errors = _nodes(payload.get(errors_field))
        if errors:
            codes = [str(e.get("code") or "-") for e in errors]
            log.info("shopify %s refused: %s", operation, ",".join(codes))
            messages = "; ".join(str(e.get("message") or "") for e in errors)
            raise ActionRefused(f"shopify {operation} refused: {messages}")
        return payload

    # reading ---------------------------------------------------------------------

    def _to_order(self, raw: Json) -> Order:
        try:
            return order_from_shopify(raw, self._policy)
        except ShapeError as exc:
            log.warning("shopify: %s", exc)
            raise BackendUnavailable(f"shopify: {exc}") from exc

    async def _order_by_id(self, gid: str) -> Json | None:
        data = await self._call("OrderById", {"id": gid}, read=True)
        raw: Json | None = _get(data, "order")
        return raw

    async def _search(self, query: str, first: int) -> list[Json]:
        data = await self._call("OrdersBySearch", {"query": query, "first": first}, read=True)
        return _nodes(_get(data, "orders"))

    async def _order_raw(self, number: str) -> Json | None:
        """The order whose name is exactly `number` (with or without "#")."""
        number = number.strip().removeprefix("#")
        if not _ORDER_NUMBER.fullmatch(number):
            return None
        for node in await self._search(f"name:#{number}", 5):
            name = str(node.get("name") or "").removeprefix("#")
            if name.casefold() == number.casefold() and isinstance(node.get("id"), str):
                return await self._order_by_id(node["id"])
        return None

    async def get_order(self, number: str) -> Order | None:
        raw = await self._order_raw(number)
        return None if raw is None else self._to_order(raw)

    async def find_orders(
        self, *, phone: str | None = None, email: str | None = None
    ) -> list[Order]:
        """A shopper's newest orders. With both phone and email, only orders that
        match both; Shopify's search is fuzzy, so every order is checked exactly."""
        e164 = None
        if phone is not None:
            e164 = normalise_phone(phone)
            if e164 is None:
                return []
        if email is not None:
            email = email.strip()
            if not _EMAIL.fullmatch(email):
                return []
        if email is not None:
            nodes = await self._search(f'email:"{email}"', CUSTOMER_ORDERS)
        elif e164 is not None:
            nodes = await self._orders_of_phone(e164)
        else:
            return []
        gids = list(dict.fromkeys(n["id"] for n in nodes if isinstance(n.get("id"), str)))
        gate = asyncio.Semaphore(PARALLEL_READS)

        async def read(gid: str) -> Json | None:
            async with gate:
                return await self._order_by_id(gid)

        raws = await asyncio.gather(*(read(gid) for gid in gids))
        orders = [self._to_order(raw) for raw in raws if raw is not None]
        mine = [
            o for o in orders
            if (email is None or o.customer.email.casefold() == email.casefold())
            and (e164 is None or normalise_phone(o.customer.phone) == e164)
        ]
        return sorted(mine, key=lambda o: o.placed_at, reverse=True)

    async def _orders_of_phone(self, e164: str) -> list[Json]:
        data = await self._call("CustomersByPhone", {"query": f'phone:"{e164}"'}, read=True)
        customers = [
            c for c in _nodes(_get(data, "customers"))
            if isinstance(c.get("id"), str) and normalise_phone(
                str((c.get("defaultPhoneNumber") or {}).get("phoneNumber") or "")) == e164
        ]
        if not customers:
            return []
        query = " OR ".join(f"customer_id:{gid_tail(c['id'])}" for c in customers)
        return await self._search(query, CUSTOMER_ORDERS)

    # changes ---------------------------------------------------------------------

    async def _must(self, number: str) -> tuple[Json, Order]:
        raw = await self._order_raw(number)
        if raw is None:
            raise ActionRefused("unknown order")
        return raw, self._to_order(raw)

    async def _reread(self, gid: str) -> tuple[Json, Order]:
        raw = await self._order_by_id(gid)
        if raw is None:
            raise BackendUnavailable("shopify: the order vanished after a change")
        return raw, self._to_order(raw)

    async def cancel(self, number: str, *, idempotency_key: str) -> ActionOutcome:
        raw, order = await self._must(number)
        tag = CANCEL_TAG + _ref(idempotency_key)
        if order.status is OrderStatus.CANCELLED:
            if tag in (raw.get("tags") or []):
                return ActionOutcome(order, _cancel_refund(order))
            raise ActionRefused(f"order {order.number}: cancel refused (already_cancelled)")
        verdict = check_cancel(order, self._policy, self._clock())
        if not verdict.ok:
            raise _refuse(order.number, Action.CANCEL, verdict)
        gid = str(raw["id"])
        before = {r.refund_id for r in order.refunds}
        await self._mutate("OrderTagsAdd", {"id": gid, "tags": [tag]}, "tagsAdd", "userErrors")
        variables = {
            "orderId": gid,
            "refundMethod": {"originalPaymentMethodsRefund": True},
            "restock": True,
            "reason": "CUSTOMER",
            "notifyCustomer": self._notify_customer,
            "staffNote": "Cancelled by the shopper in the order-help chat",
        }
        try:
            payload = await self._mutate("OrderCancel", variables, "orderCancel",
                                         "orderCancelUserErrors")
        except ActionRefused:
            raw, order = await self._reread(gid)
            if order.status is OrderStatus.CANCELLED and tag in (raw.get("tags") or []):
                return ActionOutcome(order, _cancel_refund(order))
            raise
        order = await self._await_cancel(gid, _get(payload, "job"))
        return ActionOutcome(order, _cancel_refund(order, before))

    async def _await_cancel(self, gid: str, job: Json | None) -> Order:
        """The order once Shopify's cancel job has run (or `cancel_wait` passed)."""
        done = bool(job and job.get("done"))
        job_id = job.get("id") if job else None
        deadline = time.monotonic() + self._cancel_wait
        while not done and isinstance(job_id, str) and time.monotonic() < deadline:
            await asyncio.sleep(self._poll_interval)
            data = await self._call("CancelJob", {"id": job_id}, read=True)
            done = bool((_get(data, "job") or {}).get("done"))
        _, order = await self._reread(gid)
        if order.status is not OrderStatus.CANCELLED:
            raise BackendUnavailable(
                f"order {order.number}: Shopify took the cancellation but has not confirmed it")
        return order

    async def start_return(
        self, number: str, lines: list[ReturnLine], *, idempotency_key: str
    ) -> ActionOutcome:
        if not lines:
            raise ActionRefused(f"order {number}: a return needs at least one line")
        raw, order = await self._must(number)
        ref = _ref(idempotency_key)
        done = _own_return(raw, ref, lines)
        if done is not None:
            return ActionOutcome(order, done)
        wanted: dict[str, int] = {}
        for line in lines:
            wanted[line.line_id] = wanted.get(line.line_id, 0) + line.quantity
        now = self._clock()
        for line_id, quantity in wanted.items():
            verdict = check_return(order, line_id, quantity, self._policy, now)
            if not verdict.ok:
                raise _refuse(order.number, Action.RETURN, verdict)
        gid = str(raw["id"])
        variables = {"input": {
            "orderId": gid,
            "returnLineItems": _return_items(raw, lines, ref),
        }}
        try:
            payload = await self._mutate("ReturnRequest", variables, "returnRequest",
                                         "userErrors")
        except ActionRefused:
            raw, order = await self._reread(gid)
            done = _own_return(raw, ref, lines)
            if done is not None:
                return ActionOutcome(order, done)
            raise
        created = _get(payload, "return")
        if created is None:
            raise BackendUnavailable("shopify ReturnRequest: no return in the answer")
        _, order = await self._reread(gid)
        return ActionOutcome(order, return_id(created))

    async def replace(
        self,
        number: str,
        line_id: str,
        quantity: int,
        reason: ReturnReason,
        *,
        idempotency_key: str,
    ) -> ActionOutcome:
        del line_id, quantity, reason, idempotency_key
        raise ActionRefused(
            f"order {number}: Shopify has no replacement order; create an exchange in "
            "Shopify's admin")

    async def variants(self, number: str, line_id: str) -> list[Variant]:
        raw, order = await self._must(number)
        return await self._variants(raw, order, line_id)

    async def _variants(self, raw: Json, order: Order, line_id: str) -> list[Variant]:
        """The other variants of the line's product, read live (price in the shop's
        currency; in stock when for sale and not counted out)."""
        line = _line(raw, line_id)
        item = order.item(line_id)
        if line is None or item is None or item.product_id is None:
            return []
        data = await self._call("ProductVariants", {"id": line["product"]["id"]}, read=True)
        nodes = _nodes(((_get(data, "product") or {}).get("variants") or {}).get("nodes"))
        return _variants_of(nodes, (line.get("variant") or {}).get("id"))

    async def exchange(
        self,
        number: str,
        line_id: str,
        quantity: int,
        variant_id: str,
        *,
        idempotency_key: str,
    ) -> ActionOutcome:
        raw, order = await self._must(number)
        ref = _ref(idempotency_key)
        done = _own_exchange(raw, ref, line_id, quantity, variant_id)
        if done is not None:
            return ActionOutcome(order, done)
        verdict = check_exchange(order, line_id, self._policy, self._clock())
        if not verdict.ok:
            raise _refuse(order.number, Action.EXCHANGE, verdict)
        variants = await self._variants(raw, order, line_id)
        variant = next((v for v in variants if v.variant_id == variant_id), None)
        verdict = check_variant(order, line_id, variant)
        if not verdict.ok or variant is None:
            raise _refuse(order.number, Action.EXCHANGE, verdict)
        gid = str(raw["id"])
        variables = {"returnInput": _exchange_input(raw, order, line_id, quantity, variant, ref)
                     | {"notifyCustomer": self._notify_customer}}
        try:
            payload = await self._mutate("ReturnCreate", variables, "returnCreate", "userErrors")
        except ActionRefused:
            raw, order = await self._reread(gid)
            done = _own_exchange(raw, ref, line_id, quantity, variant_id)
            if done is not None:
                return ActionOutcome(order, done)
            raise
        created = _get(payload, "return")
        if created is None:
            raise BackendUnavailable("shopify ReturnCreate: no return in the answer")
        _, order = await self._reread(gid)
        return ActionOutcome(order, return_id(created))

    async def change_delivery(
        self,
        number: str,
        *,
        address: Address | None = None,
        delivery_date: date | None = None,
        idempotency_key: str,
    ) -> ActionOutcome:
        del idempotency_key  # writing the same address again is the same change
        if delivery_date is not None:
            raise ActionRefused(
                f"order {number}: Shopify orders have no delivery date to change")
        if address is None:
            raise ActionRefused(f"order {number}: nothing to change")
        raw, order = await self._must(number)
        verdict = check_delivery_change(order, self._policy, self._clock())
        if not verdict.ok:
            raise _refuse(order.number, Action.DELIVERY, verdict)
        old = raw.get("shippingAddress") or {}
        new = _mailing_address(address, old)
        if all(old.get(k) == v for k, v in new.items() if k != "countryCode") and (
            old.get("countryCodeV2") == new.get("countryCode")
        ):
            return ActionOutcome(order)
        gid = str(raw["id"])
        await self._mutate("OrderUpdate", {"input": {"id": gid, "shippingAddress": new}},
                           "orderUpdate", "userErrors")
        _, order = await self._reread(gid)
        return ActionOutcome(order)

    async def record_tracking(self, update: CarrierUpdate) -> TrackingApplied | None:
        """Shopify's fulfilments take carrier events only from the carrier's own
        integration; ours are kept beside the order (`orders.overlay`)."""
        del update
        return None


# --- helpers of the changes ---------------------------------------------------------


def _cancel_refund(order: Order, before: set[str] | None = None) -> str | None:
    """The cancellation's refund: the newest one (not among `before`)."""
    refunds = [r for r in order.refunds if r.cause is RefundCause.CANCELLATION
               and (before is None or r.refund_id not in before)]
    return refunds[-1].refund_id if refunds else None


def _exchange_input(raw: Json, order: Order, line_id: str, quantity: int, variant: Variant,
                    ref: str) -> dict[str, Any]:
    """`ReturnInput` for an exchange: the old units as return lines (their note marks
    the change), the new variant as an exchange line item."""
    item = order.item(line_id)
    difference = (variant.unit_price - item.unit_price) * quantity if item else Decimal(0)
    lines = _return_items(raw, [ReturnLine(line_id=line_id, quantity=quantity,
                                           reason=ReturnReason.OTHER)], ref)
    note = exchange_note(ref, variant.variant_id, difference, variant.title)
    for returned in lines:
        del returned["customerNote"]
        returned["returnReasonNote"] = note
    return {"orderId": str(raw["id"]), "returnLineItems": lines, "exchangeLineItems": [
        {"variantId": f"gid://shopify/ProductVariant/{variant.variant_id}",
         "quantity": quantity}]}


def _line(raw: Json, line_id: str) -> Json | None:
    lines = _nodes(raw.get("lineItems"))
    return lines[int(line_id) - 1] if line_id.isdecimal() and 0 < int(line_id) <= len(
        lines) else None


def _variants_of(nodes: list[Json], own: object) -> list[Variant]:
    try:
        return [_variant(n) for n in nodes if n.get("id") != own]
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise BackendUnavailable("shopify ProductVariants: unexpected shape") from exc


def _variant(node: Json) -> Variant:
    count = node.get("inventoryQuantity")
    return Variant(
        variant_id=gid_tail(str(node["id"])), sku=str(node.get("sku") or ""),
        title=str(node.get("title") or ""), options=variant_options(node),
        unit_price=Decimal(str(node["price"])),
        in_stock=bool(node.get("availableForSale")) and (not isinstance(count, int) or count > 0),
    )


def _own_exchange(raw: Json, ref: str, line_id: str, quantity: int, variant_id: str
                  ) -> str | None:
    """The id of the live return-with-exchange this change (`ref`) already made; the
    same key for another line, quantity or variant is refused."""
    mine = exchange_lines(raw, ref)
    if not mine:
        return None
    asked = {(line_gids(raw).get(line_id), variant_id)}
    made = {(_line_item_of(n), (exchange_ref(line_note(n)) or ("", ""))[1]) for _, n in mine}
    if made != asked or sum(int(n.get("quantity") or 0) for _, n in mine) != quantity:
        raise ActionRefused("idempotency key reused for a different exchange")
    return return_id(mine[0][0])


def _line_item_of(return_line: Json) -> str | None:
    item = ((return_line.get("fulfillmentLineItem") or {}).get("lineItem") or {}).get("id")
    return item if isinstance(item, str) else None


def _tally(lines: list[ReturnLine]) -> dict[tuple[str, ReturnReason], int]:
    tally: dict[tuple[str, ReturnReason], int] = {}
    for line in lines:
        key = (line.line_id, line.reason)
        tally[key] = tally.get(key, 0) + line.quantity
    return tally


def _own_return(raw: Json, ref: str, lines: list[ReturnLine]) -> str | None:
    """The id of the live return this change (`ref`) already made, if any."""
    line_of = {gid: lid for lid, gid in line_gids(raw).items()}
    for ret in _nodes(raw.get("returns")):
        if ret.get("status") in _DEAD_RETURN or ref not in return_refs(ret):
            continue
        if _tally(return_lines(ret, line_of)) != _tally(lines):
            raise ActionRefused("idempotency key reused for a different return")
        return return_id(ret)
    return None


def _return_items(raw: Json, lines: list[ReturnLine], ref: str) -> list[dict[str, Any]]:
    """Shopify returns fulfilled units: each line's quantity is taken from its
    fulfilment lines, less what live returns already hold."""
    gids = line_gids(raw)
    held: dict[str, int] = {}
    for ret in _nodes(raw.get("returns")):
        if ret.get("status") in _DEAD_RETURN:
            continue
        for n in _nodes(ret.get("returnLineItems")):
            fli = (n.get("fulfillmentLineItem") or {}).get("id")
            if isinstance(fli, str):
                held[fli] = held.get(fli, 0) + int(n.get("quantity") or 0)
    free: list[tuple[str, str, int]] = []  # (line item gid, fulfillment line item gid, units)
    for f in _nodes(raw.get("fulfillments")):
        if f.get("displayStatus") == "CANCELED":
            continue
        for n in _nodes(f.get("fulfillmentLineItems")):
            fli, item = n.get("id"), (n.get("lineItem") or {}).get("id")
            if isinstance(fli, str) and isinstance(item, str):
                free.append((item, fli, int(n.get("quantity") or 0) - held.get(fli, 0)))
    items = []
    for line in lines:
        want = line.quantity
        for i, (item, fli, units) in enumerate(free):
            if want == 0:
                break
            if item != gids.get(line.line_id) or units <= 0:
                continue
            take = min(units, want)
            free[i] = (item, fli, units - take)
            want -= take
            items.append({
                "fulfillmentLineItemId": fli,
                "quantity": take,
                "returnReason": RETURN_REASON_TO_SHOPIFY[line.reason],
                "customerNote": return_note(ref, line.reason),
            })
        if want:
            raise ActionRefused(f"line {line.line_id}: not enough fulfilled units to return")
    return items


def _mailing_address(address: Address, old: Mapping[str, Any]) -> dict[str, Any]:
    """Shopify's MailingAddressInput: the new address's words, and the old
    address's where the new one is blank (the chat sends one typed line)."""
    def pick(new: str, key: str) -> Any:
        return new if new else old.get(key)

    first, last = old.get("firstName"), old.get("lastName")
    if address.name and address.name != old.get("name"):
        first, _, last = address.name.rpartition(" ")
    result: dict[str, Any] = {
        "firstName": first or None,
        "lastName": last or None,
        "address1": address.line1,
        "address2": address.line2 or None,
        "city": pick(address.city, "city"),
        "zip": pick(address.postal_code, "zip"),
        "countryCode": address.country or old.get("countryCodeV2"),
    }
    if not address.region or address.region == old.get("province"):
        result["provinceCode"] = old.get("provinceCode")
    else:
        result["provinceCode"] = address.region
    return result
