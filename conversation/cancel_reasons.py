"""Why the shopper cancels: one question from the merchant's list
(`Policy.cancel_reasons`, `CANCEL_REASONS`) before the confirmation; the code goes
into the order's audit log and on any ticket (the request's `cancel_reason`)."""

from __future__ import annotations

from orders.models import Order
from orders.policy import DEFAULT_CANCEL_REASONS

from .catalogue import T, Text
from .effects import Option
from .session import Step
from .turn import Turn, menu_option

CANCEL_REASON_PAYLOAD = "cr"


def reason_label(code: str) -> Text:
    """The catalogue's words for a known code; a merchant's own code as written."""
    if code in DEFAULT_CANCEL_REASONS:
        return T(f"cancel_reason.{code}")
    return T("cancel_reason.custom", text=code.replace("_", " ").capitalize())


def ask_cancel_reason(t: Turn, order: Order) -> bool:
    """Ask why (True), unless the policy asks nothing or it was answered."""
    s = t.s
    reasons = t.ctx.policy.cancel_reasons
    if not reasons or s.cancel_reason is not None:
        return False
    s.step = Step.PICK_CANCEL_REASON
    t.say(T("cancel_reason.ask", number=order.number), options=[
        *(Option(reason_label(code), f"{CANCEL_REASON_PAYLOAD}:{code}") for code in reasons),
        menu_option()])
    return True


def pick_cancel_reason(t: Turn, code: str) -> None:
    reasons = t.ctx.policy.cancel_reasons
    t.s.cancel_reason = code if code in reasons else ("other" if "other" in reasons
                                                      else reasons[-1])
