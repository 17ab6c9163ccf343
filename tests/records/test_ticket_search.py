"""Searching tickets finds each one by every way staff look for it, through the
store's `page(query=…)`, on whichever engine the run uses (SQLite, or
TEST_DATABASE_URL): words of the transcript and of later replies (SQLite numbers
each ticket's index rows; a later message must continue them), email, phone,
order number and ticket id, alone or with a status filter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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
