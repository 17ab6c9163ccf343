"""A WooCommerce shop (`ORDER_BACKEND=woocommerce`), over its REST API v3.

Calls go to `{WOOCOMMERCE_URL}/wp-json/wc/v3/...` with the shop's REST API keys as
HTTP Basic auth (WooCommerce accepts that only over HTTPS), through the one pooled
`httpx.AsyncClient` the app owns. Tracking comes from the Shipment Tracking
extension: its order meta `_wc_shipment_tracking_items` and, for the carrier link,
its `/wp-json/wc-shipment-tracking/v3/orders/{id}/shipment-trackings` route.

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

Each Shipment Tracking item is a package carrying the whole order (the extension
does not say which items went in which parcel). WooCommerce knows no carrier
progress and no delivery estimate: a shipped package is "with the courier", its
estimate is the ship date plus `TRANSIT_DAYS` (a guess, replaced as soon as a
carrier update brings one; carrier updates are kept beside the order by
`orders.overlay.TrackedBackend`). A refund the gateway made (`refunded_payment`)
is processing for `REFUND_DAYS` after it was made, then completed; a manual refund
is completed when recorded.

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
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
from pydantic import ValidationError

from .backend import ActionOutcome, ActionRefused, BackendUnavailable
from .eligibility import Verdict, check_cancel, check_delivery_change, local_date
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
    ReturnLine,
    ReturnReason,
)
from .phones import normalise_phone
from .policy import Action, Policy
from .tracking import CarrierUpdate, TrackingApplied

log = logging.getLogger(__name__)

API = "/wp-json/wc/v3"
TRACKING_API = "/wp-json/wc-shipment-tracking/v3"
TRACKING_META = "_wc_shipment_tracking_items"
IDEMPOTENCY_META = "_ohb_idempotency"
DELIVERY_DATE_META = "requested_delivery_date"
"""The delivery day a shopper asked for; no underscore, so staff see it among the
order's custom fields."""
IDEMPOTENCY_KEEP = 50
"""Changes per order whose keys are remembered (oldest dropped first)."""
TRANSIT_DAYS = 5
REFUND_DAYS = 7
SEARCH_PAGE = 100
SEARCH_PAGES = 3
"""A phone search reads at most this many pages of matches (newest first)."""
TRIES = 3
BACKOFF = (0.1, 0.3)
BUDGET = 5.0
"""Seconds after a read's first try when no further try starts."""
DEFAULT_REGION = "IN"
"""Region for a billing phone written without a country code, when the billing
address names no country."""

SUPPORTS = frozenset({Action.CANCEL, Action.DELIVERY})
NOT_SHIPPED = frozenset({"pending", "processing", "on-hold"})
PICKUP_METHODS = frozenset({"local_pickup", "pickup_location"})

_ORDER_NUMBER = re.compile(r"[A-Za-z0-9_-]{1,40}")
_CODE = re.compile(r"[a-z0-9_]{1,80}")
_CENT = Decimal("0.01")


def _utc_now() -> datetime:
    return datetime.now(UTC)


class _Transient(Exception):
    """One try failed in a way another try may not."""


class MalformedOrder(ValueError):
    """An order body that is not WooCommerce's shape."""


# --- mapping WooCommerce's JSON to our model --------------------------------------------


def _dict(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedOrder("expected an object")
    return value


def _list(value: object) -> list[Any]:
    if not isinstance(value, list):
        raise MalformedOrder("expected a list")
    return value


def _text(value: object) -> str:
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
    return [i for i in items if isinstance(i, dict) and _text(i.get("tracking_number"))]


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
    method = payment_method(_text(raw.get("payment_method")),
                            _text(raw.get("payment_method_title")))
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
    country = _text(fields.get("country")).upper()
    if not _text(fields.get("address_1")) or len(country) != 2:
        return None
    name = " ".join(filter(None, (_text(fields.get("first_name")),
                                  _text(fields.get("last_name")))))
    return Address(
        name=name, line1=_text(fields.get("address_1")), line2=_text(fields.get("address_2")),
        city=_text(fields.get("city")), region=_text(fields.get("state")),
        postal_code=_text(fields.get("postcode")), country=country,
    )


def _pickup_store(raw: Mapping[str, Any]) -> str | None:
    """The pickup location of a local-pickup order (WooCommerce's block checkout keeps
    it in the shipping line's meta), or None for a delivered order."""
    for line in raw.get("shipping_lines") or []:
        line = _dict(line)
        if line.get("method_id") in PICKUP_METHODS:
            where = [_text(meta_value(line, "pickup_location")),
                     _text(meta_value(line, "pickup_address"))]
            return ", ".join(filter(None, where)) or _text(line.get("method_title"))
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
            line_id=str(line["id"]), sku=_text(line.get("sku")), name=_text(line.get("name")),
            quantity=quantity, unit_price=(paid / quantity).quantize(_CENT),
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
        number = _text(item.get("tracking_number"))
        shipped_on = _shipped_on(item) or (done_at or _utc_now()).date()
        tracking_id = _text(item.get("tracking_id")) or f"{order_id}-{index}"
        link = _text(item.get("custom_tracking_link")).replace("%1$s", number)
        named, routed = links.get(tracking_id, ("", ""))
        packages.append(Package(
            package_id=tracking_id, line_ids=line_ids,
            status=PackageStatus.DELIVERED if delivered else PackageStatus.AT_COURIER_FACILITY,
            carrier=_text(item.get("custom_tracking_provider")) or named
            or _text(item.get("tracking_provider")) or None,
            tracking_number=number,
            tracking_url=link or routed or None,
            estimated_delivery=(done_at.date() if delivered and done_at
                                else shipped_on + timedelta(days=TRANSIT_DAYS)),
            delivered_at=done_at if delivered else None,
        ))
    if packages or status not in (OrderStatus.SHIPPED, OrderStatus.DELIVERED):
        return packages
    # Shipped or delivered with no tracking: one package, as far as the shop knows.
    since = (done_at or _utc_now())
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
    text = str(value)
    if text.isdigit():
        return datetime.fromtimestamp(int(text), UTC).date()
    return date.fromisoformat(text[:10])


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
        slug = _text(raw.get("status"))
        pickup = _pickup_store(raw)
        status = order_status(slug, shipped=bool(tracking_items(raw)), pickup=pickup is not None)
        items = _items(raw)
        line_ids = [i.line_id for i in items]
        billing = raw.get("billing") if isinstance(raw.get("billing"), dict) else {}
        assert isinstance(billing, dict)
        country = _text(billing.get("country")).upper() or DEFAULT_REGION
        phone = _text(billing.get("phone"))
        name = " ".join(filter(None, (_text(billing.get("first_name")),
                                      _text(billing.get("last_name")))))
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
            customer=Customer(name=name, email=_text(billing.get("email")),
                              phone=normalise_phone(phone, country) or phone),
            currency=_text(raw.get("currency")).upper(),
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
        tries = self._tries if method == "GET" else 1
        started = time.monotonic()
        problem = ""
        for attempt in range(tries):
            try:
                return await self._once(method, path, route, params, body, missing_ok)
            except _Transient as exc:
                problem = str(exc)
            pause = self._backoff[min(attempt, len(self._backoff) - 1)]
            if attempt + 1 == tries or time.monotonic() - started + pause > self._budget:
                break
            await self._sleep(pause)
        log.warning("WooCommerce %s failed: %s", route, problem)
        raise BackendUnavailable(f"WooCommerce {route}: {problem}")

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
            raise _Transient("timed out") from exc
        except httpx.TransportError as exc:
            raise _Transient(type(exc).__name__) from exc
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
            raise _Transient(f"HTTP {status} {code}".strip())
        if not 200 <= status < 300:
            log.error("WooCommerce answered %s with HTTP %s %s", route, status, code)
            raise BackendUnavailable(f"WooCommerce {route}: HTTP {status} {code}".strip())
        try:
            return response.json()
        except ValueError as exc:
            raise _Transient(f"HTTP {status} with a body that is not JSON") from exc

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
            if not items or all(_text(i.get("custom_tracking_link")) for i in items):
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
        return {_text(i.get("tracking_id")): (_text(i.get("tracking_provider")),
                                               _text(i.get("tracking_link")))
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
                body={"amount": str(refund_left(raw).quantize(_CENT)), "api_refund": True,
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
    return _text(raw.get("status")) not in NOT_SHIPPED or bool(tracking_items(raw))


def _is_theirs(raw: Mapping[str, Any], e164: str | None, email: str | None) -> bool:
    billing = raw.get("billing")
    if not isinstance(billing, dict):
        return False
    if email is not None and _text(billing.get("email")).lower() != email:
        return False
    if e164 is not None:
        country = _text(billing.get("country")).upper() or DEFAULT_REGION
        if normalise_phone(_text(billing.get("phone")), country) != e164:
            return False
    return True
