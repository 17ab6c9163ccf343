"""The order API contract as OpenAPI 3.1, generated from the wire models, so the file
a merchant's developer implements (`docs/order-api.openapi.json`) cannot drift from
what the bot sends and accepts (a test compares them). Regenerate with:

    python -m orders.http_contract > docs/order-api.openapi.json
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from .http_wire import (
    IDEMPOTENCY_HEADER,
    CancelRequest,
    Capabilities,
    ChangeResult,
    DeliveryChangeRequest,
    ErrorBody,
    ExchangeRequest,
    OrderList,
    ReplacementRequest,
    ReturnRequest,
    VariantList,
)
from .models import Order

VERSION = "1.1.0"
_MODELS: list[type[BaseModel]] = [
    Order, OrderList, ChangeResult, CancelRequest, ReturnRequest, ReplacementRequest,
    DeliveryChangeRequest, ExchangeRequest, VariantList, Capabilities, ErrorBody,
]

DESCRIPTION = """\
The order API a shop implements so the order-help bot can read and change its orders
(`ORDER_BACKEND=http`, `ORDER_API_URL` = the base URL of these paths).

**Auth.** Every call carries `Authorization: Bearer <ORDER_API_TOKEN>`; answer 401 otherwise.

**Orders** are JSON in the bot's order model (`Order` below; the same schema as the demo
shop's orders file). Money is a decimal string or number in the order's currency, times
are ISO 8601 with a zone, dates are `YYYY-MM-DD`. Unknown fields are rejected: the bot
treats a body that does not match as the shop being unavailable (and logs which field).

**Errors** are `{"error": code, "message": text}` (`message` is for developers, never
shown to shoppers):
- 404 `not_found`: no such order. On `GET /orders/{number}` the bot says it cannot find it.
- 409 `refused`: the shop's rules say no (put the rule in `reason`, e.g. `already_shipped`,
  `window_closed`); 422 `invalid_request` or `idempotency_key_reused`; 501 `not_supported`.
  The bot tells the shopper that nothing was changed and offers a person.
- 409 `in_progress`: a change with the same key is still running; the bot retries.
- 5xx, 429, timeouts: the bot retries reads and changes (changes with the same key) up to
  3 times within about 5 s, then tells the shopper it cannot reach the shop and offers a
  person. Answer within a few seconds: the bot's timeout is `ORDER_API_TIMEOUT` (4 s).

**Idempotency.** Every change carries an `Idempotency-Key` header (the bot sends 64 hex
digits; accept `[A-Za-z0-9_.:-]{1,255}`). Store the key with the change's outcome in the
same transaction as the change, and keep it for at least 24 hours. The same key with the
same body again must make no second change and answer the first outcome (status and
body); the same key with a different body answers 422 `idempotency_key_reused`. A refused
change need not be stored (it changed nothing). The bot derives the key from the action,
the order and what was asked, so a shopper tapping twice, a redelivered message and a
retry after a timeout are all one change.

**What the shop does itself** is `GET /capabilities` (optional: without it, 404, the bot
assumes cancel, return, replace and delivery). A change left out becomes a request ticket
for the merchant's staff, and the shopper is told so; its route may answer 501.

**Exchanges for another variant** (a size, a colour; since 1.1.0) are offered only by a
shop that lists `exchange` in its capabilities. The bot reads a line's other variants
(`GET /orders/{number}/lines/{line_id}/variants`, 404 or an empty list: none), shows those
in stock with the price difference, and on the shopper's yes asks for the exchange
(`POST /orders/{number}/exchanges`). The shop re-checks stock and its rules, and answers
the order with a `Replacement` that names the new variant and the price difference (new
minus old, for the quantity: above zero the shopper pays it, with `payment_url` where the
shop has a payment page; below zero it is refunded to the original method).
"""


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    }


def _ok(model: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model}"}}},
    }


_NUMBER = {
    "name": "number", "in": "path", "required": True,
    "description": "the order number as the shopper knows it (without #)",
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,40}$"},
}
_LINE = {
    "name": "line_id", "in": "path", "required": True,
    "description": "the order line's `line_id`",
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,40}$"},
}
_KEY = {
    "name": IDEMPOTENCY_HEADER, "in": "header", "required": True,
    "description": "same key, same change: see Idempotency above",
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,255}$"},
}
_COMMON_ERRORS = {
    "401": _error("missing or wrong bearer token"),
    "5XX": _error("the shop failed; the bot retries, then tells the shopper"),
}


def _change(summary: str, body: str, description: str) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "description": description,
            "parameters": [_NUMBER, _KEY],
            "requestBody": {
                "required": True,
                "content": {"application/json": {
                    "schema": {"$ref": f"#/components/schemas/{body}"}}},
            },
            "responses": {
                "200": _ok("ChangeResult", "done (or done before with this key): the order "
                           "as it is now, and the id of what was created"),
                "400": _error("no or bad Idempotency-Key header"),
                "404": _error("no such order"),
                "409": _error("`refused` by the shop's rules, or `in_progress` with this key"),
                "422": _error("`invalid_request` or `idempotency_key_reused`"),
                "501": _error("`not_supported`: the shop does not do this change here"),
                **_COMMON_ERRORS,
            },
        }
    }


def openapi() -> dict[str, Any]:
    _, defs = models_json_schema(
        [(model, "validation") for model in _MODELS],
        ref_template="#/components/schemas/{model}",
    )
    return {
        "openapi": "3.1.0",
        "info": {"title": "Order-help bot: shop order API", "version": VERSION,
                 "description": DESCRIPTION},
        "security": [{"bearer": []}],
        "paths": {
            "/capabilities": {"get": {
                "summary": "The changes this shop carries out itself",
                "responses": {"200": _ok("Capabilities", "the changes"),
                              "404": _error("not implemented: the bot assumes all four"),
                              **_COMMON_ERRORS},
            }},
            "/orders/{number}": {"get": {
                "summary": "One order",
                "parameters": [_NUMBER],
                "responses": {"200": _ok("Order", "the order"),
                              "404": _error("no such order"), **_COMMON_ERRORS},
            }},
            "/orders/search": {"post": {
                "summary": "A shopper's orders, by phone, email or both",
                "description": "A read, sent as POST so phone numbers and emails stay out "
                "of URLs and access logs. `phone` is E.164 or as the shopper typed it; "
                "`email` matches case-insensitively. With both, only orders matching both. "
                "Newest first; an unknown shopper gets an empty list.",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "additionalProperties": False, "minProperties": 1,
                    "properties": {"phone": {"type": "string"}, "email": {"type": "string"}},
                }}}},
                "responses": {"200": _ok("OrderList", "the orders"),
                              "422": _error("neither phone nor email"), **_COMMON_ERRORS},
            }},
            "/orders/{number}/cancel": _change(
                "Cancel an order", "CancelRequest",
                "Only before it ships. A paid prepaid order gets a refund to the original "
                "method (in `order.refunds`; its id is the `reference`); cash on delivery "
                "has nothing to refund."),
            "/orders/{number}/returns": _change(
                "Start a return", "ReturnRequest",
                "Delivered, returnable items, inside the return window, not more than is "
                "left. Creates a `Return` (status requested); its id is the `reference`."),
            "/orders/{number}/replacements": _change(
                "Send the same item again", "ReplacementRequest",
                "Delivered items that arrived damaged, defective or wrong, in stock, inside "
                "the window. Creates a `Replacement`; its id is the `reference`."),
            "/orders/{number}/lines/{line_id}/variants": {"get": {
                "summary": "The other variants of a line's product",
                "parameters": [_NUMBER, _LINE],
                "responses": {"200": _ok("VariantList", "the variants, with price and stock"),
                              "404": _error("no such order or line, or no variants route: "
                                            "the bot offers no exchange"),
                              **_COMMON_ERRORS},
            }},
            "/orders/{number}/exchanges": _change(
                "Exchange units of a line for another variant", "ExchangeRequest",
                "Delivered, returnable items, inside the window, not more than is left, at "
                "most one replacement or exchange per item (the shop's rule), the new "
                "variant in stock. Creates a `Replacement` with `new_variant_id`, "
                "`new_variant` and `price_difference` (and `payment_url` when the shopper "
                "has to pay); its id is the `reference`."),
            "/orders/{number}/delivery": _change(
                "Change the delivery address or date", "DeliveryChangeRequest",
                "Only before it ships. `reference` may be null."),
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": defs["$defs"],
        },
    }


def render() -> str:
    """The contract exactly as committed: indented, final newline."""
    return json.dumps(openapi(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    print(render(), end="")
