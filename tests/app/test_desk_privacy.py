"""Privacy requests: a shopper's data exported, then erased everywhere (Redis and
the records database, grepped for the email and the shopper's own words), while
the report totals stay; each request logged without the data; admins only."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
import redis.asyncio as aioredis
from app_harness import auth, running
from inbox_harness import (
    AGENT,
    AGENT_PASSWORD,
    WebShopper,
    add_agent,
    api_login,
    inbox_settings,
)
from sqlalchemy import text
from test_cli import err, out, run_app, workdir  # noqa: F401  (workdir is a fixture)

from records.db import Database
from tests.media_files import PHOTO_JPEG

EMAIL = "priya.sharma@example.in"
WORDS = ("kurta came torn at the seams", "please ring before noon")


@pytest.fixture
async def client(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    async with running(inbox_settings(redis_url, tmp_path, business_hours="")) as client:
        yield client


def today() -> str:
    return datetime.now(ZoneInfo("Asia/Kolkata")).date().isoformat()


async def everything_in_redis(redis: aioredis.Redis) -> str:
    dump: list[str] = []
    async for key in redis.scan_iter(match="*"):
        dump.append(repr(key))
        kind = (await redis.type(key)).decode()
        if kind == "string":
            dump.append(repr(await redis.get(key)))
        elif kind == "hash":
            dump.append(repr(await redis.hgetall(key)))
        elif kind == "list":
            dump.append(repr(await redis.lrange(key, 0, -1)))
        elif kind == "set":
            dump.append(repr(await redis.smembers(key)))
        elif kind == "zset":
            dump.append(repr(await redis.zrange(key, 0, -1)))
        elif kind == "stream":
            dump.append(repr(await redis.xrange(key)))
    return "\n".join(dump).casefold()


async def everything_in_sql(db: Database) -> str:
    dump: list[str] = []
    tables = ("tickets", "ticket_messages", "ticket_history", "ticket_search", "ticket_desk",
              "ticket_tags", "audit_entries", "conversation_days", "privacy_requests", "staff",
              "records_meta", "attachments")
    async with db.connect() as conn:
        for table in tables:
            dump.extend(repr(tuple(row)) for row in await conn.execute(
                text(f"SELECT * FROM {table}")))
    return "\n".join(dump).casefold()


async def priyas_day(client: httpx.AsyncClient) -> tuple[WebShopper, dict[str, str]]:
    csrf = await api_login(client)
    settled = WebShopper(client)
    await settled.start()
    await settled.send("hi")
    priya = WebShopper(client)
    await priya.hand_off(f"I am {EMAIL}, the {WORDS[0]}")
    await priya.send(WORDS[1])
    await client.post("/api/inbox/tickets/T-1001/reply", headers=csrf,
                      json={"text": "Sorry Priya, a new one is on its way", "reply_id": "r1"})
    await client.post("/api/inbox/tickets/T-1001/resolve", headers=csrf)
    await priya.send("4", payload="rate:4")
    other = WebShopper(client)
    await other.hand_off("My parcel 100006 arrived open")
    return priya, csrf


async def test_a_shopper_is_exported_then_erased_without_a_trace_and_reports_stay(
    client: httpx.AsyncClient, redis: aioredis.Redis, redis_url: str, db: Database,
    workdir: Path,  # noqa: F811
) -> None:
    await priyas_day(client)
    before = (await client.get(f"/api/inbox/reports?from={today()}&to={today()}")).json()
    assert before["conversations"] == 3 and before["handoffs"]["count"] == 2
    assert EMAIL in await everything_in_redis(redis)
    assert WORDS[1] in await everything_in_sql(db)

    exported = await run_app("privacy", "export", "--email", EMAIL, redis_url=redis_url,
                             workdir=workdir)
    assert exported.returncode == 0, err(exported)
    data = json.loads(out(exported))
    assert [t["id"] for t in data["tickets"]] == ["T-1001"]
    assert WORDS[1] in [line["text"] for line in data["tickets"][0]["log"]]
    assert any(EMAIL in json.dumps(value) for value in data["redis"].values())

    erased = await run_app("privacy", "erase", "--email", EMAIL, "--by", "dpo@shop.example",
                           redis_url=redis_url, workdir=workdir)
    assert erased.returncode == 0, err(erased)
    assert json.loads(out(erased))["erased"]["tickets"] == 1

    in_redis, in_sql = await everything_in_redis(redis), await everything_in_sql(db)
    for trace in (EMAIL, *WORDS):
        assert trace not in in_redis, trace
        assert trace not in in_sql, trace
    after = (await client.get(f"/api/inbox/reports?from={today()}&to={today()}")).json()
    for figure in ("conversations", "settled_by_bot", "handoffs", "csat", "tickets",
                   "first_response_seconds", "resolution_seconds"):
        assert after[figure] == before[figure], figure
    kept = (await client.get("/api/inbox/tickets/T-1002")).json()
    assert kept["issue"] == "My parcel 100006 arrived open"
    gone = (await client.get("/api/inbox/tickets/T-1001")).json()
    assert gone["issue"] == "[erased]" and gone["rating"] == 4
    assert await client.get("/api/inbox/tickets?q=torn") and not (
        await client.get("/api/inbox/tickets?q=torn")).json()["tickets"]
    log = (await client.get("/api/inbox/privacy/requests")).json()["requests"]
    assert [(r["action"], r["by"], r["identity_kind"]) for r in log] == [
        ("erase", "dpo@shop.example", "email"), ("export", "cli", "email")]
    assert EMAIL not in json.dumps(log)


async def test_admins_do_both_from_the_inbox_and_agents_cannot(
    client: httpx.AsyncClient, redis: aioredis.Redis, db: Database
) -> None:
    _priya, csrf = await priyas_day(client)
    exported = await client.post("/api/inbox/privacy/export", headers=csrf,
                                 json={"email": EMAIL})
    assert exported.status_code == 200
    assert [t["id"] for t in exported.json()["tickets"]] == ["T-1001"]
    bad = await client.post("/api/inbox/privacy/erase", headers=csrf, json={"email": "nope"})
    assert bad.status_code == 422
    erased = await client.post("/api/inbox/privacy/erase", headers=csrf, json={"email": EMAIL})
    assert erased.status_code == 200 and erased.json()["erased"]["tickets"] == 1
    assert EMAIL not in await everything_in_sql(db)

    await add_agent(client, csrf)
    await client.delete("/api/inbox/session", headers=csrf)
    agent = await api_login(client, AGENT, AGENT_PASSWORD)
    for path in ("/api/inbox/privacy/export", "/api/inbox/privacy/erase"):
        refused = await client.post(path, headers=agent, json={"email": EMAIL})
        assert refused.status_code == 403
    assert (await client.get("/api/inbox/privacy/requests")).status_code == 403
    assert (await client.get("/inbox/privacy")).status_code == 403


def files_in(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


async def test_an_erase_takes_the_shoppers_photos_with_it_bytes_and_rows(
    client: httpx.AsyncClient, db: Database, tmp_path: Path,
) -> None:
    csrf = await api_login(client)
    priya = WebShopper(client)
    await priya.hand_off(f"I am {EMAIL}, the {WORDS[0]}")
    uploaded = await client.post("/api/chat/uploads", headers=auth(priya.token),
                                 files={"file": ("kurta.jpg", PHOTO_JPEG, "image/jpeg")})
    assert uploaded.status_code == 201, uploaded.text
    photo = uploaded.json()["upload"]
    sent = await client.post("/api/chat/messages", headers=auth(priya.token),
                             json={"message_id": "photo-1", "upload": photo})
    assert sent.status_code == 200, sent.text
    ticket = (await client.get("/api/inbox/tickets/T-1001")).json()
    assert [a["id"] for line in ticket["transcript"] for a in line["attachments"]] == [photo]
    assert (await client.get(f"/inbox/files/{photo}")).content == PHOTO_JPEG
    assert len(files_in(tmp_path / "media")) == 1

    exported = await client.post("/api/inbox/privacy/export", headers=csrf,
                                 json={"email": EMAIL})
    assert [(f["id"], f["ticket"]) for f in exported.json()["files"]] == [(photo, "T-1001")]
    erased = await client.post("/api/inbox/privacy/erase", headers=csrf, json={"email": EMAIL})
    assert erased.status_code == 200 and erased.json()["erased"]["files"] == 1

    assert files_in(tmp_path / "media") == []
    async with db.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM attachments"))).scalar() == 0
    assert (await client.get(f"/inbox/files/{photo}")).status_code == 404
    after = (await client.get("/api/inbox/tickets/T-1001")).json()
    assert [a for line in after["transcript"] for a in line["attachments"]] == []
