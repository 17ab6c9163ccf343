"""Replacement and exchange requests still waiting on staff count as replacements: an order read
for a replacement gets them added (status `requested`), so the policy's "one
replacement per item or order" holds while a request is open, not only after staff
carried it out. Only `TicketStore.open_requests_for` is used: one query, on the turns
of a replacement or exchange only."""

from __future__ import annotations

from orders.models import Order, Replacement, ReplacementStatus, ReturnReason
from orders.policy import Action

from .tickets import TicketStore

_COUNTED = frozenset({Action.REPLACE.value, Action.EXCHANGE.value})


async def with_open_replacement_requests(tickets: TicketStore, order: Order) -> Order:
    added = []
    known = {r.replacement_id for r in order.replacements}
    for ticket in await tickets.open_requests_for(order.number):
        request = ticket.request or {}
        if (not ticket.is_open or ticket.kind != "request" or ticket.id in known
                or request.get("action") not in _COUNTED or not request.get("line_id")):
            continue
        reason = request.get("reason")
        added.append(Replacement(
            replacement_id=ticket.id, line_id=str(request["line_id"]),
            quantity=int(request.get("quantity") or 1),
            reason=ReturnReason(reason) if reason else ReturnReason.OTHER,
            status=ReplacementStatus.REQUESTED, created_at=ticket.created_at,
            new_variant_id=request.get("variant_id"), new_variant=request.get("variant")))
    if not added:
        return order
    return order.model_copy(update={"replacements": [*order.replacements, *added]})
