"""The wire format of the shop's order API (`ORDER_BACKEND=http`): request and
response bodies, shared by the client (`orders.http_backend`), the reference shop
(`app.reference_shop`) and the published contract (`docs/order-api.openapi.json`,
built by `orders.http_contract`).

Orders travel as our `Order` model's JSON, exactly as in the demo shop's file, so
one JSON Schema describes both. Unknown fields are errors, as in the file: a typo
in the shop's answer is found on the first call, not months later.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from .models import Address, Order, ReturnLine, ReturnReason, Variant
from .policy import CHANGES, Action

IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_.:-]{1,255}")
"""What the shop must accept as a key; `wire_key` always sends 64 hex digits."""


class Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OrderList(Wire):
    """GET /orders?phone=...|email=...: a shopper's orders, newest first."""

    orders: list[Order]


class ChangeResult(Wire):
    """200 answer to every change: the order as it is now, and the id of what was
    created (a return id, a replacement id, a cancellation's refund id), if any."""

    order: Order
    reference: str | None = None


class CancelRequest(Wire):
    """POST /orders/{number}/cancel. No fields yet: the body is `{}`."""


class ReturnRequest(Wire):
    """POST /orders/{number}/returns."""

    lines: list[ReturnLine] = Field(min_length=1)


class ReplacementRequest(Wire):
    """POST /orders/{number}/replacements."""

    line_id: str
    quantity: int = Field(ge=1)
    reason: ReturnReason


class ExchangeRequest(Wire):
    """POST /orders/{number}/exchanges: units of a line for another variant."""

    line_id: str
    quantity: int = Field(ge=1)
    variant_id: str = Field(description="one of the line's `variants`")


class VariantList(Wire):
    """GET /orders/{number}/lines/{line_id}/variants: the other variants of the
    line's product, with price and stock (empty: none)."""

    variants: list[Variant]


class DeliveryChangeRequest(Wire):
    """POST /orders/{number}/delivery: a new address, a new date, or both."""

    address: Address | None = None
    delivery_date: date | None = Field(None, description="a day after today, shop's time zone")


class Capabilities(Wire):
    """GET /capabilities: the changes the shop carries out itself. An action left out
    becomes a request for the merchant's staff, and the shopper is told so."""

    actions: list[Action] = Field(
        description="a subset of cancel, return, replace, delivery, exchange; track and "
        "refund status are reads every shop answers"
    )

    def changes(self) -> frozenset[Action]:
        return frozenset(self.actions) & CHANGES


class ErrorBody(Wire):
    """Every 4xx/5xx answer. `error` is a stable code (below); `message` is for the
    merchant's developer and is never shown to the shopper."""

    model_config = ConfigDict(frozen=True, extra="allow")

    error: str = Field(
        description="not_found, refused (409: the shop's rules said no; the rule's "
        "name may follow in `reason`), invalid_request (422), idempotency_key_reused "
        "(422), not_supported (501), unauthorized (401), internal (5xx)"
    )
    message: str = ""
    reason: str | None = Field(
        None, description="for `refused`: why, e.g. already_shipped, window_closed"
    )


def wire_key(idempotency_key: str) -> str:
    """The header value for one of our idempotency keys: its SHA-256 in hex. Our keys
    name the action, the order and what was asked (even a typed address), which is
    neither ASCII-safe nor something to leave in a shop's access logs; the digest is
    as stable as the key, so the same request always carries the same header."""
    return hashlib.sha256(idempotency_key.encode()).hexdigest()
