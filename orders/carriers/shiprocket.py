"""Shiprocket's tracking webhook.

Shiprocket signs nothing: it sends the token the merchant typed into its webhook
settings in an `x-api-key` header, compared here in constant time. Its body is
one shipment's current state:

    {"awb": 19041424751540, "courier_name": "Delhivery Surface",
     "current_status": "IN TRANSIT", "current_status_id": 20,
     "shipment_status": "IN TRANSIT", "shipment_status_id": 18,
     "current_timestamp": "23 05 2023 11:43:52", "order_id": "100003",
     "etd": "2023-05-23 15:40:19",
     "scans": [{"date": "2023-05-19 11:59:16", "status": "X-UCI",
                "activity": "Manifested - Manifest uploaded",
                "location": "Chomu_SamodRd_D (Rajasthan)",
                "sr-status": "5", "sr-status-label": "MANIFEST GENERATED"}, ...]}

`order_id` is the order id the shop gave Shiprocket (our order number). Times are
India Standard Time without an offset. One webhook is one update: the current
status, with the newest scan's place and words. Shiprocket gives no event id, so
the id is a digest of (awb, status, time, order).

Status: the `current_status` label first, then `shipment_status`, then
`shipment_status_id` (Shiprocket's documented status codes). Shiprocket's own
sample pairs "IN TRANSIT" with `current_status_id` 20 ("Pickup Exception" in the
code list), so the label is trusted over a number and `current_status_id` not at all.
An empty body is Shiprocket's "test webhook" ping: verified, and nothing to apply.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from ..models import PackageStatus
from ..tracking import CarrierUpdate
from . import Forged, Malformed, digest, header, load_json, order_number, text

PROVIDER = "shiprocket"
TOKEN_HEADER = "x-api-key"  # noqa: S105 - a header name, not a secret
TIMEZONE = ZoneInfo("Asia/Kolkata")
TIME_FORMATS = ("%d %m %Y %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%d-%m-%Y %H:%M:%S")

P = PackageStatus
STATUS_BY_LABEL: dict[str, PackageStatus] = {
    "NEW": P.AT_WAREHOUSE,
    "AWB ASSIGNED": P.AT_WAREHOUSE,
    "LABEL GENERATED": P.AT_WAREHOUSE,
    "PICKUP SCHEDULED": P.AT_WAREHOUSE,
    "PICKUP SCHEDULED/GENERATED": P.AT_WAREHOUSE,
    "PICKUP GENERATED": P.AT_WAREHOUSE,
    "PICKUP QUEUED": P.AT_WAREHOUSE,
    "PICKUP RESCHEDULED": P.AT_WAREHOUSE,
    "MANIFEST GENERATED": P.AT_WAREHOUSE,
    "OUT FOR PICKUP": P.AT_WAREHOUSE,
    "SHIPMENT BOOKED": P.AT_WAREHOUSE,
    "PICKED UP": P.AT_COURIER_FACILITY,
    "SHIPPED": P.AT_COURIER_FACILITY,
    "HANDOVER TO COURIER": P.AT_COURIER_FACILITY,
    "IN TRANSIT": P.AT_SORT_CENTRE,
    "IN FLIGHT": P.AT_SORT_CENTRE,
    "REACHED AT DESTINATION HUB": P.AT_DELIVERY_STATION,
    "REACHED AT DESTINATION": P.AT_DELIVERY_STATION,
    "OUT FOR DELIVERY": P.OUT_FOR_DELIVERY,
    "DELIVERED": P.DELIVERED,
    "UNDELIVERED": P.DELIVERY_FAILED,
    "RTO DELIVERED": P.RETURNED_TO_ORIGIN,
    "LOST": P.LOST,
    "UNTRACEABLE": P.LOST,
}
"""Labels not here (RTO INITIATED, DELAYED, PICKUP EXCEPTION, DAMAGED, CANCELLED, ...)
say something true but not a place in our journey: kept verbatim."""

STATUS_BY_CODE: dict[int, PackageStatus] = {
    1: P.AT_WAREHOUSE,  # AWB Assigned
    2: P.AT_WAREHOUSE,  # Label Generated
    3: P.AT_WAREHOUSE,  # Pickup Scheduled/Generated
    4: P.AT_WAREHOUSE,  # Pickup Queued
    5: P.AT_WAREHOUSE,  # Manifest Generated
    6: P.AT_COURIER_FACILITY,  # Shipped
    7: P.DELIVERED,
    10: P.RETURNED_TO_ORIGIN,  # RTO Delivered
    12: P.LOST,
    15: P.AT_WAREHOUSE,  # Pickup Rescheduled
    17: P.OUT_FOR_DELIVERY,
    18: P.AT_SORT_CENTRE,  # In Transit
    19: P.AT_WAREHOUSE,  # Out For Pickup
    21: P.DELIVERY_FAILED,  # Undelivered
    38: P.AT_DELIVERY_STATION,  # Reached at Destination Hub
    42: P.AT_COURIER_FACILITY,  # Picked Up
    51: P.AT_COURIER_FACILITY,  # Handover to Courier
    52: P.AT_WAREHOUSE,  # Shipment Booked
    76: P.LOST,  # Untraceable
}


def verify(headers: Mapping[str, str], secret: str) -> None:
    token = header(headers, TOKEN_HEADER)
    if not token or not hmac.compare_digest(token.strip().encode(), secret.encode()):
        raise Forged(f"the `{TOKEN_HEADER}` header does not match SHIPROCKET_WEBHOOK_TOKEN")


def parse(
    headers: Mapping[str, str], body: bytes, secret: str, *, now: datetime | None = None
) -> list[CarrierUpdate]:
    verify(headers, secret)
    if not body.strip():
        return []
    data = load_json(body)
    if not isinstance(data, dict):
        raise Malformed("the body must be a JSON object")
    label = text(data.get("current_status"), "current_status")
    shipment_label = text(data.get("shipment_status"), "shipment_status")
    carrier_status = label or shipment_label
    if carrier_status is None:
        raise Malformed("`current_status` is missing")
    scan = _newest_scan(data.get("scans"))
    at = _time(data.get("current_timestamp"), "current_timestamp") or (
        _time(scan.get("date"), "scans[].date") if scan else None)
    if at is None:
        raise Malformed("`current_timestamp` is missing")
    awb = text(data.get("awb"), "awb")
    number = order_number(data.get("order_id"), "order_id")
    etd = _time(data.get("etd"), "etd")
    return [CarrierUpdate(
        provider=PROVIDER,
        event_id=digest(PROVIDER, awb, carrier_status, at, number),
        order_number=number,
        tracking_number=awb,
        carrier=text(data.get("courier_name"), "courier_name"),
        status=status_of(label, shipment_label, data.get("shipment_status_id")),
        carrier_status=carrier_status,
        at=at,
        location=(text(scan.get("location"), "scans[].location") or "") if scan else "",
        description=(text(scan.get("activity"), "scans[].activity") or "") if scan else "",
        estimated_delivery=etd.astimezone(TIMEZONE).date() if etd else None,
    )]


def status_of(label: str | None, shipment_label: str | None, code: object) -> PackageStatus | None:
    for words in (label, shipment_label):
        if words:
            known = STATUS_BY_LABEL.get(_normal(words))
            if known is not None:
                return known
    if isinstance(code, str) and code.strip().isdigit():
        code = int(code)
    return STATUS_BY_CODE.get(code) if isinstance(code, int) else None


def _normal(label: str) -> str:
    return " ".join(label.replace("_", " ").upper().split())


def _newest_scan(scans: object) -> dict[str, object] | None:
    if scans is None:
        return None
    if not isinstance(scans, list) or not all(isinstance(s, dict) for s in scans):
        raise Malformed("`scans` must be a list of objects")
    if not scans:
        return None
    typed: list[dict[str, object]] = scans
    dated = [(_time(s.get("date"), "scans[].date"), i, s) for i, s in enumerate(typed)]
    with_time = [d for d in dated if d[0] is not None]
    if not with_time:
        return typed[-1]
    return max(with_time, key=lambda d: (d[0], d[1]))[2]


def _time(value: object, field: str) -> datetime | None:
    """Shiprocket's times: "23 05 2023 11:43:52", "2023-05-23 15:40:19" (IST),
    or ISO 8601."""
    raw = text(value, field)
    if raw is None:
        return None
    try:
        return _read_time(raw, field)
    except OverflowError as exc:  # the year 1 or 9999, moved to UTC
        raise Malformed(f"`{field}` is out of range") from exc


def _read_time(raw: str, field: str) -> datetime:
    for fmt in TIME_FORMATS:
        try:
            return datetime.strptime(raw, fmt).replace(tzinfo=TIMEZONE).astimezone(UTC)
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        try:
            day = date.fromisoformat(raw[:10])
        except ValueError as exc:
            raise Malformed(f"`{field}` is not a time Shiprocket sends") from exc
        parsed = datetime(day.year, day.month, day.day)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=TIMEZONE)
    return parsed.astimezone(UTC)
