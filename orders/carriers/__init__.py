"""Carrier webhooks, one module per carrier: verify the request, then parse it.

Each carrier module has `parse(headers, body, secret, *, now) -> list[...]`:
pure (no I/O), given the raw body bytes exactly as they arrived, because every
signature is over those bytes. It verifies first and reads the body only once
the request is proven to come from the carrier.

Errors:
    CarrierError
      ├── Forged      no, a wrong or a stale signature/token: answer 401, change nothing
      └── Malformed   signed, but not a body we understand: answer 422 with the message

A format that carries several events in one request (the generic one) judges each
on its own: an event it cannot read becomes a `Rejected` (its index and why) in the
list, and the others are applied, so one bad event never blocks a batch. Text that
is not valid Unicode (a lone surrogate such as `"\ud800"`, which JSON allows) is
such a problem: it could not be stored or shown.

Statuses map to our `PackageStatus` through one table per carrier. A status
that is not in the table becomes `status=None` with the carrier's words in
`carrier_status`: kept and shown to the shopper verbatim, never dropped.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict

MAX_BODY_BYTES = 256 * 1024
"""A carrier's event is a few KB; AfterShip's with a long checkpoint history stays
well under this."""


class CarrierError(Exception):
    pass


class Forged(CarrierError):
    """The request does not prove it comes from the carrier."""


class Malformed(CarrierError):
    """The request is the carrier's, but its body is not one we understand."""


@dataclass(frozen=True, slots=True)
class Rejected:
    """One event of a request that can never be applied; `reason` is safe to show
    the sender (it names fields, never echoes their values)."""

    index: int
    reason: str


class RefundCompleted(BaseModel):
    """The shop (through the generic format) says a refund reached the shopper."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    provider: str
    event_id: str
    order_number: str
    refund_id: str
    at: datetime


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by name, whatever its case (Starlette's headers already are;
    a plain dict in a test or a script need not be)."""
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)


def digest(provider: str, *parts: object) -> str:
    """An event id for a carrier that gives none: SHA-256 of the canonical event,
    so the same event posted twice gets the same id."""
    canonical = json.dumps([provider, *[_plain(p) for p in parts]], separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def _plain(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def load_json(body: bytes) -> object:
    try:
        return json.loads(body)
    except RecursionError as exc:
        raise Malformed("the body is nested too deeply") from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise Malformed("the body is not JSON") from exc


def text(value: object, field: str, *, required: bool = False) -> str | None:
    """A string field; carriers send ids as numbers too (Shiprocket's awb)."""
    if value is None or value == "":
        if required:
            raise Malformed(f"`{field}` is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise Malformed(f"`{field}` must be a string")
    if isinstance(value, str) and not well_formed(value):
        raise Malformed(f"`{field}` is not valid Unicode text")
    return str(value).strip() or None


def well_formed(value: str) -> bool:
    """No lone surrogate: the text can be encoded as UTF-8."""
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def shown(name: str) -> str:
    """A field name the sender chose, safe to put in an answer (lone surrogates
    escaped)."""
    return name.encode("utf-8", "backslashreplace").decode()


def order_number(value: object, field: str) -> str | None:
    number = text(value, field)
    return number.removeprefix("#").strip() or None if number else None
