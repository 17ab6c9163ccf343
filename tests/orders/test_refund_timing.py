"""Refund timing per payment method, as the merchant writes it (`REFUND_TIMING`)."""

from __future__ import annotations

from datetime import date

import pytest

from orders.refund_timing import DEFAULT_REFUND_TIMING, RefundTiming, parse_refund_timing


@pytest.mark.parametrize(("text", "method", "expected"), [
    ("", "card", RefundTiming(low=5, high=7, business=True)),
    ("", "upi", RefundTiming(low=0, high=1)),
    ("card=3-5 business", "card", RefundTiming(low=3, high=5, business=True)),
    ("upi=0", "upi", RefundTiming(low=0, high=0)),
    (" WALLET = 1-2 , card=7 business", "wallet", RefundTiming(low=1, high=2)),
    ("cod=10-14", "cod", RefundTiming(low=10, high=14)),
    ("card=5-7 business", "gift_card", DEFAULT_REFUND_TIMING["gift_card"]),  # others keep theirs
])
def test_settings_are_read_over_the_defaults(text: str, method: str,
                                             expected: RefundTiming) -> None:
    assert parse_refund_timing(text)[method] == expected


@pytest.mark.parametrize(("text", "says"), [
    ("paypal=1-2", "not one of"),
    ("card=5 to 7", "method=MIN-MAX"),
    ("card=7-5", "fewer days to more"),
    ("card", "method=MIN-MAX"),
])
def test_a_bad_rule_says_how_to_write_it(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_refund_timing(text)


@pytest.mark.parametrize(("rule", "start", "expected"), [
    (RefundTiming(low=0, high=1), date(2026, 11, 20), date(2026, 11, 21)),  # Fri -> Sat
    (RefundTiming(low=5, high=7, business=True), date(2026, 11, 20), date(2026, 12, 1)),
    (RefundTiming(low=1, high=1, business=True), date(2026, 11, 21), date(2026, 11, 23)),  # Sat
    (RefundTiming(low=0, high=0), date(2026, 11, 20), date(2026, 11, 20)),
])
def test_expected_by_counts_business_days_where_the_rule_says(
    rule: RefundTiming, start: date, expected: date
) -> None:
    assert rule.by(start) == expected
