"""How the desk ranks and times tickets: tags, priority rules, and SLA targets
counted in business hours.

Tags are short codes (`action:return`, `refusal:window_closed`, `package:lost`,
or whatever staff type). The bot tags a ticket when it opens (`bot_tags`); the
merchant's `PRIORITY_RULES` map tags to a priority, the highest match wins, and
staff may set another by hand:

    PRIORITY_RULES="refusal:window_closed=high, action:refund=high, package:lost=urgent"

SLA targets (`SLA_TARGETS`) give, per priority, the time to a first staff reply
and to resolution, in business hours (`BUSINESS_HOURS`: a clock that stops when
the shop is closed; empty means around the clock):

    SLA_TARGETS="urgent=1h/4h, high=4h/1d, normal=8h/3d, low=1d/5d"

(`d` is 24 business hours, not a calendar day.)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from orders.eligibility import Reason

from .hours import BusinessHours

MAX_TAG_CHARS = 64
MAX_TAGS = 20
TAG = re.compile(r"^[\w\u0900-\u097F][\w\u0900-\u097F:.\- ]{0,63}$")
_WATCHED_PACKAGES = frozenset({"lost", "delivery_failed", "returned_to_origin"})


class Priority(StrEnum):
    URGENT = "urgent"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"

    @property
    def rank(self) -> int:
        """0 is the most pressing."""
        return list(Priority).index(self)


def clean_tag(raw: str) -> str:
    """A tag as stored: trimmed, lower case, single spaces; ValueError if unusable."""
    tag = " ".join(raw.split()).casefold()
    if not tag or len(tag) > MAX_TAG_CHARS or not TAG.match(tag):
        raise ValueError("a tag is 1 to 64 letters, digits, spaces, ':', '.', '-' or '_'")
    return tag


def bot_tags(request: Mapping[str, Any] | None, refusal: str | None,
             snapshot: Mapping[str, Any] | None) -> list[str]:
    """What the bot knows when it opens a ticket: the action asked for, why it
    refused, and a parcel in trouble."""
    tags: list[str] = []
    if request and request.get("action"):
        tags.append(f"action:{request['action']}")
    if refusal:
        for reason in Reason:
            if reason is not Reason.OK and re.search(rf"(^|[\s;:(]){reason.value}\b", refusal):
                tags.append(f"refusal:{reason.value}")
    for package in (snapshot or {}).get("packages") or ():
        status = str(package.get("status") or "")
        if status in _WATCHED_PACKAGES and f"package:{status}" not in tags:
            tags.append(f"package:{status}")
    return tags


@dataclass(frozen=True, slots=True)
class PriorityRules:
    """`tag=priority` pairs; the highest priority whose tag the ticket has wins."""

    rules: dict[str, Priority] = field(default_factory=dict)

    @classmethod
    def parse(cls, spec: str) -> PriorityRules:
        rules: dict[str, Priority] = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            tag, sep, level = part.rpartition("=")
            if not sep or level.strip().casefold() not in Priority._value2member_map_:
                raise ValueError(f"cannot read priority rule {part!r}; write it like "
                                 "'refusal:window_closed=high' (urgent, high, normal or low)")
            rules[clean_tag(tag)] = Priority(level.strip().casefold())
        return cls(rules)

    def priority(self, tags: Iterable[str]) -> Priority:
        found = [self.rules[t] for t in tags if t in self.rules]
        return min(found, key=lambda p: p.rank) if found else Priority.NORMAL


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([mhd])$")
_UNIT = {"m": 60, "h": 3600, "d": 86400}


def _seconds(text: str) -> int:
    match = _DURATION.match(text.strip().casefold())
    if not match:
        raise ValueError(f"cannot read the duration {text!r}; write it like 30m, 4h or 2d")
    return int(float(match[1]) * _UNIT[match[2]])


@dataclass(frozen=True, slots=True)
class SlaTargets:
    """Seconds of business time to the first staff reply and to resolution."""

    first_response: dict[Priority, int]
    resolution: dict[Priority, int]

    DEFAULT = "urgent=1h/4h, high=4h/1d, normal=8h/3d, low=1d/5d"

    @classmethod
    def parse(cls, spec: str) -> SlaTargets:
        base = cls._read(cls.DEFAULT)
        first, resolution = dict(base.first_response), dict(base.resolution)
        if spec.strip():
            given = cls._read(spec)
            first.update(given.first_response)
            resolution.update(given.resolution)
        return cls(first, resolution)

    @classmethod
    def _read(cls, spec: str) -> SlaTargets:
        first: dict[Priority, int] = {}
        resolution: dict[Priority, int] = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            level, sep, times = part.partition("=")
            answer, slash, close = times.partition("/")
            if not sep or not slash or level.strip().casefold() not in Priority._value2member_map_:
                raise ValueError(f"cannot read SLA target {part!r}; write it like 'high=4h/1d'")
            priority = Priority(level.strip().casefold())
            first[priority], resolution[priority] = _seconds(answer), _seconds(close)
        return cls(first, resolution)


@dataclass(frozen=True, slots=True)
class DeskPolicy:
    """The merchant's desk settings, handed to the ticket store."""

    rules: PriorityRules = field(default_factory=PriorityRules)
    targets: SlaTargets = field(default_factory=lambda: SlaTargets.parse(""))
    hours: BusinessHours = field(
        default_factory=lambda: BusinessHours({}, ZoneInfo("UTC")))
    auto_assign: bool = False

    def due(self, opened: datetime, priority: Priority) -> tuple[datetime, datetime]:
        """When the first reply and the resolution are due, for a ticket opened then."""
        return (add_business_time(self.hours, opened, self.targets.first_response[priority]),
                add_business_time(self.hours, opened, self.targets.resolution[priority]))


def _open_spans(hours: BusinessHours, start: datetime, days: int) -> Iterable[
        tuple[datetime, datetime]]:
    """The shop's open spans (aware datetimes) from the day of `start` on."""
    local = start.astimezone(hours.zone)
    for offset in range(days):
        day = (local + timedelta(days=offset)).date()
        span = hours.spans.get(day.weekday())
        if span is not None:
            yield (datetime.combine(day, span[0], hours.zone),
                   datetime.combine(day, span[1], hours.zone))


def add_business_time(hours: BusinessHours, start: datetime, seconds: int) -> datetime:
    """`start` plus `seconds` of time the shop is open."""
    if hours.always_open:
        return start + timedelta(seconds=seconds)
    left = float(seconds)
    moment = start
    while True:  # a week at a time: every week has an open span
        for opens, closes in _open_spans(hours, moment, 8):
            begin = max(opens, moment)
            if begin >= closes:
                continue
            room = (closes - begin).total_seconds()
            if left <= room:
                return begin + timedelta(seconds=left)
            left -= room
            moment = closes


def business_seconds(hours: BusinessHours, start: datetime, end: datetime) -> float:
    """How much of [start, end] the shop was open (all of it when always open)."""
    if end <= start:
        return 0.0
    if hours.always_open:
        return (end - start).total_seconds()
    total = 0.0
    days = (end - start).days + 2
    for opens, closes in _open_spans(hours, start, days):
        begin, finish = max(opens, start), min(closes, end)
        if finish > begin:
            total += (finish - begin).total_seconds()
    return total
