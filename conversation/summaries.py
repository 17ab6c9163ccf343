"""What a confirmation shows before the shopper says yes: the items and the amount
involved, and where money goes. Every change is confirmed with these in view."""

from __future__ import annotations

from collections.abc import Callable
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
    details = _DETAILS.get(request.action)
    if details is None:  # a delivery change: the whole order
        return [*item_lines(order), T("confirm.order_total",
                                      amount=money(t, order, order_total(order)))]
    return details(t, request, order)


def _cancel_details(t: Turn, request: ActionRequest, order: Order) -> list[Text]:
    lines = item_lines(order)
    if request.cancel_reason:
        lines.append(T("confirm.cancel_reason", reason=reason_label(request.cancel_reason)))
    total = money(t, order, order_total(order))
    method = T(f"payment_method.{order.payment.method.value}")
    lines.append(T("confirm.cancel_refund", amount=total, method=method) if paid(order)
                 else T("confirm.cancel_unpaid", amount=total))
    return lines


def _item_value(t: Turn, request: ActionRequest, order: Order) -> str:
    item = order.item(request.line_id or "")
    return money(t, order, item.unit_price * (request.quantity or 1) if item else Decimal(0))


def _return_details(t: Turn, request: ActionRequest, order: Order) -> list[Text]:
    lines = [T("confirm.return_amount", amount=_item_value(t, request, order))]
    if request.refund_to:
        method = T(f"payment_method.{order.payment.method.value}")
        lines.append(destination_line(request.refund_to, method))
    return lines


def _replace_details(t: Turn, request: ActionRequest, order: Order) -> list[Text]:
    return [T("confirm.replace_amount", amount=_item_value(t, request, order))]


def _exchange_details(t: Turn, request: ActionRequest, order: Order) -> list[Text]:
    return [price_line(t, request, order)]


_DETAILS: dict[Action, Callable[[Turn, ActionRequest, Order], list[Text]]] = {
    Action.CANCEL: _cancel_details,
    Action.RETURN: _return_details,
    Action.REPLACE: _replace_details,
    Action.EXCHANGE: _exchange_details,
}
