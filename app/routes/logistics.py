"""Carrier updates: verify -> parse -> dedup -> apply to the order -> tell the shopper.

    POST /webhooks/logistics/shiprocket     x-api-key: SHIPROCKET_WEBHOOK_TOKEN
    POST /webhooks/logistics/ship-updates   the same, for Shiprocket's form, which
                                            refuses URLs containing "shiprocket"
    POST /webhooks/logistics/aftership      aftership-hmac-sha256 (AFTERSHIP_WEBHOOK_SECRET)
    POST /webhooks/logistics/generic        X-Signature + X-Timestamp (CARRIER_WEBHOOK_SECRET)
    GET  (the same paths)                   200 when configured: a carrier's "test URL" probe

An unknown provider, or one whose secret is not set, is 404. Verification comes
before anything is read into the order, and a refused request (401) changes
nothing; a body we cannot read is 422 with the reason. Each event of a batch is
judged and applied on its own: one that can never be applied (unreadable, text
that is not valid Unicode, or refused by the order's model) is answered in
`rejected` with its index and why, and the rest are applied, so the carrier
stops retrying what can never succeed and one bad event never blocks the others;
a request whose every event is rejected is 422 with the reasons. Each event is
deduplicated on `{prefix}carrier:seen:<provider>:<event id>` (30 days), marked
only after it was applied and told, so a crash half-way is finished by the
carrier's retry; and applying it again changes nothing anyway (the event is
already in the package's history). An event for an order or package the shop
does not know is acknowledged (logged without personal data), so the carrier
does not retry it forever. The shop being unreachable is 503: the carrier retries.

The answer: `{"applied": n, "duplicates": m, "unmatched": k, "rejected": [{"index": i,
"reason": "..."}]}`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeGuard

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.errors import error_response
from app.resources import Resources
from app.routes.body import read_limited
from app.settings import Settings
from conversation.audit import SYSTEM, AuditEntry
from orders.backend import BackendUnavailable, OrderBackend
from orders.carriers import (
    MAX_BODY_BYTES,
    Forged,
    Malformed,
    RefundCompleted,
    Rejected,
    aftership,
    generic,
    shiprocket,
)
from orders.models import Order
from orders.tracking import (
    CarrierUpdate,
    ChangeKind,
    OrderChange,
    notable_change,
    replayed_change,
)

log = logging.getLogger(__name__)

PATH = "/webhooks/logistics/{provider}"
SEEN_TTL_S = 30 * 24 * 3600

Event = CarrierUpdate | RefundCompleted
Parse = Callable[..., list[Any]]


@dataclass(frozen=True, slots=True)
class Provider:
    name: str
    parse: Parse
    secret: Callable[[Settings], object]


PROVIDERS: dict[str, Provider] = {
    "shiprocket": Provider("shiprocket", shiprocket.parse, lambda s: s.shiprocket_webhook_token),
    "aftership": Provider("aftership", aftership.parse, lambda s: s.aftership_webhook_secret),
    "generic": Provider("generic", generic.parse, lambda s: s.carrier_webhook_secret),
}
PROVIDERS["ship-updates"] = PROVIDERS["shiprocket"]


class RefundRecorder(Protocol):
    """What a back-end that keeps refunds itself offers (the demo shop)."""

    async def record_refund_completed(
        self, number: str, refund_id: str, at: datetime
    ) -> tuple[Order, bool] | None: ...


def _configured(request: Request) -> tuple[Provider, str]:
    provider = PROVIDERS.get(request.path_params["provider"])
    settings: Settings = request.state.resources.settings
    secret = provider.secret(settings) if provider else None
    if provider is None or secret is None:
        raise HTTPException(404, "no such carrier webhook, or its secret is not set")
    get = getattr(secret, "get_secret_value", None)
    return provider, str(get() if get is not None else secret)


async def probe(request: Request) -> Response:
    _configured(request)
    return JSONResponse({"ok": True})


async def carrier_update(request: Request) -> Response:
    provider, secret = _configured(request)
    body = await read_limited(request, MAX_BODY_BYTES)
    try:
        events: list[Event] = provider.parse(request.headers, body, secret, now=datetime.now(UTC))
    except Forged as exc:
        log.info("carrier %s: refused (%s)", provider.name, type(exc).__name__)
        return error_response(401, "forged", str(exc))
    except Malformed as exc:
        log.info("carrier %s: malformed body (%s)", provider.name, exc)
        return error_response(422, "malformed_body", str(exc))
    rejected: list[dict[str, Any]] = [{"index": e.index, "reason": e.reason} for e in events
                                      if isinstance(e, Rejected)]
    if rejected and len(rejected) == len(events):
        log.info("carrier %s: every event rejected (%s)", provider.name, rejected[0]["reason"])
        return error_response(422, "malformed_body", rejected[0]["reason"], details=rejected)
    resources: Resources = request.state.resources
    resources.require_ready()
    counts = {"applied": 0, "duplicates": 0, "unmatched": 0}
    try:
        for index, event in enumerate(events):
            if isinstance(event, Rejected):
                continue
            try:
                counts[await _handle(resources, provider.name, event)] += 1
            except (ValueError, TypeError) as exc:  # the order's model refused it
                log.error("carrier %s: event %d could not be applied (%s)", provider.name,
                          index, type(exc).__name__)
                rejected.append({"index": index,
                                 "reason": f"event {index}: could not be applied to the order"})
    except BackendUnavailable as exc:
        log.warning("carrier %s: the shop is unreachable (%s); the carrier will retry",
                    provider.name, exc)
        return error_response(503, "unavailable", "the shop is unreachable; retry later",
                              headers={"Retry-After": "30"})
    if events:
        log.info("carrier %s: %d applied, %d duplicates, %d unmatched, %d rejected",
                 provider.name, counts["applied"], counts["duplicates"], counts["unmatched"],
                 len(rejected))
    return JSONResponse({**counts, "rejected": sorted(rejected, key=lambda r: r["index"])})


async def _handle(resources: Resources, provider: str, event: Event) -> str:
    """Apply and tell one event; which count it adds to."""
    prefix = resources.settings.redis_prefix
    seen = f"{prefix}carrier:seen:{provider}:{event.event_id}"
    if await resources.redis.exists(seen):
        return "duplicates"
    if isinstance(event, RefundCompleted):
        outcome, change = await _refund_completed(resources.backend, event)
    else:
        outcome, change = await _tracking(resources.backend, event)
    if outcome == "applied":
        await _audit(resources, provider, event)
    if change is not None:
        await resources.notifier.order_changed(change)
    if outcome == "unmatched":
        log.info("carrier %s: event %s fits no order or package we know; acknowledged",
                 provider, event.event_id)
    await resources.redis.set(seen, 1, nx=True, ex=SEEN_TTL_S)
    return outcome


async def _audit(resources: Resources, provider: str, event: Event) -> None:
    """The order's audit log gets the carrier's news as codes only (our status, or
    "unknown"): a carrier's own words may carry a recipient's name."""
    number = event.order_number
    if not number:
        return
    if isinstance(event, RefundCompleted):
        what, detail = "refund_completed", event.refund_id
    else:
        what, detail = "carrier_update", event.status.value if event.status else "unknown"
    entry = AuditEntry(datetime.now(UTC), f"{SYSTEM} ({provider})", "track", what, detail,
                       once=f"carrier:{provider}:{event.event_id}")
    await resources.engine.audit.record(number.strip().removeprefix("#"), [entry])


async def _tracking(
    backend: OrderBackend, update: CarrierUpdate
) -> tuple[str, OrderChange | None]:
    applied = await backend.record_tracking(update)
    if applied is None:
        return "unmatched", None
    if not applied.recorded:  # stored before, maybe by a try that died before telling
        return "duplicates", replayed_change(applied, update)
    return "applied", notable_change(applied, update)


async def _refund_completed(
    backend: OrderBackend, event: RefundCompleted
) -> tuple[str, OrderChange | None]:
    """The demo shop records it; another shop keeps its refunds itself, so then
    the bot only tells the shopper, when the shop's order has that refund."""
    if _records_refunds(backend):
        result = await backend.record_refund_completed(
            event.order_number, event.refund_id, event.at)
        if result is None:
            return "unmatched", None
        order, changed = result
        if not changed:
            return "duplicates", None
    else:
        found = await backend.get_order(event.order_number)
        if found is None or not any(r.refund_id == event.refund_id for r in found.refunds):
            return "unmatched", None
        order = found
    key = f"{order.number}:refund:{event.refund_id}"
    return "applied", OrderChange(order, ChangeKind.REFUND_COMPLETED, key)


def _records_refunds(backend: object) -> TypeGuard[RefundRecorder]:
    return callable(getattr(backend, "record_refund_completed", None))


routes = [
    Route(PATH, carrier_update, methods=["POST"]),
    Route(PATH, probe, methods=["GET"]),
]
