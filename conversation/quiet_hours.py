"""The merchant's quiet hours: when shipping notifications wait until morning.

The setting is one span of local time, `21:00-09:00` (it may run over midnight);
empty means no quiet hours. Only unasked-for messages wait: an answer to the
shopper's own message is never held.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

_SPAN = re.compile(r"^\s*(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})\s*$")


class BadQuietHours(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class QuietHours:
    """`span` None: never quiet."""

    span: tuple[time, time] | None
    zone: ZoneInfo

    @classmethod
    def parse(cls, spec: str, timezone: str = "UTC") -> QuietHours:
        zone = ZoneInfo(timezone)
        if not spec.strip():
            return cls(None, zone)
        match = _SPAN.match(spec)
        if not match:
            raise BadQuietHours(f"cannot read quiet hours {spec!r}; write them like '21:00-09:00'")
        try:
            start, end = (time.fromisoformat(part.zfill(5)) for part in match.groups())
        except ValueError as exc:
            raise BadQuietHours(f"{spec!r} is not a time span such as '21:00-09:00'") from exc
        if start == end:
            raise BadQuietHours(f"{spec!r} starts and ends at the same time")
        return cls((start, end), zone)

    def ends(self, now: datetime) -> datetime | None:
        """None when it is not quiet now, else when the quiet hours end (aware)."""
        if self.span is None:
            return None
        start, end = self.span
        local = now.astimezone(self.zone)
        clock = local.time().replace(tzinfo=None)
        if start < end:
            quiet = start <= clock < end
            end_day = local.date()
        else:  # over midnight: quiet from start until midnight, and from midnight until end
            quiet = clock >= start or clock < end
            end_day = local.date() + timedelta(days=1) if clock >= start else local.date()
        if not quiet:
            return None
        return datetime.combine(end_day, end, self.zone)
