"""The merchant's policy: which actions shoppers may take, which the bot carries
out itself and which become a request for staff, and the return window."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .refund_timing import DEFAULT_REFUND_TIMING, RefundTiming


class Action(StrEnum):
    """What a shopper can ask for; the values are stable ids used in payloads and keys."""

    TRACK = "track"
    CANCEL = "cancel"
    RETURN = "return"
    REPLACE = "replace"
    REFUND = "refund"
    DELIVERY = "delivery"
    EXCHANGE = "exchange"  # another variant (size, colour) of the same product


CHANGES = frozenset({Action.CANCEL, Action.RETURN, Action.REPLACE, Action.DELIVERY,
                     Action.EXCHANGE})

DEFAULT_CANCEL_REASONS = ("changed_my_mind", "ordered_by_mistake", "found_cheaper",
                          "delivery_too_slow", "other")
"""The reasons the catalogue has words for (`cancel_reason.<code>`); a merchant's own
code is shown as written. Off by default (`CANCEL_REASONS=` empty): one more question
before every cancel is the merchant's choice."""


class Policy(BaseModel):
    model_config = ConfigDict(frozen=True)

    return_window_days: int = Field(30, ge=0)
    window_starts: Literal["delivery", "order"] = Field(
        "delivery", description="the return window counts from the delivery date or the order date"
    )
    allowed: frozenset[Action] = frozenset(Action)
    manual: frozenset[Action] = Field(
        frozenset({Action.REPLACE}),
        description="changes that become a request for staff instead of being carried out",
    )
    timezone: str = Field("UTC", description="IANA name; day counts and business hours use it")
    currency_symbol: dict[str, str] = {"INR": "₹", "USD": "$", "EUR": "€", "GBP": "£"}
    cancel_reasons: tuple[str, ...] = Field(
        (), description="the reasons a shopper picks from before a cancel (codes, e.g. "
        "DEFAULT_CANCEL_REASONS; recorded in the audit log and on any ticket); empty: not asked")
    store_credit_refunds: bool = Field(
        False, description="a return's refund may go to store credit instead of the original "
        "payment method, as the shopper chooses")
    replacement_limit: Literal["item", "order", "none"] = Field(
        "item", description="at most one replacement per item or per order (an open "
        "request counts), or no limit")
    refund_timing: dict[str, RefundTiming] = Field(
        default_factory=lambda: dict(DEFAULT_REFUND_TIMING),
        description="days a refund takes per payment method (and store credit)")
    failed_payment_refund_days: int = Field(
        5, ge=0, description="business days within which money taken for a failed "
        "payment comes back by itself")
    late_apology: str = Field("", description="said to a shopper whose parcel is late; "
                              "empty: the catalogue's words, in the shopper's language")
    late_compensation: str = Field("", description="offered after that apology, e.g. a voucher; "
                                   "empty: none")

    def money(self, amount: Decimal, currency: str) -> str:
        """An amount as the shop writes it: ₹2,147.00, or 2,147.00 XYZ without a symbol."""
        symbol = self.currency_symbol.get(currency)
        return f"{symbol}{amount:,.2f}" if symbol else f"{amount:,.2f} {currency}"

    def is_automatic(self, action: Action, supported: frozenset[Action]) -> bool:
        """True when the bot itself carries the action out through the back-end."""
        return action in supported and action not in self.manual
