"""Business hours, so a hand-off can say honestly when a person will answer.

The setting reads like a shop door: "Mon-Fri 09:00-18:00, Sat 10:00-14:00".
An empty setting means staffed around the clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_PART = re.compile(
    r"^\s*(?P<first>[a-z]{3})(?:\s*-\s*(?P<last>[a-z]{3}))?\s+"
    r"(?P<open>\d{1,2}:\d{2})\s*-\s*(?P<close>\d{1,2}:\d{2})\s*$"
)


class BadBusinessHours(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class BusinessHours:
    """Opening times per weekday (0 = Monday), in the merchant's time zone."""

    spans: dict[int, tuple[time, time]]
    zone: ZoneInfo

    @classmethod
    def parse(cls, spec: str, timezone: str = "UTC") -> BusinessHours:
        spans: dict[int, tuple[time, time]] = {}
        for part in filter(None, (p.strip() for p in re.split(r"[,;]", spec.casefold()))):
            match = _PART.match(part)
            if not match or match["first"] not in _DAYS or (
                match["last"] and match["last"] not in _DAYS
            ):
                raise BadBusinessHours(f"cannot read business hours {part!r}; "
                                       "write them like 'Mon-Fri 09:00-18:00, Sat 10:00-14:00'")
            first = _DAYS.index(match["first"])
            last = _DAYS.index(match["last"] or match["first"])
            opens, closes = time.fromisoformat(match["open"].zfill(5)), time.fromisoformat(
                match["close"].zfill(5)
            )
            if closes <= opens:
                raise BadBusinessHours(f"{part!r} closes before it opens")
            for day in range(first, last + 1):
                spans[day] = (opens, closes)
        return cls(spans, ZoneInfo(timezone))

    @property
    def always_open(self) -> bool:
        return not self.spans

    def next_opening(self, now: datetime) -> datetime | None:
        """None when someone is there now, else when the shop next opens (local time)."""
        if self.always_open:
            return None
        local = now.astimezone(self.zone)
        for offset in range(8):
            day = local + timedelta(days=offset)
            span = self.spans.get(day.weekday())
            if span is None:
                continue
            opens = datetime.combine(day.date(), span[0], self.zone)
            closes = datetime.combine(day.date(), span[1], self.zone)
            if offset == 0 and opens <= local < closes:
                return None
            if local < opens:
                return opens
        return None
