"""The staff side of tickets with the real engine and Redis: replies reach the
shopper through the outbox in order, a resolved hand-off asks one satisfaction
question, replying reopens, approve carries a request out once, decline says why."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest
import redis.asyncio as aioredis

from conversation.delivery import DeliveryState, DeliveryStates, tracking
from conversation.engine import STAFF_NOTIFICATIONS, Engine
from conversation.outbox import Outbox, OutboxMessage, RetryPolicy, Undeliverable
from conversation.session import Step
from conversation.staff import AlreadyDecided, Desk, NotARequest
from conversation.tickets import Decision, TicketStatus, TicketStore
from conversation.types import Channel
from orders.demo import DemoBackend
from records.db import Database
from tests.conversation.chat import Chat, skip_photo
from tests.conversation.test_dialogue import DELIVERED_RECENT, open_order

AGENT = "asha@shop.example"
OTHER = "ravi@shop.example"


@pytest.fixture
def desk(engine: Engine, redis: aioredis.Redis) -> Desk:
    return Desk(engine, redis)


async def hand_off(chat: Chat, issue: str = "My parcel 100006 arrived open") -> str:
    await chat.say("hi")
    await chat.say("agent")
    await chat.say(issue)
    assert chat.keys[0] == "handoff.opened"
    tickets = await chat.engine.tickets.list_open()
    return next(t.id for t in tickets if t.conversation == chat.conversation)


async def queued(redis: aioredis.Redis, conversation: str) -> list[list[dict[str, str]]]:
    entries = await redis.xrange("ohb:{outbox}")
    return [json.loads(f[b"replies"]) for _id, f in entries
            if f[b"conversation"].decode() == conversation]


async def test_a_staff_reply_is_queued_for_the_shopper_and_filed_with_its_state(
    chat: Chat, desk: Desk, redis: aioredis.Redis
) -> None:
    ticket_id = await hand_off(chat)
    ticket = await desk.reply(ticket_id, AGENT, "Hello! I'm looking at it.", reply_id="r1")
    assert ticket.status is TicketStatus.PENDING
    assert ticket.assignee == AGENT  # the first to answer takes it
    [pushed] = await queued(redis, chat.conversation)
    assert pushed[0]["text"] == "Hello! I'm looking at it."
    [line] = await desk._tickets.log(ticket_id)
    assert line["who"] == "staff" and line["author"] == AGENT
    states = await desk.deliveries.get_many([line["outbox"]])
    assert states[line["outbox"]]["state"] == "queued"

    again = await desk.reply(ticket_id, AGENT, "Hello! I'm looking at it.", reply_id="r1")
    assert len(await queued(redis, chat.conversation)) == 1  # a double submit sends once
    assert len(await desk._tickets.log(ticket_id)) == 1 and again.id == ticket_id

    await chat.say("thanks, waiting")  # the shopper answers: open again, still no bot
    assert chat.keys == ["handoff.added"]
    reloaded = await desk._tickets.get(ticket_id)
    assert reloaded is not None and reloaded.status is TicketStatus.OPEN
    transcript = await chat.engine.store.transcript(chat.conversation)
    assert any(t["who"] == "staff" for t in transcript)


async def test_two_agents_replying_at_once_both_land_in_the_same_order_everywhere(
    chat: Chat, desk: Desk, redis: aioredis.Redis
) -> None:
    ticket_id = await hand_off(chat)
    await asyncio.gather(*(
        desk.reply(ticket_id, who, f"{who} {n}", reply_id=f"{who}-{n}")
        for n in range(5) for who in (AGENT, OTHER)
    ))
    filed = [line["text"] for line in await desk._tickets.log(ticket_id)]
    sent = [replies[0]["text"] for replies in await queued(redis, chat.conversation)]
    assert len(filed) == 10 and sorted(filed) == sorted(f"{w} {n}" for n in range(5)
                                                        for w in (AGENT, OTHER))
    assert sent == filed


async def test_resolving_asks_one_satisfaction_question_and_records_the_answer(
    chat: Chat, desk: Desk, engine: Engine, redis: aioredis.Redis
) -> None:
    ticket_id = await hand_off(chat)
    await desk.resolve(ticket_id, AGENT)
    [told] = await queued(redis, chat.conversation)
    assert [r["key"] for r in told] == ["handoff.resolved"]
    assert [b["payload"] for b in told[0]["buttons"]] == [
        *(f"rate:{n}" for n in range(1, 6)), "rate:skip"]  # six buttons, not eleven
    session = await engine.store.load(chat.conversation)
    assert session.step is Step.RATE and session.rating_ticket == ticket_id

    await chat.send("4", payload="rate:4")
    assert chat.keys == ["rate.thanks"]
    assert "Track order" in chat.labels
    ticket = await desk._tickets.get(ticket_id)
    assert ticket is not None and ticket.rating == 4
    await chat.send("5", payload="rate:5")  # asked once: a late tap is a stale button
    assert chat.keys[0] == "button.stale"
    ticket = await desk._tickets.get(ticket_id)
    assert ticket is not None and ticket.rating == 4


async def test_a_typed_score_counts_and_anything_else_just_carries_on(
    make_engine: Callable[..., Engine], redis: aioredis.Redis
) -> None:
    engine = make_engine()
    desk = Desk(engine, redis)
    first, second = Chat(engine), Chat(engine)
    one, two = await hand_off(first), await hand_off(second)
    await desk.resolve(one, AGENT)
    await desk.resolve(two, AGENT)
    await first.say("5")
    assert first.keys == ["rate.thanks"]
    await second.say("Track order")
    assert second.keys == ["order.ask"]  # no rating; the menu choice works
    rated, unrated = await desk._tickets.get(one), await desk._tickets.get(two)
    assert rated is not None and rated.rating == 5
    assert unrated is not None and unrated.rating is None


async def test_the_rating_question_is_in_the_shoppers_language(
    make_engine: Callable[..., Engine], redis: aioredis.Redis
) -> None:
    engine = make_engine()
    chat = Chat(engine, locale="hi")
    ticket_id = await hand_off(chat, "मेरा पार्सल 100006 खुला हुआ आया")
    await Desk(engine, redis).resolve(ticket_id, AGENT)
    [told] = await queued(redis, chat.conversation)
    assert "संतुष्ट" in told[0]["text"]


async def test_replying_to_a_resolved_ticket_reopens_it_and_pauses_the_bot(
    chat: Chat, desk: Desk, engine: Engine
) -> None:
    ticket_id = await hand_off(chat)
    await desk.resolve(ticket_id, AGENT)
    ticket = await desk.reply(ticket_id, AGENT, "One more thing about your parcel", reply_id="x")
    assert ticket.is_open
    session = await engine.store.load(chat.conversation)
    assert session.step is Step.HANDED_OFF and session.ticket == ticket_id
    await chat.say("menu")
    assert chat.keys == ["handoff.with_person"]  # filed; a person answered, so it stays theirs

    await desk.resolve(ticket_id, AGENT)  # a second resolution is told again
    ticket = await desk._tickets.get(ticket_id)
    assert ticket is not None and ticket.resolutions == 2
    await chat.say("thanks")
    assert chat.keys == ["thanks.reply"]


async def test_reopen_pauses_the_bot_and_notes_assign_and_unassign_are_filed(
    chat: Chat, desk: Desk, engine: Engine
) -> None:
    ticket_id = await hand_off(chat)
    await desk.assign(ticket_id, OTHER, AGENT)
    await desk.note(ticket_id, AGENT, "customer called too")
    await desk.resolve(ticket_id, AGENT)
    await desk.reopen(ticket_id, AGENT)
    ticket = await desk._tickets.get(ticket_id)
    assert ticket is not None and ticket.status is TicketStatus.OPEN and ticket.assignee == OTHER
    session = await engine.store.load(chat.conversation)
    assert session.step is Step.HANDED_OFF
    whos = [(line["who"], line["text"]) for line in await desk._tickets.log(ticket_id)]
    assert ("note", "customer called too") in whos
    assert ("system", f"assigned to {OTHER}") in whos and ("system", "reopened") in whos


async def request_ticket(chat: Chat) -> str:
    await open_order(chat, "Return or replace", DELIVERED_RECENT)
    await chat.tap("Phone Case, Transparent × 1")
    await chat.tap("Replace it")
    await chat.tap("Wrong item")
    await skip_photo(chat)
    await chat.tap("Yes, go ahead")
    assert chat.keys == ["request.opened"]
    tickets = await chat.engine.tickets.list_open()
    return tickets[0].id


async def test_approving_a_request_carries_it_out_once_and_tells_the_shopper(
    chat: Chat, desk: Desk, shop: DemoBackend, redis: aioredis.Redis
) -> None:
    ticket_id = await request_ticket(chat)
    ticket = await desk.approve(ticket_id, AGENT)
    assert ticket.decision is Decision.APPROVED and ticket.status is TicketStatus.RESOLVED
    await desk.approve(ticket_id, AGENT)  # twice: one change, told once
    order = await shop.get_order("100008")
    assert order is not None and len(order.replacements) == 1
    [told] = await queued(redis, chat.conversation)
    assert told[0]["key"] == "request.approved"
    assert order.replacements[0].replacement_id in told[0]["text"]
    with pytest.raises(AlreadyDecided):
        await desk.decline(ticket_id, AGENT, "too late")


async def test_declining_tells_the_shopper_why(
    chat: Chat, desk: Desk, shop: DemoBackend, redis: aioredis.Redis
) -> None:
    ticket_id = await request_ticket(chat)
    with pytest.raises(ValueError):
        await desk.decline(ticket_id, AGENT, "   ")
    ticket = await desk.decline(ticket_id, AGENT, "The case is out of stock until March.")
    assert ticket.decision is Decision.DECLINED and ticket.decision_reason
    [told] = await queued(redis, chat.conversation)
    assert "out of stock until March" in told[0]["text"]
    order = await shop.get_order("100008")
    assert order is not None and order.replacements == []


async def test_approve_on_a_hand_off_is_refused(chat: Chat, desk: Desk) -> None:
    ticket_id = await hand_off(chat)
    with pytest.raises(NotARequest):
        await desk.approve(ticket_id, AGENT)


async def test_a_new_ticket_notifies_staff_without_personal_data(
    make_engine: Callable[..., Engine], redis: aioredis.Redis
) -> None:
    chat = Chat(make_engine(notify_staff=True))
    ticket_id = await hand_off(chat, "My parcel 100006 arrived open, call 9812345678")
    [note] = await queued(redis, STAFF_NOTIFICATIONS)
    assert ticket_id in note[0]["text"] and "100006" in note[0]["text"]
    assert "9812345678" not in json.dumps(note) and "arrived" not in json.dumps(note)
    assert note[0]["links"][0]["url"] == f"/inbox/tickets/{ticket_id}"


async def test_delivery_tracking_records_sent_retried_and_failed(
    redis: aioredis.Redis,
) -> None:
    states = DeliveryStates(redis)
    outbox = Outbox(redis, retry=RetryPolicy(max_attempts=3, base=0.01, cap=0.02),
                    min_idle=0.5, block=0.05, recheck=0.01, lease_ttl=2, deliver_timeout=1)
    calls: dict[str, int] = {}

    async def flaky(message: OutboxMessage) -> None:
        calls[message.id] = calls.get(message.id, 0) + 1
        text = message.replies[0].text
        if text == "never" or (text == "twice" and calls[message.id] <= 2):
            raise ConnectionError("provider down")
        if text == "blocked":
            raise Undeliverable("the shopper blocked us")

    from conversation.types import Reply
    ids = {}
    for text in ("ok", "twice", "never", "blocked"):
        ids[text] = await outbox.enqueue(Channel.WEB, f"web:{text}", [Reply("staff.reply", text)])
        await states.queued(ids[text])
    stop = asyncio.Event()
    task = asyncio.create_task(outbox.run(tracking(flaky, states, outbox.retry),
                                          consumer="c1", stop=stop))
    try:
        for _ in range(200):
            got = await states.get_many(list(ids.values()))
            if all(got[i]["state"] != "queued" for i in ids.values()):
                break
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await task
    got = await states.get_many(list(ids.values()))
    assert got[ids["ok"]]["state"] == DeliveryState.SENT
    assert got[ids["twice"]]["state"] == DeliveryState.SENT and got[ids["twice"]]["attempts"] == "3"
    assert got[ids["never"]]["state"] == DeliveryState.FAILED
    assert got[ids["never"]]["error"] == "ConnectionError"
    assert got[ids["blocked"]]["state"] == DeliveryState.FAILED
    await states.queued(ids["ok"])  # a late "queued" never overwrites "sent"
    assert (await states.get_many([ids["ok"]]))[ids["ok"]]["state"] == "sent"


async def test_tickets_are_listed_by_newest_activity_and_found_by_order(db: Database,
    make_engine: Callable[..., Engine], redis: aioredis.Redis, clock
) -> None:
    engine = make_engine()
    first = await hand_off(Chat(engine), "My parcel 100006 arrived open")
    clock.advance(minutes=1)
    second = await hand_off(Chat(engine), "Where is 100003?")
    store = TicketStore(db, redis)
    assert [t.id for t in await store.list_open()] == [second, first]
    clock.advance(minutes=1)
    await Desk(engine, redis).note(first, AGENT, "bump")
    assert [t.id for t in await store.list_open()] == [first, second]
    assert [t.id for t in await store.for_order("100006")] == [first]


async def test_a_staff_reply_carries_the_agents_display_name(
    chat: Chat, desk: Desk, redis: aioredis.Redis
) -> None:
    ticket_id = await hand_off(chat)
    await desk.reply(ticket_id, AGENT, "On it.", reply_id="n1")  # no display name set
    await desk.reply(ticket_id, AGENT, "Found it.", reply_id="n2", author_name="Asha K.")
    first, second = await queued(redis, chat.conversation)
    assert first[0]["author"] == "Asha" and second[0]["author"] == "Asha K."
    log = await desk._tickets.log(ticket_id)
    assert [line["author_name"] for line in log] == ["Asha", "Asha K."]
