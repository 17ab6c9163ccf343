"""The order model: what a shop knows about an order after it was placed.

These models are the contract of every order back-end and the schema of the demo
shop's JSON file (`python -m app schema` prints it). Money is `Decimal` in the
order's currency; times are timezone-aware UTC datetimes; an estimated delivery
is a calendar date.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Model(BaseModel):
    """Frozen, strict about unknown fields, so a typo in the shop's data is an error."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class OrderStatus(StrEnum):
    PLACED = "placed"
    PROCESSING = "processing"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    PAYMENT_FAILED = "payment_failed"


class Fulfilment(StrEnum):
    SHIP_TO_HOME = "ship_to_home"
    SHIP_TO_STORE = "ship_to_store"
    STORE_PICKUP = "store_pickup"


class PackageStatus(StrEnum):
    """A package's journey, in order; the last four are where it can end."""

    AT_WAREHOUSE = "at_warehouse"
    AT_COURIER_FACILITY = "at_courier_facility"
    AT_SORT_CENTRE = "at_sort_centre"
    AT_DELIVERY_STATION = "at_delivery_station"
    OUT_FOR_DELIVERY = "out_for_delivery"
    READY_FOR_PICKUP = "ready_for_pickup"
    DELIVERED = "delivered"
    DELIVERY_FAILED = "delivery_failed"
    RETURNED_TO_ORIGIN = "returned_to_origin"
    LOST = "lost"


class PaymentMethod(StrEnum):
    CARD = "card"
    UPI = "upi"
    WALLET = "wallet"
    GIFT_CARD = "gift_card"
    COD = "cod"


class PaymentStatus(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    DUE_ON_DELIVERY = "due_on_delivery"
    COLLECTED = "collected"
    FAILED = "failed"
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"


class ReturnReason(StrEnum):
    DAMAGED = "DAMAGED"
    DEFECTIVE = "DEFECTIVE"
    WRONG_ITEM = "WRONG_ITEM"
    ORDERED_BY_MISTAKE = "ORDERED_BY_MISTAKE"
    OTHER = "OTHER"


REPLACEMENT_REASONS = frozenset(
    {ReturnReason.DAMAGED, ReturnReason.DEFECTIVE, ReturnReason.WRONG_ITEM}
)


class ReturnStatus(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    IN_TRANSIT = "in_transit"
    RECEIVED = "received"
    REFUND_INITIATED = "refund_initiated"
    COMPLETED = "completed"
    REJECTED = "rejected"


class RefundStatus(StrEnum):
    NOT_STARTED = "not_started"
    PROCESSING = "processing"
    COMPLETED = "completed"


class RefundCause(StrEnum):
    CANCELLATION = "cancellation"
    RETURN = "return"


class ReplacementStatus(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    SHIPPED = "shipped"
    DELIVERED = "delivered"


class Customer(Model):
    name: str
    email: str
    phone: str = Field(description="E.164, for example +919812345678")


class Address(Model):
    name: str
    line1: str
    line2: str = ""
    city: str
    region: str = ""
    postal_code: str
    country: str = Field(min_length=2, max_length=2, description="ISO 3166-1 alpha-2")


class Variant(Model):
    """Another version of a line's product (a size, a colour) that the shop sells."""

    variant_id: str = Field(description="the shop's id of the variant (the demo shop: its SKU)")
    sku: str = ""
    title: str = Field(description="as the shop names it, e.g. \"L\" or \"Blue / M\"")
    options: dict[str, str] = Field(
        {}, description="option name -> value, e.g. {\"size\": \"L\", \"colour\": \"Blue\"}")
    unit_price: Decimal
    in_stock: bool = True


class OrderItem(Model):
    line_id: str
    sku: str
    name: str
    quantity: int = Field(ge=1)
    unit_price: Decimal
    returnable: bool = True
    in_stock: bool = Field(True, description="whether a replacement can be sent now")
    product_id: str | None = Field(
        None, description="the product this line is a variant of; null: no other variants")
    options: dict[str, str] = Field(
        {}, description="this line's option values, e.g. {\"size\": \"M\"}")
    variants: list[Variant] = Field(
        [], description="the product's other variants, with price and stock, where the order "
        "carries them (the demo shop's file); other back-ends answer `variants()` live")


class TrackingEvent(Model):
    at: datetime
    status: PackageStatus | None = Field(
        description="null when the carrier's status has no place in our taxonomy; "
        "`carrier_status` then holds its words, shown to the shopper verbatim"
    )
    location: str
    description: str = ""
    carrier_status: str | None = Field(None, description="the carrier's own status, verbatim")


class Package(Model):
    package_id: str
    line_ids: list[str] = Field(description="the order lines this package carries")
    status: PackageStatus
    carrier: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None
    estimated_delivery: date
    delivered_at: datetime | None = None
    events: list[TrackingEvent] = []


class Payment(Model):
    method: PaymentMethod
    status: PaymentStatus
    amount: Decimal
    retry_url: str | None = Field(
        None, description="where the shopper can pay again, for a failed or pending payment")


class Refund(Model):
    refund_id: str
    cause: RefundCause
    amount: Decimal
    method: PaymentMethod = Field(description="refunds go back to the original method")
    status: RefundStatus
    initiated_at: datetime | None = None
    expected_by: date | None = None
    completed_at: datetime | None = None


class ReturnLine(Model):
    line_id: str
    quantity: int = Field(ge=1)
    reason: ReturnReason


class Return(Model):
    return_id: str
    lines: list[ReturnLine]
    status: ReturnStatus
    created_at: datetime
    refund_id: str | None = None
    rejection_reason: str | None = None


class Replacement(Model):
    """The same item sent again, or (with `new_variant_id`) an exchange for another
    variant of the same product; either way the old unit is picked up."""

    replacement_id: str
    line_id: str
    quantity: int = Field(ge=1)
    reason: ReturnReason
    status: ReplacementStatus
    created_at: datetime
    new_variant_id: str | None = Field(None, description="an exchange: the variant sent instead")
    new_variant: str | None = Field(None, description="an exchange: that variant's title")
    price_difference: Decimal | None = Field(
        None, description="an exchange: new minus old price for the quantity; above zero the "
        "shopper pays it, below zero it is refunded")
    payment_url: str | None = Field(
        None, description="where the shopper pays a positive difference, when the shop has one")


class Order(Model):
    number: str
    placed_at: datetime
    status: OrderStatus
    customer: Customer
    currency: str = Field(min_length=3, max_length=3)
    items: list[OrderItem] = Field(min_length=1)
    shipping_fee: Decimal = Decimal("0")
    payment: Payment
    fulfilment: Fulfilment = Fulfilment.SHIP_TO_HOME
    shipping_address: Address | None = None
    pickup_store: str | None = None
    requested_delivery_date: date | None = None
    packages: list[Package] = []
    refunds: list[Refund] = []
    returns: list[Return] = []
    replacements: list[Replacement] = []
    cancelled_at: datetime | None = None

    def item(self, line_id: str) -> OrderItem | None:
        return next((i for i in self.items if i.line_id == line_id), None)

    def package_of(self, line_id: str) -> Package | None:
        return next((p for p in self.packages if line_id in p.line_ids), None)

    def returned_quantity(self, line_id: str) -> int:
        """Units of a line already in a return that was not rejected."""
        return sum(
            line.quantity
            for ret in self.returns
            if ret.status is not ReturnStatus.REJECTED
            for line in ret.lines
            if line.line_id == line_id
        )


class OrderFile(Model):
    """The demo shop's file. `as_of` makes the sample timeless: every date in it
    is shifted by (now - as_of) when it is loaded, so "delivered 3 days ago"
    stays true whatever day the demo runs."""

    as_of: datetime | None = None
    orders: list[Order]
