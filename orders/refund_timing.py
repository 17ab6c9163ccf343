"""How long a refund takes, per payment method: the merchant's rule, said to the
shopper in the refund status and after a cancel.

Written as a setting (`REFUND_TIMING`) like `upi=0-1, card=5-7 business, cod=3-5 business`:
each method's range of days, counted in business days (Monday to Friday) where it says
`business`, else in calendar days. `store_credit` is where a refund goes when the shopper
chose store credit. A method left out keeps its default.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from pydantic import BaseModel, ConfigDict, Field


class RefundTiming(BaseModel):
    model_config = ConfigDict(frozen=True)

    low: int = Field(ge=0)
    high: int = Field(ge=0)
    business: bool = False

    def by(self, start: date) -> date:
        """The last day the refund is expected on, counted from `start`."""
        if not self.business:
            return start + timedelta(days=self.high)
        day, left = start, self.high
        while left > 0:
            day += timedelta(days=1)
            if day.weekday() < 5:
                left -= 1
        return day


DEFAULT_REFUND_TIMING: dict[str, RefundTiming] = {
    "upi": RefundTiming(low=0, high=1),
    "wallet": RefundTiming(low=0, high=1),
    "gift_card": RefundTiming(low=0, high=1),
    "store_credit": RefundTiming(low=0, high=1),
    "card": RefundTiming(low=5, high=7, business=True),
    "cod": RefundTiming(low=3, high=5, business=True),
}

METHODS = frozenset(DEFAULT_REFUND_TIMING)

_ENTRY = re.compile(r"^(?P<method>[a-z_]+)\s*=\s*(?P<low>\d{1,3})(?:\s*-\s*(?P<high>\d{1,3}))?"
                    r"(?P<business>\s+business)?$")


def parse_refund_timing(text: str) -> dict[str, RefundTiming]:
    """`upi=0-1, card=5-7 business` over the defaults; a clear ValueError otherwise."""
    timing = dict(DEFAULT_REFUND_TIMING)
    for raw in text.split(","):
        entry = " ".join(raw.split()).lower()
        if not entry:
            continue
        match = _ENTRY.match(entry)
        if match is None:
            raise ValueError(f"{raw.strip()!r}: write it as method=MIN-MAX, e.g. card=5-7 business")
        method = match["method"]
        if method not in METHODS:
            raise ValueError(f"{method!r} is not one of {', '.join(sorted(METHODS))}")
        low = int(match["low"])
        high = int(match["high"]) if match["high"] else low
        if high < low:
            raise ValueError(f"{raw.strip()!r}: the range runs from fewer days to more")
        timing[method] = RefundTiming(low=low, high=high, business=bool(match["business"]))
    return timing
