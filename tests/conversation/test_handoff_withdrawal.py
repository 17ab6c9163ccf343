"""A hand-off the shopper can take back, and never silence while it waits: real
engine, real Redis, the staff desk for the person's side."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from conversation.engine import Engine
from conversation.session import Step
from conversation.staff import Desk
from conversation.tickets import TicketStatus
from conversation.withdrawal import WITHDRAWN, WITHDRAWN_LINE
from tests.conversation.chat import Chat
from tests.conversation.conftest import Clock
from tests.conversation.test_staff import AGENT, hand_off


@pytest.fixture
def desk(engine: Engine, redis: aioredis.Redis) -> Desk:
    return Desk(engine, redis)


async def _status(chat: Chat, ticket_id: str) -> tuple[TicketStatus, str | None]:
    ticket = await chat.engine.tickets.get(ticket_id)
    assert ticket is not None
    return ticket.status, ticket.closed_reason


async def test_the_acknowledgement_offers_a_way_back_to_the_bot(chat: Chat) -> None:
    await hand_off(chat)
    assert "Back to the bot" in chat.labels
    assert "until someone replies" in chat.text


@pytest.mark.parametrize("how", ["menu", "Menu!", "cancel my request", "never mind",
                                 "रहने दो", "button:back", "button:menu", "1"])
async def test_until_a_person_replies_the_shopper_can_take_it_back(
    chat: Chat, how: str
) -> None:
    ticket_id = await hand_off(chat)
    if how.startswith("button:"):
        await chat.send(payload=how.partition(":")[2])
    else:
        await chat.say(how)  # "1": the first (only) offered option, "Back to the bot"
    assert chat.keys == ["handoff.withdrawn", "menu.prompt"]
    assert ticket_id in chat.text and "m:track" in [b.payload for b in chat.buttons]
    assert await _status(chat, ticket_id) == (TicketStatus.RESOLVED, WITHDRAWN)
    log = await chat.engine.tickets.log(ticket_id)
    assert log[-1]["who"] == "system" and log[-1]["text"] == WITHDRAWN_LINE  # staff see why

    await chat.say("where is my order")  # the bot is back
    assert chat.keys == ["order.ask"]


async def test_a_greeting_while_waiting_does_not_withdraw(chat: Chat) -> None:
    ticket_id = await hand_off(chat)
    await chat.say("hello")
    assert chat.keys == ["handoff.added"]
    assert (await _status(chat, ticket_id))[0] is TicketStatus.OPEN


async def test_stop_during_a_hand_off_withdraws_it_and_says_goodbye(chat: Chat) -> None:
    ticket_id = await hand_off(chat)
    await chat.say("stop")
    assert chat.keys == ["handoff.withdrawn", "stop.bye"]
    assert await _status(chat, ticket_id) == (TicketStatus.RESOLVED, WITHDRAWN)


async def test_once_a_person_replied_menu_is_passed_on_not_withdrawn(
    chat: Chat, desk: Desk
) -> None:
    ticket_id = await hand_off(chat)
    await desk.reply(ticket_id, AGENT, "Hi, I'm checking the parcel.", reply_id="r1")
    await chat.say("menu")
    assert chat.keys == ["handoff.with_person"]
    assert (await _status(chat, ticket_id))[0] is TicketStatus.OPEN
    assert [m["text"] for m in await chat.engine.tickets.log(ticket_id)][-1] == "menu"
    await chat.say("stop")  # updates end; the person stays on
    assert chat.keys == ["notify.none"]
    session = await chat.engine.store.load(chat.conversation)
    assert session.step is Step.HANDED_OFF


async def test_while_it_waits_each_few_minutes_one_acknowledgement_says_when(
    chat: Chat, clock: Clock
) -> None:
    await hand_off(chat)
    await chat.say("hello?")
    assert chat.keys == ["handoff.added"]
    assert "Someone is available now" in chat.text and "Back to the bot" in chat.labels
    await chat.say("oops wrong button")
    assert chat.keys == []  # filed on the ticket; not a flood of the same words
    clock.advance(minutes=6)
    await chat.say("still there?")
    assert chat.keys == ["handoff.added"]


async def test_out_of_hours_the_acknowledgement_says_when_someone_is_back(
    chat: Chat, clock: Clock
) -> None:
    clock.advance(hours=10)  # 21:00 in Kolkata
    await hand_off(chat)
    await chat.say("hello?")
    assert "We're closed right now" in chat.text and "09:00" in chat.text


async def test_a_ticket_staff_closed_meanwhile_is_not_withdrawn_twice(
    chat: Chat, desk: Desk
) -> None:
    ticket_id = await hand_off(chat)
    await desk.resolve(ticket_id, AGENT)
    await chat.say("menu")  # the bot was back already: just the menu
    assert chat.keys == ["menu.prompt"]
    assert await _status(chat, ticket_id) == (TicketStatus.RESOLVED, None)
