"""Paging the ticket list and a search by cursor (`Page.next` / `Page.previous`):
every ticket once, newest activity first, also when tickets change between two
pages. Runs on SQLite, and on PostgreSQL with TEST_DATABASE_URL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from conversation.paging import BadCursor, Cursor
from conversation.tickets import Page, Ticket, TicketStatus, TicketStore

AT = datetime(2026, 11, 17, 5, 30, tzinfo=UTC)


def ticket(n: int, said: str, minute: int | None = None) -> Ticket:
    at = AT + timedelta(minutes=n if minute is None else minute)
    return Ticket.model_validate({
        "id": "", "kind": "handoff", "channel": "web", "conversation": f"web:{n}",
        "created_at": at, "updated_at": at, "issue": said,
        "transcript": [{"who": "shopper", "text": said, "at": at.isoformat()}]})


async def _all_by_cursor(tickets: TicketStore, between: object = None,
                         **wanted: object) -> tuple[list[str], list[Page]]:
    """Every page from the first, each from the last one's `next`."""
    pages = [await tickets.page(**wanted)]  # type: ignore[arg-type]
    while pages[-1].next is not None:
        if callable(between):
            await between(len(pages))
        pages.append(await tickets.page(cursor=pages[-1].next, **wanted))  # type: ignore[arg-type]
    return [t.id for p in pages for t in p.tickets], pages


async def test_a_list_paged_by_cursor_shows_every_ticket_once_and_back_again(
    tickets: TicketStore,
) -> None:
    made = [await tickets.create(ticket(n, "my lamp is broken", minute=n // 3))
            for n in range(11)]  # three tickets share each minute: ties by number
    newest_first = [t.id for t in sorted(made, key=lambda t: (t.updated_at, t.number),
                                         reverse=True)]

    ids, pages = await _all_by_cursor(tickets, statuses=[TicketStatus.OPEN], page_size=3)
    back = [await tickets.page(statuses=[TicketStatus.OPEN], page_size=3,
                               cursor=p.previous) for p in pages[1:]]

    assert ids == newest_first
    assert [len(p.tickets) for p in pages] == [3, 3, 3, 2]
    assert [p.more for p in pages] == [True, True, True, False]
    assert [p.page for p in pages] == [1, 2, 2, 2]  # labels: the store knows no number
    assert pages[0].previous is None and all(p.previous for p in pages[1:])
    assert [[t.id for t in b.tickets] for b in back] == [
        [t.id for t in p.tickets] for p in pages[:-1]]  # "Newer" gives the page before
    assert back[0].previous is None  # ... and the first page is the first page


async def test_a_capped_search_paged_by_cursor_shows_every_match_once(
    tickets: TicketStore,
) -> None:
    shawls = [await tickets.create(ticket(n, "my pashmina shawl is torn")) for n in range(3)]
    said = ["refund please", "where is my parcel", "refund my order"]
    made = [await tickets.create(ticket(n, said[n % 3])) for n in range(3, 33)]
    refunds = [t.id for t in reversed(made) if "refund" in (t.issue or "")]

    ids, pages = await _all_by_cursor(tickets, query="refund", count_cap=4, page_size=3)
    two_words, _ = await _all_by_cursor(tickets, query="order refund", count_cap=1,
                                        page_size=2)
    old_news, _ = await _all_by_cursor(tickets, query="pashmina", count_cap=1,
                                       page_size=1)  # past the walk's window: every match

    assert ids == refunds
    assert all(p.capped and p.total == 4 for p in pages)
    assert two_words == [t.id for t in reversed(made) if t.issue == "refund my order"]
    assert old_news == [t.id for t in reversed(shawls)]


async def test_changes_between_pages_show_no_ticket_twice(tickets: TicketStore) -> None:
    made = [await tickets.create(ticket(n, "my lamp is broken")) for n in range(10)]
    later = AT + timedelta(hours=1)

    async def meanwhile(pages_read: int) -> None:
        """After page 1, a ticket already shown and one not yet reached get replies."""
        if pages_read == 1:
            await tickets.add_message(made[9].id, "shopper", "any news?", later)
            await tickets.add_message(made[2].id, "shopper", "hello?", later)

    ids, _ = await _all_by_cursor(tickets, between=meanwhile, statuses=[TicketStatus.OPEN],
                                  page_size=3)
    again, _ = await _all_by_cursor(tickets, statuses=[TicketStatus.OPEN], page_size=3)

    # Tickets that moved to the top are behind the cursor: the one already shown is not
    # shown again, the one not yet reached is on the new first page, not in this walk.
    assert ids == [made[n].id for n in (9, 8, 7, 6, 5, 4, 3, 1, 0)]
    assert again[:2] == [made[9].id, made[2].id]  # the same moment: by number
    assert sorted(again) == sorted(t.id for t in made)


async def test_a_cursor_is_a_token_and_a_bad_one_is_refused() -> None:
    place = Cursor(AT + timedelta(microseconds=7), 1042)

    assert Cursor.parse(place.token()) == place
    assert Cursor.parse(place.token(), older=False) == Cursor(place.updated_at, 1042, False)
    for bad in ("", "abc", "not a token!", place.token()[:-2] + "!!", "MTIzNDU2", "A" * 41,
                "LTEuNQ", "OTk5OTk5OTk5OTk5OTk5OTk5LjE", "MTIzLjA"):
        with pytest.raises(BadCursor):
            Cursor.parse(bad)
