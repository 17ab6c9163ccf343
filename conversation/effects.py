"""The vocabulary between the pure dialogue and the runner that does its I/O.

The dialogue answers an event with a `Transition`: the new session, what to say,
and at most one `Effect`. The runner performs the effect (look up orders, verify a
second factor, carry an action out, open a ticket) and feeds the result back as an
event. So the dialogue is tested as tables, with no Redis and no HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from orders.backend import ActionOutcome
from orders.models import Order, ReturnReason, Variant
from orders.policy import Action

from .audit import Note
from .catalogue import Text
from .session import Session

STORE_CREDIT = "store_credit"

# ---- what the bot says -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Option:
    label: Text
    payload: str


@dataclass(frozen=True, slots=True)
class Link:
    label: Text
    url: str


@dataclass(frozen=True, slots=True)
class Say:
    """One message: its lines are joined with newlines in the shopper's language."""

    lines: tuple[Text, ...]
    options: tuple[Option, ...] = ()
    links: tuple[Link, ...] = ()

    @property
    def key(self) -> str:
        return self.lines[0].key


# ---- effects: what the dialogue asks the runner to do -------------------------


@dataclass(frozen=True, slots=True)
class FindOrders:
    phone: str | None
    email: str | None


@dataclass(frozen=True, slots=True)
class LoadOrder:
    number: str


@dataclass(frozen=True, slots=True)
class LoadVariants:
    """Read the order again with the other variants of one of its lines (answered by
    `OrderLoaded` with `variants`)."""

    number: str
    line_id: str


@dataclass(frozen=True, slots=True)
class Verify:
    """Check a second factor for an order. `factor` None: check the order against
    the identity the channel proved instead (no typing needed when it matches)."""

    number: str
    factor: str | None


@dataclass(frozen=True, slots=True)
class ActionRequest:
    action: Action
    number: str
    line_id: str | None = None
    quantity: int | None = None
    reason: ReturnReason | None = None
    address: str | None = None
    delivery_date: date | None = None
    cancel_reason: str | None = None  # a code from the policy's list: not part of the key
    refund_to: str | None = None  # a return's refund: "original" or "store_credit"
    variant_id: str | None = None  # an exchange: the variant sent instead
    variant: str | None = None  # ...its title, the price difference (a decimal, new minus
    price_difference: str | None = None  # old, for the quantity) and what changes: not
    kind: str | None = None  # part of the key ("size", "colour" or "variant")

    @property
    def for_staff(self) -> bool:
        """Store credit is not something the back-ends' return call can take: a person
        applies it, so such a return is always a request for staff."""
        return self.refund_to == STORE_CREDIT

    @property
    def idempotency_key(self) -> str:
        """Same action, order and items: same key, so a repeat is one change."""
        parts = [self.action.value, self.number, self.line_id, self.quantity, self.reason,
                 self.address, self.delivery_date]
        if self.variant_id is not None:
            parts.append(self.variant_id)
        return ":".join("" if p is None else str(p) for p in parts)


@dataclass(frozen=True, slots=True)
class CarryOut:
    request: ActionRequest


class TicketKind(StrEnum):
    HANDOFF = "handoff"  # a person takes the conversation over
    REQUEST = "request"  # an action for staff to carry out; the bot stays on


@dataclass(frozen=True, slots=True)
class OpenTicket:
    kind: TicketKind
    order: str | None
    order_verified: bool
    issue: str | None = None
    refusal: str | None = None
    request: ActionRequest | None = None
    priority: bool = False  # staff should take it first (a late or lost parcel)


@dataclass(frozen=True, slots=True)
class RecordRating:
    """The shopper's 1-5 answer to the satisfaction question, for the ticket."""

    ticket_id: str
    score: int


@dataclass(frozen=True, slots=True)
class Subscribe:
    """Keep this conversation posted about a proven order (shipping notifications)."""

    number: str


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """End all of this conversation's shipping notifications. `bye`: the shopper
    said a plain "stop", so the answer says goodbye too."""

    bye: bool = False


@dataclass(frozen=True, slots=True)
class Classify:
    """Text the rules did not read: ask the configured classifier (`NLU_URL`)."""

    text: str


@dataclass(frozen=True, slots=True)
class WithdrawTicket:
    """The shopper takes a hand-off back before a person replied: close it as withdrawn.
    `bye`: they said "stop", so the shipping updates end too."""

    ticket_id: str
    bye: bool = False


Effect = (
    FindOrders | LoadOrder | LoadVariants | Verify | CarryOut | OpenTicket | RecordRating
    | Subscribe | Unsubscribe | WithdrawTicket | Classify
)

# ---- events: what happened ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Message:
    text: str = ""
    payload: str | None = None
    has_media: bool = False
    newly_proven: bool = False  # the channel proved who this is, just now (a shared contact)
    files: int = 0  # photos or files kept from this message (media.store)


@dataclass(frozen=True, slots=True)
class OrdersFound:
    orders: tuple[Order, ...]


@dataclass(frozen=True, slots=True)
class OrderLoaded:
    order: Order | None
    variants: tuple[Variant, ...] | None = None  # read too, for an exchange (`LoadVariants`)


@dataclass(frozen=True, slots=True)
class Verified:
    order: Order


@dataclass(frozen=True, slots=True)
class NotVerified:
    order_locked: bool = False


@dataclass(frozen=True, slots=True)
class FactorNeeded:
    number: str


@dataclass(frozen=True, slots=True)
class Carried:
    request: ActionRequest
    outcome: ActionOutcome


@dataclass(frozen=True, slots=True)
class ShopRefused:
    request: ActionRequest


@dataclass(frozen=True, slots=True)
class ShopUnavailable:
    request: ActionRequest | None = None  # the change that could not be made, if it was one


@dataclass(frozen=True, slots=True)
class TicketOpened:
    ticket_id: str
    kind: TicketKind
    request: ActionRequest | None = None


@dataclass(frozen=True, slots=True)
class RatingRecorded:
    pass


@dataclass(frozen=True, slots=True)
class Subscribed:
    number: str


@dataclass(frozen=True, slots=True)
class Unsubscribed:
    orders: tuple[str, ...]  # the orders it had; empty: there was nothing to stop
    bye: bool = False


@dataclass(frozen=True, slots=True)
class TicketWithdrawn:
    ticket_id: str
    closed: bool  # False: it was closed already (staff resolved it meanwhile)
    bye: bool = False


@dataclass(frozen=True, slots=True)
class Classified:
    intent: str | None  # an `understanding.Intent` value; None: not understood
    order: str | None


Event = (
    Message | OrdersFound | OrderLoaded | Verified | NotVerified | FactorNeeded | Carried
    | ShopRefused | ShopUnavailable | TicketOpened | RatingRecorded | Subscribed
    | Unsubscribed | TicketWithdrawn | Classified
)


@dataclass(slots=True)
class Transition:
    session: Session
    says: list[Say] = field(default_factory=list)
    effect: Effect | None = None
    notes: list[Note] = field(default_factory=list)  # for the orders' audit logs
