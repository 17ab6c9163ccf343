"""The interface every order back-end implements, and its errors.

Errors:
    OrderBackendError
      ├── BackendUnavailable   the shop could not be reached or timed out: tell the
      │                        shopper plainly and offer a person; nothing was changed
      └── ActionRefused        the shop refused the change (its own rules); the
                               message is shown to staff, a generic refusal to the shopper
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Protocol

from .models import Address, Order, ReturnLine, ReturnReason, Variant
from .policy import Action
from .tracking import CarrierUpdate, TrackingApplied


class OrderBackendError(Exception):
    pass


class BackendUnavailable(OrderBackendError):
    pass


class ActionRefused(OrderBackendError):
    pass


@dataclass(frozen=True, slots=True)
class ActionOutcome:
    """What the shop did: the order as it is now and the id of what was created
    (a return id, a replacement id), if anything."""

    order: Order
    reference: str | None = None


class OrderBackend(Protocol):
    """Every change takes an idempotency key: the same key twice is one change,
    and the second call returns the first outcome."""

    @property
    def supports(self) -> frozenset[Action]: ...

    async def get_order(self, number: str) -> Order | None: ...

    async def find_orders(
        self, *, phone: str | None = None, email: str | None = None
    ) -> list[Order]: ...

    async def cancel(self, number: str, *, idempotency_key: str) -> ActionOutcome: ...

    async def start_return(
        self, number: str, lines: list[ReturnLine], *, idempotency_key: str
    ) -> ActionOutcome: ...

    async def replace(
        self,
        number: str,
        line_id: str,
        quantity: int,
        reason: ReturnReason,
        *,
        idempotency_key: str,
    ) -> ActionOutcome: ...

    async def change_delivery(
        self,
        number: str,
        *,
        address: Address | None = None,
        delivery_date: date | None = None,
        idempotency_key: str,
    ) -> ActionOutcome: ...

    async def variants(self, number: str, line_id: str) -> list[Variant]:
        """The other variants (sizes, colours) of a line's product, with price and
        stock; empty when there are none or the shop cannot tell."""
        ...

    async def exchange(
        self,
        number: str,
        line_id: str,
        quantity: int,
        variant_id: str,
        *,
        idempotency_key: str,
    ) -> ActionOutcome:
        """Exchange units of a delivered line for another variant of its product:
        the outcome's order holds a `Replacement` with `new_variant_id` and the
        price difference; its id is the reference."""
        ...

    async def record_tracking(self, update: CarrierUpdate) -> TrackingApplied | None:
        """Put a carrier's update on the order (`orders.tracking.apply_update`) and
        keep it; None when no order or package fits. A replayed update returns
        `recorded=False` and changes nothing."""
        ...
