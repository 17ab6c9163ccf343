"""Eligibility rules: may this shopper do this to this order, now, and if not, why.

Pure functions over `(order, policy, now)`; no I/O, so the dialogue and the demo
back-end ask the same questions and get the same answers. A refusal names a
`Reason` (shown through the catalogue key `reason.<value>`) and carries the facts
the refusal must state, so "too late" always says since when and until when.

Days are calendar days in `policy.timezone`: an item delivered at 23:30 local
time was delivered that day, whatever UTC says. The return window is open on its
last day (`days_since == window_days`) and closed from the day after.

Decisions worth knowing:
- An order whose payment failed cannot be cancelled (`PAYMENT_FAILED`): it will
  not ship and nothing was charged, so there is nothing to undo; the refusal says so.
- A replacement does not need the item to be returnable: a non-returnable item
  that arrived damaged, defective or wrong is still exchanged.
- Units in a replacement that is still under way are not returnable again until
  the new unit is delivered.
- Ship-to-store and store-pickup orders have no address or date to change
  (`PICKUP_ORDER`).
- An exchange for another variant counts against the same limit as a replacement
  (`Policy.replacement_limit`): both are a `Replacement` on the order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from .models import (
    REPLACEMENT_REASONS,
    Fulfilment,
    Order,
    OrderItem,
    OrderStatus,
    Package,
    PackageStatus,
    PaymentStatus,
    ReplacementStatus,
    ReturnReason,
    ReturnStatus,
    Variant,
)
from .policy import Action, Policy

Fact = str | int | date | datetime

TRACK_DAYS_AFTER_DELIVERY = 7
"""A delivered order stays in the shopper's "track" list for this many days."""

_NOT_SHIPPED = frozenset({OrderStatus.PLACED, OrderStatus.PROCESSING})
_OPEN_REPLACEMENT = frozenset(
    {ReplacementStatus.REQUESTED, ReplacementStatus.APPROVED, ReplacementStatus.SHIPPED}
)
_REFUND_PENDING_RETURN = frozenset(
    {
        ReturnStatus.REQUESTED,
        ReturnStatus.APPROVED,
        ReturnStatus.IN_TRANSIT,
        ReturnStatus.RECEIVED,
        ReturnStatus.REFUND_INITIATED,
    }
)


class Reason(StrEnum):
    """Why an action is (not) possible; values are catalogue keys `reason.<value>`."""

    OK = "ok"
    NOT_ALLOWED = "not_allowed"
    ALREADY_CANCELLED = "already_cancelled"
    ALREADY_SHIPPED = "already_shipped"
    ALREADY_DELIVERED = "already_delivered"
    PAYMENT_FAILED = "payment_failed"
    PAYMENT_PENDING = "payment_pending"
    PICKUP_ORDER = "pickup_order"
    UNKNOWN_ITEM = "unknown_item"
    NOT_DELIVERED = "not_delivered"
    NOT_RETURNABLE = "not_returnable"
    NOTHING_LEFT_TO_RETURN = "nothing_left_to_return"
    WINDOW_CLOSED = "window_closed"
    BAD_QUANTITY = "bad_quantity"
    QUANTITY_TOO_HIGH = "quantity_too_high"
    REASON_NOT_COVERED = "reason_not_covered"
    OUT_OF_STOCK = "out_of_stock"
    ALREADY_REPLACED = "already_replaced"
    NO_REFUND = "no_refund"
    NO_VARIANTS = "no_variants"
    VARIANT_UNAVAILABLE = "variant_unavailable"


@dataclass(frozen=True, slots=True)
class Verdict:
    """The answer to one check; `facts` are the values the reply must state."""

    ok: bool
    reason: Reason
    facts: dict[str, Fact] = field(default_factory=dict)


def _yes(**facts: Fact) -> Verdict:
    return Verdict(True, Reason.OK, facts)


def _no(reason: Reason, /, **facts: Fact) -> Verdict:
    return Verdict(False, reason, facts)


def local_date(moment: datetime, policy: Policy) -> date:
    """The calendar day `moment` falls on in the merchant's timezone."""
    return moment.astimezone(ZoneInfo(policy.timezone)).date()


def _not_allowed(action: Action, policy: Policy | None) -> Verdict | None:
    if policy is not None and action not in policy.allowed:
        return _no(Reason.NOT_ALLOWED, action=action.value)
    return None


def _closed_state(order: Order, policy: Policy) -> Verdict | None:
    """Refusals shared by every change: cancelled or never paid."""
    if order.status is OrderStatus.CANCELLED:
        facts: dict[str, Fact] = {}
        if order.cancelled_at is not None:
            facts["cancelled_on"] = local_date(order.cancelled_at, policy)
        return Verdict(False, Reason.ALREADY_CANCELLED, facts)
    if order.status is OrderStatus.PAYMENT_FAILED or order.payment.status is PaymentStatus.FAILED:
        return _no(Reason.PAYMENT_FAILED, payment_method=order.payment.method.value)
    if order.payment.status is PaymentStatus.PENDING:  # not settled: nothing to change yet
        return _no(Reason.PAYMENT_PENDING, payment_method=order.payment.method.value)
    return None


def _shipped_state(order: Order, policy: Policy) -> Verdict | None:
    """Refuses once any package left the warehouse: the shop can no longer stop it."""
    shipped = [p for p in order.packages if p.status is not PackageStatus.AT_WAREHOUSE]
    if order.status is OrderStatus.DELIVERED:
        days = [local_date(p.delivered_at, policy) for p in order.packages if p.delivered_at]
        facts: dict[str, Fact] = {"order_status": order.status.value}
        if days:
            facts["delivered_on"] = max(days)
        return Verdict(False, Reason.ALREADY_DELIVERED, facts)
    if order.status not in _NOT_SHIPPED or shipped:
        return _no(
            Reason.ALREADY_SHIPPED,
            order_status=order.status.value,
            shipped_packages=len(shipped),
            packages=len(order.packages),
        )
    return None


def check_cancel(order: Order, policy: Policy, now: datetime) -> Verdict:
    """Cancel only while every package is still at the warehouse."""
    del now  # cancelling does not depend on the date, only on the state
    return (
        _not_allowed(Action.CANCEL, policy)
        or _closed_state(order, policy)
        or _shipped_state(order, policy)
        or _yes()
    )


def check_delivery_change(order: Order, policy: Policy, now: datetime) -> Verdict:
    """Change the address or date only before shipping, and only for home delivery."""
    del now
    if refusal := _not_allowed(Action.DELIVERY, policy) or _closed_state(order, policy):
        return refusal
    if order.fulfilment is not Fulfilment.SHIP_TO_HOME:
        return _no(
            Reason.PICKUP_ORDER,
            fulfilment=order.fulfilment.value,
            pickup_store=order.pickup_store or "",
        )
    return _shipped_state(order, policy) or _yes()


def returnable_quantity(order: Order, line_id: str) -> int:
    """Units of a line that can still go back: bought, minus returned (unless the
    return was rejected), minus units in a replacement still under way."""
    item = order.item(line_id)
    if item is None:
        return 0
    in_replacement = sum(
        r.quantity
        for r in order.replacements
        if r.line_id == line_id and r.status in _OPEN_REPLACEMENT
    )
    return max(0, item.quantity - order.returned_quantity(line_id) - in_replacement)


def _delivered_on(package: Package, policy: Policy) -> date:
    """The local day a delivered package arrived; its last delivered event, or its
    estimate, stand in when the shop did not record the time."""
    if package.delivered_at is not None:
        return local_date(package.delivered_at, policy)
    events = [e.at for e in package.events if e.status is PackageStatus.DELIVERED]
    if events:
        return local_date(max(events), policy)
    return package.estimated_delivery


def _window(order: Order, package: Package, policy: Policy, now: datetime) -> Verdict:
    """Whether the return window is open; the facts say from when and until when."""
    if policy.window_starts == "order":
        start, start_key = local_date(order.placed_at, policy), "ordered_on"
    else:
        start, start_key = _delivered_on(package, policy), "delivered_on"
    today = local_date(now, policy)
    last_day = start + timedelta(days=policy.return_window_days)
    facts: dict[str, Fact] = {
        start_key: start,
        "counted_from": start,
        "window_starts": policy.window_starts,
        "days_since": (today - start).days,
        "window_days": policy.return_window_days,
        "last_day": last_day,
    }
    if today > last_day:
        return Verdict(False, Reason.WINDOW_CLOSED, facts)
    return Verdict(True, Reason.OK, facts)


def _delivered_package(order: Order, line_id: str, policy: Policy) -> Verdict | Package:
    """Common ground of return and replacement: a known item in a delivered package."""
    if order.item(line_id) is None:
        return _no(Reason.UNKNOWN_ITEM, line_id=line_id)
    if refusal := _closed_state(order, policy):
        return refusal
    package = order.package_of(line_id)
    if package is None or package.status is not PackageStatus.DELIVERED:
        facts: dict[str, Fact] = {
            "package_status": package.status.value if package else "not_packed"
        }
        if package is not None:
            facts["estimated_delivery"] = package.estimated_delivery
        return Verdict(False, Reason.NOT_DELIVERED, facts)
    return package


def check_return(
    order: Order, line_id: str, quantity: int, policy: Policy, now: datetime
) -> Verdict:
    """Return units of a delivered, returnable item within the window."""
    if refusal := _not_allowed(Action.RETURN, policy):
        return refusal
    item = order.item(line_id)
    if item is not None and not item.returnable and order.status is not OrderStatus.CANCELLED:
        return _no(Reason.NOT_RETURNABLE, line_id=line_id, item=item.name)
    package = _delivered_package(order, line_id, policy)
    if isinstance(package, Verdict):
        return package
    left = returnable_quantity(order, line_id)
    if left == 0:
        return _no(
            Reason.NOTHING_LEFT_TO_RETURN,
            line_id=line_id,
            quantity=item.quantity if item else 0,
        )
    window = _window(order, package, policy, now)
    if not window.ok:
        return window
    if quantity < 1:
        return _no(Reason.BAD_QUANTITY, requested=quantity, left=left)
    if quantity > left:
        return _no(Reason.QUANTITY_TOO_HIGH, requested=quantity, left=left)
    return _yes(left=left, last_day=window.facts["last_day"])


def check_replacement(
    order: Order, line_id: str, reason: ReturnReason | None, policy: Policy, now: datetime
) -> Verdict:
    """Exchange a delivered item that arrived damaged, defective or wrong, within
    the window, while the shop has it in stock. `reason=None` asks "could any
    reason qualify" (to list candidates before the shopper says what went wrong)."""
    if refusal := _not_allowed(Action.REPLACE, policy):
        return refusal
    if reason is not None and reason not in REPLACEMENT_REASONS:
        return _no(Reason.REASON_NOT_COVERED, return_reason=reason.value)
    swap = _swappable(order, line_id, policy, now)
    if isinstance(swap, Verdict):
        return swap
    if not swap.item.in_stock:
        return _no(Reason.OUT_OF_STOCK, line_id=line_id, item=swap.item.name)
    return swap.verdict(order, policy)


def check_exchange(order: Order, line_id: str, policy: Policy, now: datetime) -> Verdict:
    """Exchange a delivered item for another variant (size, colour) of its product:
    as a replacement (delivered, within the window, units left, one replacement or
    exchange per item or order as the policy says), but for any reason, and only
    for a returnable item of a product the shop sells in other variants. Which
    variant, and whether it is in stock, is `check_variant`'s question."""
    item = order.item(line_id)
    if refusal := _not_allowed(Action.EXCHANGE, policy) or _not_exchangeable(item):
        return refusal
    swap = _swappable(order, line_id, policy, now)
    return swap if isinstance(swap, Verdict) else swap.verdict(order, policy)


@dataclass(frozen=True, slots=True)
class _Swap:
    """A delivered line a replacement or an exchange could take: units left, in its window."""

    item: OrderItem
    left: int
    last_day: Fact

    def verdict(self, order: Order, policy: Policy) -> Verdict:
        """Yes, unless the item (or order, as the policy says) was replaced or exchanged before."""
        if _replaced_before(order, self.item.line_id, policy):
            return _no(Reason.ALREADY_REPLACED, line_id=self.item.line_id, item=self.item.name,
                       limit=policy.replacement_limit)
        return _yes(left=self.left, last_day=self.last_day)


def _swappable(order: Order, line_id: str, policy: Policy, now: datetime) -> _Swap | Verdict:
    """What a replacement and an exchange both ask first: a delivered line, units left,
    within the return window."""
    package = _delivered_package(order, line_id, policy)
    if isinstance(package, Verdict):
        return package
    item = order.item(line_id)
    assert item is not None  # _delivered_package refused unknown lines
    left = returnable_quantity(order, line_id)
    if left == 0:
        return _no(Reason.NOTHING_LEFT_TO_RETURN, line_id=line_id, quantity=item.quantity)
    window = _window(order, package, policy, now)
    if not window.ok:
        return window
    return _Swap(item, left, window.facts["last_day"])


def _not_exchangeable(item: OrderItem | None) -> Verdict | None:
    """An item sold in one variant only, or one that cannot go back."""
    if item is not None and item.product_id is None:
        return _no(Reason.NO_VARIANTS, line_id=item.line_id, item=item.name)
    if item is not None and not item.returnable:
        return _no(Reason.NOT_RETURNABLE, line_id=item.line_id, item=item.name)
    return None


def check_variant(order: Order, line_id: str, variant: Variant | None) -> Verdict:
    """The variant asked for exists, is another one than the line's, and is in stock."""
    item = order.item(line_id)
    if item is None:
        return _no(Reason.UNKNOWN_ITEM, line_id=line_id)
    if variant is None or (variant.sku and variant.sku == item.sku):
        return _no(Reason.VARIANT_UNAVAILABLE, line_id=line_id, item=item.name)
    if not variant.in_stock:
        return _no(Reason.OUT_OF_STOCK, line_id=line_id, item=f"{item.name} ({variant.title})")
    return _yes(price_difference=str(variant.unit_price - item.unit_price))


def _replaced_before(order: Order, line_id: str, policy: Policy) -> bool:
    """One replacement per item (or per order), as the policy says; a requested one
    counts (the runner adds open requests to `order.replacements`)."""
    match policy.replacement_limit:
        case "item":
            return any(r.line_id == line_id for r in order.replacements)
        case "order":
            return bool(order.replacements)
    return False


def _pending_returns(order: Order) -> int:
    """Returns still under way: each ends in a refund unless it is rejected."""
    return sum(1 for ret in order.returns if ret.status in _REFUND_PENDING_RETURN)


def check_refund(order: Order, policy: Policy | None = None) -> Verdict:
    """Refund status is worth showing when a refund exists or a return will lead to one.
    `policy` is optional: only `policy.allowed` matters here."""
    if refusal := _not_allowed(Action.REFUND, policy):
        return refusal
    pending = _pending_returns(order)
    if order.refunds or pending:
        return _yes(refunds=len(order.refunds), pending_returns=pending)
    return _no(
        Reason.NO_REFUND,
        order_status=order.status.value,
        payment_method=order.payment.method.value,
    )


def check_track(order: Order, policy: Policy | None = None) -> Verdict:
    """Tracking is always possible: a cancelled or failed order still has a state to show."""
    return _not_allowed(Action.TRACK, policy) or _yes(order_status=order.status.value)


def _is_active(order: Order, policy: Policy, now: datetime) -> bool:
    """Worth listing under "track": not cancelled or failed, and not delivered long ago."""
    if order.status in (OrderStatus.CANCELLED, OrderStatus.PAYMENT_FAILED):
        return False
    if order.status is OrderStatus.DELIVERED:
        days = [local_date(p.delivered_at, policy) for p in order.packages if p.delivered_at]
        last = max(days) if days else local_date(order.placed_at, policy)
        return (local_date(now, policy) - last).days <= TRACK_DAYS_AFTER_DELIVERY
    return True


def fits(order: Order, action: Action, policy: Policy, now: datetime) -> bool:
    """Whether to list this order when a verified shopper picks `action`."""
    return action in policy.allowed and _FITS[action](order, policy, now)


def _any_item(check: Callable[[Order, str, Policy, datetime], Verdict]
              ) -> Callable[[Order, Policy, datetime], bool]:
    return lambda order, policy, now: any(
        check(order, i.line_id, policy, now).ok for i in order.items)


_FITS: dict[Action, Callable[[Order, Policy, datetime], bool]] = {
    Action.TRACK: _is_active,
    Action.CANCEL: lambda order, policy, now: check_cancel(order, policy, now).ok,
    Action.RETURN: _any_item(lambda o, line, p, n: check_return(o, line, 1, p, n)),
    Action.REPLACE: _any_item(lambda o, line, p, n: check_replacement(o, line, None, p, n)),
    Action.REFUND: lambda order, policy, now: check_refund(order, policy).ok,
    Action.DELIVERY: lambda order, policy, now: check_delivery_change(order, policy, now).ok,
    Action.EXCHANGE: _any_item(check_exchange),
}
