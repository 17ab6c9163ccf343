"""An order's audit log where staff read it: on the ticket page of the inbox (every
field escaped) and through `python -m app audit ORDER [--json]`."""

from __future__ import annotations

import html
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from app_harness import running
from inbox_harness import ADMIN, ADMIN_PASSWORD, WebShopper, api_login, inbox_settings
from test_cli import err, out, run_app, workdir  # noqa: F401 (workdir: a fixture)

from conversation.audit import AuditEntry, AuditLog
from records.db import Database

AT = datetime(2026, 11, 17, 5, 30, tzinfo=UTC)


@pytest.fixture
async def client(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    async with running(inbox_settings(redis_url, tmp_path)) as client:
        yield client


async def page_login(client: httpx.AsyncClient) -> None:
    page = await client.get("/inbox/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    await client.post("/inbox/login", data={"email": ADMIN, "password": ADMIN_PASSWORD,
                                            "csrf": token.group(1), "next": "/inbox"})


def audit_section(page: str) -> str:
    found = re.search(r'<section class="card" id="audit">(.*?)</section>', page, re.S)
    assert found is not None, "no audit log on the page"
    return found.group(1)


def entries(section: str) -> list[tuple[str, str, str]]:
    """(what, who, words) of each entry, in page order."""
    found = re.findall(r'<li data-what="([^"]*)">.*?<span class="who">(.*?)</span>.*?'
                       r'<span class="words">(.*?)</span>', section, re.S)
    return [(what, html.unescape(who), html.unescape(words)) for what, who, words in found]


async def test_a_request_approved_on_the_page_shows_the_whole_log_newest_last(
    client: httpx.AsyncClient,
) -> None:
    shopper = WebShopper(client)
    await shopper.start()
    for step in ("hi", "Return or replace", "100008", "+91 98123 45678"):
        await shopper.send(step)
    await shopper.send(payload=next(b["payload"] for r in shopper.replies for b in r["buttons"]
                                    if b["label"].startswith("Phone Case")))
    await shopper.send(payload="rr:replace")
    await shopper.send(payload="r:WRONG_ITEM")
    await shopper.send(payload="photo:skip")  # the optional photo of the wrong item
    await shopper.send(payload="yes")
    assert shopper.keys == ["request.opened"]

    await page_login(client)
    page = await client.get("/inbox/tickets/T-1001")
    before = entries(audit_section(page.text))
    assert [what for what, _, _ in before] == ["asked", "eligible", "confirmed", "requested"]
    assert {who for _, who, _ in before} == {"shopper via web"}
    assert before[-1][2] == "filed as a staff request (T-1001)"

    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    approved = await client.post("/inbox/tickets/T-1001/approve", data={"csrf": csrf.group(1)})
    assert approved.status_code == 303
    after = entries(audit_section((await client.get("/inbox/tickets/T-1001")).text))
    assert after[:4] == before
    assert [(what, who) for what, who, _ in after[4:]] == [
        ("approved", f"staff {ADMIN}"), ("carried_out", f"staff {ADMIN}")]
    assert after[4][2] == "approved (T-1001)"
    assert after[5][2].startswith("carried out (")  # the shop's replacement id


async def test_markup_in_any_field_of_the_log_is_text_on_the_page(db: Database,
    client: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    shopper = WebShopper(client)
    await shopper.hand_off("My parcel 100006 arrived open")
    evil = "<script>alert(1)</script>"
    await AuditLog(db).record("100006", [
        AuditEntry(AT, f"staff {evil}", f"cancel{evil}", f"what{evil}", f"R-1{evil}")])
    await page_login(client)
    page = await client.get("/inbox/tickets/T-1001")
    assert page.status_code == 200
    section = audit_section(page.text)
    assert "<script>alert" not in page.text
    assert section.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 4
    [(_, who, words)] = entries(section)
    assert who == f"staff {evil}" and words.endswith(f"(R-1{evil})")


async def test_a_ticket_without_an_order_has_no_audit_log(client: httpx.AsyncClient) -> None:
    shopper = WebShopper(client)
    await shopper.hand_off("Where is my parcel, it is late")
    await page_login(client)
    page = await client.get("/inbox/tickets/T-1001")
    assert page.status_code == 200 and 'id="audit"' not in page.text


async def test_the_cli_prints_an_orders_log_as_lines_or_json(db: Database,
    redis: aioredis.Redis, redis_url: str, workdir: Path  # noqa: F811
) -> None:
    log = AuditLog(db)
    await log.record("100001", [
        AuditEntry(AT, "shopper via telegram", "cancel", "asked"),
        AuditEntry(AT, "shopper via telegram", "cancel", "carried_out", "RF-100001-1"),
        AuditEntry(AT, "staff a@shop.example", "cancel", "approved", "T-1\x1b[31m"),
    ])
    printed = await run_app("audit", "#100001", redis_url=redis_url, workdir=workdir)
    assert printed.returncode == 0, err(printed)
    lines = out(printed).splitlines()
    assert len(lines) == 3
    assert lines[0].split() == ["2026-11-17", "05:30:00", "shopper", "via", "telegram",
                                "cancel", "asked"]
    assert lines[1].endswith("cancel            carried out (RF-100001-1)")
    assert "\x1b" not in out(printed) and lines[2].endswith("approved (T-1?[31m)")
    assert "3 audit entries for order 100001" in err(printed)

    as_json = await run_app("audit", "100001", "--json", redis_url=redis_url, workdir=workdir)
    data = json.loads(out(as_json))
    assert [d["what"] for d in data] == ["asked", "carried_out", "approved"]
    assert data[1] == {"at": "2026-11-17T05:30:00+00:00", "who": "shopper via telegram",
                       "action": "cancel", "what": "carried_out", "detail": "RF-100001-1",
                       "words": "carried out (RF-100001-1)"}

    none = await run_app("audit", "999999", redis_url=redis_url, workdir=workdir)
    assert none.returncode == 0 and out(none) == ""
    assert "0 audit entries for order 999999" in err(none)


async def test_the_cli_says_plainly_when_redis_is_unreachable(
    closed_port_url: str, workdir: Path  # noqa: F811
) -> None:
    result = await run_app("audit", "100001", redis_url=closed_port_url, workdir=workdir)
    assert result.returncode == 1
    assert "unreachable" in err(result) and "Traceback" not in err(result)


async def test_the_ticket_api_carries_the_orders_audit_log(client: httpx.AsyncClient) -> None:
    shopper = WebShopper(client)
    await shopper.start()
    for step in ("hi", "Cancel", "100001", "priya.sharma@example.in"):
        await shopper.send(step)
    await shopper.send(payload="yes")
    await shopper.send("agent")
    await shopper.send("Please call me about the refund")
    await api_login(client)
    tickets = (await client.get("/api/inbox/tickets")).json()["tickets"]
    ticket = (await client.get(f"/api/inbox/tickets/{tickets[0]['id']}")).json()
    assert [(e["what"], e["who"]) for e in ticket["audit"]] == [
        ("asked", "shopper via web"), ("eligible", "shopper via web"),
        ("confirmed", "shopper via web"), ("carried_out", "shopper via web"),
    ]
    assert ticket["audit"][-1]["detail"].startswith("RF-")
