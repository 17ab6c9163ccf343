"""The generic signed format, for any carrier, aggregator or shop system we have
no module for. Documented in the README ("Carrier updates").

Headers:
    X-Timestamp: <unix seconds when it was sent>
    X-Signature: sha256=<hex HMAC-SHA256(CARRIER_WEBHOOK_SECRET, "<timestamp>." + raw body)>

A request more than five minutes away from our clock is refused like a forged one,
so a captured request cannot be replayed later.

Body: one event object, or a JSON array of up to 100 of them. Each event is judged
on its own: one that cannot be read is a `Rejected` with its index and the reason,
and the others are still applied.

    {"event_id": "evt-123", "order_number": "100003", "tracking_number": "DL7040055433",
     "carrier": "Delhivery", "status": "out_for_delivery",
     "occurred_at": "2024-05-20T09:10:00+05:30", "location": "Bengaluru",
     "description": "Out for delivery", "tracking_url": "https://...",
     "estimated_delivery": "2024-05-20"}

    {"event_id": "evt-124", "type": "refund_completed", "order_number": "100014",
     "refund_id": "RF-100014-1", "occurred_at": "2024-05-20T10:00:00Z"}

`status` is one of our package statuses (or a common synonym, `STATUS_BY_WORD`);
anything else is the carrier's own words, kept and shown verbatim. `event_id` is
optional; without it the id is a digest of the event.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta

from ..models import PackageStatus
from ..tracking import CarrierUpdate
from . import (
    Forged,
    Malformed,
    RefundCompleted,
    Rejected,
    digest,
    header,
    load_json,
    order_number,
    shown,
    text,
)

PROVIDER = "generic"
SIGNATURE_HEADER = "X-Signature"
TIMESTAMP_HEADER = "X-Timestamp"
SIGNATURE_PREFIX = "sha256="
MAX_SKEW = timedelta(minutes=5)
MAX_EVENTS = 100
TRACKING = "tracking"
REFUND_COMPLETED = "refund_completed"

P = PackageStatus
STATUS_BY_WORD: dict[str, PackageStatus] = {
    **{s.value: s for s in PackageStatus},
    "picked_up": P.AT_COURIER_FACILITY,
    "shipped": P.AT_COURIER_FACILITY,
    "in_transit": P.AT_SORT_CENTRE,
    "failed_attempt": P.DELIVERY_FAILED,
    "undelivered": P.DELIVERY_FAILED,
    "returned": P.RETURNED_TO_ORIGIN,
}

_TRACKING_FIELDS = frozenset({
    "event_id", "type", "order_number", "tracking_number", "carrier", "status", "occurred_at",
    "location", "description", "tracking_url", "estimated_delivery",
})
_REFUND_FIELDS = frozenset({"event_id", "type", "order_number", "refund_id", "occurred_at"})

Event = CarrierUpdate | RefundCompleted


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """The `X-Signature` value for `body` sent at `timestamp`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return SIGNATURE_PREFIX + mac.hexdigest()


def verify(headers: Mapping[str, str], body: bytes, secret: str, now: datetime) -> None:
    signature = header(headers, SIGNATURE_HEADER)
    stamp = (header(headers, TIMESTAMP_HEADER) or "").strip()
    if not signature or not stamp.isdigit():
        raise Forged(f"`{SIGNATURE_HEADER}` and `{TIMESTAMP_HEADER}` are required")
    if not hmac.compare_digest(signature.strip().encode(), sign(body, secret, int(stamp)).encode()):
        raise Forged(f"the `{SIGNATURE_HEADER}` does not match CARRIER_WEBHOOK_SECRET")
    sent = datetime.fromtimestamp(int(stamp), UTC)
    if abs(now - sent) > MAX_SKEW:
        raise Forged(f"`{TIMESTAMP_HEADER}` is more than 5 minutes from now; sign it afresh")


def parse(
    headers: Mapping[str, str], body: bytes, secret: str, *, now: datetime | None = None
) -> list[Event | Rejected]:
    verify(headers, body, secret, now or datetime.now(UTC))
    data = load_json(body)
    items = data if isinstance(data, list) else [data]
    if len(items) > MAX_EVENTS:
        raise Malformed(f"at most {MAX_EVENTS} events per request")
    return [_judged(item, i) for i, item in enumerate(items)]


def _judged(item: object, index: int) -> Event | Rejected:
    try:
        return _event(item, index)
    except Malformed as exc:
        return Rejected(index, str(exc))


def status_of(words: str) -> PackageStatus | None:
    return STATUS_BY_WORD.get("_".join(words.lower().replace("-", " ").split()))


def _event(item: object, index: int) -> Event:
    if not isinstance(item, dict):
        raise Malformed(f"event {index}: must be a JSON object")
    kind = item.get("type", TRACKING)
    known = ({TRACKING: _TRACKING_FIELDS, REFUND_COMPLETED: _REFUND_FIELDS}.get(kind)
             if isinstance(kind, str) else None)
    if known is None:
        raise Malformed(f"event {index}: `type` must be `{TRACKING}` or `{REFUND_COMPLETED}`")
    unknown = sorted(set(item) - known)
    if unknown:
        raise Malformed(f"event {index}: unknown fields {', '.join(map(shown, unknown))}")
    try:
        return _refund(item) if kind == REFUND_COMPLETED else _tracking(item)
    except Malformed as exc:
        raise Malformed(f"event {index}: {exc}") from exc


def _tracking(item: dict[str, object]) -> CarrierUpdate:
    number = order_number(item.get("order_number"), "order_number")
    if number is None:
        raise Malformed("`order_number` is missing")
    words = text(item.get("status"), "status", required=True)
    assert words is not None
    at = _time(item.get("occurred_at"))
    tracking = text(item.get("tracking_number"), "tracking_number")
    event_id = text(item.get("event_id"), "event_id") or digest(
        PROVIDER, number, tracking, words, at)
    return CarrierUpdate(
        provider=PROVIDER,
        event_id=event_id,
        order_number=number,
        tracking_number=tracking,
        carrier=text(item.get("carrier"), "carrier"),
        status=status_of(words),
        carrier_status=words,
        at=at,
        location=text(item.get("location"), "location") or "",
        description=text(item.get("description"), "description") or "",
        tracking_url=text(item.get("tracking_url"), "tracking_url"),
        estimated_delivery=_day(item.get("estimated_delivery")),
    )


def _refund(item: dict[str, object]) -> RefundCompleted:
    number = order_number(item.get("order_number"), "order_number")
    if number is None:
        raise Malformed("`order_number` is missing")
    refund_id = text(item.get("refund_id"), "refund_id", required=True)
    assert refund_id is not None
    at = _time(item.get("occurred_at"))
    event_id = text(item.get("event_id"), "event_id") or digest(
        PROVIDER, REFUND_COMPLETED, number, refund_id, at)
    return RefundCompleted(
        provider=PROVIDER, event_id=event_id, order_number=number, refund_id=refund_id, at=at)


def _time(value: object) -> datetime:
    raw = text(value, "occurred_at", required=True)
    assert raw is not None
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise Malformed("`occurred_at` is not an ISO 8601 time") from exc
    if parsed.tzinfo is None:
        raise Malformed("`occurred_at` needs a UTC offset (e.g. `Z` or `+05:30`)")
    try:
        return parsed.astimezone(UTC)
    except OverflowError as exc:  # the year 1 or 9999 with an offset
        raise Malformed("`occurred_at` is out of range") from exc


def _day(value: object) -> date | None:
    raw = text(value, "estimated_delivery")
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise Malformed("`estimated_delivery` is not a date (YYYY-MM-DD)") from exc
