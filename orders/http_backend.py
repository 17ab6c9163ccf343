"""The merchant's own order API (`ORDER_BACKEND=http`), spoken as the contract in
`docs/order-api.openapi.json` says (bodies in `orders.http_wire`).

One pooled `httpx.AsyncClient` (passed in, timeouts set by its owner), bearer-token
auth, and every answer validated before the bot believes it. How answers map to
the back-end errors (`orders.backend`):

    2xx with a valid body       the result
    2xx with a body that is     BackendUnavailable (logged with the failing field
      not the contract's          paths, never the values: they are personal data)
    404 on GET /orders/{n}      None: no such order
    404, 409, 422, 501 on a     ActionRefused: the shop said no (its rules, an unknown
      change                      order, a reused key, an action it does not do)
    401, 403, other 4xx         BackendUnavailable, logged as an error: our token or
                                  our request is wrong, which no retry fixes
    5xx (not 501), 408, 429,    retried (below), then BackendUnavailable
      409 in_progress,
      timeouts, lost connections

Retries: up to `tries` tries with the `backoff` pauses between them, and no new try
after `budget` seconds, so a turn stays well inside the channels' webhook budgets
(Twilio waits 15 s). Reads are retried because they change nothing. A change is
retried too, always with the same `Idempotency-Key` header: the contract makes the
shop store each key with its outcome in the same transaction as the change, so a
retry of a change that did reach the shop gets the first outcome back instead of
making a second change, and a retry of one that did not simply makes it. If no try
gets an answer, the bot says it could not reach the shop and reports nothing as
done; the shopper's next attempt carries the same key, so it cannot double it.

Which changes the shop carries out (`supports`) comes from `GET /capabilities`,
read alongside the first call and again every `CAPABILITIES_TTL` seconds; a shop
without that route (404) does the first four (cancel, return, replace, delivery):
an exchange for another variant is only offered by a shop that declares it. Until
the first answer the default holds. A shop without the variants route (404) has
no variants to offer.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from .backend import ActionOutcome, ActionRefused, BackendUnavailable
from .http_wire import (
    IDEMPOTENCY_HEADER,
    Capabilities,
    ChangeResult,
    DeliveryChangeRequest,
    ErrorBody,
    ExchangeRequest,
    OrderList,
    ReplacementRequest,
    ReturnRequest,
    VariantList,
    wire_key,
)
from .models import Address, Order, ReturnLine, ReturnReason, Variant
from .policy import CHANGES, Action, Policy
from .retries import Transient, with_retries
from .tracking import CarrierUpdate, TrackingApplied

log = logging.getLogger(__name__)

DEFAULT_SUPPORTS = CHANGES - {Action.EXCHANGE}
"""What a shop does when it has no `/capabilities` route: the four changes of the
first contract (an exchange must be declared)."""
CAPABILITIES_TTL = 300.0
CAPABILITIES_RETRY = 60.0
"""After a failed `/capabilities` read, wait this long before asking again."""
TRIES = 3
BACKOFF = (0.1, 0.3)
BUDGET = 5.0
"""Seconds after the first try when no further try starts (a try in flight still
runs to the client's timeout)."""

_ORDER_NUMBER = re.compile(r"[A-Za-z0-9_-]{1,40}")
_ERROR_CODE = re.compile(r"[a-z_]{1,40}")
_TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_REFUSAL_STATUS = frozenset({404, 409, 422, 501})

M = TypeVar("M", bound=BaseModel)


class HttpBackend:
    """An order back-end over the shop's own REST API (see the module docstring).

    `policy` is the merchant's policy; the shop applies its own rules to every
    change, so it is kept only to share the other back-ends' constructor."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        token: str,
        *,
        policy: Policy | None = None,
        tries: int = TRIES,
        backoff: tuple[float, ...] = BACKOFF,
        budget: float = BUDGET,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._client = client
        self._base = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self._policy = policy or Policy()
        self._tries = max(1, tries)
        self._backoff = backoff
        self._budget = budget
        self._sleep = sleep
        self._supports: frozenset[Action] | None = None
        self._supports_due = 0.0  # monotonic time of the next /capabilities read

    @property
    def supports(self) -> frozenset[Action]:
        return DEFAULT_SUPPORTS if self._supports is None else self._supports

    # reading ---------------------------------------------------------------------

    async def get_order(self, number: str) -> Order | None:
        number = number.strip().removeprefix("#")
        if not _ORDER_NUMBER.fullmatch(number):
            return None
        route = "GET /orders/{number}"
        answer = await self._call("GET", f"/orders/{number}", route, missing_is_none=True)
        if answer is None:
            return None
        return _same_order(self._parse(Order, answer, route), number, route)

    async def find_orders(
        self, *, phone: str | None = None, email: str | None = None
    ) -> list[Order]:
        """A shopper's orders. Sent as a POST body, not a query string: phone numbers
        and emails in URLs end up in access logs (ours, the shop's, any proxy's)."""
        query = {k: v for k, v in (("phone", phone), ("email", email)) if v is not None}
        if not query or not all(v.strip() for v in query.values()):
            return []
        route = "POST /orders/search"
        answer = await self._call("POST", "/orders/search", route, body=query)
        assert answer is not None
        orders = self._parse(OrderList, answer, route).orders
        return sorted(orders, key=lambda o: o.placed_at, reverse=True)

    # changes ---------------------------------------------------------------------

    async def cancel(self, number: str, *, idempotency_key: str) -> ActionOutcome:
        return await self._change(number, "cancel", {}, idempotency_key)

    async def start_return(
        self, number: str, lines: list[ReturnLine], *, idempotency_key: str
    ) -> ActionOutcome:
        if not lines:
            raise ActionRefused("a return needs at least one line")
        body = ReturnRequest(lines=lines)
        return await self._change(number, "returns", _json(body), idempotency_key)

    async def replace(
        self,
        number: str,
        line_id: str,
        quantity: int,
        reason: ReturnReason,
        *,
        idempotency_key: str,
    ) -> ActionOutcome:
        body = ReplacementRequest(line_id=line_id, quantity=quantity, reason=reason)
        return await self._change(number, "replacements", _json(body), idempotency_key)

    async def change_delivery(
        self,
        number: str,
        *,
        address: Address | None = None,
        delivery_date: date | None = None,
        idempotency_key: str,
    ) -> ActionOutcome:
        if address is None and delivery_date is None:
            raise ActionRefused("nothing to change")
        body = DeliveryChangeRequest(address=address, delivery_date=delivery_date)
        return await self._change(number, "delivery", _json(body), idempotency_key)

    async def variants(self, number: str, line_id: str) -> list[Variant]:
        number = number.strip().removeprefix("#")
        if not _ORDER_NUMBER.fullmatch(number) or not _ORDER_NUMBER.fullmatch(line_id):
            return []
        route = "GET /orders/{number}/lines/{line_id}/variants"
        answer = await self._call("GET", f"/orders/{number}/lines/{line_id}/variants", route,
                                  missing_is_none=True)
        return [] if answer is None else self._parse(VariantList, answer, route).variants

    async def exchange(
        self,
        number: str,
        line_id: str,
        quantity: int,
        variant_id: str,
        *,
        idempotency_key: str,
    ) -> ActionOutcome:
        body = ExchangeRequest(line_id=line_id, quantity=quantity, variant_id=variant_id)
        return await self._change(number, "exchanges", _json(body), idempotency_key)

    async def record_tracking(self, update: CarrierUpdate) -> TrackingApplied | None:
        """The contract has no route for carrier events: `orders.overlay.TrackedBackend`
        keeps them beside the shop's orders."""
        return None

    async def _change(
        self, number: str, action: str, body: dict[str, Any], idempotency_key: str
    ) -> ActionOutcome:
        number = number.strip().removeprefix("#")
        if not _ORDER_NUMBER.fullmatch(number):
            raise ActionRefused("unknown order")
        route = f"POST /orders/{{number}}/{action}"
        answer = await self._call(
            "POST", f"/orders/{number}/{action}", route, body=body,
            headers={IDEMPOTENCY_HEADER: wire_key(idempotency_key)},
        )
        assert answer is not None
        result = self._parse(ChangeResult, answer, route)
        return ActionOutcome(_same_order(result.order, number, route), result.reference)

    # the wire --------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        route: str,
        *,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        missing_is_none: bool = False,
    ) -> httpx.Response | None:
        """One call with retries; the capabilities are read alongside when due."""
        call = self._with_retries(method, path, route, body, headers, missing_is_none)
        if time.monotonic() < self._supports_due:
            return await call
        self._supports_due = time.monotonic() + CAPABILITIES_RETRY  # one read at a time
        answer, _ = await asyncio.gather(call, self._read_capabilities(), return_exceptions=True)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    async def _with_retries(
        self,
        method: str,
        path: str,
        route: str,
        body: dict[str, Any] | None,
        headers: dict[str, str] | None,
        missing_is_none: bool,
    ) -> httpx.Response | None:
        def failed(exc: Transient, attempt: int, last: bool) -> None:
            log.warning("order API: %s failed (%s), try %d of %d%s", route, exc, attempt,
                        self._tries, "; giving up" if last else "")

        try:
            return await with_retries(
                lambda: self._try(method, path, route, body, headers, missing_is_none),
                tries=self._tries, backoff=self._backoff, budget=self._budget,
                sleep=self._sleep, on_failure=failed,
            )
        except Transient as exc:
            raise BackendUnavailable(f"{route}: {exc}") from exc

    async def _try(
        self,
        method: str,
        path: str,
        route: str,
        body: dict[str, Any] | None,
        headers: dict[str, str] | None,
        missing_is_none: bool,
    ) -> httpx.Response | None:
        try:
            response = await self._client.request(
                method, self._base + path, json=body, headers=self._headers | (headers or {})
            )
        except httpx.TransportError as exc:  # timeouts, refused and dropped connections
            raise Transient(type(exc).__name__) from exc
        status = response.status_code
        if status < 300:
            return response
        code = _error_code(response)
        if status in _TRANSIENT_STATUS or status > 501 or code == "in_progress":
            raise Transient(f"HTTP {status} {code}")
        if status == 404 and missing_is_none:
            return None
        if status in _REFUSAL_STATUS and method == "POST" and route != "POST /orders/search":
            log.info("order API: %s refused: HTTP %d %s", route, status, code)
            raise ActionRefused(f"{route}: {code}")
        if status in (401, 403):
            log.error("order API: %s answered HTTP %d: check ORDER_API_TOKEN", route, status)
        else:
            log.error("order API: %s answered HTTP %d %s: not what the contract allows",
                      route, status, code)
        raise BackendUnavailable(f"{route}: HTTP {status} {code}")

    def _parse(self, model: type[M], response: httpx.Response, route: str) -> M:
        try:
            return model.model_validate_json(response.content)
        except ValidationError as exc:
            # `loc` names fields (and list indexes), `type` the rule; the values that
            # failed are left out on purpose: they are shoppers' names and addresses.
            where = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(body)'}: {e['type']}"
                for e in exc.errors(include_url=False, include_input=False)[:5]
            )
            log.error("order API: %s answered a body that is not the contract's (%d "
                      "problem(s): %s)", route, exc.error_count(), where)
            raise BackendUnavailable(f"{route}: malformed answer") from exc

    async def _read_capabilities(self) -> None:
        """Refresh `supports`; never raises (a failed read keeps what we had)."""
        route = "GET /capabilities"
        try:
            response = await self._client.get(self._base + "/capabilities",
                                              headers=self._headers)
        except httpx.TransportError as exc:
            log.warning("order API: %s failed (%s); asking again later", route,
                        type(exc).__name__)
            return
        if response.status_code == 404:
            self._supports = DEFAULT_SUPPORTS
        elif response.status_code != 200:
            log.warning("order API: %s answered HTTP %d; asking again later", route,
                        response.status_code)
            return
        else:
            try:
                self._supports = self._parse(Capabilities, response, route).changes()
            except BackendUnavailable:
                return
        self._supports_due = time.monotonic() + CAPABILITIES_TTL


def _same_order(order: Order, number: str, route: str) -> Order:
    """An answer about another order than the one asked for is a broken shop, and
    showing it could show a stranger's order: not believed."""
    if order.number != number:
        log.error("order API: %s answered with another order; not believed", route)
        raise BackendUnavailable(f"{route}: the answer is about another order")
    return order


def _json(body: BaseModel) -> dict[str, Any]:
    return body.model_dump(mode="json", exclude_none=True)


def _error_code(response: httpx.Response) -> str:
    """The contract's error code, or "-" when the body is not the contract's error."""
    try:
        code = ErrorBody.model_validate_json(response.content).error
    except ValidationError:
        return "-"
    return code if _ERROR_CODE.fullmatch(code) else "-"
