"""Where a return's refund goes, when the policy lets the shopper choose
(`STORE_CREDIT_REFUNDS`): the original payment method, or store credit (quicker).
A return to store credit is always a request for staff (see `ActionRequest.for_staff`):
no back-end's return call can take it, and nothing is reported done that was not."""

from __future__ import annotations

from orders.models import Order, OrderItem
from orders.policy import Action

from .catalogue import T, Text
from .effects import STORE_CREDIT, Option
from .refund_words import days, timing
from .session import Step
from .turn import Turn, menu_option

REFUND_TO_PAYLOAD = "rd"
ORIGINAL = "original"


def ask_refund_destination(t: Turn, order: Order, item: OrderItem) -> bool:
    s = t.s
    if s.action is not Action.RETURN or not t.ctx.policy.store_credit_refunds or s.refund_to:
        return False
    method = order.payment.method.value
    s.step = Step.PICK_REFUND_TO
    t.say(T("refund_to.ask", item=item.name), options=[
        Option(T("refund_to.original", method=T(f"payment_method.{method}"),
                 days=days(timing(t, method))), f"{REFUND_TO_PAYLOAD}:{ORIGINAL}"),
        Option(T("refund_to.store_credit", days=days(timing(t, STORE_CREDIT))),
               f"{REFUND_TO_PAYLOAD}:{STORE_CREDIT}"),
        menu_option()])
    return True


def pick_refund_destination(t: Turn, value: str) -> None:
    t.s.refund_to = STORE_CREDIT if value == STORE_CREDIT else ORIGINAL


def destination_line(refund_to: str, method: Text) -> Text:
    if refund_to == STORE_CREDIT:
        return T("confirm.refund_to_store_credit")
    return T("confirm.refund_to_original", method=method)
