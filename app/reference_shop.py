"""A reference implementation of the order API contract (`docs/order-api.openapi.json`)
over the demo shop: what a merchant's developer can read (or run) to see the
contract at work, and the server the HTTP back-end's tests talk to.

    ORDER_API_TOKEN=... python -m app reference-shop --port 8100

It keeps its own copy of the demo orders in Redis under the prefix "refshop:" (so
it never touches the bot's own demo shop), checks the bearer token on every call,
and gets idempotency for free from `DemoBackend`: each key is stored with its
outcome in the same transaction as the change, which is exactly what the contract
asks of a shop.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from app.settings import Settings
from orders.backend import ActionOutcome, ActionRefused, BackendUnavailable, OrderBackend
from orders.http_wire import (
    IDEMPOTENCY_HEADER,
    IDEMPOTENCY_KEY,
    CancelRequest,
    Capabilities,
    ChangeResult,
    DeliveryChangeRequest,
    ExchangeRequest,
    OrderList,
    ReplacementRequest,
    ReturnRequest,
    VariantList,
)
from orders.policy import CHANGES, Action

log = logging.getLogger(__name__)

PREFIX = "refshop:"
DEFAULT_PORT = 8100
MAX_BODY = 64 * 1024
_REASON = re.compile(r"\((\w+)\)$")

Change = Callable[[OrderBackend, str, Any, str], Awaitable[ActionOutcome]]


def error(status: int, code: str, message: str = "", reason: str | None = None) -> Response:
    body: dict[str, Any] = {"error": code, "message": message}
    if reason:
        body["reason"] = reason
    return JSONResponse(body, status_code=status)


def _model(model: BaseModel, status: int = 200) -> Response:
    return Response(model.model_dump_json(), status_code=status, media_type="application/json")


class BearerAuth:
    """Every route needs `Authorization: Bearer <token>`; compared in constant time."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self._app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self._expected):
                response = error(401, "unauthorized", "a valid bearer token is required")
                await response(scope, receive, send)
                return
        await self._app(scope, receive, send)


async def _body(request: Request, model: type[BaseModel]) -> BaseModel | Response:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        return error(413, "invalid_request", "body too large")
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors()[:5])
        return error(422, "invalid_request", f"body does not match the contract: {fields}")


async def _cancel(backend: OrderBackend, number: str, body: Any, key: str) -> ActionOutcome:
    return await backend.cancel(number, idempotency_key=key)


async def _return(backend: OrderBackend, number: str, body: Any, key: str) -> ActionOutcome:
    return await backend.start_return(number, list(body.lines), idempotency_key=key)


async def _replace(backend: OrderBackend, number: str, body: Any, key: str) -> ActionOutcome:
    return await backend.replace(number, body.line_id, body.quantity, body.reason,
                                 idempotency_key=key)


async def _exchange(backend: OrderBackend, number: str, body: Any, key: str) -> ActionOutcome:
    return await backend.exchange(number, body.line_id, body.quantity, body.variant_id,
                                  idempotency_key=key)


async def _delivery(backend: OrderBackend, number: str, body: Any, key: str) -> ActionOutcome:
    return await backend.change_delivery(number, address=body.address,
                                         delivery_date=body.delivery_date, idempotency_key=key)


CHANGE_ROUTES: dict[str, tuple[Action, type[BaseModel], Change]] = {
    "cancel": (Action.CANCEL, CancelRequest, _cancel),
    "returns": (Action.RETURN, ReturnRequest, _return),
    "replacements": (Action.REPLACE, ReplacementRequest, _replace),
    "delivery": (Action.DELIVERY, DeliveryChangeRequest, _delivery),
    "exchanges": (Action.EXCHANGE, ExchangeRequest, _exchange),
}


def create_reference_shop(
    backend: OrderBackend, token: str, *, supports: frozenset[Action] = CHANGES
) -> Starlette:
    """The contract's routes over `backend` (a `DemoBackend` in practice). `supports`
    narrows what `/capabilities` declares; the other changes answer 501."""
    if not token:
        raise ValueError("the reference shop needs a token")

    async def capabilities(request: Request) -> Response:
        return _model(Capabilities(actions=sorted(supports & CHANGES)))

    async def get_order(request: Request) -> Response:
        order = await backend.get_order(request.path_params["number"])
        if order is None:
            return error(404, "not_found", "no such order")
        return _model(order)

    async def search(request: Request) -> Response:
        raw = await request.body()
        try:
            query = json.loads(raw or b"{}")
        except ValueError:
            query = None
        if not isinstance(query, dict) or not query or set(query) - {"phone", "email"} or not all(
            isinstance(v, str) for v in query.values()
        ):
            return error(422, "invalid_request", "give phone, email or both, as strings")
        orders = await backend.find_orders(phone=query.get("phone"), email=query.get("email"))
        return _model(OrderList(orders=orders))

    async def variants(request: Request) -> Response:
        number, line_id = request.path_params["number"], request.path_params["line_id"]
        order = await backend.get_order(number)
        if order is None or order.item(line_id) is None:
            return error(404, "not_found", "no such order or line")
        return _model(VariantList(variants=await backend.variants(number, line_id)))

    async def change(request: Request) -> Response:
        number, kind = request.path_params["number"], request.path_params["change"]
        if kind not in CHANGE_ROUTES:
            return error(404, "not_found", "no such route")
        action, model, carry_out = CHANGE_ROUTES[kind]
        key = request.headers.get(IDEMPOTENCY_HEADER, "")
        if not IDEMPOTENCY_KEY.fullmatch(key):
            return error(400, "invalid_request", f"{IDEMPOTENCY_HEADER} header required")
        if action not in supports:
            return error(501, "not_supported", f"this shop does not {action.value} orders here")
        body = await _body(request, model)
        if isinstance(body, Response):
            return body
        if await backend.get_order(number) is None:
            return error(404, "not_found", "no such order")
        try:
            outcome = await carry_out(backend, number, body, key)
        except ActionRefused as exc:
            text = str(exc)
            if "idempotency key reused" in text:
                return error(422, "idempotency_key_reused", "this key was used for another change")
            match = _REASON.search(text)
            return error(409, "refused", text, match.group(1) if match else None)
        return _model(ChangeResult(order=outcome.order, reference=outcome.reference))

    async def unavailable(request: Request, exc: Exception) -> Response:
        return error(503, "unavailable", "the shop's store is unreachable")

    return Starlette(
        routes=[
            Route("/capabilities", capabilities, methods=["GET"]),
            Route("/orders/search", search, methods=["POST"]),
            Route("/orders/{number}", get_order, methods=["GET"]),
            Route("/orders/{number}/{change}", change, methods=["POST"]),
            Route("/orders/{number}/lines/{line_id}/variants", variants, methods=["GET"]),
        ],
        middleware=[Middleware(BearerAuth, token=token)],
        exception_handlers={BackendUnavailable: unavailable},
    )


async def serve(settings: Settings, host: str, port: int) -> int:
    """`python -m app reference-shop`: the demo orders (`ORDERS_FILE`) behind the
    contract, on REDIS_URL or the embedded Valkey, until interrupted."""
    import uvicorn

    from app.logs import uvicorn_log_config
    from app.resources import open_redis
    from orders.demo import DemoBackend
    from orders.loading import load_order_file

    if settings.order_api_token is None:
        print("Set ORDER_API_TOKEN: the reference shop checks it as the bearer token "
              "(the bot sends the same value).", file=sys.stderr)
        return 2
    token = settings.order_api_token.get_secret_value()
    async with contextlib.AsyncExitStack() as store:
        redis = await store.enter_async_context(open_redis(settings))
        backend = DemoBackend(redis, prefix=PREFIX, policy=settings.policy())
        if await backend.load(load_order_file(settings.orders_file,
                                            datetime.now(ZoneInfo(settings.timezone)))):
            log.info("reference shop: demo orders loaded")
        app = create_reference_shop(backend, token)

        @contextlib.asynccontextmanager
        async def lifespan(_: Starlette) -> AsyncIterator[None]:
            yield
            # uvicorn re-raises the SIGTERM that stopped it right after shutdown, which
            # ends the process at once: the store (an embedded Valkey) closes here first
            await store.aclose()

        app.router.lifespan_context = lifespan
        config = uvicorn.Config(app, host=host, port=port, log_config=uvicorn_log_config(),
                                log_level=settings.log_level.lower(), lifespan="on")
        print(f"reference shop on http://{host}:{port} (ORDER_API_URL for the bot)",
              file=sys.stderr)
        await uvicorn.Server(config).serve()
    return 0
