"""Full-text search over tickets, one interface on two engines.

SQLite: an FTS5 table (`unicode61`: words of any script, case and diacritics
folded), a row per text. PostgreSQL: a row per ticket (its texts one a line, migration
0004) with a generated `tsvector` ('simple' configuration: no stemming, so Hindi,
Hinglish and order numbers are matched as typed) and a GIN index, so every word of
a search is one lookup on the same row: no heap read of each word's rows to find
their tickets.

Whatever staff type is a plain search: it is cut into words (letters, digits and
marks of any script), each word is quoted for FTS5 or handed to
`plainto_tsquery`, and the words are ANDed. Operators, quotes, brackets and
FTS syntax in the text are never interpreted, so no search text is an error or an
injection.

Two shapes of the same match, for the two sizes a search comes in (see
`conversation.tickets.TicketStore.page`):
- `newest_hits`: the tickets holding the words, newest first, at most a bound; read
  from the index (SQLite: the FTS doclist of the rarest word, backwards by rowid,
  which stops at the bound), so finding 1,001 of 92,000 matches costs a millisecond;
- `contains`: a correlated test of one ticket (a probe a word), for walking tickets
  in the list's own order while most of them match.
`matching` (every match as a set) is what a search falls back to.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import (
    Connection,
    Integer,
    Select,
    String,
    Subquery,
    and_,
    column,
    exists,
    func,
    literal,
    select,
    table,
    text,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

# SQLite: a search row's rowid is `ticket * 2**20 + n` (its n-th text), so a match
# names its ticket without a read: FTS5 keeps `ticket` (UNINDEXED) in another table,
# one lookup per matching row, 0.4 s for a word in nine tickets in ten of 100,000.
ROWS_PER_TICKET = 1 << 20
MAX_QUERY_WORDS = 12
FEW_ROWS = 50_000  # index rows of a search's words that are cheaper intersected than probed
MAX_TICKET_TEXT = 200_000  # PostgreSQL: characters a ticket's row takes (a tsvector < 1 MB)
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


def index_rows(conn: Connection, ticket: int, texts: Iterable[str | None], *,
               new: bool = False) -> None:
    """Make `texts` findable as part of `ticket` (call it inside the transaction that
    writes the ticket: on SQLite that holds the write lock the next rowid relies on).
    `new`: the ticket is being created in this transaction, so it has no rows yet."""
    rows: list[dict[str, object]] = [
        {"ticket": ticket, "body": body} for t in texts if t and (body := plain(t))]
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        conn.execute(_ADD_TO_TICKET, {"ticket": ticket, "limit": MAX_TICKET_TEXT,
                                      "body": "\n".join(str(row["body"]) for row in rows)})
        return
    first, last = rowids(ticket)
    if len(rows) == 1 and not new:  # a message: its rowid found by the insert itself
        conn.execute(_ADD_ONE, {**rows[0], "first": first, "last": last})
        return
    start = first
    if not new:
        used = conn.execute(_LAST_ROWID, {"first": first, "last": last}).scalar()
        start = first if used is None else int(used) + 1
    if start + len(rows) - 1 > last:  # a million texts on one ticket: keep what fits
        rows = rows[:max(0, last - start + 1)]
        if not rows:
            return
    for n, row in enumerate(rows):
        row["rowid"] = start + n
    conn.execute(_ADD_ROWS, rows)


# SQLite: a ticket's rows take the rowids of its own range (`rowids`), the next free
# one each; a range already full takes no more, so a write never fails for the
# index's sake.
_LAST_ROWID = text(
    "SELECT max(rowid) FROM ticket_search WHERE rowid BETWEEN :first AND :last")
_ADD_ROWS = text("INSERT INTO ticket_search (rowid, ticket, body) VALUES "
                 "(:rowid, :ticket, :body)")
_ADD_ONE = text(
    "INSERT INTO ticket_search (rowid, ticket, body) "
    "SELECT slot, :ticket, :body FROM (SELECT coalesce(max(rowid) + 1, :first) AS slot "
    "FROM ticket_search WHERE rowid BETWEEN :first AND :last) WHERE slot <= :last")

# PostgreSQL: a ticket's texts, one a line, on its one row; past `MAX_TICKET_TEXT`
# (a ticket of a thousand messages) later texts are not added, so a write never fails
# for the index's sake.
_ADD_TO_TICKET = text(
    "INSERT INTO ticket_search (ticket, body) VALUES (:ticket, :body) "
    "ON CONFLICT (ticket) DO UPDATE SET body = ticket_search.body || E'\\n' || excluded.body "
    "WHERE length(ticket_search.body) < :limit")


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
    word from its transcript): on SQLite the words are matched one by one and their
    tickets intersected; on PostgreSQL a ticket's one row holds them all. None when
    the query has no words at all (nothing to search for)."""
    found = words(query)
    if not found:
        return None
    if dialect != "sqlite":  # a ticket's one row holds all its words: one GIN lookup
        return (select(_INDEX.c.ticket)
                .where(*(_matches(dialect, _INDEX, word) for word in found)).subquery("found"))
    one = ("SELECT rowid / 1048576 AS ticket FROM ticket_search"  # ROWS_PER_TICKET
           " WHERE ticket_search MATCH :w{n}")
    params = {f"w{n}": '"' + w.replace('"', '""') + '"' for n, w in enumerate(found)}
    sql = " INTERSECT ".join(one.format(n=n) for n in range(len(found)))
    return text(sql).bindparams(**params).columns(ticket=Integer).subquery("found")


# The index as SQLAlchemy sees it (migration 0001 creates it by hand: an FTS5 table
# on SQLite, a table with a generated tsvector on PostgreSQL). `ticket_search` is
# FTS5's hidden column of the table's own name, the left side of MATCH.
_INDEX = table("ticket_search", column("rowid", Integer), column("ticket", Integer),
               column("ticket_search", String), column("body_tsv", String))


def _fts_phrase(word: str) -> str:
    return '"' + word.replace('"', '""') + '"'


def _matches(dialect: str, rows: Any, word: str) -> ColumnElement[bool]:
    """`rows` (an alias of the index) hold `word`. On PostgreSQL the word is written
    into the SQL (a quoted literal; `words` are letters and digits anyway), not bound:
    a prepared statement goes over to one generic plan for every word after five
    runs, and the plan that suits a rare word (read its rows, sort them) costs 75 ms
    for a word in nine tickets in ten, which wants a walk by ticket number (20 ms)."""
    if dialect == "sqlite":
        found: ColumnElement[bool] = rows.c.ticket_search.op(
            "MATCH", is_comparison=True)(literal(_fts_phrase(word), String))
    else:
        found = rows.c.body_tsv.op("@@", is_comparison=True)(
            func.plainto_tsquery("simple", literal(word, String, literal_execute=True)))
    return found


def _ticket_of(dialect: str, rows: Any) -> ColumnElement[int]:
    """The ticket an index row belongs to (SQLite: read from its rowid, no lookup)."""
    ticket: ColumnElement[int] = rows.c.ticket
    if dialect == "sqlite":
        ticket = rows.c.rowid.op("/", return_type=Integer)(ROWS_PER_TICKET)
    return ticket


def contains(dialect: str, found: list[str], number: ColumnElement[int]) -> ColumnElement[bool]:
    """Ticket `number` (a column of the outer query) holds every word of `found`: one
    probe of the index a word (SQLite: MATCH within the ticket's rowid range, which
    FTS5 seeks to); PostgreSQL: one probe of the ticket's row, by its key."""
    if dialect != "sqlite":
        rows = _INDEX.alias("probe")
        return exists(select(literal(1)).select_from(rows).where(
            rows.c.ticket == number, *(_matches(dialect, rows, word) for word in found)))
    probes: list[ColumnElement[bool]] = []
    for n, word in enumerate(found):
        rows = _INDEX.alias(f"probe{n}")
        mine: ColumnElement[bool]
        if dialect == "sqlite":
            first = number * ROWS_PER_TICKET
            mine = rows.c.rowid.between(first, first + (ROWS_PER_TICKET - 1))
        else:
            mine = rows.c.ticket == number
        probes.append(exists(select(literal(1)).select_from(rows)
                             .where(_matches(dialect, rows, word), mine)))
    return and_(*probes)


async def rarest_first(conn: AsyncConnection, found: list[str]) -> tuple[list[str], bool]:
    """The words, the one in fewest index rows first (the word a search is driven
    by), and whether they are all few enough (`FEW_ROWS` in all) to intersect whole
    (`matching`) rather than probe one by one: a probe costs some 30 µs, a row of an
    intersection well under one. Each word is counted up to `FEW_ROWS` (a read of its
    FTS doclist that stops there). SQLite only: PostgreSQL's planner knows each
    word's frequency from its statistics."""
    if conn.dialect.name != "sqlite" or len(found) < 2:
        return found, False
    counts = []
    for word in found:
        rows = _INDEX.alias("counted")
        some = (select(literal(1)).select_from(rows).where(_matches("sqlite", rows, word))
                .limit(FEW_ROWS + 1).subquery())
        counts.append(int((await conn.execute(
            select(func.count()).select_from(some))).scalar_one()))
    ordered = [word for _, _, word in sorted(zip(counts, range(len(found)), found,
                                                 strict=True))]
    return ordered, sum(counts) <= FEW_ROWS


def newest_hits(dialect: str, found: list[str], listed: Callable[..., Any],
                number: ColumnElement[int], conditions: list[Any], bound: int,
                few: bool = False) -> Select[Any]:
    """The numbers of the tickets (`listed()`: the tickets table and what it is joined
    to; `listed(rows, on)`: the same after `rows` JOIN tickets ON `on`) that
    meet `conditions` and hold every word of `found` (rarest first), the highest
    numbers first, at most `bound` of them: what a search counts before it says
    "1,000+". SQLite reads the first word's doclist backwards by rowid (FTS5 does that
    without sorting) and stops at the bound; PostgreSQL looks all the words up at
    once on the tickets' rows (or walks the tickets by number when the words are
    common, as its statistics say). `few` (see `rarest_first`): SQLite intersects the words' tickets
    whole, then sorts."""
    if few:
        every = matching(dialect, " ".join(found))
        assert every is not None
        return (select(number).select_from(listed())
                .where(*conditions, number.in_(select(every.c.ticket)))
                .order_by(number.desc()).limit(bound))
    rows = _INDEX.alias("hit")
    if dialect != "sqlite":  # the words' tickets from the GIN index, one row each
        return (select(number).select_from(listed(rows, number == rows.c.ticket))
                .where(*(_matches(dialect, rows, word) for word in found), *conditions)
                .order_by(number.desc()).limit(bound))
    return (select(number).distinct()
            .select_from(listed(rows, number == _ticket_of(dialect, rows)))
            .where(_matches(dialect, rows, found[0]), *conditions,
                   *([contains(dialect, found[1:], number)] if found[1:] else []))
            .order_by(rows.c.rowid.desc()).limit(bound))
