"""Cutting a long text into messages a provider accepts.

Telegram (4096) and Twilio (1600) both count message length in UTF-16 code units
the way their clients do, so an emoji counts as two: measuring Python code points
would let a message full of emoji or Devanagari marks slip over the limit and be
refused. Cuts prefer a line break, then a space, so a sentence or a list line is
not broken in the middle unless it alone is longer than the limit.
"""

from __future__ import annotations


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _fitting_prefix(text: str, limit: int) -> int:
    """How many code points of `text` fit into `limit` UTF-16 units."""
    used = 0
    for index, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > limit:
            return index
    return len(text)


def split_text(text: str, limit: int) -> list[str]:
    """`text` in pieces of at most `limit` UTF-16 units, in order; never an empty piece
    unless `text` itself is empty."""
    if limit < 2:
        raise ValueError("limit must leave room for one character")
    pieces: list[str] = []
    rest = text
    while utf16_len(rest) > limit:
        end = _fitting_prefix(rest, limit)
        head = rest[:end]
        cut = head.rfind("\n")
        if cut <= 0:
            cut = head.rfind(" ")
        if cut <= 0:
            cut = end
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip("\n ")
    if rest or not pieces:
        pieces.append(rest)
    return [piece for piece in pieces if piece] or [""]
