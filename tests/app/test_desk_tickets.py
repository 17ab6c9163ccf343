"""Tickets that read like the conversation: tapped buttons as their labels, the
request and the order in words, tags and priority from the merchant's rules and
from staff, SLA times and the overdue flag."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
import redis.asyncio as aioredis
from app_harness import running
from inbox_harness import WebShopper, api_login, inbox_settings

from app.inbox.readable import Readable
from conversation.catalogue import Catalogue
from conversation.desk import (
    DeskPolicy,
    Priority,
    PriorityRules,
    SlaTargets,
    business_seconds,
)
from conversation.hours import BusinessHours
from conversation.tickets import Ticket, TicketStore
from orders.policy import Policy
from templates import MESSAGES_DIR


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
    assert shopper.keys == ["photo.ask"]  # a wrong item going to staff: a photo is invited
    await shopper.send(payload="photo:skip")
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
    assert [line["text"] for line in tapped][-4:] == ["Replace it", "Wrong item", "Skip",
                                                      "Yes, go ahead"]
    assert tapped[-3]["payload"] == "r:WRONG_ITEM"
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


def old_ticket(hours_ago: float, issue: str) -> Ticket:
    at = datetime.now(UTC) - timedelta(hours=hours_ago)
    return Ticket(id="", kind="handoff", channel="web", conversation=f"web:{issue}",
                  created_at=at, updated_at=at, issue=issue)


async def test_overdue_tickets_stand_out_and_sort_first_by_due(
    client: httpx.AsyncClient, tickets: TicketStore
) -> None:
    await tickets.create(old_ticket(1, "fresh one"))
    late = await tickets.create(old_ticket(10, "waited ten hours"))  # normal: reply in 8h
    await api_login(client)
    listed = (await client.get("/api/inbox/tickets?sort=due")).json()["tickets"]
    assert [t["id"] for t in listed] == [late.id, "T-1001"]
    assert [t["overdue"] for t in listed] == [True, False]
    page = (await client.get("/inbox?sort=due")).text
    assert page.count('data-overdue="true"') == 1
    assert f'data-ticket="{late.id}" data-priority="normal" data-overdue="true"' in page


def test_business_hours_stop_the_sla_clock() -> None:
    hours = BusinessHours.parse("Mon-Fri 09:00-18:00", "Asia/Kolkata")
    policy = DeskPolicy(PriorityRules(), SlaTargets.parse("normal=4h/1d"), hours)
    friday_5pm = datetime(2026, 12, 4, 17, 0, tzinfo=ZoneInfo("Asia/Kolkata"))
    first, resolution = policy.due(friday_5pm, Priority.NORMAL)
    assert first == datetime(2026, 12, 7, 12, 0, tzinfo=ZoneInfo("Asia/Kolkata"))  # Monday
    assert business_seconds(hours, friday_5pm, first) == 4 * 3600
    # 24 business hours: Fri 1h, Mon 9h, Tue 9h, Wed 5h
    assert resolution == datetime(2026, 12, 9, 14, 0, tzinfo=ZoneInfo("Asia/Kolkata"))
    with pytest.raises(ValueError, match="high=4h/1d"):
        SlaTargets.parse("high=4h")
    with pytest.raises(ValueError, match="refusal:window_closed=high"):
        PriorityRules.parse("lost=very")


def test_codes_become_the_words_the_shopper_and_staff_read() -> None:
    words = Readable(Catalogue.load(MESSAGES_DIR), Policy())
    snapshot = {"items": [{"line_id": "2", "name": "Cotton Kurta", "quantity": 1}]}
    assert words.label("i:2", "en", snapshot) == "Cotton Kurta × 1"
    assert words.label("r:DAMAGED", "en", snapshot) == "Arrived damaged"
    assert words.label("m:track", "hi", None) not in (None, "Track order")  # in Hindi
    assert words.label("x:unknown", "en", None) is None
    assert words.tapped("[media]", "en", None) is None
    assert words.tapped("I typed [brackets] myself", "en", None) is None
    facts = ("window_days=30; window_starts=delivery; counted_from=2026-10-01; "
             "days_since=63; last_day=2026-10-31")
    said = words.refusal_words(f"2: window_closed ({facts})", {"items": snapshot["items"]})
    assert said is not None and said.startswith("Cotton Kurta: the return window has closed")
    assert words.refusal_words("window_closed: nonsense", None) is None  # shown as it is
    order = words.order({"currency": "INR", "payment": {"amount": "2147.00"}, "packages": [
        {"status": "delivered", "estimated_delivery": "2026-11-20",
         "delivered_at": "2026-11-19T10:00:00+05:30"},
        {"status": "out_for_delivery", "estimated_delivery": "2026-12-04"},
        {"status": "lost", "estimated_delivery": "2026-11-01"}]})
    assert order["total_words"] == "₹2,147.00"
    assert [p["state_words"] for p in order["packages"]] == [
        "delivered 19 Nov 2026", "expected 4 Dec 2026", ""]
    assert words.money("12.5", "XYZ") == "12.50 XYZ"


async def test_an_exchange_request_reads_as_words_and_staff_approval_carries_it_out(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path
) -> None:
    """`MANUAL_ACTIONS=exchange`: the exchange for another size becomes a request; staff
    read the new size and the difference, and approving makes the exchange once."""
    settings = inbox_settings(redis_url, tmp_path, manual_actions="replace,exchange",
                              business_hours="")
    async with running(settings) as client:
        shopper = WebShopper(client)
        await shopper.start()
        await shopper.send("hi")
        await shopper.send(payload="m:rr")
        for step in ("100038", "nisha.rao@example.in"):
            await shopper.send(step)
        await shopper.send(payload="rr:exchange")
        await shopper.send(payload="v:SKU-APP-KUR-IND-L")
        assert "₹200.00 more" in "\n".join(r["text"] for r in shopper.replies)
        await shopper.send(payload="yes")
        assert shopper.keys == ["request.opened"]
        csrf = await api_login(client)
        ticket = (await client.get("/api/inbox/tickets/T-1001")).json()
        assert ticket["request_words"] == (
            "Exchange for another size or colour of Cotton Kurta, Indigo, M × 1 (order "
            "#100038); for: Indigo, L (200.00 more, to collect)")
        approved = await client.post("/api/inbox/tickets/T-1001/approve", headers=csrf)
        assert approved.status_code == 200, approved.text
        again = await client.post("/api/inbox/tickets/T-1001/approve", headers=csrf)
        assert again.status_code in (200, 409)
        audit = (await client.get("/api/inbox/tickets/T-1001")).json()
        assert "X-100038-1" in json.dumps(audit)
