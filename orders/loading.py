"""Reading the demo shop's JSON file, with its dates moved up to today.

The sample is written as of one day (`as_of`). Loading shifts every date and
datetime in it by the whole number of days between that day and today, so an
order "delivered 30 days ago" is always on the last day of its return window.
Whole days keep times of day (and so local dates) as written. "Today" is
`now.date()` in `now`'s own timezone: pass `now` in the shop's timezone.
"""

from __future__ import annotations

import contextlib
import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .models import Order, OrderFile

DEMO_ORDERS_FILE = Path(__file__).parent / "data" / "demo_orders.json"
"""The sample that ships with the code (the default `ORDERS_FILE`)."""


class OrderFileError(ValueError):
    """The orders file is missing, not JSON, or does not match the model; the
    message names the file and each offending field."""


def load_order_file(path: Path | str, now: datetime) -> list[Order]:
    """Validate the file at `path` and return its orders shifted to `now`."""
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise OrderFileError(f"{path}: cannot read the orders file ({exc.strerror})") from exc
    try:
        order_file = OrderFile.model_validate_json(raw)
    except ValidationError as exc:
        raise OrderFileError(_describe(path, raw, exc)) from exc
    if order_file.as_of is None:
        return list(order_file.orders)
    shift = timedelta(days=(now.date() - order_file.as_of.date()).days)
    if not shift:
        return list(order_file.orders)
    return [shift_order(order, shift) for order in order_file.orders]


def shift_order(order: Order, shift: timedelta) -> Order:
    """`order` with every date and datetime moved by `shift`."""
    return Order.model_validate(_shifted(order.model_dump(), shift))


def _shifted(value: Any, shift: timedelta) -> Any:
    # datetime is a subclass of date: both move by the same whole days.
    if isinstance(value, date):
        return value + shift
    if isinstance(value, dict):
        return {k: _shifted(v, shift) for k, v in value.items()}
    if isinstance(value, list):
        return [_shifted(v, shift) for v in value]
    return value


def _describe(path: Path, raw: str, exc: ValidationError) -> str:
    """One line per error: the field's path, with the order number where known."""
    try:
        orders = json.loads(raw).get("orders")
    except (ValueError, AttributeError):
        orders = None
    lines = [f"{path}: {exc.error_count()} problem(s) in the orders file"]
    for error in exc.errors(include_url=False):
        loc = list(error["loc"])
        where = ".".join(str(part) for part in loc) or "(top level)"
        if len(loc) > 1 and loc[0] == "orders" and isinstance(loc[1], int):
            with contextlib.suppress(TypeError, KeyError, IndexError):
                where += f" (order {orders[loc[1]]['number']})"
        lines.append(f"  {where}: {error['msg']}")
    return "\n".join(lines)
