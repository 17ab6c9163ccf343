"""A payment that failed or is still pending: what happens now, said under the
snapshot. No change is offered for such an order (eligibility refuses them); a
retry link is shown when the back-end has one, and money taken for a failed
payment comes back by itself within `Policy.failed_payment_refund_days`."""

from __future__ import annotations

from orders.models import Order, OrderStatus, PaymentStatus

from .catalogue import T, Text
from .effects import Link
from .turn import Turn

_UNSETTLED = frozenset({PaymentStatus.FAILED, PaymentStatus.PENDING})


def payment_lines(t: Turn, order: Order) -> list[Text]:
    days = t.ctx.policy.failed_payment_refund_days
    if order.payment.status is PaymentStatus.FAILED or order.status is OrderStatus.PAYMENT_FAILED:
        return [T("payment.failed_note", days=days)]
    if order.payment.status is PaymentStatus.PENDING:
        return [T("payment.pending_note", days=days)]
    return []


def retry_links(order: Order) -> list[Link]:
    unsettled = order.payment.status in _UNSETTLED or order.status is OrderStatus.PAYMENT_FAILED
    if unsettled and order.payment.retry_url:
        return [Link(T("link.pay_again"), order.payment.retry_url)]
    return []
