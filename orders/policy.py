"""The merchant's policy: which actions shoppers may take, which the bot carries
out itself and which become a request for staff, and the return window."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Action(StrEnum):
    """What a shopper can ask for; the values are stable ids used in payloads and keys."""

    TRACK = "track"
    CANCEL = "cancel"
    RETURN = "return"
    REPLACE = "replace"
    REFUND = "refund"
    DELIVERY = "delivery"


CHANGES = frozenset({Action.CANCEL, Action.RETURN, Action.REPLACE, Action.DELIVERY})


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

    def money(self, amount: Decimal, currency: str) -> str:
        """An amount as the shop writes it: ₹2,147.00, or 2,147.00 XYZ without a symbol."""
        symbol = self.currency_symbol.get(currency)
        return f"{symbol}{amount:,.2f}" if symbol else f"{amount:,.2f} {currency}"

    def is_automatic(self, action: Action, supported: frozenset[Action]) -> bool:
        """True when the bot itself carries the action out through the back-end."""
        return action in supported and action not in self.manual
