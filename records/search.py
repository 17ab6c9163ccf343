"""Full-text search over tickets, one interface on two engines.

SQLite: an FTS5 table (`unicode61`: words of any script, case and diacritics
folded). PostgreSQL: a generated `tsvector` ('simple' configuration: no stemming,
so Hindi, Hinglish and order numbers are matched as typed) with a GIN index.

Whatever staff type is a plain search: it is cut into words (letters, digits and
marks of any script), each word is quoted for FTS5 or handed to
`plainto_tsquery`, and the words are ANDed. Operators, quotes, brackets and
FTS syntax in the text are never interpreted, so no search text is an error or an
injection.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import Connection, Integer, Subquery, text
from sqlalchemy.ext.asyncio import AsyncConnection

# SQLite: a search row's rowid is `ticket * 2**20 + n` (its n-th text), so a match
# names its ticket without a read: FTS5 keeps `ticket` (UNINDEXED) in another table,
# one lookup per matching row, 0.4 s for a word in nine tickets in ten of 100,000.
ROWS_PER_TICKET = 1 << 20
MAX_QUERY_WORDS = 12
MAX_WORD_CHARS = 64
WORD = re.compile(r"[\w\u0900-\u097F]+", re.UNICODE)  # \w misses Devanagari's vowel signs


def words(query: str) -> list[str]:
    """The words of a search, in order, without duplicates; never FTS syntax."""
    seen: list[str] = []
    for word in WORD.findall(storable(query).casefold()):
        word = word[:MAX_WORD_CHARS].strip("_")
        if word and word not in seen:
            seen.append(word)
    return seen[:MAX_QUERY_WORDS]


def storable(value: str) -> str:
    """Text both engines can keep: no NUL (PostgreSQL refuses it) and no lone
    surrogate (not encodable as UTF-8), each replaced by U+FFFD."""
    if value.isascii() and "\x00" not in value:
        return value
    return "".join("\ufffd" if c == "\x00" or "\ud800" <= c <= "\udfff" else c
                   for c in value)


def plain(value: str) -> str:
    """The text as the index keeps it: its words, casefolded, one space apart (so an
    email or a phone number is found by its parts on both engines alike)."""
    return " ".join(WORD.findall(value.casefold()))


def rowids(ticket: int) -> tuple[int, int]:
    """The first and last rowid of `ticket`'s search rows on SQLite."""
    first = ticket * ROWS_PER_TICKET
    return first, first + ROWS_PER_TICKET - 1


async def index(conn: AsyncConnection, ticket: int, texts: Iterable[str | None]) -> None:
    """`index_rows` for code on an async connection."""
    await conn.run_sync(index_rows, ticket, list(texts))


def index_rows(conn: Connection, ticket: int, texts: Iterable[str | None]) -> None:
    """Make `texts` findable as part of `ticket` (call it inside the transaction that
    writes the ticket: on SQLite that holds the write lock the next rowid relies on)."""
    rows: list[dict[str, object]] = [
        {"ticket": ticket, "body": body} for t in texts if t and (body := plain(t))]
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        conn.execute(text("INSERT INTO ticket_search (ticket, body) VALUES "
                          "(:ticket, :body)"), rows)
        return
    first, last = rowids(ticket)
    used = conn.execute(text(
        "SELECT max(rowid) FROM ticket_search WHERE rowid BETWEEN :first AND :last"),
        {"first": first, "last": last}).scalar()
    start = first if used is None else int(used) + 1
    if start + len(rows) - 1 > last:  # a million texts on one ticket: keep what fits
        rows = rows[:max(0, last - start + 1)]
        if not rows:
            return
    for n, row in enumerate(rows):
        row["rowid"] = start + n
    conn.execute(text("INSERT INTO ticket_search (rowid, ticket, body) VALUES "
                      "(:rowid, :ticket, :body)"), rows)


async def forget(conn: AsyncConnection, ticket: int) -> None:
    if conn.dialect.name == "sqlite":
        first, last = rowids(ticket)
        await conn.execute(text("DELETE FROM ticket_search WHERE rowid BETWEEN :first AND "
                                ":last"), {"first": first, "last": last})
        return
    await conn.execute(text("DELETE FROM ticket_search WHERE ticket = :ticket"),
                       {"ticket": ticket})


def matching(dialect: str, query: str) -> Subquery | None:
    """The ticket numbers whose texts hold every word of `query` (column `ticket`):
    each word may come from any text of the ticket (the name from its header, a
    word from its transcript), so the words are matched one by one and the tickets
    intersected. None when the query has no words at all (nothing to search for)."""
    found = words(query)
    if not found:
        return None
    if dialect == "sqlite":
        one = ("SELECT rowid / 1048576 AS ticket FROM ticket_search"  # ROWS_PER_TICKET
               " WHERE ticket_search MATCH :w{n}")
        params = {f"w{n}": '"' + w.replace('"', '""') + '"' for n, w in enumerate(found)}
    else:
        one = ("SELECT ticket FROM ticket_search"
               " WHERE body_tsv @@ plainto_tsquery('simple', :w{n})")
        params = {f"w{n}": w for n, w in enumerate(found)}
    sql = " INTERSECT ".join(one.format(n=n) for n in range(len(found)))
    return text(sql).bindparams(**params).columns(ticket=Integer).subquery("found")
