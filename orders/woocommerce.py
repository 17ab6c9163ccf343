"""A WooCommerce shop (`ORDER_BACKEND=woocommerce`), over its REST API v3.

Calls go to `{WOOCOMMERCE_URL}/wp-json/wc/v3/...` with the shop's REST API keys as
HTTP Basic auth (WooCommerce accepts that only over HTTPS), through the one pooled
`httpx.AsyncClient` the app owns. Tracking comes from the Shipment Tracking
extension: its order meta `_wc_shipment_tracking_items` and, for the carrier link,
its `/wp-json/wc-shipment-tracking/v3/orders/{id}/shipment-trackings` route.

Reading WooCommerce's order JSON into ours, with the guesses that forces (the
status table, packages from Shipment Tracking items, a delivery estimate from the
ship date), is in `woocommerce_mapping.py`.

Changes (`supports`): cancel, and a new delivery address or day while the order
has not shipped. WooCommerce core keeps no delivery day: the asked-for day is kept
in the order's meta `requested_delivery_date` (shown to staff among the order's
custom fields, as delivery-date plugins do) with a private order note, and read
back from there. WooCommerce has no returns or replacements: those stay out of
`supports`, so the bot files a staff request instead and says so.

Idempotency: WooCommerce takes no idempotency key, so we keep our own in the
order's meta `_ohb_idempotency` (a JSON object: key -> action, time, state,
reference), written in the same `PUT /orders/{id}` as the change itself, and read
before every change. A cancel of a paid prepaid order is two calls: first
`POST /orders/{id}/refunds` for what is left, with `api_refund: true` (the gateway
refunds) and the key in the refund's meta; WooCommerce itself marks a fully
refunded order `refunded`, which takes it out of fulfilment. Then `PUT` status
`cancelled` with the key (WooCommerce puts stock back on cancel). Whichever answer
is lost, the order already reads as cancelled with its refund, and a retry with
the same key finds the key, or the refund carrying it, and does neither again.
Limits: two calls with the same key at the same moment can both pass the read
before either writes (WooCommerce has no compare-and-set; the bot sends one
conversation's changes one at a time); if only the refund's answer was lost and
no retry comes, the order stays `refunded` (not `cancelled`, so its stock is not
put back); a key is kept on the order for its last `IDEMPOTENCY_KEEP` changes; if
the gateway refuses the refund, the order is still cancelled, staff get an order
note to refund by hand, and the outcome carries no refund.

Errors (`orders.backend`): timeouts, lost connections, 5xx, 429 and bodies that are
not WooCommerce's shapes are `BackendUnavailable` (reads are retried first, with
back-off, inside `BUDGET` seconds; changes never are); 401/403 too, logged as an
error that says the keys are wrong or read-only; 400/404/409 with a
`woocommerce_rest_*` code on a change are `ActionRefused`. Logs name the route,
never a query (the search term is a shopper's email or phone) nor any field value.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any

import httpx

from .backend import ActionOutcome, ActionRefused, BackendUnavailable
from .eligibility import Verdict, check_cancel, check_delivery_change, local_date
from .models import (
    Address,
    Order,
    PaymentMethod,
    PaymentStatus,
    ReturnLine,
    ReturnReason,
    Variant,
)
from .phones import normalise_phone
from .policy import Action, Policy
from .retries import Transient, with_retries
from .tracking import CarrierUpdate, TrackingApplied
from .woocommerce_mapping import (
    CENT,
    DEFAULT_REGION,
    DELIVERY_DATE_META,
    IDEMPOTENCY_META,
    MalformedOrder,
    idempotency_records,
    meta_value,
    refund_left,
    text,
    to_order,
    tracking_items,
)

log = logging.getLogger(__name__)

API = "/wp-json/wc/v3"
TRACKING_API = "/wp-json/wc-shipment-tracking/v3"
IDEMPOTENCY_KEEP = 50
"""Changes per order whose keys are remembered (oldest dropped first)."""
SEARCH_PAGE = 100
SEARCH_PAGES = 3
"""A phone search reads at most this many pages of matches (newest first)."""
TRIES = 3
BACKOFF = (0.1, 0.3)
BUDGET = 5.0
"""Seconds after a read's first try when no further try starts."""

SUPPORTS = frozenset({Action.CANCEL, Action.DELIVERY})
NOT_SHIPPED = frozenset({"pending", "processing", "on-hold"})

_ORDER_NUMBER = re.compile(r"[A-Za-z0-9_-]{1,40}")
_CODE = re.compile(r"[a-z0-9_]{1,80}")


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _refuse(number: str, action: Action, verdict: Verdict) -> ActionRefused:
    return ActionRefused(f"order {number}: {action.value} refused ({verdict.reason.value})")


def _error(response: httpx.Response) -> tuple[str, str]:
    """WooCommerce's error body `{"code", "message", "data": {"status"}}`, if it is one."""
    try:
        body = response.json()
    except ValueError:
        return "", ""
    if not isinstance(body, dict):
        return "", ""
    code, message = body.get("code"), body.get("message")
    code = code if isinstance(code, str) and _CODE.fullmatch(code) else ""
    return code, (message[:200] if isinstance(message, str) else "")


# --- the back-end ------------------------------------------------------------------------


class WooCommerceBackend:
    """Order back-end over a WooCommerce shop (see the module docstring)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        consumer_key: str,
        consumer_secret: str,
        *,
        policy: Policy | None = None,
        clock: Callable[[], datetime] = _utc_now,
        tries: int = TRIES,
        backoff: tuple[float, ...] = BACKOFF,
        budget: float = BUDGET,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._client = client
        self._base = base_url.rstrip("/")
        self._auth = httpx.BasicAuth(consumer_key, consumer_secret)
        self._policy = policy or Policy()
        self._clock = clock
        self._tries = max(1, tries)
        self._backoff = backoff or (0.0,)
        self._budget = budget
        self._sleep = sleep

    @property
    def supports(self) -> frozenset[Action]:
        return SUPPORTS

    # HTTP ------------------------------------------------------------------------

    async def _call(
        self, method: str, path: str, route: str, *,
        params: Mapping[str, str | int] | None = None,
        body: Mapping[str, Any] | None = None,
        missing_ok: bool = False,
    ) -> Any:
        """One call; a read is tried again after a transient failure. Returns the
        JSON body, or None for a 404 when `missing_ok`."""
        try:
            return await with_retries(
                lambda: self._once(method, path, route, params, body, missing_ok),
                tries=self._tries if method == "GET" else 1, backoff=self._backoff,
                budget=self._budget, sleep=self._sleep,
            )
        except Transient as exc:
            log.warning("WooCommerce %s failed: %s", route, exc)
            raise BackendUnavailable(f"WooCommerce {route}: {exc}") from exc

    async def _once(
        self, method: str, path: str, route: str,
        params: Mapping[str, str | int] | None, body: Mapping[str, Any] | None,
        missing_ok: bool,
    ) -> Any:
        try:
            response = await self._client.request(
                method, self._base + path, params=params, json=body, auth=self._auth,
                headers={"Accept": "application/json"},
            )
        except httpx.TimeoutException as exc:
            raise Transient("timed out") from exc
        except httpx.TransportError as exc:
            raise Transient(type(exc).__name__) from exc
        status = response.status_code
        code, message = _error(response)
        if status in (401, 403):
            log.error(
                "WooCommerce refused our REST API keys on %s (HTTP %s %s): the keys are "
                "wrong, revoked or read-only; check WOOCOMMERCE_CONSUMER_KEY, "
                "WOOCOMMERCE_CONSUMER_SECRET and that the key has Read/Write permission",
                route, status, code)
            raise BackendUnavailable(f"WooCommerce {route}: HTTP {status} (REST API keys)")
        if status == 404 and missing_ok:
            return None
        if method != "GET" and code.startswith("woocommerce_rest_") and (
            status in (400, 404, 409) or code == "woocommerce_rest_cannot_create_order_refund"
        ):
            raise ActionRefused(f"WooCommerce refused {route}: {code}: {message}")
        if status >= 500 or status in (408, 425, 429):
            raise Transient(f"HTTP {status} {code}".strip())
        if not 200 <= status < 300:
            log.error("WooCommerce answered %s with HTTP %s %s", route, status, code)
            raise BackendUnavailable(f"WooCommerce {route}: HTTP {status} {code}".strip())
        try:
            return response.json()
        except ValueError as exc:
            raise Transient(f"HTTP {status} with a body that is not JSON") from exc

    async def _list(self, path: str, route: str, params: Mapping[str, str | int]) -> list[Any]:
        answer = await self._call("GET", path, route, params=params)
        if not isinstance(answer, list):
            log.warning("WooCommerce %s: the answer is not a list", route)
            raise BackendUnavailable(f"WooCommerce {route}: malformed answer")
        return answer

    # reading ---------------------------------------------------------------------

    async def _raw_order(self, number: str) -> dict[str, Any] | None:
        """The order whose `number` is `number`. Plugins give orders numbers other
        than their ids, so an id match alone is not enough."""
        lookups: list[tuple[str, dict[str, str | int]]] = []
        if number.isdigit():
            lookups.append(("GET /orders?include", {"include": number}))
        lookups.append(("GET /orders?search", {"search": number, "per_page": 20}))
        for route, params in lookups:
            for raw in await self._list(f"{API}/orders", route, params):
                if isinstance(raw, dict) and str(raw.get("number")) == number:
                    return raw
        return None

    async def _to_order(self, raw: dict[str, Any]) -> Order:
        """Our order from one WooCommerce order, reading its refunds and carrier links
        when it has any."""
        order_id = raw.get("id")
        if not isinstance(order_id, int):
            log.warning("WooCommerce order without an id")
            raise BackendUnavailable("WooCommerce: malformed order")

        async def refunds() -> list[Any]:
            if not raw.get("refunds"):
                return []
            return await self._list(f"{API}/orders/{order_id}/refunds",
                                    "GET /orders/{id}/refunds", {"per_page": 100})

        async def links() -> dict[str, tuple[str, str]]:
            items = tracking_items(raw)
            if not items or all(text(i.get("custom_tracking_link")) for i in items):
                return {}
            return await self._links(order_id)

        found_refunds, found_links = await asyncio.gather(refunds(), links())
        try:
            return to_order(raw, found_refunds, found_links, now=self._clock(),
                            policy=self._policy)
        except MalformedOrder as exc:
            log.warning("WooCommerce order %s is not in WooCommerce's shape (%s)", order_id, exc)
            raise BackendUnavailable("WooCommerce: malformed order") from exc

    async def _links(self, order_id: int) -> dict[str, tuple[str, str]]:
        """Carrier names and links from Shipment Tracking's route (the meta has only a
        provider's slug); none when the route is not there."""
        route = "GET shipment-trackings"
        answer = await self._call("GET", f"{TRACKING_API}/orders/{order_id}/shipment-trackings",
                                  route, missing_ok=True)
        if answer is None:
            return {}
        if not isinstance(answer, list):
            raise BackendUnavailable(f"WooCommerce {route}: malformed answer")
        return {text(i.get("tracking_id")): (text(i.get("tracking_provider")),
                                               text(i.get("tracking_link")))
                for i in answer if isinstance(i, dict)}

    async def get_order(self, number: str) -> Order | None:
        number = number.strip().removeprefix("#")
        if not _ORDER_NUMBER.fullmatch(number):
            return None
        raw = await self._raw_order(number)
        return None if raw is None else await self._to_order(raw)

    async def find_orders(
        self, *, phone: str | None = None, email: str | None = None
    ) -> list[Order]:
        """A shopper's orders, newest first. WooCommerce searches billing fields as
        text, and shops store phones as typed, so a phone is searched by its last four
        digits and each match is kept only if its billing phone, made E.164, is the
        same number. With both, only orders matching both."""
        e164 = wanted_email = None
        if phone is not None:
            e164 = normalise_phone(phone)
            if e164 is None:
                return []
        if email is not None:
            wanted_email = email.strip().lower()
            if not wanted_email:
                return []
        if e164 is None and wanted_email is None:
            return []
        term = wanted_email or (e164 or "")[-4:]
        pages = 1 if wanted_email else SEARCH_PAGES
        found: dict[int, dict[str, Any]] = {}
        for page in range(1, pages + 1):
            batch = await self._list(f"{API}/orders", "GET /orders?search", {
                "search": term, "per_page": SEARCH_PAGE, "page": page,
                "orderby": "date", "order": "desc",
            })
            for raw in batch:
                if isinstance(raw, dict) and isinstance(raw.get("id"), int) and _is_theirs(
                    raw, e164, wanted_email
                ):
                    found[raw["id"]] = raw
            if len(batch) < SEARCH_PAGE:
                break
        orders = await asyncio.gather(*(self._to_order(raw) for raw in found.values()))
        return sorted(orders, key=lambda o: o.placed_at, reverse=True)

    # changes ---------------------------------------------------------------------

    async def _for_change(self, number: str) -> dict[str, Any]:
        number = number.strip().removeprefix("#")
        raw = await self._raw_order(number) if _ORDER_NUMBER.fullmatch(number) else None
        if raw is None or not isinstance(raw.get("id"), int):
            raise ActionRefused(f"order {number}: not found in the shop")
        return raw

    async def _put(
        self, raw: dict[str, Any], changes: dict[str, Any],
        records: dict[str, dict[str, Any]], meta: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """`PUT /orders/{id}` with `changes`, `meta` and our idempotency records, in
        one write (WooCommerce replaces a meta entry given by key)."""
        kept = dict(sorted(records.items(), key=lambda kv: str(kv[1].get("at")))[
            -IDEMPOTENCY_KEEP:])
        entries = [{"key": k, "value": v} for k, v in (meta or {}).items()]
        body = {**changes, "meta_data": [*entries, {"key": IDEMPOTENCY_META, "value": kept}]}
        answer = await self._call("PUT", f"{API}/orders/{raw['id']}", "PUT /orders/{id}",
                                  body=body)
        if not isinstance(answer, dict) or answer.get("id") != raw["id"]:
            log.warning("WooCommerce PUT /orders/{id}: malformed answer")
            raise BackendUnavailable("WooCommerce PUT /orders/{id}: malformed answer")
        return answer

    def _recorded(
        self, raw: Mapping[str, Any], key: str, action: Action
    ) -> dict[str, Any] | None:
        record = idempotency_records(raw).get(key)
        if record is not None and record.get("action") != action.value:
            raise ActionRefused(f"idempotency key already used for {record.get('action')}")
        return record

    async def cancel(self, number: str, *, idempotency_key: str) -> ActionOutcome:
        """Refund a paid prepaid order through its gateway, then set it cancelled (see
        the module docstring for why in this order and how a retry finishes it)."""
        key = idempotency_key
        raw = await self._for_change(number)
        records = idempotency_records(raw)
        record = self._recorded(raw, key, Action.CANCEL)
        if record is None:
            ours = await self._our_refund(raw, key) if raw.get("refunds") else None
            refused = False
            if ours is None:  # nothing of this key happened yet: check, then refund
                order = await self._to_order(raw)
                verdict = check_cancel(order, self._policy, self._clock())
                if not verdict.ok:
                    raise _refuse(order.number, Action.CANCEL, verdict)
                if _stopped(raw):
                    raise ActionRefused(f"order {order.number}: cancel refused (not pending)")
                prepaid = order.payment.method is not PaymentMethod.COD and (
                    order.payment.status in (PaymentStatus.PAID, PaymentStatus.PARTIALLY_REFUNDED))
                if prepaid and refund_left(raw) > 0:
                    ours, refused = await self._refund(raw, key)
            record = {"action": Action.CANCEL.value, "at": self._clock().isoformat(),
                      "state": "refund_failed" if refused else "done",
                      "reference": None if ours is None else str(ours["id"])}
            records[key] = record
            try:
                raw = await self._put(raw, {"status": "cancelled"}, records)
            except ActionRefused:
                if ours is None:
                    raise
                # Refunded in full, so WooCommerce already took it out of fulfilment.
                log.warning("WooCommerce order %s: refunded, but cancelling was refused",
                            raw["id"])
                await self._note(raw["id"], "Refunded in full for a cancellation through the "
                                 "order-help bot, but setting the status to cancelled was "
                                 "refused. Please cancel this order by hand.")
                found = await self._raw_order(str(raw.get("number")))
                raw = found if found is not None else raw
        reference = record.get("reference")
        return ActionOutcome(await self._to_order(raw),
                             reference if isinstance(reference, str) else None)

    async def _our_refund(self, raw: Mapping[str, Any], key: str) -> dict[str, Any] | None:
        """The refund this idempotency key made, if one was made."""
        made = await self._list(f"{API}/orders/{raw['id']}/refunds", "GET /orders/{id}/refunds",
                                {"per_page": 100})
        return next((r for r in made if isinstance(r, dict) and "id" in r
                     and meta_value(r, IDEMPOTENCY_META) == key), None)

    async def _refund(self, raw: Mapping[str, Any], key: str) -> tuple[dict[str, Any] | None, bool]:
        """Refund what is left through the gateway, the key in the refund's meta.
        (refund, False) when made; (None, True) when the gateway refused it, and staff
        are left a note to refund by hand."""
        order_id = raw["id"]
        try:
            refund = await self._call(
                "POST", f"{API}/orders/{order_id}/refunds", "POST /orders/{id}/refunds",
                body={"amount": str(refund_left(raw).quantize(CENT)), "api_refund": True,
                      "reason": "Cancelled by the shopper through the order-help bot",
                      "meta_data": [{"key": IDEMPOTENCY_META, "value": key}]},
            )
        except ActionRefused as exc:
            log.warning("WooCommerce order %s: the gateway refused the refund: %s", order_id, exc)
            await self._note(order_id, "Cancelled by the shopper through the order-help bot, "
                             "but the payment gateway refused the refund. Please refund this "
                             "order by hand.")
            return None, True
        if not isinstance(refund, dict) or "id" not in refund:
            log.warning("WooCommerce POST /orders/{id}/refunds: malformed answer")
            raise BackendUnavailable("WooCommerce POST /orders/{id}/refunds: malformed answer")
        return refund, False

    async def _note(self, order_id: int, note: str) -> None:
        """A private order note for staff; best effort (the outcome does not depend on it)."""
        try:
            await self._call("POST", f"{API}/orders/{order_id}/notes", "POST /orders/{id}/notes",
                             body={"note": note, "customer_note": False})
        except (BackendUnavailable, ActionRefused):
            log.warning("WooCommerce order %s: could not add the note for staff", order_id)

    async def start_return(
        self, number: str, lines: list[ReturnLine], *, idempotency_key: str
    ) -> ActionOutcome:
        raise ActionRefused("WooCommerce has no returns: staff handle them")

    async def replace(
        self,
        number: str,
        line_id: str,
        quantity: int,
        reason: ReturnReason,
        *,
        idempotency_key: str,
    ) -> ActionOutcome:
        raise ActionRefused("WooCommerce has no replacements: staff handle them")

    async def variants(self, number: str, line_id: str) -> list[Variant]:
        """Not read: WooCommerce has no exchange, so no variant is offered."""
        return []

    async def exchange(
        self,
        number: str,
        line_id: str,
        quantity: int,
        variant_id: str,
        *,
        idempotency_key: str,
    ) -> ActionOutcome:
        raise ActionRefused("WooCommerce has no exchanges: staff handle them")

    async def change_delivery(
        self,
        number: str,
        *,
        address: Address | None = None,
        delivery_date: date | None = None,
        idempotency_key: str,
    ) -> ActionOutcome:
        """A new shipping address and/or delivery day while the order has not shipped
        (the day goes into the order's meta, with a note for staff)."""
        if address is None and delivery_date is None:
            raise ActionRefused(f"order {number}: nothing to change")
        raw = await self._for_change(number)
        records = idempotency_records(raw)
        if self._recorded(raw, idempotency_key, Action.DELIVERY) is None:
            order = await self._to_order(raw)
            now = self._clock()
            verdict = check_delivery_change(order, self._policy, now)
            if not verdict.ok:
                raise _refuse(order.number, Action.DELIVERY, verdict)
            if _stopped(raw):
                raise ActionRefused(f"order {order.number}: delivery refused (not pending)")
            if delivery_date is not None and delivery_date <= local_date(now, self._policy):
                raise ActionRefused(f"order {order.number}: delivery date must be after today")
            changes: dict[str, Any] = {}
            meta: dict[str, Any] = {}
            if address is not None:
                first, _, last = address.name.strip().partition(" ")
                changes["shipping"] = {
                    "first_name": first, "last_name": last.strip(), "company": "",
                    "address_1": address.line1, "address_2": address.line2,
                    "city": address.city, "state": address.region,
                    "postcode": address.postal_code, "country": address.country,
                }
            if delivery_date is not None:
                meta[DELIVERY_DATE_META] = delivery_date.isoformat()
            records[idempotency_key] = {"action": Action.DELIVERY.value, "at": now.isoformat(),
                                        "state": "done"}
            raw = await self._put(raw, changes, records, meta)
            if delivery_date is not None:
                await self._note(raw["id"], "The shopper asked through the order-help bot for "
                                 f"delivery on {delivery_date.isoformat()} "
                                 f"(custom field {DELIVERY_DATE_META}).")
        return ActionOutcome(await self._to_order(raw))

    async def record_tracking(self, update: CarrierUpdate) -> TrackingApplied | None:
        """WooCommerce keeps no carrier events; `orders.overlay.TrackedBackend` keeps
        them beside the order."""
        return None


def _stopped(raw: Mapping[str, Any]) -> bool:
    """WooCommerce's own word: only pending, on-hold and processing orders without a
    tracking number can still be stopped or re-addressed."""
    return text(raw.get("status")) not in NOT_SHIPPED or bool(tracking_items(raw))


def _is_theirs(raw: Mapping[str, Any], e164: str | None, email: str | None) -> bool:
    billing = raw.get("billing")
    if not isinstance(billing, dict):
        return False
    if email is not None and text(billing.get("email")).lower() != email:
        return False
    if e164 is not None:
        country = text(billing.get("country")).upper() or DEFAULT_REGION
        if normalise_phone(text(billing.get("phone")), country) != e164:
            return False
    return True
