"""Searching tickets finds each one by every way staff look for it, through the
store's `page(query=…)`, on whichever engine the run uses (SQLite, or
TEST_DATABASE_URL): words of the transcript and of later replies (SQLite numbers
each ticket's index rows; a later message must continue them), email, phone,
order number and ticket id, alone or with a status filter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from conversation.tickets import Ticket, TicketStatus, TicketStore
from records import search

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def _ticket(n: int, said: str, **fields: object) -> Ticket:
    at = NOW + timedelta(minutes=n)
    return Ticket.model_validate({
        "id": "", "kind": "handoff", "channel": "whatsapp", "conversation": f"wa:{n}",
        "created_at": at, "updated_at": at,
        "transcript": [{"who": "shopper", "text": said, "at": at.isoformat()},
                       {"who": "bot", "text": "I have passed this on.", "at": at.isoformat()}],
        **fields})


async def _found(tickets: TicketStore, query: str, **filters: object) -> list[str]:
    return [t.id for t in (await tickets.page(query=query, **filters)).tickets]  # type: ignore[arg-type]


async def test_each_ticket_is_found_by_its_words_contacts_order_and_id(
    tickets: TicketStore,
) -> None:
    kurta = await tickets.create(_ticket(1, "मेरा kurta फटा हुआ aaya", order="5000001",
                                         contact_phone="+919812345678"))
    saree = await tickets.create(_ticket(2, "saree abhi tak nahi aaya", order="5000002",
                                         contact_email="priya.sharma@example.com"))
    await tickets.add_message(kurta.id, "staff", "Replacement tanpura ships tomorrow",
                              NOW + timedelta(hours=1), author="asha@shop.example")
    await tickets.add_message(kurta.id, "shopper", "dhanyavaad", NOW + timedelta(hours=2))

    assert await _found(tickets, "kurta") == [kurta.id]
    assert await _found(tickets, "फटा") == [kurta.id]
    assert await _found(tickets, "tanpura") == [kurta.id]  # a reply after it opened
    assert await _found(tickets, "dhanyavaad") == [kurta.id]
    assert await _found(tickets, "SAREE aaya") == [saree.id]
    assert await _found(tickets, "priya.sharma@example.com") == [saree.id]
    assert await _found(tickets, "98123 45678") == [kurta.id]
    assert await _found(tickets, "#5000002") == [saree.id]
    assert await _found(tickets, saree.id.lower()) == [saree.id]
    assert await _found(tickets, "aaya") == [kurta.id, saree.id]  # latest activity first
    assert await _found(tickets, "lehenga") == []
    assert await _found(tickets, 'kurta" OR "saree') == []  # words ANDed, no FTS syntax


async def test_a_search_within_a_status_counts_only_that_status(tickets: TicketStore) -> None:
    first = await tickets.create(_ticket(1, "refund for my order please"))
    second = await tickets.create(_ticket(2, "where is my refund"))
    await tickets.mark_resolved(first.id, NOW + timedelta(hours=1))

    found = await tickets.page(query="refund", statuses=[TicketStatus.OPEN])

    assert [t.id for t in found.tickets] == [second.id]
    assert found.total == 1
    assert (await tickets.page(query="refund")).total == 2


async def test_forgetting_a_ticket_leaves_the_others_findable(tickets: TicketStore) -> None:
    first = await tickets.create(_ticket(1, "the pressure cooker leaks"))
    second = await tickets.create(_ticket(2, "my pressure cooker is late"))

    async with tickets.database.begin() as conn:
        await search.forget(conn, first.number)
        rows = (await conn.execute(text("SELECT count(*) FROM ticket_search"))).scalar_one()

    assert await _found(tickets, "pressure cooker") == [second.id]
    assert rows > 0


async def test_a_search_past_its_count_cap_says_so_and_still_lists_every_match_newest_first(
    tickets: TicketStore,
) -> None:
    made = [await tickets.create(_ticket(n, f"refund {n} for my order please"))
            for n in range(1, 6)]
    await tickets.create(_ticket(6, "where is my parcel"))
    newest_first = [t.id for t in reversed(made)]

    capped = await tickets.page(query="refund", count_cap=3)
    exact = await tickets.page(query="refund", count_cap=5)
    pages = [await tickets.page(query="refund please", count_cap=3, page=n, page_size=2)
             for n in (1, 2, 3)]

    assert (capped.total, capped.capped) == (3, True)
    assert [t.id for t in capped.tickets] == newest_first  # the cap counts, never hides
    assert (exact.total, exact.capped) == (5, False)
    assert [t.id for t in exact.tickets] == newest_first
    assert [[t.id for t in p.tickets] for p in pages] == [
        newest_first[:2], newest_first[2:4], newest_first[4:]]
    assert [p.more for p in pages] == [True, True, False]
    assert (await tickets.page(query="refund parcel", count_cap=3)).tickets == []


async def test_a_capped_search_whose_matches_are_all_old_still_finds_them(
    tickets: TicketStore,
) -> None:
    old = [await tickets.create(_ticket(n, "my pashmina shawl is torn")) for n in (1, 2, 3)]
    for n in range(4, 20):  # newer tickets, more than the walk reads for a page of one
        await tickets.create(_ticket(n, "where is my parcel"))

    pages = [await tickets.page(query="pashmina", count_cap=1, page=n, page_size=1)
             for n in (1, 2, 3)]

    assert [[t.id for t in p.tickets] for p in pages] == [[old[2].id], [old[1].id],
                                                          [old[0].id]]
    assert all(p.capped and p.total == 1 for p in pages)


async def test_a_capped_search_keeps_its_filters_and_takes_any_text(
    tickets: TicketStore,
) -> None:
    first = await tickets.create(_ticket(1, "the lamp arrived cracked", channel="web"))
    second = await tickets.create(_ticket(2, "lamp cracked again"))
    third = await tickets.create(_ticket(3, "a cracked lamp, third time"))
    await tickets.mark_resolved(second.id, NOW + timedelta(hours=1))

    open_only = await tickets.page(query="lamp", statuses=[TicketStatus.OPEN], count_cap=1)
    on_web = await tickets.page(query="cracked", channel="web", count_cap=1)

    assert [t.id for t in open_only.tickets] == [third.id, first.id]
    assert [t.id for t in on_web.tickets] == [first.id] and not on_web.capped
    for hostile in ('lamp*', 'NEAR(lamp cracked)', '"lamp" OR "x"', "lamp\x00", "(lamp",
                    "'; DROP TABLE tickets; --lamp"):
        found = await tickets.page(query=hostile, count_cap=1)
        assert found.tickets == [] or found.tickets[0].id == second.id, hostile


async def test_a_ticket_whose_index_is_full_takes_more_messages_without_indexing_them(
    tickets: TicketStore, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SQLite gives each ticket a range of index rows; a ticket that used it all still
    files every message (only the index stops growing), and its neighbour is untouched."""
    if tickets.database.dialect != "sqlite":
        pytest.skip("PostgreSQL keeps a ticket's words on one row (capped by length)")
    monkeypatch.setattr(search, "ROWS_PER_TICKET", 3)
    full = await tickets.create(_ticket(1, "kurta torn", order="5000001"))  # 2 rows: order, words
    other = await tickets.create(_ticket(2, "saree late"))
    for n, word in enumerate(["tanpura", "sitar", "veena"]):
        await tickets.add_message(full.id, "shopper", word, NOW + timedelta(hours=n + 1))

    assert await _found(tickets, "tanpura") == [full.id]  # the third row: the last that fits
    assert await _found(tickets, "sitar") == []
    assert await _found(tickets, "veena") == []
    assert await _found(tickets, "saree") == [other.id]
    assert [line["text"] for line in await tickets.log(full.id)] == ["tanpura", "sitar", "veena"]
