"""AfterShip's tracking webhook.

AfterShip signs every request: `aftership-hmac-sha256` is
base64(HMAC-SHA256(webhook secret, raw body)). Its body:

    {"event": "tracking_update", "event_id": "<uuid v4>", "ts": 1716200000,
     "msg": {"tracking_number": "...", "slug": "delhivery", "tag": "OutForDelivery",
             "subtag": "OutForDelivery_001", "subtag_message": "Out for Delivery",
             "order_id": "...", "order_number": "#100003",
             "expected_delivery": "2024-05-21", "courier_tracking_link": "https://...",
             "checkpoints": [{"checkpoint_time": "2024-05-20T09:10:00+05:30",
                              "location": "Bengaluru", "message": "Out for delivery",
                              "tag": "OutForDelivery", "subtag": "OutForDelivery_001",
                              "subtag_message": "Out for Delivery"}, ...]}}

One webhook is one update: the tracking's tag, at its newest checkpoint. The
order number is `order_number`, else `order_id`. Events other than
`tracking_update` (`edd_revise`, `tracking_pending_time`) carry no new place for
the parcel and are verified and ignored. The id is AfterShip's `event_id`.

Status: the subtag first (the few whose meaning is a place of ours), then the
tag. `Exception` (customs hold, refused, delayed ...), `Expired` and `Pending` are
kept with AfterShip's subtag message, verbatim.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, date, datetime

from ..models import PackageStatus
from ..tracking import CarrierUpdate
from . import Forged, Malformed, digest, header, load_json, order_number, text

PROVIDER = "aftership"
SIGNATURE_HEADER = "aftership-hmac-sha256"
TRACKING_EVENT = "tracking_update"

P = PackageStatus
STATUS_BY_TAG: dict[str, PackageStatus] = {
    "InfoReceived": P.AT_WAREHOUSE,
    "InTransit": P.AT_SORT_CENTRE,
    "OutForDelivery": P.OUT_FOR_DELIVERY,
    "AttemptFail": P.DELIVERY_FAILED,
    "Delivered": P.DELIVERED,
    "AvailableForPickup": P.READY_FOR_PICKUP,
}
STATUS_BY_SUBTAG: dict[str, PackageStatus] = {
    "InTransit_002": P.AT_COURIER_FACILITY,  # acceptance scan
    "Exception_011": P.RETURNED_TO_ORIGIN,  # returned to sender
    "Exception_013": P.LOST,  # shipment lost
}


def sign(body: bytes, secret: str) -> str:
    mac = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


def verify(headers: Mapping[str, str], body: bytes, secret: str) -> None:
    signature = header(headers, SIGNATURE_HEADER)
    if not signature or not hmac.compare_digest(signature.strip().encode(),
                                                 sign(body, secret).encode()):
        raise Forged(f"the `{SIGNATURE_HEADER}` signature does not match AFTERSHIP_WEBHOOK_SECRET")


def parse(
    headers: Mapping[str, str], body: bytes, secret: str, *, now: datetime | None = None
) -> list[CarrierUpdate]:
    verify(headers, body, secret)
    data = load_json(body)
    if not isinstance(data, dict):
        raise Malformed("the body must be a JSON object")
    if data.get("event") != TRACKING_EVENT:
        return []
    msg = data.get("msg")
    if not isinstance(msg, dict):
        raise Malformed("`msg` must be an object")
    tag = text(msg.get("tag"), "msg.tag", required=True)
    assert tag is not None
    subtag = text(msg.get("subtag"), "msg.subtag")
    carrier_status = text(msg.get("subtag_message"), "msg.subtag_message") or tag
    checkpoint = _newest_checkpoint(msg.get("checkpoints"))
    at = (_time(checkpoint.get("checkpoint_time"), "checkpoint_time") if checkpoint else None)
    at = at or _time(msg.get("updated_at"), "msg.updated_at") or _unix(data.get("ts"))
    if at is None:
        raise Malformed("no checkpoint time, `msg.updated_at` or `ts`")
    tracking = text(msg.get("tracking_number"), "msg.tracking_number")
    number = (order_number(msg.get("order_number"), "msg.order_number")
              or order_number(msg.get("order_id"), "msg.order_id"))
    event_id = text(data.get("event_id"), "event_id") or digest(
        PROVIDER, tracking, carrier_status, at, number)
    return [CarrierUpdate(
        provider=PROVIDER,
        event_id=event_id,
        order_number=number,
        tracking_number=tracking,
        carrier=text(msg.get("slug"), "msg.slug"),
        status=status_of(tag, subtag),
        carrier_status=carrier_status,
        at=at,
        location=_place(checkpoint) if checkpoint else "",
        description=(text(checkpoint.get("message"), "checkpoint.message") or "")
        if checkpoint else "",
        tracking_url=text(msg.get("courier_tracking_link"), "msg.courier_tracking_link"),
        estimated_delivery=_day(msg.get("expected_delivery")),
    )]


def status_of(tag: str, subtag: str | None) -> PackageStatus | None:
    if subtag and subtag in STATUS_BY_SUBTAG:
        return STATUS_BY_SUBTAG[subtag]
    return STATUS_BY_TAG.get(tag)


def _newest_checkpoint(checkpoints: object) -> dict[str, object] | None:
    if checkpoints is None:
        return None
    if not isinstance(checkpoints, list) or not all(isinstance(c, dict) for c in checkpoints):
        raise Malformed("`msg.checkpoints` must be a list of objects")
    dated = [(_time(c.get("checkpoint_time"), "checkpoint_time"), i, c)
             for i, c in enumerate(checkpoints)]
    with_time = [d for d in dated if d[0] is not None]
    return max(with_time, key=lambda d: (d[0], d[1]))[2] if with_time else None


def _place(checkpoint: dict[str, object]) -> str:
    where = text(checkpoint.get("location"), "checkpoint.location")
    if where:
        return where
    parts = (text(checkpoint.get(k), f"checkpoint.{k}") for k in ("city", "state", "country_name"))
    return ", ".join(p for p in parts if p)


def _time(value: object, field: str) -> datetime | None:
    """ISO 8601; a time without an offset is the carrier's local time, which
    AfterShip does not name: read as UTC."""
    raw = text(value, field)
    if raw is None:
        return None
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError) as exc:  # overflow: the year 1 or 9999 with an offset
        raise Malformed(f"`{field}` is not an ISO 8601 time") from exc


def _unix(value: object) -> datetime | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        try:
            return datetime.fromtimestamp(value, UTC)
        except (ValueError, OverflowError, OSError) as exc:
            raise Malformed("`ts` is not a time") from exc
    return None


def _day(value: object) -> date | None:
    raw = text(value, "msg.expected_delivery")
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw[:10])
    except ValueError as exc:
        raise Malformed("`msg.expected_delivery` is not a date") from exc
