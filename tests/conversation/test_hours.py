from __future__ import annotations

from datetime import UTC, datetime

import pytest

from conversation.hours import BadBusinessHours, BusinessHours

HOURS = BusinessHours.parse("Mon-Fri 09:00-18:00, Sat 10:00-14:00", "Asia/Kolkata")


@pytest.mark.parametrize("utc,expected_local", [
    (datetime(2026, 11, 17, 5, 30, tzinfo=UTC), None),  # Tue 11:00: open
    (datetime(2026, 11, 17, 13, 0, tzinfo=UTC), "2026-11-18 09:00"),  # Tue 18:30
    (datetime(2026, 11, 21, 9, 0, tzinfo=UTC), "2026-11-23 09:00"),  # Sat 14:30 -> Monday
    (datetime(2026, 11, 21, 2, 0, tzinfo=UTC), "2026-11-21 10:00"),  # Sat 07:30
    (datetime(2026, 11, 22, 6, 0, tzinfo=UTC), "2026-11-23 09:00"),  # Sunday
])
def test_next_opening(utc: datetime, expected_local: str | None) -> None:
    opening = HOURS.next_opening(utc)
    assert (opening.strftime("%Y-%m-%d %H:%M") if opening else None) == expected_local


def test_empty_means_always_open() -> None:
    assert BusinessHours.parse("").next_opening(datetime.now(UTC)) is None


@pytest.mark.parametrize("spec", ["Mon-Fri", "Funday 09:00-10:00", "Mon 18:00-09:00"])
def test_bad_hours_say_how_to_write_them(spec: str) -> None:
    with pytest.raises(BadBusinessHours):
        BusinessHours.parse(spec)
