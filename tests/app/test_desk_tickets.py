"""Tickets that read like the conversation: tapped buttons as their labels, the
request and the order in words, tags and priority from the merchant's rules and
from staff, SLA times and the overdue flag."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from app_harness import running
from inbox_harness import WebShopper, api_login, inbox_settings


@pytest.fixture
async def client(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    settings = inbox_settings(redis_url, tmp_path,
                              priority_rules="action:replace=urgent, refusal:window_closed=high",
                              business_hours="")
    async with running(settings) as client:
        yield client


async def ask_for_a_replacement(client: httpx.AsyncClient) -> WebShopper:
    shopper = WebShopper(client)
    await shopper.start()
    for step in ("hi", "Return or replace", "100008", "+91 98123 45678"):
        await shopper.send(step)
    await shopper.send(payload=next(b["payload"] for r in shopper.replies for b in r["buttons"]
                                    if b["label"].startswith("Phone Case")))
    await shopper.send(payload="rr:replace")
    await shopper.send(payload="r:WRONG_ITEM")
    await shopper.send(payload="yes")
    assert shopper.keys == ["request.opened"]
    return shopper


async def test_a_request_reads_as_words_not_codes(client: httpx.AsyncClient) -> None:
    await ask_for_a_replacement(client)
    await api_login(client)
    ticket = (await client.get("/api/inbox/tickets/T-1001")).json()
    words = ticket["request_words"]
    assert words.startswith("Replacement of Phone Case") and "because: Wrong item" in words
    assert "line" not in words and "WRONG_ITEM" not in words
    tapped = [line for line in ticket["transcript"] if line.get("tapped")]
    assert [line["text"] for line in tapped][-3:] == ["Replace it", "Wrong item", "Yes, go ahead"]
    assert tapped[-2]["payload"] == "r:WRONG_ITEM"
    assert ticket["order_snapshot"]["total_words"].startswith("₹")
    page = (await client.get("/inbox/tickets/T-1001")).text
    assert "[r:WRONG_ITEM]" not in page and "[rr:replace]" not in page
    assert "Wrong item" in page and "₹" in page
    assert "line id" not in page


async def test_the_bot_tags_and_the_rules_set_the_priority(client: httpx.AsyncClient) -> None:
    await ask_for_a_replacement(client)
    csrf = await api_login(client)
    ticket = (await client.get("/api/inbox/tickets/T-1001")).json()
    assert ticket["tags"] == ["action:replace"]
    assert ticket["priority"] == "urgent"  # the rule action:replace=urgent
    assert ticket["due_kind"] == "first_response" and ticket["due"]

    tagged = await client.post("/api/inbox/tickets/T-1001/tags", headers=csrf,
                               json={"add": ["VIP customer"], "remove": ["action:replace"]})
    assert tagged.status_code == 200, tagged.text
    assert tagged.json()["tags"] == ["vip customer"]
    assert tagged.json()["priority"] == "normal"  # the rules follow the tags
    bad = await client.post("/api/inbox/tickets/T-1001/tags", headers=csrf,
                            json={"add": ["<b>"]})
    assert bad.status_code == 422
    chosen = await client.post("/api/inbox/tickets/T-1001/priority", headers=csrf,
                               json={"priority": "low"})
    assert chosen.json()["priority"] == "low" and chosen.json()["priority_by"]
    wrong = await client.post("/api/inbox/tickets/T-1001/priority", headers=csrf,
                              json={"priority": "sky-high"})
    assert wrong.status_code == 422
    listed = (await client.get("/api/inbox/tickets?tag=vip customer")).json()["tickets"]
    assert [t["id"] for t in listed] == ["T-1001"]
    assert (await client.get("/api/inbox/tickets?priority=urgent")).json()["tickets"] == []
    system = [line["text"] for line in chosen.json()["transcript"] if line["who"] == "system"]
    assert "priority set to low" in system


async def test_the_first_staff_reply_is_the_first_response(client: httpx.AsyncClient) -> None:
    shopper = WebShopper(client)
    await shopper.hand_off()
    csrf = await api_login(client)
    before = (await client.get("/api/inbox/tickets/T-1001")).json()
    assert before["first_response_at"] is None
    await client.post("/api/inbox/tickets/T-1001/reply", headers=csrf,
                      json={"text": "On it", "reply_id": "r1"})
    await client.post("/api/inbox/tickets/T-1001/reply", headers=csrf,
                      json={"text": "Again", "reply_id": "r2"})
    after = (await client.get("/api/inbox/tickets/T-1001")).json()
    assert after["first_response_at"] and after["due_kind"] == "resolution"
    assert after["first_response_by"] == "admin@shop.example"
