"""The inbox's JSON API and pages over HTTP, with the app's lifespan and the real
Redis: logins and their limits, CSRF, roles, the ticket flow, and escaping."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from app_harness import running
from inbox_harness import (
    ADMIN,
    ADMIN_PASSWORD,
    AGENT,
    AGENT_PASSWORD,
    WebShopper,
    add_agent,
    api_login,
    inbox_settings,
)
from starlette.routing import Route

from app.main import create_app
from conversation.tickets import Ticket, TicketStore
from records.db import Database


@pytest.fixture
async def client(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    async with running(inbox_settings(redis_url, tmp_path)) as client:
        yield client


def inbox_paths() -> list[tuple[str, str]]:
    app = create_app(inbox_settings("redis://127.0.0.1:1/0", Path("/tmp")))
    found = []
    for route in app.routes:
        if not isinstance(route, Route):
            continue
        if not route.path.startswith(("/inbox", "/api/inbox")):
            continue
        if route.path in ("/inbox/login", "/api/inbox/session"):
            continue
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                found.append((method, route.path.replace("{ticket_id}", "T-1001")
                              .replace("{email}", ADMIN)))
    return found


async def test_every_inbox_route_refuses_anonymous_access(client: httpx.AsyncClient) -> None:
    paths = inbox_paths()
    assert len(paths) > 20
    for method, path in paths:
        response = await client.request(method, path)
        if path.startswith("/api/") or method != "GET" or path == "/inbox/events":
            assert response.status_code == 401, (method, path, response.status_code)
        else:
            assert response.status_code == 303, (method, path)
            assert response.headers["location"].startswith("/inbox/login?next=")
    forged = {"Cookie": "ohb_staff=eyJ0ZXN0IjoxfQ.forged.signature"}
    response = await client.get("/api/inbox/tickets", headers=forged)
    assert response.status_code == 401


async def test_the_first_admin_comes_from_settings_and_logs_in(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/api/inbox/session",
                                 json={"email": ADMIN, "password": "wrong password"})
    assert response.status_code == 401
    csrf = await api_login(client)
    me = (await client.get("/api/inbox/me")).json()
    assert me["staff"]["email"] == ADMIN and me["staff"]["role"] == "admin"
    cookie = next(h for h in client.cookies.jar if h.name == "ohb_staff")
    assert cookie.has_nonstandard_attr("HttpOnly")
    response = await client.request("DELETE", "/api/inbox/session", headers=csrf)
    assert response.status_code == 204
    assert (await client.get("/api/inbox/me")).status_code == 401


async def test_logins_are_limited_per_account_and_the_password_is_not_checked_then(
    client: httpx.AsyncClient,
) -> None:
    for _ in range(5):
        response = await client.post("/api/inbox/session",
                                     json={"email": ADMIN, "password": "guess guess"})
        assert response.status_code == 401
    response = await client.post("/api/inbox/session",
                                 json={"email": ADMIN, "password": ADMIN_PASSWORD})
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) > 0


async def test_logins_are_limited_per_address(client: httpx.AsyncClient) -> None:
    for n in range(20):
        await client.post("/api/inbox/session",
                          json={"email": f"nobody{n}@shop.example", "password": "guess guess"})
    response = await client.post("/api/inbox/session",
                                 json={"email": ADMIN, "password": ADMIN_PASSWORD})
    assert response.status_code == 429


async def test_a_change_without_the_csrf_token_is_refused(client: httpx.AsyncClient) -> None:
    shopper = WebShopper(client)
    await shopper.hand_off()
    csrf = await api_login(client)
    for headers in ({}, {"X-CSRF-Token": "not-the-token"}):
        response = await client.post("/api/inbox/tickets/T-1001/reply", headers=headers,
                                     json={"text": "hello"})
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "csrf_failed"
        form = await client.post("/inbox/tickets/T-1001/reply",
                                 data={"text": "hello", **({"csrf": "x"} if headers else {})})
        assert form.status_code == 403
    log = await client.get("/api/inbox/tickets/T-1001")
    assert [m for m in log.json()["transcript"] if m["who"] == "staff"] == []
    ok = await client.post("/api/inbox/tickets/T-1001/reply", headers=csrf,
                           json={"text": "hello"})
    assert ok.status_code == 200


async def test_the_login_form_needs_its_token(client: httpx.AsyncClient) -> None:
    response = await client.post("/inbox/login", data={"email": ADMIN,
                                                       "password": ADMIN_PASSWORD})
    assert response.status_code == 403
    page = await client.get("/inbox/login?next=/inbox/tickets/T-1001")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    response = await client.post("/inbox/login", data={
        "email": ADMIN, "password": ADMIN_PASSWORD, "csrf": token.group(1),
        "next": "/inbox/tickets/T-1001"})
    assert response.status_code == 303
    assert response.headers["location"] == "/inbox/tickets/T-1001"
    assert "ohb_staff" in response.headers["set-cookie"]
    assert "samesite=lax" in response.headers["set-cookie"].lower()


async def test_the_login_form_never_redirects_off_site(client: httpx.AsyncClient) -> None:
    page = await client.get("/inbox/login?next=https://evil.example/")
    assert 'name="next" value="/inbox"' in page.text


async def test_agents_see_no_hashes_and_cannot_change_other_accounts(
    client: httpx.AsyncClient, redis_url: str, tmp_path: Path
) -> None:
    admin = await api_login(client)
    await add_agent(client, admin)
    listed = await client.get("/api/inbox/staff")
    assert "hash" not in listed.text and "argon2" not in listed.text

    async with running(inbox_settings(redis_url, tmp_path)) as other:
        agent = await api_login(other, AGENT, AGENT_PASSWORD)
        listed = await other.get("/api/inbox/staff")
        assert listed.status_code == 200 and "argon2" not in listed.text
        tries = [
            other.post("/api/inbox/staff", headers=agent,
                       json={"email": "new@shop.example", "password": "new password 1"}),
            other.post(f"/api/inbox/staff/{ADMIN}/password", headers=agent,
                       json={"password": "taken over!"}),
            other.request("DELETE", f"/api/inbox/staff/{ADMIN}", headers=agent),
        ]
        for attempt in tries:
            assert (await attempt).status_code == 403
        own = await other.post(f"/api/inbox/staff/{AGENT}/password", headers=agent,
                               json={"password": "a brand new one"})
        assert own.status_code == 204
        # a new password ends every session of the account, this one too
        assert (await other.get("/api/inbox/me")).status_code == 401

    removed = await client.request("DELETE", f"/api/inbox/staff/{AGENT}", headers=admin)
    assert removed.status_code == 204
    gone = await client.post("/api/inbox/session",
                             json={"email": AGENT, "password": "a brand new one"})
    assert gone.status_code == 401


async def test_a_ticket_from_the_web_chat_is_worked_through_the_api(db: Database,
    client: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    shopper = WebShopper(client)
    await shopper.hand_off("My parcel 100006 arrived open")
    csrf = await api_login(client)

    listed = (await client.get("/api/inbox/tickets")).json()["tickets"]
    assert [t["id"] for t in listed] == ["T-1001"] and listed[0]["unread"]
    ticket = (await client.get("/api/inbox/tickets/T-1001")).json()
    assert ticket["issue"] == "My parcel 100006 arrived open"
    assert ticket["order_live"] and ticket["order_snapshot"]["number"] == "100006"
    assert ticket["shopper"]["masked"] and "*" in ticket["shopper"]["email"]
    assert "@" in ticket["shopper"]["email"]
    whos = {line["who"] for line in ticket["transcript"]}
    assert {"shopper", "bot"} <= whos
    listed = (await client.get("/api/inbox/tickets")).json()["tickets"]
    assert not listed[0]["unread"]  # read now

    taken = await client.post("/api/inbox/tickets/T-1001/assign", headers=csrf,
                              json={"assignee": "me"})
    assert taken.json()["assignee"] == ADMIN
    mine = (await client.get("/api/inbox/tickets?who=mine")).json()["tickets"]
    assert [t["id"] for t in mine] == ["T-1001"]
    assert (await client.get("/api/inbox/tickets?who=unassigned")).json()["tickets"] == []
    replied = await client.post("/api/inbox/tickets/T-1001/reply", headers=csrf,
                                json={"text": "Sorry! A new one is on its way.",
                                      "reply_id": "r1"})
    staff_lines = [m for m in replied.json()["transcript"] if m["who"] == "staff"]
    assert staff_lines[0]["delivery"]["state"] == "queued"
    assert replied.json()["status"] == "pending"
    assert (await client.get("/api/inbox/tickets?status=pending")).json()["tickets"]

    await client.post("/api/inbox/tickets/T-1001/note", headers=csrf,
                      json={"text": "called the courier"})
    resolved = await client.post("/api/inbox/tickets/T-1001/resolve", headers=csrf)
    assert resolved.json()["status"] == "resolved"
    await shopper.send("5", payload="rate:5")
    assert shopper.keys == ["rate.thanks"]
    rated = (await client.get("/api/inbox/tickets/T-1001")).json()
    assert rated["rating"] == 5

    reopened = await client.post("/api/inbox/tickets/T-1001/reopen", headers=csrf)
    assert reopened.json()["status"] == "open"
    found = (await client.get("/api/inbox/tickets?q=100006")).json()["tickets"]
    assert [t["id"] for t in found] == ["T-1001"]
    found = (await client.get("/api/inbox/tickets?q=t-1001")).json()["tickets"]
    assert [t["id"] for t in found] == ["T-1001"]
    assert (await client.get("/api/inbox/tickets?channel=telegram")).json()["tickets"] == []
    missing = await client.get("/api/inbox/tickets/T-9999")
    assert missing.status_code == 404
    tickets = await TicketStore(db, redis).list_open()
    assert tickets[0].id == "T-1001"


async def test_a_shoppers_markup_is_text_on_the_ticket_page(client: httpx.AsyncClient) -> None:
    shopper = WebShopper(client)
    await shopper.hand_off('<script>alert("owned")</script><img src=x onerror=alert(1)>')
    await api_login(client)
    page = await client.get("/inbox/tickets/T-1001")
    assert page.status_code == 200
    assert "<script>alert" not in page.text and "<img src=x" not in page.text
    assert "&lt;script&gt;alert(&#34;owned&#34;)&lt;/script&gt;" in page.text
    policy = page.headers["content-security-policy"]
    assert "script-src 'nonce-" in policy and "unsafe-inline" not in policy
    listing = await client.get("/inbox")
    assert "<script>alert" not in listing.text and "&lt;script&gt;" in listing.text


async def test_approve_and_decline_through_the_api(client: httpx.AsyncClient) -> None:
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
    csrf = await api_login(client)
    ticket = (await client.get("/api/inbox/tickets/T-1001")).json()
    assert ticket["kind"] == "request" and ticket["request"]["action"] == "replace"
    empty = await client.post("/api/inbox/tickets/T-1001/decline", headers=csrf,
                              json={"reason": ""})
    assert empty.status_code == 422
    approved = await client.post("/api/inbox/tickets/T-1001/approve", headers=csrf)
    assert approved.status_code == 200 and approved.json()["decision"] == "approved"
    again = await client.post("/api/inbox/tickets/T-1001/approve", headers=csrf)
    assert again.status_code == 200
    order = approved.json()["order_snapshot"]
    assert len(order["replacements"]) == 1
    late = await client.post("/api/inbox/tickets/T-1001/decline", headers=csrf,
                             json={"reason": "no"})
    assert late.status_code == 409


async def test_the_page_flow_with_forms(client: httpx.AsyncClient) -> None:
    shopper = WebShopper(client)
    await shopper.hand_off()
    first = await client.get("/inbox")
    assert first.status_code == 303
    page = await client.get("/inbox/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    await client.post("/inbox/login", data={"email": ADMIN, "password": ADMIN_PASSWORD,
                                            "csrf": token.group(1), "next": "/inbox"})
    listing = await client.get("/inbox")
    assert "T-1001" in listing.text and 'class="unread"' in listing.text
    ticket = await client.get("/inbox/tickets/T-1001")
    csrf = re.search(r'name="csrf" value="([^"]+)"', ticket.text)
    reply_id = re.search(r'name="reply_id" value="([^"]+)"', ticket.text)
    assert csrf is not None and reply_id is not None
    form = {"csrf": csrf.group(1), "reply_id": reply_id.group(1), "text": "On it!"}
    sent = await client.post("/inbox/tickets/T-1001/reply", data=form)
    assert sent.status_code == 303
    await client.post("/inbox/tickets/T-1001/reply", data=form)  # a double submit
    ticket = await client.get("/inbox/tickets/T-1001")
    assert ticket.text.count("On it!") == 1
    assert 'data-state="queued"' in ticket.text
    assert "Looking into it" in ticket.text  # a canned reply is offered
    out = await client.post("/inbox/logout", data={"csrf": csrf.group(1)})
    assert out.status_code == 303
    assert (await client.get("/inbox")).status_code == 303


async def test_a_search_with_more_matches_than_it_counts_says_so_on_the_api_and_page(
    db: Database, client: httpx.AsyncClient, redis: aioredis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("conversation.tickets.SEARCH_COUNT_CAP", 2)  # 1,000 in production
    store = TicketStore(db, redis)
    at = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
    for n in range(3):
        await store.create(Ticket(id="", kind="handoff", channel="web",
                                  conversation=f"web:{n}", created_at=at + timedelta(minutes=n),
                                  updated_at=at + timedelta(minutes=n),
                                  issue=f"refund number {n} <b>please</b>"))
    await api_login(client)

    common = (await client.get("/api/inbox/tickets?q=refund")).json()
    one = (await client.get("/api/inbox/tickets?q=refund+number+1")).json()
    page = await client.get("/inbox?q=refund")

    assert (common["total"], common["total_capped"], common["more"]) == (2, True, False)
    assert [t["id"] for t in common["tickets"]] == ["T-1003", "T-1002", "T-1001"]
    assert (one["total"], one["total_capped"]) == (1, False)
    assert [t["id"] for t in one["tickets"]] == ["T-1002"]
    assert page.status_code == 200
    assert "2+ tickets" in page.text
    assert "More than 2 tickets match" in page.text
    assert all(f'data-ticket="T-100{n}"' in page.text for n in (1, 2, 3))


async def test_a_status_with_more_tickets_than_the_list_counts_says_so_on_the_api_and_page(
    db: Database, client: httpx.AsyncClient, redis: aioredis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("conversation.tickets.LIST_COUNT_CAP", 2)  # 10,000 in production
    store = TicketStore(db, redis)
    at = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
    for n in range(4):
        made = await store.create(Ticket(id="", kind="handoff", channel="web",
                                         conversation=f"web:{n}",
                                         created_at=at + timedelta(minutes=n),
                                         updated_at=at + timedelta(minutes=n), issue="lamp"))
        if n == 0:
            await store.mark_resolved(made.id, at)
    await api_login(client)

    listed = (await client.get("/api/inbox/tickets?status=open")).json()
    page = await client.get("/inbox?status=open")

    assert (listed["total"], listed["total_capped"], listed["more"]) == (2, True, False)
    assert [t["id"] for t in listed["tickets"]] == ["T-1004", "T-1003", "T-1002"]
    assert listed["counts"] == {"open": 2, "pending": 0, "resolved": 1}
    assert listed["counts_capped"] == {"open": True, "pending": False, "resolved": False}
    assert page.status_code == 200
    assert '<span class="count">2+</span>' in page.text
    assert 'aria-label="Open, more than 2 tickets"' in page.text
    assert '<span class="count">1</span>' in page.text  # resolved: exact
    assert "2+ tickets" in page.text
    assert "More than 2 tickets match" not in page.text  # a list, not a search
    assert all(f'data-ticket="T-100{n}"' in page.text for n in (2, 3, 4))


async def _page_through(client: httpx.AsyncClient, query: str) -> list[dict[str, object]]:
    """Every page of the list from the first, each from the last one's `next`."""
    answers = [(await client.get(f"/api/inbox/tickets?{query}")).json()]
    while answers[-1]["next"]:
        answers.append((await client.get(
            f"/api/inbox/tickets?{query}&before={answers[-1]['next']}")).json())
    return answers


async def test_the_api_pages_by_cursor_through_every_ticket_once(
    db: Database, client: httpx.AsyncClient, redis: aioredis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("conversation.tickets.SEARCH_COUNT_CAP", 20)  # 1,000 in production
    store = TicketStore(db, redis)
    at = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
    made = [await store.create(Ticket(
        id="", kind="handoff", channel="web", conversation=f"web:{n}",
        created_at=at + timedelta(minutes=n // 2), updated_at=at + timedelta(minutes=n // 2),
        issue="my lamp is broken" if n % 4 else "where is my parcel")) for n in range(104)]
    newest_first = [t.id for t in reversed(made)]  # two a minute: the later number first
    await api_login(client)

    listed = await _page_through(client, "status=open")
    searched = await _page_through(client, "q=lamp")
    first = listed[0]
    back = (await client.get(f"/api/inbox/tickets?status=open&after={listed[1]['previous']}")
            ).json()

    assert [t["id"] for a in listed for t in a["tickets"]] == newest_first
    assert [len(a["tickets"]) for a in listed] == [50, 50, 4]
    assert [a["more"] for a in listed] == [True, True, False]
    assert (first["previous"], first["total"]) == (None, 104)
    assert [t["id"] for t in back["tickets"]] == [t["id"] for t in first["tickets"]]
    assert back["previous"] is None and back["next"] == first["next"]
    assert [t["id"] for a in searched for t in a["tickets"]] == [
        t.id for t in reversed(made) if t.issue == "my lamp is broken"]
    assert all(a["total"] == 20 and a["total_capped"] for a in searched)
    # page numbers still work for old clients
    old = (await client.get("/api/inbox/tickets?status=open&page=2")).json()
    assert [t["id"] for t in old["tickets"]] == newest_first[50:100]


async def test_a_ticket_that_moves_between_two_pages_is_not_shown_twice(
    db: Database, client: httpx.AsyncClient, redis: aioredis.Redis,
) -> None:
    store = TicketStore(db, redis)
    at = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
    made = [await store.create(Ticket(
        id="", kind="handoff", channel="web", conversation=f"web:{n}",
        created_at=at + timedelta(minutes=n), updated_at=at + timedelta(minutes=n),
        issue="lamp")) for n in range(60)]
    await api_login(client)

    first = (await client.get("/api/inbox/tickets?status=open")).json()
    await store.add_message(made[59].id, "shopper", "any news?", at + timedelta(hours=2))
    await store.add_message(made[3].id, "shopper", "hello?", at + timedelta(hours=3))
    second = (await client.get(f"/api/inbox/tickets?status=open&before={first['next']}")
              ).json()
    by_number = (await client.get("/api/inbox/tickets?status=open&page=2")).json()

    # by cursor: the ticket already seen is not seen again; the one not yet reached moved
    # to the top (the next first page shows it), so page 2 lists the rest without it
    assert [t["id"] for t in second["tickets"]] == [
        made[n].id for n in (9, 8, 7, 6, 5, 4, 2, 1, 0)]
    # by page number, the two moves push T-1011 (shown on page 1) onto page 2 as well
    assert made[10].id in [t["id"] for t in first["tickets"]]
    assert made[10].id in [t["id"] for t in by_number["tickets"]]


async def test_a_bad_or_made_up_cursor_is_refused_with_400(client: httpx.AsyncClient) -> None:
    await api_login(client)

    answers = {token: await client.get(f"/api/inbox/tickets?before={token}")
               for token in ("nonsense!", "MTIz", "x" * 300, "")}
    both = await client.get("/api/inbox/tickets?before=MTcuMTAwMQ&after=MTcuMTAwMQ")
    made_up = await client.get("/api/inbox/tickets?before=MTcuMTAwMQ")  # "17.1001"

    for answer in (*answers.values(), both):
        assert answer.status_code == 400
        assert answer.json()["error"]["code"] == "bad_cursor"
    assert "page token" in answers["MTIz"].json()["error"]["message"]
    assert "not both" in both.json()["error"]["message"]
    # a well-formed token is only a place in the list: 1970, nothing older
    assert (made_up.status_code, made_up.json()["tickets"]) == (200, [])


async def test_the_pages_pager_links_older_and_newer_by_cursor(
    db: Database, client: httpx.AsyncClient, redis: aioredis.Redis,
) -> None:
    store = TicketStore(db, redis)
    at = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
    for n in range(55):
        await store.create(Ticket(id="", kind="handoff", channel="web", conversation=f"web:{n}",
                                  created_at=at + timedelta(minutes=n),
                                  updated_at=at + timedelta(minutes=n), issue="lamp"))
    await api_login(client)

    first = await client.get("/inbox?status=open")
    older = re.search(r'href="([^"]*before=[^"]*)" rel="next">Older', first.text)
    assert older is not None
    second = await client.get("/inbox" + older.group(1).replace("&amp;", "&"))
    newer = re.search(r'href="([^"]*after=[^"]*)" rel="prev">← Newer', second.text)
    assert newer is not None
    again = await client.get("/inbox" + newer.group(1).replace("&amp;", "&"))
    mangled = await client.get("/inbox?status=open&before=oops!&page=2")

    assert "Page 1 of 2" in first.text and "Page 2 of 2" in second.text
    assert 'data-ticket="T-1005"' in second.text and 'data-ticket="T-1006"' not in second.text
    assert "Older" not in second.text.split('aria-label="Pages"')[1]
    assert 'data-ticket="T-1055"' in again.text and "Newer" not in again.text
    assert (mangled.status_code, mangled.headers["location"]) == (303, "/inbox?status=open")
