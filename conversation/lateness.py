""""My parcel is late": after the order's snapshot (which shows what the carrier said
last), either the date it is still expected by, or — past that date, or lost or
sent back — an apology and a priority hand-off that opens at one tap.

The apology and any compensation are the merchant's words when set
(`Policy.late_apology`, `Policy.late_compensation`), else the catalogue's.
"""

from __future__ import annotations

from datetime import date

from orders.models import Order, Package, PackageStatus

from .catalogue import T
from .effects import OpenTicket, Option, TicketKind
from .turn import Turn, after_options, menu_option

LATE_PAYLOAD = "late"
"""`late:<order>`: the priority hand-off offered with the apology."""

_ARRIVED = frozenset({PackageStatus.DELIVERED, PackageStatus.READY_FOR_PICKUP})
_GONE_WRONG = frozenset({PackageStatus.LOST, PackageStatus.RETURNED_TO_ORIGIN,
                         PackageStatus.DELIVERY_FAILED})


def overdue(order: Order, today: date) -> list[Package]:
    """Packages past their expected date and not arrived, or lost or sent back."""
    return [p for p in order.packages
            if p.status in _GONE_WRONG
            or (p.status not in _ARRIVED and p.estimated_delivery < today)]


def answer_late(t: Turn, order: Order) -> None:
    """Said after the snapshot of an order the shopper called late."""
    late = overdue(order, t.ctx.now.date())
    waiting = [p for p in order.packages if p.status not in _ARRIVED]
    if not late:
        if waiting:
            t.say(T("late.on_time", date=max(p.estimated_delivery for p in waiting)),
                  options=after_options(t.s))
        elif order.packages:
            t.say(T("late.arrived"), options=after_options(t.s))
        else:
            t.say(T("late.not_shipped"), options=after_options(t.s))
        return
    policy = t.ctx.policy
    expected = min(p.estimated_delivery for p in late)
    lines = [T("late.custom", text=policy.late_apology) if policy.late_apology
             else T("late.apology", date=expected)]
    if policy.late_compensation:
        lines.append(T("late.custom", text=policy.late_compensation))
    lines.append(T("late.offer_priority"))
    t.say(*lines, options=[Option(T("late.priority_button"), f"{LATE_PAYLOAD}:{order.number}"),
                           menu_option()])


def priority_handoff(t: Turn, number: str) -> None:
    """The shopper took the offer: a hand-off marked priority, the wait already said."""
    s = t.s
    s.reset_task()
    s.order = number
    t.effect = OpenTicket(TicketKind.HANDOFF, number, number in s.verified,
                          issue="Parcel late or lost (the shopper asked for help after the "
                                "expected delivery date).", priority=True)
