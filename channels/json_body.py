"""Reading a JSON body that came from outside: JSON, and text we can keep.

Two things `json.loads` lets through that fail later, as a 500, unless caught here:
- nesting deeper than Python's recursion limit (`[[[[...` a few thousand deep, a
  few KB) raises `RecursionError`, which is not a `ValueError`;
- a lone surrogate escape (`"\\ud800"`) is valid JSON syntax but no text: it
  decodes to a `str` that cannot be encoded as UTF-8, so storing it (Redis),
  signing it or answering with it fails.

Both are `NotJson` here, so every caller answers them as the malformed body it
already answers for broken JSON. The surrogate check only runs when the body holds
a `\\u` escape at all, so an ordinary body costs one byte search.

(The carriers' parsers in `orders/` read their bodies themselves: they reject bad
text event by event, not the whole batch.)
"""

from __future__ import annotations

import json
from typing import Any


class NotJson(ValueError):
    """Not JSON, nested too deeply, or text that is not valid Unicode; `str()` is
    safe to show the client."""


def loads(body: bytes) -> Any:
    try:
        data = json.loads(body)
    except RecursionError as exc:
        raise NotJson("the body is nested too deeply") from exc
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise NotJson("the body is not JSON") from exc
    if b"\\u" in body and not is_text(data):
        raise NotJson("the body holds text that is not valid Unicode (a lone surrogate)")
    return data


def is_text(data: Any) -> bool:
    """True when every string in `data` (keys included) can be encoded as UTF-8."""
    try:
        json.dumps(data, ensure_ascii=False).encode()
    except (UnicodeEncodeError, RecursionError):
        return False
    return True


def well_formed(text: str) -> bool:
    """True when `text` has no lone surrogate (it can be encoded as UTF-8)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True
