"""A place in the ticket list for the next page to start from (keyset pagination).

The list is ordered by last activity, newest first, ties broken by ticket number:
`(updated_at, number)` is unique, so "the tickets older than this one" names the next
page exactly, and the database reads it from the index where the last page ended. A
page number instead makes the database read and skip every ticket before the page
(page 20 of a search for a word in nine tickets in ten tests 1,000 tickets for the
word), and shows a ticket twice, or skips one, when a ticket's activity moves it
between two page loads.

A cursor goes out as an opaque token (`Cursor.token`): URL-safe base64 of the
ticket's activity time in microseconds and its number. It is a position, not a
permission: the filters and the login are applied again on every page, so a made-up
token can only name a place in the list its holder may read anyway. A token that
does not decode to one is refused (`BadCursor`, answered 400).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TOKEN = re.compile(r"[A-Za-z0-9_-]{4,40}")
_BODY = re.compile(r"(\d{1,17})\.(\d{1,10})")  # microseconds since 1970, ticket number
MAX_NUMBER = 2**31 - 1  # the ticket numbers' column is a 32-bit integer on PostgreSQL
LATEST = datetime(9999, 12, 31, tzinfo=UTC)


class BadCursor(ValueError):
    """A `before`/`after` token that is not one this app gave out."""


@dataclass(frozen=True, slots=True)
class Cursor:
    """The ticket a page continues from; `older`: the page after it (older activity),
    else the page before it (newer)."""

    updated_at: datetime
    number: int
    older: bool = True

    def token(self) -> str:
        micros = (self.updated_at - _EPOCH) // timedelta(microseconds=1)
        raw = f"{micros}.{self.number}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def parse(cls, token: str, *, older: bool = True) -> Cursor:
        """The cursor a `token` names; BadCursor for anything else."""
        if not _TOKEN.fullmatch(token):
            raise BadCursor("not a page token from this list (use the `next` or "
                            "`previous` value of an answer)")
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise BadCursor("the page token is damaged (copy it whole)") from None
        found = _BODY.fullmatch(raw)
        if found is None or not 0 < int(found.group(2)) <= MAX_NUMBER:
            raise BadCursor("the page token is damaged (copy it whole)")
        micros = int(found.group(1))
        at = _EPOCH + timedelta(microseconds=micros)
        if at > LATEST:
            raise BadCursor("the page token is damaged (copy it whole)")
        return cls(at, int(found.group(2)), older)
