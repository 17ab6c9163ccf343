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

from sqlalchemy import Integer, Subquery, text
from sqlalchemy.ext.asyncio import AsyncConnection

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


async def index(conn: AsyncConnection, ticket: int, texts: Iterable[str | None]) -> None:
    """Make `texts` findable as part of `ticket`."""
    rows = [{"ticket": ticket, "body": body} for t in texts if t and (body := plain(t))]
    if rows:
        await conn.execute(text("INSERT INTO ticket_search (ticket, body) VALUES "
                                "(:ticket, :body)"), rows)


async def forget(conn: AsyncConnection, ticket: int) -> None:
    await conn.execute(text("DELETE FROM ticket_search WHERE ticket = :ticket"),
                       {"ticket": ticket})


def matching(dialect: str, query: str) -> Subquery | None:
    """The ticket numbers whose text holds every word of `query` (column `ticket`);
    None when the query has no words at all (nothing to search for)."""
    found = words(query)
    if not found:
        return None
    if dialect == "sqlite":
        sql = "SELECT DISTINCT ticket FROM ticket_search WHERE ticket_search MATCH :fts"
        fts = " ".join('"' + w.replace('"', '""') + '"' for w in found)
    else:
        sql = ("SELECT DISTINCT ticket FROM ticket_search"
               " WHERE body_tsv @@ plainto_tsquery('simple', :fts)")
        fts = " ".join(found)
    return text(sql).bindparams(fts=fts).columns(ticket=Integer).subquery("found")
