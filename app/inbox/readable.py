"""Tickets in the words the shopper and staff use, not the bot's codes.

The transcript keeps a tapped button as its payload (`[i:2]`, `[r:DAMAGED]`), an
action request keeps codes (`line_id`, `DAMAGED`), and an order keeps numbers
(`2147.00`, `INR`). Here they become what the shopper saw ("Cotton kurta × 1",
"Arrived damaged", in the shopper's language, from the same catalogue the bot
rendered them with) and what staff read ("₹2,147.00", "delivered on 3 Dec").
Nothing is stored: the codes stay the record, the words are made when shown.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from conversation.catalogue import Catalogue, MissingText, T, Text
from conversation.photos import SKIP as SKIP_PHOTO
from orders.policy import Policy

STAFF_LANGUAGE = "en"
TAPPED = re.compile(r"^\[([^\[\]\s]{1,120})\]$")
_NOT_BUTTONS = frozenset({"media", "location", "attachment"})
_PLAIN = {"agent": T("menu.agent"), "menu": T("button.menu"), "yes": T("button.yes"),
          "no": T("button.no"), "stop": T("notify.stop_button"),
          SKIP_PHOTO: T("button.skip_photo")}
_ACTION_WORDS = {"cancel": "Cancel the order", "return": "Return", "replace": "Replacement",
                 "delivery": "Change of delivery", "refund": "Refund", "track": "Tracking",
                 "exchange": "Exchange for another size or colour"}


def _exchange_words(request: dict[str, Any]) -> str:
    """"; for: Indigo, L (₹200.00 more to pay)": what an exchange asks for."""
    if not request.get("variant_id"):
        return ""
    words = f"; for: {request.get('variant') or request['variant_id']}"
    difference = str(request.get("price_difference") or "0")
    if difference.startswith("-"):
        return words + f" ({difference.lstrip('-')} less, to refund)"
    return words + (f" ({difference} more, to collect)" if difference.strip("0.") else "")


def _items(snapshot: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    return {str(i.get("line_id")): i for i in (snapshot or {}).get("items") or ()}


class Readable:
    def __init__(self, catalogue: Catalogue, policy: Policy) -> None:
        self._catalogue = catalogue
        self._policy = policy

    def _say(self, language: str, text: Text) -> str | None:
        try:
            return self._catalogue.render(language, text)
        except (MissingText, KeyError, ValueError, IndexError):
            return None

    # ---- the transcript --------------------------------------------------------------

    def tapped(self, line_text: str, locale: str,
               snapshot: dict[str, Any] | None) -> tuple[str, str] | None:
        """(label, payload) when the line is a tapped button, else None."""
        match = TAPPED.match(line_text.strip())
        if not match or match[1] in _NOT_BUTTONS:
            return None
        payload = match[1]
        label = self.label(payload, locale, snapshot)
        return (label, payload) if label else None

    def label(self, payload: str, locale: str, snapshot: dict[str, Any] | None) -> str | None:
        """The button's label as the shopper saw it, from its payload."""
        if payload in _PLAIN:
            return self._say(locale, _PLAIN[payload])
        head, _, rest = payload.partition(":")
        text: Text | None = None
        match head:
            case "m":
                text = T(f"menu.{rest}")
            case "a":
                text = T(f"menu.{rest.partition(':')[0]}")
            case "o":
                text = T("order.button", number=rest)
            case "n":
                text = T("button.keep_posted")
            case "i":
                item = _items(snapshot).get(rest)
                if item is None:
                    return f"item {rest}"
                text = T("item.button", name=item.get("name", ""),
                         quantity=item.get("quantity", ""))
            case "q":
                text = T("quantity.button", n=rest)
            case "r":
                text = T(f"return_reason.{rest}")
            case "rr":
                text = T(f"rr.{rest}")
            case "d":
                text = T(f"delivery.{rest}")
            case "dt":
                try:
                    text = T("delivery.date_button", date=date.fromisoformat(rest))
                except ValueError:
                    return None
            case "rate":
                text = T("rate.button", score=rest)
        return self._say(locale, text) if text is not None else None

    # ---- an action request -----------------------------------------------------------

    def request_words(self, request: dict[str, Any], snapshot: dict[str, Any] | None) -> str:
        """"Return of Cotton kurta × 1 (order #100234), because: Arrived damaged"."""
        action = str(request.get("action", ""))
        words = _ACTION_WORDS.get(action, action.replace("_", " ").capitalize())
        line = request.get("line_id")
        if line is not None:
            item = _items(snapshot).get(str(line))
            name = item.get("name") if item else f"item {line}"
            words += f" of {name}"
            if request.get("quantity"):
                words += f" × {request['quantity']}"
        words += f" (order #{request.get('number', '')})"
        if request.get("reason"):
            reason = self._say(STAFF_LANGUAGE, T(f"return_reason.{request['reason']}"))
            words += f", because: {reason or str(request['reason']).replace('_', ' ').lower()}"
        if request.get("address"):
            words += f"; new address: {request['address']}"
        if request.get("delivery_date"):
            words += f"; new date: {_day(request['delivery_date'])}"
        return words + _exchange_words(request)

    # ---- a refusal -------------------------------------------------------------------

    def refusal_words(self, refusal: str, snapshot: dict[str, Any] | None) -> str | None:
        """`window_closed: window_days=30; …` (or one such per item, `2: code (facts)`)
        as the bot's own sentence in English; None when it cannot be read."""
        parts = []
        for piece in re.split(r";\s(?=[^=;()]+:\s)", refusal) if "(" in refusal else [refusal]:
            item = None
            match = re.match(r"^(?P<line>[^:()]+):\s(?P<code>\w+)\s\((?P<facts>.*)\)$", piece)
            if match:
                item = _items(snapshot).get(match["line"].strip(), {}).get("name") \
                    or f"item {match['line'].strip()}"
            else:
                match = re.match(r"^(?P<code>\w+):\s?(?P<facts>.*)$", piece)
            if not match:
                return None
            facts = dict(pair.split("=", 1) for pair in match["facts"].split("; ")
                         if "=" in pair)
            said = self._say(STAFF_LANGUAGE, T(f"reason.{match['code']}", **facts))
            if said is None:
                return None
            parts.append(f"{item}: {said}" if item else said)
        return " ".join(p[:1].upper() + p[1:] for p in parts)

    # ---- the order -------------------------------------------------------------------

    def money(self, amount: Any, currency: str) -> str:
        try:
            return self._policy.money(Decimal(str(amount)), currency)
        except (InvalidOperation, ValueError):
            return f"{amount} {currency}"

    def order(self, order: dict[str, Any]) -> dict[str, Any]:
        """The order with `total_words` and each package's `state_words`."""
        currency = str(order.get("currency") or "")
        payment = order.get("payment") or {}
        packages = []
        for package in order.get("packages") or ():
            status = str(package.get("status") or "")
            if package.get("delivered_at"):
                when = f"delivered {_day(package['delivered_at'])}"
            elif status in ("delivered", "returned_to_origin", "lost", "ready_for_pickup"):
                when = ""
            elif package.get("estimated_delivery"):
                when = f"expected {_day(package['estimated_delivery'])}"
            else:
                when = ""
            packages.append({**package, "state_words": when})
        return {**order, "packages": packages,
                "total_words": self.money(payment.get("amount", "0"), currency)}


def _day(value: Any) -> str:
    """`2026-12-03` or an ISO moment, as `3 Dec 2026`."""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    return f"{moment.day} {moment:%b %Y}"
