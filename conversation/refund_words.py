"""Refund timing in words: "Refunds to a card usually take 5–7 business days", from
the merchant's `Policy.refund_timing`, and the date a refund is expected by when the
shop did not give one."""

from __future__ import annotations

from datetime import date

from orders.refund_timing import DEFAULT_REFUND_TIMING, RefundTiming

from .catalogue import T, Text
from .turn import Turn


def timing(t: Turn, method: str) -> RefundTiming:
    return t.ctx.policy.refund_timing.get(method) or DEFAULT_REFUND_TIMING["card"]


def days(rule: RefundTiming) -> Text:
    if rule.high == 0:
        return T("timing.same_day")
    if rule.business:
        if rule.low in (0, rule.high):
            return T("timing.upto_business_days", high=rule.high)
        return T("timing.business_days", low=rule.low, high=rule.high)
    if rule.low in (0, rule.high):
        return T("timing.upto_days", high=rule.high)
    return T("timing.days", low=rule.low, high=rule.high)


def timing_line(t: Turn, method: str) -> Text:
    """How long a refund to `method` takes; cash on delivery says where it goes."""
    rule = timing(t, method)
    if method == "cod":
        return T("refund.timing_cod", days=days(rule))
    return T("refund.timing", method=T(f"payment_method.{method}"), days=days(rule))


def expected_by(t: Turn, method: str, start: date) -> date:
    return timing(t, method).by(start)
