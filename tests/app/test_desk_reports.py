"""Reports count scripted conversations exactly: settled by the bot, handed off,
rated; with the audit log's changes and refusals; dates are checked."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
import redis.asyncio as aioredis
from app_harness import running
from inbox_harness import (
    AGENT,
    AGENT_PASSWORD,
    WebShopper,
    add_agent,
    api_login,
    inbox_settings,
)

ZONE = ZoneInfo("Asia/Kolkata")


@pytest.fixture
async def client(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    async with running(inbox_settings(redis_url, tmp_path, business_hours="")) as client:
        yield client


def today() -> str:
    return datetime.now(ZONE).date().isoformat()


async def settled_by_the_bot(client: httpx.AsyncClient) -> None:
    shopper = WebShopper(client)
    await shopper.start()
    await shopper.send("hi")
    await shopper.send("Track order")
    await shopper.send("menu")


async def handed_off_and_rated(client: httpx.AsyncClient, csrf: dict[str, str], ticket: str,
                               score: int) -> None:
    shopper = WebShopper(client)
    await shopper.hand_off("My parcel 100006 arrived open")
    replied = await client.post(f"/api/inbox/tickets/{ticket}/reply", headers=csrf,
                                json={"text": "Sorry, a new one is coming", "reply_id": "r"})
    assert replied.status_code == 200
    await client.post(f"/api/inbox/tickets/{ticket}/resolve", headers=csrf)
    await shopper.send(str(score), payload=f"rate:{score}")
    assert shopper.keys == ["rate.thanks"]


async def scripted_day(client: httpx.AsyncClient) -> dict[str, str]:
    csrf = await api_login(client)
    await settled_by_the_bot(client)
    await settled_by_the_bot(client)
    await settled_by_the_bot(client)
    await handed_off_and_rated(client, csrf, "T-1001", 5)
    await handed_off_and_rated(client, csrf, "T-1002", 2)
    cancel = WebShopper(client)  # the bot cancels an order itself: settled, one change
    await cancel.start()
    for step in ("hi", "cancel 100001", "+91 98123 45678"):
        await cancel.send(step)
    await cancel.send(payload="yes")
    assert cancel.keys[0] == "done.cancel", cancel.keys
    return csrf


async def test_the_report_counts_scripted_conversations_exactly(
    client: httpx.AsyncClient
) -> None:
    await scripted_day(client)
    response = await client.get(f"/api/inbox/reports?from={today()}&to={today()}")
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["conversations"] == 6
    assert report["settled_by_bot"] == 4
    assert report["settled_by_bot_rate"] == round(4 / 6, 4)
    assert report["handoffs"]["count"] == 2
    assert report["handoffs"]["reasons"] == {"asked for a person": 2}
    assert report["tickets"] == 2 and report["requests"] == 0
    assert report["first_response_seconds"]["count"] == 2
    assert report["first_response_seconds"]["median"] is not None
    assert report["resolution_seconds"]["count"] == 2
    assert report["csat"] == {"count": 2, "average": 3.5,
                              "distribution": {"1": 0, "2": 1, "3": 0, "4": 0, "5": 1}}
    [day] = report["per_day"]
    assert day["date"] == today() and day["conversations"] == 6 and day["settled_by_bot"] == 4
    assert report["per_channel"]["web"]["conversations"] == 6
    assert report["per_agent"]["admin@shop.example"]["first_responses"]["count"] == 2
    assert report["per_agent"]["admin@shop.example"]["csat"]["average"] == 3.5
    assert report["changes_carried_out"] == {"total": 1, "by_bot": {"cancel": 1},
                                             "by_staff": {}}


async def test_a_refusal_and_a_change_are_counted_from_the_audit_log(
    client: httpx.AsyncClient
) -> None:
    await api_login(client)
    shopper = WebShopper(client)
    await shopper.start()
    for step in ("hi", "cancel 100003", "+91 98450 12345"):  # shipped: cannot cancel
        await shopper.send(step)
    report = (await client.get(f"/api/inbox/reports?from={today()}&to={today()}")).json()
    assert report["refusals"] == {"total": 1, "by_reason": {"already_shipped": 1},
                                  "by_action": {"cancel": {"already_shipped": 1}}}
    assert report["changes_carried_out"]["total"] == 0
    assert report["conversations"] == 1 and report["settled_by_bot"] == 1


@pytest.mark.parametrize("query", [
    "from=2026-13-01&to=2026-12-01", "from=yesterday", "from=2026-1-1&to=2026-01-05",
    "from=2026-12-05&to=2026-12-01", "from=2024-01-01&to=2025-12-31", "from=1999-12-31",
    "to=2999-01-01",
])
async def test_bad_dates_are_a_422(client: httpx.AsyncClient, query: str) -> None:
    await api_login(client)
    response = await client.get(f"/api/inbox/reports?{query}")
    assert response.status_code == 422, (query, response.text)
    assert response.json()["error"]["code"] == "invalid_request"
    page = await client.get(f"/inbox/reports?{query}")
    assert page.status_code == 422 and 'role="alert"' in page.text


async def test_the_reports_page_draws_its_charts_on_the_server(
    client: httpx.AsyncClient
) -> None:
    await scripted_day(client)
    week_ago = (datetime.now(ZONE).date() - timedelta(days=6)).isoformat()
    page = await client.get(f"/inbox/reports?from={week_ago}&to={today()}")
    assert page.status_code == 200
    assert page.text.count("<svg") == 5 and "<script src" not in page.text
    assert 'id="conversations">6<' in page.text
    assert "settled by the bot" in page.text


async def test_admins_export_one_csv_row_per_ticket_and_json_lines(
    client: httpx.AsyncClient
) -> None:
    await scripted_day(client)
    response = await client.get(f"/api/inbox/export/tickets.csv?from={today()}&to={today()}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [row["id"] for row in rows] == ["T-1001", "T-1002"]
    assert rows[0]["rating"] == "5" and rows[1]["rating"] == "2"
    assert rows[0]["issue"] == "My parcel 100006 arrived open"
    assert rows[0]["first_response_at"] and rows[0]["priority"] == "normal"
    lines = (await client.get(
        f"/api/inbox/export/tickets.jsonl?from={today()}&to={today()}")).text.splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["id"] for r in records] == ["T-1001", "T-1002"]
    assert any(line["who"] == "shopper" for line in records[0]["transcript"])
    assert [line["text"] for line in records[0]["log"] if line["who"] == "staff"] == [
        "Sorry, a new one is coming"]
    bad = await client.get("/api/inbox/export/tickets.csv?from=2026-02-30")
    assert bad.status_code == 422


async def test_a_formula_in_a_shoppers_words_is_not_a_formula_in_the_csv(
    client: httpx.AsyncClient
) -> None:
    shopper = WebShopper(client)
    await shopper.hand_off('=HYPERLINK("http://evil.example","click")')
    await api_login(client)
    text = (await client.get("/api/inbox/export/tickets.csv")).text
    [row] = list(csv.DictReader(io.StringIO(text)))
    assert row["issue"] == "'=HYPERLINK(\"http://evil.example\",\"click\")"


async def test_agents_may_read_reports_but_not_export(client: httpx.AsyncClient) -> None:
    csrf = await api_login(client)
    await add_agent(client, csrf)
    await client.delete("/api/inbox/session", headers=csrf)
    await api_login(client, AGENT, AGENT_PASSWORD)
    assert (await client.get("/api/inbox/reports")).status_code == 200
    assert (await client.get("/api/inbox/export/tickets.csv")).status_code == 403
    assert (await client.get("/api/inbox/export/tickets.jsonl")).status_code == 403
