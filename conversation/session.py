"""What the bot remembers about one conversation between two messages.

One JSON value under one key with one TTL. `v` is the schema version: a session
written by an older release (or anything unreadable) starts afresh at the menu
instead of crashing the turn.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, ValidationError

from orders.models import ReturnReason
from orders.policy import Action

SCHEMA_VERSION = 1
MAX_REMEMBERED_ORDERS = 10


class Step(StrEnum):
    """Where the shopper is; each member is answered by one function in `machine`."""

    MENU = "menu"
    ASK_ORDER = "ask_order"
    ASK_FACTOR = "ask_factor"
    PICK_ORDER = "pick_order"
    SNAPSHOT = "snapshot"
    PICK_ITEM = "pick_item"
    PICK_RETURN_OR_REPLACE = "pick_return_or_replace"
    PICK_QUANTITY = "pick_quantity"
    PICK_REASON = "pick_reason"
    PICK_VARIANT = "pick_variant"  # an exchange: which size or colour instead
    PICK_DELIVERY_CHANGE = "pick_delivery_change"
    ASK_ADDRESS = "ask_address"
    PICK_DATE = "pick_date"
    PICK_CANCEL_REASON = "pick_cancel_reason"
    PICK_REFUND_TO = "pick_refund_to"
    CONFIRM = "confirm"
    ASK_ISSUE = "ask_issue"
    ASK_PHOTO = "ask_photo"  # an optional photo of a damaged, defective or wrong item
    HANDED_OFF = "handed_off"
    RATE = "rate"  # staff resolved the hand-off: one satisfaction question, then on as usual


class Session(BaseModel):
    model_config = ConfigDict(extra="ignore", validate_assignment=False)

    v: int = SCHEMA_VERSION
    step: Step = Step.MENU
    locale: str = "en"
    locale_chosen: bool = False  # the shopper named a language: detection no longer switches
    language_asked: bool = False  # "continue in Hindi?" is asked once per conversation
    last_seen: datetime | None = None

    # proven by the channel (never by what the shopper typed)
    phone: str | None = None
    email: str | None = None

    # the task under way
    action: Action | None = None
    either_return_or_replace: bool = False
    order: str | None = None
    candidate: str | None = None  # an order number awaiting its second factor
    verified: list[str] = []  # orders this conversation has proven
    following: list[str] = []  # orders it asked to be kept posted about (as far as we know)
    photo_asked: bool = False  # the optional photo was asked for (once per task)
    photos: int = 0  # photos the shopper sent for the task under way
    item: str | None = None
    quantity: int | None = None
    reason: ReturnReason | None = None
    new_address: str | None = None
    new_date: date | None = None
    refusal: str | None = None  # the last refusal, in words, carried to a hand-off
    cancel_reason: str | None = None  # a code from the policy's list
    refund_to: str | None = None  # a return's refund: "original" or "store_credit"
    variant: str | None = None  # an exchange: the chosen variant's id
    variant_title: str | None = None  # ...its title, price difference and what changes,
    price_difference: str | None = None  # as confirmed (a decimal, new minus old)
    variant_kind: str | None = None  # "size", "colour" or "variant"
    late_check: bool = False  # "my parcel is late": the snapshot says what to do about it

    # what the last buttons meant (so a typed number or a tap can be checked)
    offered: list[str] = []
    misses: int = 0
    factor_failures: int = 0
    locked_until: datetime | None = None

    # hand-off
    ticket: str | None = None
    ticket_acked_at: datetime | None = None  # the last "your message was added" while it waits
    ticket_answered: bool = False  # a person has replied: the shopper can no longer withdraw
    rating_ticket: str | None = None  # the resolved ticket the RATE question is about

    @classmethod
    def parse(cls, raw: bytes | str | None) -> Session:
        if not raw:
            return cls()
        try:
            session = cls.model_validate_json(raw)
        except ValidationError:
            return cls()
        return session if session.v == SCHEMA_VERSION else cls()

    def dump(self) -> str:
        return self.model_dump_json(exclude_defaults=True)

    def remember_verified(self, number: str) -> None:
        if number not in self.verified:
            self.verified = [*self.verified, number][-MAX_REMEMBERED_ORDERS:]

    def reset_task(self) -> None:
        """Forget the task under way; who the shopper is and what they proved stay."""
        self.step = Step.MENU
        self.action = None
        self.either_return_or_replace = False
        self.candidate = None
        self.item = None
        self.quantity = None
        self.reason = None
        self.new_address = None
        self.new_date = None
        self.late_check = False
        self.cancel_reason = None
        self.refund_to = None
        self.variant = None
        self.variant_title = None
        self.price_difference = None
        self.variant_kind = None
        self.offered = []
        self.misses = 0
        self.photo_asked = False
        self.photos = 0
