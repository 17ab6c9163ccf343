"""Tickets as records: ids, exactly-once creation, changes, search, pages, the
shopper's other tickets. Runs on SQLite, and on PostgreSQL with TEST_DATABASE_URL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from conversation.tickets import Count, Ticket, TicketStatus, TicketStore, origin_of

AT = datetime(2026, 11, 17, 5, 30, tzinfo=UTC)


def ticket(**fields: object) -> Ticket:
    values: dict[str, object] = {
        "id": "", "kind": "handoff", "channel": "web", "conversation": "web:a",
        "created_at": AT, "updated_at": AT, "issue": "My lamp arrived broken",
        "transcript": [{"who": "shopper", "text": "hi", "at": AT.isoformat()},
                       {"who": "bot", "text": "Hello!", "at": AT.isoformat()}],
    }
    values.update(fields)
    return Ticket.model_validate(values)


async def test_ids_start_at_t1001_and_a_ticket_reads_back_whole(tickets: TicketStore) -> None:
    first = await tickets.create(ticket(order="100006", contact_phone="+919812345678"))
    second = await tickets.create(ticket())
    assert (first.id, second.id) == ("T-1001", "T-1002")
    back = await tickets.get("t-1001")
    assert back is not None
    assert back.model_dump() == first.model_dump()
    assert back.created_at.tzinfo is not None
    assert await tickets.get("T-99999") is None
    assert await tickets.get("nonsense'; DROP TABLE tickets; --") is None


async def test_the_same_origin_opens_one_ticket_even_at_the_same_moment(
    tickets: TicketStore,
) -> None:
    origin = origin_of("web:a", "m-42")
    made = await asyncio.gather(*(tickets.create(ticket(), origin=origin) for _ in range(8)))
    assert {t.id for t in made} == {"T-1001"}
    assert len(await tickets.list_open()) == 1
    other = await tickets.create(ticket(), origin=origin_of("web:a", "m-43"))
    # a new ticket, numbered after (PostgreSQL's sequence may skip the numbers the
    # losing inserts drew: ids are unique and rising, not gap-free)
    assert other.number > 1001


async def test_two_agents_changing_a_ticket_at_once_both_land(tickets: TicketStore) -> None:
    made = await tickets.create(ticket())
    await asyncio.gather(*(
        tickets.add_message(made.id, "note", f"note {n}", AT + timedelta(seconds=n),
                            author=f"agent{n}@shop.example")
        for n in range(10)))
    log = await tickets.log(made.id)
    assert sorted(line["text"] for line in log) == sorted(f"note {n}" for n in range(10))
    assert all(line["author"].startswith("agent") for line in log)


async def test_status_changes_are_kept_as_history(tickets: TicketStore) -> None:
    made = await tickets.create(ticket())
    await tickets.mark_resolved(made.id, AT + timedelta(hours=1), by="asha@shop.example")
    await tickets.mark_resolved(made.id, AT + timedelta(hours=2), by="asha@shop.example")

    def reopen(t: Ticket) -> Ticket:
        return t.model_copy(update={"status": TicketStatus.OPEN})

    await tickets.update(made.id, reopen, event="reopened", by="ravi@shop.example")
    history = await tickets.history(made.id)
    assert [(h["event"], h["from"], h["to"], h["by"]) for h in history] == [
        ("created", None, "open", None),
        ("resolved", "open", "resolved", "asha@shop.example"),  # once: the second did nothing
        ("reopened", "resolved", "open", "ravi@shop.example"),
    ]


async def test_search_finds_words_names_emails_phones_orders_and_ids(
    tickets: TicketStore,
) -> None:
    snapshot = {"customer": {"name": "Ananya Iyer", "email": "ananya.iyer@example.in",
                             "phone": "+919812345678"}}
    lamp = await tickets.create(ticket(
        order="100003", order_verified=True, order_snapshot=snapshot,
        contact_email="ananya.iyer@example.in", contact_phone="+919812345678",
        issue="The ceramic lamp arrived cracked",
        transcript=[{"who": "shopper", "text": "मेरा पार्सल टूटा हुआ आया", "at": AT.isoformat()}]))
    other = await tickets.create(ticket(issue="Where is my order?", order="100001"))
    await tickets.add_message(other.id, "shopper", "still waiting for the courier", AT)

    async def found(query: str) -> list[str]:
        return [t.id for t in (await tickets.page(query=query)).tickets]

    assert await found("cracked") == [lamp.id]
    assert await found("CERAMIC lamp") == [lamp.id]
    assert await found("पार्सल") == [lamp.id]
    assert await found("ananya") == [lamp.id]
    assert await found("ananya.iyer@example.in") == [lamp.id]
    assert await found("+91 98123 45678") == [lamp.id]
    assert await found("#100003") == [lamp.id]
    assert await found("T-1002") == [other.id]
    assert await found("courier") == [other.id]  # a message filed after it opened
    assert await found("lamp courier") == []  # every word must match
    assert await found("bicycle") == []


@pytest.mark.parametrize("query", [
    '"', '""', "*", "lamp*", "NEAR(lamp cracked)", "lamp AND OR NOT", "(lamp", "lamp)",
    "'; DROP TABLE tickets; --", "^lamp", "lamp:cracked", "-lamp", "lamp\x00", "🙂🙂",
    "x" * 5000, " ", "ab\ud800cd", "{lamp}", "lamp OR 1=1",
])
async def test_any_search_text_is_a_plain_search_never_an_error(
    tickets: TicketStore, query: str
) -> None:
    made = await tickets.create(ticket(issue="The lamp arrived cracked"))
    page = await tickets.page(query=query)
    ids = [t.id for t in page.tickets]
    assert ids in ([], [made.id])
    assert await tickets.get(made.id) is not None  # and nothing was harmed


async def test_a_list_and_its_tabs_count_up_to_a_cap_and_say_more_past_it(
    tickets: TicketStore,
) -> None:
    for n in range(5):
        made = await tickets.create(ticket(conversation=f"web:{n}",
                                           updated_at=AT + timedelta(minutes=n)))
        if n == 0:
            await tickets.mark_resolved(made.id, AT)
    capped = await tickets.capped_counts(cap=3)
    exact = await tickets.capped_counts(cap=4)
    first = await tickets.page(statuses=[TicketStatus.OPEN], page_size=2, count_cap=3)
    pages = [await tickets.page(statuses=[TicketStatus.OPEN], page_size=2, count_cap=3, page=n)
             for n in (2, 3)]
    whole = await tickets.page(statuses=[TicketStatus.OPEN], count_cap=4)

    assert capped == {TicketStatus.OPEN: Count(3, capped=True), TicketStatus.PENDING: Count(0),
                      TicketStatus.RESOLVED: Count(1)}
    assert exact[TicketStatus.OPEN] == Count(4, capped=False)
    assert (first.total, first.capped, first.more) == (3, True, True)
    assert [t.id for p in (first, *pages) for t in p.tickets] == [  # the cap hides none
        "T-1005", "T-1004", "T-1003", "T-1002"]
    assert pages[-1].more is False  # the last page is not full
    assert (whole.total, whole.capped, len(whole.tickets)) == (4, False, 4)


async def test_lists_come_in_pages_with_counts_per_status(tickets: TicketStore) -> None:
    for n in range(57):
        made = await tickets.create(ticket(conversation=f"web:{n}", channel="telegram"
                                           if n % 2 else "web",
                                           updated_at=AT + timedelta(minutes=n)))
        if n % 3 == 0:
            await tickets.mark_resolved(made.id, AT + timedelta(minutes=n))
    counts = await tickets.counts()
    assert counts == {TicketStatus.OPEN: 38, TicketStatus.PENDING: 0,
                      TicketStatus.RESOLVED: 19}
    first = await tickets.page(statuses=[TicketStatus.OPEN])
    second = await tickets.page(statuses=[TicketStatus.OPEN], page=2)
    assert (len(first.tickets), len(second.tickets), first.total, first.pages) == (38, 0, 38, 1)
    small = await tickets.page(statuses=[TicketStatus.OPEN], page_size=20, page=2)
    assert len(small.tickets) == 18 and small.pages == 2
    everything = [t.id for p in (1, 2) for t in
                  (await tickets.page(statuses=[TicketStatus.OPEN], page_size=20, page=p)).tickets]
    assert len(set(everything)) == 38
    newest_first = [t.updated_at for t in first.tickets]
    assert newest_first == sorted(newest_first, reverse=True)
    telegram = await tickets.page(statuses=[TicketStatus.OPEN], channel="telegram")
    assert telegram.total == 19 and {t.channel for t in telegram.tickets} == {"telegram"}


async def test_the_shoppers_other_tickets_are_found_by_conversation_or_proven_identity(
    tickets: TicketStore,
) -> None:
    first = await tickets.create(ticket(conversation="web:a"))
    by_phone = await tickets.create(ticket(conversation="whatsapp:+919812345678",
                                           contact_phone="+919812345678"))
    current = await tickets.create(ticket(conversation="web:a", contact_phone="+919812345678"))
    stranger = await tickets.create(ticket(conversation="web:b"))
    others = {t.id for t in await tickets.others_of(current)}
    assert others == {first.id, by_phone.id}
    assert stranger.id not in others
    assert {t.id for t in await tickets.others_of(stranger)} == set()


async def test_fields_without_a_column_of_their_own_are_kept(tickets: TicketStore) -> None:
    made = await tickets.create(ticket())

    def withdraw(t: Ticket) -> Ticket:
        return t.model_copy(update={"closed_reason": "withdrawn",
                                    "status": TicketStatus.RESOLVED})

    await tickets.update(made.id, withdraw)
    back = await tickets.get(made.id)
    assert back is not None and back.closed_reason == "withdrawn"
    [listed] = (await tickets.page(statuses=[TicketStatus.RESOLVED])).tickets
    assert listed.closed_reason == "withdrawn"


async def test_words_of_a_search_may_come_from_different_texts_of_a_ticket(
    tickets: TicketStore,
) -> None:
    snapshot = {"customer": {"name": "Priya Sharma"}}
    made = await tickets.create(ticket(order="5000001", order_verified=True,
                                       order_snapshot=snapshot, issue="Where is my refund?"))
    await tickets.add_message(made.id, "shopper", "the courier never came", AT)

    async def found(query: str) -> list[str]:
        return [t.id for t in (await tickets.page(query=query)).tickets]

    assert await found("priya refund") == [made.id]  # the name and the issue
    assert await found("5000001 refund") == [made.id]  # the order and the issue
    assert await found("refund courier") == [made.id]  # the issue and a later message
    assert await found("priya bicycle") == []


async def test_an_orders_open_requests_are_its_open_and_pending_request_tickets_only(
    tickets: TicketStore,
) -> None:
    wanted = {"action": "replace", "number": "100006", "line_id": "L1"}
    open_one = await tickets.create(ticket(kind="request", order="100006", request=wanted))
    pending = await tickets.create(ticket(kind="request", order="100006", request=wanted,
                                          status=TicketStatus.PENDING, conversation="web:b"))
    done = await tickets.create(ticket(kind="request", order="100006", request=wanted,
                                       conversation="web:c"))
    await tickets.mark_resolved(done.id, AT)
    await tickets.create(ticket(order="100006", conversation="web:d"))  # a hand-off
    await tickets.create(ticket(kind="request", order="100007", request=wanted,
                                conversation="web:e"))

    found = await tickets.open_requests_for("100006")

    assert sorted(t.id for t in found) == sorted([open_one.id, pending.id])
    assert all(t.request == wanted and t.order == "100006" for t in found)


async def test_a_shoppers_message_lands_as_a_staff_change_would_and_never_on_a_resolved_one(
    tickets: TicketStore,
) -> None:
    later = AT + timedelta(minutes=5)
    pending = await tickets.create(ticket(status=TicketStatus.PENDING))
    general = await tickets.create(ticket(status=TicketStatus.PENDING, conversation="web:b"))
    closed = await tickets.create(ticket(conversation="web:c"))
    await tickets.mark_resolved(closed.id, AT)

    assert await tickets.file_from_shopper(pending.id, "still waiting for my kettle", later,
                                           id="m-1")
    # the same message through the general path (as staff tools change a ticket)
    await tickets.add_message(general.id, "shopper", "still waiting for my kettle", later)
    assert not await tickets.file_from_shopper(closed.id, "hello?", later, id="m-2")
    assert not await tickets.file_from_shopper("T-99999", "hello?", later, id="m-3")

    filed, via_update = await tickets.get(pending.id), await tickets.get(general.id)
    assert filed is not None and via_update is not None
    assert filed.status is TicketStatus.OPEN
    assert (filed.updated_at, filed.last_shopper_at) == (later, later)
    ignore = {"id", "conversation", "transcript"}
    assert filed.model_dump(exclude=ignore) == via_update.model_dump(exclude=ignore)
    assert [line["text"] for line in await tickets.log(pending.id)] == [
        "still waiting for my kettle"]
    assert [(h["event"], h["from"], h["to"]) for h in await tickets.history(pending.id)] == [
        ("created", None, "pending"), ("updated", "pending", "open")]
    found = (await tickets.page(query="kettle")).tickets
    assert sorted(t.id for t in found) == sorted([pending.id, general.id])
    resolved = await tickets.get(closed.id)
    assert resolved is not None and resolved.status is TicketStatus.RESOLVED
    assert await tickets.log(closed.id) == []
