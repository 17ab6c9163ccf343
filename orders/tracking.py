"""Carrier updates: what a carrier said about a parcel, and what it changes.

Every carrier's webhook (Shiprocket, AfterShip, the generic signed format) is
parsed into one `CarrierUpdate`; `apply_update` is the one pure rule for putting
it on an order, used by every back-end (the demo shop stores the result in the
order; the other back-ends keep it beside the shop's order, see
`orders/overlay.py`). The rule:

- the update finds its package by tracking number, else the order's only
  package, else the first package not yet at an end;
- the event is appended to the package's history unless that same event (time
  and carrier status) is already there, so a replay changes nothing;
- a status we know moves the package only when the event is not older than the
  newest event already recorded (carriers deliver out of order);
- a status we do not know is kept with the carrier's words and never moves the
  package.

`OrderChange` is what the shopper may be told about: `notable_change` names the
kinds that matter (shipped, out for delivery, a failed attempt, ready for pickup,
delivered, returned to the shop, lost; a completed refund comes from the shop).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from .models import Order, Package, PackageStatus, TrackingEvent


class CarrierUpdate(BaseModel):
    """One carrier event, whichever carrier sent it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    provider: str = Field(description="shiprocket, aftership, generic")
    event_id: str = Field(description="the carrier's id of this event, or a digest of it")
    order_number: str | None = None
    tracking_number: str | None = None
    carrier: str | None = None
    status: PackageStatus | None = Field(description="null: not in our taxonomy")
    carrier_status: str = Field(description="the carrier's own status words, verbatim")
    at: datetime
    location: str = ""
    description: str = ""
    tracking_url: str | None = None
    estimated_delivery: date | None = None


class ChangeKind(StrEnum):
    """What a shopper who asked to be kept posted hears about."""

    SHIPPED = "shipped"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERY_FAILED = "delivery_failed"
    READY_FOR_PICKUP = "ready_for_pickup"
    DELIVERED = "delivered"
    RETURNED_TO_ORIGIN = "returned_to_origin"
    LOST = "lost"
    REFUND_COMPLETED = "refund_completed"


@dataclass(frozen=True, slots=True)
class TrackingApplied:
    """The order after an update, and how its package moved."""

    order: Order
    package_id: str
    before: PackageStatus
    after: PackageStatus
    recorded: bool
    """False when the event was already there (a replay) and nothing changed."""


@dataclass(frozen=True, slots=True)
class OrderChange:
    """A change worth telling the shopper about; `key` is stable per change, so the
    same change reported twice is told once."""

    order: Order
    kind: ChangeKind
    key: str
    package_id: str | None = None


_IN_TRANSIT = frozenset({
    PackageStatus.AT_COURIER_FACILITY,
    PackageStatus.AT_SORT_CENTRE,
    PackageStatus.AT_DELIVERY_STATION,
})
_ENDS = frozenset({
    PackageStatus.DELIVERED, PackageStatus.RETURNED_TO_ORIGIN, PackageStatus.LOST,
})


def find_package(order: Order, update: CarrierUpdate) -> Package | None:
    if update.tracking_number:
        for package in order.packages:
            if package.tracking_number == update.tracking_number:
                return package
    if len(order.packages) == 1:
        return order.packages[0]
    return next((p for p in order.packages if p.status not in _ENDS), None)


def apply_update(order: Order, update: CarrierUpdate) -> TrackingApplied | None:
    """The order with the update on it; None when no package of the order fits."""
    package = find_package(order, update)
    if package is None:
        return None
    before = package.status
    if any(e.at == update.at and (e.carrier_status or (e.status and e.status.value))
           == update.carrier_status for e in package.events):
        return TrackingApplied(order, package.package_id, before, before, recorded=False)
    event = TrackingEvent(
        at=update.at, status=update.status, location=update.location,
        description=update.description, carrier_status=update.carrier_status,
    )
    newest = max((e.at for e in package.events), default=None)
    changes: dict[str, object] = {"events": [*package.events, event]}
    if update.status is not None and (newest is None or update.at >= newest):
        changes["status"] = update.status
        if update.status is PackageStatus.DELIVERED and package.delivered_at is None:
            changes["delivered_at"] = update.at
    for name in ("carrier", "tracking_number", "tracking_url", "estimated_delivery"):
        if getattr(update, name) and not getattr(package, name):
            changes[name] = getattr(update, name)
    if update.estimated_delivery:
        changes["estimated_delivery"] = update.estimated_delivery
    moved = package.model_copy(update=changes)
    packages = [moved if p.package_id == package.package_id else p for p in order.packages]
    after_order = order.model_copy(update={"packages": packages})
    return TrackingApplied(after_order, package.package_id, before, moved.status, recorded=True)


def notable_change(applied: TrackingApplied, update: CarrierUpdate) -> OrderChange | None:
    """The change a kept-posted shopper hears about, if this update made one."""
    if not applied.recorded:
        return None
    return _change(applied, applied.before, update)


def replayed_change(applied: TrackingApplied, update: CarrierUpdate) -> OrderChange | None:
    """The change an already-recorded update made, worked out again from the history:
    for a carrier retrying an event whose first delivery was stored but whose
    notification may never have been queued (a crash in between). It has the same
    `key` as the first time, so the notifier's once-per-change guard tells it at most
    once."""
    package = next((p for p in applied.order.packages if p.package_id == applied.package_id),
                   None)
    if package is None or update.status is None or package.status is not update.status:
        return None
    history = sorted(package.events, key=lambda e: e.at)
    if not history or history[-1].at != update.at:
        return None  # a newer event has moved the package on since: old news
    before = next((e.status for e in reversed(history[:-1]) if e.status is not None),
                  PackageStatus.AT_WAREHOUSE)
    return _change(applied, before, update)


def _change(
    applied: TrackingApplied, before: PackageStatus, update: CarrierUpdate
) -> OrderChange | None:
    after = applied.after if applied.recorded else (update.status or applied.after)
    if before is after:
        return None
    kind: ChangeKind | None
    if after in _IN_TRANSIT:
        kind = ChangeKind.SHIPPED if before is PackageStatus.AT_WAREHOUSE else None
    else:
        kind = {
            PackageStatus.OUT_FOR_DELIVERY: ChangeKind.OUT_FOR_DELIVERY,
            PackageStatus.DELIVERY_FAILED: ChangeKind.DELIVERY_FAILED,
            PackageStatus.READY_FOR_PICKUP: ChangeKind.READY_FOR_PICKUP,
            PackageStatus.DELIVERED: ChangeKind.DELIVERED,
            PackageStatus.RETURNED_TO_ORIGIN: ChangeKind.RETURNED_TO_ORIGIN,
            PackageStatus.LOST: ChangeKind.LOST,
        }.get(after)
    if kind is None:
        return None
    key = f"{applied.order.number}:{applied.package_id}:{kind.value}:{update.at.isoformat()}"
    return OrderChange(applied.order, kind, key, applied.package_id)
