"""The records database's life: migrations at start, a database too new, the move
of an older install's Redis records, backups, an outage, and records that outlive
the bot's Redis data."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import sys
from pathlib import Path

import anyio
import pytest
import redis.asyncio as aioredis
from sqlalchemy import text

from app.inbox.accounts import StaffStore
from app.resources import open_resources
from conversation.audit import AuditLog
from conversation.store import StoreUnavailable
from conversation.tickets import TicketStore
from conversation.types import Channel, Inbound
from records import migrate
from records.db import Database, database_url
from tests.app.app_harness import auth, make_settings, running, start_session

ROOT = Path(__file__).resolve().parents[2]


async def test_migrations_run_once_even_when_processes_start_together(tmp_path: Path) -> None:
    url = database_url(None, tmp_path)
    dbs = [Database(url) for _ in range(4)]
    try:
        results = await asyncio.gather(*(migrate.upgrade(db) for db in dbs))
        assert sorted(before is None for before, _now in results) == [False, False, False, True]
        assert {now for _before, now in results} == {migrate.head()}
        assert await migrate.current(dbs[0]) == migrate.head()
    finally:
        for db in dbs:
            await db.close()


async def test_a_database_from_a_newer_release_stops_the_start(tmp_path: Path) -> None:
    db = Database(database_url(None, tmp_path))
    try:
        await migrate.upgrade(db)
        async with db.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        with pytest.raises(migrate.DatabaseTooNew, match="newer release"):
            await migrate.upgrade(db)
    finally:
        await db.close()
    settings = make_settings(None, tmp_path, database_url=None)
    with pytest.raises(migrate.DatabaseTooNew):
        async with running(settings):
            pass


async def test_an_older_installs_redis_records_move_to_sql_once(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path, db: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    old_ticket = {
        "id": "T-1007", "kind": "handoff", "status": "open", "channel": "telegram",
        "conversation": "telegram:42", "locale": "en", "created_at": "2026-11-01T10:00:00+00:00",
        "updated_at": "2026-11-01T10:05:00+00:00", "order": "100006",
        "issue": "the blender smells of smoke",
        "transcript": [{"who": "shopper", "text": "agent", "at": "2026-11-01T10:00:00+00:00"}],
    }
    await redis.set("ohb:ticket:{T-1007}", json.dumps(old_ticket))
    await redis.rpush("ohb:ticket:{T-1007}:log", json.dumps(
        {"id": "m-1", "who": "staff", "text": "Sorry! Sending a new one.",
         "at": "2026-11-01T11:00:00+00:00", "author": "asha@shop.example"}))
    await redis.sadd("ohb:staff:all", "asha@shop.example")
    await redis.hset("ohb:staff:{asha@shop.example}", mapping={
        "email": "asha@shop.example", "role": "admin", "epoch": "3",
        "password_hash": "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaA",
        "created_at": "2026-10-01T00:00:00+00:00"})
    await redis.rpush("ohb:audit:{100006}",
                      json.dumps([1761991200, "shopper via telegram", "return", "asked"]))
    settings = make_settings(redis_url, tmp_path)
    with caplog.at_level(logging.INFO, logger="app.records_import"):
        async with running(settings):
            pass
        async with running(settings):  # a second start moves nothing again
            pass
    moved = [r.getMessage() for r in caplog.records if "moved from Redis" in r.getMessage()]
    assert moved == ["records: moved from Redis to the database: 1 tickets (2 messages), "
                     "1 staff accounts, 1 audit entries"]
    tickets = TicketStore(db, redis)
    ticket = await tickets.get("T-1007")
    assert ticket is not None and ticket.issue == "the blender smells of smoke"
    assert [line["text"] for line in await tickets.log("T-1007")] == ["Sorry! Sending a new one."]
    assert [t.id for t in (await tickets.page(query="blender")).tickets] == ["T-1007"]
    member = await StaffStore(db).get("asha@shop.example")
    assert member is not None and member.role.value == "admin"
    assert await StaffStore(db).epoch("asha@shop.example") == 3  # sessions stay valid
    assert [e.what for e in await AuditLog(db).read("100006")] == ["asked"]


async def test_records_outlive_the_bots_redis_data(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path, db: Database,
) -> None:
    """The issue's done-when: a hand-off over the web chat is found by a word the
    shopper typed; after Redis is wiped and the bot restarted, the ticket, its
    transcript, the staff account and the order's audit log are all still there."""
    settings = make_settings(redis_url, tmp_path, inbox_admin_email="lead@shop.example",
                             inbox_admin_password="correct horse battery")
    async with running(settings) as client:
        token, _conversation = await start_session(client)
        for n, text in enumerate(["cancel 100001", "priya.sharma@example.in", "agent",
                                  "the saffron tin was dented and leaking"]):
            answer = await client.post("/api/chat/messages", headers=auth(token),
                                       json={"message_id": f"m-{n}", "text": text})
            assert answer.status_code == 200, answer.text
        login = await client.post("/api/inbox/session", json={
            "email": "lead@shop.example", "password": "correct horse battery"})
        assert login.status_code == 200, login.text
        found = (await client.get("/api/inbox/tickets?q=saffron")).json()
        assert [t["id"] for t in found["tickets"]] == ["T-1001"] and found["total"] == 1
    await redis.flushdb()
    async with running(settings) as client:
        login = await client.post("/api/inbox/session", json={
            "email": "lead@shop.example", "password": "correct horse battery"})
        assert login.status_code == 200, login.text
        ticket = (await client.get("/api/inbox/tickets/T-1001")).json()
        said = [line["text"] for line in ticket["transcript"] if line["who"] == "shopper"]
        assert "the saffron tin was dented and leaking" in said
        assert "cancel 100001" in said
        assert [e["what"] for e in ticket["audit"]][:2] == ["asked", "eligible"]
        found = (await client.get("/api/inbox/tickets?q=dented")).json()
        assert [t["id"] for t in found["tickets"]] == ["T-1001"]


async def test_a_database_outage_leaves_the_bot_answering_and_loses_no_ticket(
    redis_url: str, tmp_path: Path,
) -> None:
    settings = make_settings(redis_url, tmp_path)
    async with open_resources(settings) as resources:
        real = resources.tickets._db
        down = Database("postgresql+asyncpg://nobody@127.0.0.1:1/none")
        resources.tickets._db = down
        resources.engine.audit._db = down

        async def say(message_id: str, text: str) -> tuple[str, ...]:
            inbound = Inbound(Channel.WEB, "web:outage", message_id, text=text)
            return tuple(r.key for r in (await resources.engine.handle(inbound)).replies)

        try:
            assert await say("m-1", "track my order")
            assert await say("m-2", "100003")
            assert await say("m-3", "ananya.iyer@example.in")  # the order: no SQL needed
            assert await say("m-4", "agent")
            with pytest.raises(StoreUnavailable):  # the ticket cannot open: 503, honestly
                await say("m-5", "my parcel is late")
        finally:
            resources.tickets._db = real
            resources.engine.audit._db = real
            await down.close()
        # the database is back: the same message (the provider's retry) opens it once
        assert "handoff.opened" in await say("m-5", "my parcel is late")
        assert await say("m-5", "my parcel is late")  # a redelivery: answered, not reopened
        assert [t.issue for t in await resources.tickets.list_open()] == ["my parcel is late"]


async def test_db_backup_copies_sqlite_consistently_and_upgrade_reports_versions(
    tmp_path: Path, redis_url: str,
) -> None:
    env = {k: v for k, v in os.environ.items()
           if k in ("PATH", "HOME", "LANG", "TMPDIR", "REDIS_CLUSTER", "OUTBOX_PARTITIONS")}
    env.update(PYTHONPATH=str(ROOT), DATA_DIR=str(tmp_path / "data"), REDIS_URL=redis_url)

    async def app(*args: str) -> tuple[int, str, str]:
        done = await anyio.run_process([sys.executable, "-m", "app", *args], env=env,
                                       cwd=tmp_path, check=False)
        return done.returncode, done.stdout.decode(), done.stderr.decode()

    code, out, err = await app("db", "upgrade")
    assert code == 0, err
    assert f"at version {migrate.head()} (was empty)" in out
    code, out, _ = await app("db", "upgrade")
    assert "(up to date)" in out
    env["INBOX_STAFF_PASSWORD"] = "correct horse battery"
    code, _out, err = await app("staff", "add", "asha@shop.example", "--role", "admin")
    assert code == 0, err
    with sqlite3.connect(tmp_path / "data" / "records.db") as conn:
        conn.execute("INSERT INTO records_meta (key, value) VALUES ('marker', 'kept')")
    code, out, err = await app("db", "backup", str(tmp_path / "copy.db"))
    assert code == 0, err
    assert "backed up" in out
    with sqlite3.connect(tmp_path / "copy.db") as copy:
        assert copy.execute("SELECT value FROM records_meta WHERE key = 'marker'").fetchone() \
            == ("kept",)
    code, _out, err = await app("db", "backup", str(tmp_path / "copy.db"))
    assert code == 1 and "exists already" in err


async def test_the_bot_starts_and_answers_while_the_database_is_unreachable(
    redis_url: str, tmp_path: Path,
) -> None:
    settings = make_settings(redis_url, tmp_path,
                             database_url="postgresql://nobody@127.0.0.1:1/records")
    async with running(settings) as client:
        token, _conversation = await start_session(client)
        answer = await client.post("/api/chat/messages", headers=auth(token),
                                   json={"message_id": "m-1", "text": "hi"})
        assert answer.status_code == 200, answer.text
        inbox = await client.post("/api/inbox/session", json={
            "email": "a@shop.example", "password": "whatever it is"})
        assert inbox.status_code == 503
        assert inbox.json()["error"]["code"] == "unavailable"
