"""What a confirmation shows before the shopper says yes: the items and the amount
involved, and where money goes. Every change is confirmed with these in view."""

from __future__ import annotations

from decimal import Decimal

from orders.models import Order, PaymentStatus
from orders.policy import Action

from .cancel_reasons import reason_label
from .catalogue import T, Text
from .effects import ActionRequest
from .exchange import price_line
from .refund_destination import destination_line
from .turn import Turn, money

_UNPAID = frozenset({PaymentStatus.PENDING, PaymentStatus.FAILED,
                     PaymentStatus.DUE_ON_DELIVERY})


def order_total(order: Order) -> Decimal:
    """Items and shipping: what the snapshot calls the total."""
    return sum((i.unit_price * i.quantity for i in order.items), order.shipping_fee)


def paid(order: Order) -> bool:
    """Money has been taken (prepaid and paid, or cash collected): a cancel refunds it."""
    return order.payment.status not in _UNPAID


def item_lines(order: Order, line_id: str | None = None, quantity: int | None = None
               ) -> list[Text]:
    """The items involved: one line, or every line of the order."""
    if line_id is not None:
        item = order.item(line_id)
        return [T("snapshot.item", name=item.name, quantity=quantity or item.quantity)] if (
            item) else []
    return [T("snapshot.item", name=i.name, quantity=i.quantity) for i in order.items]


def confirm_details(t: Turn, request: ActionRequest, order: Order) -> list[Text]:
    """The items and the amount a change involves, said before it is confirmed."""
    method = T(f"payment_method.{order.payment.method.value}")
    match request.action:
        case Action.CANCEL:
            lines = item_lines(order)
            if request.cancel_reason:
                lines.append(T("confirm.cancel_reason", reason=reason_label(request.cancel_reason)))
            total = money(t, order, order_total(order))
            lines.append(T("confirm.cancel_refund", amount=total, method=method) if paid(order)
                         else T("confirm.cancel_unpaid", amount=total))
            return lines
        case Action.RETURN | Action.REPLACE:
            item = order.item(request.line_id or "")
            quantity = request.quantity or 1
            value = money(t, order, item.unit_price * quantity if item else Decimal(0))
            if request.action is Action.RETURN:
                lines = [T("confirm.return_amount", amount=value)]
                if request.refund_to:
                    lines.append(destination_line(request.refund_to, method))
                return lines
            return [T("confirm.replace_amount", amount=value)]
        case Action.EXCHANGE:
            return [price_line(t, request, order)]
        case _:
            return [*item_lines(order), T("confirm.order_total",
                                          amount=money(t, order, order_total(order)))]
