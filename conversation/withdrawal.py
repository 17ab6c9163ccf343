"""Closing a hand-off the shopper took back before a person replied.

Only `TicketStore.update` is used, so any store with the same methods will do. The
ticket is resolved with `closed_reason="withdrawn"` and a system line staff read on
the ticket; a ticket already resolved (staff were quicker) is left as it is.
"""

from __future__ import annotations

from datetime import datetime

from .tickets import Ticket, TicketNotFound, TicketStatus, TicketStore, log_line

WITHDRAWN = "withdrawn"
WITHDRAWN_LINE = "Withdrawn by the shopper before anyone replied; the bot has the conversation."


async def withdraw(tickets: TicketStore, ticket_id: str, at: datetime) -> bool:
    """True when this closed the ticket; False when it was closed (or gone) already."""

    def change(ticket: Ticket) -> Ticket | None:
        if ticket.status is TicketStatus.RESOLVED:
            return None
        return ticket.model_copy(update={
            "status": TicketStatus.RESOLVED, "resolved_at": at, "updated_at": at,
            "resolved_by": "shopper", "closed_reason": WITHDRAWN})

    try:
        _ticket, changed = await tickets.update(
            ticket_id, change, line=log_line("system", WITHDRAWN_LINE, at), event="resolved")
    except TicketNotFound:
        return False
    return changed
