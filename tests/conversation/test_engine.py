"""The engine under redelivery, concurrency, restarts and a Redis that is gone."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest
import redis.asyncio as aioredis
from sqlalchemy import event

from conversation.activity import conversation_hash
from conversation.audit import AuditLog
from conversation.catalogue import Catalogue
from conversation.engine import Engine
from conversation.keys import Keys
from conversation.store import StoreUnavailable
from conversation.tickets import TicketStore
from conversation.types import Channel, Inbound
from orders.demo import DemoBackend
from orders.policy import Policy
from records.db import Database
from tests.conftest import RedisCommands
from tests.conversation.chat import Chat


async def test_a_repeated_message_id_is_handled_once(chat: Chat, redis: aioredis.Redis) -> None:
    await chat.say("hi")
    first = await chat.send("blorp", message_id="provider-42")
    again = await chat.send("blorp", message_id="provider-42")
    assert again.duplicate and not first.duplicate
    assert again.replies == first.replies  # a retried request gets the same answer
    session = await chat.engine.store.load(chat.conversation)
    assert session.misses == 1  # not 2
    transcript = await chat.engine.store.transcript(chat.conversation)
    assert [line["text"] for line in transcript if line["who"] == "shopper"] == ["hi", "blorp"]


async def test_twenty_concurrent_messages_leave_a_consistent_session(chat: Chat) -> None:
    await chat.say("hi")
    results = await asyncio.gather(*(chat.send(f"blorp {n}") for n in range(20)))
    assert all(r.replies[0].key == "not_understood" for r in results)
    session = await chat.engine.store.load(chat.conversation)
    assert session.misses == 20  # every turn saw the one before it: nothing lost
    transcript = await chat.engine.store.transcript(chat.conversation)
    shopper = [line["text"] for line in transcript if line["who"] == "shopper"]
    assert sorted(shopper[1:]) == sorted(f"blorp {n}" for n in range(20))
    # each bot answer follows the shopper line it answers (turns did not interleave)
    for i, line in enumerate(transcript):
        if line["who"] == "shopper":
            assert transcript[i + 1]["who"] == "bot"


async def test_different_conversations_do_not_wait_for_each_other(engine: Engine) -> None:
    chats = [Chat(engine) for _ in range(10)]
    results = await asyncio.gather(*(c.say("hi") for c in chats))
    assert all(r.replies[-1].key == "menu.prompt" for r in results)


async def test_a_repeated_confirm_carries_the_action_out_once(
    chat: Chat, shop: DemoBackend
) -> None:
    await chat.say("return 100008")
    await chat.say("+919812345678")
    await chat.tap("Phone Case, Transparent × 1")
    await chat.tap("Ordered by mistake")
    assert chat.keys == ["confirm.return"]
    taps = await asyncio.gather(*(chat.send("Yes", payload="yes") for _ in range(5)))
    done = [t for t in taps if t.replies[0].key == "done.return"]
    assert len(done) == 1  # the others found the button already used
    order = await shop.get_order("100008")
    assert order is not None and len(order.returns) == 1


async def test_a_redelivered_confirm_returns_the_first_answer(
    chat: Chat, shop: DemoBackend
) -> None:
    await chat.say("cancel 100001")
    await chat.say("priya.sharma@example.in")
    first = await chat.send("yes", payload="yes", message_id="tap-1")
    second = await chat.send("yes", payload="yes", message_id="tap-1")
    assert second.duplicate and second.replies == first.replies
    order = await shop.get_order("100001")
    assert order is not None and len(order.refunds) == 1


async def test_session_survives_a_new_engine(
    make_engine: Callable[..., Engine], chat: Chat
) -> None:
    await chat.say("track 100006")
    assert chat.keys[-1] == "verify.ask_factor"
    restarted = Chat(make_engine(), conversation=chat.conversation)
    await restarted.say("vikram.singh@example.com")
    assert restarted.keys == ["snapshot.header"]


async def test_an_unreadable_or_old_session_starts_afresh(
    chat: Chat, redis: aioredis.Redis
) -> None:
    await chat.say("hi")
    key = Keys().session(chat.conversation)
    await redis.set(key, json.dumps({"v": 0, "step": "confirm"}))
    await chat.say("blorp")
    assert chat.keys[0] == "welcome"
    await redis.set(key, b"\xff not json")
    await chat.say("hi")
    assert chat.keys[-1] == "menu.prompt"


async def test_every_conversation_key_has_an_expiry(chat: Chat, redis: aioredis.Redis) -> None:
    await chat.say("hi")
    await chat.say("blorp")
    keys = [k async for k in redis.scan_iter(match=f"*{chat.conversation}*")]
    assert keys
    for key in keys:
        assert await redis.ttl(key) > 0, key


async def test_redis_gone_is_a_clear_error_not_a_traceback(
    shop: DemoBackend, catalogue: Catalogue, db: Database
) -> None:
    dead = aioredis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    broken = Engine(dead, shop, policy=Policy(), catalogue=catalogue,
                    tickets=TicketStore(db, dead), audit=AuditLog(db, dead))
    with pytest.raises(StoreUnavailable):
        await broken.handle(Inbound(Channel.WEB, "web:x", "m1", text="hi"))
    await dead.aclose()


async def test_an_ordinary_turn_costs_two_round_trips(
    chat: Chat, redis_commands: RedisCommands
) -> None:
    await chat.say("hi")
    calls = redis_commands.count()
    await chat.tap("Track order")  # a menu turn: no order looked up yet
    assert chat.keys == ["order.ask"]
    assert calls == ["EVALSHA", "EVALSHA"]


async def test_a_right_answer_gives_its_guess_back_with_the_save(
    chat: Chat, redis: aioredis.Redis, redis_commands: RedisCommands
) -> None:
    """The guess is counted before it is checked; a right answer's slot comes back in
    the save's round trip, not one of its own."""
    failures = Keys("ohb:").verify_failures("100003")
    first = Chat(chat.engine)  # loads the scripts
    for shopper in (first, chat):
        await shopper.say("hi")
        await shopper.tap("Track order")
        await shopper.say("100003")
    await first.say("ananya.iyer@example.in")
    assert int(await redis.get(failures) or 0) == 0
    calls = redis_commands.count(redis)
    await chat.say("ananya.iyer@example.in")
    assert chat.keys[0] == "snapshot.header"
    # begin, the guess's place, the shop's order; the save (and the slot) is a pipeline
    assert calls == ["EVALSHA", "EVALSHA", "GET"]
    assert int(await redis.get(failures) or 0) == 0


async def test_a_turn_that_fails_after_a_right_answer_still_gives_its_guess_back(
    chat: Chat, redis: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    failures = Keys("ohb:").verify_failures("100003")
    await chat.say("hi")
    await chat.tap("Track order")
    await chat.say("100003")

    def broken(*_args: object) -> None:
        raise RuntimeError("a bug between the check and the save")

    monkeypatch.setattr(chat.engine, "_render", broken)
    with pytest.raises(RuntimeError):
        await chat.say("ananya.iyer@example.in")
    assert int(await redis.get(failures) or 0) == 0  # no wrong guess was made
    monkeypatch.undo()
    await chat.say("ananya.iyer@example.in")  # the lock was released
    assert chat.keys[0] == "snapshot.header"


async def test_a_shopper_turn_that_touches_no_ticket_makes_no_sql_query(
    chat: Chat, db: Database
) -> None:
    """Tracking an order from the menu to its snapshot: Redis only (the records
    database is for tickets and the audit log)."""
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    engines = chat.engine.tickets.database.engines
    for engine in engines:
        event.listen(engine, "before_cursor_execute", seen)
    try:
        await chat.say("hi")
        await chat.tap("Track order")
        await chat.say("100003")
        await chat.say("ananya.iyer@example.in")
        assert chat.keys[0] == "snapshot.header"
        assert statements == []
        await chat.say("agent")
        await chat.say("where is my parcel, it is late")  # a ticket: now SQL, of course
        assert any("INSERT INTO tickets" in s for s in statements)
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", seen)


async def test_the_days_first_turn_is_saved_and_counted_after_redis_forgot_its_scripts(
    chat: Chat, redis: aioredis.Redis
) -> None:
    """The first turn of the day saves and counts the conversation in one pipeline,
    its script called by SHA: a server that lost its scripts (restarted) answers
    NOSCRIPT, and the turn still goes through, counted once."""
    await redis.script_flush()
    first = await chat.say("hi")
    assert first.replies[-1].key == "menu.prompt"
    session = await chat.engine.store.load(chat.conversation)
    assert session.last_seen is not None
    days = chat.engine.days
    member = f"web|{conversation_hash(chat.conversation)}"
    assert await redis.sismember(days.key(days.day_of(session.last_seen)), member)
    again = await chat.say("menu")
    assert again.replies[-1].key == "menu.prompt"
